"""Tidying the store: what each run does after its alerts went out, and `db prune` at once.

    tidy(session=session, settings=settings, now=utcnow())            # a run's share
    tidy(session=session, settings=settings, now=utcnow(), whole=True)  # everything due

Removes the story index rows of articles past the story window (`prune_story_index`) and
drops the details of runs older than `[database] run_details_days` (`trim_old_runs`).
Plain functions: no Prefect here, so the CLI can call them without importing it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from flows.settings import Settings
from storage import prune_story_index, retry_conflicts, trim_old_runs, utcnow
from storage.errors import first_line
from storage.runs import TRIM_LIMIT
from storage.story_index import PRUNE_LIMIT


def tidy(
    *, session: Session, settings: Settings, now: datetime, whole: bool = False
) -> tuple[int, int]:
    """(articles pruned, runs trimmed) in `session`, uncommitted: a run's share (the
    oldest 5,000 articles and 500 runs due), or with `whole` everything due."""
    options, keep = settings.stories.options(), settings.database.run_details
    pruned = prune_story_index(
        session=session, now=now, options=options, limit=None if whole else PRUNE_LIMIT
    )
    trimmed = trim_old_runs(
        session=session, now=now, keep=keep, limit=None if whole else TRIM_LIMIT
    )
    return pruned, trimmed


def tidy_store(
    engine: Engine, *, settings: Settings, log: logging.Logger | logging.LoggerAdapter[Any]
) -> tuple[int, int] | None:
    """A run's share of `tidy`, in a transaction of its own: (articles pruned, runs
    trimmed), or None when it failed: housekeeping, a warning in `log`, never the run's
    failure."""

    def transaction() -> tuple[int, int]:
        with Session(engine) as session:
            tidied = tidy(session=session, settings=settings, now=utcnow())
            session.commit()
        return tidied

    try:
        pruned, trimmed = retry_conflicts(transaction)
    except SQLAlchemyError as error:
        reason = first_line(error, default="no reason given")
        log.warning("store: old rows not tidied this run: %s", reason)
        return None
    if pruned or trimmed:
        log.info(
            "store tidied: story index rows of articles past the story window removed (%d), "
            "details of runs past %g days dropped (%d)",
            pruned,
            settings.database.run_details_days,
            trimmed,
        )
    return pruned, trimmed
