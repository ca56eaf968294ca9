"""`newswatch serve` against a real Prefect server on PostgreSQL: a scheduled run completes,
publishes its summary, and the summary's counts are the store's."""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime

import pytest
from sqlalchemy import create_engine, text

from tests.ops.conftest import INTERVAL, PrefectServer, ServedRun

pytestmark = [pytest.mark.flow, pytest.mark.ops]


def store_counts(store: str, flow_run_id: str) -> dict[str, object]:
    """What the store holds for the run recorded with `flow_run_id`."""
    engine = create_engine(store)
    try:
        with engine.connect() as conn:
            run_id = conn.execute(
                text("SELECT id FROM runs WHERE flow_run_id = :id"), {"id": flow_run_id}
            ).scalar_one()
            new = dict(
                conn.execute(
                    text(
                        "SELECT s.name, count(*) FROM articles a JOIN sources s "
                        "ON s.id = a.source_id WHERE a.run_id = :run GROUP BY s.name"
                    ),
                    {"run": run_id},
                ).all()
            )
            alerts = conn.execute(
                text("SELECT count(*) FROM alerts WHERE run_id = :run"), {"run": run_id}
            ).scalar_one()
            gone = conn.execute(
                text("SELECT consecutive_failures, last_error FROM sources WHERE name = 'gone'")
            ).one()
    finally:
        engine.dispose()
    return {"run_id": run_id, "new": new, "alerts": alerts, "gone": tuple(gone)}


def sources_table(markdown: str) -> list[list[str]]:
    """The rows of the summary's first table, one per source, as lists of cells."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| source | kind |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_scheduled_run_completes_with_the_deployments_sources_and_tags(
    served_run: ServedRun,
) -> None:
    run, deployment = served_run.flow_run, served_run.deployment
    assert run["state_type"] == "COMPLETED"
    assert run["deployment_id"] == deployment["id"]
    assert run["parameters"] == {
        "config_path": str(served_run.config),
        "sources": ["news", "gone"],
    }
    assert {"newswatch", "news", "gone"} <= set(run["tags"])


def test_the_deployment_runs_one_at_a_time_and_is_paused_when_serving_stops(
    served_run: ServedRun,
) -> None:
    deployment = served_run.deployment
    (schedule,) = deployment["schedules"]
    assert schedule["schedule"]["interval"] == 5
    assert deployment["entrypoint"] == "flows.monitor.monitor"
    assert deployment["global_concurrency_limit"]["limit"] == 1
    assert deployment["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    assert deployment["paused"]  # `serve` pauses its schedules on the way out
    # Runs cancelled by the limit (CANCEL_NEW) never ran: run_count 0, start == end.
    ran = [r for r in served_run.flow_runs if r["run_count"] and r["end_time"]]
    spans = sorted(
        (datetime.fromisoformat(r["start_time"]), datetime.fromisoformat(r["end_time"]))
        for r in ran
    )
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, f"two runs of newswatch every {INTERVAL} overlapped"


def test_the_summary_artifact_counts_are_the_stores(
    served_run: ServedRun, prefect_server: PrefectServer
) -> None:
    artifacts = prefect_server.api.artifacts(served_run.flow_run["id"])
    markdown = artifacts["newswatch-run-summary"]["data"]
    stored = store_counts(served_run.store, served_run.flow_run["id"])

    heading = re.search(r"^# newswatch run (\d+)$", markdown, re.MULTILINE)
    assert heading and int(heading.group(1)) == stored["run_id"]
    totals = re.search(r"(\d+) new articles, .*?; (\d+) alerts", markdown)
    assert totals, markdown
    assert int(totals.group(1)) == sum(stored["new"].values()) == 2  # type: ignore[union-attr]
    assert int(totals.group(2)) == stored["alerts"] == 1
    rows = {row[0]: row for row in sources_table(markdown)}
    assert rows["news"][1:5] == ["feed", "2", "0", "2"]  # kind, found, already stored, new
    assert rows["news"][4] == str(stored["new"]["news"])  # type: ignore[index]
    assert rows["gone"][-2].endswith("(source failed)")


def test_failing_sources_are_a_table_artifact_with_their_next_attempt(
    served_run: ServedRun, prefect_server: PrefectServer
) -> None:
    artifacts = prefect_server.api.artifacts(served_run.flow_run["id"])
    (row,) = json.loads(artifacts["newswatch-failing-sources"]["data"])
    failures, error = store_counts(served_run.store, served_run.flow_run["id"])["gone"]  # type: ignore[misc]
    assert row["source"] == "gone"
    assert "404" in row["error"]
    assert row["consecutive failures"] >= 1
    assert failures >= row["consecutive failures"] and error
    assert datetime.fromisoformat(row["next attempt"])
    assert "newswatch-alerts" in artifacts  # the run fired the rule on the parade page


def test_logs_carry_one_line_per_source_with_its_counts(
    served_run: ServedRun, prefect_server: PrefectServer
) -> None:
    messages = [entry["message"] for entry in prefect_server.api.logs(served_run.flow_run["id"])]
    assert any(m.startswith("news (feed): 2 found, 0 already stored, 2 new") for m in messages)
    assert any(m.startswith("gone (feed): ") and "source failed" in m for m in messages)
