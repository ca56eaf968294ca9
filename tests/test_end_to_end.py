"""`newswatch run` end to end: real Prefect flow, real HTTP, SMTP and webhook servers.

The flow runs against one Prefect test server for the whole module (started
once: it costs seconds), through the real CLI in-process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alerts import verify_signature
from flows.cli import app
from tests.conftest import SEED_DOCUMENT, shared_path
from tests.servers import (
    LoopbackHTTPServer,
    LoopbackSMTPServer,
    Response,
    desk_channel,
    free_port,
)

pytestmark = pytest.mark.flow

SECRET = "hook-secret-for-tests"
# The feeds here are dated 2025: a first poll alerts on them only with the whole backfill.
ALL = 'backfill = "all"'


@pytest.fixture(scope="module", autouse=True)
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture(autouse=True)
def hook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSWATCH_HOOK_SECRET", SECRET)
    monkeypatch.delenv("NEWSWATCH_DATABASE_URL", raising=False)


def write_config(
    tmp_path: Path,
    *,
    sources: str,
    smtp_port: int,
    hook_url: str,
    query: str = '"missile launcher"',
) -> Path:
    config = tmp_path / "newswatch.toml"
    config.write_text(
        f"""
[database]
url = "sqlite:///newswatch.db"

[fetch]
allow_networks = ["127.0.0.0/8"]
per_host_delay = 0  # every page comes from one loopback host

{sources}

