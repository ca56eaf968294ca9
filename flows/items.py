"""What a source yields before any page is fetched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
