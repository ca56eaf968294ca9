"""The run-wide Fetcher against misbehaving servers on 127.0.0.1: politeness, robots, faults.

Timings are measured at the server (`FaultyHTTPServer.served`), on the same
monotonic clock the fetcher uses; waits are kept to fractions of a second.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import time
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable, Iterator
from itertools import pairwise
from typing import TypeVar

import brotli
import pytest

from flows.errors import FetchError
from flows.fetch import Fetched, FetchOptions, Validators
from flows.fetcher import Fetcher
from tests.servers import FaultyHTTPServer, FaultyResponse, Response, free_port, peak_in_flight

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]
T = TypeVar("T")

# Polite defaults would make these tests slow; each test turns on what it checks.
FAST = {"per_host_delay": 0.0, "per_host_concurrency": 8, "retries": 1}


@pytest.fixture
def server() -> Iterator[FaultyHTTPServer]:
    faulty = FaultyHTTPServer().start()
    yield faulty
    faulty.stop()


@pytest.fixture
def other_servers() -> Iterator[list[FaultyHTTPServer]]:
    servers = [FaultyHTTPServer().start() for _ in range(2)]
    yield servers
    for faulty in servers:
        faulty.stop()


def run(work: Callable[[Fetcher], Awaitable[T]], **options: object) -> T:
    """Run `work` with one Fetcher, as a flow would, with tiny backoff waits."""
    settings = FetchOptions(allow_networks=LOOPBACK, **{**FAST, **options})

    async def main() -> T:
        async with Fetcher(settings, backoff=0.01) as fetcher:
            return await work(fetcher)

    return asyncio.run(main())


def fetch_all(
    urls: list[str], *, check_robots: bool = False, **options: object
) -> list[Fetched | BaseException]:
    async def work(fetcher: Fetcher) -> list[Fetched | BaseException]:
        jobs = (fetcher.fetch(url, check_robots=check_robots) for url in urls)
        return await asyncio.gather(*jobs, return_exceptions=True)

    return run(work, **options)


def fetch_one(url: str, **options: object) -> Fetched:
    validators = options.pop("validators", None)
    check_robots = bool(options.pop("check_robots", False))
    return run(lambda f: f.fetch(url, validators=validators, check_robots=check_robots), **options)


def bodies(results: list[Fetched | BaseException]) -> list[bytes]:
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [result.body for result in results]  # type: ignore[union-attr]


# --- politeness -------------------------------------------------------------------------


@pytest.mark.parametrize("per_host", [1, 3])
def test_per_host_concurrency_limits_requests_in_flight(
    server: FaultyHTTPServer, per_host: int
) -> None:
    url = server.sequence("/slow", [FaultyResponse(200, b"ok", delay=0.2)])
    assert bodies(fetch_all([url] * 4, per_host_concurrency=per_host)) == [b"ok"] * 4
    assert peak_in_flight(server.served) == per_host


def test_global_concurrency_limits_requests_across_hosts(
    server: FaultyHTTPServer, other_servers: list[FaultyHTTPServer]
) -> None:
    servers = [server, *other_servers]
    urls = [s.sequence("/slow", [FaultyResponse(200, b"ok", delay=0.15)]) for s in servers] * 2
    # A connect timeout shorter than the queue: requests waiting for the global
    # limit must not be waiting inside httpx's pool, where they would time out.
    results = fetch_all(urls, concurrency=2, per_host_concurrency=2, timeout=0.3, retries=0)
    assert bodies(results) == [b"ok"] * 6
    assert peak_in_flight(s for faulty in servers for s in faulty.served) == 2


def test_per_host_delay_spaces_request_starts(server: FaultyHTTPServer) -> None:
    url = server.route("/a", "page")
    assert len(bodies(fetch_all([url] * 4, per_host_delay=0.2))) == 4
    gaps = [later - earlier for earlier, later in pairwise(server.starts("/a"))]
    assert len(gaps) == 3
    assert min(gaps) >= 0.19, gaps


def test_per_host_delay_does_not_hold_back_other_hosts_or_a_first_request(
    server: FaultyHTTPServer, other_servers: list[FaultyHTTPServer]
) -> None:
    urls = [s.route("/a", "page") for s in (server, *other_servers)]
    started = time.monotonic()
    assert bodies(fetch_all(urls, per_host_delay=30)) == [b"page"] * 3
    assert time.monotonic() - started < 2


# --- robots.txt files and refusals the tests below serve and expect ---------------------

DISALLOW_PRIVATE = Response(200, b"User-agent: *\nDisallow: /private\n")
DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"
RULES = "disallowed by robots.txt"
KEEP_OUT = "read as complete disallow (RFC 9309)"


def _moved(location: str) -> Response:
    return Response(301, b"", {"Location": location})


# --- redirect hops ----------------------------------------------------------------------
# Each hop is a request of its own: the slot, delay and robots.txt of the host it goes to.


@pytest.mark.parametrize("cross_host", [False, True], ids=["same host", "other host"])
def test_a_redirect_hop_waits_for_the_delay_of_its_host(
    server: FaultyHTTPServer, other_servers: list[FaultyHTTPServer], cross_host: bool
) -> None:
    target = other_servers[0] if cross_host else server
    direct = target.route("/direct", "direct")
    final = target.route("/final", "here")
    start = server.route("/start", status=302, headers={"Location": final})
    assert bodies(fetch_all([direct, start], per_host_delay=0.4)) == [b"direct", b"here"]
    starts = sorted(s.started for s in target.served)
    assert len(starts) == (2 if cross_host else 3)
    gaps = [later - earlier for earlier, later in pairwise(starts)]
    # The server sees a request a little after the client starts it, by a varying
    # amount on a busy machine; a hop that skipped the delay would follow in a few ms.
    assert min(gaps) >= 0.3, gaps


def test_a_redirect_hop_waits_for_a_slot_of_its_host_and_frees_its_own(
    server: FaultyHTTPServer, other_servers: list[FaultyHTTPServer]
) -> None:
    other = other_servers[0]
    slow = other.sequence("/slow", [FaultyResponse(200, b"slow", delay=0.3)])
    final = other.route("/final", "here")
    start = server.route("/start", status=302, headers={"Location": final})
    after = server.route("/after", "after")
    results = fetch_all([slow, start, after], per_host_concurrency=1)
    assert bodies(results) == [b"slow", b"here", b"after"]
    assert peak_in_flight(other.served) == 1  # the hop to /final waited for /slow
    (slow_done,) = [s.finished for s in other.served if s.path == "/slow"]
    assert server.starts("/after")[0] < slow_done  # the hop did not hold its old host's slot


@pytest.mark.parametrize(
    ("cross_host", "path", "refusal"),
    [
        (True, "/private/story", RULES),
        (True, "/public/story", None),
        (False, "/private/story", RULES),
    ],
    ids=["other host, disallowed", "other host, allowed", "same host, disallowed"],
)
def test_a_redirect_hop_must_be_allowed_by_its_host_robots_txt(
    server: FaultyHTTPServer,
    other_servers: list[FaultyHTTPServer],
    cross_host: bool,
    path: str,
    refusal: str | None,
) -> None:
    target = other_servers[0] if cross_host else server
    for host in {server, target}:
        host.sequence("/robots.txt", [DISALLOW_PRIVATE])
    story = target.route(path, "story")
    start = server.route("/start", status=302, headers={"Location": story})
    if refusal is None:
        assert fetch_one(start, check_robots=True).body == b"story"
    else:
        with pytest.raises(FetchError) as caught:
            fetch_one(start, check_robots=True)
        assert str(caught.value) == f"{start}: redirect to {story} {refusal}"
        assert caught.value.url == start
        assert target.requests_to(path) == []
    assert len(target.requests_to("/robots.txt")) == 1


def test_a_redirect_to_a_host_whose_robots_txt_is_unreachable_is_refused(
    server: FaultyHTTPServer,
) -> None:
    gone = f"http://127.0.0.1:{free_port()}/story"
    start = server.route("/start", status=302, headers={"Location": gone})
    with pytest.raises(FetchError) as caught:
        fetch_one(start, check_robots=True)
    assert str(caught.value).startswith(
        f"{start}: redirect to {gone} disallowed by robots.txt: unreachable (connection failed"
    )


# --- robots.txt -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("robots", "path", "refusal"),
    [
        (DISALLOW_PRIVATE, "/private/1", RULES),
        (DISALLOW_PRIVATE, "/public/1", None),
        (
            Response(200, b"User-agent: newswatch\nDisallow: /\n\nUser-agent: *\nAllow: /\n"),
            "/a",
            RULES,
        ),
        (Response(200, b"User-agent: otherbot\nDisallow: /\n"), "/a", None),
        (Response(200, b"User-agent: *\nDisallow: /*?print=\n"), "/a?print=1", RULES),
        (Response(200, b"User-agent: *\nDisallow: /*?print=\n"), "/a?page=2", None),
        # RFC 9309 2.3.1.3: "unavailable" (4xx) means there are no rules
        (Response(404, b"no robots here"), "/a", None),
        (Response(403, b"forbidden"), "/a", None),
        (Response(410, b"gone"), "/a", None),
        # 2.3.1.4: "unreachable" (5xx, no answer) means keep out; 429 reads as 5xx
        (Response(500, b"down"), "/a", f"{RULES}: it answered HTTP 500, {KEEP_OUT}"),
        (Response(503, b"busy"), "/a", f"{RULES}: it answered HTTP 503, {KEEP_OUT}"),
        (Response(429, b"slow down"), "/a", f"{RULES}: it answered HTTP 429, {KEEP_OUT}"),
        (
            FaultyResponse(200, DISALLOW_ALL, cut_after=4),
            "/a",
            f"{RULES}: unreachable (connection failed: peer closed connection",
        ),
        (
            FaultyResponse(200, DISALLOW_ALL, delay=1),
            "/a",
            f"{RULES}: unreachable (timed out after 0.3 s in total), {KEEP_OUT}",
        ),
        # 2.3.1.2: redirects are followed up to five hops; past that, no rules
        (_moved("/robots/0"), "/a", RULES),
        (_moved("/robots/4"), "/a", RULES),
        (_moved("/robots/5"), "/a", None),
    ],
)
def test_robots_txt_decides_whether_a_page_is_fetched(
    server: FaultyHTTPServer, robots: Response, path: str, refusal: str | None
) -> None:
    server.sequence("/robots.txt", [robots])
    for hop in range(1, 6):  # /robots/N is N redirects away from the rules
        server.route(f"/robots/{hop}", status=301, headers={"Location": f"/robots/{hop - 1}"})
    server.route("/robots/0", DISALLOW_ALL, content_type="text/plain")
    for page in ("/a", "/private/1", "/public/1"):
        server.route(page, "page")
    url = server.url(path)
    if refusal is None:
        assert fetch_one(url, check_robots=True, total_timeout=0.3).body == b"page"
    else:
        with pytest.raises(FetchError) as caught:
            fetch_one(url, check_robots=True, total_timeout=0.3)
        assert str(caught.value).startswith(f"{url}: {refusal}")
        assert server.requests_to(path) == []


def test_unreachable_robots_txt_keeps_the_pages_out() -> None:
    """Nothing listens on the port: robots.txt is unreachable, so nothing is fetched there."""
    base = f"http://127.0.0.1:{free_port()}"
    pages = [f"{base}/news/{n}" for n in range(3)]
    started = time.monotonic()
    results = fetch_all(pages, check_robots=True)
    for url, error in zip(pages, results, strict=True):
        assert isinstance(error, FetchError)
        assert str(error).startswith(f"{url}: {RULES}: unreachable (connection failed: ")
        assert str(error).endswith(KEEP_OUT)
    assert time.monotonic() - started < 5


def test_a_failing_robots_txt_is_asked_once_for_the_run(server: FaultyHTTPServer) -> None:
    server.route("/robots.txt", status=500)
    pages = [server.route(f"/news/{n}", f"story {n}") for n in range(5)]
    results = fetch_all(pages, check_robots=True, retries=1)
    assert all(isinstance(r, FetchError) and "HTTP 500" in str(r) for r in results)
    assert len(server.requests_to("/robots.txt")) == 2  # one try and one retry, for all pages
    assert all(server.requests_to(f"/news/{n}") == [] for n in range(5))


def test_robots_txt_is_fetched_once_per_host_for_many_pages(server: FaultyHTTPServer) -> None:
    server.sequence("/robots.txt", [FaultyResponse(200, DISALLOW_PRIVATE.body, delay=0.1)])
    pages = [server.route(f"/news/{n}", f"story {n}") for n in range(10)]
    refused = server.url("/private/1")
    results = fetch_all([*pages, refused, *pages], check_robots=True)
    assert isinstance(results.pop(10), FetchError)
    assert len(bodies(results)) == 20
    assert len(server.requests_to("/robots.txt")) == 1


@pytest.mark.parametrize(
    ("check_robots", "respect_robots"), [(False, True), (True, False), (False, False)]
)
def test_robots_txt_is_not_consulted_unless_asked_and_respected(
    server: FaultyHTTPServer, check_robots: bool, respect_robots: bool
) -> None:
    server.route("/robots.txt", "User-agent: *\nDisallow: /\n", content_type="text/plain")
    url = server.route("/feed.xml", "<rss/>")
    assert (
        fetch_one(url, check_robots=check_robots, respect_robots=respect_robots).body == b"<rss/>"
    )
    assert server.requests_to("/robots.txt") == []


# --- conditional GET --------------------------------------------------------------------

LAST_MODIFIED = "Wed, 21 Oct 2026 07:28:00 GMT"


@pytest.mark.parametrize(
    ("validators", "not_modified"),
    [
        (Validators(etag='"v2"'), True),
        (Validators(last_modified=LAST_MODIFIED), True),
        (Validators(etag='"v1"'), False),
        (None, False),
    ],
)
def test_conditional_get_answers_304_with_an_empty_body(
    server: FaultyHTTPServer, validators: Validators | None, not_modified: bool
) -> None:
    url = server.conditional("/feed.xml", b"<rss/>", etag='"v2"', last_modified=LAST_MODIFIED)
    fetched = fetch_one(url, validators=validators)
    assert (fetched.etag, fetched.last_modified) == ('"v2"', LAST_MODIFIED)
    assert fetched.not_modified is not_modified
    assert (fetched.status, fetched.body) == ((304, b"") if not_modified else (200, b"<rss/>"))
    sent = server.requests_to("/feed.xml")[0].headers
    if validators is not None:
        assert sent.get("if-none-match") == validators.etag
        assert sent.get("if-modified-since") == validators.last_modified


# --- retries ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        *[(500, True), (502, True), (503, True), (408, True), (429, True)],
        *[(400, False), (403, False), (404, False), (410, False)],
    ],
)
def test_which_statuses_are_retried(server: FaultyHTTPServer, status: int, retried: bool) -> None:
    url = server.sequence("/flaky", [Response(status, b"no"), Response(200, b"ok")])
    if retried:
        assert fetch_one(url, retries=1).body == b"ok"
    else:
        with pytest.raises(FetchError, match=f"HTTP {status}"):
            fetch_one(url, retries=1)
    assert len(server.requests_to("/flaky")) == (2 if retried else 1)


def test_retry_after_is_honoured(server: FaultyHTTPServer) -> None:
    busy = Response(503, b"busy", {"Retry-After": "1"})
    url = server.sequence("/busy", [busy, Response(200, b"ok")])
    assert fetch_one(url).body == b"ok"
    first, second = server.starts("/busy")
    assert second - first >= 0.99


def test_retry_after_beyond_the_cap_fails_at_once(server: FaultyHTTPServer) -> None:
    url = server.sequence("/later", [Response(429, b"later", {"Retry-After": "3600"})])
    started = time.monotonic()
    with pytest.raises(FetchError, match="HTTP 429"):
        fetch_one(url, retries=3)
    assert time.monotonic() - started < 1
    assert len(server.requests_to("/later")) == 1


def test_a_timeout_is_retried(server: FaultyHTTPServer) -> None:
    late = FaultyResponse(200, b"late", delay=1.0)
    url = server.sequence("/late", [late, Response(200, b"ok")])
    assert fetch_one(url, total_timeout=0.3, retries=1).body == b"ok"
    assert len(server.requests_to("/late")) == 2


# --- caps -------------------------------------------------------------------------------


def test_total_timeout_cuts_a_slow_drip(server: FaultyHTTPServer) -> None:
    url = server.sequence("/drip", [FaultyResponse(200, b"x" * 200, drip=0.02)])
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch_one(url, total_timeout=0.4, timeout=5, retries=0)
    assert str(caught.value) == f"{url}: timed out after 0.4 s in total"
    assert time.monotonic() - started < 1.5


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODERS = {
    "gzip": lambda data: gzip.compress(data, 9),
    "deflate": lambda data: zlib.compress(data, 9),
    "deflate (raw)": _raw_deflate,
    "br": lambda data: brotli.compress(data, quality=5),
}


@pytest.mark.parametrize("coding", ENCODERS)
def test_compressed_bodies_are_decoded(server: FaultyHTTPServer, coding: str) -> None:
    text = "<p>café</p>".encode() * 1000
    headers = {"Content-Encoding": coding.split()[0]}
    url = server.route("/z", ENCODERS[coding](text), headers=headers)
    assert fetch_one(url).body == text


@pytest.mark.parametrize("coding", ENCODERS)
def test_decompression_bomb_stops_at_the_cap_without_inflating(
    server: FaultyHTTPServer, coding: str
) -> None:
    bomb = ENCODERS[coding](b"\0" * 50_000_000)
    assert len(bomb) < 100_000
    url = server.route("/bomb", bomb, headers={"Content-Encoding": coding.split()[0]})
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match="response larger than 100000 bytes"):
            fetch_one(url, max_bytes=100_000, retries=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # inflating whole network reads would hold tens of MB


def test_truncated_body_is_a_fetch_error(server: FaultyHTTPServer) -> None:
    url = server.sequence("/cut", [FaultyResponse(200, b"x" * 1000, cut_after=100)])
    with pytest.raises(FetchError, match="connection failed"):
        fetch_one(url, retries=1)
    assert len(server.requests_to("/cut")) == 2  # a dropped connection is worth a retry


def test_redirect_loop_is_a_fetch_error(server: FaultyHTTPServer) -> None:
    url = server.route("/loop", status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchError, match="too many redirects"):
        fetch_one(url, max_redirects=3)


# --- everything at once -----------------------------------------------------------------


def test_one_fetcher_survives_a_server_full_of_faults(server: FaultyHTTPServer) -> None:
    """Good pages come through while each bad one fails with its own reason, in bounded time."""
    server.route("/robots.txt", "User-agent: *\nDisallow: /private\n", content_type="text/plain")
    good = {
        server.route("/good/plain", "plain"): b"plain",
        server.route(
            "/good/gzip", gzip.compress(b"gz"), headers={"Content-Encoding": "gzip"}
        ): b"gz",
        server.route("/good/br", brotli.compress(b"br"), headers={"Content-Encoding": "br"}): b"br",
        server.route("/good/hop", status=301, headers={"Location": "/good/plain"}): b"plain",
        server.sequence("/good/flaky", [Response(503), Response(200, b"again")]): b"again",
        server.sequence("/good/late", [FaultyResponse(delay=0.1, body=b"late")]): b"late",
    }
    bomb = gzip.compress(b"\0" * 5_000_000)
    bad = {
        server.url("/missing"): "HTTP 404 Not Found",
        server.route("/gone", status=410): "HTTP 410 Gone",
        server.route("/forbidden", status=403): "HTTP 403 Forbidden",
        server.route("/down", status=500): "HTTP 500",
        server.route("/busy", status=503, headers={"Retry-After": "3600"}): "HTTP 503",
        server.route("/throttled", status=429): "HTTP 429",
        server.route("/loop", status=302, headers={"Location": "/loop"}): "too many redirects",
        server.route("/bomb", bomb, headers={"Content-Encoding": "gzip"}): "response larger than",
        server.route("/huge", b"x" * 200_000): "response larger than 100000 bytes",
        server.route("/broken-gzip", b"not gzip", headers={"Content-Encoding": "gzip"}): (
            "cannot decode the compressed body"
        ),
        server.sequence(
            "/cut", [FaultyResponse(200, b"x" * 500, cut_after=10)]
        ): "connection failed",
        server.sequence("/drip", [FaultyResponse(200, b"x" * 500, drip=0.01)]): "timed out after",
        server.sequence("/hang", [FaultyResponse(200, b"x", delay=5)]): "timed out after",
        server.route("/private/x", "secret"): "disallowed by robots.txt",
        server.route("/metadata", status=302, headers={"Location": "http://169.254.169.254/"}): (
            "redirect refused"
        ),
        # robots.txt is asked first, and a host that does not answer keeps its pages out
        f"http://127.0.0.1:{free_port()}/closed": "robots.txt: unreachable (connection failed",
        "file:///etc/passwd": "refused: scheme 'file'",
    }
    options = {"total_timeout": 0.5, "max_bytes": 100_000, "max_redirects": 3, "retries": 1}
    started = time.monotonic()
    results = fetch_all([*good, *bad], check_robots=True, **options)
    elapsed = time.monotonic() - started

    outcomes = dict(zip([*good, *bad], results, strict=True))
    for url, body in good.items():
        assert isinstance(outcomes[url], Fetched), (url, outcomes[url])
        assert outcomes[url].body == body  # type: ignore[union-attr]
    for url, reason in bad.items():
        error = outcomes[url]
        assert isinstance(error, FetchError), (url, error)
        assert error.url == url
        assert reason in str(error), (url, str(error))
    assert len(server.requests_to("/robots.txt")) == 1
    assert elapsed < 5
