"""Engines and sessions for SQLite (default) and PostgreSQL.

    engine = open_store("sqlite:///newswatch.db")
    with Session(engine) as session: ...

SQLite gets WAL mode, enforced foreign keys and a busy timeout so that two
processes can share one file; PostgreSQL gets pre-ping so a restarted server
is noticed instead of failing the first statement. A store that cannot be
reached, or that drops the connection mid-statement, raises `StoreUnavailable`
naming the store (password masked) and the driver's first line, wherever it
happens: callers print one line, not SQLAlchemy's three with a traceback.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, ExceptionContext
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import create_engine

from storage import models as _models  # noqa: F401  (registers the tables)
from storage.errors import StoreUnavailable, first_line
from storage.migrate import upgrade

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from pysqlite, which would otherwise leave DDL outside
    # transactions and begin lazily; `_begin_immediate` opens every transaction instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    _use_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL (it stays so: this matters once per file). Processes opening a
    new file at the same moment all try; SQLite answers all but one `database is locked` at
    once, without the busy timeout (each holds the read lock the others would wait for), so
    they try again until the first is done and the switch has nothing left to do."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock when a transaction starts, not on its first write: a
    transaction that read first and then must wait for another process's writer
    fails at once with `database is locked` instead of waiting out the busy timeout."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _unreachable(url: str) -> Callable[[ExceptionContext], None]:
    """A `handle_error` listener: a connection that cannot be made, or that the server
    dropped, becomes StoreUnavailable. Pre-ping failures are left to the pool, which
    reconnects; other errors (a constraint, a lock timeout) keep their own type."""

    def translate(context: ExceptionContext) -> None:
        if context.is_pre_ping or not isinstance(context.sqlalchemy_exception, OperationalError):
            return
        if context.is_disconnect or context.connection is None:
            reason = first_line(context.original_exception, default="no reason given")
            raise StoreUnavailable(reason, url=url)

    return translate


def make_engine(url: str) -> Engine:
    """An engine for `url`, configured for the backend; connects lazily."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    event.listen(engine, "handle_error", _unreachable(url))
    return engine


def open_store(url: str) -> Engine:
    """An engine whose schema is migrated to the newest revision; raises StoreUnavailable
    when the store cannot be reached or migrated."""
    try:
        engine = make_engine(url)
    except (ImportError, ValueError, SQLAlchemyError) as error:  # unknown driver, bad URL
        raise StoreUnavailable(first_line(error, default="no reason given"), url=url) from error
    try:
        upgrade(engine)
    except StoreUnavailable:
        engine.dispose()
        raise
    except Exception as error:
        engine.dispose()
        reason = first_line(error, default="no reason given")
        raise StoreUnavailable(reason, url=url) from error
    return engine