[[rules]]
name = "missile-launchers"
query = '{query}'
channels = ["desk", "hook"]
{desk_channel(smtp_port)}
[channels.hook]
type = "webhook"
url = "{hook_url}"
secret = "env:NEWSWATCH_HOOK_SECRET"
""",
        encoding="utf-8",
    )
    return config


def task_runs(flow_run_id: str, *, expected: set[str]) -> dict[str, dict[str, Any]]:
    """The flow run's task runs by name, once the `expected` names are all there (or 30 s
    on): the server records task runs and their names from events it may still be
    processing when the flow returns (a run on a busy machine showed two of eleven
    under Prefect's default `poll_task-f08` for a moment)."""
    import httpx
    from prefect.settings import PREFECT_API_URL

    deadline = time.monotonic() + 30
    while True:
        response = httpx.post(
            f"{PREFECT_API_URL.value()}/task_runs/filter",
            json={"flow_runs": {"id": {"any_": [flow_run_id]}}},
        )
        response.raise_for_status()
        runs = {run["name"]: run for run in response.json()}
        if expected <= runs.keys() or time.monotonic() > deadline:
            return runs
        time.sleep(0.2)


def run_json(config: Path, *options: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["run", "--config", str(config), "--json", *options])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def cli_json(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result.stdout


def test_shared_seed_document_alerts_once_by_email_and_webhook(
    tmp_path: Path, smtp_server: LoopbackSMTPServer, http_server: LoopbackHTTPServer
) -> None:
    seed = shared_path(SEED_DOCUMENT)
    hook = http_server.route("/hook", "ok", content_type="text/plain")
    sources = f'[[sources]]\nname = "desk-seeds"\nseeds = "{seed}"'
    config = write_config(tmp_path, sources=sources, smtp_port=smtp_server.port, hook_url=hook)

    first = run_json(config)

    assert first["totals"]["new"] == 1
    assert first["totals"]["alerts"] == 1
    assert first["deliveries"] == {"sent": 2, "pending": 0, "failures": []}
    (article,) = [
        json.loads(line) for line in cli_json("export", "--config", str(config)).splitlines()
    ]
    assert article["title"] == "Kim Jong Un calls for expanded missile launcher production"
    assert article["published_at"].startswith("2024-01-05")
    assert "Skip to content" not in article["text"]
    assert article["source"] == "desk-seeds"

    (alert,) = cli_json("alerts", "list", "--config", str(config), "--json")
    assert alert["rule"] == "missile-launchers"
    assert alert["title"] == article["title"]
    assert "missile launcher" in alert["snippet"].lower()
    assert {ch: d["status"] for ch, d in alert["deliveries"].items()} == {
        "desk": "sent",
        "hook": "sent",
    }

    (message,) = smtp_server.messages
    assert "missile-launchers" in message["Subject"]
    assert article["title"] in message["Subject"]
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert article["url"] in plain and "desk-seeds" in plain and "2024-01-05" in plain
    assert article["title"] in html

    (post,) = http_server.requests_to("/hook", "POST")
    body = json.loads(post.body)
    assert body["id"] == alert["id"] == post.headers["idempotency-key"]
    assert body["rule"] == "missile-launchers"
    assert body["query"] == '"missile launcher"'
    assert body["article"]["title"] == article["title"]
    assert body["article"]["published_at"].startswith("2024-01-05")
    assert verify_signature(post.body, post.headers["x-newswatch-signature"], SECRET)

    second = run_json(config)

    assert second["totals"]["new"] == 0
    assert second["sources"][0]["already_stored"] == 1
    assert second["totals"]["alerts"] == 0
    assert second["deliveries"]["sent"] == 0
    assert len(smtp_server.messages) == 1
    assert len(http_server.requests_to("/hook", "POST")) == 1


ARTICLE_PAGE = """<!doctype html><html lang="en"><head><title>{title}</title>
<meta name="author" content="Ana Reporter"><meta property="article:published_time"
content="2025-03-02T10:00:00Z"></head><body><nav>Home | World | Sport</nav>
<article><h1>{title}</h1><p>{body}</p><p>Analysts said the parade was meant to
show both domestic and foreign audiences that production had not slowed.</p>
<p>Officials declined to comment on the number of vehicles on display.</p></article>
<footer>Copyright 2025 Example News</footer></body></html>"""

FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Example News</title><link>{base}/</link>
<item><title>Parade shows new missile launchers</title><link>{base}/a1</link>
<guid>a1</guid><pubDate>Sun, 02 Mar 2025 10:00:00 GMT</pubDate>
<description>Military parade.</description></item>
<item><title>Harbour reopens after storm</title><link>{base}/a2</link><guid>a2</guid>
<pubDate>Sun, 02 Mar 2025 11:00:00 GMT</pubDate>
<description>The harbour reopened on Sunday after the storm passed and the
cranes were inspected by the port authority.</description></item>
<item><title>Parade shows new missile launchers (syndicated)</title>
<link>{base}/syndicated/a1</link><guid>a4</guid></item>
<item><title>Broken page</title><link>{base}/missing</link><guid>a3</guid>
<description>Mobile missile launchers were seen near the border, the ministry
said in a short statement on Sunday evening.</description></item>
</channel></rss>"""


def serve_feed(server: LoopbackHTTPServer) -> str:
    base = server.base_url
    server.route(
        "/a1",
        ARTICLE_PAGE.format(
            title="Parade shows new missile launchers",
            body="The army displayed a new generation of mobile missile launchers on Sunday.",
        ),
    )
    server.route(
        "/a2",
        ARTICLE_PAGE.format(
            title="Harbour reopens after storm",
            body="The harbour reopened after the storm, port officials said.",
        ),
    )
    server.route(
        "/syndicated/a1",
        ARTICLE_PAGE.format(
            title="Parade shows new missile launchers",
            body="The army displayed a new generation of mobile missile launchers on Sunday.",
        ),
    )
    server.route("/missing", "gone", status=404)
    return server.route("/feed.xml", FEED.format(base=base), content_type="application/rss+xml")


def test_feed_run_stores_pages_falls_back_on_broken_page_and_recovers_failed_channels(
    tmp_path: Path, http_server: LoopbackHTTPServer
) -> None:
    feed = serve_feed(http_server)
    http_server.sequence(
        "/hook", [Response(500, b"down"), Response(500, b"down"), Response(200, b"ok")]
    )
    smtp_port = free_port()  # nothing listens yet: the SMTP server is down
    broken = f'[[sources]]\nname = "broken"\nfeed = "{http_server.url("/nothing.xml")}"'
    sources = f'[[sources]]\nname = "news"\nfeed = "{feed}"\n{ALL}\n\n{broken}'
    config = write_config(
        tmp_path, sources=sources, smtp_port=smtp_port, hook_url=http_server.url("/hook")
    )
    with config.open("a") as settings:  # failed deliveries are due again by the next run
        settings.write('\n[delivery]\nbackoff = "0s"\n')

    first = run_json(config)

    assert first["totals"]["new"] == 3
    assert first["totals"]["alerts"] == 2  # the parade page and the broken page's summary
    news, failed = first["sources"]
    assert (news["found"], news["new"], news["duplicates"], news["failures"]) == (4, 3, 1, 1)
    assert first["duplicates"] == [
        {"source": "news", "url": http_server.url("/syndicated/a1"), "reason": "same text"}
    ]
    assert failed["error"] and "404" in failed["error"]
    reasons = {f["target"]: f["reason"] for f in first["failures"]}
    assert "404" in reasons[http_server.url("/missing")]
    assert first["deliveries"]["sent"] == 0
    assert first["deliveries"]["pending"] == 4
    pending = cli_json("alerts", "list", "--config", str(config), "--status", "pending", "--json")
    assert len(pending) == 2
    assert len(http_server.requests_to("/a1")) == 1

    smtp = LoopbackSMTPServer(port=smtp_port).start()
    try:
        second = run_json(config)
    finally:
        smtp.stop()

    assert second["totals"]["new"] == 0
    broken_again = second["sources"][1]
    assert broken_again["skipped"].startswith("backing off after 1 failure until ")
    assert "404" in broken_again["skipped"]
    assert len(http_server.requests_to("/nothing.xml")) == 1  # not polled again yet
    news_again = second["sources"][0]
    assert news_again["unchanged"]  # the same feed body again: nothing parsed
    assert (news_again["found"], news_again["duplicates"]) == (0, 0)
    assert len(http_server.requests_to("/syndicated/a1")) == 1
    assert len(http_server.requests_to("/a1")) == 1  # stored articles cost no page request
    assert second["deliveries"] == {"sent": 4, "pending": 0, "failures": []}
    assert len(smtp.messages) == 2
    posts = http_server.requests_to("/hook", "POST")
    delivered = {p.headers["idempotency-key"] for p in posts[2:]}
    assert len(delivered) == 2  # two failed attempts, then each alert once
    third = run_json(config, "--ignore-backoff")
    assert third["deliveries"]["sent"] == 0
    assert "404" in third["sources"][1]["error"]
    assert len(http_server.requests_to("/nothing.xml")) == 2


def test_run_on_postgresql_stores_and_alerts_like_sqlite(
    tmp_path: Path,
    postgres_url: str,
    smtp_server: LoopbackSMTPServer,
    http_server: LoopbackHTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSWATCH_DATABASE_URL", postgres_url)
    feed = serve_feed(http_server)
    hook = http_server.route("/hook", "ok")
    sources = f'[[sources]]\nname = "news"\nfeed = "{feed}"\n{ALL}'
    config = write_config(tmp_path, sources=sources, smtp_port=smtp_server.port, hook_url=hook)

    first = run_json(config)
    second = run_json(config)

    assert (first["totals"]["new"], first["totals"]["alerts"]) == (3, 2)
    assert first["deliveries"]["sent"] == 4
    assert (second["totals"]["new"], second["totals"]["alerts"]) == (0, 0)
    assert len(smtp_server.messages) == 2
    assert not (tmp_path / "newswatch.db").exists()


def desk_of_seeds(
    tmp_path: Path, smtp_server: LoopbackSMTPServer, http_server: LoopbackHTTPServer
) -> tuple[Path, Path]:
    """A source "desk" over tmp_path/seeds, which holds the bundled seed that fires the
    rule: (the seeds folder, the config)."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    good = Path(__file__).resolve().parents[1] / "examples" / "seeds" / "001_defence_launchers.txt"
    (seeds / "good.txt").write_bytes(good.read_bytes())
    hook = http_server.route("/hook", "ok")
    sources = '[[sources]]\nname = "desk"\nseeds = "seeds/"'
    config = write_config(tmp_path, sources=sources, smtp_port=smtp_server.port, hook_url=hook)
    return seeds, config


def test_malformed_seed_files_are_reported_and_the_good_ones_stored(
    tmp_path: Path, smtp_server: LoopbackSMTPServer, http_server: LoopbackHTTPServer
) -> None:
    seeds, config = desk_of_seeds(tmp_path, smtp_server, http_server)
    (seeds / "no-date.txt").write_text("Just a title\n\nSome text.\n")
    (seeds / "bad-date.txt").write_text("date 2024-13-45\nTitle\n\nText.\n")

    summary = run_json(config)

    assert summary["totals"]["new"] == 1
    assert summary["totals"]["alerts"] == 1
    failed = {f["target"]: f["reason"] for f in summary["failures"]}
    assert set(failed) == {str(seeds / "no-date.txt"), str(seeds / "bad-date.txt")}
    assert all(reason.startswith(target) for target, reason in failed.items())
    assert summary["sources"][0]["failures"] == 2


def test_a_run_removes_the_story_index_rows_of_articles_past_the_window(
    tmp_path: Path, smtp_server: LoopbackSMTPServer, http_server: LoopbackHTTPServer
) -> None:
    from datetime import timedelta

    from sqlmodel import Session, func, select

    from storage import ArticleIn, add_articles, ensure_sources, open_store, utcnow
    from storage.models import StorySignature

    seeds, config = desk_of_seeds(tmp_path, smtp_server, http_server)
    engine = open_store(f"sqlite:///{tmp_path / 'newswatch.db'}")
    old = ArticleIn(
        url="https://a.test/old", source="desk", title="Old", text="old news " * 30, origin="page"
    )
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("desk", "seeds", str(seeds))])
        month_ago = utcnow() - timedelta(days=30)
        add_articles(session=session, articles=[old], source_ids=ids, run_id=None, now=month_ago)
        session.commit()

    assert run_json(config)["totals"]["new"] == 1

    with Session(engine) as session:
        left = session.exec(select(func.count()).select_from(StorySignature)).one()
    engine.dispose()
    assert left == 1  # the new article's; the month-old one's went


