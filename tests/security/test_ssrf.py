"""SSRF: feed and article URLs that lead to our own machine or network are refused.

Addresses are judged, never URL text: every spelling of 127.0.0.1 reaches a real
server on loopback only when `[fetch] allow_networks` lists 127.0.0.0/8, and none
of them otherwise. Host names are judged by what they resolve to (a resolver seam
stands in for DNS), at the request and again at the connection, so an answer
that changes in between (DNS rebinding) is refused too; every redirect hop is
judged like a request. Addresses outside 127.0.0.0/8 are never dialled here:
their refusals are checked before any connection, or with no network at all.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterator

import httpcore
import httpx
import pytest

from flows.errors import FetchError, shown_url
from flows.fetch import Fetched, FetchOptions
from flows.fetcher import Fetcher
from flows.guard import AddressRefused, GuardedBackend, refusal_reason
from tests.servers import LoopbackHTTPServer

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]
NOT_ALLOWED = "and not in [fetch] allow_networks"
REFUSED = re.escape(NOT_ALLOWED)


@pytest.fixture
def server() -> Iterator[LoopbackHTTPServer]:
    loopback = LoopbackHTTPServer().start()
    loopback.route("/", "inside")
    yield loopback
    loopback.stop()


def numeric(host: str) -> list[str]:
    """What the system resolver makes of a numeric host (`0x7f.1`, `2852039166`), with no
    DNS query: the legacy spellings the guard must judge by the address they stand for."""
    infos = socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    return [str(info[4][0]) for info in infos]


class Resolver:
    """DNS as a table: each name answers its addresses in turn, the last one for ever;
    numeric hosts resolve as the system resolver has them, other names not at all."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self._answers = {name: list(turns) for name, turns in answers.items()}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        turns = self._answers.get(host.lower().rstrip("."))
        if turns is not None:
            return turns.pop(0) if len(turns) > 1 else turns[0]
        try:
            return numeric(host)
        except OSError:
            raise OSError(f"no such host {host!r}") from None


def fetch(
    url: str,
    *,
    allow: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
    resolve: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    check_robots: bool = False,
) -> Fetched:
    async def main() -> Fetched:
        options = FetchOptions(allow_networks=allow, retries=0, per_host_delay=0)
        seams = {"resolve": resolve} if resolve else {}
        async with Fetcher(options, transport=transport, **seams) as fetcher:
            return await fetcher.fetch(url, check_robots=check_robots)

    return asyncio.run(main())


# --- every spelling of loopback ---------------------------------------------------------

SPELLINGS = [
    ("http://127.0.0.1:{port}/", "127.0.0.1 is loopback"),
    ("http://2130706433:{port}/", "127.0.0.1 is loopback"),  # decimal
    ("http://0x7f.1:{port}/", "127.0.0.1 is loopback"),  # hex, short form
    ("http://0x7f000001:{port}/", "127.0.0.1 is loopback"),  # hex
    ("http://017700000001:{port}/", "127.0.0.1 is loopback"),  # octal
    ("http://127.1:{port}/", "127.0.0.1 is loopback"),  # short form
    ("http://127.000.000.001:{port}/", None),  # leading zeros: no parser agrees on it
    ("http://[::ffff:127.0.0.1]:{port}/", "127.0.0.1 is loopback"),  # IPv4-mapped IPv6
    ("http://[::ffff:7f00:1]:{port}/", "127.0.0.1 is loopback"),
    ("http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/", "127.0.0.1 is loopback"),
    ("http://localhost:{port}/", "is loopback"),  # 127.0.0.1 or ::1, as the system says
    ("http://LocalHost:{port}/", "is loopback"),
    ("http://user:pw@127.0.0.1:{port}/", "127.0.0.1 is loopback"),
    ("HTTP://127.0.0.1:{port}/", "127.0.0.1 is loopback"),
]


@pytest.mark.parametrize(("spelling", "reason"), SPELLINGS)
def test_every_spelling_of_loopback_is_refused_unless_allowed(
    server: LoopbackHTTPServer, spelling: str, reason: str | None
) -> None:
    url = spelling.format(port=server.base_url.rsplit(":", 1)[1])
    with pytest.raises(FetchError) as refused:
        fetch(url, allow=[])
    message = str(refused.value)
    assert message.startswith(f"{shown_url(url)}: ")  # a password in it masked
    if reason is None:
        assert "invalid URL" in message
    else:
        assert reason in message and message.endswith(NOT_ALLOWED), message
    assert server.requests == []
    if reason and "::1" not in message:  # allowed, the same spelling reaches the server
        assert fetch(url, allow=LOOPBACK).body == b"inside"


