"""Where an end-to-end run's time goes: the served pages through more of the pipeline
at each stage, without Prefect, each timed against trafilatura alone in the same round.

    python -m benchmarks.ingest --end-to-end --stages

  fetch + trafilatura     newswatch's fetcher, and a pool running plain trafilatura
  + extract_article       the pool runs newswatch's extraction (decoding, fallbacks,
                          not-an-article checks)
  + rules, fingerprints   and matches the run's rules and fingerprints each article
  + store and match       each batch stored with its alerts in a thread, as a run does

The pages come in batches of the flow's size, as many at once as the flow lets
into the workers; the feed is read once beforehand, outside the timings. The
next step after the last stage is the flow itself (`--end-to-end`'s run line):
Prefect's flow and task runs, the run's bookkeeping, delivery and artifacts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from alerts import RuleSet
from benchmarks.baseline import trafilatura_article
from flows.extract import extract_article
from flows.feeds import parse_feed
from flows.fetcher import Fetcher
from flows.items import Candidate
from flows.monitor import (
    BATCH_SIZE,
    EXTRACT_WINDOW,
    extract_task,
    register_sources,
    store_task,
)
from flows.pipeline import batches
from flows.pool import ExtractionPool
from flows.settings import Settings, load_settings
from storage import ArticleIn, open_store


@dataclass(frozen=True)
class Stage:
    """One more piece of the pipeline than the stage before."""

    name: str
    extractor: Callable[..., ArticleIn]
    match: bool = False  # rules matched and articles fingerprinted in the workers
    store: bool = False


STAGES = (
    Stage("fetch + trafilatura", trafilatura_article),
    Stage("+ extract_article", extract_article),
    Stage("+ rules, fingerprints", extract_article, match=True),
    Stage("+ store and match", extract_article, match=True, store=True),
)


def candidates_of(config: Path) -> list[Candidate]:
    """The entries of the config's one feed, read once for every stage."""
    settings = load_settings(config)
    (source,) = settings.sources

    async def read() -> list[Candidate]:
        async with Fetcher(settings.fetch) as fetcher:
            fetched = await fetcher.fetch(source.feed or "")
        return parse_feed(fetched.body, url=fetched.url, source=source.name)

    return asyncio.run(read())


def timed_stage(stage: Stage, config: Path, candidates: list[Candidate]) -> float:
    """Seconds for `stage` over `candidates`, its pool started inside the timing as a run's
    is; `config`'s store is migrated beforehand, as `timed_flow`'s is."""
    settings = load_settings(config)
    engine = open_store(settings.database.url) if stage.store else None
    try:
        started = time.perf_counter()
        asyncio.run(_run_stage(stage, settings, candidates, engine))
        return time.perf_counter() - started
    finally:
        if engine is not None:
            engine.dispose()


async def _run_stage(
    stage: Stage, settings: Settings, candidates: list[Candidate], engine: Engine | None
) -> None:
    """The flow's batching, with the functions its tasks wrap (`.fn`: no task runs)."""
    rules, stories = RuleSet(settings.rules), settings.stories.options()
    pool = ExtractionPool(
        extractor=stage.extractor,
        stories=stories if stage.match else None,
        rules=rules if stage.match else None,
    )
    source_ids = _source_ids(settings, engine) if engine is not None else {}
    window = asyncio.Semaphore(EXTRACT_WINDOW)
    parts = batches(candidates, BATCH_SIZE)
    async with Fetcher(settings.fetch) as fetcher, pool:

        async def extract(number: int, batch: list[Candidate]) -> list[ArticleIn]:
            async with window:
                extracted = await extract_task.fn(batch, fetcher, pool.extract, number, len(parts))
            return extracted.articles

        extracting = [asyncio.create_task(extract(n, b)) for n, b in enumerate(parts, start=1)]
        gates = None  # the rules' gates, from the first batch on, as the flow keeps them
        for number, extraction in enumerate(extracting, start=1):
            articles = await extraction
            if engine is not None:
                stored = await store_task.fn(
                    articles, settings, rules, engine, source_ids, None, gates, number, len(parts)
                )
                gates = stored.gates if stored.gates is not None else gates


def _source_ids(settings: Settings, engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        source_ids = register_sources(session=session, settings=settings)
        session.commit()
    return source_ids
