"""Sources and articles: keyword-only repository functions that take a session.

    stored = add_articles(session=session, articles=batch, run_id=run.id)

Functions here never commit: the caller owns the transaction, so an article
and the alerts it fires are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, col, select

from storage.fingerprints import canonical_url, text_hash
from storage.models import Article, Source, utcnow
from storage.schemas import ArticleIn

DuplicateReason = Literal["same URL", "same text"]


def insert_ignoring_conflicts(session: Session, table: Table) -> Insert:
    """`INSERT … ON CONFLICT DO NOTHING` for the session's backend."""
    dialect = session.get_bind().dialect.name
    dml = postgresql if dialect == "postgresql" else sqlite
    return dml.insert(table).on_conflict_do_nothing()  # type: ignore[no-any-return]


def ensure_sources(*, session: Session, sources: Iterable[tuple[str, str, str]]) -> dict[str, int]:
    """Ids of the named sources, creating the missing ones: (name, kind, location) in."""
    wanted = {name: (kind, location) for name, kind, location in sources}
    table = Source.__table__  # type: ignore[attr-defined]
    for name, (kind, location) in wanted.items():
        row = {"name": name, "kind": kind, "location": location, "created_at": utcnow()}
        session.execute(insert_ignoring_conflicts(session, table).values(**row))
    rows = session.exec(select(Source).where(col(Source.name).in_(wanted))).all()
    return {source.name: source.id for source in rows if source.id is not None}


def record_source_health(
    *, session: Session, source_id: int, error: str | None, when: datetime
) -> None:
    """Remember the latest outcome of polling a source."""
    source = session.get(Source, source_id)
    if source is None:
        return
    source.last_run_at = when
    if error is None:
        source.last_success_at = when
        source.last_error = None
        source.consecutive_failures = 0
    else:
        source.last_error = error
        source.consecutive_failures += 1
    session.add(source)


def stored_urls(*, session: Session, urls: Iterable[str]) -> set[str]:
    """The canonical forms of `urls` that the store already holds."""
    wanted = {canonical_url(url) for url in urls}
    found: set[str] = set()
    for chunk in _chunks(sorted(wanted), 500):
        query = select(Article.canonical_url).where(col(Article.canonical_url).in_(chunk))
        found.update(session.exec(query).all())
    return found


@dataclass
class Stored:
    """What one batch did to the store."""

    new: list[Article] = field(default_factory=list)
    duplicates: list[tuple[ArticleIn, DuplicateReason]] = field(default_factory=list)


def add_articles(
    *,
    session: Session,
    articles: Sequence[ArticleIn],
    source_ids: dict[str, int],
    run_id: int | None,
) -> Stored:
    """Insert the articles not stored yet; say why each of the others is a duplicate.

    Uniqueness is decided by the schema (`ON CONFLICT DO NOTHING` on the
    canonical URL and the text hash), so two processes storing the same
    article at once store it once; the pre-check only names the reason.
    """
    result = Stored()
    rows = [_row(article, source_ids=source_ids, run_id=run_id) for article in articles]
    known_urls, known_hashes = _known(session=session, rows=rows)
    table = Article.__table__  # type: ignore[attr-defined]
    for article, row in zip(articles, rows, strict=True):
        reason = _duplicate_reason(row, known_urls=known_urls, known_hashes=known_hashes)
        if reason is None:
            statement = insert_ignoring_conflicts(session, table).values(**row)
            inserted = session.execute(statement.returning(table.c.id)).scalar_one_or_none()
            if inserted is not None:
                result.new.append(Article(id=inserted, **row))
            else:  # another process stored it between the pre-check and the insert
                reason = "same URL" if row["canonical_url"] in known_urls else "same text"
        if reason is not None:
            result.duplicates.append((article, reason))
        known_urls.add(row["canonical_url"])
        known_hashes.add(row["text_hash"])
    return result


def _row(article: ArticleIn, *, source_ids: dict[str, int], run_id: int | None) -> dict[str, Any]:
    values = article.model_dump(exclude={"source"})
    return {
        **values,
        "source_id": source_ids[article.source],
        "canonical_url": canonical_url(article.url),
        "text_hash": text_hash(article.text),
        "fetched_at": utcnow(),
        "run_id": run_id,
    }


def _known(*, session: Session, rows: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    urls = [row["canonical_url"] for row in rows]
    hashes = [row["text_hash"] for row in rows]
    url_query = select(Article.canonical_url).where(col(Article.canonical_url).in_(urls))
    hash_query = select(Article.text_hash).where(col(Article.text_hash).in_(hashes))
    return set(session.exec(url_query).all()), set(session.exec(hash_query).all())


def _duplicate_reason(
    row: dict[str, Any], *, known_urls: set[str], known_hashes: set[str]
) -> DuplicateReason | None:
    if row["canonical_url"] in known_urls:
        return "same URL"
    if row["text_hash"] in known_hashes:
        return "same text"
    return None


def iter_articles(*, session: Session, batch: int = 500) -> Iterator[tuple[Article, str]]:
    """Every stored article with its source name, oldest first, read in batches."""
    last_id = 0
    while True:
        query = (
            select(Article, Source.name)
            .join(Source, col(Source.id) == col(Article.source_id))
            .where(col(Article.id) > last_id)
            .order_by(col(Article.id))
            .limit(batch)
        )
        rows = session.exec(query).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1][0].id or last_id


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