def test_run_publishes_its_summary_as_a_prefect_artifact(
    tmp_path: Path, smtp_server: LoopbackSMTPServer, http_server: LoopbackHTTPServer
) -> None:
    import httpx
    from prefect.settings import PREFECT_API_URL

    feed = serve_feed(http_server)
    hook = http_server.route("/hook", "ok")
    sources = f'[[sources]]\nname = "news"\nfeed = "{feed}"\n{ALL}'
    config = write_config(tmp_path, sources=sources, smtp_port=smtp_server.port, hook_url=hook)
    summary = run_json(config)

    # Prefect 3.8.8's client sends null filter fields its own server rejects: ask the API.
    response = httpx.post(
        f"{PREFECT_API_URL.value()}/artifacts/filter",
        json={"artifacts": {"flow_run_id": {"any_": [summary["flow_run_id"]]}}},
    )
    response.raise_for_status()
    published = {artifact["key"]: artifact for artifact in response.json()}
    markdown = published["newswatch-run-summary"]["data"]
    assert "3 new articles, 1 duplicates" in markdown
    assert "| news | feed | 4 | 0 | 3 | 1 | 1 |" in markdown
    assert "/missing" in markdown  # the failed page is listed with its reason
    alerts_table = json.loads(published["newswatch-alerts"]["data"])
    assert {row["rule"] for row in alerts_table} == {"missile-launchers"}
    assert len(alerts_table) == 2
    assert {row["outlets"] for row in alerts_table} == {"news"}  # every outlet of the story


