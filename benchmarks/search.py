"""Full-text search latency against a `LIKE '%term%'` scan of the same store.

    python -m benchmarks.search [--size 5000] [--repeat 5] [--database-url URL]

Fills a fresh store (a temporary SQLite file, or a temporary schema in the
PostgreSQL at URL) with `--size` synthetic articles made of corpus sentences,
then times `storage.search` per query (median of `--repeat` runs, snippets and
ranking included) and, as the baseline in the same run, the query a store
without a text index would run: `LIKE` (PostgreSQL: `ILIKE`) over title and
text, newest first, 20 rows. `matches` is how many articles the query finds in
all: ranking has to score every one of them before it can keep 20.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, or_, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from benchmarks.stores import temporary_store
from storage import search
from storage.articles import ensure_sources
from storage.fingerprints import text_hash
from storage.models import Article, Story

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "articles"
NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
BATCH = 1000
LIMIT = 20


def load_sentences() -> list[str]:
    truth = json.loads((CORPUS / "ground-truth.json").read_text(encoding="utf-8"))
    bodies = [truth[key]["articleBody"] for key in sorted(truth)]
    return [s for b in bodies for s in re.split(r"(?<=[.!?])\s+", b) if len(s) > 20]


def synthetic(sentences: list[str], rng: random.Random) -> tuple[str, str]:
    """A (title, text) pair: one sentence as title, 12-25 shuffled ones as text."""
    chosen = rng.sample(sentences, rng.randint(13, 26))
    return chosen[0][:120], " ".join(chosen[1:]) + f" ({rng.getrandbits(64):x})"


def fill(*, engine: Engine, size: int, seed: int = 7) -> None:
    """`size` articles, one story each, inserted straight into the tables in batches."""
    rng, sentences = random.Random(seed), load_sentences()
    with Session(engine) as session:
        source_id = ensure_sources(session=session, sources=[("bench", "feed", "x")])["bench"]
        session.commit()
    for first in range(0, size, BATCH):
        batch = [
            (*synthetic(sentences, rng), NOW - timedelta(minutes=rng.randrange(30 * 24 * 60)))
            for _ in range(min(BATCH, size - first))
        ]
        with Session(engine) as session:
            stories = _insert(session, Story, [_story(title, when) for title, _, when in batch])
            rows = [
                _article(title, body, source_id, when, story_id, first + n)
                for n, ((title, body, when), story_id) in enumerate(
                    zip(batch, stories, strict=True)
                )
            ]
            _insert(session, Article, rows)
            session.commit()


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    statement = insert(model).returning(model.id, sort_by_parameter_order=True)
    return list(session.execute(statement, rows).scalars())


def _story(title: str, when: datetime) -> dict[str, Any]:
    return {"title": title, "first_seen_at": when, "last_seen_at": when, "article_count": 1}


def _article(
    title: str, body: str, source_id: int, when: datetime, story_id: int, n: int
) -> dict[str, Any]:
    url = f"https://bench.test/{n}"
    return {
        "source_id": source_id,
        "url": url,
        "canonical_url": url,
        "title": title,
        "text": body,
        "text_hash": text_hash(body),
        "origin": "page",
        "published_at": when,
        "fetched_at": when,
        "story_id": story_id,
        "version": 1,
    }


# (label, query, the substring a LIKE scan would look for, or None when LIKE cannot say it)
QUERIES = [
    ("rare word", "saudi", "saudi"),
    ("uncommon word", "brexit", "brexit"),
    ("common word", "government", "government"),
    ("very common word", "people", "people"),
    ("phrase", '"white house"', "white house"),
    ("two words", "trump impeachment", None),
    ("or", "apple OR google", None),
    ("exclusion", "china -trade", None),
    ("no match", "zyzzogeton", "zyzzogeton"),
]


def timed(run: Callable[[], object], *, repeat: int) -> float:
    """Median milliseconds of `run`, after one warm-up call."""
    run()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def like_scan(session: Session, needle: str) -> list[int]:
    pattern = f"%{needle}%"
    if session.get_bind().dialect.name == "postgresql":
        hit = or_(col(Article.title).ilike(pattern), col(Article.text).ilike(pattern))
    else:
        hit = or_(col(Article.title).like(pattern), col(Article.text).like(pattern))
    query = select(Article.id).where(hit).order_by(col(Article.published_at).desc()).limit(LIMIT)
    return list(session.execute(query).scalars())


def matches(session: Session, query: str) -> int:
    return len(search(session=session, query=query, limit=1_000_000))


def measure(engine: Engine, *, repeat: int) -> list[dict[str, Any]]:
    results = []
    with Session(engine) as session:
        for label, query, needle in QUERIES:
            fts_ms = timed(lambda q=query: search(session=session, query=q), repeat=repeat)
            like_ms = (
                timed(lambda n=needle: like_scan(session, n), repeat=repeat) if needle else None
            )
            results.append(
                {
                    "query": label,
                    "text": query,
                    "matches": matches(session, query),
                    "search_ms": round(fts_ms, 2),
                    "like_ms": round(like_ms, 2) if like_ms is not None else None,
                    "ratio": round(fts_ms / like_ms, 3) if like_ms else None,
                }
            )
    return results


def analyse(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE articles, articles_fts"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="PostgreSQL; else a SQLite file")
    args = parser.parse_args()
    with temporary_store(args.database_url) as engine:
        started = time.perf_counter()
        fill(engine=engine, size=args.size)
        analyse(engine)
        with Session(engine) as session:
            count = session.execute(select(func.count()).select_from(Article)).scalar_one()
        print(
            f"{engine.dialect.name}: {count} articles stored in "
            f"{time.perf_counter() - started:.1f} s, search index kept by triggers"
        )
        for row in measure(engine, repeat=args.repeat):
            print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
