"""robots.txt rules, fetched once per origin and kept for the run (RFC 9309).

The cache knows nothing about HTTP: the fetcher hands it a loader that returns
`RobotsRules` for an origin, and every page (and every redirect hop) asks the cache::

    robots = RobotsCache(load=fetcher_load_robots)
    refusal = await robots.refusal("https://example.org/news/1", user_agent="newswatch/0.1")
    if refusal:  # "disallowed by robots.txt", with why when it is not the file's own rules
        ...

Concurrent pages of one origin share a single robots.txt request. RFC 9309
2.3.1 says how to read an answer that is not a file of rules: "unavailable"
(4xx) allows everything, "unreachable" (5xx, or no answer at all) disallows
everything. Either decision is kept for the run, like parsed rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

# RFC 9309 2.5: crawlers must parse at least 500 KiB; Google stops there too.
MAX_ROBOTS_BYTES = 500 * 1024
# RFC 9309 2.3.1.2: follow at least five consecutive redirects, even to another host.
MAX_ROBOTS_REDIRECTS = 5
DISALLOWED = "disallowed by robots.txt"


@dataclass(frozen=True)
class RobotsRules:
    """What one origin's robots.txt allows: everything, nothing, or what `parser` says.

    `why` is the refusal as a user reads it, naming the reason when it is not the
    file's own rules.
    """

    parser: Protego | None = None
    allow_all: bool = True
    why: str = DISALLOWED

    def allows(self, url: str, *, user_agent: str) -> bool:
        if self.parser is None:
            return self.allow_all
        return bool(self.parser.can_fetch(url, user_agent))

    def refusal(self, url: str, *, user_agent: str) -> str | None:
        return None if self.allows(url, user_agent=user_agent) else self.why

    @property
    def sitemaps(self) -> list[str]:
        """The file's `Sitemap:` lines, as written (sitemaps.org wants absolute URLs)."""
        return list(self.parser.sitemaps) if self.parser is not None else []


ALLOW_ALL = RobotsRules()


def rules_from_response(status: int, body: bytes) -> RobotsRules:
    """RFC 9309 2.3.1: 2xx is parsed, 4xx means no rules, 5xx means keep out for now.

    429 is a 4xx that asks us to slow down: read like a 5xx, as Google does.

    >>> rules_from_response(404, b"").allows("http://a/x", user_agent="newswatch")
    True
    """
    if 200 <= status < 300:
        # RFC 9309 2.3: UTF-8, and a leading byte order mark is not part of a rule.
        text = body[:MAX_ROBOTS_BYTES].decode("utf-8-sig", errors="replace")
        return RobotsRules(parser=Protego.parse(text))
    if status == 429 or status >= 500:
        return _disallow_all(f"it answered HTTP {status}")
    return ALLOW_ALL


def unreachable(detail: str) -> RobotsRules:
    """RFC 9309 2.3.1.4: no answer at all (`detail` says why) disallows everything."""
    return _disallow_all(f"unreachable ({detail})")


def _disallow_all(reason: str) -> RobotsRules:
    why = f"{DISALLOWED}: {reason}, read as complete disallow (RFC 9309)"
    return RobotsRules(allow_all=False, why=why)


def origin_of(url: str) -> str:
    """`scheme://host:port`, the scope of one robots.txt (RFC 9309 2.3)."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.rpartition('@')[2].lower()}"


class RobotsCache:
    """One robots.txt request per origin for the life of the cache (one run)."""

    def __init__(self, *, load: Callable[[str], Awaitable[RobotsRules]]) -> None:
        self._load = load
        self._rules: dict[str, asyncio.Task[RobotsRules]] = {}

    async def refusal(self, url: str, *, user_agent: str) -> str | None:
        """Why `url` must not be fetched, or None when it may be."""
        return (await self.rules(url)).refusal(url, user_agent=user_agent)

    async def rules(self, url: str) -> RobotsRules:
        """The rules of `url`'s origin, loaded on the first ask."""
        origin = origin_of(url)
        task = self._rules.get(origin)
        if task is None:
            task = asyncio.ensure_future(self._load(origin))
            self._rules[origin] = task
        return await asyncio.shield(task)

    def close(self) -> None:
        """Cancel robots.txt requests still running when the run ends."""
        for task in self._rules.values():
            task.cancel()