# The run's bodies are capped at 1 MB (max_bytes below) and it fetches 8 pages at once
# (the default concurrency), so its fetching never needs more than ~8 MB of bodies at
# a time, whatever a server sends. Two pages here are 50 MB each once read: the bound
# sits well below one of them and leaves room for what the run itself allocates.
HUGE_BODY_BYTES = 50_000_000
GOOD_PAGE = """<!doctype html><html lang="en"><head><title>Good story {n}</title></head>
<body><article><h1>Good story {n}</h1><p>{body}</p></article></body></html>"""
GOOD_STORIES = (
    "Mobile missile launchers moved to the northern district overnight, villagers said, "
    "and the convoy stopped twice near the river crossing before dawn. Farmers reported "
    "trucks on the mountain road and soldiers closing the market for the day.",
    "The harbour authority confirmed that a missile launcher was unloaded at the naval "
    "pier on Tuesday. Dock workers were told to stay home, and the ferry timetable was "
    "suspended while cranes lifted covered crates onto flatbed wagons.",
    "Satellite pictures published by a research institute show new missile launchers "
    "parked beside an airfield hangar. The analysts counted six vehicles, compared "
    "shadows across two weeks of images, and estimated the concrete pads were fresh.",
)
RUN_MEMORY_BOUND = 25_000_000


