"""Fetching against a real server on 127.0.0.1, and the SSRF guard through an injected transport."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from flows.errors import FetchError, TransientFetchError
from flows.fetch import DEFAULT_USER_AGENT, Fetched, FetchOptions, Validators, fetch, make_client
from flows.fetcher import Fetcher
from flows.guard import refusal_reason
from flows.politeness import backoff_delay, retry_after_seconds
from flows.robots import RobotsRules, rules_from_response, unreachable
from tests.servers import LoopbackHTTPServer, Response, free_port

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]
PUBLIC_URL = "http://93.184.215.14/page"  # an IP literal: the guard needs no DNS


def get(
    url: str,
    *,
    allow: list | None = None,
    max_bytes: int = 1_000_000,
    transport: httpx.AsyncBaseTransport | None = None,
    **options: object,
) -> Fetched:
    """Fetch `url` with a fresh client, as a flow would, with tiny retry waits."""
    settings = FetchOptions(allow_networks=LOOPBACK if allow is None else allow, **options)

    async def run() -> Fetched:
        async with make_client(settings, transport=transport) as client:
            return await fetch(client, url, max_bytes=max_bytes, backoff=0.01)

    return asyncio.run(run())


def test_page_is_fetched_with_the_user_agent(http_server: LoopbackHTTPServer) -> None:
    url = http_server.route("/a", "<p>café</p>", content_type="text/html; charset=utf-8")
    fetched = get(url)
    assert (fetched.url, fetched.status, fetched.encoding) == (url, 200, "utf-8")
    assert fetched.body.decode() == "<p>café</p>"
    assert fetched.content_type == "text/html; charset=utf-8"
    assert http_server.requests_to("/a")[0].headers["user-agent"] == DEFAULT_USER_AGENT


def test_https_page_with_an_untrusted_certificate_is_a_fetch_error(
    https_server: LoopbackHTTPServer,
) -> None:
    url = https_server.route("/a", "<p>hello</p>")
    with pytest.raises(
        FetchError, match=r"certificate refused: .*CERTIFICATE_VERIFY_FAILED"
    ) as caught:
        get(url)
    assert caught.value.url == url
    assert not isinstance(caught.value, TransientFetchError)  # not retried: it would fail again
    assert https_server.requests == []


def test_https_page_whose_ca_is_trusted_is_fetched(
    https_server: LoopbackHTTPServer, trusted_ca: Path
) -> None:
    url = https_server.route("/a", "<p>hello</p>")
    assert get(url).body == b"<p>hello</p>"


def test_redirects_are_followed_and_the_final_url_reported(http_server: LoopbackHTTPServer) -> None:
    final = http_server.route("/final", "here")
    hop = http_server.route("/hop", status=301, headers={"Location": final})
    start = http_server.route("/start", status=302, headers={"Location": "/hop"})
    fetched = get(start)
    assert fetched.url == final
    assert fetched.body == b"here"
    assert len(http_server.requests_to("/hop")) == 1, hop


@pytest.mark.parametrize(
    ("chain", "moved"),
    [
        ([301, 308], "/final"),  # permanent all the way: where they end
        ([301, 302], "/hop1"),  # a temporary hop ends what moved for good
        ([302, 301], None),  # the asked URL itself only moved for now
        ([307], None),
        ([], None),  # no redirect at all
    ],
)
def test_a_permanent_redirect_says_where_the_asked_url_has_moved(
    http_server: LoopbackHTTPServer, chain: list[int], moved: str | None
) -> None:
    final = http_server.route("/final", "here")
    start = final
    for n, status in reversed(list(enumerate(chain))):  # each hop names the next
        start = http_server.route(f"/hop{n}", status=status, headers={"Location": start})

    fetched = get(start)

    assert fetched.url == final
    assert fetched.moved_to == (http_server.url(moved) if moved else None)


def test_too_many_redirects_is_a_fetch_error(http_server: LoopbackHTTPServer) -> None:
    loop = http_server.route("/loop", status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchError, match="too many redirects"):
        get(loop, max_redirects=2)


def test_declared_length_over_the_cap_is_refused(http_server: LoopbackHTTPServer) -> None:
    url = http_server.route("/big", b"x" * 2_000_000, content_type="text/plain")
    with pytest.raises(FetchError, match="response larger than 100000 bytes") as caught:
        get(url, max_bytes=100_000)
    assert caught.value.url == url


def test_small_gzip_body_that_inflates_past_the_cap_is_refused(
    http_server: LoopbackHTTPServer,
) -> None:
    bomb = gzip.compress(b"\0" * 2_000_000)
    assert len(bomb) < 100_000
    url = http_server.route("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="response larger than 100000 bytes"):
        get(url, max_bytes=100_000)


def test_gzip_body_is_decoded(http_server: LoopbackHTTPServer) -> None:
    url = http_server.route("/gz", gzip.compress(b"hello"), headers={"Content-Encoding": "gzip"})
    assert get(url).body == b"hello"


def test_404_names_the_status_and_url(http_server: LoopbackHTTPServer) -> None:
    url = http_server.url("/missing")
    with pytest.raises(FetchError) as caught:
        get(url)
    assert str(caught.value) == f"{url}: HTTP 404 Not Found"
    assert len(http_server.requests_to("/missing")) == 1  # a 404 is not retried


def test_503_then_200_succeeds_after_a_retry(http_server: LoopbackHTTPServer) -> None:
    url = http_server.sequence("/flaky", [Response(503, b"busy"), Response(200, b"ok")])
    assert get(url).body == b"ok"
    assert len(http_server.requests_to("/flaky")) == 2


def test_persistent_5xx_gives_up_after_two_retries(http_server: LoopbackHTTPServer) -> None:
    url = http_server.sequence("/down", [Response(500, b"down")])
    with pytest.raises(FetchError, match="HTTP 500"):
        get(url)
    assert len(http_server.requests_to("/down")) == 3


def test_loopback_is_refused_unless_allowed(http_server: LoopbackHTTPServer) -> None:
    url = http_server.route("/a", "hi")
    with pytest.raises(FetchError) as caught:
        get(url, allow=[])
    assert str(caught.value) == (
        f"{url}: refused: 127.0.0.1 is loopback and not in [fetch] allow_networks"
    )
    assert http_server.requests_to("/a") == []
    assert get(url, allow=LOOPBACK).body == b"hi"


def test_localhost_name_is_resolved_and_refused(http_server: LoopbackHTTPServer) -> None:
    url = http_server.url("/a").replace("127.0.0.1", "localhost")
    with pytest.raises(FetchError, match="is loopback and not in"):
        get(url, allow=[])


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"),
        ("http://10.1.2.3/internal", "10.1.2.3 is private"),
        ("ftp://127.0.0.1/file", "scheme 'ftp' is not http(s)"),
        ("file:///etc/passwd", "scheme 'file' is not http(s)"),
    ],
)
def test_redirect_to_a_refused_target_is_refused(
    http_server: LoopbackHTTPServer, target: str, reason: str
) -> None:
    start = http_server.route("/start", status=302, headers={"Location": target})
    with pytest.raises(FetchError) as caught:
        get(start)
    assert caught.value.url == start
    message = str(caught.value)
    assert message.startswith(f"{start}: redirect refused: ")
    assert message.endswith(f": refused: {reason} and not in [fetch] allow_networks") or (
        message.endswith(f": refused: {reason}") and "scheme" in reason
    )


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/file"])
def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(FetchError, match=r"refused: scheme '(file|ftp)' is not http"):
        get(url)


def test_connection_refused_is_a_fetch_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    started = time.monotonic()
    with pytest.raises(FetchError, match="connection failed"):
        get(url)
    assert time.monotonic() - started < 5


def test_timeouts_are_retried_then_reported() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(FetchError, match=r"timed out \(ReadTimeout\)"):
        get(PUBLIC_URL, transport=httpx.MockTransport(handler))
    assert len(calls) == 3


def test_429_is_retried() -> None:
    statuses = iter([429, 200])
    transport = httpx.MockTransport(lambda request: httpx.Response(next(statuses), text="ok"))
    assert get(PUBLIC_URL, transport=transport).status == 200


def test_guard_runs_before_an_injected_transport() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with pytest.raises(FetchError, match=r"10\.0\.0\.5 is private"):
        get("http://10.0.0.5/", allow=[], transport=transport)


@pytest.mark.parametrize(
    ("address", "allow", "reason"),
    [
        ("93.184.215.14", [], None),
        ("2606:4700::1111", [], None),
        ("127.0.0.1", [], "127.0.0.1 is loopback and not in [fetch] allow_networks"),
        ("127.0.0.1", ["127.0.0.0/8"], None),
        ("::1", ["127.0.0.0/8"], "::1 is loopback and not in [fetch] allow_networks"),
        ("::ffff:127.0.0.1", [], "127.0.0.1 is loopback and not in [fetch] allow_networks"),
        ("0.0.0.0", [], "0.0.0.0 is unspecified and not in [fetch] allow_networks"),
        ("169.254.169.254", [], "169.254.169.254 is link-local and not in [fetch] allow_networks"),
        ("fe80::1", [], "fe80::1 is link-local and not in [fetch] allow_networks"),
        ("224.0.0.1", [], "224.0.0.1 is multicast and not in [fetch] allow_networks"),
        ("240.0.0.1", [], "240.0.0.1 is reserved and not in [fetch] allow_networks"),
        ("192.168.1.10", [], "192.168.1.10 is private and not in [fetch] allow_networks"),
        ("192.168.1.10", ["192.168.0.0/16"], None),
        ("fd00::1", [], "fd00::1 is private and not in [fetch] allow_networks"),
    ],
)
def test_refusal_reason(address: str, allow: list[str], reason: str | None) -> None:
    networks = [ipaddress.ip_network(n) for n in allow]
    assert refusal_reason(ipaddress.ip_address(address), allow_networks=networks) == reason


def test_options_parse_networks_and_forbid_unknown_keys() -> None:
    options = FetchOptions.model_validate({"allow_networks": ["10.0.0.0/8", "fd00::/8"]})
    assert options.allow_networks == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
    ]
    with pytest.raises(ValidationError, match="timeout_s"):
        FetchOptions.model_validate({"timeout_s": 3})


# --- pieces of the run-wide Fetcher -----------------------------------------------------

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Mon, 23 Nov 2026 12:00:30 GMT", 30.0),
        ("Mon, 23 Nov 2026 11:59:00 GMT", 0.0),  # already past: go now
        ("soon", None),
        ("-5", None),
    ],
)
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("validators", "headers"),
    [
        (Validators(), {}),
        (Validators(etag='"abc"'), {"If-None-Match": '"abc"'}),
        (
            Validators(etag='W/"abc"', last_modified="Mon, 23 Nov 2026 12:00:00 GMT"),
            {"If-None-Match": 'W/"abc"', "If-Modified-Since": "Mon, 23 Nov 2026 12:00:00 GMT"},
        ),
    ],
)
def test_validators_become_conditional_headers(
    validators: Validators, headers: dict[str, str]
) -> None:
    assert validators.headers() == headers


@pytest.mark.parametrize("attempt", range(8))
def test_backoff_is_full_jitter_under_a_cap(attempt: int) -> None:
    waits = [backoff_delay(attempt, base=0.5, cap=10) for _ in range(200)]
    assert all(0 <= wait <= min(10, 0.5 * 2**attempt) for wait in waits)
    assert len(set(waits)) > 1


@pytest.mark.parametrize(
    ("status", "body", "allowed"),
    [
        (200, b"User-agent: *\nDisallow: /a\n", False),
        (200, b"", True),
        (200, b"\xef\xbb\xbfUser-agent: *\nDisallow: /a\n", False),  # a UTF-8 BOM
        (200, b"User-agent: *\nDisallow: /caf\xe9\nDisallow: /a\n", False),  # bad UTF-8
        (404, b"User-agent: *\nDisallow: /\n", True),
        (401, b"", True),
        (410, b"", True),
        (429, b"", False),  # "slow down", read like a 5xx
        (500, b"", False),
        (503, b"", False),
    ],
)
def test_robots_rules_from_a_response(status: int, body: bytes, allowed: bool) -> None:
    rules = rules_from_response(status, body)
    assert rules.allows("http://example.org/a/1", user_agent=DEFAULT_USER_AGENT) is allowed


@pytest.mark.parametrize(
    ("rules", "refusal"),
    [
        (rules_from_response(200, b"User-agent: *\nDisallow: /\n"), "disallowed by robots.txt"),
        (
            rules_from_response(503, b""),
            "disallowed by robots.txt: it answered HTTP 503, read as complete disallow (RFC 9309)",
        ),
        (
            unreachable("timed out"),
            "disallowed by robots.txt: unreachable (timed out), read as complete disallow"
            " (RFC 9309)",
        ),
        (rules_from_response(404, b""), None),
    ],
)
def test_robots_refusals_say_why(rules: RobotsRules, refusal: str | None) -> None:
    assert rules.refusal("http://example.org/a", user_agent=DEFAULT_USER_AGENT) == refusal


def test_fetcher_keeps_the_ssrf_guard() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="ok"))

    async def run() -> Fetched:
        async with Fetcher(FetchOptions(per_host_delay=0), transport) as fetcher:
            return await fetcher.fetch("http://10.0.0.5/", check_robots=True)

    with pytest.raises(FetchError, match=r"10\.0\.0\.5 is private"):
        asyncio.run(run())


def test_fetcher_returns_validators_through_an_injected_transport() -> None:
    headers = {"ETag": '"v1"', "Last-Modified": "Mon, 23 Nov 2026 12:00:00 GMT"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="ok", headers=headers))

    async def run() -> Fetched:
        async with Fetcher(FetchOptions(), transport) as fetcher:
            return await fetcher.fetch(PUBLIC_URL)

    fetched = asyncio.run(run())
    assert (fetched.body, fetched.etag, fetched.last_modified) == (
        b"ok",
        '"v1"',
        "Mon, 23 Nov 2026 12:00:00 GMT",
    )


def test_polite_defaults() -> None:
    options = FetchOptions()
    assert (options.per_host_concurrency, options.per_host_delay, options.respect_robots) == (
        2,
        1.0,
        True,
    )
    assert (options.retries, options.total_timeout) == (3, 60)


@pytest.mark.parametrize(
    "bad",
    [
        {"per_host_concurrency": 0},
        {"per_host_delay": -1},
        {"retries": -1},
        {"total_timeout": 0},
        {"concurrency": 0},
    ],
)
def test_options_refuse_limits_that_make_no_sense(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError, match=next(iter(bad))):
        FetchOptions.model_validate(bad)
