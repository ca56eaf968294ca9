"""The `monitor` Prefect flow: one monitoring run over every configured source.

    summary = asyncio.run(monitor(config_path="newswatch.toml"))

Orchestration only: each task wraps a stage of `flows.pipeline`. A run has at
most POLL_TASKS tasks polling its sources (`flows.polling`), one per batch of
articles and one for delivery, never one per article or per feed of thousands.
Tasks that take the shared fetcher or the engine opt out of Prefect's input
caching, and every argument bigger than a number is `quoted` (`flows.quoting`):
Prefect would otherwise walk each article of a batch looking for futures.
"""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from sqlalchemy.engine import Engine
from sqlmodel import Session

from alerts import DeliveryReport, RuleSet, deliver_due, notifier_for
from flows.artifacts import publish, source_line
from flows.fetcher import Fetcher
from flows.gcpause import gc_paused
from flows.housekeeping import tidy_store
from flows.items import Candidate
from flows.logs import redact_request_logs
from flows.pipeline import (
    Extracted,
    Extractor,
    Failure,
    StoredBatch,
    batches,
    fetch_and_extract,
    store_and_match,
    unseen,
)
from flows.polling import Polled, poll_sources
from flows.pool import ExtractionPool, start_forkserver
from flows.progress import progress
from flows.quoting import quoted
from flows.settings import Settings, load_settings, select_sources
from flows.summary import RunSummary, SourceReport, counted, quiet_note
from storage import (
    ArticleIn,
    FeedState,
    Source,
    ensure_sources,
    finish_run,
    open_store,
    record_source_health,
    shown_url,
    source_states,
    start_run,
    utcnow,
)

BATCH_SIZE = 50
EXTRACT_WINDOW = 2  # batches fetched and extracted at once: the workers never wait on a tail


@task(task_run_name="fetch and extract batch {number}/{total}", cache_policy=NO_CACHE)
async def extract_task(
    candidates: list[Candidate],
    fetcher: Fetcher,
    extract: Extractor,
    number: int,
    total: int,
) -> Extracted:
    return await fetch_and_extract(candidates, fetcher=fetcher, extract=extract)


@task(task_run_name="store and match batch {number}/{total}", cache_policy=NO_CACHE)
async def store_task(
    articles: list[ArticleIn],
    settings: Settings,
    rules: RuleSet,
    engine: Engine,
    source_ids: dict[str, int],
    run_id: int | None,
    gates: dict[str, datetime] | None,
    number: int,
    total: int,
) -> StoredBatch:
    # in a thread: the event loop keeps fetching and feeding the extraction workers meanwhile
    return await asyncio.to_thread(
        store_and_match,
        articles,
        engine=engine,
        rules=rules,
        source_ids=source_ids,
        run_id=run_id,
        stories=settings.stories.options(),
        backfill=settings.backfill_windows(),
        gates=gates,
    )


@task(task_run_name="deliver alerts", cache_policy=NO_CACHE)
async def deliver_task(settings: Settings, engine: Engine) -> DeliveryReport:
    """Send what is due: pending alerts, retries whose backoff is over, digests whose period
    ended. Failures stay in the outbox with their reason (secrets masked), never raised."""
    notifiers = {
        name: notifier_for(name, channel, templates=settings.templates)
        for name, channel in settings.channels.items()
    }
    policy = settings.delivery.policy()
    report = await deliver_due(engine=engine, notifiers=notifiers, policy=policy)
    get_run_logger().info(  # each failure is logged by the outbox, with its reason
        "deliveries: %d sent, %d waiting, %d dead",
        len(report.sent),
        report.pending,
        len(report.dead),
    )
    return report


@flow(name="monitor", flow_run_name="monitor {config_path}", log_prints=False)
async def monitor(
    config_path: str, ignore_backoff: bool = False, sources: list[str] | None = None
) -> RunSummary:
    """Poll every source that is due, store what is new, fire alerts and deliver them.

    `sources` names the sources to poll (all of them by default), so that each
    can run on its own schedule. A source that keeps failing waits longer
    between attempts (see `storage.backoff`); `ignore_backoff` polls it anyway.
    """
    freeze_imports()
    redact_request_logs()  # a run's requests and deliveries log no secrets
    settings = load_settings(Path(config_path))
    removed = unconfigured(settings, sources)
    if sources is not None:
        sources = [name for name in sources if name not in {f.source for f in removed}]
    settings = select_sources(settings, sources)
    engine = open_store(settings.database.url)
    try:
        return await _run(settings, engine, ignore_backoff=ignore_backoff, removed=removed)
    finally:
        engine.dispose()