def test_one_run_over_a_server_full_of_faults_stores_the_good_and_names_each_failure(
    tmp_path: Path, smtp_server: LoopbackSMTPServer, http_server: LoopbackHTTPServer
) -> None:
    """Also bounds the memory the run's own process allocates, where every page is
    fetched (tracemalloc sees every Python object, bytes read included, on every
    thread). Extraction workers are other processes and only ever get capped bodies."""
    import gzip
    import tracemalloc

    from tests.servers import FaultyHTTPServer, FaultyResponse

    server = FaultyHTTPServer().start()
    try:
        good = [  # three different stories, each with its own alert
            server.route(f"/good/{n}", GOOD_PAGE.format(n=n, body=body))
            for n, body in enumerate(GOOD_STORIES)
        ]
        bad = {
            server.route("/down", status=500): "HTTP 500",
            server.route("/busy", status=503, headers={"Retry-After": "3600"}): "HTTP 503",
            server.route("/loop", status=302, headers={"Location": "/loop"}): "redirects",
            server.route("/huge", b"x" * 3_000_000): "response larger than",
            server.route(
                "/bomb",
                gzip.compress(b"\0" * HUGE_BODY_BYTES),
                headers={"Content-Encoding": "gzip"},
            ): "response larger than",
            server.sequence(  # no Content-Length: the cap must stop the read itself
                "/endless", [FaultyResponse(200, b"x" * HUGE_BODY_BYTES, undeclared=True)]
            ): "response larger than",
            server.sequence("/cut", [FaultyResponse(200, b"x" * 500, cut_after=10)]): "connection",
            server.sequence("/hang", [FaultyResponse(200, b"x", delay=5)]): "timed out",
            server.route(
                "/login",
                "<html><body><form><input type=password></form>Sign in to continue</body></html>",
            ): "not an article",
        }
        items = "".join(
            f"<item><title>Item {n}</title><link>{url}</link><guid>i{n}</guid></item>"
            for n, url in enumerate([*good, *bad])
        )
        feed = server.route(
            "/feed.xml",
            f"<rss version='2.0'><channel><title>F</title>{items}</channel></rss>",
            content_type="application/rss+xml",
        )
        html_feed = server.route("/not-a-feed.xml", "<html><body>Welcome</body></html>")
        hook = http_server.route("/hook", "ok")
        sources = (
            f'[[sources]]\nname = "faulty"\nfeed = "{feed}"\n{ALL}\n\n'
            f'[[sources]]\nname = "html"\nfeed = "{html_feed}"'
        )
        config = write_config(tmp_path, sources=sources, smtp_port=smtp_server.port, hook_url=hook)
        config.write_text(
            config.read_text().replace(
                "per_host_delay = 0",
                "per_host_delay = 0\ntotal_timeout = 1\nmax_bytes = 1000000\nretries = 1",
            )
        )

        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            summary = run_json(config)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        server.stop()

    print(f"whole run over the faulty server: peak growth {(peak - before) / 1e6:.1f} MB")
    assert peak - before < RUN_MEMORY_BOUND
    faulty, html = summary["sources"]
    assert faulty["new"] == 3 and summary["totals"]["alerts"] == 3
    assert "HTML" in html["error"] or "not a feed" in html["error"].lower()
    reasons = {f["target"]: f["reason"] for f in summary["failures"]}
    skipped = {f["target"]: f["reason"] for f in summary["not_articles"]}
    for url, reason in bad.items():
        assert reason in reasons.get(url, skipped.get(url, "")), (url, reasons.get(url))
    assert summary["deliveries"]["sent"] == 6


