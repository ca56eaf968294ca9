"""A run that died before closing its row (SIGKILL, the store gone when it tried) leaves
it "running"; the next run to start closes it as "abandoned", and never a row a live
process may still own: two runs at once are allowed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from storage import Run, start_run, utcnow
from storage.runs import STALE_AFTER, close_abandoned_runs


def left_running(engine: Engine, *, host: str, pid: int | None, age: timedelta) -> int:
    """A row as a run leaves it when its process dies: "running", owned by `pid` on `host`."""
    owner = {"host": host, "pid": pid} if pid is not None else {}
    with Session(engine) as session:
        row = Run(started_at=utcnow() - age, summary=json.dumps(owner) if owner else None)
        session.add(row)
        session.commit()
        assert row.id is not None
        return row.id


def statuses(engine: Engine) -> dict[int, str]:
    with Session(engine) as session:
        rows = session.exec(select(Run).order_by(col(Run.id))).all()
        return {row.id: row.status for row in rows if row.id is not None}


def gone_pid() -> int:
    """The id of a process that has exited and been reaped."""
    process = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(process.stdout)


def test_the_next_run_closes_a_row_whose_process_is_gone_and_keeps_live_ones(
    engine: Engine,
) -> None:
    here = socket.gethostname()
    dead = left_running(engine, host=here, pid=gone_pid(), age=timedelta(minutes=1))
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        alive = left_running(engine, host=here, pid=live.pid, age=timedelta(minutes=1))
        elsewhere = left_running(engine, host="other-host", pid=1, age=timedelta(hours=1))
        with Session(engine) as session:
            new = start_run(session=session).id
        live.kill()

    assert statuses(engine) == {
        dead: "abandoned",
        alive: "running",
        elsewhere: "running",
        new: "running",
    }
    with Session(engine) as session:
        closed = session.get(Run, dead)
        assert closed is not None and "its process is gone" in (closed.summary or "")
        mine = session.get(Run, new)
        assert mine is not None
        assert json.loads(mine.summary or "") == {"host": here, "pid": os.getpid()}


def test_a_row_no_process_can_be_asked_about_is_closed_once_older_than_any_run(
    engine: Engine,
) -> None:
    recent = left_running(engine, host="other-host", pid=1, age=timedelta(hours=1))
    stale = left_running(engine, host="other-host", pid=1, age=STALE_AFTER + timedelta(hours=1))
    unowned = left_running(engine, host="", pid=None, age=STALE_AFTER + timedelta(minutes=1))

    with Session(engine) as session:
        closed = close_abandoned_runs(session=session)

    assert sorted(closed) == sorted([stale, unowned])
    assert statuses(engine) == {recent: "running", stale: "abandoned", unowned: "abandoned"}
