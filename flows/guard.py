"""The SSRF guard: no request leaves for an address of our own machine or network.

Feeds and article links come from the outside world, so any of them may point at
the machine we run on or at the cloud metadata service. The guard is an httpx
request hook, so it sees every request, redirect hops included::

    client = httpx.AsyncClient(event_hooks={"request": [make_guard([])]})
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import httpx

from flows.errors import FetchError

IPAddress = IPv4Address | IPv6Address

# Checked in this order, so 127.0.0.1 reads "loopback" rather than "private".
_REFUSED_KINDS = (
    ("is_loopback", "loopback"),
    ("is_unspecified", "unspecified"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_reserved", "reserved"),
    ("is_private", "private"),
)


def make_guard(allow_networks: list[IPv4Network | IPv6Network]):
    """An httpx request hook that refuses unsafe schemes and addresses."""

    async def guard(request: httpx.Request) -> None:
        url = str(request.url)
        if request.url.scheme not in ("http", "https"):
            raise FetchError(f"refused: scheme {request.url.scheme!r} is not http(s)", url=url)
        for address in await _resolve(request.url.host, request.url.port, url=url):
            reason = refusal_reason(address, allow_networks=allow_networks)
            if reason:
                raise FetchError(f"refused: {reason}", url=url)

    return guard


async def _resolve(host: str, port: int | None, *, url: str) -> list[IPAddress]:
    """Every address `host` resolves to; an IP literal resolves to itself."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port or 80, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise FetchError(f"cannot resolve host {host!r}: {error.strerror}", url=url) from error
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def refusal_reason(
    address: IPAddress, *, allow_networks: list[IPv4Network | IPv6Network]
) -> str | None:
    """Why `address` must not be contacted, or None when it is public or allowed.

    >>> refusal_reason(ipaddress.ip_address("127.0.0.1"), allow_networks=[])
    '127.0.0.1 is loopback and not in [fetch] allow_networks'
    """
    # Python 3.11 does not see ::ffff:127.0.0.1 as loopback; judge the IPv4 inside.
    if isinstance(address, IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if any(address in network for network in allow_networks):
        return None
    for attribute, kind in _REFUSED_KINDS:
        if getattr(address, attribute):
            return f"{address} is {kind} and not in [fetch] allow_networks"
    return None
