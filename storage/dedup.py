"""Storing a batch of articles with deduplication at three levels.

    stored = add_articles(session=session, articles=batch, source_ids=ids, run_id=run.id)

1. Same URL: the canonical URL is unique. If the text at that URL changed, the
   article gets a new version (the old text goes to `article_versions`); it is
   not a new article and fires no new alert.
2. Same text: the hash of the normalised text is unique; a copy at another URL
   is a duplicate.
3. Same story: a new article joins the story of its near-duplicate within the
   story window, or starts one (`storage.story_index`).

Uniqueness is decided by the schema (`ON CONFLICT DO NOTHING`), so two
processes storing the same article at once store it once; the pre-checks only
name the reason. Nothing here commits: the caller's transaction also holds the
alerts the new articles fire.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.articles import insert_articles, insert_ignoring_conflicts
from storage.conflicts import lock_keys
from storage.fingerprints import canonical_url, text_hash
from storage.models import Article, ArticleVersion, EntryGuid, table_of, utcnow
from storage.schemas import ArticleIn
from storage.stories import Fingerprint, StoryOptions, fingerprint
from storage.story_index import attach_articles, place_in_stories

DuplicateReason = Literal["same URL", "same text"]
_UNIQUE = ("canonical_url", "text_hash")  # an article's columns no two articles share


@dataclass
class Stored:
    """What one batch did to the store."""

    new: list[Article] = field(default_factory=list)
    updated: list[Article] = field(default_factory=list)  # same URL, new text: a new version
    duplicates: list[tuple[ArticleIn, DuplicateReason]] = field(default_factory=list)


@dataclass
class _Known:
    """What the store holds for this batch's URLs and hashes, kept current as rows go in."""

    by_url: dict[str, Article]
    hashes: set[str]


def add_articles(
    *,
    session: Session,
    articles: Sequence[ArticleIn],
    source_ids: dict[str, int],
    run_id: int | None,
    stories: StoryOptions | None = None,
    now: datetime | None = None,
) -> Stored:
    """Store what is new in `articles`; version changed texts; say why the rest repeat.

    New articles go in together, a few statements for all of them (see
    `_insert_new`); an article repeating the URL or text of one waiting to go in
    sends those in first, so that it is judged against them as it would be in
    another batch. On PostgreSQL the batch's URLs and text hashes are locked first
    (`storage.conflicts.lock_keys`), until the caller's transaction ends.
    """
    now = now or utcnow()
    options = stories or StoryOptions()
    rows = [_row(article, source_ids=source_ids, run_id=run_id, now=now) for article in articles]
    # before reading what is stored: a run storing some of the same articles is waited for
    lock_keys(session, (f"{key} {row[key]}" for row in rows for key in _UNIQUE))
    known = _known(session=session, rows=rows)
    result = Stored()
    waiting = _Waiting()
    for article, row in zip(articles, rows, strict=True):
        if waiting.repeated_by(row):
            _insert_new(session, waiting, known=known, result=result, options=options, now=now)
        stored = known.by_url.get(row["canonical_url"])
        if stored is not None:
            _same_url(session, article, row, stored=stored, known=known, result=result)
        elif row["text_hash"] in known.hashes:
            result.duplicates.append((article, "same text"))
        else:
            waiting.add(article, row)
    _insert_new(session, waiting, known=known, result=result, options=options, now=now)
    _remember_guids(session, rows, known=known)
    return result


@dataclass
class _Waiting:
    """New articles not inserted yet, with their rows."""

    articles: list[tuple[ArticleIn, dict[str, Any]]] = field(default_factory=list)
    urls: set[str] = field(default_factory=set)
    hashes: set[str] = field(default_factory=set)

    def add(self, article: ArticleIn, row: dict[str, Any]) -> None:
        self.articles.append((article, row))
        self.urls.add(row["canonical_url"])
        self.hashes.add(row["text_hash"])

    def repeated_by(self, row: dict[str, Any]) -> bool:
        return row["canonical_url"] in self.urls or row["text_hash"] in self.hashes

    def clear(self) -> None:
        self.articles.clear()
        self.urls.clear()
        self.hashes.clear()


def _row(
    article: ArticleIn, *, source_ids: dict[str, int], run_id: int | None, now: datetime
) -> dict[str, Any]:
    values = article.model_dump(exclude={"source"})
    prepared = article.prepared
    hashed = prepared.text_hash if prepared and prepared.fits(article.text) else None
    return {
        **values,
        "source_id": source_ids[article.source],
        "canonical_url": canonical_url(article.url),
        "text_hash": hashed or text_hash(article.text),
        "fetched_at": now,
        "run_id": run_id,
    }


