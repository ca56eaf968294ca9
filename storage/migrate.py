"""Schema migrations with alembic, run on start and by `newswatch db upgrade`.

    upgrade(engine)            # to the newest revision, once even if two processes race
    pending(engine) == []      # nothing left to apply

The upgrade takes a lock first (a PostgreSQL advisory lock; on SQLite the
engine's `BEGIN IMMEDIATE`), so a second process waits, then finds the schema
current and does nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, cast

from alembic import command
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlmodel.sql.sqltypes import AutoString

from storage.models import UTCDateTime

# Tables made by raw DDL in migrations (full-text search) that the models do not describe.
UNMODELLED = ("articles_fts",)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "table" and name and name.startswith(UNMODELLED):
        return False
    return not (type_ == "index" and name and name.startswith("ix_articles_search"))


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x6E657773  # "news": one advisory lock id for newswatch migrations


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, *, revision: str = "head") -> None:
    with _migrating(engine) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, *, revision: str) -> None:
    with _migrating(engine) as connection:
        command.downgrade(alembic_config(connection), revision)


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A locked transaction to migrate in.

    SQLite alters a table by copying it and dropping the original, which its
    foreign keys forbid; they are switched off around the migration (that can
    only happen outside a transaction) and the result is checked before they
    are switched on again.
    """
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys(connection, on=False)
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY}
                    )
                yield connection
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("migration left rows that break foreign keys")
        finally:
            if sqlite:
                _sqlite_foreign_keys(connection, on=True)


def _sqlite_foreign_keys(connection: Connection, *, on: bool) -> None:
    """Through sqlite3's own connection: SQLAlchemy's would begin a transaction first, in
    which SQLite ignores the PRAGMA."""
    driver = cast(sqlite3.Connection, connection.connection.driver_connection)
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def pending(engine: Engine) -> list[str]:
    """Revisions not applied yet, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    current = current_revision(engine)
    revisions = list(script.iterate_revisions("head", current))
    return [revision.revision for revision in reversed(revisions)]
