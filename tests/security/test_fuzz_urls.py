"""URL handling under fuzzing: canonicalisation, and hostile URLs handed to the fetcher.

`canonical_url` never fails and is stable (its own canonical form); equivalent
spellings of one article's address share it. The fetcher, given any text as a URL
and any redirect target, either fetches or fails with one `FetchError` line naming
the URL asked for, and no request ever reaches a host that resolves to a refused
address, however the URL spells it.
"""

from __future__ import annotations

import asyncio
import ipaddress

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.errors import FetchError
from flows.fetch import FetchOptions
from flows.fetcher import Fetcher
from flows.guard import refusal_reason
from storage.fingerprints import canonical_url
from tests.security.fuzz import NASTY, assert_one_line_error, fuzz_settings, hostile_text

# --- canonical URLs ---------------------------------------------------------------------

urls = st.one_of(
    hostile_text,
    st.text(max_size=80),
    st.builds(
        "{}://{}{}/{}?{}#{}".format,
        st.sampled_from(["http", "https", "HTTP", "hTtPs", "ftp", ""]),
        st.one_of(st.sampled_from(["x.test", "X.TEST", "例え.jp", "[::1", "a@b"]), hostile_text),
        st.sampled_from(["", ":80", ":443", ":99999", ":x"]),
        hostile_text,
        st.sampled_from(["", "utm_source=rss", "b=2&a=1", "sid=1&utm_medium=x"]),
        hostile_text,
    ),
)


@fuzz_settings(400)
@given(url=urls)
def test_fuzz_canonical_url_never_fails_and_is_its_own_canonical_form(url: str) -> None:
    canonical = canonical_url(url)
    assert canonical_url(canonical) == canonical


@fuzz_settings(300)
@given(
    path=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_/", max_size=30),
    fragment=hostile_text,
    tracking=st.sampled_from(["", "utm_source=rss", "utm_medium=email&utm_campaign=x"]),
)
def test_fuzz_spellings_of_one_address_share_a_canonical_url(
    path: str, fragment: str, tracking: str
) -> None:
    plain = canonical_url(f"https://news.test/{path}")
    spelled = f"HTTPS://NEWS.test/{path}" + (f"?{tracking}" if tracking else "")
    assert canonical_url(f"{spelled}#{fragment}") == plain


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("https://x.test/story.php?sid=1", "https://x.test/story.php?sid=2"),
        ("https://x.test/a", "https://x.test/b"),
        ("https://x.test/a", "https://y.test/a"),
        ("http://[::1", "http://[::2"),
    ],
)
def test_distinct_articles_keep_distinct_canonical_urls(left: str, right: str) -> None:
    assert canonical_url(left) != canonical_url(right)


# --- hostile URLs through the fetcher ---------------------------------------------------

PUBLIC = "93.184.215.14"
# What the test resolver answers: names that look inward resolve inward.
INWARD = {
    "localhost": "127.0.0.1",
    "internal": "10.0.0.7",
    "metadata": "169.254.169.254",
    "carrier": "100.100.100.200",
    "ip6": "::1",
    "mapped": "::ffff:127.0.0.1",
}


async def resolve(host: str, port: int) -> list[str]:
    inward = [address for marker, address in INWARD.items() if marker in host.lower()]
    return inward or [PUBLIC]


def judged_safe(host: str) -> bool:
    """What the guard must conclude of `host`, computed apart from the code under test."""
    try:
        addresses = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        addresses = [ipaddress.ip_address(a) for a in asyncio.run(resolve(host, 80))]
    return all(refusal_reason(a, allow_networks=[]) is None for a in addresses)


targets = st.one_of(
    hostile_text,
    st.sampled_from(NASTY),
    st.builds(
        "{}://{}{}".format,
        st.sampled_from(["http", "https", "file", "ftp", "gopher", "HTTP"]),
        st.sampled_from(
            [
                "127.0.0.1",
                "2130706433",
                "0x7f.1",
                "017700000001",
                "127.1",
                "0.0.0.0",
                "0",
                "[::1]",
                "[::ffff:127.0.0.1]",
                "[::ffff:7f00:1]",
                "169.254.169.254",
                "100.100.100.200",
                "[fe80::1]",
                "[2002:7f00:1::]",
                "localhost",
                "LOCALHOST.",
                "internal.news.test",
                "metadata.google.internal",
                "carrier.test",
                "user@localhost",
                "localhost:80@news.test",
                "news.test",
                "news.test\\@localhost",
            ]
        ),
        st.one_of(st.just("/"), hostile_text),
    ),
)


@fuzz_settings(300)
@given(url=targets, location=targets)
def test_fuzz_no_request_reaches_a_refused_address_however_the_url_is_spelled(
    url: str, location: str
) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path == "/redirect":
            raw = location.encode("utf-8", "replace").replace(b"\r", b"").replace(b"\n", b"")
            return httpx.Response(302, headers={"Location": raw})
        return httpx.Response(200, text="ok")

    async def main() -> None:
        options = FetchOptions(retries=0, per_host_delay=0, respect_robots=False)
        transport = httpx.MockTransport(answer)
        async with Fetcher(options, transport=transport, resolve=resolve) as fetcher:
            for asked in (url, f"https://news.test/redirect?to={len(location)}"):
                try:
                    await fetcher.fetch(asked)
                except FetchError as error:
                    assert_one_line_error(error, naming=asked)

    asyncio.run(main())
    for request in sent:
        assert judged_safe(request.url.host), str(request.url)


@fuzz_settings(400)
@given(address=st.ip_addresses())
def test_fuzz_only_public_addresses_pass_the_guard_unless_allowed(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    reason = refusal_reason(address, allow_networks=[])
    inner = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    judged = inner or address
    if reason is None:
        assert judged.is_global and not judged.is_multicast, address
    else:
        assert reason.endswith("not in [fetch] allow_networks")
    network = ipaddress.ip_network(judged)
    assert refusal_reason(address, allow_networks=[network]) is None
