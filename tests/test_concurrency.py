"""Two `newswatch run` processes over the same sources at the same time, on one store:
every article is stored once, every alert fires once and is delivered once."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from storage import Alert, Article, Delivery, make_engine
from tests.servers import LoopbackHTTPServer

pytestmark = pytest.mark.flow

NEWSWATCH = Path(sys.executable).with_name("newswatch")
PAGES = 40
VOCABULARY = [
    a + b
    for a in ("ka", "lo", "mi", "ne", "ru", "sa", "te", "vo")
    for b in ("dar", "ben", "col", "fis", "gum", "hal", "jot", "lix", "mer", "nop")
]


def page(number: int) -> str:
    """A page whose text shares no story with the others (the store would group pages
    cut from one template into one story, and a rule fires once per story)."""
    subject = "mobile missile launchers" if number % 4 == 0 else f"harbour works phase {number}"
    rng = random.Random(number)
    prose = " ".join(rng.choice(VOCABULARY) for _ in range(80))
    return (
        f"<html lang='en'><head><title>Report {number}</title></head><body><article>"
        f"<h1>Report {number}</h1><p>Report number {number} covers {subject} in detail.</p>"
        f"<p>{prose}.</p></article></body></html>"
    )


def serve(server: LoopbackHTTPServer) -> str:
    items = []
    for number in range(PAGES):
        url = server.route(f"/news/{number}", page(number))
        items.append(
            f"<item><title>Report {number}</title><link>{url}</link>"
            f"<guid>report-{number}</guid></item>"
        )
    feed = f"<rss version='2.0'><channel><title>T</title>{''.join(items)}</channel></rss>"
    server.rendezvous("/feed.xml", 2)  # both runs see every entry as new, then race to store
    return server.route("/feed.xml", feed, content_type="application/rss+xml")


def run_together(config: Path, tmp_path: Path, database_url: str) -> list[dict]:  # type: ignore[type-arg]
    processes = []
    for index in range(2):
        env = {
            **os.environ,
            "NEWSWATCH_DATABASE_URL": database_url,
            "PREFECT_HOME": str(tmp_path / f"prefect-{index}"),
            "PREFECT_API_URL": "",
        }
        processes.append(
            subprocess.Popen(
                [str(NEWSWATCH), "run", "--config", str(config), "--json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
    return [json.loads(stdout) for stdout, _ in outputs]


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_two_runs_at_once_store_and_alert_everything_exactly_once(
    backend: str, tmp_path: Path, http_server: LoopbackHTTPServer, request: pytest.FixtureRequest
) -> None:
    database_url = (
        request.getfixturevalue("postgres_url")
        if backend == "postgresql"
        else f"sqlite:///{tmp_path / 'shared.db'}"
    )
    feed = serve(http_server)
    hook = http_server.route("/hook", "ok")
    config = tmp_path / "newswatch.toml"
    config.write_text(f"""
[fetch]
allow_networks = ["127.0.0.0/8"]
per_host_delay = 0  # every page comes from one loopback host

[[sources]]
name = "wire"
feed = "{feed}"

[[rules]]
name = "launchers"
query = '"missile launcher"'
channels = ["hook"]

[channels.hook]
type = "webhook"
url = "{hook}"
""")

    summaries = run_together(config, tmp_path, database_url)
    pages_fetched = len([r for r in http_server.requests if r.path.startswith("/news/")])
    assert pages_fetched == 2 * PAGES  # each run fetched every page: the race was real

    assert sum(s["totals"]["new"] for s in summaries) == PAGES
    assert sum(s["totals"]["alerts"] for s in summaries) == PAGES // 4
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            assert session.exec(select(func.count()).select_from(Article)).one() == PAGES
            assert session.exec(select(func.count()).select_from(Alert)).one() == PAGES // 4
            statuses = Counter(session.exec(select(Delivery.status)).all())
    finally:
        engine.dispose()
    posts = http_server.requests_to("/hook", "POST")
    keys = Counter(post.headers["idempotency-key"] for post in posts)
    assert len(keys) == PAGES // 4
    assert set(keys.values()) == {1}  # no alert delivered twice
    assert statuses == {"sent": PAGES // 4}
