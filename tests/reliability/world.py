"""The world a monitoring run is tested in, all on 127.0.0.1 in the test's process.

    with prefect_server(folder / "prefect") as api_url:
        world = World(folder / "trial", api_url)       # site, receivers, store, config
        run = world.start_run()                         # `newswatch run`, its own group
        world.tripwire.arm(run, lambda: world.pages_served() >= 20)   # SIGKILL then
        ...
        world.close()

A news site serves a feed of article pages, two rules fire on some of them, and a
webhook receiver and an SMTP server take their alerts. The servers check a
`Tripwire` after recording each request and before answering it, so the real parts
are the triggers of a fault: the product has no test hooks.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from storage import canonical_url
from tests.ops.conftest import PrefectServer
from tests.ops.harness import newswatch, start, stop, wait_until
from tests.servers import CollectingHandler, LoopbackHTTPServer, LoopbackSMTPServer, free_port

PAGES = 60  # two batches of the flow's 50: a fault can fall between two inserts
POLL = 0.01  # seconds between two looks of a tripwire's watcher
SENDER = "newswatch@example.org"
WORDS = [
    a + b
    for a in ("ka", "lo", "mi", "ne", "ru", "sa", "te", "vo")
    for b in ("dar", "ben", "col", "fis", "gum", "hal", "jot", "lix", "mer", "nop")
]
# (rule name, query, the pages it fires on): 15 and 12 alerts, under the storm limit of 20
RULES: tuple[tuple[str, str, Callable[[int], bool]], ...] = (
    ("launchers", '"missile launcher"', lambda n: n % 4 == 0),
    ("floods", '"river delta"', lambda n: n % 5 == 1),
)
CHANNELS = ("hook", "desk")


# --- the Prefect server every run of a session reports to -------------------------------


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """`newswatch server` on a free port with its SQLite database under `home`; yields the
    API URL. One server for many runs: each run then skips the temporary server that
    would cost it 6-14 s."""
    url = f"http://127.0.0.1:{free_port()}"
    server = PrefectServer(url, home)
    env = server.client_env(home)
    del env["PREFECT_API_URL"]  # the server is not a client of itself
    log = home / "server.log"
    process = start(newswatch("server", "--port", url.rsplit(":", 1)[1]), env=env, log=log)
    try:
        wait_until(server.api.healthy, timeout=180, what="prefect server", process=process, log=log)
        yield f"{url}/api"
    finally:
        stop(process)


# --- the world: a news site, a webhook receiver, an SMTP server, a store ------------------


class Tripwire:
    """Does its action once, when its condition first holds: by default SIGKILL to the
    armed run's whole process group.

    Servers `check()` on each request before they answer (the request that made the
    condition true is not answered); a watcher thread checks every POLL seconds, for
    conditions nobody asks about (CPU time, store contents, the clock).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._condition: Callable[[], bool] | None = None
        self._action: Callable[[], object] | None = None
        self.fired_at: float | None = None

    def arm(
        self,
        process: subprocess.Popen[bytes],
        condition: Callable[[], bool],
        action: Callable[[], object] | None = None,
    ) -> None:
        with self._lock:
            self._process, self._condition, self.fired_at = process, condition, None
            self._action = action or (lambda: kill_group(process))
        threading.Thread(target=self._watch, args=(process,), daemon=True).start()

    def disarm(self) -> None:
        with self._lock:
            self._process = self._condition = self._action = None

    def check(self) -> bool:
        """Do the action if it is due and not done yet; whether this call did it."""
        with self._lock:
            if self._condition is None or self._action is None or self.fired_at is not None:
                return False
            if not self._condition():
                return False
            self._action()
            self.fired_at = time.monotonic()
            return True

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        while self._process is process and self.fired_at is None and process.poll() is None:
            if self.check():
                return
            time.sleep(POLL)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process group `process` leads: the run, its forkserver, its workers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


class TrippingHTTPServer(LoopbackHTTPServer):
    """A LoopbackHTTPServer that checks the tripwire once a request is recorded, and with
    `hang_up` hangs up without answering the request that tripped it."""

    def __init__(self, tripwire: Tripwire, *, hang_up: bool = True) -> None:
        super().__init__()
        self._tripwire = tripwire
        self._hang_up = hang_up

    def before_answer(self, path: str) -> None:
        if self._tripwire.check() and self._hang_up:
            raise ConnectionAbortedError("the tripwire went off before this answer")
        super().before_answer(path)


class _TrippingMailbox(CollectingHandler):
    def __init__(self, tripwire: Tripwire) -> None:
        super().__init__()
        self._tripwire = tripwire

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        reply = await super().handle_DATA(server, session, envelope)
        self._tripwire.check()  # the message is kept; a killed sender never reads the reply
        return reply


class TrippingSMTPServer(LoopbackSMTPServer):
    """A LoopbackSMTPServer that keeps each message, then lets the tripwire kill the run
    before the sender hears "250"."""

    def __init__(self, tripwire: Tripwire) -> None:
        super().__init__()
        self._controller.loop.close()  # the parent's controller, never started: replaced
        self._handler = _TrippingMailbox(tripwire)
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=free_port())


