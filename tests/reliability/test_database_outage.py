"""The store's PostgreSQL goes away in the middle of a run, stopped the way a crash stops it
(`pg_ctl stop -m immediate`), on a private cluster: the run fails with one line naming
the store and exit status 1, nothing half written remains, and once the server is back
the next run completes the work: every article once, every alert once and delivered,
no run row left "running"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, col, select

from storage import Run, StoreUnavailable, make_engine, open_store
from tests.reliability.cluster import PrivateCluster
from tests.reliability.killkit import check, finish, where_stopped
from tests.reliability.world import World

pytestmark = pytest.mark.reliability

MOMENTS: dict[str, Callable[[World], bool]] = {
    "while pages are fetched": lambda world: world.pages_served() >= 20,
    "while alerts are delivered": lambda world: len(world.hook.requests_to("/hook", "POST")) >= 5,
}


def run_statuses(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(Run.status).order_by(col(Run.id))).all())
    finally:
        engine.dispose()


def test_a_store_that_goes_away_raises_one_line_naming_it_then_serves_again_when_back(
    private_postgres: PrivateCluster,
) -> None:
    engine = open_store(private_postgres.url)
    try:
        with engine.connect() as held:
            held.execute(text("SELECT 1"))
            private_postgres.stop(mode="immediate")
            with pytest.raises(StoreUnavailable) as dropped:  # a connection the server lost
                held.execute(text("SELECT 1"))
        with pytest.raises(StoreUnavailable) as refused, Session(engine) as session:
            session.exec(select(Run)).all()  # a new connection the server refuses
        private_postgres.start()
        with Session(engine) as session:  # the pool notices the restart and reconnects
            assert session.exec(select(Run)).all() == []
    finally:
        engine.dispose()

    for error in (dropped.value, refused.value):
        assert str(error).startswith(f"store {private_postgres.url}: ")
        assert "\n" not in str(error)
    assert "server closed the connection" in str(dropped.value)
    assert "Connection refused" in str(refused.value)


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_postgresql_stopped_mid_run_fails_it_in_one_line_and_the_next_run_completes_the_work(
    moment: str, private_postgres: PrivateCluster, prefect_api: str, tmp_path: Path
) -> None:
    world = World(tmp_path, prefect_api, database_url=private_postgres.url, hang_up=False)
    try:
        run = world.start_run()
        world.tripwire.arm(
            run, lambda: MOMENTS[moment](world), lambda: private_postgres.stop(mode="immediate")
        )
        code = finish(run)
        world.tripwire.disarm()
        output = world.log.read_text(errors="replace")

        assert world.tripwire.fired_at is not None, output
        assert code == 1, output
        errors = [line for line in output.splitlines() if line.startswith("newswatch: error:")]
        assert len(errors) == 1, output
        assert errors[0].startswith(f"newswatch: error: store {private_postgres.url}: "), output

        private_postgres.start()
        stopped = where_stopped(world, killed=True)
        rerun = world.start_run()
        outcome = check(world, moment, killed=True, code=finish(rerun), landing=stopped)
    finally:
        world.close()

    assert outcome.problems() == []
    assert (outcome.articles, outcome.alerts) == (world.pages, len(world.expected_alerts))
    assert run_statuses(private_postgres.url) == ["abandoned", "completed"]
    assert "Traceback" not in output  # the one line says it; the Prefect API has the rest
