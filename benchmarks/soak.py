"""Soak: many feeds through repeated monitoring runs; memory flat, nothing lost or doubled.

    python -m benchmarks.soak [--feeds 500] [--articles 20000] [--runs 5] [--database-url URL]

A server process of its own on 127.0.0.1 serves `--feeds` RSS feeds, the article pages
behind them (generated: each page's prose is drawn from its own seeded random stream, so
no two pages are near-duplicates and every page is a story of its own) and a webhook
receiver that records each POST's `Idempotency-Key`. Run k publishes the k-th share of
`--articles`, spread over every feed; each feed lists its newest FEED_WINDOW entries, so
later runs see entries stored before too. Four rules fire on a known subset of the pages
(one never fires), each alert delivered by webhook.

The runs call the `monitor` flow one after another in this one process and event loop,
against one Prefect server started beforehand, as a long-lived `newswatch serve` would
see them, rather than as repeated `newswatch run` processes: a process that exits hands
its memory back, so only runs sharing a process can show a leak. It is the stricter
choice: Prefect 3.8's `serve` itself starts each flow run in a subprocess, so there a
leak would also be cut short at the end of each run; here it would pile up. Afterwards:

  - the store holds exactly the expected articles (by URL), each once;
  - the alerts are exactly the expected (rule, article) pairs, each delivery `sent`;
  - the receiver got each alert's idempotency key exactly once;
  - every article page was requested once (an entry seen before costs no request).

RSS is sampled with psutil every `--sample` seconds: this process plus its children (the
forkserver and the extraction workers; the loopback server and the Prefect server are not
counted), summed, so pages the workers share with the forkserver count twice: an upper
bound. "after" is that sum once the run is over and garbage is collected. Memory is flat
when, from run 2 (run 1 pays for imports, the first flow run and warm caches) to the
last, neither "after" nor the peak grows by FLAT_BUDGET_MB or more. Bounded caches take
a few MB of that: each run opens its own engine, and SQLAlchemy's compiled-statement
cache of each mapper (an LRU of 100) keeps each run's dialect and statements until
evicted; 13 runs at small size grew by 7 MB in all. What the budget catches depends on
the size: past run 2 of the full soak, 12,000 articles, so a leak of 1.4 KB per article
(about one copy of each article's text) or of 6 MB per run; at the test's size, leaks
of 16 MB per run.

Exit status 0 when every check passes and memory is flat, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from benchmarks.soak_site import (
    FEED_WINDOW,
    RULES,
    LoopbackSite,
    Plan,
    Received,
    article_path,
    expected_alerts,
    loopback_site,
)

SAMPLE_SECONDS = 0.2
FLAT_BUDGET_MB = 16.0
MB = 1024 * 1024


# --- memory ---------------------------------------------------------------------------


class RSSSampler:
    """The RSS of this process and its children, summed, sampled in a thread.

    `exclude`: pids whose process trees are not ours (the servers). `peak` is the highest
    sum since the last `reset()`.
    """

    def __init__(self, *, exclude: set[int], interval: float = SAMPLE_SECONDS) -> None:
        self.exclude = exclude
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def __enter__(self) -> RSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def reset(self) -> None:
        self.peak = self.total()

    def total(self) -> int:
        """Bytes resident in this process and its children, the excluded trees left out."""
        me = psutil.Process()
        processes = [me, *me.children(recursive=True)]
        parents = {p.pid: _ppid(p) for p in processes}
        rss = 0
        for process in processes:
            if self._excluded(process.pid, parents):
                continue
            with suppress(psutil.NoSuchProcess):  # a worker that just ended
                rss += process.memory_info().rss
        return rss

    def _excluded(self, pid: int, parents: dict[int, int]) -> bool:
        while pid in parents:
            if pid in self.exclude:
                return True
            pid = parents[pid]
        return False

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.total())


def _ppid(process: psutil.Process) -> int:
    try:
        return process.ppid()
    except psutil.NoSuchProcess:
        return 0


# --- the runs -------------------------------------------------------------------------


def write_config(folder: Path, *, plan: Plan, base_url: str, database_url: str) -> Path:
    """One source per feed, backfill "all" (every entry alerts on a feed's first poll, so
    the expected alerts do not hang on the clock), the rules, the webhook channel."""
    sources = "".join(
        f'[[sources]]\nname = "feed-{feed:04d}"\nfeed = "{base_url}/feeds/{feed:04d}.xml"\n'
        'backfill = "all"\n\n'
        for feed in range(plan.feeds)
    )
    rules = "".join(
        f'[[rules]]\nname = "{rule.name}"\nquery = \'{rule.query}\'\nchannels = ["hook"]\n'
        "storm_limit = 100000\n\n"  # each alert its own message, none folded into a summary
        for rule in RULES
    )
    config = folder / "soak.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n\n'
        '[fetch]\nallow_networks = ["127.0.0.0/8"]\nper_host_delay = 0\n'
        "concurrency = 16\nper_host_concurrency = 16  # every feed and page is on one host\n\n"
        f'{sources}{rules}[channels.hook]\ntype = "webhook"\nurl = "{base_url}/hook"\n',
        encoding="utf-8",
    )
    return config


@dataclass(frozen=True)
class RunRow:
    run: int
    published: int
    new: int
    alerts: int
    sent: int
    failures: int
    seconds: float
    peak_mb: float
    after_mb: float
    main_mb: float  # this process alone, after the run
    site_cpu: float  # seconds the loopback server spent on the run


async def run_all(
    plan: Plan, *, config: Path, site: LoopbackSite, sampler: RSSSampler, report: Callable
) -> list[RunRow]:
    """`plan.runs` calls of the monitor flow in this event loop, one row each."""
    from flows.monitor import monitor

    rows = []
    for run in range(plan.runs):
        site.publish(run)
        gc.collect()
        sampler.reset()
        cpu, started = site.cpu_seconds(), time.perf_counter()
        summary = await monitor(config_path=str(config))
        seconds = time.perf_counter() - started
        totals = summary.totals()
        del summary
        gc.collect()
        row = RunRow(
            run=run + 1,
            published=len(plan.new_in(run)),
            new=totals["new"],
            alerts=totals["alerts"],
            sent=totals["deliveries_sent"],
            failures=totals["failures"],
            seconds=seconds,
            peak_mb=max(sampler.peak, sampler.total()) / MB,
            after_mb=sampler.total() / MB,
            main_mb=psutil.Process().memory_info().rss / MB,
            site_cpu=site.cpu_seconds() - cpu,
        )
        report(row)
        rows.append(row)
    return rows


# --- the checks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _compare(name: str, found: Counter[Any], expected: set[Any]) -> Check:
    """`found` holds exactly `expected`, each once."""
    missing = expected - found.keys()
    extra = found.keys() - expected
    doubled = sorted(str(key) for key, count in found.items() if count > 1)
    detail = f"{sum(found.values())} found, {len(expected)} expected"
    for label, keys in (("missing", missing), ("unexpected", extra), ("more than once", doubled)):
        if keys:
            detail += f"; {len(keys)} {label}, e.g. {sorted(map(str, keys))[:3]}"
    return Check(name, not (missing or extra or doubled), detail)


def verify(plan: Plan, *, engine: Any, received: Received, base_url: str) -> list[Check]:
    """The store, the outbox and the receiver against what was published."""
    from sqlmodel import Session, select

    from storage import Alert, Article, Delivery

    urls = {base_url + article_path(plan, number) for number in range(plan.articles)}
    with Session(engine) as session:
        stored = Counter(session.exec(select(Article.url)).all())
        alerts = session.exec(
            select(Alert.id, Alert.rule, Article.url).join(Article, Article.id == Alert.article_id)
        ).all()
        deliveries = session.exec(select(Delivery.key, Delivery.kind, Delivery.status)).all()
    alert_ids = {alert_id for alert_id, _, _ in alerts}
    statuses = Counter(f"{kind} {status}" for _, kind, status in deliveries)
    sent = Counter(key for key, kind, status in deliveries if (kind, status) == ("alert", "sent"))
    return [
        _compare("articles in the store", stored, urls),
        _compare(
            "alerts (rule, article)",
            Counter((rule, url) for _, rule, url in alerts),
            expected_alerts(plan, base_url),
        ),
        Check(
            "deliveries sent",
            statuses == Counter({"alert sent": len(alert_ids)}),
            ", ".join(f"{count} {state}" for state, count in sorted(statuses.items())) or "none",
        ),
        _compare("one delivery per alert", sent, alert_ids),
        _compare("idempotency keys received", received.keys, alert_ids),
        _compare(
            "article pages requested", received.page_requests, {u[len(base_url) :] for u in urls}
        ),
    ]


def flatness(rows: list[RunRow]) -> tuple[bool | None, str]:
    """Whether RSS stayed flat from run 2 to the last; None: too few runs to judge."""
    if len(rows) < 3:
        return None, "flatness needs 3 runs or more (run 1 warms up)"
    after = rows[-1].after_mb - rows[1].after_mb
    peak = rows[-1].peak_mb - rows[1].peak_mb
    articles = sum(row.new for row in rows[2:])
    verdict = (
        f"from run {rows[1].run} to run {rows[-1].run} ({articles} articles later), RSS after "
        f"the run {after:+.1f} MB, peak {peak:+.1f} MB (budget {FLAT_BUDGET_MB:g} MB)"
    )
    return max(after, peak) < FLAT_BUDGET_MB, verdict


# --- the whole soak -------------------------------------------------------------------


@dataclass
class SoakResult:
    plan: Plan
    rows: list[RunRow] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def flat(self) -> tuple[bool | None, str]:
        return flatness(self.rows)

    @property
    def passed(self) -> bool:
        return all(check.ok for check in self.checks) and self.flat[0] is not False


@contextmanager
def prefect_server() -> Iterator[None]:
    """The Prefect server at PREFECT_API_URL when set, else a temporary one for the soak,
    started once: like `newswatch serve`, every run talks to a server already up."""
    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def soak(
    plan: Plan,
    *,
    folder: Path,
    database_url: str | None = None,
    sample: float = SAMPLE_SECONDS,
    report: Callable[[RunRow], None] = lambda row: None,
) -> SoakResult:
    """Publish, run and check `plan`; `database_url` must name an empty store (a SQLite
    file in `folder` by default), else StoreUnavailable."""
    from storage import Article, open_store

    database_url = database_url or f"sqlite:///{folder / 'soak.db'}"
    engine = open_store(database_url)
    try:
        _require_empty(engine, database_url, Article)
        before = {child.pid for child in psutil.Process().children()}
        started = time.perf_counter()
        anchor = datetime.now(UTC).replace(microsecond=0)
        with loopback_site(plan, anchor) as site, prefect_server():
            config = write_config(
                folder, plan=plan, base_url=site.base_url, database_url=database_url
            )
            servers = {child.pid for child in psutil.Process().children()} - before
            with RSSSampler(exclude=servers, interval=sample) as sampler:
                run = run_all(plan, config=config, site=site, sampler=sampler, report=report)
                rows = asyncio.run(run)
            checks = verify(plan, engine=engine, received=site.received(), base_url=site.base_url)
        return SoakResult(plan, rows, checks, time.perf_counter() - started)
    finally:
        engine.dispose()


def _require_empty(engine: Any, url: str, article: Any) -> None:
    from sqlmodel import Session, func, select

    from storage import StoreUnavailable

    with Session(engine) as session:
        count = session.exec(select(func.count()).select_from(article)).one()
    if count:
        raise StoreUnavailable(f"holds {count} articles, the soak needs an empty store", url=url)


# --- the command ----------------------------------------------------------------------

HEADER = (
    f"{'run':>3} {'published':>9} {'new':>6} {'alerts':>6} {'sent':>6} {'failed':>6} "
    f"{'seconds':>8} {'art/s':>6} {'peak RSS MB':>11} {'RSS after MB':>12} {'main MB':>8} "
    f"{'server CPU s':>12}"
)


def print_row(row: RunRow) -> None:
    print(
        f"{row.run:>3} {row.published:>9} {row.new:>6} {row.alerts:>6} {row.sent:>6} "
        f"{row.failures:>6} {row.seconds:>8.1f} {row.new / row.seconds:>6.1f} "
        f"{row.peak_mb:>11.1f} {row.after_mb:>12.1f} {row.main_mb:>8.1f} {row.site_cpu:>12.1f}",
        flush=True,
    )


def print_result(result: SoakResult) -> None:
    for check in result.checks:
        print(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    flat, verdict = result.flat
    label = {True: "flat", False: "GROWING", None: "not judged"}[flat]
    print(f"memory {label}: {verdict}")
    print(f"soak {'passed' if result.passed else 'FAILED'} in {result.seconds:.0f} s")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--feeds", type=_positive, default=500)
    parser.add_argument("--articles", type=_positive, default=20_000, help="in all runs together")
    parser.add_argument("--runs", type=_positive, default=5)
    parser.add_argument("--window", type=_positive, default=FEED_WINDOW, help="entries per feed")
    parser.add_argument("--database-url", help="an empty store (default: SQLite in a temp dir)")
    parser.add_argument(
        "--sample", type=float, default=SAMPLE_SECONDS, help="seconds between RSS samples"
    )
    args = parser.parse_args(argv)
    if args.articles < args.runs:
        parser.error(
            f"--articles {args.articles}: fewer than --runs {args.runs}, "
            "so a run would publish nothing"
        )
    if args.sample <= 0:
        parser.error(f"--sample {args.sample:g}: must be more than 0 seconds")
    plan = Plan(args.feeds, args.articles, args.runs, args.window)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no phoning home
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")  # the table
    print(
        f"soak: {plan.feeds} feeds, {plan.articles} articles, {plan.runs} runs, "
        f"{os.cpu_count()} cores"
    )
    print(HEADER, flush=True)
    from storage import StoreUnavailable

    with tempfile.TemporaryDirectory(prefix="newswatch-soak-") as folder:
        try:
            result = soak(
                plan,
                folder=Path(folder),
                database_url=args.database_url,
                sample=args.sample,
                report=print_row,
            )
        except StoreUnavailable as error:
            parser.exit(2, f"{parser.prog}: error: --database-url: {error}\n")
    print_result(result)
    raise SystemExit(0 if result.passed else 1)


if __name__ == "__main__":
    main()
