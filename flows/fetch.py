"""Polite, safe HTTP fetching: one shared client, a size cap, retries, an SSRF guard.

Feeds and article links come from the outside world, so any of them may point
at the machine we run on or at the cloud metadata service. Every request, and
every redirect hop, is checked before it is sent::

    client = make_client(FetchOptions())
    async with client:
        fetched = await fetch(client, "https://example.org/feed.xml", max_bytes=5_000_000)

A run that polls many sites uses one `Fetcher`, which adds per-host politeness,
robots.txt, conditional GET and retries with jittered backoff::

    async with Fetcher(FetchOptions()) as fetcher:
        fetched = await fetcher.fetch(url, validators=Validators(etag='"v1"'), check_robots=True)

Retries here are few (timeouts, dropped connections, 408, 429, 5xx); the
orchestrator adds slower task-level retries on top. Nothing here decodes text:
bodies stay bytes and `Fetched.encoding` is only what the server declared.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from types import TracebackType
from urllib.parse import urlsplit

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)

from flows.decoding import Identity, decoded, decoder_for, in_memory
from flows.errors import FetchError, TransientFetchError
from flows.politeness import HostLimiter, backoff_delay, retry_after_seconds
from flows.robots import (
    ALLOW_ALL,
    DISALLOW_ALL,
    MAX_ROBOTS_BYTES,
    RobotsCache,
    RobotsRules,
    rules_from_response,
)

IPAddress = IPv4Address | IPv6Address

DEFAULT_USER_AGENT = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"
ACCEPT_ENCODING = "gzip, deflate, br"

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
    `concurrency` caps the requests (and open connections) of the whole run;
    `per_host_concurrency` and `per_host_delay` (seconds between request starts)
    keep us polite to each host. `timeout` bounds each network wait,
    `total_timeout` a whole request including its body, so a server dripping
    one byte a second cannot hold a slot for ever.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow_networks: list[IPv4Network | IPv6Network] = []
    timeout: float = 20
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT
    concurrency: PositiveInt = 8
    per_host_concurrency: PositiveInt = 2
    per_host_delay: NonNegativeFloat = 1.0
    respect_robots: bool = True
    retries: NonNegativeInt = 3
    total_timeout: PositiveFloat = 60


@dataclass(frozen=True)
class Fetched:
    """A successful response: `url` is the final URL after redirects.

    `not_modified` is a 304 answer to a conditional GET: `body` is empty and the
    copy stored from last time is still current. `etag` and `last_modified` are
    the validators to send next time.
    """

    url: str
    status: int
    content_type: str | None
    body: bytes
    encoding: str | None  # the charset the Content-Type header declares
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Validators:
    """What we know of our stored copy, sent as If-None-Match / If-Modified-Since."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class _StatusError(FetchError):
    """A final non-2xx answer (most 4xx); `status` lets robots.txt tell 404 from 503."""

    def __init__(self, message: str, *, url: str, status: int) -> None:
        self.status = status
        super().__init__(message, url=url)


