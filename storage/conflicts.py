"""Transactions that lose a race on PostgreSQL, run again from the start.

    stored = retry_conflicts(lambda: store_batch(engine, batch))

Two runs storing at once can take row locks in opposite orders (each inserting,
in its feed's order, articles or alerts the other inserts too; stories are
updated in id order, so they no longer do): PostgreSQL breaks such a
deadlock by failing one of the transactions (SQLSTATE 40P01), as it fails one side
of a serialization conflict (40001), and expects the client to run it again. The
failed transaction was rolled back whole, so `work` must be a whole transaction:
it opens its session, and commits or raises. Any other error is raised as it is.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

T = TypeVar("T")

CONFLICTS = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
ATTEMPTS = 5

_log = logging.getLogger(__name__)


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
            first_line = (str(error.orig).strip().splitlines() or ["conflict"])[0]
            _log.info(
                "transaction lost a conflict (%s); attempt %d of %d",
                first_line,
                attempt + 1,
                attempts,
            )
            time.sleep(random.uniform(0, base_delay * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover
