"""The store: SQLModel tables, engines, dedup fingerprints and repository functions.

Plain Python: never imports `flows` or `prefect`.
"""

from storage.articles import (
    FeedState,
    backoff,
    chunks,
    ensure_sources,
    insert_ignoring_conflicts,
    insert_returning_id,
    iter_articles,
    record_source_health,
    seen_guids,
    source_states,
    stored_urls,
)
from storage.conflicts import retry_conflicts
from storage.dedup import Stored, add_articles
from storage.engine import make_engine, open_store
from storage.errors import MASK, StorageError, StoreUnavailable, masked_url, shown_url
from storage.fingerprints import alert_id, canonical_url, normalise_text, text_hash
from storage.migrate import upgrade
from storage.models import (
    Alert,
    AlertArticle,
    Article,
    ArticleVersion,
    Delivery,
    EntryGuid,
    RuleState,
    Run,
    Source,
    Story,
    UTCDateTime,
    table_of,
    utcnow,
)
from storage.runs import finish_run, recent_runs, start_run, trim_old_runs
from storage.schemas import ArticleIn, Origin
from storage.search import SearchHit, StoryView, recent_stories, search
from storage.stories import StoryOptions
from storage.story_index import prune_story_index

__all__ = [
    "MASK",
    "Alert",
    "AlertArticle",
    "Article",
    "ArticleIn",
    "ArticleVersion",
    "Delivery",
    "EntryGuid",
    "FeedState",
    "Origin",
    "RuleState",
    "Run",
    "SearchHit",
    "Source",
    "StorageError",
    "StoreUnavailable",
    "Stored",
    "Story",
    "StoryOptions",
    "StoryView",
    "UTCDateTime",
    "add_articles",
    "alert_id",
    "backoff",
    "canonical_url",
    "chunks",
    "ensure_sources",
    "finish_run",
    "insert_ignoring_conflicts",
    "insert_returning_id",
    "iter_articles",
    "make_engine",
    "masked_url",
    "normalise_text",
    "open_store",
    "prune_story_index",
    "recent_runs",
    "recent_stories",
    "record_source_health",
    "retry_conflicts",
    "search",
    "seen_guids",
    "shown_url",
    "source_states",
    "start_run",
    "stored_urls",
    "table_of",
    "text_hash",
    "trim_old_runs",
    "upgrade",
    "utcnow",
]
