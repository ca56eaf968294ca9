"""Try a source before relying on it: what a poll would find, and what extraction makes of
its first pages, with the rules each would fire. Nothing is stored, nothing is sent.

    trial = asyncio.run(try_source(source, settings=settings, limit=5))

The pages go through the run's own stages (`collect_source`, `fetch_and_extract`), so
politeness, robots.txt, the not-an-article checks and the fallback to a feed entry's
own text behave as in a run. `newswatch sources try` prints it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx

from alerts import RuleSet
from flows.fetcher import Fetcher
from flows.items import Candidate
from flows.pipeline import Collected, Extracted, Failure, collect_source, fetch_and_extract
from flows.settings import Settings, SourceSettings
from storage import ArticleIn, shown_url, utcnow

Result = Literal["article", "feed text", "not an article", "failed"]
SNIPPET = 300  # characters of each article's text in the JSON


@dataclass(frozen=True)
class TriedPage:
    """One entry of the source, as a run would have taken it."""

    url: str
    result: Result
    reason: str | None = None  # why it is not an article, failed, or fell back to feed text
    article: ArticleIn | None = None
    rules: tuple[str, ...] = ()  # the configured rules it would fire

    def to_dict(self) -> dict[str, Any]:
        article = self.article
        published = article.published_at if article else None
        return {
            "url": shown_url(self.url),
            "result": self.result,
            "reason": self.reason,
            "title": article.title if article else None,
            "published_at": published.isoformat() if published else None,
            "author": article.author if article else None,
            "language": article.language if article else None,
            "categories": list(article.categories) if article else [],
            "words": len(article.text.split()) if article else 0,
            "rules": list(self.rules),
            "text": article.text[:SNIPPET] if article else None,
        }


@dataclass
class Trial:
    """What trying `source` found: how many entries, and its first pages tried."""

    source: SourceSettings
    found: int = 0
    pages: list[TriedPage] = field(default_factory=list)
    moved_to: str | None = None  # where its permanent redirects led
    newest_dated: datetime | None = None  # the newest date its entries give themselves

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source.name,
            "kind": self.source.kind,
            "location": shown_url(self.source.location),
            "moved_to": shown_url(self.moved_to) if self.moved_to else None,
            "found": self.found,
            "newest_dated": self.newest_dated.isoformat() if self.newest_dated else None,
            "tried": [page.to_dict() for page in self.pages],
        }


async def poll_once(source: SourceSettings, *, settings: Settings) -> Collected:
    """Poll `source` once for what it lists, fetching no page and matching no rule
    (`newswatch sources add`). Raises `SourceError` as `try_source` does."""
    async with Fetcher(settings.fetch) as fetcher:
        return await collect_source(source, settings=settings, fetcher=fetcher)


async def try_source(
    source: SourceSettings,
    *,
    settings: Settings,
    limit: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Trial:
    """Poll `source` once and take its first `limit` entries through fetching and
    extraction, as a run would (feed validators are not sent: the feed is read whole).
    Raises `SourceError` when the source as a whole fails, as a run records it."""
    rules = RuleSet(settings.rules)
    async with Fetcher(settings.fetch, transport) as fetcher:
        collected = await collect_source(source, settings=settings, fetcher=fetcher)
        # what it listed: a seed file it could not read counts, as a row of its own
        trial = Trial(
            source,
            found=collected.found + len(collected.failures),
            moved_to=collected.moved_to,
            newest_dated=collected.newest_dated(now=utcnow()),
        )
        ready = collected.articles[:limit]
        trial.pages += [_tried(article.url, Extracted([article]), rules) for article in ready]
        trial.pages += [
            TriedPage(failure.target, "failed", _why(failure.reason, url=failure.target))
            for failure in collected.failures[: limit - len(trial.pages)]
        ]
        chosen = collected.candidates[: max(0, limit - len(trial.pages))]
        trial.pages += await _fetched(chosen, fetcher=fetcher, rules=rules)
    return trial


async def _fetched(
    candidates: Sequence[Candidate], *, fetcher: Fetcher, rules: RuleSet
) -> list[TriedPage]:
    """Each candidate fetched and extracted on its own, so each outcome stays its own."""
    outcomes = await asyncio.gather(
        *(fetch_and_extract([candidate], fetcher=fetcher) for candidate in candidates)
    )
    return [
        _tried(candidate.url, outcome, rules)
        for candidate, outcome in zip(candidates, outcomes, strict=True)
    ]


def _tried(url: str, outcome: Extracted, rules: RuleSet) -> TriedPage:
    """One candidate's `fetch_and_extract` outcome as a row: an article, its feed entry's
    text in place of a failed page (with why), a page skipped, or a failure."""
    if outcome.not_articles:
        reason = _why(outcome.not_articles[0].reason, url=url)
        return TriedPage(url, "not an article", reason.removeprefix("not an article: "))
    failure: Failure | None = outcome.failures[0] if outcome.failures else None
    if not outcome.articles:
        return TriedPage(url, "failed", _why(failure.reason, url=url) if failure else None)
    article = outcome.articles[0]
    names = tuple(rule.name for rule, _ in rules.matches_extracted(article))
    if failure is not None:
        reason = _why(article.note or failure.reason, url=url)
        return TriedPage(url, "feed text", reason, article, names)
    return TriedPage(url, "article", None, article, names)


def _why(reason: str, *, url: str) -> str:
    """`reason` without the page's URL in front, which the row shows already."""
    for prefix in (f"{shown_url(url)}: ", f"{url}: "):
        reason = reason.removeprefix(prefix)
    return reason