def test_entry_whose_page_failed_for_a_passing_reason_is_fetched_again_from_an_unchanged_feed(
    tmp_path: Path, http_server: LoopbackHTTPServer
) -> None:
    page = ARTICLE_PAGE.format(title="Harbour reopens", body="The harbour reopened on Sunday.")
    flaky = http_server.sequence("/flaky", [Response(503, b"busy"), Response(200, page.encode())])
    feed = http_server.route(
        "/feed.xml",
        f"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
        <item><title>Harbour reopens</title><link>{flaky}</link><guid>h1</guid></item>
        </channel></rss>""",
        content_type="application/rss+xml",
    )
    config = write_config(
        tmp_path,
        sources=f'[[sources]]\nname = "news"\nfeed = "{feed}"',
        smtp_port=free_port(),
        hook_url=http_server.url("/hook"),
    )
    config.write_text(
        config.read_text().replace("per_host_delay = 0", "per_host_delay = 0\nretries = 0")
    )

    first = run_json(config)
    second = run_json(config)  # the feed answers the very same body

    assert first["totals"]["new"] == 0
    assert "503" in first["failures"][0]["reason"]  # no feed text to fall back on
    assert not second["sources"][0]["unchanged"]  # parsed again for the entry still missing
    assert second["totals"]["new"] == 1
    assert len(http_server.requests_to("/flaky")) == 2
    third = run_json(config)
    assert third["sources"][0]["unchanged"]  # nothing left to retry: the usual shortcut again


def test_a_schedule_naming_a_removed_source_polls_the_others_and_names_the_removed_one(
    tmp_path: Path, smtp_server: LoopbackSMTPServer, http_server: LoopbackHTTPServer
) -> None:
    import asyncio

    from typer.testing import CliRunner

    from flows.cli import app
    from flows.monitor import monitor

    _, config = desk_of_seeds(tmp_path, smtp_server, http_server)
    wire = http_server.route("/wire.xml", "never asked for")
    with config.open("a", encoding="utf-8") as stream:
        stream.write(f'\n[[sources]]\nname = "wire"\nfeed = "{wire}"\n')
    removed = CliRunner().invoke(app, ["sources", "remove", "wire", "--config", str(config)])
    assert removed.exit_code == 0, removed.stderr

    # what a deployment made before the removal calls: `newswatch serve` or `deploy`
    summary = asyncio.run(monitor(config_path=str(config), sources=["desk", "wire"]))

    assert [report.name for report in summary.sources] == ["desk"]
    assert summary.totals()["new"] == 1
    assert [(f.source, f.target) for f in summary.failures] == [("wire", str(config))]
    assert summary.failures[0].reason.startswith("named by this schedule but no longer in")
    assert http_server.requests_to("/wire.xml") == []


def test_run_of_one_source_polls_only_it_and_names_and_tags_its_tasks_after_it(
    tmp_path: Path, http_server: LoopbackHTTPServer
) -> None:
    feed = serve_feed(http_server)
    other = http_server.route("/other.xml", "never asked for")
    sources = f'[[sources]]\nname = "news"\nfeed = "{feed}"\n\n'
    sources += f'[[sources]]\nname = "other"\nfeed = "{other}"'
    config = write_config(
        tmp_path, sources=sources, smtp_port=free_port(), hook_url=http_server.url("/hook")
    )

    summary = run_json(config, "--source", "news")

    assert [source["name"] for source in summary["sources"]] == ["news"]
    assert http_server.requests_to("/other.xml") == []
    runs = task_runs(summary["flow_run_id"], expected={"fetch feed news"})
    assert "fetch feed news" in runs
    assert "fetch and extract batch 1/1" in runs
    assert {"newswatch", "news"} <= set(runs["fetch feed news"]["tags"])


def test_a_failing_feed_moved_in_the_config_is_polled_at_once_not_after_its_backoff(
    tmp_path: Path, http_server: LoopbackHTTPServer
) -> None:
    feed = serve_feed(http_server)
    gone = http_server.route("/old-feed.xml", "gone", status=404)
    hook = http_server.url("/hook")
    old = f'[[sources]]\nname = "news"\nfeed = "{gone}"\n{ALL}\n'
    config = write_config(tmp_path, sources=old, smtp_port=free_port(), hook_url=hook)

    failed = run_json(config)
    waiting = run_json(config)
    write_config(tmp_path, sources=old.replace(gone, feed), smtp_port=free_port(), hook_url=hook)
    moved = run_json(config)

    assert "404" in failed["sources"][0]["error"]
    assert waiting["sources"][0]["skipped"].startswith("backing off after 1 failure ")
    assert len(http_server.requests_to("/old-feed.xml")) == 1
    (news,) = moved["sources"]
    assert (news["error"], news["skipped"], news["found"]) == (None, None, 4)
    assert moved["totals"]["new"] == 3
    (listed,) = cli_json("sources", "list", "--config", str(config), "--json")
    assert (listed["location"], listed["status"], listed["consecutive_failures"]) == (
        feed,
        "ok",
        0,
    )


def test_a_feed_gone_for_good_waits_a_day_and_says_to_pause_or_remove_it(
    tmp_path: Path, http_server: LoopbackHTTPServer
) -> None:
    from datetime import UTC, datetime, timedelta

    gone = http_server.route("/gone.xml", "this feed was retired", status=410)
    sources = f'[[sources]]\nname = "wire"\nfeed = "{gone}"\n'
    config = write_config(
        tmp_path, sources=sources, smtp_port=free_port(), hook_url=http_server.url("/hook")
    )

    polled = run_json(config)
    waiting = run_json(config)

    (wire,) = polled["sources"]
    assert wire["gone"]
    assert wire["error"] == (
        f"{gone}: HTTP 410 Gone: removed for good, says the server; tried again once a day"
        " (`newswatch sources pause wire` or `remove wire`)"
    )
    assert waiting["sources"][0]["skipped"].startswith("backing off after 1 failure ")
    assert len(http_server.requests_to("/gone.xml")) == 1  # no retries, no second poll
    (listed,) = cli_json("sources", "list", "--config", str(config), "--json")
    wait = datetime.fromisoformat(listed["next_attempt_at"]) - datetime.now(UTC)
    assert timedelta(hours=23) < wait <= timedelta(days=1)


def test_a_feed_listing_nothing_new_for_a_week_is_called_quiet_by_runs_and_sources_list(
    tmp_path: Path, http_server: LoopbackHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from flows import cli
    from storage import Source, open_store

    monkeypatch.setattr(cli.out, "width", 200)
    feed = serve_feed(http_server)
    sources = f'[[sources]]\nname = "news"\nfeed = "{feed}"\n{ALL}\n'
    config = write_config(
        tmp_path, sources=sources, smtp_port=free_port(), hook_url=http_server.url("/hook")
    )

    first = run_json(config)
    # eight days pass; the site never adds to its feed (the same body each poll)
    last_new = (datetime.now(UTC) - timedelta(days=8)).replace(microsecond=0)
    engine = open_store(f"sqlite:///{tmp_path / 'newswatch.db'}")
    with engine.begin() as connection:
        connection.execute(update(Source).values(last_new_at=last_new))
    engine.dispose()
    quiet = run_json(config)
    printed = CliRunner().invoke(app, ["run", "--config", str(config)])
    shown = CliRunner().invoke(app, ["runs", "show", str(quiet["run_id"]), "--config", str(config)])
    (listed,) = cli_json("sources", "list", "--config", str(config), "--json")

    assert (first["totals"]["new"], first["sources"][0]["quiet_since"]) == (3, None)
    (news,) = quiet["sources"]
    assert (news["error"], news["new"], news["quiet_since"]) == (None, 0, last_new.isoformat())
    note = f"nothing new since {last_new:%Y-%m-%d %H:%M} UTC (8 days)"
    assert f"quiet news: {note}" in printed.stdout
    assert f"quiet: {note}" in shown.stdout
    assert (listed["status"], listed["quiet_since"]) == ("quiet", last_new.isoformat())


def test_a_feed_that_moved_for_good_is_read_and_named_until_the_config_follows_it(
    tmp_path: Path, http_server: LoopbackHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows import cli

    monkeypatch.setattr(cli.out, "width", 200)
    feed = serve_feed(http_server)
    old = http_server.route("/old-feed.xml", status=301, headers={"Location": "/feed.xml"})
    hook = http_server.url("/hook")
    sources = f'[[sources]]\nname = "news"\nfeed = "{old}"\n{ALL}\n'
    config = write_config(tmp_path, sources=sources, smtp_port=free_port(), hook_url=hook)

    first = run_json(config)
    again = CliRunner().invoke(app, ["run", "--config", str(config)])
    listed_moved = cli_json("sources", "list", "--config", str(config), "--json")
    write_config(tmp_path, sources=sources.replace(old, feed), smtp_port=free_port(), hook_url=hook)
    followed = run_json(config)
    listed_after = cli_json("sources", "list", "--config", str(config), "--json")

    (news,) = first["sources"]
    assert (news["error"], news["new"], news["moved_to"]) == (None, 3, feed)
    assert f"moved news: moved permanently to {feed}: update the config" in again.stdout
    assert listed_moved[0]["moved_to"] == feed
    assert followed["sources"][0]["moved_to"] is None
    assert followed["totals"]["new"] == 0  # the same entries: nothing stored twice
    assert listed_after[0]["moved_to"] is None


def test_many_sources_are_polled_by_a_few_tasks_and_a_broken_one_spares_its_neighbours(
    tmp_path: Path, http_server: LoopbackHTTPServer
) -> None:
    sources = ""
    for n in range(22):
        page = http_server.route(
            f"/page/{n}",
            ARTICLE_PAGE.format(
                title=f"Harbour works, phase {n}",
                body=f"Phase {n} of the harbour works moved {n * 40 + 7} tonnes of rock.",
            ),
        )
        item = f"<item><title>Phase {n}</title><link>{page}</link><guid>p{n}</guid></item>"
        feed = f"<rss version='2.0'><channel><title>F{n}</title>{item}</channel></rss>"
        url = (
            http_server.route(f"/feed/{n}.xml", "gone", status=404)  # the broken neighbour
            if n == 5
            else http_server.route(f"/feed/{n}.xml", feed, content_type="application/rss+xml")
        )
        sources += f'[[sources]]\nname = "feed-{n}"\nfeed = "{url}"\n{ALL}\n\n'
    config = write_config(
        tmp_path, sources=sources, smtp_port=free_port(), hook_url=http_server.url("/hook")
    )

    summary = run_json(config)

    assert [source["name"] for source in summary["sources"]] == [f"feed-{n}" for n in range(22)]
    assert summary["totals"]["new"] == 21
    (failure,) = summary["failures"]
    assert failure["source"] == "feed-5" and "404" in failure["reason"]
    expected = {f"poll sources {first}-{first + 1} of 22" for first in range(1, 22, 2)}
    names = {
        name for name in task_runs(summary["flow_run_id"], expected=expected) if "poll" in name
    }
    assert names == expected


class RecordingReporter:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def sources(self, total: int) -> None:
        self.events.append(("sources", total))

    def source_done(self, name: str) -> None:
        self.events.append(("source done", name))

    def pages(self, more: int) -> None:
        self.events.append(("pages", more))

    def page_done(self) -> None:
        self.events.append(("page done", None))


def test_a_run_reports_its_progress_source_by_source_and_page_by_page(
    tmp_path: Path, http_server: LoopbackHTTPServer
) -> None:
    import asyncio

    from flows.monitor import monitor
    from flows.progress import reporting

    feed = serve_feed(http_server)
    broken = f'[[sources]]\nname = "broken"\nfeed = "{http_server.url("/nothing.xml")}"'
    sources = f'[[sources]]\nname = "news"\nfeed = "{feed}"\n\n{broken}'
    config = write_config(
        tmp_path, sources=sources, smtp_port=free_port(), hook_url=http_server.url("/hook")
    )
    reporter = RecordingReporter()

    with reporting(reporter):
        asyncio.run(monitor(config_path=str(config)))

    events = reporter.events
    assert events[0] == ("sources", 2)
    assert sorted(name for kind, name in events if kind == "source done") == ["broken", "news"]
    assert ("pages", 4) in events  # the feed's four entries, none stored yet
    assert sum(kind == "page done" for kind, _ in events) == 4


# A flow run in a fresh process, as a Prefect worker or `newswatch serve` starts one;
# it prints the new articles and how many forkservers it has after each config's run.
FORKSERVERS = """
import asyncio
import sys

import psutil

from flows.monitor import monitor

for config in sys.argv[1:]:
    summary = asyncio.run(monitor(config_path=config))
    children = [" ".join(child.cmdline()) for child in psutil.Process().children()]
    forkservers = sum("multiprocessing.forkserver" in command for command in children)
    print("run:", summary.totals()["new"], forkservers)
"""


def test_a_flow_run_starts_the_extraction_forkserver_only_once_it_has_a_page_to_extract(
    tmp_path: Path, http_server: LoopbackHTTPServer
) -> None:
    import os
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    seeded, fed = tmp_path / "seeded", tmp_path / "fed"
    (seeded / "seeds").mkdir(parents=True)
    example = Path(__file__).resolve().parents[1] / "examples" / "seeds" / "002_tram_line.txt"
    (seeded / "seeds" / "tram.txt").write_bytes(example.read_bytes())  # stored as it is read
    fed.mkdir()
    hook = http_server.url("/hook")
    configs = [
        write_config(
            seeded,
            sources='[[sources]]\nname = "desk"\nseeds = "seeds/"',
            smtp_port=free_port(),
            hook_url=hook,
        ),
        write_config(
            fed,
            sources=f'[[sources]]\nname = "news"\nfeed = "{serve_feed(http_server)}"\n{ALL}',
            smtp_port=free_port(),
            hook_url=hook,
        ),
    ]
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}

    done = subprocess.run(
        [sys.executable, "-c", FORKSERVERS, *map(str, configs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    runs = [line for line in done.stdout.splitlines() if line.startswith("run:")]
    assert runs == ["run: 1 0", "run: 3 1"]  # seed files need no extraction; pages do