def unconfigured(settings: Settings, names: list[str] | None) -> list[Failure]:
    """A failure for each of `names` the config no longer has: a deployment made before
    `newswatch sources remove` still names it. The run polls the others, as the CLI
    refuses a name it does not know before any run starts."""
    known = {source.name for source in settings.sources}
    reason = (
        "named by this schedule but no longer in the config: "
        "run `newswatch deploy` again, or restart `newswatch serve`"
    )
    return [Failure(name, str(settings.path), reason) for name in names or () if name not in known]


@cache
def freeze_imports() -> None:
    """Keep what the process loaded before its first run (Prefect, SQLAlchemy, trafilatura:
    ~360,000 objects) out of the garbage collector's full passes, which scanned them all
    once a run: ~0.25 s holding the GIL that fetching and storing need. Once per process
    (cached: `gc.get_freeze_count` walks the frozen objects, ~45 ms): what a run leaves
    behind is collected as usual."""
    gc.freeze()


@dataclass
class _Run:
    """What the stages of one run share."""

    settings: Settings
    engine: Engine
    source_ids: dict[str, int]
    summary: RunSummary
    feed_states: dict[str, FeedState] = field(default_factory=dict)
    rules: RuleSet = field(default_factory=lambda: RuleSet(()))
    gates: dict[str, datetime] | None = None  # the rules' gates, once a batch registered them
    # open while the run polls and extracts (`_poll_and_deliver`)
    fetcher: Fetcher = field(init=False)
    extract: Extractor = field(init=False)


async def _run(
    settings: Settings, engine: Engine, *, ignore_backoff: bool, removed: list[Failure]
) -> RunSummary:
    with Session(engine) as session:
        row = start_run(session=session, flow_run_id=str(flow_run.get_id() or "") or None)
    summary = RunSummary(run_id=row.id, started_at=row.started_at, flow_run_id=row.flow_run_id)
    summary.failures.extend(removed)  # sources a schedule names that the config lost
    try:
        run = _prepare(settings, engine, summary, ignore_backoff=ignore_backoff)
        await _poll_and_deliver(run)
    except BaseException:
        _finish(engine, summary, status="failed")  # the run row must not stay "running"
        raise
    _finish(engine, summary, status="completed")
    logger = get_run_logger()
    for failure in summary.failures:
        logger.warning("%s: %s", failure.source, failure.reason)
    for report in summary.sources:
        logger.info("%s", source_line(report))
        if report.quiet_since:
            quiet = quiet_note(report.quiet_since, now=summary.started_at)
            logger.warning("%s: quiet, %s", report.name, quiet)
    logger.info("run %s: %s", summary.run_id, summary.totals())
    await publish(summary, engine=engine)
    return summary


def _prepare(
    settings: Settings, engine: Engine, summary: RunSummary, *, ignore_backoff: bool
) -> _Run:
    """The run's sources registered, their state read, and its rules compiled."""
    with Session(engine) as session:
        source_ids = register_sources(session=session, settings=settings)
        session.commit()
        states = source_states(session=session, names=[s.name for s in settings.sources])
    if not ignore_backoff:
        _skip_sources_backing_off(states, settings, summary)
    with gc_paused():  # 10,000 rules make a million objects: see flows.gcpause
        rules = RuleSet(settings.rules)
    return _Run(
        settings,
        engine,
        source_ids,
        summary,
        feed_states=_feed_states(states),
        rules=rules,
    )


def register_sources(*, session: Session, settings: Settings) -> dict[str, int]:
    """The config's sources in the store (added when new): their ids by name."""
    return ensure_sources(
        session=session, sources=[(s.name, s.kind, s.location) for s in settings.sources]
    )


