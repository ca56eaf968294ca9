"""Polite, safe HTTP fetching: one shared client, a size cap, a small retry, an SSRF guard.

Feeds and article links come from the outside world, so any of them may point
at the machine we run on or at the cloud metadata service. Every request, and
every redirect hop, is checked before it is sent::

    client = make_client(FetchOptions())
    async with client:
        fetched = await fetch(client, "https://example.org/feed.xml", max_bytes=5_000_000)

Retries here are few and quick (transient network trouble, 429, 5xx); the
orchestrator adds slower task-level retries on top.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict

from flows.errors import FetchError, TransientFetchError

IPAddress = IPv4Address | IPv6Address

DEFAULT_USER_AGENT = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"

# Checked in this order, so 127.0.0.1 reads "loopback" rather than "private".
_REFUSED_KINDS = (
    ("is_loopback", "loopback"),
    ("is_unspecified", "unspecified"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_reserved", "reserved"),
    ("is_private", "private"),
)


class FetchOptions(BaseModel):
    """The `[fetch]` table of the config file.

    `allow_networks` lets trusted private ranges through the SSRF guard, e.g.
    `["10.0.0.0/8"]` for an intranet news site or `["127.0.0.0/8"]` in tests.
    `concurrency` caps the open connections of the shared client.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow_networks: list[IPv4Network | IPv6Network] = []
    timeout: float = 20
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT
    concurrency: int = 8


@dataclass(frozen=True)
class Fetched:
    """A successful response: `url` is the final URL after redirects."""

    url: str
    status: int
    content_type: str | None
    body: bytes
    encoding: str | None  # the charset the Content-Type header declares


def _accept_encoding() -> str:
    """Offer brotli only when httpx can decode it (the optional `brotli` package)."""
    try:
        import brotli  # noqa: F401
    except ImportError:
        return "gzip, deflate"
    return "gzip, deflate, br"


def make_client(
    options: FetchOptions, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The one client a run shares, with the SSRF guard hooked into every request.

    `transport` is the seam for unit tests (`httpx.MockTransport`). The guard
    still runs before the transport sees a request.
    """
    guard = _make_guard(options.allow_networks)
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(options.timeout),
        follow_redirects=True,
        max_redirects=options.max_redirects,
        limits=httpx.Limits(max_connections=options.concurrency),
        headers={"User-Agent": options.user_agent, "Accept-Encoding": _accept_encoding()},
        event_hooks={"request": [guard]},
    )


def _make_guard(allow_networks: list[IPv4Network | IPv6Network]):
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


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    retries: int = 2,
    backoff: float = 0.5,
) -> Fetched:
    """GET `url` and return its body, retrying transient failures `retries` times.

    The waits are `backoff`, `2 * backoff`, ... seconds; tests pass a tiny one.
    Every failure is a `FetchError` whose `url` is the URL asked for.
    """
    for attempt in range(retries + 1):
        try:
            return await _fetch_once(client, url, max_bytes=max_bytes)
        except TransientFetchError:
            if attempt == retries:
                raise
            await asyncio.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


async def _fetch_once(client: httpx.AsyncClient, url: str, *, max_bytes: int) -> Fetched:
    _check_scheme(url)
    try:
        async with client.stream("GET", url) as response:
            _check_status(response, url=url)
            body = await _read_capped(response, max_bytes=max_bytes, url=url)
            return Fetched(
                url=str(response.url),
                status=response.status_code,
                content_type=response.headers.get("Content-Type"),
                body=body,
                encoding=response.charset_encoding,
            )
    except FetchError as error:
        if error.url in (url, str(httpx.URL(url))):
            raise
        raise FetchError(f"redirect refused: {error}", url=url) from error
    except httpx.InvalidURL as error:
        raise FetchError(f"invalid URL: {error}", url=url) from error
    except httpx.HTTPError as error:
        raise _transport_error(error, url=url) from error


def _check_scheme(url: str) -> None:
    """Refuse `file:`, `ftp:`, ... up front: httpx would read `file:///x` as the relative `/x`."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(f"refused: scheme {scheme!r} is not http(s)", url=url)


def _check_status(response: httpx.Response, *, url: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    message = f"HTTP {status} {response.reason_phrase}".rstrip()
    if str(response.url) != url:
        message += f" from {response.url}"
    error_class = TransientFetchError if status == 429 or status >= 500 else FetchError
    raise error_class(message, url=url)


async def _read_capped(response: httpx.Response, *, max_bytes: int, url: str) -> bytes:
    """The decoded body, refused as soon as it (or its declared length) passes `max_bytes`.

    Counting decoded bytes also stops a small gzip body that inflates to gigabytes.
    """
    too_large = f"response larger than {max_bytes} bytes"
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(too_large, url=url)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(too_large, url=url)
        chunks.append(chunk)
    return b"".join(chunks)


def _transport_error(error: httpx.HTTPError, *, url: str) -> FetchError:
    """One line for a failure below HTTP; transient ones are marked for retry."""
    detail = str(error) or type(error).__name__
    if isinstance(error, httpx.TooManyRedirects):
        return FetchError("too many redirects", url=url)
    if isinstance(error, httpx.TimeoutException):
        return TransientFetchError(f"timed out ({type(error).__name__})", url=url)
    if isinstance(error, httpx.NetworkError | httpx.RemoteProtocolError):
        return TransientFetchError(f"connection failed: {detail}", url=url)
    return FetchError(f"request failed: {detail}", url=url)
