"""The store: SQLModel tables, engines, dedup fingerprints and repository functions.

Plain Python: never imports `flows` or `prefect`.
"""

from storage.articles import (
    Stored,
    add_articles,
    ensure_sources,
    insert_ignoring_conflicts,
    iter_articles,
    record_source_health,
    stored_urls,
)
from storage.engine import make_engine, open_store
from storage.errors import StorageError, StoreUnavailable, masked_url
from storage.fingerprints import alert_id, canonical_url, normalise_text, text_hash
from storage.models import Alert, Article, Delivery, Run, Source, UTCDateTime, utcnow
from storage.runs import finish_run, recent_runs, start_run
from storage.schemas import ArticleIn, Origin

__all__ = [
    "Alert",
    "Article",
    "ArticleIn",
    "Delivery",
    "Origin",
    "Run",
    "Source",
    "StorageError",
    "StoreUnavailable",
    "Stored",
    "UTCDateTime",
    "add_articles",
    "alert_id",
    "canonical_url",
    "ensure_sources",
    "finish_run",
    "insert_ignoring_conflicts",
    "iter_articles",
    "make_engine",
    "masked_url",
    "normalise_text",
    "open_store",
    "recent_runs",
    "record_source_health",
    "start_run",
    "stored_urls",
    "text_hash",
    "utcnow",
]
