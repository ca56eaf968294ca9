"""The persisted story index: which story each new article joins, batch by batch.

    placed = place_in_stories(session=session, entries=[(fp, title), ...], now=now)
    ...insert the articles, each with placed[n].story_id...
    attach_articles(session=session, placed=placed, article_ids=ids, now=now)

Each stored article has its MinHash signature and LSH band keys
(`storage.stories.fingerprint`) in `story_signatures` and `story_bands`, so
nothing is rebuilt between runs and finding a batch's candidates is one indexed
`IN` query whatever the size of the store. A candidate joins when the estimated Jaccard
similarity of the two signatures reaches the threshold. Functions here never
commit: the caller owns the transaction.

Two processes storing near-duplicates at the same instant can each start a story;
they stay two stories (nothing merges stories afterwards).

Candidates are looked up among the articles stored within the story window only, so
the rows of older articles are never read again: `prune_story_index` removes them
(each run does, after storing), else they would take ~2 KB an article forever.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, delete, insert, select, update
from sqlmodel import Session, col

from storage.articles import chunks
from storage.models import (
    Article,
    Source,
    Story,
    StoryBand,
    StorySignature,
    UTCDateTime,
    table_of,
)
from storage.stories import DEFAULT_OPTIONS, Fingerprint, StoryOptions, estimate_jaccard

# Statements are built once: building them per batch cost more than running them.
# Core tables, not the models, so that the ORM's bulk machinery stays out of the way.
_STORIES = table_of(Story)
_SIGNATURES = table_of(StorySignature)
_BANDS = table_of(StoryBand)
_NEW_STORIES = insert(_STORIES).returning(_STORIES.c.id, sort_by_parameter_order=True)
_HOLDERS = select(_BANDS.c.article_id, _BANDS.c.band).where(
    _BANDS.c.band.in_(bindparam("bands", expanding=True)),
    _BANDS.c.created_at >= bindparam("since"),
)
_SIGNATURES_OF = select(
    _SIGNATURES.c.article_id, _SIGNATURES.c.story_id, _SIGNATURES.c.signature
).where(_SIGNATURES.c.article_id.in_(bindparam("ids", expanding=True)))
_FIRST_ARTICLE = (
    update(_STORIES)
    .where(_STORIES.c.id == bindparam("story"))
    .values(first_article_id=bindparam("article"), article_count=bindparam("count"))
)
_NOW = bindparam("now", type_=UTCDateTime())
PRUNE_MARGIN = timedelta(days=1)  # past the window: a run that started earlier may still read
PRUNE_LIMIT = 5000  # articles a run prunes at most: a store's backlog goes over several runs
_AGED = (
    select(_SIGNATURES.c.article_id)
    .where(_SIGNATURES.c.created_at < bindparam("cutoff", type_=UTCDateTime()))
    .order_by(_SIGNATURES.c.created_at)
)
_MORE_ARTICLES = (
    update(_STORIES)
    .where(_STORIES.c.id == bindparam("story"))
    .values(
        article_count=_STORIES.c.article_count + bindparam("added"),
        last_seen_at=case((_STORIES.c.last_seen_at < _NOW, _NOW), else_=_STORIES.c.last_seen_at),
    )
)


@dataclass(frozen=True)
class Placed:
    """The story a new article joins, and whether it started that story."""

    story_id: int
    created: bool
    fingerprint: Fingerprint


def place_in_stories(
    *,
    session: Session,
    entries: Sequence[tuple[Fingerprint, str]],
    now: datetime,
    options: StoryOptions = DEFAULT_OPTIONS,
) -> list[Placed]:
    """The story each (fingerprint, title) joins, in order: the story of its most similar
    recent article at or above the threshold, stored or earlier in `entries`, else a new
    story, inserted with that title and `now` as first and last seen.

    Two queries and one insert for the whole batch, whatever its size: the recent
    stored articles sharing band keys with any entry, the signatures of each entry's
    best candidates (those sharing the most keys), the new stories (on SQLite one
    insert per new story: it does not say which id went to which row of one insert,
    and it answers in-process, with no round trip to save). The title only
    names the story: outlets rewrite headlines, so it is not compared.
    `attach_articles` completes the stories once the articles are stored.
    """
    targets = _targets(session, [fp for fp, _ in entries], now=now, options=options)
    starters = [number for number, target in enumerate(targets) if target == _NewStory(number)]
    rows = [{"title": entries[n][1], "first_seen_at": now, "last_seen_at": now} for n in starters]
    ids = session.execute(_NEW_STORIES, rows).scalars().all() if rows else []
    new_ids = dict(zip(starters, ids, strict=True))
    return [
        Placed(
            story_id=target if isinstance(target, int) else new_ids[target.starter],
            created=target == _NewStory(number),
            fingerprint=fp,
        )
        for number, (target, (fp, _)) in enumerate(zip(targets, entries, strict=True))
    ]


def _targets(
    session: Session, fingerprints: list[Fingerprint], *, now: datetime, options: StoryOptions
) -> list[_Target]:
    """Each fingerprint's story: that of its most similar candidate at or above the
    threshold, else a new one. Candidates are ranked as the store would rank them had
    the earlier fingerprints been stored one by one: most shared band keys first, then
    stored before new, oldest first; the first `options.candidates` are compared."""
    ranked = _ranked(session, fingerprints, since=now - options.window, options=options)
    stored = _signatures(session, {article for found in ranked for article, _ in found})
    targets: list[_Target] = []
    for number, fp in enumerate(fingerprints):
        bands = set(fp.bands)
        found = [
            (-hits, 0, article, stored[article])
            for article, hits in ranked[number]
            if article in stored
        ]
        for earlier in range(number):
            if shared := len(bands.intersection(fingerprints[earlier].bands)):
                candidate = (targets[earlier], fingerprints[earlier].signature)
                found.append((-shared, 1, earlier, candidate))
        found.sort(key=lambda rank: rank[:3])
        best = _best(fp, [rank[3] for rank in found[: options.candidates]], options=options)
        targets.append(_NewStory(starter=number) if best is None else best)
    return targets


@dataclass(frozen=True)
class _NewStory:
    """A story started in this batch, by the entry numbered `starter`."""

    starter: int


_Target = int | _NewStory  # a stored story's id, or a story this batch starts


def _ranked(
    session: Session, fingerprints: list[Fingerprint], *, since: datetime, options: StoryOptions
) -> list[list[tuple[int, int]]]:
    """For each fingerprint, the recent stored articles sharing the most band keys with it
    and how many (at most `options.candidates`, most keys first): one query for all.

    A band row comes back once however many fingerprints share it, but a story run
    by N outlets within the window brings up to 16 N rows: with 5,000 copies stored,
    a batch holding copies took ~0.15 s to place (the per-article lookups this
    replaced, each aggregating the same rows in the database: 0.14-0.40 s).
    """
    holders: dict[int, list[int]] = defaultdict(list)
    wanted = sorted({band for fp in fingerprints for band in fp.bands})
    for chunk in chunks(wanted):
        for article_id, band in session.execute(_HOLDERS, {"bands": chunk, "since": since}):
            holders[band].append(article_id)
    ranked = []
    for fp in fingerprints:
        hits = Counter(article for band in fp.bands for article in holders.get(band, ()))
        ranked.append(
            sorted(hits.items(), key=lambda item: (-item[1], item[0]))[: options.candidates]
        )
    return ranked


def _signatures(session: Session, article_ids: set[int]) -> dict[int, tuple[_Target, bytes]]:
    """The story and signature of each of `article_ids`."""
    found: dict[int, tuple[_Target, bytes]] = {}
    for chunk in chunks(sorted(article_ids)):
        rows = session.execute(_SIGNATURES_OF, {"ids": chunk})
        found.update(
            (article_id, (story_id, signature)) for article_id, story_id, signature in rows
        )
    return found


def _best(
    fp: Fingerprint, candidates: list[tuple[_Target, bytes]], *, options: StoryOptions
) -> _Target | None:
    """The story of the most similar candidate at or above the threshold (the first of equals)."""
    best: tuple[float, _Target] | None = None
    for target, signature in candidates:
        score = estimate_jaccard(fp.signature, signature)
        if score >= options.threshold and (best is None or score > best[0]):
            best = (score, target)
    return None if best is None else best[1]


def attach_articles(
    *,
    session: Session,
    placed: Sequence[Placed],
    article_ids: Sequence[int | None],
    now: datetime,
) -> None:
    """Index the stored articles and record them on their stories: `article_ids[n]` is the
    id `placed[n]`'s article was stored with, or None when it was not stored after all
    (another process stored it first).

    A story started in this batch gets its first stored article and their count, or is
    deleted when none of its articles was stored; any other story counts its new
    articles and was last seen at `now` (never earlier than it already was, should
    clocks or processes disagree). A few statements for the whole batch.
    """
    stored: dict[int, list[int]] = {p.story_id: [] for p in placed}
    for p, article_id in zip(placed, article_ids, strict=True):
        if article_id is not None:
            stored[p.story_id].append(article_id)
    _index(session, placed, article_ids, now=now)
    _count(session, stored, started={p.story_id for p in placed if p.created}, now=now)


def _index(
    session: Session, placed: Sequence[Placed], article_ids: Sequence[int | None], *, now: datetime
) -> None:
    """The stored articles' signatures and band keys: one insert per table."""
    signatures, bands = [], []
    for p, article_id in zip(placed, article_ids, strict=True):
        if article_id is None:
            continue
        signature = p.fingerprint.signature
        signatures.append(
            {
                "article_id": article_id,
                "story_id": p.story_id,
                "created_at": now,
                "signature": signature,
            }
        )
        bands += [
            {"band": b, "article_id": article_id, "created_at": now} for b in p.fingerprint.bands
        ]
    if signatures:
        session.execute(insert(_SIGNATURES), signatures)
        session.execute(insert(_BANDS), bands)


