"""robots.txt rules, fetched once per origin and kept for the run (RFC 9309).

The cache knows nothing about HTTP: the fetcher hands it a loader that returns
`RobotsRules` for an origin, and every page asks the cache::

    robots = RobotsCache(load=fetcher_load_robots)
    if not await robots.allows("https://example.org/news/1", user_agent="newswatch/0.1"):
        ...

Concurrent pages of one origin share a single robots.txt request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

# RFC 9309 2.5: crawlers must parse at least 500 KiB; Google stops there too.
MAX_ROBOTS_BYTES = 500 * 1024


@dataclass(frozen=True)
class RobotsRules:
    """What one origin's robots.txt allows: everything, nothing, or what `parser` says."""

    parser: Protego | None = None
    allow_all: bool = True

    def allows(self, url: str, *, user_agent: str) -> bool:
        if self.parser is None:
            return self.allow_all
        return bool(self.parser.can_fetch(url, user_agent))


ALLOW_ALL = RobotsRules()
DISALLOW_ALL = RobotsRules(allow_all=False)


def rules_from_response(status: int, body: bytes) -> RobotsRules:
    """RFC 9309 2.3.1: 2xx is parsed, 4xx means no rules, 5xx means keep out for now.

    >>> rules_from_response(404, b"").allows("http://a/x", user_agent="newswatch")
    True
    """
    if 200 <= status < 300:
        # RFC 9309 2.3: UTF-8, and a leading byte order mark is not part of a rule.
        text = body[:MAX_ROBOTS_BYTES].decode("utf-8-sig", errors="replace")
        return RobotsRules(parser=Protego.parse(text))
    if 400 <= status < 500:
        return ALLOW_ALL
    return DISALLOW_ALL


def origin_of(url: str) -> str:
    """`scheme://host:port`, the scope of one robots.txt (RFC 9309 2.3)."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.rpartition('@')[2].lower()}"


class RobotsCache:
    """One robots.txt request per origin for the life of the cache (one run)."""

    def __init__(self, *, load: Callable[[str], Awaitable[RobotsRules]]) -> None:
        self._load = load
        self._rules: dict[str, asyncio.Task[RobotsRules]] = {}

    async def allows(self, url: str, *, user_agent: str) -> bool:
        origin = origin_of(url)
        task = self._rules.get(origin)
        if task is None:
            task = asyncio.ensure_future(self._load(origin))
            self._rules[origin] = task
        rules = await asyncio.shield(task)
        return rules.allows(url, user_agent=user_agent)

    def close(self) -> None:
        """Cancel robots.txt requests still running when the run ends."""
        for task in self._rules.values():
            task.cancel()
