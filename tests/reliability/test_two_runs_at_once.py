"""Two `newswatch run` processes at once over one site and one SQLite store, with both
channels. tests/test_concurrency.py races two runs on SQLite and PostgreSQL for
duplicates; this adds what it leaves out: neither run reports a locked database or any
other failure, and each alert reaches the webhook and the mailbox exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.killkit import Landing, check, finish
from tests.reliability.world import World

pytestmark = pytest.mark.reliability


def test_two_runs_at_once_on_sqlite_store_alert_and_deliver_everything_once_and_never_lock(
    prefect_api: str, tmp_path: Path
) -> None:
    world = World(tmp_path, prefect_api)
    try:
        world.site.rendezvous("/feed.xml", 2)  # both see every entry as new, then race
        runs = [world.start_run() for _ in range(2)]
        codes = [finish(run) for run in runs]
        logs = [(tmp_path / f"run-{n}.log").read_text(errors="replace") for n in (1, 2)]
        outcome = check(world, "two at once", killed=False, code=0, landing=Landing("", 0, 0))
    finally:
        world.close()

    assert codes == [0, 0], logs
    for log in logs:
        assert "database is locked" not in log
        assert '"failures": []' in log and '"sources_failed": 0' in log, log
    assert outcome.problems() == []
    assert (outcome.webhook_resends, outcome.email_resends) == (0, 0)
    assert sum(r.path.startswith("/news/") for r in world.site.requests) == 2 * world.pages
