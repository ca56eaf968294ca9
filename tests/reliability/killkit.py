"""SIGKILL a real monitoring run at a chosen point, run it again, and check what is left.

    with prefect_server(folder / "prefect") as api_url:
        timing = calibrate(folder / "calibration", api_url=api_url)
        outcome = trial(folder / "trial-1", KillPoint.FETCH, api_url=api_url, timing=timing,
                        rng=random.Random(1))
        assert outcome.problems() == []

A trial builds a `World` (tests.reliability.world) on 127.0.0.1: a news site (a feed
of article pages, two rules that fire on some of them), a webhook receiver and an
SMTP server, and a fresh SQLite store. `newswatch run` runs in a session of its own,
so its process group holds it, its forkserver and its extraction workers. The
product has no test hooks: the real parts are the triggers. The site kills the group when it
serves page N (during fetch), the receivers when the Nth message arrives, before
they answer (between send and record); watchers kill it when the extraction
workers have used some CPU, when the store holds some articles whose alerts have
not gone out (between insert and alert), or after a delay drawn over a measured
run. Then the run is repeated to completion and the store and the receivers are
checked against the site: every article once, every alert once, every alert
delivered, re-sends only of the one message in flight and only with its key.

Used by tests/reliability/test_kill_points.py and `python -m benchmarks.killpoints`.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import psutil
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from alerts.notifiers.email import message_id
from storage import Alert, Article, Delivery, Run, make_engine
from tests.ops.harness import stop, tail
from tests.reliability.world import CHANNELS, PAGES, POLL, SENDER, World

RUN_TIMEOUT = 240  # seconds for one `newswatch run` on a busy 2-core machine


class KillPoint(StrEnum):
    FETCH = "during fetch"
    EXTRACTION = "during extraction"
    STORED = "between insert and alert"
    WEBHOOK = "between send and record (webhook)"
    EMAIL = "between send and record (email)"
    TIMER = "after a random delay"


# --- measuring a run, and the watchers' conditions ---------------------------------------


def worker_seconds(pid: int) -> float:
    """CPU seconds the extraction workers of run `pid` have used: the processes its
    forkserver forked (they start at zero; the forkserver's own import of trafilatura is
    not counted)."""
    try:
        descendants = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return 0.0
    total = 0.0
    for process in descendants:
        with contextlib.suppress(psutil.Error):
            if process.ppid() != pid:
                times = process.cpu_times()
                total += times.user + times.system
    return total


@dataclass(frozen=True)
class Timing:
    """A whole run, measured: when it asked for the feed, when it ended, and how much CPU
    its extraction workers used."""

    feed_at: float
    seconds: float
    worker_seconds: float


def calibrate(folder: Path, *, api_url: str, pages: int = PAGES) -> Timing:
    """Run once without a kill, measure it, and check it like a trial."""
    world = World(folder, api_url, pages=pages)
    try:
        started = time.monotonic()
        process = world.start_run()
        feed_at, most = None, 0.0
        while process.poll() is None and time.monotonic() - started < RUN_TIMEOUT:
            if feed_at is None and world.site.requests_to("/feed.xml"):
                feed_at = time.monotonic() - started
            most = max(most, worker_seconds(process.pid))
            time.sleep(POLL)
        seconds = time.monotonic() - started
        code = finish(process)
        landing = where_stopped(world, killed=False)
        outcome = check(world, KillPoint.TIMER, killed=False, code=code, landing=landing)
        if code != 0 or outcome.problems():
            raise AssertionError(f"a run without a kill fails: {outcome.problems()}")
        return Timing(feed_at or 0.0, seconds, most)
    finally:
        world.close()


def finish(process: subprocess.Popen[bytes]) -> int:
    """The run's exit status, once it ends (stopped after RUN_TIMEOUT)."""
    try:
        return process.wait(RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop(process)
        return process.wait()


def _condition(
    kind: KillPoint,
    world: World,
    process: subprocess.Popen[bytes],
    timing: Timing,
    rng: random.Random,
) -> tuple[Callable[[], bool], str]:
    """When to kill for `kind`, drawn with `rng`, and the point in words."""
    alerts = len(world.expected_alerts)
    if kind is KillPoint.FETCH:
        n = rng.randint(1, world.pages)
        return (lambda: world.pages_served() >= n), f"on serving page {n} of {world.pages}"
    if kind is KillPoint.EXTRACTION:
        cpu = rng.uniform(0.05, 0.6) * timing.worker_seconds
        return (lambda: worker_seconds(process.pid) >= cpu), f"workers at {cpu:.2f} s of CPU"
    if kind is KillPoint.STORED:
        k = rng.randint(1, world.pages)
        return (lambda: world.stored_articles() >= k), f"the store holding {k}+ articles"
    if kind is KillPoint.WEBHOOK:
        n = rng.randint(1, alerts)
        posts = world.hook.requests_to
        return (lambda: len(posts("/hook", "POST")) >= n), f"on POST {n} of {alerts}"
    if kind is KillPoint.EMAIL:
        n = rng.randint(1, alerts)
        return (lambda: len(world.smtp.messages) >= n), f"on email {n} of {alerts}"
    delay = rng.uniform(0, timing.seconds - timing.feed_at)
    return _after_feed(world, delay), f"{delay:.2f} s after the feed request"


def _after_feed(world: World, delay: float) -> Callable[[], bool]:
    """True from `delay` seconds after the run asked for its feed: timed from there, not
    from the start, since start-up time varies most on a busy machine."""
    asked: list[float] = []

    def due() -> bool:
        if not asked and world.site.requests_to("/feed.xml"):
            asked.append(time.monotonic())
        return bool(asked) and time.monotonic() - asked[0] >= delay

    return due


# --- a trial and its check ---------------------------------------------------------------


def trial(
    folder: Path,
    kind: KillPoint,
    *,
    api_url: str,
    timing: Timing,
    rng: random.Random,
    pages: int = PAGES,
) -> Outcome:
    """Kill a run at a point of `kind`, run again to completion, check the result."""
    world = World(folder, api_url, pages=pages)
    try:
        process = world.start_run()
        condition, point = _condition(kind, world, process, timing, rng)
        world.tripwire.arm(process, condition)
        code = finish(process)
        world.tripwire.disarm()
        killed = code == -signal.SIGKILL
        survivors = _survivors(process.pid) if killed else 0
        landing = where_stopped(world, killed=killed)
        rerun = world.start_run()
        rerun_code = finish(rerun)
        outcome = check(world, kind, killed=killed, code=rerun_code, landing=landing)
        outcome.point, outcome.survivors = point, survivors
        return outcome
    finally:
        world.close()


def _survivors(pgid: int) -> int:
    """Processes of the killed group still alive (zombies waiting for a reaper are dead)."""
    time.sleep(0.2)  # SIGKILL is delivered at once, but exiting takes the kernel a moment
    alive = 0
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                alive += 1
    return alive


@dataclass(frozen=True)
class Landing:
    """What a killed run left: where it was, judged by its traces."""

    phase: str
    stored: int  # articles committed
    sent: int  # deliveries recorded as sent or claimed for sending

    def __str__(self) -> str:
        return f"{self.phase} ({self.stored} stored, {self.sent} sent or sending)"


def where_stopped(world: World, *, killed: bool) -> Landing:
    """Where the run was stopped, from what it left in the store and at the site."""
    stored, outbox = world.stored_articles(), world.outbox()
    sent = outbox["sent"] + outbox["sending"]
    if not killed:
        phase = "not killed: the run ended first"
    elif not world.site.requests_to("/feed.xml"):
        phase = "start-up"
    elif stored < world.pages:
        phase = "fetch and extraction"  # pipelined: earlier batches may be stored already
    elif not sent:
        phase = "stored, before delivery"
    elif outbox["pending"] or outbox["sending"]:
        phase = "delivery"
    else:
        phase = "after delivery"
    return Landing(phase, stored, sent)


@dataclass
class Outcome:
    """What a trial found; `problems()` is empty when nothing was lost or sent twice
    beyond what the channels' keys absorb."""

    kind: str  # a KillPoint, or what else stopped the run
    killed: bool
    landing: Landing
    rerun_code: int
    articles: int = 0  # expected articles checked
    alerts: int = 0  # expected alerts checked
    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    webhook_resends: int = 0  # POSTs of a key already received: the Idempotency-Key drops them
    email_resends: int = 0  # emails with a Message-ID already received: possible duplicates
    running_rows: int = 0  # run rows still "running" after the repeated run
    survivors: int = 0  # processes of the killed run still alive after the kill
    point: str = ""
    log: str = ""

    def problems(self) -> list[str]:
        found = [*self.missing, *self.duplicated]
        if self.rerun_code != 0:
            found.append(f"the repeated run exited with {self.rerun_code}: {self.log}")
        if self.webhook_resends + self.email_resends > 1:
            found.append("more than the one message in flight at the kill was sent again")
        if self.webhook_resends + self.email_resends and self.landing.phase != "delivery":
            found.append(f"a message was sent again after a kill in {self.landing}")
        if self.running_rows:
            found.append(f"{self.running_rows} run rows still 'running'")
        if self.survivors:
            found.append(f"{self.survivors} processes of the killed run survived SIGKILL")
        return found


def check(world: World, kind: str, *, killed: bool, code: int, landing: Landing) -> Outcome:
    """The store and the receivers against the site, after the repeated run."""
    outcome = Outcome(kind, killed, landing, code, log=tail(world.log, 5))
    engine = make_engine(world.database_url)
    try:
        found = _read_store(engine)
    except SQLAlchemyError as error:
        outcome.missing.append(f"the store cannot be read: {str(error).splitlines()[0]}")
        return outcome
    finally:
        engine.dispose()
    urls, alerts, sent, outcome.running_rows = found
    _check_articles(world, urls, outcome)
    ids = _check_alerts(world, alerts, outcome)
    for alert in ids:
        for channel in CHANNELS:
            if (alert, channel) not in sent:
                outcome.missing.append(f"alert {alert} to {channel}: not recorded as sent")
    _check_received(world, ids, outcome)
    return outcome


def _read_store(
    engine: Engine,
) -> tuple[list[str], list[tuple[str, str, str, bool]], set[tuple[str | None, str]], int]:
    """Stored canonical URLs; alerts as (id, rule, URL of the article, whether the alert's
    story is its article's); (alert, channel) sent; run rows still "running"."""
    with Session(engine) as session:
        urls = list(session.exec(select(Article.canonical_url)).all())
        same_story = col(Alert.story_id) == col(Article.story_id)
        alerts = session.exec(
            select(Alert.id, Alert.rule, Article.canonical_url, same_story).join(
                Article, col(Alert.article_id) == col(Article.id)
            )
        ).all()
        sent = session.exec(
            select(Delivery.alert_id, Delivery.channel).where(col(Delivery.status) == "sent")
        ).all()
        running = session.exec(select(Run.id).where(col(Run.status) == "running")).all()
    return urls, [tuple(row) for row in alerts], set(sent), len(running)


def _check_articles(world: World, urls: list[str], outcome: Outcome) -> None:
    expected = world.expected_articles
    outcome.articles = len(expected)
    outcome.missing += [f"article {url}: not stored" for url in sorted(expected - set(urls))]
    outcome.duplicated += [f"article {url}: stored {n} times" for url, n in _over(urls)]
    outcome.duplicated += [f"article {url}: not on the site" for url in set(urls) - expected]


def _check_alerts(
    world: World, alerts: list[tuple[str, str, str, bool]], outcome: Outcome
) -> list[str]:
    """(rule, story) pairs against the site's; each page is a story of its own, so the
    story is named by its article's URL."""
    expected = world.expected_alerts
    outcome.alerts = len(expected)
    found = [(rule, url) for _, rule, url, _ in alerts]
    outcome.missing += [f"alert {pair}: not recorded" for pair in sorted(expected - set(found))]
    outcome.missing += [
        f"alert {a}: not in its article's story" for a, *_, same in alerts if not same
    ]
    outcome.duplicated += [f"alert {pair}: recorded {n} times" for pair, n in _over(found)]
    outcome.duplicated += [f"alert {pair}: not expected" for pair in set(found) - expected]
    return [alert for alert, *_ in alerts]


def _check_received(world: World, ids: list[str], outcome: Outcome) -> None:
    """Each alert's key arrived at each receiver, and only keys of alerts did."""
    posts = Counter(r.headers["idempotency-key"] for r in world.hook.requests_to("/hook", "POST"))
    mails = Counter(m["X-Newswatch-Alert-Id"] for m in world.smtp.messages)
    for mail in world.smtp.messages:
        if mail["Message-ID"] != message_id(mail["X-Newswatch-Alert-Id"], sender=SENDER):
            outcome.duplicated.append(f"email {mail['Message-ID']}: not the alert's Message-ID")
    for channel, received in (("hook", posts), ("desk", mails)):
        outcome.missing += [f"alert {a} never reached {channel}" for a in ids if a not in received]
        outcome.duplicated += [f"{channel} got key {k}, no alert's" for k in received.keys() - ids]
    outcome.webhook_resends = sum(posts.values()) - len(posts)
    outcome.email_resends = sum(mails.values()) - len(mails)


def _over(items: list[object]) -> list[tuple[object, int]]:
    return [(item, n) for item, n in Counter(items).items() if n > 1]
