"""The SSRF guard: no request leaves for an address of our own machine or network.

Feeds and article links come from the outside world, so any of them may point at
the machine we run on or at the cloud metadata service, by name or by any of the
spellings of an address (`http://2130706433/`, `http://0x7f.1/`, `[::ffff:127.0.0.1]`).
The guard judges addresses, never URL text, and does so twice:

- an httpx request hook sees every request, redirect hops included, resolves its
  host and refuses it with a `FetchError` naming the URL before anything is sent;
- the transport's network backend resolves the host again when it opens a
  connection, refuses what the guard refuses, and connects to the very address
  it checked, so a DNS answer that changes in between (DNS rebinding) finds the
  door closed too::

    client = httpx.AsyncClient(
        transport=GuardedTransport([], limits=httpx.Limits()),
        event_hooks={"request": [make_guard([])]},
    )

`resolve` is the seam for tests (and for a resolver of your own): an async
function from host and port to the addresses it stands for. Environment proxy
variables are not used: through a proxy, it is the proxy that resolves the host,
and no address could be checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import httpcore
import httpx

from alerts import http_tls
from flows.errors import FetchError

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Checked in this order, so 127.0.0.1 reads "loopback" rather than "private".
_REFUSED_KINDS = (
    ("is_loopback", "loopback"),
    ("is_unspecified", "unspecified"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_reserved", "reserved"),
    ("is_private", "private"),
    ("is_site_local", "site-local"),
)


class AddressRefused(Exception):
    """A connection the backend would not open; `fetch` reports it as a `FetchError`
    naming the URL, so it never reaches a user as it is."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system's resolver gives for `host`."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def make_guard(
    allow_networks: list[Network], *, resolve: Resolver = system_resolver
) -> Callable[[httpx.Request], Awaitable[None]]:
    """An httpx request hook that refuses unsafe schemes and addresses."""

    async def guard(request: httpx.Request) -> None:
        url = str(request.url)
        if request.url.scheme not in ("http", "https"):
            raise FetchError(f"refused: scheme {request.url.scheme!r} is not http(s)", url=url)
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = await resolved(request.url.host, port, resolve=resolve)
        except OSError as error:
            reason = getattr(error, "strerror", None) or str(error)
            host = request.url.host
            raise FetchError(f"cannot resolve host {host!r}: {reason}", url=url) from error
        reason = first_refusal(addresses, allow_networks=allow_networks)
        if reason:
            raise FetchError(f"refused: {reason}", url=url)

    return guard


async def resolved(host: str, port: int, *, resolve: Resolver) -> list[IPAddress]:
    """Every address `host` stands for; an IP literal stands for itself."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    # A link-local IPv6 answer may carry its interface (fe80::1%eth0): judge the address.
    return [ipaddress.ip_address(answer.split("%", 1)[0]) for answer in await resolve(host, port)]


def first_refusal(addresses: Iterable[IPAddress], *, allow_networks: list[Network]) -> str | None:
    """Why the first refused address of `addresses` is refused, or None when none is."""
    reasons = (refusal_reason(a, allow_networks=allow_networks) for a in addresses)
    return next((reason for reason in reasons if reason), None)


def refusal_reason(address: IPAddress, *, allow_networks: list[Network]) -> str | None:
    """Why `address` must not be contacted, or None when it is public or allowed.

    >>> refusal_reason(ipaddress.ip_address("127.0.0.1"), allow_networks=[])
    '127.0.0.1 is loopback and not in [fetch] allow_networks'
    """
    # Python 3.11 does not see ::ffff:127.0.0.1 as loopback; judge the IPv4 inside.
    if isinstance(address, IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if any(address in network for network in allow_networks):
        return None
    kind = _refused_kind(address, allow_networks=allow_networks)
    return f"{address} is {kind} and not in [fetch] allow_networks" if kind else None


def _refused_kind(address: IPAddress, *, allow_networks: list[Network]) -> str | None:
    for attribute, kind in _REFUSED_KINDS:
        if getattr(address, attribute, False):
            return kind
    if not address.is_global:  # e.g. 100.64.0.0/10, where some clouds keep their metadata
        return "not a public address"
    # A 6to4 address (2002::/16) tunnels to the IPv4 address inside it; Teredo's are private.
    inner = address.sixtofour if isinstance(address, IPv6Address) else None
    if inner is not None and refusal_reason(inner, allow_networks=allow_networks):
        return f"6to4 for {inner}, which is {_refused_kind(inner, allow_networks=[])},"
    return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the guard allows.

    It resolves each host itself and connects to the address it checked, trying
    them in the resolver's order; a refused one raises `AddressRefused`. `backend`
    is the one that dials (httpcore's own by default).
    """

    def __init__(
        self,
        allow_networks: list[Network],
        *,
        resolve: Resolver = system_resolver,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allow = allow_networks
        self._resolve = resolve
        self._backend = backend or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolved(host, port, resolve=self._resolve)
        except OSError as error:
            raise httpcore.ConnectError(f"cannot resolve host {host!r}: {error}") from error
        reason = first_refusal(addresses, allow_networks=self._allow)
        if reason:
            raise AddressRefused(reason)
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as error:
                failure = error
        raise failure or httpcore.ConnectError(f"no address for host {host!r}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused(f"a Unix socket ({path}) is never a web address")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connections opened by a `GuardedBackend`.

    httpx 0.28 has no parameter for a network backend (encode/httpx#3749 proposes
    one), so the connection pool it built is given ours.
    """

    def __init__(
        self,
        allow_networks: list[Network],
        *,
        limits: httpx.Limits,
        resolve: Resolver = system_resolver,
    ) -> None:
        super().__init__(limits=limits, verify=http_tls())  # built once per process
        self._pool._network_backend = GuardedBackend(allow_networks, resolve=resolve)