class _RetryableStatusError(TransientFetchError):
    """408, 429 or 5xx; `retry_after` is the wait the server asked for, if any."""

    def __init__(self, message: str, *, url: str, status: int, retry_after: float | None):
        self.status = status
        self.retry_after = retry_after
        super().__init__(message, url=url)


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
        headers={"User-Agent": options.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
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


async def _fetch_once(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    validators: Validators | None = None,
) -> Fetched:
    _check_scheme(url)
    validators = validators or Validators()
    try:
        async with client.stream("GET", url, headers=validators.headers()) as response:
            if response.status_code == 304:
                return _not_modified(response, validators)
            _check_status(response, url=url)
            body = await _read_capped(response, max_bytes=max_bytes, url=url)
            return Fetched(
                url=str(response.url),
                status=response.status_code,
                content_type=response.headers.get("Content-Type"),
                body=body,
                encoding=response.charset_encoding,
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
            )
    except FetchError as error:
        if error.url in (url, str(httpx.URL(url))):
            raise
        raise FetchError(f"redirect refused: {error}", url=url) from error
    except httpx.InvalidURL as error:
        raise FetchError(f"invalid URL: {error}", url=url) from error
    except httpx.HTTPError as error:
        raise _transport_error(error, url=url) from error


def _not_modified(response: httpx.Response, validators: Validators) -> Fetched:
    """A 304 may omit the validators; then the ones we sent still hold."""
    return Fetched(
        url=str(response.url),
        status=304,
        content_type=None,
        body=b"",
        encoding=None,
        not_modified=True,
        etag=response.headers.get("ETag") or validators.etag,
        last_modified=response.headers.get("Last-Modified") or validators.last_modified,
    )


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
    if status in (408, 429) or status >= 500:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        raise _RetryableStatusError(message, url=url, status=status, retry_after=retry_after)
    raise _StatusError(message, url=url, status=status)


async def _read_capped(response: httpx.Response, *, max_bytes: int, url: str) -> bytes:
    """The decoded body, refused as soon as it (or its declared length) passes `max_bytes`.

    We decode ourselves, asking each decompressor for at most `max_bytes + 1`
    bytes at a time: httpx would inflate a whole network read at once, and a few
    kilobytes of brotli can expand to gigabytes in one call.
    """
    too_large = f"response larger than {max_bytes} bytes"
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(too_large, url=url)
    if response.is_stream_consumed:  # built in memory, e.g. by an httpx.MockTransport
        raw, decoder = in_memory(response.content), Identity()
    else:
        raw = response.aiter_raw()
        decoder = decoder_for(response.headers.get("Content-Encoding", ""), url=url)
    chunks: list[bytes] = []
    size = 0
    async for chunk in decoded(raw, decoder, limit=max_bytes + 1, url=url):
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


class Fetcher:
    """One per run: the shared client plus per-host politeness, robots.txt and retries.

        async with Fetcher(FetchOptions()) as fetcher:
            fetched = await fetcher.fetch("https://example.org/a", check_robots=True)

    `transport` is the unit-test seam of `make_client`. `backoff` is the base of
    the jittered waits between tries; a `Retry-After` answer is honoured up to
    `max_retry_after` seconds, and a longer one fails now, leaving the retry to a
    later run rather than holding a slot for an hour.
    """

    def __init__(
        self,
        options: FetchOptions,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        backoff: float = 0.5,
        max_retry_after: float = 60,
    ) -> None:
        self.options = options
        self._client = make_client(options, transport=transport)
        self._limiter = HostLimiter(
            concurrency=options.concurrency,
            per_host_concurrency=options.per_host_concurrency,
            per_host_delay=options.per_host_delay,
        )
        self._robots = RobotsCache(load=self._load_robots)
        self._backoff = backoff
        self._max_retry_after = max_retry_after

    async def __aenter__(self) -> Fetcher:
        await self._client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._robots.close()
        await self._client.__aexit__(exc_type, exc, traceback)

    async def fetch(
        self, url: str, *, validators: Validators | None = None, check_robots: bool = False
    ) -> Fetched:
        """GET `url` politely; every failure is a `FetchError` naming `url`.

        `check_robots` is for article pages: feeds are published to be polled.
        """
        _check_scheme(url)
        if check_robots and self.options.respect_robots:
            allowed = await self._robots.allows(url, user_agent=self.options.user_agent)
            if not allowed:
                raise FetchError("disallowed by robots.txt", url=url)
        return await self._with_retries(
            url, max_bytes=self.options.max_bytes, validators=validators
        )

    async def _with_retries(
        self, url: str, *, max_bytes: int, validators: Validators | None = None
    ) -> Fetched:
        retries = self.options.retries
        for attempt in range(retries + 1):
            try:
                return await self._attempt(url, max_bytes=max_bytes, validators=validators)
            except TransientFetchError as error:
                wait = self._wait_before_retry(error, attempt)
                if attempt == retries or wait is None:
                    raise
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_before_retry(self, error: TransientFetchError, attempt: int) -> float | None:
        """Seconds to wait before the next try, or None to give up now."""
        if isinstance(error, _RetryableStatusError) and error.retry_after is not None:
            return error.retry_after if error.retry_after <= self._max_retry_after else None
        return backoff_delay(attempt, base=self._backoff, cap=self._max_retry_after)

    async def _attempt(self, url: str, *, max_bytes: int, validators: Validators | None) -> Fetched:
        """One request inside its host's slot, cut off after `total_timeout` seconds."""
        total = self.options.total_timeout
        async with self._limiter.slot(_host_key(url)):
            try:
                async with asyncio.timeout(total):
                    return await _fetch_once(
                        self._client, url, max_bytes=max_bytes, validators=validators
                    )
            except TimeoutError as error:
                raise TransientFetchError(
                    f"timed out after {total:g} s in total", url=url
                ) from error

    async def _load_robots(self, origin: str) -> RobotsRules:
        """The origin's rules; unreachable robots.txt allows, 429/5xx keeps out (RFC 9309)."""
        try:
            fetched = await self._with_retries(origin + "/robots.txt", max_bytes=MAX_ROBOTS_BYTES)
        except _RetryableStatusError as error:
            return DISALLOW_ALL if error.status == 429 or error.status >= 500 else ALLOW_ALL
        except FetchError:
            return ALLOW_ALL
        return rules_from_response(fetched.status, fetched.body)


def _host_key(url: str) -> str:
    """The politeness scope: host and port, as the server sees them."""
    try:
        return urlsplit(url).netloc.rpartition("@")[2].lower()
    except ValueError as error:
        raise FetchError(f"invalid URL: {error}", url=url) from error
