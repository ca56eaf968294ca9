"""Polling a run's sources in a few Prefect tasks, never one task per source.

    polled = await poll_sources(due, settings=settings, fetcher=fetcher, feed_states=states)

Prefect's server records every task run, at ~70 ms of its CPU each (docs/scaling.md):
2,000 feeds polled as 2,000 tasks kept the server busier than the fetching. So the
sources are shared out over at most POLL_TASKS tasks (`poll sources 1-100 of 2000`),
each polling its share concurrently; a run with fewer sources than that keeps one
task per source, named for it (`fetch feed dw`). A source that fails comes back as a
`Polled` with its reason, never raised: one bad feed never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import math
import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.errors import SourceError, TransientFetchError
from flows.fetch import StatusError
from flows.fetcher import Fetcher
from flows.pipeline import Collected, collect_source, unexpected
from flows.progress import progress
from flows.quoting import quoted
from flows.settings import Settings, SourceSettings
from storage import FeedState

POLL_TASKS = 20
GONE = 410  # HTTP status: the feed was removed for good (RFC 9110), not just missing
RETRY_DELAYS = (2.0, 8.0)  # after the fetcher's own quick retries, two slower tries of a source


@dataclass
class Polled:
    """What polling one source came to: what it offers now, or why it failed."""

    source: SourceSettings
    collected: Collected | None = None
    error: str | None = None
    seconds: float = 0.0
    gone: bool = False  # it answered 410 Gone: removed for good, says the server


def shares(
    sources: Sequence[SourceSettings], tasks: int = POLL_TASKS
) -> list[list[SourceSettings]]:
    """`sources` cut into at most `tasks` runs of consecutive sources of equal size.

    >>> [len(share) for share in shares([object()] * 45, tasks=20)]
    [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]
    """
    size = max(1, math.ceil(len(sources) / tasks))
    return [list(sources[start : start + size]) for start in range(0, len(sources), size)]


def task_name(share: Sequence[SourceSettings], *, first: int, total: int) -> str:
    """`fetch feed dw`, `read seeds desk` for one source; `poll sources 1-100 of 2000`."""
    if len(share) == 1:
        source = share[0]
        verb = "read" if source.kind == "seeds" else "fetch"
        return f"{verb} {source.kind} {source.name}"
    return f"poll sources {first}-{first + len(share) - 1} of {total}"


async def poll_sources(
    sources: Sequence[SourceSettings],
    *,
    settings: Settings,
    fetcher: Fetcher,
    feed_states: dict[str, FeedState],
    on_share: Callable[[list[Polled]], None] | None = None,
) -> list[Polled]:
    """Every source of `sources` polled, at most `[fetch] concurrency` at once; the
    results in the order of `sources`. `on_share` sees each task's results as soon as
    that task is done, before the others are."""
    limit = asyncio.Semaphore(settings.fetch.concurrency)
    polls, first = [], 1
    for share in shares(sources):
        name = task_name(share, first=first, total=len(sources))
        states = {source.name: feed_states.get(source.name) for source in share}
        polls.append(
            _reported(
                poll_task(
                    quoted(share),
                    quoted(settings),
                    quoted(fetcher),
                    quoted(states),
                    quoted(limit),
                    name,
                ),
                on_share,
            )
        )
        first += len(share)
    return [polled for share in await asyncio.gather(*polls) for polled in share]


async def _reported(
    poll: Awaitable[list[Polled]], on_share: Callable[[list[Polled]], None] | None
) -> list[Polled]:
    polled = await poll
    if on_share is not None:
        on_share(polled)
    return polled


@task(task_run_name="{name}", cache_policy=NO_CACHE)
async def poll_task(
    share: list[SourceSettings],
    settings: Settings,
    fetcher: Fetcher,
    feed_states: dict[str, FeedState | None],
    limit: asyncio.Semaphore,
    name: str,
) -> list[Polled]:
    return list(
        await asyncio.gather(
            *(
                poll_one(
                    source,
                    settings=settings,
                    fetcher=fetcher,
                    feed_state=feed_states.get(source.name),
                    limit=limit,
                )
                for source in share
            )
        )
    )


async def poll_one(
    source: SourceSettings,
    *,
    settings: Settings,
    fetcher: Fetcher,
    feed_state: FeedState | None,
    limit: asyncio.Semaphore,
    retry_delays: Sequence[float] = RETRY_DELAYS,
) -> Polled:
    """One source polled; a passing failure (timeout, 5xx, dropped connection) is tried
    again after each of `retry_delays`, without holding a place in `limit` meanwhile."""
    started = time.monotonic()
    try:
        for delay in (*retry_delays, None):
            try:
                async with limit:
                    collected = await collect_source(
                        source, settings=settings, fetcher=fetcher, feed_state=feed_state
                    )
                return Polled(source, collected, seconds=time.monotonic() - started)
            except TransientFetchError:
                if delay is None:
                    raise
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover
    except Exception as error:
        reason = str(error) if isinstance(error, SourceError) else unexpected(error)
        gone = isinstance(error, StatusError) and error.status == GONE
        if gone:
            name = shlex.quote(source.name)
            reason += (
                ": removed for good, says the server; tried again once a day"
                f" (`newswatch sources pause {name}` or `remove {name}`)"
            )
        return Polled(source, error=reason, seconds=time.monotonic() - started, gone=gone)
    finally:
        progress().source_done(source.name)
