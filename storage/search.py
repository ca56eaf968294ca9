"""Full-text search over stored articles, and the biggest recent stories.

    hits = search(session=session, query='"north korea" missile -test', since=week_ago)
    hits[0].snippet   # '… fired a [missile] over the sea …'

The query language is the same on both backends: words must all occur,
`"a phrase"` must occur as written, `OR` (upper case) between words or groups
means either, and `-word` or `-"a phrase"` excludes. Nothing else is syntax:
`*`, `(`, `NEAR`, `AND`, quotes left open and SQL are searched as plain words or
dropped when they hold no letters, so user input never reaches the engine as
syntax. SQLite matches through the FTS5 table `articles_fts`, PostgreSQL
through the tsvector table `articles_fts` and its GIN index (migration 0002_search);
neither stems words, and both fold diacritics ("Pjöngjang" finds "Pjongjang";
on PostgreSQL only when the server had the `unaccent` extension to install).

Snippets come from the article text with each matched word wrapped in `[` `]`;
square brackets of the text itself show as parentheses, so every bracket in a
snippet is a highlight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, bindparam, column, func, literal_column, table
from sqlmodel import Session, col, select

from storage.models import Article, Source, Story

MARK_START, MARK_END = "[", "]"
_RAW_START, _RAW_END = "\x02", "\x03"  # what the engines emit; never in extracted text
_TOKEN = re.compile(r'(?P<quoted_not>-?)"(?P<phrase>[^"]*)"?|(?P<word_not>-?)(?P<word>[^\s"]+)')
_OPERATORS = {"AND", "OR", "NOT"}  # as the rules write them: upper case, unquoted
_WORDY = re.compile(r"[^\W_]")  # a letter or digit: something either tokenizer indexes
_HIGHLIGHT = re.compile(r"\[([^\]]*)\]")


@dataclass(frozen=True)
class SearchHit:
    """One matching article; `score` is higher for better matches and only
    comparable with the other hits of the same search."""

    article_id: int
    title: str
    url: str
    source: str
    published_at: datetime | None
    story_id: int
    score: float
    snippet: str

    @property
    def highlights(self) -> list[str]:
        """The marked words of the snippet, in order."""
        return _HIGHLIGHT.findall(self.snippet)

    def to_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "title": self.title,
            "url": self.url,
            "source": self.source,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "story_id": self.story_id,
            "score": self.score,
            "snippet": self.snippet,
            "highlights": self.highlights,
        }


@dataclass(frozen=True)
class StoryView:
    """A story with the names of the outlets that ran it, first to run it first."""

    id: int
    title: str
    first_seen_at: datetime
    last_seen_at: datetime
    article_count: int
    outlets: list[str]
    first_url: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "first_seen_at": self.first_seen_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
            "article_count": self.article_count,
            "outlets": self.outlets,
            "first_url": self.first_url,
        }


@dataclass(frozen=True)
class Term:
    """One word or phrase of a parsed query; `excluded` when it came as `-word` or after
    NOT."""

    words: str
    excluded: bool


def search(
    *,
    session: Session,
    query: str,
    since: datetime | None = None,
    source: str | None = None,
    limit: int = 20,
    until: datetime | None = None,
) -> list[SearchHit]:
    """Articles matching `query`, best first; `since` (from, inclusive) and `until` (up to,
    exclusive) apply to the publication time (the fetch time when that is unknown),
    `source` to the source name.
    Raises ValueError, with a one-line message, for a query with nothing to find."""
    groups = parse_query(query)
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    filters = _filters(since=since, until=until, source=source)
    if session.get_bind().dialect.name == "sqlite":
        statement = _sqlite_search(fts5_query(groups), filters=filters, limit=limit)
    else:
        statement = _postgres_search(websearch_query(groups), filters=filters, limit=limit)
    return [_hit(row) for row in session.execute(statement)]


def parse_query(query: str) -> list[list[Term]]:
    """The query as OR-ed groups of terms that must all hold; ValueError when it
    has nothing to look for."""
    if not query.strip():
        raise ValueError("empty search query: give at least one word to look for")
    groups: list[list[Term]] = [[]]
    negated = False  # by a NOT before the term
    for match in _TOKEN.finditer(query):
        operator = match["word"] if match["word"] in _OPERATORS and not match["word_not"] else None
        if operator:  # AND joins what every term is anyway: required
            if operator == "OR":
                groups.append([])
            negated = operator == "NOT"
            continue
        words = " ".join((match["phrase"] if match["word"] is None else match["word"]).split())
        if _WORDY.search(words):
            excluded = negated or bool(match["quoted_not"] or match["word_not"])
            groups[-1].append(Term(words, excluded))
        negated = False
    groups = [group for group in groups if group]
    if not groups:
        raise ValueError(f"no words to look for in search query {query!r}")
    for group in groups:
        if all(term.excluded for term in group):
            raise ValueError(f"search query {query!r} excludes words but looks for none")
    return groups


def fts5_query(groups: list[list[Term]]) -> str:
    """FTS5 MATCH syntax: every term a quoted string, NOT after the wanted terms."""

    def quoted(term: Term) -> str:
        return '"' + term.words.replace('"', '""') + '"'

    rendered = [
        " ".join(quoted(t) for t in group if not t.excluded)
        + "".join(f" NOT {quoted(t)}" for t in group if t.excluded)
        for group in groups
    ]
    return rendered[0] if len(rendered) == 1 else " OR ".join(f"({g})" for g in rendered)


def websearch_query(groups: list[list[Term]]) -> str:
    """The same query in `websearch_to_tsquery` syntax, every term quoted."""
    return " or ".join(
        " ".join(f'{"-" if t.excluded else ""}"{t.words}"' for t in group) for group in groups
    )


def _filters(
    *, since: datetime | None, until: datetime | None, source: str | None
) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    when = func.coalesce(col(Article.published_at), col(Article.fetched_at))
    if since is not None:
        filters.append(when >= since)
    if until is not None:
        filters.append(when < until)
    if source is not None:
        filters.append(col(Source.name) == source)
    return filters


def _hit_columns() -> tuple[Any, ...]:
    """A hit's columns, selected with SQLAlchemy's `select`: sqlmodel's is typed for four
    columns at most."""
    return (
        col(Article.id),
        col(Article.title),
        col(Article.url),
        col(Source.name).label("source"),
        col(Article.published_at),
        col(Article.story_id),
    )


def _sqlite_search(match: str, *, filters: list[ColumnElement[bool]], limit: int) -> Select[Any]:
    fts = table("articles_fts", column("rowid"))
    name: ColumnElement[Any] = literal_column("articles_fts")
    score = (-func.bm25(name, 10.0, 1.0)).label("score")
    snippet = func.snippet(name, 1, _RAW_START, _RAW_END, "…", 24).label("snippet")
    return (
        sa.select(*_hit_columns(), score, snippet)
        .select_from(fts)
        .join(Article, col(Article.id) == fts.c.rowid)
        .join(Source, col(Source.id) == col(Article.source_id))
        .where(name.op("MATCH")(bindparam("match", match)), *filters)
        .order_by(score.desc(), col(Article.id).desc())
        .limit(limit)
    )


_CONFIG: ColumnElement[Any] = literal_column("'newswatch_search'::regconfig")
# D, C, B (text), A (title)
_WEIGHTS: ColumnElement[Any] = literal_column("'{0.1, 0.2, 0.1, 1.0}'::float4[]")
_HEADLINE = (
    f"StartSel={_RAW_START}, StopSel={_RAW_END}, MinWords=12, MaxWords=30, "
    'MaxFragments=1, FragmentDelimiter=" … "'
)


def _postgres_search(
    websearch: str, *, filters: list[ColumnElement[bool]], limit: int
) -> Select[Any]:
    """Rank in a subquery and make headlines only for the rows kept: `ts_headline`
    parses the whole text, too dear for every match."""
    fts = table("articles_fts", column("article_id"), column("vector"))
    tsquery = func.websearch_to_tsquery(_CONFIG, bindparam("websearch", websearch))
    score = func.ts_rank_cd(_WEIGHTS, fts.c.vector, tsquery, 1).label("score")
    ranked = (
        select(col(Article.id).label("id"), score)
        .select_from(fts)
        .join(Article, col(Article.id) == fts.c.article_id)
        .join(Source, col(Source.id) == col(Article.source_id))
        .where(fts.c.vector.op("@@")(tsquery), *filters)
        .order_by(score.desc(), col(Article.id).desc())
        .limit(limit)
        .subquery()
    )
    snippet = func.ts_headline(_CONFIG, col(Article.text), tsquery, _HEADLINE).label("snippet")
    return (
        sa.select(*_hit_columns(), ranked.c.score, snippet)
        .join(ranked, ranked.c.id == col(Article.id))
        .join(Source, col(Source.id) == col(Article.source_id))
        .order_by(ranked.c.score.desc(), col(Article.id).desc())
    )


def _hit(row: Any) -> SearchHit:
    return SearchHit(
        article_id=row.id,
        title=row.title,
        url=row.url,
        source=row.source,
        published_at=row.published_at,
        story_id=row.story_id,
        score=float(row.score),
        snippet=_marked(row.snippet or ""),
    )


def _marked(raw: str) -> str:
    plain = " ".join(raw.split()).replace("[", "(").replace("]", ")")
    return plain.replace(_RAW_START, MARK_START).replace(_RAW_END, MARK_END)


def recent_stories(
    *,
    session: Session,
    since: datetime | None = None,
    limit: int = 20,
    until: datetime | None = None,
) -> list[StoryView]:
    """Stories seen since `since` (by their latest article) and before `until` (by their
    first), biggest first, then the most recently seen; two queries whatever the number
    of stories."""
    query = (
        select(Story, Article.url)
        .outerjoin(Article, col(Article.id) == col(Story.first_article_id))
        .order_by(
            col(Story.article_count).desc(), col(Story.last_seen_at).desc(), col(Story.id).desc()
        )
        .limit(limit)
    )
    if since is not None:
        query = query.where(col(Story.last_seen_at) >= since)
    if until is not None:
        query = query.where(col(Story.first_seen_at) < until)
    rows = session.exec(query).all()
    outlets = _outlets(session=session, story_ids=[story.id for story, _ in rows if story.id])
    return [
        StoryView(
            id=story.id or 0,
            title=story.title,
            first_seen_at=story.first_seen_at,
            last_seen_at=story.last_seen_at,
            article_count=story.article_count,
            outlets=outlets.get(story.id or 0, []),
            first_url=url,
        )
        for story, url in rows
    ]


def _outlets(*, session: Session, story_ids: list[int]) -> dict[int, list[str]]:
    """Source names per story, each once, in the order their first article was stored."""
    if not story_ids:
        return {}
    first = func.min(col(Article.id)).label("first")
    query = (
        select(col(Article.story_id), col(Source.name), first)
        .join(Source, col(Source.id) == col(Article.source_id))
        .where(col(Article.story_id).in_(story_ids))
        .group_by(col(Article.story_id), col(Source.name))
        .order_by(col(Article.story_id), first)
    )
    outlets: dict[int, list[str]] = {}
    for story_id, name, _ in session.exec(query).all():
        outlets.setdefault(story_id, []).append(name)
    return outlets
