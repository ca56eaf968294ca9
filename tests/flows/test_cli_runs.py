"""`newswatch runs list` and `runs show`: past runs as the store recorded them, in full."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from flows import cli
from flows.cli import app
from flows.pipeline import Failure
from flows.summary import SECTION_ROWS, RunSummary, SourceReport
from storage import finish_run, open_store, start_run


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose store holds two runs: one finished with more failures than a run's
    markdown shows, and one still running."""
    monkeypatch.setattr(cli.out, "width", 200)
    path = tmp_path / "newswatch.toml"
    path.write_text('[database]\nurl = "sqlite:///newswatch.db"\n')
    engine = open_store(f"sqlite:///{tmp_path / 'newswatch.db'}")
    with Session(engine) as session:
        finished = start_run(session=session)
        assert finished.id is not None
        summary = RunSummary(run_id=finished.id, started_at=finished.started_at)
        summary.sources.append(SourceReport("wire", "feed", found=130, failures=SECTION_ROWS + 20))
        summary.failures = [
            Failure("wire", f"https://x.test/gone/{n}", f"HTTP 404 for page {n}")
            for n in range(SECTION_ROWS + 20)
        ]
        summary.new_articles = [{"source": "wire", "title": "t", "url": "u", "origin": "page"}]
        summary.alerts = [{"id": "a", "rule": "r", "title": "t", "url": "u", "snippet": "s"}] * 3
        finish_run(
            session=session, run_id=finished.id, status="completed", summary=summary.record()
        )
        start_run(session=session)  # a run still going: its own process is alive
    engine.dispose()
    return path


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_runs_are_listed_newest_first_with_their_counts(config: Path) -> None:
    listed = json.loads(invoke("runs", "list", "--config", str(config), "--json"))

    assert [(run["id"], run["status"]) for run in listed] == [(2, "running"), (1, "completed")]
    assert listed[0]["totals"] is None and listed[0]["finished_at"] is None
    assert listed[1]["totals"]["failures"] == SECTION_ROWS + 20
    table = invoke("runs", "list", "--config", str(config))
    assert "2 runs, newest first" in table and "completed" in table and "running" in table


def test_a_run_shows_every_failure_its_markdown_cut_short(config: Path) -> None:
    shown = invoke("runs", "show", "1", "--config", str(config))
    record = json.loads(invoke("runs", "show", "1", "--config", str(config), "--json"))

    assert f"HTTP 404 for page {SECTION_ROWS + 19}" in shown  # past the markdown's rows
    assert len(record["summary"]["failures"]) == SECTION_ROWS + 20
    assert record["summary"]["sources"][0]["name"] == "wire"


def test_a_run_row_counts_its_articles_and_alerts_and_says_where_they_are(config: Path) -> None:
    shown = invoke("runs", "show", "1", "--config", str(config))
    record = json.loads(invoke("runs", "show", "1", "--config", str(config), "--json"))

    # their own tables hold them by run: the row keeps the counts, not a second copy
    assert "new_articles" not in record["summary"] and "alerts" not in record["summary"]
    assert (record["totals"]["new"], record["totals"]["alerts"]) == (1, 3)
    assert "1 new article: newswatch export --run 1" in shown
    assert "3 alerts: newswatch alerts list --run 1" in shown


def test_a_run_shows_its_totals_in_words_not_as_field_names(config: Path) -> None:
    shown = invoke("runs", "show", "1", "--config", str(config))

    assert "run 1: completed, started " in shown
    assert (
        f"130 found: 1 new, 0 updated, 0 duplicates, 0 already stored, 0 not articles; "
        f"3 alerts; deliveries: 0 sent, 0 pending; {SECTION_ROWS + 20} failures; "
        "1 source (0 failed, 0 skipped)"
    ) in shown
    assert "already_stored" not in shown and "sources_failed" not in shown


def test_an_unknown_run_is_a_one_line_usage_error(config: Path) -> None:
    result = CliRunner().invoke(app, ["runs", "show", "99", "--config", str(config)])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "newswatch: error: run 99: not in the store (`newswatch runs list` lists them)"
    )


def test_a_run_past_the_retention_shows_its_totals_and_when_its_details_went(
    config: Path,
) -> None:
    from datetime import timedelta

    from storage import trim_old_runs, utcnow

    engine = open_store(f"sqlite:///{config.parent / 'newswatch.db'}")
    with Session(engine) as session:
        later = utcnow() + timedelta(days=91)
        assert trim_old_runs(session=session, now=later, keep=timedelta(days=90)) == 1
        session.commit()
    engine.dispose()

    shown = invoke("runs", "show", "1", "--config", str(config))
    record = json.loads(invoke("runs", "show", "1", "--config", str(config), "--json"))

    assert record["totals"]["failures"] == SECTION_ROWS + 20  # the counts stay
    assert "failures" not in record["summary"] and "sources" not in record["summary"]
    assert record["details_removed_at"].startswith(later.date().isoformat())
    assert "details dropped" in shown and "run_details_days" in shown
    assert "HTTP 404" not in shown
