"""The tables of the store.

Timestamps are timezone-aware UTC in Python on every backend (`UTCDateTime`).
Uniqueness that the product promises lives in the schema, not only in Python:
one article per canonical URL and per text hash, one alert per (rule, story),
one delivery per (alert, channel).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

# Named constraints, so later migrations can alter them (SQLite rebuilds tables by name).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Core table, for bulk statements (SQLModel's types leave it out)."""
    return model.__table__  # type: ignore[attr-defined,no-any-return]


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; always hands back aware UTC datetimes.

    SQLite keeps no zone, so values are written as naive UTC there and the zone
    is put back on read; PostgreSQL gets `timestamp with time zone`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; use aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


# Sources: one row per configured source name; created on first sight.
class Source(SQLModel, table=True):
    __tablename__ = "sources"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(200), unique=True, nullable=False))
    kind: str = Field(max_length=20)
    location: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    last_run_at: datetime | None = _when()
    last_success_at: datetime | None = _when()
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    consecutive_failures: int = Field(default=0)
    next_attempt_at: datetime | None = _when()  # a failing source is retried later, not forgotten
    # Conditional GET: the validators of the last feed body, and its hash for servers that lie.
    etag: str | None = Field(default=None, sa_column=Column(Text))
    last_modified: str | None = Field(default=None, sa_column=Column(Text))
    body_hash: str | None = Field(default=None, sa_column=Column(String(64)))
    # Where the last successful poll's permanent redirects (301, 308) led: the config's URL
    # is out of date. Cleared by a poll that is not redirected, or a new location.
    moved_to: str | None = Field(default=None, sa_column=Column(Text))
    # A source that answers but brings nothing new has gone quiet (a feed the site stopped
    # updating, a sitemap frozen by a CMS move): when a poll last listed an entry not seen
    # before, and since when it has been polled successfully at this location.
    last_new_at: datetime | None = _when()
    watched_since: datetime | None = _when()

    def is_at(self, kind: str, location: str) -> bool:
        """Whether this row's health is that of `kind` at `location`: a source the config
        moved starts afresh there (`storage.ensure_sources`)."""
        return (self.kind, self.location) == (kind, location)

    def quiet_since(self, after: timedelta | None, *, now: datetime) -> datetime | None:
        """Since when this source, answering still, has brought nothing new, if that is
        longer than `after` ago (None: never quiet): when it last listed an entry not seen
        before or, if it never has, since when it has been watched. None when it is not
        quiet, or failing (a failure says more than a silence)."""
        since = self.last_new_at or self.watched_since
        if after is None or since is None or self.consecutive_failures:
            return None
        return since if now - since > after else None


# Articles: the system of record. `canonical_url` and `text_hash` are each unique.
class Article(SQLModel, table=True):
    __tablename__ = "articles"

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(
        sa_column=Column(Integer, ForeignKey("sources.id"), nullable=False, index=True)
    )
    url: str = Field(sa_column=Column(Text, nullable=False))
    canonical_url: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    guid: str | None = Field(default=None, sa_column=Column(Text))
    title: str = Field(sa_column=Column(Text, nullable=False))
    author: str | None = Field(default=None, sa_column=Column(Text))
    published_at: datetime | None = _when(index=True)
    language: str | None = Field(default=None, max_length=20)
    site_name: str | None = Field(default=None, sa_column=Column(Text))
    text: str = Field(sa_column=Column(Text, nullable=False))
    text_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    origin: str = Field(max_length=10)
    note: str | None = Field(default=None, sa_column=Column(Text))
    fetched_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    run_id: int | None = Field(  # the run that stored it first: `export --run N` reads by it
        default=None, sa_column=Column(Integer, ForeignKey("runs.id"), nullable=True, index=True)
    )
    final_url: str | None = Field(default=None, sa_column=Column(Text))  # after redirects
    story_id: int = Field(
        sa_column=Column(Integer, ForeignKey("stories.id"), nullable=False, index=True)
    )
    version: int = Field(default=1)  # 1 + the number of rows in article_versions
    categories: list[str] = Field(  # categories and tags, as the page or the feed gave them
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default="[]"),
    )


# Stories: near-duplicate articles (one wire story run by many outlets) grouped together.
# `first_article_id` is set once, right after that article is inserted; it carries no
# foreign key because articles already point here and the cycle would need ALTERs.
class Story(SQLModel, table=True):
    __tablename__ = "stories"

    id: int | None = Field(default=None, primary_key=True)
    first_article_id: int | None = Field(default=None)
    title: str = Field(sa_column=Column(Text, nullable=False))
    first_seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    last_seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    article_count: int = Field(default=1)


# The persisted near-duplicate index: one MinHash signature per article...
class StorySignature(SQLModel, table=True):
    __tablename__ = "story_signatures"

    article_id: int = Field(sa_column=Column(Integer, ForeignKey("articles.id"), primary_key=True))
    story_id: int = Field(
        sa_column=Column(Integer, ForeignKey("stories.id"), nullable=False, index=True)
    )
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(  # indexed: runs remove the rows past the story window
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )


