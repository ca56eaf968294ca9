"""Same-story indexing cost as the store grows: per article, and in bytes.

    python -m benchmarks.dedup [--sizes 10000 100000] [--database-url URL]

Fills a fresh store (a temporary SQLite file, or a temporary schema in the
PostgreSQL at URL) with synthetic articles made from the corpus sentences, and
at each size times the last `--measure` inserts done the way `add_articles`
does them. Baselines measured in the same run: the plain article insert, and
the cost at the first size, so the ratios say whether indexing stays flat.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, insert, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from benchmarks.stores import temporary_store
from storage.articles import ensure_sources, insert_articles
from storage.fingerprints import text_hash
from storage.models import Article, Story, StoryBand, StorySignature
from storage.stories import fingerprint
from storage.story_index import Placed, attach_articles, place_in_stories

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "articles"
NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
FILL_BATCH = 2000
BATCH = 50  # articles stored together, as a run stores them (flows.monitor.BATCH_SIZE)
INDEX_TABLES = ("story_signatures", "story_bands")
STORIES = Story.__table__  # type: ignore[attr-defined]


class Corpus:
    """Synthetic articles: corpus sentences shuffled together, some words replaced.

    Two synthetic articles rarely share more than a sentence, so most start a
    story of their own; `near_duplicate` makes a copy with 2% of words edited.
    """

    def __init__(self, bodies: list[str], seed: int) -> None:
        self.rng = random.Random(seed)
        self.sentences = [s for b in bodies for s in re.split(r"(?<=[.!?])\s+", b) if len(s) > 20]
        self.vocabulary = sorted({word for body in bodies for word in body.split()})

    def article(self) -> str:
        chosen = self.rng.sample(self.sentences, self.rng.randint(12, 25))
        return self._edited(" ".join(chosen), 0.10)

    def near_duplicate(self, text: str) -> str:
        return self._edited(text, 0.02)

    def _edited(self, text: str, rate: float) -> str:
        words = text.split(" ")
        for _ in range(int(len(words) * rate)):
            words[self.rng.randrange(len(words))] = self.rng.choice(self.vocabulary)
        return " ".join(words)


@dataclass
class Sample:
    """Timings of the measured inserts at one size."""

    size: int
    story_ms: float  # fingerprints + place_in_stories + attach_articles, per article
    insert_ms: float  # the article row alone, per article
    joined: float  # share of measured articles that joined an existing story
    index_bytes: float  # signature + band rows and their indexes, per indexed article
    rss_growth_kb: int


def load_bodies() -> list[str]:
    truth = json.loads((CORPUS / "ground-truth.json").read_text(encoding="utf-8"))
    return [truth[key]["articleBody"] for key in sorted(truth)]


def fill(*, engine: Engine, corpus: Corpus, source_id: int, count: int) -> None:
    """`count` articles with one story each, inserted in batches straight into the tables.

    Their index rows are spread over the window before NOW, so every one is a
    live candidate when the measured articles are looked up: the worst case.
    """
    for first in range(0, count, FILL_BATCH):
        texts = [corpus.article() for _ in range(min(FILL_BATCH, count - first))]
        when = [NOW - timedelta(seconds=corpus.rng.randrange(6 * 86400)) for _ in texts]
        with Session(engine) as session:
            stories = _insert_many(session, Story, [_story(w) for w in when])
            rows = [
                {**_article(t, source_id, w), "story_id": story_id}
                for t, w, story_id in zip(texts, when, stories, strict=True)
            ]
            articles = _insert_many(session, Article, rows)
            _insert_index(session, texts=texts, when=when, articles=articles, stories=stories)
            session.commit()


def _insert_many(session: Session, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    statement = insert(model).returning(model.id, sort_by_parameter_order=True)
    return list(session.execute(statement, rows).scalars())


def _insert_index(
    session: Session,
    *,
    texts: list[str],
    when: list[datetime],
    articles: list[int],
    stories: list[int],
) -> None:
    prints = [fingerprint(t) for t in texts]
    rows = list(zip(articles, stories, prints, when, strict=True))
    session.execute(
        insert(StorySignature),
        [
            {"article_id": a, "story_id": s, "signature": fp.signature, "created_at": w}
            for a, s, fp, w in rows
        ],
    )
    session.execute(
        insert(StoryBand),
        [
            {"band": band, "article_id": a, "created_at": w}
            for a, _, fp, w in rows
            for band in fp.bands
        ],
    )
    session.execute(
        update(STORIES)
        .where(STORIES.c.id == bindparam("story"))
        .values(first_article_id=bindparam("article")),
        [{"story": s, "article": a} for a, s, _, _ in rows],
    )


def _story(when: datetime) -> dict[str, Any]:
    return {"title": "Filled", "first_seen_at": when, "last_seen_at": when, "article_count": 1}


def _article(body: str, source_id: int, when: datetime) -> dict[str, Any]:
    url = f"https://bench.test/{uuid.uuid4().hex}"
    return {
        "source_id": source_id,
        "url": url,
        "canonical_url": url,
        "title": body[:60],
        "text": body,
        "text_hash": text_hash(body),
        "origin": "feed",
        "fetched_at": when,
        "version": 1,
    }


def measure(
    *, engine: Engine, corpus: Corpus, source_id: int, size: int, count: int, recent: list[str]
) -> Sample:
    """Insert `count` articles the way `add_articles` does, in batches, one in ten a
    near-duplicate."""
    story_s = insert_s = 0.0
    joined = 0
    rss = _rss_kb()
    with Session(engine) as session:
        for first in range(0, count, BATCH):
            bodies = [
                corpus.near_duplicate(corpus.rng.choice(recent))
                if n % 10 == 0
                else corpus.article()
                for n in range(first, min(first + BATCH, count))
            ]
            started = time.perf_counter()
            placed = place_in_stories(
                session=session, entries=[(fingerprint(b), b[:60]) for b in bodies], now=NOW
            )
            looked_up = time.perf_counter()
            ids = _insert_articles(session, bodies, placed, source_id=source_id)
            inserted = time.perf_counter()
            attach_articles(session=session, placed=placed, article_ids=ids, now=NOW)
            story_s += looked_up - started + time.perf_counter() - inserted
            insert_s += inserted - looked_up
            joined += sum(not p.created for p in placed)
            session.commit()
    return Sample(
        size=size,
        story_ms=1000 * story_s / count,
        insert_ms=1000 * insert_s / count,
        joined=joined / count,
        index_bytes=index_bytes(engine),
        rss_growth_kb=_rss_kb() - rss,
    )


def store_recent(*, engine: Engine, texts: list[str], source_id: int) -> None:
    """Store `texts` through the real path, so that near-duplicates of them can be measured."""
    with Session(engine) as session:
        for first in range(0, len(texts), BATCH):
            bodies = texts[first : first + BATCH]
            entries = [(fingerprint(b), "t") for b in bodies]
            placed = place_in_stories(session=session, entries=entries, now=NOW)
            ids = _insert_articles(session, bodies, placed, source_id=source_id)
            attach_articles(session=session, placed=placed, article_ids=ids, now=NOW)
        session.commit()


def _insert_articles(
    session: Session, bodies: list[str], placed: list[Placed], *, source_id: int
) -> list[int | None]:
    """The article rows, in one statement as `add_articles` inserts them: their ids."""
    rows = [
        {**_article(b, source_id, NOW), "story_id": p.story_id}
        for b, p in zip(bodies, placed, strict=True)
    ]
    inserted = dict(session.execute(insert_articles(session), rows).tuples().all())
    return [inserted.get(row["canonical_url"]) for row in rows]


def index_bytes(engine: Engine) -> float:
    """Bytes of the index tables and their indexes, per indexed article."""
    with engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM story_signatures")).scalar_one()
        if engine.dialect.name == "sqlite":
            query = (
                "SELECT sum(d.pgsize) FROM dbstat d JOIN sqlite_schema s ON s.name = d.name"
                " WHERE s.tbl_name = :t"
            )
        else:
            query = "SELECT pg_total_relation_size(:t)"
        total = sum(connection.execute(text(query), {"t": t}).scalar_one() for t in INDEX_TABLES)
    return total / max(count, 1)


def _rss_kb() -> int:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]


def run(*, sizes: list[int], database_url: str | None, count: int, seed: int) -> list[Sample]:
    corpus = Corpus(load_bodies(), seed)
    samples = []
    with temporary_store(database_url) as engine:
        with Session(engine) as session:
            source_id = ensure_sources(session=session, sources=[("bench", "feed", "bench")])[
                "bench"
            ]
            session.commit()
        stored = 0
        for size in sorted(sizes):
            recent = [corpus.article() for _ in range(200)]
            began = time.perf_counter()
            filled = size - count - len(recent) - stored
            fill(engine=engine, corpus=corpus, source_id=source_id, count=filled)
            store_recent(engine=engine, texts=recent, source_id=source_id)
            print(f"filled {filled} articles in {time.perf_counter() - began:.0f} s", flush=True)
            samples.append(
                measure(
                    engine=engine,
                    corpus=corpus,
                    source_id=source_id,
                    size=size,
                    count=count,
                    recent=recent,
                )
            )
            stored = size
    return samples


def report(samples: list[Sample], backend: str) -> None:
    base = samples[0]
    print(f"\nsame-story indexing on {backend} (per article, last measured inserts at each size)")
    print(
        f"{'stored':>8} {'story ms':>9} {'insert ms':>10} {'story/insert':>13} "
        f"{'vs first':>9} {'joined':>7} {'index B':>8} {'RSS +KB':>8}"
    )
    for s in samples:
        print(
            f"{s.size:>8} {s.story_ms:>9.3f} {s.insert_ms:>10.3f} {s.story_ms / s.insert_ms:>13.2f}"
            f" {s.story_ms / base.story_ms:>9.2f} {s.joined:>7.1%} {s.index_bytes:>8.0f}"
            f" {s.rss_growth_kb:>8}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dedup", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite)")
    parser.add_argument("--measure", type=int, default=1000, help="timed inserts per size")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if not (CORPUS / "ground-truth.json").exists():
        parser.exit(2, f"the corpus is absent: {CORPUS / 'ground-truth.json'}\n")
    samples = run(
        sizes=args.sizes, database_url=args.database_url, count=args.measure, seed=args.seed
    )
    report(samples, "PostgreSQL" if args.database_url else "SQLite")


if __name__ == "__main__":
    main()
