"""`newswatch run` SIGKILLed, with its forkserver and extraction workers, at each kind of
point (see `killkit`), then run again: no article missing or stored twice, no alert lost
or recorded twice, every alert delivered; the one message in flight at a kill between
send and record goes out again with its key, as the README documents. The full count
over many random points: `python -m benchmarks.killpoints --runs 50`."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.reliability.killkit import KillPoint, Timing, calibrate, trial

pytestmark = pytest.mark.reliability

SEED = 11


@pytest.fixture(scope="module")
def timing(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Timing:
    """A run without a kill, measured (and checked like the others)."""
    return calibrate(tmp_path_factory.mktemp("calibration"), api_url=prefect_api)


# kind → (what the traces of the killed run show, webhook re-sends, emails sent twice)
EXPECTED = {
    KillPoint.FETCH: ("fetch and extraction", 0, 0),
    KillPoint.EXTRACTION: ("fetch and extraction", 0, 0),
    KillPoint.STORED: ("some articles stored, no alert sent", 0, 0),
    KillPoint.WEBHOOK: ("delivery", 1, 0),
    KillPoint.EMAIL: ("delivery", 0, 1),  # at least once: the same Message-ID twice
}


@pytest.mark.parametrize("kind", list(EXPECTED), ids=[kind.name.lower() for kind in EXPECTED])
def test_a_run_killed_at_this_point_and_run_again_loses_nothing_and_resends_only_by_key(
    kind: KillPoint, prefect_api: str, timing: Timing, tmp_path: Path
) -> None:
    outcome = trial(tmp_path, kind, api_url=prefect_api, timing=timing, rng=random.Random(SEED))

    where, webhook_resends, email_resends = EXPECTED[kind]
    assert outcome.killed, outcome.point
    assert outcome.problems() == [], outcome.point
    assert (outcome.articles, outcome.alerts) == (60, 27)
    stopped = outcome.landing
    if kind is KillPoint.STORED:
        assert stopped.stored > 0 and stopped.sent == 0, stopped
    else:
        assert stopped.phase == where, stopped
    assert (outcome.webhook_resends, outcome.email_resends) == (webhook_resends, email_resends)


def test_a_run_killed_after_a_random_delay_and_run_again_loses_nothing(
    prefect_api: str, timing: Timing, tmp_path: Path
) -> None:
    outcome = trial(
        tmp_path, KillPoint.TIMER, api_url=prefect_api, timing=timing, rng=random.Random(SEED)
    )

    # drawn over a measured run, the kill may come after this run's end: checked all the same
    assert outcome.problems() == [], f"{outcome.point}, {outcome.landing}"
    assert (outcome.articles, outcome.alerts) == (60, 27)