@pytest.mark.parametrize(
    "spelling",
    ["http://0.0.0.0:{port}/", "http://0:{port}/", "http://[::]:{port}/", "http://[::1]:{port}/"],
)
def test_allowing_127_0_0_0_8_does_not_allow_other_ways_to_this_machine(
    server: LoopbackHTTPServer, spelling: str
) -> None:
    url = spelling.format(port=server.base_url.rsplit(":", 1)[1])
    with pytest.raises(FetchError, match=REFUSED):
        fetch(url, allow=LOOPBACK)
    assert server.requests == []


# --- addresses that must never be dialled -------------------------------------------------

INWARD = [
    ("169.254.169.254", "169.254.169.254 is link-local"),  # cloud metadata
    ("0xa9fea9fe", "169.254.169.254 is link-local"),  # the same, in hex
    ("2852039166", "169.254.169.254 is link-local"),  # ... in decimal
    ("[::ffff:169.254.169.254]", "169.254.169.254 is link-local"),
    ("[fd00:ec2::254]", "fd00:ec2::254 is private"),  # AWS metadata over IPv6
    ("100.100.100.200", "100.100.100.200 is not a public address"),  # Alibaba metadata
    ("100.64.0.1", "100.64.0.1 is not a public address"),  # carrier-grade NAT
    ("10.0.0.1", "10.0.0.1 is private"),
    ("172.16.0.1", "172.16.0.1 is private"),
    ("192.168.0.1", "192.168.0.1 is private"),
    ("[fe80::1]", "fe80::1 is link-local"),
    ("[fec0::1]", "fec0::1 is site-local"),
    ("224.0.0.1", "224.0.0.1 is multicast"),
    ("255.255.255.255", "255.255.255.255 is reserved"),
    ("[2002:7f00:1::]", "2002:7f00:1:: is 6to4 for 127.0.0.1, which is loopback,"),
    ("[2002:a9fe:a9fe::]", "2002:a9fe:a9fe:: is 6to4 for 169.254.169.254, which is link-local,"),
]


@pytest.mark.parametrize(("host", "reason"), INWARD)
def test_private_link_local_and_metadata_addresses_are_refused_before_any_request(
    host: str, reason: str
) -> None:
    reached: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: reached.append(request) or httpx.Response(200))
    url = f"http://{host}/latest/meta-data/"
    with pytest.raises(FetchError) as refused:
        fetch(url, allow=[], transport=transport)
    assert str(refused.value) == f"{url}: refused: {reason} {NOT_ALLOWED}"
    assert reached == []


