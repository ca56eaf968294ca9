"""Monitoring runs: one row each, opened at the start and closed with its summary.

    run = start_run(session=session, flow_run_id="...")   # also closes abandoned rows
    finish_run(session=session, run_id=run.id, status="completed", summary={...})

A run that dies before it can close its row (SIGKILL, a crash of the machine,
the store gone when the run tried to record its failure) leaves it "running".
The next run to start closes such a row as "abandoned", so no row says
"running" forever: at once when the process that opened it is known to be
gone (a row opened on this host by a process id that no longer exists), and
otherwise once it is older than `STALE_AFTER`, longer than any run takes.
While a run works, its row's summary names the host and process that own it.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from storage.models import Run, utcnow

RUNNING, ABANDONED = "running", "abandoned"
STALE_AFTER = timedelta(hours=24)
TRIM_LIMIT = 500  # run rows a call trims at most: a long history goes over several runs
# what a run's row keeps for good: when it ran and what it counted
KEPT = ("run_id", "flow_run_id", "started_at", "finished_at", "totals", "abandoned")


def start_run(*, session: Session, flow_run_id: str | None = None) -> Run:
    """Open this process's run row (after closing the rows other runs abandoned)."""
    close_abandoned_runs(session=session)
    owner = {"host": socket.gethostname(), "pid": os.getpid()}
    run = Run(flow_run_id=flow_run_id, summary=json.dumps(owner))
    session.add(run)
    session.commit()
    session.refresh(run)
    return run


def finish_run(*, session: Session, run_id: int, status: str, summary: dict[str, Any]) -> None:
    run = session.get(Run, run_id)
    if run is None:
        return
    run.status = status
    run.finished_at = utcnow()
    run.summary = json.dumps(summary, default=str)
    session.add(run)
    session.commit()


def close_abandoned_runs(
    *, session: Session, now: datetime | None = None, stale_after: timedelta = STALE_AFTER
) -> list[int]:
    """Mark "abandoned" every run row still "running" whose process is gone or that is
    older than `stale_after`; returns their ids. A row some other live process may
    still own is left alone: two runs at once are allowed."""
    now = now or utcnow()
    host = socket.gethostname()
    closed = []
    for run in session.exec(select(Run).where(col(Run.status) == RUNNING)).all():
        owner = _summary_of(run.summary)
        gone = owner.get("host") == host and not _alive(owner.get("pid"))
        if not (gone or run.started_at < now - stale_after):
            continue
        reason = "its process is gone" if gone else f"still running after {stale_after}"
        run.status = ABANDONED
        run.summary = json.dumps({**owner, "abandoned": f"noticed at {now.isoformat()}: {reason}"})
        session.add(run)
        closed.append(run.id)
    if closed:
        session.commit()
    return [run_id for run_id in closed if run_id is not None]


def trim_old_runs(
    *, session: Session, now: datetime, keep: timedelta, limit: int | None = TRIM_LIMIT
) -> int:
    """Drop the details from the summaries of runs that finished more than `keep` before
    `now`, oldest first, at most `limit` rows: their per-source table, failures, skipped
    pages and delivery errors go, their times and totals stay. The number of rows trimmed.

    With hundreds of sources polled every few minutes, the per-source table alone is
    megabytes a day; what a run stored is in the articles and alerts tables either way.
    """
    query = (
        select(Run)
        .where(col(Run.finished_at) < now - keep, col(Run.details_removed_at).is_(None))
        .order_by(col(Run.id))
    )
    rows = session.exec(query.limit(limit) if limit is not None else query).all()
    for run in rows:
        summary = _summary_of(run.summary)
        run.summary = json.dumps({key: summary[key] for key in KEPT if key in summary})
        run.details_removed_at = now
        session.add(run)
    return len(rows)


def recent_runs(*, session: Session, limit: int = 20) -> list[Run]:
    return list(session.exec(select(Run).order_by(col(Run.id).desc()).limit(limit)).all())


def _summary_of(summary: str | None) -> dict[str, Any]:
    """A row's summary as a dict: for a running row, the host and process id it was
    opened by ({} for rows from before they were recorded, or unreadable)."""
    try:
        owner = json.loads(summary or "{}")
    except ValueError:
        return {}
    return owner if isinstance(owner, dict) else {}


def _alive(pid: object) -> bool:
    """Whether a process with this id exists here (a process id we cannot read counts as
    alive: only a process known to be gone frees its row early)."""
    if not isinstance(pid, int) or pid <= 0:
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A process that exited but was not reaped yet is gone for our purpose (Linux only)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
