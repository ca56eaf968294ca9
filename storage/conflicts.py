"""Transactions that lose a race on PostgreSQL, run again from the start.

    stored = retry_conflicts(lambda: store_batch(engine, batch))

Two runs storing at once could take row locks in opposite orders, each inserting,
in its feed's order, articles the other inserts too. They no longer do: a batch
first locks what it is about to insert (`lock_keys`), alerts go in sorted by
rule and story, feed entries' GUIDs by source and GUID, stories are updated in
id order. Should two transactions still
deadlock, PostgreSQL breaks it by failing one of them (SQLSTATE 40P01), as it
fails one side of a serialization conflict (40001), and expects the client to
run it again. The failed transaction was rolled back whole, so `work` must be a
whole transaction: it opens its session, and commits or raises. Any other error
is raised as it is.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from storage.errors import first_line

T = TypeVar("T")

CONFLICTS = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
ATTEMPTS = 5

_log = logging.getLogger(__name__)
# one statement takes them all, in the order given: rows of `unnest` come in array order
_LOCK = text("SELECT count(pg_advisory_xact_lock(id)) FROM unnest(CAST(:ids AS bigint[])) AS id")


def lock_keys(session: Session, keys: Iterable[str]) -> None:
    """Hold a lock on each of `keys` until the session's transaction ends, on PostgreSQL;
    nothing on SQLite, which lets one writer in at a time.

    `keys` name the unique values a batch is about to insert (its articles' URLs and
    text hashes). They are locked first thing, in one order every transaction shares:
    two runs storing some of the same articles then wait for each other holding nothing
    else, where inserting each in its feed's order they could take the rows' index
    entries in opposite orders and deadlock midway. The runs' rows keep their feed's
    order (article ids are the order they were stored in). Two keys sharing a lock (64
    bits of their hash) only make a run wait. A run's batch of 50 articles takes 100:
    PostgreSQL's lock table is shared, 64 a connection by default
    (`max_locks_per_transaction`), so a few dozen runs storing at once fit.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = sorted({_lock_id(key) for key in keys})
    if ids:
        session.execute(_LOCK, {"ids": ids})


def _lock_id(key: str) -> int:
    digest = hashlib.blake2b(f"newswatch\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def is_conflict(error: BaseException) -> bool:
    """Whether `error` is PostgreSQL failing a transaction to resolve a conflict."""
    if not isinstance(error, DBAPIError):
        return False
    state = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return state in CONFLICTS


def retry_conflicts(
    work: Callable[[], T], *, attempts: int = ATTEMPTS, base_delay: float = 0.05
) -> T:
    """`work()`, run again after a random pause (up to `base_delay` doubled per attempt)
    each time PostgreSQL fails it for a conflict, at most `attempts` times in all."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as error:
            if not is_conflict(error) or attempt == attempts:
                raise
            _log.info(
                "transaction lost a conflict (%s); attempt %d of %d",
                first_line(error, default="conflict"),
                attempt + 1,
                attempts,
            )
            time.sleep(random.uniform(0, base_delay * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover
