"""Safe HTTP fetching: one shared client, a size cap, retries, an SSRF guard.

Every request, and every redirect hop, passes the SSRF guard (`flows.guard`)
before it is sent. Redirects are followed here, one hop at a time, never inside
httpx, so each hop can be checked and scheduled like a request of its own::

    client = make_client(FetchOptions())
    async with client:
        fetched = await fetch(client, "https://example.org/feed.xml", max_bytes=5_000_000)

A run that polls many sites uses one `flows.fetcher.Fetcher`, built on the
pieces here (`request`, `follow`, `check_scheme` and the status errors): it adds
per-host politeness, robots.txt and retries with jittered backoff.

Retries here are few (timeouts, dropped connections, 408, 429, 5xx); the
orchestrator adds slower task-level retries on top. Nothing here decodes text:
bodies stay bytes and `Fetched.encoding` is only what the server declared.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from ipaddress import IPv4Network, IPv6Network
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

from flows.decoding import Decoder, Identity, decoded, decoder_for, in_memory
from flows.errors import FetchError, TransientFetchError
from flows.guard import AddressRefused, GuardedTransport, Resolver, make_guard, system_resolver
from flows.politeness import retry_after_seconds

DEFAULT_USER_AGENT = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"
ACCEPT_ENCODING = "gzip, deflate, br"
PERMANENT_REDIRECTS = frozenset({301, 308})


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
    # Where the asked URL now lives, when permanent redirects (301, 308) led from it: the
    # last URL reached by them alone, which RFC 9110 says references should be updated to.
    moved_to: str | None = None


@dataclass(frozen=True)
class Redirect:
    """A 3xx answer with somewhere to go: the next hop, not yet requested."""

    location: str
    permanent: bool = False  # 301 or 308: the resource has moved for good


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


class StatusError(FetchError):
    """A final non-2xx answer (most 4xx); `status` lets robots.txt tell 404 from 503."""

    def __init__(self, message: str, *, url: str, status: int) -> None:
        self.status = status
        super().__init__(message, url=url)


class RetryableStatusError(TransientFetchError):
    """408, 429 or 5xx; `retry_after` is the wait the server asked for, if any."""

    def __init__(self, message: str, *, url: str, status: int, retry_after: float | None):
        self.status = status
        self.retry_after = retry_after
        super().__init__(message, url=url)


def make_client(
    options: FetchOptions,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    resolve: Resolver = system_resolver,
) -> httpx.AsyncClient:
    """The one client a run shares, with the SSRF guard on every request and connection.

    `transport` is the seam for unit tests (`httpx.MockTransport`). The guard's
    request hook still runs before the transport sees a request; without one,
    connections go only to the addresses the guard checked (`GuardedTransport`).
    `resolve` turns host names into addresses, for both. The client does not
    follow redirects: `fetch` and the `Fetcher` do, hop by hop.
    """
    limits = httpx.Limits(max_connections=options.concurrency)
    if transport is None:
        transport = GuardedTransport(options.allow_networks, limits=limits, resolve=resolve)
    guard = make_guard(options.allow_networks, resolve=resolve)
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(options.timeout),
        follow_redirects=False,
        max_redirects=options.max_redirects,
        limits=limits,
        headers={"User-Agent": options.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        event_hooks={"request": [guard]},
    )


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

    async def send(hop: str) -> Fetched | Redirect:
        return await request(client, hop, asked=url, max_bytes=max_bytes)

    for attempt in range(retries + 1):
        try:
            return await follow(url, send=send, max_redirects=client.max_redirects)
        except TransientFetchError:
            if attempt == retries:
                raise
            await asyncio.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


async def follow(
    url: str, *, send: Callable[[str], Awaitable[Fetched | Redirect]], max_redirects: int
) -> Fetched:
    """Request `url` and each hop it redirects to with `send`, at most `max_redirects` hops.

    The answer's `moved_to` is where the permanent redirects at the head of the chain
    led (a temporary one ends them): None when the first answer was not one.
    """
    hop, moved_to, permanent = url, None, True
    for _ in range(max_redirects + 1):
        try:
            check_scheme(hop)
        except FetchError as error:
            if hop == url:
                raise
            raise _refused_redirect(error, asked=url) from error
        answer = await send(hop)
        if isinstance(answer, Fetched):
            return replace(answer, moved_to=moved_to) if moved_to else answer
        permanent = permanent and answer.permanent
        if permanent and answer.location != url:
            moved_to = answer.location
        hop = answer.location
    raise FetchError("too many redirects", url=url)


async def request(
    client: httpx.AsyncClient,
    url: str,
    *,
    asked: str,
    max_bytes: int,
    validators: Validators | None = None,
) -> Fetched | Redirect:
    """One GET of `url`, a hop on the way from `asked`; every error names `asked`."""
    validators = validators or Validators()
    try:
        async with client.stream("GET", url, headers=validators.headers()) as response:
            if response.next_request is not None:
                permanent = response.status_code in PERMANENT_REDIRECTS
                return Redirect(str(response.next_request.url), permanent=permanent)
            if response.status_code == 304:
                return _not_modified(response, validators)
            _check_status(response, url=asked)
            body = await _read_capped(response, max_bytes=max_bytes, url=asked)
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
        if error.url == asked:
            raise
        raise _about_asked(error, hop=url, asked=asked) from error
    except AddressRefused as error:  # at connect time: the host's address changed since
        refused = FetchError(f"refused: {error.reason}", url=url)
        raise _about_asked(refused, hop=url, asked=asked) from None
    except httpx.InvalidURL as error:
        raise FetchError(f"invalid URL: {error}", url=asked) from error
    except httpx.HTTPError as error:
        raise _transport_error(error, url=asked) from error


def _about_asked(error: FetchError, *, hop: str, asked: str) -> FetchError:
    """A refusal of `hop` (by the guard, which names URLs as httpx spells them: `HTTP://X`
    is `http://x/`) as the caller of `asked` sees it: naming `asked`, and a redirect as such."""
    if hop != asked:
        return _refused_redirect(error, asked=asked)
    return FetchError(str(error).removeprefix(f"{error.url}: "), url=asked)


def _refused_redirect(error: FetchError, *, asked: str) -> FetchError:
    """A hop's refusal (scheme, address) as the caller of `asked` sees it."""
    return FetchError(f"redirect refused: {error}", url=asked)


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


def check_scheme(url: str) -> None:
    """Refuse `file:`, `ftp:`, ... up front: httpx would read `file:///x` as the relative `/x`."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as error:  # e.g. "http://[::1"
        raise FetchError(f"invalid URL: {error}", url=url) from None
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
        raise RetryableStatusError(message, url=url, status=status, retry_after=retry_after)
    raise StatusError(message, url=url, status=status)


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
    decoder: Decoder
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
    if isinstance(error, httpx.TimeoutException):
        return TransientFetchError(f"timed out ({type(error).__name__})", url=url)
    if _certificate_refused(error):  # the same certificate again in a second: not transient
        return FetchError(f"certificate refused: {detail}", url=url)
    if isinstance(error, httpx.NetworkError | httpx.RemoteProtocolError):
        return TransientFetchError(f"connection failed: {detail}", url=url)
    return FetchError(f"request failed: {detail}", url=url)


def _certificate_refused(error: BaseException | None) -> bool:
    """Whether TLS verification refused the server's certificate, anywhere down the causes
    (httpx wraps httpcore's error, which wraps ssl's)."""
    while error is not None:
        if isinstance(error, ssl.SSLCertVerificationError):
            return True
        error = error.__cause__ or error.__context__
    return False