# ...and its LSH band keys, looked up by index: finding candidates costs one query,
# whatever the size of the store, and nothing is rebuilt between runs.
class StoryBand(SQLModel, table=True):
    __tablename__ = "story_bands"
    __table_args__ = (Index("ix_story_bands_band_created", "band", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    band: int = Field(sa_column=Column(BigInteger, nullable=False))
    article_id: int = Field(
        sa_column=Column(Integer, ForeignKey("articles.id"), nullable=False, index=True)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


# Article versions: the earlier texts of an article whose text changed at the same URL.
class ArticleVersion(SQLModel, table=True):
    __tablename__ = "article_versions"
    __table_args__ = (UniqueConstraint("article_id", "version", name="uq_article_version"),)

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(
        sa_column=Column(Integer, ForeignKey("articles.id"), nullable=False, index=True)
    )
    version: int
    title: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    text_hash: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    fetched_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    replaced_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


# Feed entry GUIDs seen per source: an entry seen before costs no page request,
# even when its link changed or redirected elsewhere.
class EntryGuid(SQLModel, table=True):
    __tablename__ = "entry_guids"
    __table_args__ = (UniqueConstraint("source_id", "guid", name="uq_entry_guid_source"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(sa_column=Column(Integer, ForeignKey("sources.id"), nullable=False))
    guid: str = Field(sa_column=Column(Text, nullable=False))
    article_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("articles.id"), nullable=True)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


# Alerts: one per (rule, story), ever. A story run by ten outlets fires its rule once; the
# later copies are attached (`alert_articles`), not re-sent. `id` is stable for the pair:
# it is the Idempotency-Key receivers see on every retry.
class Alert(SQLModel, table=True):
    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("rule", "story_id", name="uq_alert_rule_story"),)

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    rule: str = Field(sa_column=Column(String(200), nullable=False, index=True))
    query: str = Field(sa_column=Column(Text, nullable=False))  # as it was when the alert fired
    story_id: int = Field(
        sa_column=Column(Integer, ForeignKey("stories.id"), nullable=False, index=True)
    )
    article_id: int = Field(  # the first article that fired it
        sa_column=Column(Integer, ForeignKey("articles.id"), nullable=False, index=True)
    )
    run_id: int | None = Field(  # the run that fired it: the storm breaker counts per run
        default=None, sa_column=Column(Integer, ForeignKey("runs.id"), nullable=True, index=True)
    )
    terms: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of matched terms
    snippet: str = Field(sa_column=Column(Text, nullable=False))
    snippet_start: int = 0
    snippet_end: int = 0
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )


# Alert articles: every outlet's copy of an alerted story, the first one included.
class AlertArticle(SQLModel, table=True):
    __tablename__ = "alert_articles"
    __table_args__ = (UniqueConstraint("alert_id", "article_id", name="uq_alert_article"),)

    id: int | None = Field(default=None, primary_key=True)
    alert_id: str = Field(
        sa_column=Column(String(32), ForeignKey("alerts.id"), nullable=False, index=True)
    )
    article_id: int = Field(
        sa_column=Column(Integer, ForeignKey("articles.id"), nullable=False, index=True)
    )
    source: str = Field(sa_column=Column(String(200), nullable=False))  # the source's name
    url: str = Field(sa_column=Column(Text, nullable=False))
    attached_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


# Deliveries: the outbox, one row per message to one channel. `kind` "alert" rows are one
# per (alert, channel), written with the alert; "summary" (a rule's storm in one run) and
# "digest" rows carry many alerts, whose own rows then point at them through `bundle_id`
# (status "summarised" or "digested"). `key` is the Idempotency-Key: the alert id, or the
# summary's or digest's own id. Status: pending → sending → sent, or back to pending with
# `next_attempt_at`, or dead after the last attempt; "held" waits for its rule's digest.
class Delivery(SQLModel, table=True):
    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("key", "channel", name="uq_delivery_key_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(32), nullable=False))
    kind: str = Field(default="alert", sa_column=Column(String(10), nullable=False))
    rule: str = Field(sa_column=Column(String(200), nullable=False, index=True))
    alert_id: str | None = Field(
        default=None,
        sa_column=Column(String(32), ForeignKey("alerts.id"), nullable=True, index=True),
    )
    channel: str = Field(sa_column=Column(String(200), nullable=False))
    status: str = Field(sa_column=Column(String(10), nullable=False, index=True))
    bundle_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("deliveries.id"), nullable=True, index=True),
    )
    digest: str | None = Field(default=None, sa_column=Column(String(10)))  # held: its schedule
    attempts: int = 0
    next_attempt_at: datetime | None = _when(index=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    claimed_at: datetime | None = _when()
    sent_at: datetime | None = _when()
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


# Runs: one row per monitoring run, with its summary as JSON.
class Run(SQLModel, table=True):
    __tablename__ = "runs"
    # each run's tidying finds the untrimmed old rows without reading every row's summary
    __table_args__ = (Index("ix_runs_untrimmed", "details_removed_at", "finished_at"),)

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    finished_at: datetime | None = _when()
    status: str = Field(default="running", max_length=20)
    flow_run_id: str | None = Field(default=None, max_length=64)
    summary: str | None = Field(default=None, sa_column=Column(Text))
    # when its per-source table, failures and skipped pages were dropped, its totals kept
    details_removed_at: datetime | None = _when()


# Rules as the store has seen them, by name. A rule fires only on articles stored after its
# current query took effect (`query_since`); `newswatch rules backfill` reaches further back.
class RuleState(SQLModel, table=True):
    __tablename__ = "rules"

    name: str = Field(sa_column=Column(String(200), primary_key=True))
    query: str = Field(sa_column=Column(Text, nullable=False))
    first_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    query_since: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
