"""The store on SQLite and on the local PostgreSQL: each test runs on both."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import CacheStats
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage import (
    Article,
    ArticleIn,
    ArticleVersion,
    FeedState,
    Source,
    StoreUnavailable,
    add_articles,
    backoff,
    ensure_sources,
    iter_articles,
    open_store,
    record_source_health,
    source_states,
    stored_urls,
)


def article(url: str, text: str, **fields: object) -> ArticleIn:
    values = {"title": "A title", "source": "desk", "origin": "page", **fields}
    return ArticleIn(url=url, text=text, **values)  # type: ignore[arg-type]


def store(engine, articles: list[ArticleIn]):  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("desk", "feed", "https://x.test/feed")])
        stored = add_articles(session=session, articles=articles, source_ids=ids, run_id=None)
        session.commit()
    return stored


def test_same_article_is_stored_once_by_canonical_url(engine: Engine) -> None:
    first = store(engine, [article("https://x.test/a?utm_source=rss", "One text.")])
    again = store(engine, [article("HTTPS://X.TEST/a#top", "one TEXT")])
    assert len(first.new) == 1
    assert (again.new, again.updated) == ([], [])
    assert [reason for _, reason in again.duplicates] == ["same URL"]


def test_changed_text_at_the_same_url_is_a_new_version_keeping_history(engine: Engine) -> None:
    (original,) = store(engine, [article("https://x.test/a", "First text.")]).new
    changed = store(engine, [article("https://x.test/a", "Corrected text.", title="New")])
    assert changed.new == []
    (updated,) = changed.updated
    assert (updated.id, updated.version, updated.title) == (original.id, 2, "New")
    with Session(engine) as session:
        ((row, _),) = list(iter_articles(session=session))
        (version,) = session.exec(select(ArticleVersion)).all()
    assert row.text == "Corrected text."
    assert (version.article_id, version.version, version.text) == (original.id, 1, "First text.")
    assert store(engine, [article("https://x.test/a", "Corrected text.")]).updated == []


def test_two_new_texts_for_one_url_in_a_batch_make_two_versions(engine: Engine) -> None:
    store(engine, [article("https://x.test/a", "Text one.")])
    batch = [article("https://x.test/a", "Text two."), article("https://x.test/a", "Text three.")]
    stored = store(engine, batch)
    assert [a.version for a in stored.updated] == [2, 3]
    with Session(engine) as session:
        versions = session.exec(select(ArticleVersion.text).order_by(ArticleVersion.version))
        assert list(versions) == ["Text one.", "Text two."]


def test_same_text_at_another_url_is_a_duplicate(engine: Engine) -> None:
    stored = store(
        engine,
        [
            article("https://x.test/a", "Wire story text."),
            article("https://y.test/b", "wire  STORY text"),
        ],
    )
    assert len(stored.new) == 1
    assert [reason for _, reason in stored.duplicates] == ["same text"]


def test_schema_refuses_a_second_row_with_the_same_canonical_url(engine: Engine) -> None:
    store(engine, [article("https://x.test/a", "One text.")])
    with Session(engine) as session:
        source_id = session.exec(select(Article.source_id)).one()
        session.add(
            Article(
                source_id=source_id,
                url="https://x.test/a",
                title="t",
                canonical_url="https://x.test/a",
                text="other",
                text_hash="f" * 64,
                origin="page",
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()


def test_timestamps_come_back_timezone_aware_in_utc(engine: Engine) -> None:
    published = datetime(2024, 1, 5, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    store(engine, [article("https://x.test/a", "Text.", published_at=published)])
    with Session(engine) as session:
        ((row, source),) = list(iter_articles(session=session))
    assert row.published_at == published
    assert row.published_at.tzinfo == UTC
    assert row.fetched_at.tzinfo == UTC
    assert source == "desk"


def test_stored_urls_answers_in_canonical_form(engine: Engine) -> None:
    store(engine, [article("https://x.test/a", "Text.")])
    with Session(engine) as session:
        found = stored_urls(session=session, urls=["https://X.test/a#frag", "https://x.test/b"])
    assert found == {"https://x.test/a"}


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(
            Article(
                source_id=999,
                url="u",
                canonical_url="u",
                title="t",
                text="x",
                text_hash="0" * 64,
                origin="page",
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()


def test_unreachable_store_is_one_line_error_with_password_masked() -> None:
    url = "postgresql+psycopg://newswatch:s3cret@127.0.0.1:1/nothing"
    with pytest.raises(StoreUnavailable) as raised:
        open_store(url)
    message = str(raised.value)
    assert "s3cret" not in message
    assert "127.0.0.1:1" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("failures", "wait"),
    [
        (0, timedelta(0)),
        (1, timedelta(minutes=10)),
        (2, timedelta(minutes=20)),
        (4, timedelta(minutes=80)),
        (9, timedelta(days=1)),
        (400, timedelta(days=1)),
    ],
)
def test_backoff_doubles_from_ten_minutes_up_to_a_day(failures: int, wait: timedelta) -> None:
    assert backoff(failures) == wait


@pytest.mark.parametrize(
    ("gone", "wait"), [(False, timedelta(minutes=10)), (True, timedelta(days=1))]
)
def test_a_source_gone_for_good_waits_the_longest_backoff_from_its_first_failure(
    engine: Engine, gone: bool, wait: timedelta
) -> None:
    failed = datetime(2025, 3, 1, 12, tzinfo=UTC)
    with Session(engine) as session:
        (source_id,) = ensure_sources(
            session=session, sources=[("wire", "feed", "https://x.test/feed")]
        ).values()
        record_source_health(
            session=session, source_id=source_id, error="HTTP 410", when=failed, gone=gone
        )
        session.commit()
        row = source_states(session=session, names=["wire"])["wire"]
    assert (row.consecutive_failures, row.next_attempt_at) == (1, failed + wait)


def test_source_moved_in_the_config_starts_afresh_and_keeps_its_articles(
    engine: Engine,
) -> None:
    failed = datetime(2025, 3, 1, 12, tzinfo=UTC)
    (kept,) = store(engine, [article("https://x.test/a", "Stored before the move.")]).new
    with Session(engine) as session:
        (source_id,) = ensure_sources(
            session=session, sources=[("desk", "feed", "https://x.test/feed")]
        ).values()
        record_source_health(
            session=session,
            source_id=source_id,
            error=None,
            when=failed - timedelta(days=1),
            feed=FeedState(etag='"old"', last_modified=None, body_hash="ab" * 32),
        )
        record_source_health(session=session, source_id=source_id, error="HTTP 404", when=failed)
        session.commit()
        same = ensure_sources(session=session, sources=[("desk", "feed", "https://x.test/feed")])
        session.commit()
        unmoved = source_states(session=session, names=["desk"])["desk"]
        assert (unmoved.consecutive_failures, unmoved.etag) == (1, '"old"')
        moved = ensure_sources(session=session, sources=[("desk", "sitemap", "https://y.test/s")])
        session.commit()
        row = source_states(session=session, names=["desk"])["desk"]
        owner = session.get(Article, kept.id)
    assert same == moved == {"desk": source_id}
    assert (row.kind, row.location) == ("sitemap", "https://y.test/s")
    assert (row.consecutive_failures, row.next_attempt_at, row.last_error) == (0, None, None)
    assert (row.last_run_at, row.last_success_at) == (None, None)
    assert (row.etag, row.last_modified, row.body_hash) == (None, None, None)
    assert (row.last_new_at, row.watched_since) == (None, None)  # quiet counts from its move
    assert owner is not None and owner.source_id == source_id


def test_source_is_quiet_once_its_polls_list_nothing_new_for_longer_than_its_limit(
    engine: Engine,
) -> None:
    start = datetime(2025, 3, 1, 12, tzinfo=UTC)
    week = timedelta(days=7)
    with Session(engine) as session:
        (source_id,) = ensure_sources(session=session, sources=[("dw", "feed", "u")]).values()

        def poll(day: int, *, fresh: bool = False, error: str | None = None) -> Source:
            when = start + timedelta(days=day)
            row = record_source_health(
                session=session, source_id=source_id, error=error, when=when, fresh=fresh
            )
            session.commit()
            assert row is not None
            return source_states(session=session, names=["dw"])["dw"]

        first = poll(0)  # nothing new from its first poll on: watched since then
        assert (first.watched_since, first.last_new_at) == (start, None)
        assert first.quiet_since(week, now=start + timedelta(days=7)) is None  # not longer
        assert first.quiet_since(week, now=start + timedelta(days=8)) == start
        fresh = poll(3, fresh=True)
        assert (fresh.watched_since, fresh.last_new_at) == (start, start + timedelta(days=3))
        assert fresh.quiet_since(week, now=start + timedelta(days=8)) is None
        stale = poll(11)  # a poll with nothing new leaves last_new_at where it was
        assert stale.quiet_since(week, now=start + timedelta(days=11)) == start + timedelta(days=3)
        assert stale.quiet_since(None, now=start + timedelta(days=11)) is None  # "off"
        failing = poll(12, error="HTTP 503")  # a failure says more than a silence
        assert failing.quiet_since(week, now=start + timedelta(days=12)) is None
        assert failing.last_new_at == start + timedelta(days=3)


def test_failing_source_is_retried_later_and_success_resets_its_health(engine: Engine) -> None:
    start = datetime(2025, 3, 1, 12, tzinfo=UTC)
    with Session(engine) as session:
        (source_id,) = ensure_sources(session=session, sources=[("dw", "feed", "u")]).values()
        for hours in range(3):
            record_source_health(
                session=session,
                source_id=source_id,
                error="HTTP 503",
                when=start + timedelta(hours=hours),
            )
        session.commit()
        failing = source_states(session=session, names=["dw"])["dw"]
        assert failing.consecutive_failures == 3
        assert failing.next_attempt_at == start + timedelta(hours=2, minutes=40)
        assert failing.last_error == "HTTP 503"
        feed = FeedState(
            etag='"v2"', last_modified="Sat, 01 Mar 2025 14:00:00 GMT", body_hash="ab" * 32
        )
        record_source_health(
            session=session,
            source_id=source_id,
            error=None,
            when=start + timedelta(hours=3),
            feed=feed,
        )
        session.commit()
        healthy = source_states(session=session, names=["dw"])["dw"]
    assert (healthy.consecutive_failures, healthy.next_attempt_at, healthy.last_error) == (
        0,
        None,
        None,
    )
    assert (healthy.etag, healthy.last_modified, healthy.body_hash) == (
        feed.etag,
        feed.last_modified,
        feed.body_hash,
    )
    assert healthy.last_success_at == start + timedelta(hours=3)


@pytest.mark.parametrize("table", ["articles", "entry_guids", "sources"])
def test_a_batch_goes_in_with_one_insert_compiled_once_for_every_batch(
    engine: Engine, table: str
) -> None:
    inserts: list[object] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith(f"INSERT INTO {table} "):
            inserts.append(context.cache_hit)

    event.listen(engine, "after_cursor_execute", record)
    try:
        for batch in ("first", "second"):
            articles = [
                article(
                    f"https://x.test/{batch}/{n}", f"{batch} text {n} " * 20, guid=f"{batch}{n}"
                )
                for n in range(4)
            ]
            assert len(store(engine, articles).new) == 4
    finally:
        event.remove(engine, "after_cursor_execute", record)
    # a dialect's ON CONFLICT insert has no cache key: it is compiled for the first batch only
    assert inserts == [CacheStats.CACHE_MISS, CacheStats.CACHE_HIT]


def test_a_bigger_batch_costs_no_more_statements(engine: Engine) -> None:
    def statements(batch: str, size: int) -> int:
        counted: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
            if not statement.startswith("INSERT INTO stories "):  # per story on SQLite
                counted.append(statement)

        articles = [
            article(f"https://x.test/{batch}/{n}", " ".join(uuid.uuid4().hex for _ in range(40)))
            for n in range(size)
        ]
        event.listen(engine, "after_cursor_execute", record)
        try:
            assert len(store(engine, articles).new) == size
        finally:
            event.remove(engine, "after_cursor_execute", record)
        return len(counted)

    assert statements("small", 3) == statements("big", 30)
