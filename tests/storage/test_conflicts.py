"""A batch that PostgreSQL fails to break a deadlock with another transaction is stored
again, whole; any other error is not retried."""

from __future__ import annotations

import logging
import random
import threading

import pytest
from sqlalchemy import TextClause, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from alerts import Rule, RuleSet
from flows.pipeline import StoredBatch, store_and_match
from storage import AlertArticle, Article, ArticleIn, EntryGuid, ensure_sources, open_store
from storage.conflicts import retry_conflicts
from tests.locks import wait_for_lock_waiter

pytestmark = pytest.mark.postgres
WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "ne", "ru") for b in ("dar", "ben", "col", "fis")]


def story_text(seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(200)) + "."


def article(url: str, body: str) -> ArticleIn:
    return ArticleIn(url=url, source="news", title=url, text=body, origin="page")


def news_source(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("news", "feed", "https://a.test/feed")])
        session.commit()
    return ids


def store(engine: Engine, articles: list[ArticleIn], rules: RuleSet | None = None) -> StoredBatch:
    ids = news_source(engine)
    return store_and_match(
        articles, engine=engine, rules=rules or RuleSet([]), source_ids=ids, run_id=None
    )


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


def storing(
    engine: Engine, batch: list[ArticleIn], rules: RuleSet | None = None
) -> tuple[threading.Thread, dict[str, object]]:
    """`store(engine, batch, rules)` started in a thread, and where its outcome lands once
    joined: "stored", or "error"."""
    outcome: dict[str, object] = {}

    def store_batch() -> None:
        try:
            outcome["stored"] = store(engine, batch, rules)
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


def slow_inserts(table: str) -> list[TextClause]:
    """A trigger making each row of `table` take 0.3 s to go in."""
    return [
        text(
            "CREATE OR REPLACE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $$"
        ),
        text(
            f"CREATE TRIGGER slow_insert BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION slow_insert()"
        ),
    ]


def with_guid(url: str, body: str, guid: str) -> ArticleIn:
    return article(url, body).model_copy(update={"guid": guid})


# Two runs' batches, each inserting in its feed's order; each row of the table named
# takes 0.3 s, so each run would hold its first row while waiting on the other's.
OPPOSITE_ORDERS = {
    # the same articles
    "articles": (
        [article("https://a.test/1", FIRST), article("https://a.test/2", SECOND)],
        [article("https://a.test/2", SECOND), article("https://a.test/1", FIRST)],
        [0, 2],  # the run that waited found both stored: duplicates
    ),
    # other pages (another URL and text each) under the same feed entries' GUIDs
    "entry_guids": (
        [with_guid("https://a.test/1", FIRST, "g1"), with_guid("https://a.test/2", SECOND, "g2")],
        [
            with_guid("https://c.test/2", story_text(4), "g2"),
            with_guid("https://c.test/1", story_text(3), "g1"),
        ],
        [2, 2],
    ),
}


@pytest.mark.parametrize("table", OPPOSITE_ORDERS)
def test_runs_storing_the_same_rows_in_opposite_orders_wait_instead_of_deadlocking(
    postgres_url: str, caplog: pytest.LogCaptureFixture, table: str
) -> None:
    caplog.set_level(logging.INFO, logger="storage.conflicts")
    engine = open_store(postgres_url)
    one_order, other_order, new = OPPOSITE_ORDERS[table]
    try:
        with engine.begin() as connection:
            for statement in slow_inserts(table):
                connection.execute(statement)
        runs = [storing(engine, one_order), storing(engine, other_order)]
        for thread, _ in runs:
            thread.join(60)

        outcomes = [outcome for _, outcome in runs]
        assert [outcome.get("error") for outcome in outcomes] == [None, None]
        assert "lost a conflict" not in caplog.text  # one run waited for the other
        stored = [outcome["stored"] for outcome in outcomes]
        assert all(isinstance(batch, StoredBatch) for batch in stored)
        assert sorted(len(batch.new) for batch in stored) == new  # type: ignore[union-attr]
        with Session(engine) as session:
            urls = {a.url for a in one_order + other_order}
            assert session.exec(select(func.count()).select_from(Article)).one() == len(urls)
            guids = session.exec(select(EntryGuid.guid)).all()
        assert sorted(guids) == sorted({a.guid for a in one_order if a.guid})
    finally:
        engine.dispose()


RIVAL_ALERT = text(
    "INSERT INTO alerts (id, rule, query, story_id, article_id, terms, snippet, "
    "snippet_start, snippet_end, created_at) VALUES (:id, 'extra', 'extra', :story, "
    "(SELECT min(id) FROM articles WHERE story_id = :story), '[]', 'extra', 0, 5, now())"
)


def test_batches_alerting_on_the_same_stories_in_opposite_orders_wait_instead_of_deadlocking(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="storage.conflicts")
    engine = open_store(postgres_url)
    rules = RuleSet([Rule(name="extra", query="extra")])
    try:
        one, two = two_stories(engine)
        with engine.connect() as rival:
            # another run has fired the rule on story one and not committed
            rival.execute(RIVAL_ALERT, {"id": "rival-one", "story": one})
            # the batch's copies fire it on both stories, story two's copy first
            thread, outcome = storing(engine, [copy_of(2), copy_of(1)], rules)
            wait_for_lock_waiter(engine)  # the batch waits on (extra, one), holding neither
            # (extra, two) is free: inserted in the batch's order it would be held, a deadlock
            rival.execute(RIVAL_ALERT, {"id": "rival-two", "story": two})
            rival.commit()
        thread.join(60)

        assert "error" not in outcome, outcome.get("error")
        stored = outcome["stored"]
        assert isinstance(stored, StoredBatch)
        assert "lost a conflict" not in caplog.text
        assert [a.url for a in stored.new] == ["https://b.test/2", "https://b.test/1"]
        assert stored.fired == []  # the rival's alerts stand: nothing is sent twice
        with Session(engine) as session:
            outlets = session.exec(select(AlertArticle.alert_id, AlertArticle.url)).all()
        assert sorted(outlets) == [
            ("rival-one", "https://b.test/1"),
            ("rival-two", "https://b.test/2"),
        ]
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
