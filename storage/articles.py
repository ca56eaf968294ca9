"""Sources and articles: keyword-only repository functions that take a session.

    stored = add_articles(session=session, articles=batch, run_id=run.id)

Functions here never commit: the caller owns the transaction, so an article
and the alerts it fires are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Table, func, lambda_stmt
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.lambdas import StatementLambdaElement
from sqlmodel import Session, col, select

from storage.fingerprints import canonical_url
from storage.models import Article, EntryGuid, Source, table_of, utcnow

T = TypeVar("T")
IN_LIST = 500  # values in one `IN (…)`: well under every backend's parameter limit


def insert_ignoring_conflicts(session: Session, table: Table) -> StatementLambdaElement:
    """`INSERT … ON CONFLICT DO NOTHING` for the session's backend, compiled once: executed
    with a row (or a list of rows) as parameters.

    SQLAlchemy 2.0 cannot cache a dialect's `ON CONFLICT` insert (its class opts out
    of cache keys), so each execution compiled it again, ~0.3 ms of storing each row
    inserted one at a time (articles, their feed entries, alerts); a lambda statement
    is cached by where the lambda is and by `table`.
    """
    if session.get_bind().dialect.name == "postgresql":
        return lambda_stmt(lambda: postgresql.insert(table).on_conflict_do_nothing())
    return lambda_stmt(lambda: sqlite.insert(table).on_conflict_do_nothing())


def insert_returning_id(session: Session, table: Table) -> StatementLambdaElement:
    """`insert_ignoring_conflicts` returning the new row's id (None on a conflict)."""
    return insert_ignoring_conflicts(session, table) + (lambda insert: insert.returning(table.c.id))


def insert_articles(session: Session) -> StatementLambdaElement:
    """`insert_ignoring_conflicts` for articles, returning the canonical URL and id of each
    row that went in: executed with a batch of rows, it leaves out those another
    process stored first."""
    table = table_of(Article)
    return insert_ignoring_conflicts(session, table) + (
        lambda insert: insert.returning(table.c.canonical_url, table.c.id)
    )


def ensure_sources(*, session: Session, sources: Iterable[tuple[str, str, str]]) -> dict[str, int]:
    """Ids of the named sources, creating the missing ones: (name, kind, location) in.

    A source whose kind or location the config changed starts afresh at its new one:
    the old location's failures do not hold the new one back, its validators are not
    sent there, and its first poll is a first poll. Its articles stay its own.
    """
    wanted = {name: (kind, location) for name, kind, location in sources}
    table = table_of(Source)
    for name, (kind, location) in wanted.items():
        row = {"name": name, "kind": kind, "location": location, "created_at": utcnow()}
        session.execute(insert_ignoring_conflicts(session, table), row)
    rows = session.exec(select(Source).where(col(Source.name).in_(wanted))).all()
    for source in rows:
        if not source.is_at(*wanted[source.name]):
            _move(source, *wanted[source.name])
            session.add(source)
    return {source.name: source.id for source in rows if source.id is not None}


def _move(source: Source, kind: str, location: str) -> None:
    source.kind, source.location = kind, location
    source.last_run_at = source.last_success_at = source.next_attempt_at = None
    source.last_error = None
    source.consecutive_failures = 0
    source.etag = source.last_modified = source.body_hash = source.moved_to = None
    source.last_new_at = source.watched_since = None


# A failing source is polled less often, never forgotten: 10 min, 20, 40, ... up to a day.
FIRST_BACKOFF = timedelta(minutes=10)
MAX_BACKOFF = timedelta(days=1)


