"""What a source yields before any page is fetched, and the categories it carries."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

# Enough to file an article and match a rule on; past that a page's keyword list is
# search-engine bait ("sport news, latest news, ..."), and a "tag" longer than a short
# headline is a sentence that found its way into the keywords.
MAX_CATEGORIES = 20
MAX_CATEGORY_CHARS = 80

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Candidate:
    """An article a source points at: a feed entry or a URL from a URL list.

    The feed's own fields are kept as the fallback when the page cannot be
    fetched or extracted (`summary` is plain text, HTML already stripped).
    """

    url: str
    source: str
    guid: str | None = None
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None  # timezone-aware UTC
    summary: str | None = None
    categories: tuple[str, ...] = ()  # the entry's categories and tags, cleaned


def clean_categories(*groups: Iterable[object]) -> tuple[str, ...]:
    """Categories and tags from several places merged into one list, in order.

    Each is stripped with its spaces squeezed and kept once whatever its case (the
    first spelling wins); empty ones, ones that are not text and ones longer than
    `MAX_CATEGORY_CHARS` are dropped, and at most `MAX_CATEGORIES` are kept.

    >>> clean_categories(["World", " world "], ["Europe", "", None])
    ('World', 'Europe')
    """
    kept: dict[str, str] = {}
    for group in groups:
        for value in group:
            if not isinstance(value, str):
                continue
            name = _SPACES.sub(" ", value).strip()
            if name and len(name) <= MAX_CATEGORY_CHARS:
                kept.setdefault(name.casefold(), name)
            if len(kept) == MAX_CATEGORIES:
                return tuple(kept.values())
    return tuple(kept.values())
