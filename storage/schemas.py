"""Shapes that cross into the store; the tables themselves live in `storage.models`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from storage.stories import Prepared

Origin = Literal["page", "feed", "seed", "html"]


class ArticleIn(BaseModel):
    """An extracted article on its way into the store.

    `origin` says where the text came from: a fetched `page`, the feed entry's
    own content (`feed`, when the page failed; `note` says why), a text `seed`
    file, or an `html` seed file. The store derives the canonical URL and the
    text hash itself.
    """

    model_config = ConfigDict(frozen=True)

    url: str
    source: str
    title: str
    text: str
    origin: Origin
    author: str | None = None
    published_at: datetime | None = None  # timezone-aware UTC
    language: str | None = None
    site_name: str | None = None
    guid: str | None = None
    final_url: str | None = None  # where the URL redirected to, when it did
    note: str | None = None
    categories: tuple[str, ...] = ()  # the page's or the feed entry's categories and tags
    # its text hash and story fingerprint, when an extraction worker computed them already
    prepared: Prepared | None = Field(default=None, exclude=True, repr=False)
    # the alert rules it matches, as (rule name, alerts.Match), when a worker matched it
    matched: tuple[tuple[str, Any], ...] | None = Field(default=None, exclude=True, repr=False)
