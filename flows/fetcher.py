"""The run's polite fetcher: per-host slots and spacing, robots.txt, retries with backoff.

`flows.fetch` makes one guarded request and follows its redirects; a run that
polls many sites wraps that in one `Fetcher`, which adds per-host politeness,
robots.txt, conditional GET and retries with jittered backoff. A redirect hop
is a request like any other: it waits for a slot and the delay of the host it
goes to, and an article page's hop must be allowed by that host's robots.txt::

    async with Fetcher(FetchOptions()) as fetcher:
        fetched = await fetcher.fetch(url, validators=Validators(etag='"v1"'), check_robots=True)

It is apart from `flows.fetch` because it holds the run's state (host slots,
the robots.txt cache) while `flows.fetch` is stateless request plumbing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from flows.errors import FetchError, TransientFetchError
from flows.fetch import (
    Fetched,
    FetchOptions,
    Redirect,
    RetryableStatusError,
    StatusError,
    Validators,
    check_scheme,
    follow,
    make_client,
    request,
)
from flows.guard import Resolver, system_resolver
from flows.politeness import HostLimiter, backoff_delay
from flows.robots import (
    ALLOW_ALL,
    MAX_ROBOTS_BYTES,
    MAX_ROBOTS_REDIRECTS,
    RobotsCache,
    RobotsRules,
    rules_from_response,
    unreachable,
)


@dataclass(frozen=True)
class _Job:
    """One `Fetcher` request: every try and every redirect hop of it share these."""

    url: str
    max_bytes: int
    max_redirects: int
    validators: Validators | None = None
    check_robots: bool = False


class Fetcher:
    """One per run: the shared client plus per-host politeness, robots.txt and retries.

        async with Fetcher(FetchOptions()) as fetcher:
            fetched = await fetcher.fetch("https://example.org/a", check_robots=True)

    `transport` and `resolve` are the seams of `make_client`. `backoff` is the base of
    the jittered waits between tries; a `Retry-After` answer is honoured up to
    `max_retry_after` seconds, and a longer one fails now, leaving the retry to a
    later run rather than holding a slot for an hour.
    """

    def __init__(
        self,
        options: FetchOptions,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        resolve: Resolver = system_resolver,
        backoff: float = 0.5,
        max_retry_after: float = 60,
    ) -> None:
        self.options = options
        self._client = make_client(options, transport=transport, resolve=resolve)
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
        It applies to every hop: a redirect to a path the new host's robots.txt
        disallows is refused before that path is requested.
        """
        check_scheme(url)
        options = self.options
        job = _Job(
            url,
            max_bytes=options.max_bytes,
            max_redirects=options.max_redirects,
            validators=validators,
            check_robots=check_robots and options.respect_robots,
        )
        return await self._with_retries(job)

    async def sitemaps_listed(self, url: str) -> list[str]:
        """The sitemaps the robots.txt of `url`'s origin lists, whatever `respect_robots`
        says: it is read to name them to a user, not to obey it."""
        return (await self._robots.rules(url)).sitemaps

    async def _with_retries(self, job: _Job) -> Fetched:
        """The whole redirect chain again on a transient failure, after a jittered wait."""
        retries = self.options.retries
        for attempt in range(retries + 1):
            try:
                return await follow(
                    job.url, send=partial(self._send, job), max_redirects=job.max_redirects
                )
            except TransientFetchError as error:
                wait = self._wait_before_retry(error, attempt)
                if attempt == retries or wait is None:
                    raise
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_before_retry(self, error: TransientFetchError, attempt: int) -> float | None:
        """Seconds to wait before the next try, or None to give up now."""
        if isinstance(error, RetryableStatusError) and error.retry_after is not None:
            return error.retry_after if error.retry_after <= self._max_retry_after else None
        return backoff_delay(attempt, base=self._backoff, cap=self._max_retry_after)

    async def _send(self, job: _Job, hop: str) -> Fetched | Redirect:
        """One hop of `job`: past robots.txt when asked, then inside the hop's host slot
        (which also spaces it from that host's last request), cut off after
        `total_timeout` seconds. The slot is let go before the next hop waits for its own."""
        if job.check_robots:
            await self._check_robots(hop, asked=job.url)
        total = self.options.total_timeout
        async with self._limiter.slot(_host_key(hop)):
            try:
                async with asyncio.timeout(total):
                    return await request(
                        self._client,
                        hop,
                        asked=job.url,
                        max_bytes=job.max_bytes,
                        validators=job.validators,
                    )
            except TimeoutError as error:
                raise TransientFetchError(
                    f"timed out after {total:g} s in total", url=job.url
                ) from error

    async def _check_robots(self, hop: str, *, asked: str) -> None:
        refusal = await self._robots.refusal(hop, user_agent=self.options.user_agent)
        if refusal is None:
            return
        if hop != asked:
            refusal = f"redirect to {hop} {refusal}"
        raise FetchError(refusal, url=asked)

    async def _load_robots(self, origin: str) -> RobotsRules:
        """The origin's rules, reading each answer as RFC 9309 2.3.1 says.

        2xx is parsed and 4xx means no rules; 5xx, 429 and a server we cannot reach
        (timeout, refused or dropped connection) keep us out. Redirects are followed
        up to five hops, across hosts too. Any other failure (more hops, an address
        the guard refuses) means no rules: the page's own request then fails with
        the precise reason.
        """
        job = _Job(
            origin + "/robots.txt", max_bytes=MAX_ROBOTS_BYTES, max_redirects=MAX_ROBOTS_REDIRECTS
        )
        try:
            fetched = await self._with_retries(job)
        except (StatusError, RetryableStatusError) as error:
            return rules_from_response(error.status, b"")
        except TransientFetchError as error:
            return unreachable(str(error).removeprefix(f"{error.url}: "))
        except FetchError:
            return ALLOW_ALL
        return rules_from_response(fetched.status, fetched.body)


def _host_key(url: str) -> str:
    """The politeness scope: host and port, as the server sees them."""
    try:
        return urlsplit(url).netloc.rpartition("@")[2].lower()
    except ValueError as error:
        raise FetchError(f"invalid URL: {error}", url=url) from error
