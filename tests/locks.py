"""Waiting on PostgreSQL's lock table, for tests that race two transactions on purpose."""

from __future__ import annotations

import time

from sqlalchemy import text
from sqlalchemy.engine import Engine


def wait_for_lock_waiter(engine: Engine, timeout: float = 30) -> None:
    """Until some backend of this database waits on a lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND datname = current_database()"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.execute(query).scalar_one():
                return
        time.sleep(0.05)
    raise AssertionError("no backend started waiting on a lock")
