"""A batch that PostgreSQL fails to break a deadlock with another transaction is stored
again, whole; any other error is not retried."""

from __future__ import annotations

import logging
import random
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from alerts import RuleSet
from flows.pipeline import StoredBatch, store_and_match
from storage import Article, ArticleIn, ensure_sources, open_store
from storage.conflicts import retry_conflicts
from tests.locks import wait_for_lock_waiter

pytestmark = pytest.mark.postgres
WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "ne", "ru") for b in ("dar", "ben", "col", "fis")]


def story_text(seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(200)) + "."


def article(url: str, body: str) -> ArticleIn:
    return ArticleIn(url=url, source="news", title=url, text=body, origin="page")


def store(engine: Engine, articles: list[ArticleIn]) -> StoredBatch:
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("news", "feed", "https://a.test/feed")])
        session.commit()
    return store_and_match(articles, engine=engine, rules=RuleSet([]), source_ids=ids, run_id=None)


FIRST, SECOND = story_text(1), story_text(2)
HOLD_STORY = text("UPDATE stories SET title = title WHERE id = :id")


def two_stories(engine: Engine) -> tuple[int, int]:
    """The stories of a.test/1 and a.test/2, stored first: their ids, in that order."""
    store(engine, [article("https://a.test/1", FIRST), article("https://a.test/2", SECOND)])
    with Session(engine) as session:
        story = dict(session.exec(select(Article.url, Article.story_id)).all())
    return story["https://a.test/1"], story["https://a.test/2"]


def copy_of(number: int) -> ArticleIn:
    """Another outlet's copy of a.test/`number`, one word added: it joins that story."""
    body = FIRST if number == 1 else SECOND
    return article(f"https://b.test/{number}", body.replace(".", " extra."))


def storing(engine: Engine, batch: list[ArticleIn]) -> tuple[threading.Thread, dict[str, object]]:
    """`store(engine, batch)` started in a thread, and where its outcome lands once joined:
    "stored", or "error"."""
    outcome: dict[str, object] = {}

    def store_batch() -> None:
        try:
            outcome["stored"] = store(engine, batch)
        except Exception as error:  # reported by the caller's assertions
            outcome["error"] = error

    thread = threading.Thread(target=store_batch)
    thread.start()
    return thread, outcome


def story_counts(engine: Engine) -> list[tuple[int, int]]:
    with Session(engine) as session:
        rows = session.exec(text("SELECT id, article_count FROM stories ORDER BY id")).all()
    return [tuple(row) for row in rows]


def test_a_batch_failed_to_break_a_deadlock_is_stored_again_whole(postgres_url: str) -> None:
    engine = open_store(postgres_url)
    try:
        one, two = two_stories(engine)
        with engine.connect() as rival:
            # another run holds story two, so the batch takes story one and waits on two ...
            rival.execute(HOLD_STORY, {"id": two})
            thread, outcome = storing(engine, [copy_of(1), copy_of(2)])
            wait_for_lock_waiter(engine)
            # ... and the other run then waits on story one: a deadlock, which the batch's
            # transaction (waiting longest) is failed to break
            rival.execute(HOLD_STORY, {"id": one})
            rival.commit()
        thread.join(60)

        assert "error" not in outcome, outcome.get("error")
        stored = outcome["stored"]
        assert isinstance(stored, StoredBatch)
        assert [a.url for a in stored.new] == ["https://b.test/1", "https://b.test/2"]
        with Session(engine) as session:
            assert session.exec(select(func.count()).select_from(Article)).one() == 4
        assert story_counts(engine) == [(one, 2), (two, 2)]
    finally:
        engine.dispose()


def test_a_batch_locks_its_stories_in_id_order_so_a_rival_waits_instead_of_deadlocking(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="storage.conflicts")
    engine = open_store(postgres_url)
    try:
        one, two = two_stories(engine)
        assert one < two
        with engine.connect() as rival:
            rival.execute(HOLD_STORY, {"id": one})
            # the later story's copy first in the batch
            thread, outcome = storing(engine, [copy_of(2), copy_of(1)])
            wait_for_lock_waiter(engine)  # the batch waits on story one, holding neither
            # story two is free: taken in the batch's order it would be held, a deadlock
            rival.execute(HOLD_STORY, {"id": two})
            rival.commit()
        thread.join(60)

        assert "error" not in outcome, outcome.get("error")
        assert isinstance(outcome["stored"], StoredBatch)
        assert "lost a conflict" not in caplog.text
        assert story_counts(engine) == [(one, 2), (two, 2)]
    finally:
        engine.dispose()


def test_other_database_errors_are_raised_at_once_not_retried(postgres_url: str) -> None:
    engine = open_store(postgres_url)
    calls = []

    def duplicate_source() -> None:
        calls.append(1)
        with engine.begin() as connection:
            insert = "INSERT INTO sources (name, kind, location) VALUES ('x', 'feed', 'u')"
            connection.execute(text(insert))
            connection.execute(text(insert))

    try:
        with pytest.raises(IntegrityError):
            retry_conflicts(duplicate_source)
    finally:
        engine.dispose()
    assert calls == [1]
