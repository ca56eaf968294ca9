"""Sources shared out over a few polling tasks, and one source's poll with its retries,
against a real HTTP server (the tasks themselves run in tests/test_end_to_end.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from flows.fetch import FetchOptions
from flows.fetcher import Fetcher
from flows.polling import POLL_TASKS, Polled, poll_one, shares, task_name
from flows.settings import Settings, SourceSettings
from tests.servers import LoopbackHTTPServer, Response

OPTIONS = FetchOptions(allow_networks=["127.0.0.0/8"], per_host_delay=0, retries=0)  # type: ignore[list-item]
FEED = """<rss version="2.0"><channel><title>Wire</title>
<item><title>Harbour reopens</title><link>{link}</link><guid>h1</guid></item>
</channel></rss>"""


def feeds(count: int) -> list[SourceSettings]:
    return [
        SourceSettings(name=f"feed-{n}", feed=f"http://127.0.0.1/{n}.xml") for n in range(count)
    ]


def test_two_thousand_feeds_are_polled_by_twenty_tasks_of_a_hundred_in_config_order() -> None:
    sources = feeds(2000)

    cut = shares(sources)

    assert len(cut) == POLL_TASKS == 20
    assert {len(share) for share in cut} == {100}
    assert [source for share in cut for source in share] == sources
    assert task_name(cut[1], first=101, total=2000) == "poll sources 101-200 of 2000"


def test_a_run_with_few_sources_keeps_one_task_per_source_named_for_it(tmp_path: Path) -> None:
    seeds = SourceSettings(name="desk", seeds=str(tmp_path))
    sources = [*feeds(3), seeds]

    cut = shares(sources)

    assert cut == [[source] for source in sources]
    assert task_name(cut[0], first=1, total=4) == "fetch feed feed-0"
    assert task_name(cut[3], first=4, total=4) == "read seeds desk"


def test_forty_five_sources_share_out_evenly_over_fewer_tasks() -> None:
    assert [len(share) for share in shares(feeds(45))] == [3] * 15


def poll(source: SourceSettings, tmp_path: Path, *, delays: tuple[float, ...] = (0, 0)) -> Polled:
    settings = Settings(path=tmp_path / "newswatch.toml", fetch=OPTIONS, sources=(source,))

    async def go() -> Polled:
        async with Fetcher(settings.fetch) as fetcher:
            limit = asyncio.Semaphore(1)
            return await poll_one(
                source,
                settings=settings,
                fetcher=fetcher,
                feed_state=None,
                limit=limit,
                retry_delays=delays,
            )

    return asyncio.run(go())


def test_a_source_failing_for_a_passing_reason_is_tried_again_and_succeeds(
    tmp_path: Path, http_server: LoopbackHTTPServer
) -> None:
    feed = FEED.format(link=http_server.url("/harbour")).encode()
    url = http_server.sequence(
        "/feed.xml", [Response(503, b"busy"), Response(503, b"busy"), Response(200, feed)]
    )

    polled = poll(SourceSettings(name="wire", feed=url), tmp_path)

    assert polled.error is None
    assert polled.collected is not None
    assert [c.url for c in polled.collected.candidates] == [http_server.url("/harbour")]
    assert len(http_server.requests_to("/feed.xml")) == 3


def test_a_source_still_failing_after_its_retries_comes_back_with_the_reason_not_raised(
    tmp_path: Path, http_server: LoopbackHTTPServer
) -> None:
    url = http_server.route("/feed.xml", "busy", status=503)

    polled = poll(SourceSettings(name="wire", feed=url), tmp_path, delays=(0,))

    assert polled.collected is None
    assert polled.error is not None and "503" in polled.error and url in polled.error
    assert len(http_server.requests_to("/feed.xml")) == 2


def test_a_source_gone_for_good_is_not_tried_again(
    tmp_path: Path, http_server: LoopbackHTTPServer
) -> None:
    url = http_server.url("/gone.xml")

    polled = poll(SourceSettings(name="gone", feed=url), tmp_path)

    assert polled.error is not None and "404" in polled.error
    assert not polled.gone  # missing, maybe for now: the usual backoff
    assert len(http_server.requests_to("/gone.xml")) == 1


def test_a_source_answering_410_is_gone_and_its_error_says_what_to_do(
    tmp_path: Path, http_server: LoopbackHTTPServer
) -> None:
    url = http_server.route("/retired.xml", "retired", status=410)

    polled = poll(SourceSettings(name="Daily World", feed=url), tmp_path)

    assert polled.gone
    assert polled.error == (
        f"{url}: HTTP 410 Gone: removed for good, says the server; tried again once a day"
        " (`newswatch sources pause 'Daily World'` or `remove 'Daily World'`)"
    )
    assert len(http_server.requests_to("/retired.xml")) == 1
