"""Migrations: the models and the migrated schema agree, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from storage import (
    ArticleIn,
    add_articles,
    ensure_sources,
    make_engine,
    open_store,
    record_source_health,
    source_states,
)
from storage.migrate import (
    current_revision,
    downgrade,
    head_revision,
    include_object,
    pending,
    upgrade,
)


def differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_object}
        )
        return list(compare_metadata(context, SQLModel.metadata))


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    assert differences(engine) == []
    assert current_revision(engine) == head_revision()
    assert pending(engine) == []


def test_every_migration_downgrades_and_upgrades_again(engine: Engine) -> None:
    downgrade(engine, revision="base")
    assert [t for t in inspect(engine).get_table_names() if t != "alembic_version"] == []
    assert pending(engine)[0] == "0001_baseline"
    upgrade(engine)
    assert differences(engine) == []


def test_processes_starting_together_migrate_once(database_url: str) -> None:
    program = f"from storage import open_store; open_store({database_url!r}).dispose()"
    racers = [
        subprocess.Popen([sys.executable, "-c", program], stderr=subprocess.PIPE) for _ in range(3)
    ]
    errors = [racer.communicate(timeout=120)[1].decode() for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0, 0], errors
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_open_store_on_a_current_schema_changes_nothing(database_url: str) -> None:
    first = open_store(database_url)
    before = current_revision(first)
    first.dispose()
    second = open_store(database_url)
    assert current_revision(second) == before
    second.dispose()


def test_quiet_migration_dates_each_source_by_its_newest_stored_article(engine: Engine) -> None:
    fetched = datetime(2025, 3, 1, 12, tzinfo=UTC)
    with Session(engine) as session:
        ids = ensure_sources(
            session=session, sources=[("dw", "feed", "https://x.test/feed"), ("idle", "feed", "u")]
        )
        for day, url in enumerate(["https://x.test/a", "https://x.test/b"]):
            article = ArticleIn(
                url=url,
                title="A title",
                text=f"Article {url} as stored before the migration.",
                source="dw",
                origin="page",
            )
            now = fetched + timedelta(days=day)
            add_articles(session=session, articles=[article], source_ids=ids, run_id=None, now=now)
        record_source_health(session=session, source_id=ids["dw"], error=None, when=fetched)
        session.commit()
        created = source_states(session=session, names=["dw"])["dw"].created_at
    downgrade(engine, revision="0009_source_moved")
    upgrade(engine)
    with Session(engine) as session:
        rows = source_states(session=session, names=["dw", "idle"])
    assert (rows["dw"].last_new_at, rows["dw"].watched_since) == (
        fetched + timedelta(days=1),
        created,
    )
    assert (rows["idle"].last_new_at, rows["idle"].watched_since) == (None, None)  # never polled
