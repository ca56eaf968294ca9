"""One real Prefect server on PostgreSQL for the operations tests, and one served run on it.

Both are session-scoped and built only when a test asks for them: the server takes
seconds to migrate its fresh database, a served run a few more. The server is started
the way users start it, `newswatch server --port N`; the run by `newswatch serve`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.conftest import PG_URL
from tests.ops.harness import PrefectAPI, newswatch, start, stop, wait_until
from tests.servers import LoopbackHTTPServer, free_port

SERVER_STARTUP = 120  # seconds: a cold start migrates a fresh PostgreSQL database
FIRST_RUN = 120  # seconds until the first scheduled run has completed
INTERVAL = "5s"
DEPLOYMENT = f"newswatch every {INTERVAL}"


@dataclass(frozen=True)
class PrefectServer:
    url: str  # the UI; the API is under /api
    home: Path

    @property
    def api(self) -> PrefectAPI:
        return PrefectAPI(f"{self.url}/api")

    def client_env(self, home: Path, **extra: str) -> dict[str, str]:
        """The environment of a newswatch or Prefect process that talks to this server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
        home.mkdir(parents=True, exist_ok=True)
        return {
            **env,
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": f"{self.url}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            **extra,
        }


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """`newswatch server` on 127.0.0.1 with a fresh PostgreSQL database, dropped afterwards."""
    database = f"nw_prefect_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(PG_URL).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
    except OperationalError as error:
        admin.dispose()
        if os.environ.get("NEWSWATCH_REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"PostgreSQL at {PG_URL} is not answering: {error.orig}")
    pg = make_url(PG_URL)
    home = tmp_path_factory.mktemp("prefect-server")
    url = f"http://127.0.0.1:{free_port()}"
    connection = pg.set(drivername="postgresql+asyncpg", database=database)
    env = {
        **PrefectServer(url, home).client_env(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": connection.render_as_string(hide_password=False),
    }
    del env["PREFECT_API_URL"]  # the server is not a client of itself
    log = home / "server.log"
    process = start(newswatch("server", "--port", url.rsplit(":", 1)[1]), env=env, log=log)
    server = PrefectServer(url, home)
    try:
        wait_until(
            server.api.healthy,
            timeout=SERVER_STARTUP,
            what="prefect server",
            process=process,
            log=log,
        )
        yield server
    finally:
        stop(process)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


ARTICLE = """<!doctype html><html lang="en"><head><title>{title}</title>
</head><body>
<nav>Home | World</nav><article><h1>{title}</h1><p>{body}</p>
<p>Analysts said the display was meant for domestic and foreign audiences alike, and that
the timing of the announcement was no accident.</p>
<p>Officials declined to comment on the numbers involved or on the schedule.</p></article>
<footer>Example News</footer></body></html>"""

# Dated now: a feed's first poll alerts only on recent entries.
FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Example News</title><link>{base}/</link>
<item><title>Parade shows new missile launchers</title><link>{base}/a1</link><guid>a1</guid>
<pubDate>{date}</pubDate></item>
<item><title>Harbour reopens after storm</title><link>{base}/a2</link><guid>a2</guid>
<pubDate>{date}</pubDate></item>
</channel></rss>"""


def serve_news(server: LoopbackHTTPServer) -> str:
    """A feed of two article pages on `server`; returns the feed's URL."""
    pages = {
        "/a1": ("Parade shows new missile launchers", "The army showed mobile missile launchers."),
        "/a2": ("Harbour reopens after storm", "The harbour reopened after the storm passed."),
    }
    for path, (title, body) in pages.items():
        server.route(path, ARTICLE.format(title=title, body=body))
    feed = FEED.format(base=server.base_url, date=format_datetime(datetime.now(UTC)))
    return server.route("/feed.xml", feed, content_type="application/rss+xml")


def write_config(folder: Path, *, feed: str, gone: str, every: str = INTERVAL) -> Path:
    """Two sources on one schedule: a feed that works and one that answers 404."""
    config = folder / "newswatch.toml"
    config.write_text(
        f"""
[database]
url = "sqlite:///newswatch.db"

[fetch]
allow_networks = ["127.0.0.0/8"]
per_host_delay = 0

[[sources]]
name = "news"
feed = "{feed}"
every = "{every}"

[[sources]]
name = "gone"
feed = "{gone}"
every = "{every}"

[[rules]]
name = "missile-launchers"
query = '"missile launcher"'
""",
        encoding="utf-8",
    )
    return config


@dataclass(frozen=True)
class ServedRun:
    """The first scheduled run of `newswatch serve`, after serving stopped."""

    config: Path
    store: str  # the SQLAlchemy URL of the run's store
    deployment: dict[str, Any]  # as the API shows it after serving stopped
    flow_run: dict[str, Any]
    flow_runs: list[dict[str, Any]]  # every run of the deployment by then
    log: Path


@pytest.fixture(scope="session")
def served_run(
    prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedRun]:
    folder = tmp_path_factory.mktemp("served")
    feeds = LoopbackHTTPServer().start()
    try:
        config = write_config(folder, feed=serve_news(feeds), gone=feeds.url("/gone.xml"))
        env = prefect_server.client_env(folder / "prefect", PREFECT_RUNNER_POLL_FREQUENCY="1")
        log = folder / "serve.log"
        process = start(newswatch("serve", "--config", str(config)), env=env, log=log, cwd=folder)
        api = prefect_server.api
        try:
            deployment = wait_until(
                lambda: api.deployment(DEPLOYMENT), timeout=60, what="deployment", log=log
            )
            first = wait_until(
                lambda: api.flow_runs(deployment["id"], states=["COMPLETED"]),
                timeout=FIRST_RUN,
                what="a completed run of the served deployment",
                process=process,
                log=log,
            )[0]
            # Logs reach the API in batches: wait for the flow's own last line before stopping.
            wait_until(
                lambda: any(
                    entry["task_run_id"] is None and "Finished in state" in entry["message"]
                    for entry in api.logs(first["id"])
                ),
                timeout=30,
                what="the run's logs",
                log=log,
            )
        finally:
            stop(process)
        yield ServedRun(
            config=config,
            store=f"sqlite:///{folder / 'newswatch.db'}",
            deployment=api.deployment(DEPLOYMENT) or {},
            flow_run=first,
            flow_runs=api.flow_runs(deployment["id"]),
            log=log,
        )
    finally:
        feeds.stop()
