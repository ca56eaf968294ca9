"""The soak at CI size: `benchmarks.soak` with 40 feeds, 1,000 articles and 3 runs of the
real monitor flow in this process, then every article, alert, delivery and webhook key
checked, and RSS after each run compared (`python -m benchmarks.soak` runs it at 500 feeds
and 20,000 articles)."""

from __future__ import annotations

import pytest

from benchmarks.soak import RunRow, SoakResult, flatness, main, soak
from benchmarks.soak_site import RULES, Plan, topics

pytestmark = [pytest.mark.soak, pytest.mark.flow]

PLAN = Plan(feeds=40, articles=1_000, runs=3)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> SoakResult:
    return soak(PLAN, folder=tmp_path_factory.mktemp("soak"))


def test_every_run_stores_exactly_what_it_published(result: SoakResult) -> None:
    assert [(row.new, row.failures) for row in result.rows] == [
        (len(PLAN.new_in(run)), 0) for run in range(PLAN.runs)
    ]


@pytest.mark.parametrize(
    "check",
    [
        "articles in the store",
        "alerts (rule, article)",
        "deliveries sent",
        "one delivery per alert",
        "idempotency keys received",
        "article pages requested",
    ],
)
def test_soak_loses_nothing_and_doubles_nothing(result: SoakResult, check: str) -> None:
    found = {c.name: c for c in result.checks}[check]
    assert found.ok, found.detail


def test_every_alert_fires_and_is_delivered_in_the_run_that_published_it(
    result: SoakResult,
) -> None:
    expected = [
        sum(rule.fires(topics(number)) for number in PLAN.new_in(run) for rule in RULES)
        for run in range(PLAN.runs)
    ]
    assert [row.alerts for row in result.rows] == expected
    assert [row.sent for row in result.rows] == expected


def test_memory_stays_flat_from_the_second_run_on(result: SoakResult) -> None:
    flat, verdict = result.flat
    assert flat, verdict


def row(run: int, after_mb: float) -> RunRow:
    return RunRow(
        run=run,
        published=4000,
        new=4000,
        alerts=700,
        sent=700,
        failures=0,
        seconds=60.0,
        peak_mb=after_mb + 250,
        after_mb=after_mb,
        main_mb=after_mb - 140,
        site_cpu=1.0,
    )


@pytest.mark.parametrize(
    ("afters", "flat"),
    [
        ([400, 420, 425, 430, 432], True),  # run 1 warms up, then +12 MB in 3 runs
        ([400, 420, 430, 440, 450], False),  # +10 MB a run: a leak
        ([400, 420], None),  # too few runs to judge
    ],
)
def test_flatness_judges_growth_after_the_warm_up_run(
    afters: list[float], flat: bool | None
) -> None:
    rows = [row(run, after) for run, after in enumerate(afters, start=1)]
    assert flatness(rows)[0] is flat


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--feeds", "0"], "argument --feeds: must be at least 1, got 0"),
        (["--articles", "3", "--runs", "5"], "--articles 3: fewer than --runs 5"),
    ],
)
def test_soak_command_rejects_bad_sizes_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    assert message in capsys.readouterr().err.splitlines()[-1]
