"""How hard we may press a server: slots per host and overall, spacing, and waits between tries.

A run that polls hundreds of feeds for months must not hammer any one site::

    limiter = HostLimiter(concurrency=8, per_host_concurrency=2, per_host_delay=1.0)
    async with limiter.slot("example.org:443"):
        ...  # at most 2 requests to the host at once, starts at least 1 s apart

Waits use the monotonic clock and are skipped when enough time has passed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class _Host:
    def __init__(self, concurrency: int) -> None:
        self.semaphore = asyncio.Semaphore(concurrency)
        self.last_start = float("-inf")


class HostLimiter:
    """A global limit, a per-host limit and a minimum gap between request starts to one host."""

    def __init__(self, *, concurrency: int, per_host_concurrency: int, per_host_delay: float):
        self._global = asyncio.Semaphore(concurrency)
        self._per_host_concurrency = per_host_concurrency
        self._delay = per_host_delay
        self._hosts: dict[str, _Host] = {}

    @asynccontextmanager
    async def slot(self, host_key: str) -> AsyncIterator[None]:
        """Hold a host slot and a global slot while the request runs.

        A request waiting for its host's turn holds no global slot, so one slow,
        spaced-out host cannot starve the others.
        """
        host = self._hosts.setdefault(host_key, _Host(self._per_host_concurrency))
        async with host.semaphore:
            await self._take_turn(host)
            try:
                yield
            finally:
                self._global.release()

    async def _take_turn(self, host: _Host) -> None:
        """Return holding a global slot, with the host's start time claimed for now."""
        while True:
            wait = host.last_start + self._delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._global.acquire()
            now = time.monotonic()
            if now >= host.last_start + self._delay:
                host.last_start = now
                return
            self._global.release()  # another request of this host started meanwhile


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Full jitter: a random wait in [0, min(cap, base * 2**attempt)] (AWS architecture blog).

    Spreading retries at random keeps many clients from returning in step.
    """
    return random.uniform(0, min(cap, base * 2**attempt))


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks us to wait, or None when absent or unreadable.

    >>> retry_after_seconds("120")
    120.0
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
