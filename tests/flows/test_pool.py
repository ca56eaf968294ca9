"""The extraction pool: same articles as in-process, typed errors, crashes survived, loop free."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import pickle
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from alerts import Rule, RuleSet
from flows.errors import ExtractError, NotAnArticle
from flows.extract import extract_article
from flows.items import Candidate
from flows.pool import ExtractionPool
from storage.fingerprints import text_hash
from storage.schemas import ArticleIn
from storage.stories import StoryOptions, fingerprint
from tests.conftest import CORPUS
from tests.flows.test_extract import ARTICLE, FALLBACK, LONG

SLOW_SECONDS = 0.5
TICK_SECONDS = 0.05


def crash_on_marker(body: bytes, **kwargs: Any) -> ArticleIn:
    """An extractor whose worker dies on a page that asks for it."""
    if b"CRASH" in body:
        os._exit(1)
    return extract_article(body, **kwargs)


def slow(body: bytes, **kwargs: Any) -> ArticleIn:
    """An extractor that holds its worker as a huge page would."""
    time.sleep(SLOW_SECONDS)
    return extract_article(body, **kwargs)


def _pages() -> list[tuple[bytes, str]]:
    pages = [(ARTICLE.encode(), FALLBACK.url), (LONG.encode("cp1252"), "https://c.example/l")]
    root = CORPUS / "articles"
    if root.exists():
        truth = json.loads((root / "ground-truth.json").read_text())
        for key in sorted(truth)[:4]:
            body = gzip.decompress((root / f"{key}.html.gz").read_bytes())
            pages.append((body, truth[key]["url"]))
    return pages


def test_articles_and_candidates_cross_process_boundaries() -> None:
    candidate = Candidate(url="u", source="s", published_at=datetime(2025, 1, 1, tzinfo=UTC))
    article = extract_article(ARTICLE, url="https://c.example/a", source="c")
    assert pickle.loads(pickle.dumps(candidate)) == candidate
    assert pickle.loads(pickle.dumps(article)) == article


def test_the_pool_finds_what_extract_article_finds() -> None:
    pages = _pages()

    async def run() -> list[ArticleIn]:
        async with ExtractionPool(workers=2) as pool:
            return await asyncio.gather(
                *(pool.extract(body, url=url, source="s", fallback=FALLBACK) for body, url in pages)
            )

    expected = [extract_article(b, url=u, source="s", fallback=FALLBACK) for b, u in pages]
    assert asyncio.run(run()) == expected


@pytest.mark.parametrize(
    ("body", "content_type", "kind", "message"),
    [
        (b"%PDF-1.7", None, NotAnArticle, "https://c.example/r: not an article: PDF document"),
        (b"<p>x</p>", "image/png", NotAnArticle, "https://c.example/r: not an article: image"),
        (
            b"<html><body></body></html>",
            None,
            ExtractError,
            "https://c.example/r: no article text found",
        ),
    ],
)
def test_errors_come_back_typed(
    body: bytes, content_type: str | None, kind: type[ExtractError], message: str
) -> None:
    async def run() -> None:
        async with ExtractionPool(workers=1) as pool:
            await pool.extract(
                body, url="https://c.example/r", source="s", content_type=content_type
            )

    with pytest.raises(ExtractError) as caught:
        asyncio.run(run())
    assert (type(caught.value), str(caught.value), caught.value.url) == (
        kind,
        message,
        "https://c.example/r",
    )


def test_a_crashed_worker_fails_its_page_and_the_pool_goes_on() -> None:
    async def run() -> tuple[str, ArticleIn]:
        async with ExtractionPool(workers=1, extractor=crash_on_marker) as pool:
            with pytest.raises(ExtractError) as caught:
                await pool.extract(b"CRASH", url="https://c.example/boom", source="s")
            after = await pool.extract(ARTICLE.encode(), url="https://c.example/a", source="s")
            return str(caught.value), after

    message, after = asyncio.run(run())
    assert message == "https://c.example/boom: the extraction worker crashed"
    assert after == extract_article(ARTICLE, url="https://c.example/a", source="s")


def test_the_loop_keeps_running_while_a_page_is_extracted() -> None:
    async def run() -> tuple[int, float]:
        async with ExtractionPool(workers=1, extractor=slow) as pool:
            await pool.warm_up()
            ticks = 0
            extraction = asyncio.create_task(
                pool.extract(ARTICLE.encode(), url="https://c.example/a", source="s")
            )
            started = time.perf_counter()
            while not extraction.done():
                await asyncio.sleep(TICK_SECONDS)
                ticks += 1
            await extraction
            return ticks, time.perf_counter() - started

    ticks, elapsed = asyncio.run(run())
    assert elapsed >= SLOW_SECONDS
    # A blocked loop would tick once, when the extraction is over.
    assert ticks >= 0.6 * SLOW_SECONDS / TICK_SECONDS


def test_with_story_options_the_pool_returns_each_articles_hash_and_fingerprint() -> None:
    options = StoryOptions()

    async def run() -> ArticleIn:
        async with ExtractionPool(workers=1, stories=options) as pool:
            return await pool.extract(ARTICLE.encode(), url="https://c.example/a", source="c")

    article = asyncio.run(run())
    assert article.prepared is not None
    assert article.prepared.text_hash == text_hash(article.text)
    assert article.prepared.fingerprint == fingerprint(article.text, options=options)
    assert article.prepared.fits(article.text, options)


def test_with_rules_the_pool_returns_the_matches_the_store_would_make() -> None:
    rules = RuleSet(
        [
            Rule(name="hit", query="missile OR harbour OR parade OR storm OR council"),
            Rule(name="miss", query='"no such phrase anywhere"'),
        ]
    )

    async def run() -> ArticleIn:
        async with ExtractionPool(workers=1, stories=StoryOptions(), rules=rules) as pool:
            return await pool.extract(ARTICLE.encode(), url="https://c.example/a", source="c")

    article = asyncio.run(run())
    expected = rules.matches_article(
        title=article.title,
        text=article.text,
        source="c",
        url="https://c.example/a",
        lang=article.language,
    )
    assert [rule.name for rule, _ in expected] == ["hit"]
    assert article.matched is not None
    assert rules.named(article.matched) == expected


def test_a_pools_rules_are_pickled_once_for_all_its_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from alerts.triggers import TriggerIndex

    pickled: list[int] = []
    state = TriggerIndex.__getstate__

    def counted(index: TriggerIndex) -> dict[str, object]:
        pickled.append(1)
        return state(index)

    monkeypatch.setattr(TriggerIndex, "__getstate__", counted)
    rules = RuleSet([Rule(name="storm", query="storm OR harbour")])

    async def run() -> list[ArticleIn]:
        async with ExtractionPool(workers=2, rules=rules) as pool:
            await pool.warm_up()  # both workers started, each with the rules installed
            return [
                await pool.extract(ARTICLE.encode(), url=f"https://c.example/{n}", source="c")
                for n in range(2)
            ]

    first, second = asyncio.run(run())

    assert len(pickled) == 1
    assert [name for name, _ in first.matched or ()] == ["storm"]
    assert first.matched == second.matched


def what_was_loaded(body: bytes, **kwargs: Any) -> ArticleIn:
    """An extractor reporting, as its text, what its worker had loaded before any page."""
    import sys

    from trafilatura import external

    warm = sys.modules.get("flows.warm")  # imported by the forkserver, not by this worker
    loaded = {
        "stoplists": external.JT_STOPLIST is not None,
        "an article extracted": warm.WARM_ARTICLE.title if warm and warm.WARM_ARTICLE else None,
    }
    return ArticleIn(
        url=kwargs["url"], source="s", title="t", text=json.dumps(loaded), origin="page"
    )


def test_workers_start_with_what_trafilatura_loads_lazily_already_loaded() -> None:
    async def go() -> ArticleIn:
        async with ExtractionPool(1, extractor=what_was_loaded) as pool:
            return await pool.extract(b"<html></html>", url="https://c.example/x", source="s")

    assert json.loads(asyncio.run(go()).text) == {
        "stoplists": True,
        "an article extracted": "Harbour reopens after the storm",
    }