@pytest.mark.parametrize(("host", "reason"), INWARD)
def test_the_connection_itself_refuses_the_same_addresses_without_dialling(
    host: str, reason: str
) -> None:
    """The network backend's check, on its own: nothing is dialled for a refused address."""
    dialled: list[str] = []

    class Recording(httpcore.AsyncMockBackend):
        async def connect_tcp(self, host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
            dialled.append(host)
            return await super().connect_tcp(host, port, *args, **kwargs)

    async def resolve(name: str, port: int) -> list[str]:
        return numeric(name)

    backend = GuardedBackend([], resolve=resolve, backend=Recording([]))
    with pytest.raises(AddressRefused) as refused:
        asyncio.run(backend.connect_tcp(host.strip("[]"), 80, timeout=0.1))
    assert refused.value.reason == f"{reason} {NOT_ALLOWED}"
    assert dialled == []


# --- names, DNS answers and rebinding ----------------------------------------------------


def test_a_name_is_judged_by_the_address_it_resolves_to(server: LoopbackHTTPServer) -> None:
    port = server.base_url.rsplit(":", 1)[1]
    resolve = Resolver({"news.example.com": [["127.0.0.1"]]})
    url = f"http://news.example.com:{port}/"
    with pytest.raises(FetchError) as refused:
        fetch(url, allow=[], resolve=resolve)
    assert str(refused.value) == f"{url}: refused: 127.0.0.1 is loopback {NOT_ALLOWED}"
    assert server.requests == []
    # allowed, it is fetched, connecting to the address the resolver gave (no real DNS knows it)
    assert fetch(url, allow=LOOPBACK, resolve=resolve).body == b"inside"
    assert server.requests[0].headers["host"] == f"news.example.com:{port}"


def test_a_name_with_one_inward_address_among_public_ones_is_refused(
    server: LoopbackHTTPServer,
) -> None:
    port = server.base_url.rsplit(":", 1)[1]
    resolve = Resolver({"mixed.example.com": [["93.184.215.14", "10.1.2.3"]]})
    url = f"http://mixed.example.com:{port}/"
    with pytest.raises(FetchError, match=re.escape(f"10.1.2.3 is private {NOT_ALLOWED}")):
        fetch(url, allow=[], resolve=resolve)


def test_dns_rebinding_between_the_check_and_the_connection_is_refused(
    server: LoopbackHTTPServer,
) -> None:
    """The first answer (to the request's check) is public, the next (to the connection)
    is loopback: the connection is refused, and the server never sees the request."""
    port = server.base_url.rsplit(":", 1)[1]
    resolve = Resolver({"rebind.example.com": [["93.184.215.14"], ["127.0.0.1"]]})
    url = f"http://rebind.example.com:{port}/"
    with pytest.raises(FetchError) as refused:
        fetch(url, allow=[], resolve=resolve)
    assert str(refused.value) == f"{url}: refused: 127.0.0.1 is loopback {NOT_ALLOWED}"
    assert resolve.asked == ["rebind.example.com", "rebind.example.com"]
    assert server.requests == []


def test_an_unresolvable_name_is_one_line_naming_the_url() -> None:
    url = "http://nowhere.example.com/"
    with pytest.raises(FetchError) as failed:
        fetch(url, allow=[], resolve=Resolver({}))
    assert str(failed.value) == (
        f"{url}: cannot resolve host 'nowhere.example.com': no such host 'nowhere.example.com'"
    )


def test_a_unix_socket_is_never_a_web_address() -> None:
    backend = GuardedBackend([])
    with pytest.raises(AddressRefused, match="never a web address"):
        asyncio.run(backend.connect_unix_socket("/run/docker.sock"))


# --- redirects -----------------------------------------------------------------------------

REDIRECTS = [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"),
    ("http://2852039166/latest/meta-data/", "169.254.169.254 is link-local"),
    ("http://[::ffff:a9fe:a9fe]/", "169.254.169.254 is link-local"),
    ("http://metadata.example.com/", "169.254.169.254 is link-local"),  # by name
    ("http://intranet.example.com/", "10.0.0.5 is private"),
    ("http://0.0.0.0:{port}/", "0.0.0.0 is unspecified"),
    ("file:///etc/passwd", None),
    ("gopher://127.0.0.1:{port}/", None),
]


@pytest.mark.parametrize(("location", "reason"), REDIRECTS)
def test_a_public_looking_url_redirecting_inward_is_refused_at_the_hop(
    server: LoopbackHTTPServer, location: str, reason: str | None
) -> None:
    """news.example.com resolves to the loopback server, which the test allows, as a
    public site would be; it answers with a redirect to somewhere inward."""
    port = server.base_url.rsplit(":", 1)[1]
    target = location.format(port=port)
    server.route("/story", status=302, headers={"Location": target})
    resolve = Resolver(
        {
            "news.example.com": [["127.0.0.1"]],
            "metadata.example.com": [["169.254.169.254"]],
            "intranet.example.com": [["10.0.0.5"]],
        }
    )
    url = f"http://news.example.com:{port}/story"
    with pytest.raises(FetchError) as refused:
        fetch(url, allow=LOOPBACK, resolve=resolve, check_robots=True)
    message = str(refused.value)
    assert message.startswith(f"{url}: redirect refused: "), message
    assert (reason or "is not http(s)") in message
    assert [r.path for r in server.requests if r.path != "/robots.txt"] == ["/story"]


def test_robots_txt_redirecting_inward_is_not_followed(server: LoopbackHTTPServer) -> None:
    """robots.txt is a request like any other: its redirect to the metadata service is
    refused, so the page's rules fall back to none, and nothing inward is asked."""
    port = server.base_url.rsplit(":", 1)[1]
    server.route("/robots.txt", status=301, headers={"Location": "http://169.254.169.254/"})
    resolve = Resolver({"news.example.com": [["127.0.0.1"]]})
    url = f"http://news.example.com:{port}/"
    assert fetch(url, allow=LOOPBACK, resolve=resolve, check_robots=True).body == b"inside"


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", ["127.0.0.0/8"]),
        ("::ffff:127.0.0.1", ["127.0.0.0/8"]),
        ("10.20.30.40", ["10.0.0.0/8"]),
        ("100.100.100.200", ["100.64.0.0/10"]),
        ("fd00::1", ["fd00::/8"]),
    ],
)
def test_allow_networks_lets_listed_ranges_through(address: str, allowed: list[str]) -> None:
    networks = [ipaddress.ip_network(n) for n in allowed]
    assert refusal_reason(ipaddress.ip_address(address), allow_networks=networks) is None
    assert refusal_reason(ipaddress.ip_address(address), allow_networks=[]) is not None


def test_the_backend_tries_the_next_checked_address_when_one_cannot_be_reached(
    server: LoopbackHTTPServer,
) -> None:
    """127.0.0.2 has no listener on the port; 127.0.0.1 does: the connection is made."""
    port = int(server.base_url.rsplit(":", 1)[1])

    async def both(host: str, port: int) -> list[str]:
        return ["127.0.0.2", "127.0.0.1"]

    async def connect() -> bytes:
        backend = GuardedBackend(LOOPBACK, resolve=both)
        stream = await backend.connect_tcp("two.example.com", port, timeout=2)
        try:
            await stream.write(b"GET / HTTP/1.1\r\nHost: two.example.com\r\n\r\n")
            return await stream.read(4096)
        finally:
            await stream.aclose()

    assert asyncio.run(connect()).startswith(b"HTTP/1.1 200")