def _known(*, session: Session, rows: list[dict[str, Any]]) -> _Known:
    urls = {row["canonical_url"] for row in rows}
    hashes = {row["text_hash"] for row in rows}
    by_url = session.exec(select(Article).where(col(Article.canonical_url).in_(urls))).all()
    hash_query = select(Article.text_hash).where(col(Article.text_hash).in_(hashes))
    return _Known({a.canonical_url: a for a in by_url}, set(session.exec(hash_query).all()))


def _same_url(
    session: Session,
    article: ArticleIn,
    row: dict[str, Any],
    *,
    stored: Article,
    known: _Known,
    result: Stored,
) -> None:
    """The URL is stored: either the same text again, or a new version of the article."""
    if row["text_hash"] == stored.text_hash or row["text_hash"] in known.hashes:
        result.duplicates.append((article, "same URL"))
        return
    assert stored.id is not None  # read from the store
    session.add(
        ArticleVersion(
            article_id=stored.id,
            version=stored.version,
            title=stored.title,
            text=stored.text,
            text_hash=stored.text_hash,
            fetched_at=stored.fetched_at,
            replaced_at=row["fetched_at"],
        )
    )
    changes = {
        key: row[key] for key in ("title", "text", "text_hash", "author", "published_at")
    } | {"fetched_at": row["fetched_at"], "version": stored.version + 1}
    session.execute(update(Article).where(col(Article.id) == stored.id).values(**changes))
    updated = Article(**(stored.model_dump() | changes))  # not in the session: survives commit
    known.by_url[row["canonical_url"]] = updated
    known.hashes.add(row["text_hash"])
    result.updated.append(updated)


def _insert_new(
    session: Session,
    waiting: _Waiting,
    *,
    known: _Known,
    result: Stored,
    options: StoryOptions,
    now: datetime,
) -> None:
    """Insert the waiting articles in their stories: one statement for the articles, a few
    for their stories (`storage.story_index`), whatever their number. An article that
    another process stored between the pre-check and the insert is a duplicate."""
    if not waiting.articles:
        return
    prints = [_fingerprint(article, row, options=options) for article, row in waiting.articles]
    placed = place_in_stories(
        session=session,
        entries=[(fp, row["title"]) for fp, (_, row) in zip(prints, waiting.articles, strict=True)],
        now=now,
        options=options,
    )
    params = [
        {**row, "story_id": where.story_id}
        for (_, row), where in zip(waiting.articles, placed, strict=True)
    ]
    inserted = dict(session.execute(insert_articles(session), params).tuples().all())
    ids = [inserted.get(row["canonical_url"]) for _, row in waiting.articles]
    attach_articles(session=session, placed=placed, article_ids=ids, now=now)
    for (article, row), where, article_id in zip(waiting.articles, placed, ids, strict=True):
        if article_id is None:
            result.duplicates.append((article, "same URL"))
            continue
        stored = Article(id=article_id, story_id=where.story_id, **row)
        known.by_url[row["canonical_url"]] = stored
        known.hashes.add(row["text_hash"])
        result.new.append(stored)
    waiting.clear()


def _fingerprint(article: ArticleIn, row: dict[str, Any], *, options: StoryOptions) -> Fingerprint:
    """The fingerprint an extraction worker prepared, when it is still the text's."""
    prepared = article.prepared
    if prepared is not None and prepared.fits(article.text, options):
        return prepared.fingerprint
    return fingerprint(row["text"], options=options)


def _remember_guids(session: Session, rows: list[dict[str, Any]], *, known: _Known) -> None:
    """Remember the batch's feed entries, so the next poll skips them without a page
    request: with the id of the article stored at their URL, if any.

    In key order, not the feed's: two runs of a source remembering the same entries
    (under other URLs and texts, so their articles' locks do not order them) would
    otherwise each hold one the other waits on."""
    values = [
        {
            "source_id": row["source_id"],
            "guid": row["guid"],
            "article_id": _stored_id(known, row),
            "created_at": row["fetched_at"],
        }
        for row in rows
        if row.get("guid")
    ]
    values.sort(key=lambda value: (value["source_id"], value["guid"]))
    if values:
        table = table_of(EntryGuid)
        session.execute(insert_ignoring_conflicts(session, table), values)


def _stored_id(known: _Known, row: dict[str, Any]) -> int | None:
    stored = known.by_url.get(row["canonical_url"])
    return stored.id if stored is not None else None
