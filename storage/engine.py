"""Engines and sessions for SQLite (default) and PostgreSQL.

    engine = open_store("sqlite:///newswatch.db")
    with Session(engine) as session: ...

SQLite gets WAL mode, enforced foreign keys and a busy timeout so that two
processes can share one file; PostgreSQL gets pre-ping so a restarted server
is noticed instead of failing the first statement.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel, create_engine

from storage import models as _models  # noqa: F401  (registers the tables)
from storage.errors import StoreUnavailable

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`, configured for the backend; connects lazily."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def open_store(url: str) -> Engine:
    """An engine whose tables exist; raises StoreUnavailable when the store cannot be reached."""
    try:
        engine = make_engine(url)
        SQLModel.metadata.create_all(engine)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise StoreUnavailable(reason, url=url) from error
    except (ImportError, ValueError) as error:  # unknown driver or malformed URL
        raise StoreUnavailable(str(error).splitlines()[0], url=url) from error
    return engine