def _count(
    session: Session, stored: dict[int, list[int]], *, started: set[int], now: datetime
) -> None:
    """Each story's new articles (`stored`, by story id) recorded on it.

    Stories are updated in id order, so two runs adding to the same stories lock
    them in the same order and wait for each other instead of deadlocking.
    """
    by_id = sorted(stored.items())
    firsts = [
        {"story": story, "article": ids[0], "count": len(ids)}
        for story, ids in by_id
        if story in started and ids
    ]
    more = [
        {"story": story, "added": len(ids), "now": now}
        for story, ids in by_id
        if story not in started and ids
    ]
    empty = [story for story, ids in stored.items() if story in started and not ids]
    if firsts:
        session.execute(_FIRST_ARTICLE, firsts)
    if more:
        session.execute(_MORE_ARTICLES, more)
    if empty:
        session.execute(delete(_STORIES).where(_STORIES.c.id.in_(empty)))


def story_outlets(*, session: Session, story_id: int) -> list[str]:
    """Names of the sources that ran the story, each once, in the order they were stored."""
    query = (
        select(col(Source.name))
        .join(Article, col(Article.source_id) == col(Source.id))
        .where(col(Article.story_id) == story_id)
        .order_by(col(Article.id))
    )
    return list(dict.fromkeys(session.execute(query).scalars()))


def prune_story_index(
    *,
    session: Session,
    now: datetime,
    options: StoryOptions = DEFAULT_OPTIONS,
    limit: int | None = PRUNE_LIMIT,
) -> int:
    """Remove the signatures and band keys of articles stored more than the story window
    (and `PRUNE_MARGIN`) before `now`, at most `limit` articles' (oldest first): no lookup
    reads them again. The number of articles whose rows went. The articles and their
    stories stay; a window made longer later reaches back only as far as what is left."""
    aged = _AGED.limit(limit) if limit is not None else _AGED
    cutoff = now - options.window - PRUNE_MARGIN
    ids = sorted(session.execute(aged, {"cutoff": cutoff}).scalars())
    for chunk in chunks(ids):  # in id order: two runs pruning at once lock rows alike
        session.execute(delete(_BANDS).where(_BANDS.c.article_id.in_(chunk)))
        session.execute(delete(_SIGNATURES).where(_SIGNATURES.c.article_id.in_(chunk)))
    return len(ids)
