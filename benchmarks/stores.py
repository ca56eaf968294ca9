"""Throw-away stores for benchmarks."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from storage import open_store


@contextmanager
def temporary_store(database_url: str | None) -> Iterator[Engine]:
    """A migrated, empty store: a temporary SQLite file, or a temporary schema in the
    PostgreSQL database at `database_url`, dropped afterwards."""
    if database_url is None:
        with tempfile.TemporaryDirectory() as folder:
            engine = open_store(f"sqlite:///{folder}/bench.db")
            yield engine
            engine.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in database_url else "?"
    engine = open_store(f"{database_url}{separator}options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