async def _poll_and_deliver(run: _Run) -> None:
    pool = ExtractionPool(stories=run.settings.stories.options(), rules=run.rules)
    async with Fetcher(run.settings.fetch) as fetcher, pool:
        run.fetcher, run.extract = fetcher, pool.extract
        ready, candidates = await _collect_all(run)
        await _extract_and_store(run, ready, candidates)
    _record_health(run)
    # quoted: Prefect would otherwise walk every rule of the settings to resolve futures
    run.summary.add_deliveries(await deliver_task(quoted(run.settings), quoted(run.engine)))
    tidy_store(run.engine, settings=run.settings, log=get_run_logger())


def _feed_states(states: dict[str, Source]) -> dict[str, FeedState]:
    """The validators each feed's last successful poll left, for a conditional GET."""
    return {
        name: FeedState(etag=row.etag, last_modified=row.last_modified, body_hash=row.body_hash)
        for name, row in states.items()
    }


def _skip_sources_backing_off(
    states: dict[str, Source], settings: Settings, summary: RunSummary
) -> None:
    """Sources whose last failures put their next attempt in the future sit this run out."""
    now = utcnow()
    for source in settings.sources:
        state = states.get(source.name)
        if state is not None and state.next_attempt_at and state.next_attempt_at > now:
            report = SourceReport(source.name, source.kind)
            failures = counted(state.consecutive_failures, "failure")
            report.skipped = (
                f"backing off after {failures} until "
                f"{state.next_attempt_at.isoformat(timespec='minutes')}: {state.last_error}"
            )
            summary.sources.append(report)


def _finish(engine: Engine, summary: RunSummary, *, status: str) -> None:
    summary.finished_at = utcnow()
    with Session(engine) as session:
        finish_run(
            session=session, run_id=summary.run_id or 0, status=status, summary=summary.record()
        )


async def _collect_all(run: _Run) -> tuple[list[ArticleIn], list[Candidate]]:
    """Every due source polled (see `flows.polling`); what they offer, in the config's order."""
    skipped = {report.name for report in run.summary.sources if report.skipped}
    due = [source for source in run.settings.sources if source.name not in skipped]
    progress().sources(len(due))
    accounted: dict[str, tuple[list[ArticleIn], list[Candidate]]] = {}

    def account(share: list[Polled]) -> None:
        for one in share:
            accounted[one.source.name] = _account_polled(run, one)
        if any(accounted[one.source.name][1] for one in share):
            # the first page to extract starts the forkserver: it imports trafilatura (~1.3
            # CPU-s) while the other sources are polled, and a run with none never pays that
            start_forkserver()

    await poll_sources(
        due,
        settings=run.settings,
        fetcher=run.fetcher,
        feed_states=run.feed_states,
        on_share=account,
    )
    ready, fresh = [], []
    for source in due:  # in the config's order
        articles, candidates = accounted[source.name]
        ready.extend(articles)
        fresh.extend(candidates)
    order = {source.name: index for index, source in enumerate(run.settings.sources)}
    run.summary.sources.sort(key=lambda report: order[report.name])
    run.summary.failures.sort(key=lambda failure: order.get(failure.source, len(order)))
    return ready, fresh


def _account_polled(run: _Run, polled: Polled) -> tuple[list[ArticleIn], list[Candidate]]:
    """One source's articles ready to store and candidates not stored yet; a source that
    failed is reported and yields nothing."""
    source, summary = polled.source, run.summary
    report = SourceReport(source.name, source.kind, seconds=polled.seconds)
    summary.sources.append(report)
    collected = polled.collected
    if collected is None:
        report.error, report.gone = polled.error, polled.gone
        report.failures += 1
        summary.failures.append(Failure(source.name, source.location, polled.error or ""))
        return [], []
    if collected.feed_state is not None:
        run.feed_states[source.name] = collected.feed_state
    report.unchanged = collected.unchanged
    # shown and stored without a password, as the run's outputs show URLs
    report.moved_to = shown_url(collected.moved_to) if collected.moved_to else None
    fresh = unseen(collected.candidates, engine=run.engine, source_ids=run.source_ids)
    report.found = collected.found
    report.already_stored = len(collected.candidates) - len(fresh)
    report.failures += len(collected.failures)
    summary.failures.extend(collected.failures)
    return collected.articles, fresh


