"""The stages of a monitoring run as plain functions; `flows.monitor` wraps them in tasks.

    sources → collect → (skip stored) → fetch + extract → store + match → deliver

Each stage turns one bad input into a `Failure` line and goes on; only an
unreachable store stops the run.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from alerts import Fired, Match, Rule, RuleSet, record_alerts, rule_gates
from flows.errors import (
    ExtractError,
    FetchError,
    NotAnArticle,
    SeedError,
    TransientFetchError,
)
from flows.extract import article_from_candidate, extract_article
from flows.feeds import parse_feed
from flows.fetch import Validators
from flows.fetcher import Fetcher
from flows.items import Candidate
from flows.progress import progress
from flows.seeds import discover_seed_files, read_seed
from flows.settings import Settings, SourceSettings
from flows.sitemaps import collect_sitemap
from storage import (
    ArticleIn,
    FeedState,
    Stored,
    StoryOptions,
    add_articles,
    canonical_url,
    seen_guids,
    shown_url,
    stored_urls,
    utcnow,
)
from storage.conflicts import retry_conflicts

T = TypeVar("T")


def unexpected(error: Exception) -> str:
    """One line for an error no stage anticipated, so it can be reported and the run go on."""
    first_line = (str(error).strip().splitlines() or [""])[0]
    return f"unexpected {type(error).__name__}: {first_line}".rstrip(": ")


@dataclass(frozen=True)
class Failure:
    """One thing that went wrong, as a line a user can act on."""

    source: str
    target: str
    reason: str
    retry: bool = False  # a transient failure (timeout, 5xx...): the next poll tries it again

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "target": shown_url(self.target), "reason": self.reason}


@dataclass
class Collected:
    """What a source yielded: articles ready to store and candidates to fetch."""

    source: str
    articles: list[ArticleIn] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    feed_state: FeedState | None = None  # a feed's validators and body hash, for next time
    unchanged: bool = False  # the feed answered 304, or the same body again: nothing parsed
    moved_to: str | None = None  # the feed or sitemap redirected here permanently

    @property
    def found(self) -> int:
        return len(self.articles) + len(self.candidates)

    def newest_dated(self, *, now: datetime) -> datetime | None:
        """The newest date its entries give themselves, None if none is dated; a date more
        than a day ahead of `now` is a wrong one and left out."""
        latest = now + timedelta(days=1)
        dates = [a.published_at for a in self.articles] + [c.published_at for c in self.candidates]
        return max((date for date in dates if date and date <= latest), default=None)


async def collect_source(
    source: SourceSettings,
    *,
    settings: Settings,
    fetcher: Fetcher,
    feed_state: FeedState | None = None,
) -> Collected:
    """List what `source` offers now. Raises SourceError when the source as a whole fails."""
    if source.feed is not None:
        state = feed_state or FeedState()
        return await _collect_feed(source.feed, name=source.name, fetcher=fetcher, state=state)
    if source.sitemap is not None:
        moved: dict[str, str] = {}  # the root's new home, by the root

        async def body_of(url: str) -> bytes:
            fetched = await fetcher.fetch(url)
            if url == source.sitemap and fetched.moved_to:
                moved[url] = fetched.moved_to
            return fetched.body

        candidates = await collect_sitemap(
            source.sitemap,
            source=source.name,
            fetch_body=body_of,
            sitemaps_listed=fetcher.sitemaps_listed,
        )
        return Collected(source.name, candidates=candidates, moved_to=moved.get(source.sitemap))
    if source.seeds is not None:
        return await asyncio.to_thread(_read_seeds, source, settings)
    urls = source.urls or ()
    return Collected(source.name, candidates=[Candidate(url=u, source=source.name) for u in urls])


async def _collect_feed(url: str, *, name: str, fetcher: Fetcher, state: FeedState) -> Collected:
    """A conditional GET: a 304 costs no parsing, and neither does the same body again
    from a server whose validators lie."""
    validators = Validators(etag=state.etag, last_modified=state.last_modified)
    fetched = await fetcher.fetch(url, validators=validators)
    moved_to = fetched.moved_to
    if fetched.not_modified:
        return Collected(name, feed_state=state, unchanged=True, moved_to=moved_to)
    body_hash = hashlib.sha256(fetched.body).hexdigest()
    new_state = FeedState(
        etag=fetched.etag, last_modified=fetched.last_modified, body_hash=body_hash
    )
    if body_hash == state.body_hash:
        return Collected(name, feed_state=new_state, unchanged=True, moved_to=moved_to)
    candidates = parse_feed(
        fetched.body, url=fetched.url, source=name, content_type=fetched.content_type
    )
    return Collected(name, candidates=candidates, feed_state=new_state, moved_to=moved_to)


def _read_seeds(source: SourceSettings, settings: Settings) -> Collected:
    collected = Collected(source.name)
    for path in discover_seed_files(source.seeds or "", base=settings.base):
        try:
            seed = read_seed(path, source=source.name)
        except SeedError as error:
            collected.failures.append(Failure(source.name, str(path), str(error)))
            continue
        if isinstance(seed, ArticleIn):
            collected.articles.append(seed)
        else:
            collected.candidates.extend(Candidate(url=url, source=source.name) for url in seed)
    return collected


def unseen(
    candidates: Sequence[Candidate], *, engine: Engine, source_ids: dict[str, int]
) -> list[Candidate]:
    """Candidates whose article is not stored yet, each canonical URL once: no page request
    is spent on an entry seen before, by its URL or by its feed GUID."""
    with Session(engine) as session:
        stored = stored_urls(session=session, urls=[c.url for c in candidates])
        guids = _seen_guids(session, candidates, source_ids=source_ids)
    fresh: dict[str, Candidate] = {}
    for candidate in candidates:
        key = canonical_url(candidate.url)
        if key not in stored and (candidate.source, candidate.guid) not in guids:
            fresh.setdefault(key, candidate)
    return list(fresh.values())


def _seen_guids(
    session: Session, candidates: Sequence[Candidate], *, source_ids: dict[str, int]
) -> set[tuple[str, str | None]]:
    by_source: dict[str, list[str]] = {}
    for candidate in candidates:
        if candidate.guid:
            by_source.setdefault(candidate.source, []).append(candidate.guid)
    return {
        (source, guid)
        for source, guids in by_source.items()
        for guid in seen_guids(session=session, source_id=source_ids[source], guids=guids)
    }


# Turns a fetched page into an article, with extract_in_thread's keyword arguments:
# `ExtractionPool.extract` in a run, `extract_in_thread` where a pool is not worth starting.
Extractor = Callable[..., Awaitable[ArticleIn]]


async def extract_in_thread(
    body: bytes,
    *,
    url: str,
    source: str,
    fallback: Candidate | None,
    encoding: str | None,
    content_type: str | None,
) -> ArticleIn:
    return await asyncio.to_thread(
        extract_article,
        body,
        url=url,
        source=source,
        fallback=fallback,
        encoding=encoding,
        content_type=content_type,
    )


@dataclass
class Extracted:
    articles: list[ArticleIn] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    not_articles: list[Failure] = field(default_factory=list)  # skipped pages, with why


@dataclass(frozen=True)
class _Page:
    article: ArticleIn | None = None
    failure: Failure | None = None
    not_article: Failure | None = None


async def fetch_and_extract(
    candidates: Sequence[Candidate],
    *,
    fetcher: Fetcher,
    extract: Extractor = extract_in_thread,
) -> Extracted:
    """Fetch and extract each candidate's page, falling back to the feed's own content
    when the page fails; a page that is not an article is skipped, never stored. The
    fetcher keeps it polite: global and per-host limits, per-host delay, robots.txt."""
    pages = await asyncio.gather(
        *(_one_page(c, fetcher=fetcher, extract=extract) for c in candidates)
    )
    extracted = Extracted()
    for page in pages:
        if page.article is not None:
            extracted.articles.append(page.article)
        if page.failure is not None:
            extracted.failures.append(page.failure)
        if page.not_article is not None:
            extracted.not_articles.append(page.not_article)
    return extracted


async def _one_page(candidate: Candidate, *, fetcher: Fetcher, extract: Extractor) -> _Page:
    try:
        return await _page(candidate, fetcher=fetcher, extract=extract)
    finally:
        progress().page_done()


async def _page(candidate: Candidate, *, fetcher: Fetcher, extract: Extractor) -> _Page:
    try:
        fetched = await fetcher.fetch(candidate.url, check_robots=True)
        article = await extract(
            fetched.body,
            url=candidate.url,
            source=candidate.source,
            fallback=candidate,
            encoding=fetched.encoding,
            content_type=fetched.content_type,
        )
    except NotAnArticle as error:
        return _Page(not_article=Failure(candidate.source, candidate.url, str(error)))
    except (FetchError, ExtractError) as error:
        transient = isinstance(error, TransientFetchError)
        return _fallback(candidate, reason=str(error), retry=transient)
    except Exception as error:  # one odd page must not sink its whole batch
        return _fallback(candidate, reason=f"{candidate.url}: {unexpected(error)}")
    final_url = fetched.url if fetched.url != candidate.url else None
    return _Page(article.model_copy(update={"guid": candidate.guid, "final_url": final_url}))


def _fallback(candidate: Candidate, *, reason: str, retry: bool = False) -> _Page:
    try:
        article = article_from_candidate(candidate, note=reason)
    except ExtractError:
        return _Page(failure=Failure(candidate.source, candidate.url, reason, retry=retry))
    note = f"{reason} (stored the feed entry's own text instead)"
    return _Page(article, Failure(candidate.source, candidate.url, note))


@dataclass
class StoredBatch:
    new: list[ArticleIn] = field(default_factory=list)
    updated: list[ArticleIn] = field(default_factory=list)  # a new version of a stored article
    duplicates: list[tuple[ArticleIn, str]] = field(default_factory=list)
    fired: list[Fired] = field(default_factory=list)
    gates: dict[str, datetime] | None = None  # the rules' gates, committed (see store_and_match)


def store_and_match(
    articles: Sequence[ArticleIn],
    *,
    engine: Engine,
    rules: RuleSet,
    source_ids: dict[str, int],
    run_id: int | None,
    stories: StoryOptions | None = None,
    backfill: Mapping[str, timedelta | None] | None = None,
    gates: Mapping[str, datetime] | None = None,
) -> StoredBatch:
    """Store the batch and record the alerts it fires in one transaction: an article is
    never committed without its alerts and their pending deliveries; a transaction that
    PostgreSQL fails to end a deadlock with another run is run again. `backfill` is each
    source's first-poll alert window (see `alerts.record_alerts`).

    `gates` are the rules' gates an earlier batch of the run returned (`StoredBatch.gates`):
    the first batch with new articles registers the run's rules and reads their gates, the
    later ones reuse them instead of reading every rule's row again (with 10,000 rules,
    ~0.1 s a batch). They hold for the whole run: its rules do not change while it runs."""
    by_url = {canonical_url(a.url): a for a in articles}

    def transaction() -> tuple[Stored, list[Fired], Mapping[str, datetime] | None]:
        with Session(engine) as session:
            stored = add_articles(
                session=session,
                articles=articles,
                source_ids=source_ids,
                run_id=run_id,
                stories=stories,
            )
            now, known = utcnow(), gates
            if known is None and stored.new:
                known = rule_gates(session=session, rules=rules.rules, articles=stored.new, now=now)
            fired = record_alerts(
                session=session,
                rules=rules,
                articles=stored.new,
                backfill=backfill,
                now=now,
                matched=_matched_already(by_url, rules),
                gates=known,
            )
            session.commit()
        return stored, fired, known

    # a run storing at the same time may deadlock with this one on PostgreSQL: run it again
    stored, fired, known = retry_conflicts(transaction)
    return StoredBatch(
        new=[by_url[row.canonical_url] for row in stored.new],
        updated=[by_url[row.canonical_url] for row in stored.updated],
        duplicates=list(stored.duplicates),
        fired=fired,
        gates=dict(known) if known is not None else None,
    )


def _matched_already(
    by_url: Mapping[str, ArticleIn], rules: RuleSet
) -> dict[str, list[tuple[Rule, Match]]]:
    """The matches extraction workers made, by canonical URL, for articles whose text is
    still the one they matched (the worker's checksum of it still fits)."""
    return {
        url: rules.named(article.matched)
        for url, article in by_url.items()
        if article.matched is not None
        and article.prepared is not None
        and article.prepared.fits(article.text)
    }


def batches(items: Sequence[T], size: int) -> list[list[T]]:
    """`items` cut into lists of at most `size`, so a run has tens of tasks, not thousands."""
    return [list(items[start : start + size]) for start in range(0, len(items), size)]
