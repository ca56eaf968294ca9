"""Answers too big to hold: 100 MB bodies and 1 GB decompression bombs, over real sockets.

The fetcher reads at most `max_bytes` (5 MB by default) of decoded body and hangs
up; memory stays within about twice the cap (tracemalloc, both ends of the socket
counted), and the server never gets to send the whole answer.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from flows.errors import FeedError, FetchError
from flows.fetch import FetchOptions
from flows.fetcher import Fetcher
from flows.sitemaps import MAX_SITEMAP_BYTES, parse_sitemap
from tests.security.hostile import GB, MB, HugeAnswerServer, compressed_zeros

CAP = FetchOptions().max_bytes
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]
T = TypeVar("T")


@pytest.fixture(scope="module")
def server() -> Iterator[HugeAnswerServer]:
    huge = HugeAnswerServer().start()
    yield huge
    huge.stop()


def measured(work: Callable[[], T]) -> tuple[T | BaseException, float, int]:
    """What `work` returned or raised, its seconds, and the peak of traced memory."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        try:
            outcome: T | BaseException = work()
        except Exception as error:
            outcome = error
        return outcome, time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def fetch(url: str) -> bytes:
    async def main() -> bytes:
        options = FetchOptions(allow_networks=LOOPBACK, retries=0, per_host_delay=0)
        async with Fetcher(options) as fetcher:
            return (await fetcher.fetch(url)).body

    return asyncio.run(main())


@pytest.mark.parametrize("framing", ["close", "chunked", "declared"])
def test_a_100_mb_answer_is_cut_at_the_cap_in_bounded_memory(
    server: HugeAnswerServer, framing: str
) -> None:
    path = f"/huge-{framing}"
    url = server.huge(path, size=100 * MB, framing=framing)  # type: ignore[arg-type]
    outcome, seconds, peak = measured(lambda: fetch(url))
    assert isinstance(outcome, FetchError), outcome
    assert str(outcome) == f"{url}: response larger than {CAP} bytes"
    assert peak < 2 * CAP + 3 * MB, f"peak {peak:,} bytes"
    assert seconds < 10
    time.sleep(0.2)  # the server notices the hang-up on its next write
    assert server.sent.get(path, 0) < 40 * MB, server.sent


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_a_1_gb_decompression_bomb_stops_at_the_cap_in_bounded_memory(
    server: HugeAnswerServer, coding: str
) -> None:
    url = server.bomb(f"/bomb-{coding}", coding=coding, inflated=GB)
    outcome, seconds, peak = measured(lambda: fetch(url))
    assert isinstance(outcome, FetchError), outcome
    assert str(outcome) == f"{url}: response larger than {CAP} bytes"
    assert peak < 3 * CAP, f"peak {peak:,} bytes"
    assert seconds < 10


def test_a_gzipped_sitemap_bomb_stops_at_50_mb_uncompressed() -> None:
    """A sitemap's own gzip layer (`.xml.gz`) inflates up to the sitemaps.org limit only,
    however big the 5 MB body the fetcher let through would grow."""
    bomb = compressed_zeros("gzip", GB)
    assert bomb.startswith(gzip.compress(b"")[:2])
    outcome, seconds, peak = measured(
        lambda: parse_sitemap(bomb, url="https://x.test/s.xml.gz", source="x")
    )
    assert isinstance(outcome, FeedError), outcome
    assert str(outcome) == "https://x.test/s.xml.gz: gzipped sitemap over 50 MB uncompressed"
    # inflated a megabyte at a time: the limit plus a step (it was twice the limit)
    assert peak < 1.2 * MAX_SITEMAP_BYTES, f"peak {peak:,} bytes"
    assert seconds < 10