@dataclass(frozen=True)
class FeedState:
    """What the last successful poll of a feed left for the next one (conditional GET)."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None


def backoff(consecutive_failures: int) -> timedelta:
    """How long a source that failed this many times in a row waits before the next try."""
    if consecutive_failures <= 0:
        return timedelta(0)
    doubled: timedelta = FIRST_BACKOFF * 2 ** min(consecutive_failures - 1, 16)
    return min(doubled, MAX_BACKOFF)


def record_source_health(
    *,
    session: Session,
    source_id: int,
    error: str | None,
    when: datetime,
    feed: FeedState | None = None,
    moved_to: str | None = None,
    gone: bool = False,
    fresh: bool = False,
) -> Source | None:
    """Remember the outcome of polling a source; a failure schedules the next attempt.

    A success records where the source's permanent redirects led (`moved_to`, None when
    it was not redirected) and whether it listed anything not seen before (`fresh`); a
    failure leaves what the last success found. A failure that says the source is `gone`
    for good (HTTP 410) waits the longest backoff at once. Returns the updated row.
    """
    source = session.get(Source, source_id)
    if source is None:
        return None
    source.last_run_at = when
    if error is None:
        source.watched_since = source.watched_since or when
        if fresh:
            source.last_new_at = when
        source.last_success_at = when
        source.last_error = None
        source.consecutive_failures = 0
        source.next_attempt_at = None
        source.moved_to = moved_to
    else:
        source.last_error = error
        source.consecutive_failures += 1
        wait = MAX_BACKOFF if gone else backoff(source.consecutive_failures)
        source.next_attempt_at = when + wait
    if feed is not None:
        source.etag, source.last_modified = feed.etag, feed.last_modified
        source.body_hash = feed.body_hash
    session.add(source)
    return source


def source_states(*, session: Session, names: Iterable[str]) -> dict[str, Source]:
    """The stored rows (health, feed validators) of the named sources."""
    rows = session.exec(select(Source).where(col(Source.name).in_(list(names)))).all()
    return {row.name: row for row in rows}


def stored_urls(*, session: Session, urls: Iterable[str]) -> set[str]:
    """The canonical forms of `urls` that the store already holds."""
    wanted = {canonical_url(url) for url in urls}
    found: set[str] = set()
    for chunk in chunks(sorted(wanted)):
        query = select(Article.canonical_url).where(col(Article.canonical_url).in_(chunk))
        found.update(session.exec(query).all())
    return found


def seen_guids(*, session: Session, source_id: int, guids: Iterable[str]) -> set[str]:
    """The feed entry GUIDs of `source_id` among `guids` that were seen before."""
    wanted = sorted(set(guids))
    found: set[str] = set()
    for chunk in chunks(wanted):
        query = select(EntryGuid.guid).where(
            EntryGuid.source_id == source_id, col(EntryGuid.guid).in_(chunk)
        )
        found.update(session.exec(query).all())
    return found


def iter_articles(
    *,
    session: Session,
    since: datetime | None = None,
    source: str | None = None,
    run_id: int | None = None,
    until: datetime | None = None,
    batch: int = 500,
) -> Iterator[tuple[Article, str]]:
    """Stored articles with their source name, oldest first, read in batches.

    `since` (inclusive) and `until` (exclusive) compare the publication date, or the
    fetch date for articles that have none; `source` is a source name; `run_id` the run
    that stored them first.
    """
    last_id = 0
    while True:
        query = (
            select(Article, Source.name)
            .join(Source, col(Source.id) == col(Article.source_id))
            .where(col(Article.id) > last_id)
            .order_by(col(Article.id))
            .limit(batch)
        )
        when = func.coalesce(Article.published_at, Article.fetched_at)
        if since is not None:
            query = query.where(when >= since)
        if until is not None:
            query = query.where(when < until)
        if source is not None:
            query = query.where(Source.name == source)
        if run_id is not None:
            query = query.where(col(Article.run_id) == run_id)
        rows = session.exec(query).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1][0].id or last_id


def chunks(items: Sequence[T], size: int = IN_LIST) -> Iterator[Sequence[T]]:
    """`items` `size` at a time: the values of one `IN (…)` each."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