async def _extract_and_store(
    run: _Run, ready: list[ArticleIn], candidates: list[Candidate]
) -> None:
    """Store each batch as soon as it is extracted, while the next batches are fetched and
    extracted: storing overlaps extraction instead of waiting for all of it.

    Batches are stored one at a time and in order (a batch's story lookup must see the
    batches before it), at most EXTRACT_WINDOW batches are in the workers at once, so
    memory holds a few batches of pages, never a whole run's.
    """
    progress().pages(len(candidates))
    ready_batches = batches(ready, BATCH_SIZE)
    candidate_batches = batches(candidates, BATCH_SIZE)
    window = asyncio.Semaphore(EXTRACT_WINDOW)
    extracting = [
        asyncio.create_task(_extract(run, batch, window, number, len(candidate_batches)))
        for number, batch in enumerate(candidate_batches, start=1)
    ]
    store_total = len(ready_batches) + len(candidate_batches)
    try:
        for number, batch in enumerate(ready_batches, start=1):
            await _store(run, batch, number, store_total)
        for number, extraction in enumerate(extracting, start=len(ready_batches) + 1):
            await _store(run, await extraction, number, store_total)
    finally:
        for extraction in extracting:  # a store that failed leaves nothing running behind
            extraction.cancel()
        await asyncio.gather(*extracting, return_exceptions=True)


async def _extract(
    run: _Run, batch: list[Candidate], window: asyncio.Semaphore, number: int, total: int
) -> list[ArticleIn]:
    async with window:  # FIFO: batches enter the workers in order
        extracted = await extract_task(
            quoted(batch), quoted(run.fetcher), quoted(run.extract), number, total
        )
    summary = run.summary
    for failure in extracted.failures:
        summary.source(failure.source).failures += 1
    for skipped in extracted.not_articles:
        summary.source(skipped.source).not_articles += 1
    summary.failures.extend(extracted.failures)
    summary.not_articles.extend(extracted.not_articles)
    return extracted.articles


async def _store(run: _Run, articles: list[ArticleIn], number: int, total: int) -> None:
    if not articles:
        return
    stored = await store_task(
        quoted(articles),
        quoted(run.settings),
        quoted(run.rules),
        quoted(run.engine),
        quoted(run.source_ids),
        run.summary.run_id,
        quoted(run.gates),
        number,
        total,
    )
    if stored.gates is not None:
        run.gates = stored.gates
    _account(stored, run.summary)


def _account(stored: StoredBatch, summary: RunSummary) -> None:
    for article in stored.new:
        summary.source(article.source).new += 1
        summary.new_articles.append(
            {
                "source": article.source,
                "title": article.title,
                "url": article.url,
                "origin": article.origin,
            }
        )
    for article in stored.updated:
        summary.source(article.source).updated += 1
    for article, reason in stored.duplicates:
        report = summary.source(article.source)
        if reason == "same URL":  # seen in an earlier run (seed files are re-read every run)
            report.already_stored += 1
            continue
        report.duplicates += 1
        summary.duplicates.append({"source": article.source, "url": article.url, "reason": reason})
    summary.add_alerts(stored.fired, articles=stored.new)


def _record_health(run: _Run) -> None:
    """Each polled source's health, and whether it has gone quiet (its report's
    `quiet_since`); a feed with entries that failed for a passing reason forgets its
    validators, so the next poll parses it again even if it is unchanged (entries stored
    meanwhile cost nothing: `unseen` skips them)."""
    now = utcnow()
    retry = {failure.source for failure in run.summary.failures if failure.retry}
    for name in retry & run.feed_states.keys():
        run.feed_states[name] = FeedState()
    sources = {source.name: source for source in run.settings.sources}
    with Session(run.engine) as session:
        for report in run.summary.sources:
            if report.skipped:
                continue
            row = record_source_health(
                session=session,
                source_id=run.source_ids[report.name],
                error=report.error,
                when=now,
                feed=run.feed_states.get(report.name),
                moved_to=report.moved_to,
                gone=report.gone,
                fresh=report.found > report.already_stored,
            )
            after = run.settings.quiet_after(sources[report.name])
            quiet = row.quiet_since(after, now=now) if row is not None else None
            report.quiet_since = quiet.isoformat() if quiet else None
        session.commit()
