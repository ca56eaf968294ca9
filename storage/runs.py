"""Monitoring runs: one row each, opened at the start and closed with its summary."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from storage.models import Run, utcnow


def start_run(*, session: Session, flow_run_id: str | None = None) -> Run:
    run = Run(flow_run_id=flow_run_id)
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


def recent_runs(*, session: Session, limit: int = 20) -> list[Run]:
    return list(session.exec(select(Run).order_by(col(Run.id).desc()).limit(limit)).all())