def page_html(number: int) -> str:
    """Page `number`: prose of its own (pages cut from one template would be one story),
    about missile launchers on every 4th page and a river delta on every 5th from 1."""
    rng = random.Random(number)
    prose = " ".join(rng.choice(WORDS) for _ in range(80))
    subjects = [f"road works phase {number}"]
    subjects += ["mobile missile launchers"] if RULES[0][2](number) else []
    subjects += ["the flooded river delta"] if RULES[1][2](number) else []
    return (
        f"<html lang='en'><head><title>Report {number}</title></head><body><article>"
        f"<h1>Report {number}</h1><p>Report number {number} covers {' and '.join(subjects)}.</p>"
        f"<p>{prose}.</p></article></body></html>"
    )


@dataclass
class World:
    """One trial's site, receivers, store and config, in `folder`; the store is SQLite in
    `folder` unless `database_url` names another. With `hang_up` (for kills) the server
    whose request trips the tripwire does not answer it."""

    folder: Path
    api_url: str
    database_url: str = ""
    pages: int = PAGES
    hang_up: bool = True
    tripwire: Tripwire = field(default_factory=Tripwire)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.database_url = self.database_url or f"sqlite:///{self.folder / 'newswatch.db'}"
        self.site = TrippingHTTPServer(self.tripwire, hang_up=self.hang_up).start()
        self.hook = TrippingHTTPServer(self.tripwire, hang_up=self.hang_up).start()
        self.smtp = TrippingSMTPServer(self.tripwire).start()
        self.urls = [self.site.route(f"/news/{n}", page_html(n)) for n in range(self.pages)]
        self.hook.route("/hook", "ok", content_type="text/plain")
        self.config = self._write_config()
        self.runs = 0

    def close(self) -> None:
        self.tripwire.disarm()
        self.site.stop()
        self.hook.stop()
        self.smtp.stop()

    @property
    def expected_articles(self) -> set[str]:
        return {canonical_url(url) for url in self.urls}

    @property
    def expected_alerts(self) -> set[tuple[str, str]]:
        """(rule, the canonical URL of the one article of its story) for every alert."""
        return {
            (name, canonical_url(url))
            for name, _, fires in RULES
            for number, url in enumerate(self.urls)
            if fires(number)
        }

    def start_run(self) -> subprocess.Popen[bytes]:
        """`newswatch run` in a new session (its own process group), output to a log."""
        self.runs += 1
        env = PrefectServer(self.api_url.removesuffix("/api"), self.folder).client_env(
            self.folder / "prefect"
        )
        command = newswatch("run", "--config", str(self.config), "--json")
        return start(command, env=env, log=self.log, cwd=self.folder)

    @property
    def log(self) -> Path:
        return self.folder / f"run-{self.runs}.log"

    def pages_served(self) -> int:
        return sum(r.path.startswith("/news/") for r in self.site.requests)

    def stored_articles(self) -> int:
        """Articles committed to the store (0 before it has its tables)."""
        rows = self._peek("SELECT count(*) FROM articles")
        return int(rows[0][0]) if rows else 0

    def outbox(self) -> Counter[str]:
        """Deliveries by status."""
        return Counter(dict(self._peek("SELECT status, count(*) FROM deliveries GROUP BY status")))

    def _peek(self, query: str) -> list[Any]:
        """`query`'s rows, read beside a working run without waiting for it or taking its
        SQLite write lock (the store's own engine begins every transaction with one);
        nothing when the store or its tables do not exist yet."""
        url = make_url(self.database_url)
        if url.get_backend_name() != "sqlite":
            engine = create_engine(url, poolclass=NullPool)
            try:
                with engine.connect() as connection:
                    return list(connection.exec_driver_sql(query).all())
            except SQLAlchemyError:
                return []
            finally:
                engine.dispose()
        try:
            with contextlib.closing(
                sqlite3.connect(f"file:{url.database}?mode=ro", uri=True, timeout=1)
            ) as db:
                return db.execute(query).fetchall()
        except sqlite3.Error:
            return []

    def _write_config(self) -> Path:
        rules = "".join(
            f"\n[[rules]]\nname = \"{name}\"\nquery = '{query}'\nchannels = {list(CHANNELS)!r}\n"
            for name, query, _ in RULES
        )
        items = "".join(
            f"<item><title>Report {n}</title><link>{url}</link><guid>r{n}</guid></item>"
            for n, url in enumerate(self.urls)
        )
        feed = self.site.route(
            "/feed.xml",
            f"<rss version='2.0'><channel><title>Wire</title>{items}</channel></rss>",
            content_type="application/rss+xml",
        )
        config = self.folder / "newswatch.toml"
        config.write_text(
            f"""[database]
url = "{self.database_url}"

[fetch]
allow_networks = ["127.0.0.0/8"]
per_host_delay = 0  # every page comes from one loopback host

[[sources]]
name = "wire"
feed = "{feed}"
{rules}
[delivery]
lease = "1s"  # stands in for the 10 minutes a killed claim waits in production

[channels.hook]
type = "webhook"
url = "{self.hook.url("/hook")}"

[channels.desk]
type = "email"
to = ["desk@example.org"]
from = "{SENDER}"
smtp_host = "{self.smtp.host}"
smtp_port = {self.smtp.port}
""",
            encoding="utf-8",
        )
        return config
