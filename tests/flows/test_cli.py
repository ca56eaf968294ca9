"""The `newswatch` console script as users call it: exit codes, one-line errors, JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
NEWSWATCH = Path(sys.executable).with_name("newswatch")


def newswatch(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k != "NEWSWATCH_DATABASE_URL"}
    return subprocess.run(
        [str(NEWSWATCH), *args],
        cwd=cwd,
        env=inherited | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_config_exits_2_with_one_line_naming_the_file(tmp_path: Path) -> None:
    result = newswatch("run", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "newswatch: error: newswatch.toml: file not found"
    assert result.stdout == ""


def test_invalid_rule_exits_2_naming_rule_and_position(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[rules]]\nname = "r"\nquery = \'"missile launcher\'\n')
    result = newswatch("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"newswatch: error: {config}: rules[0].query: ")
    assert "position 0" in line


def test_unreachable_store_exits_1_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "newswatch.toml").write_text(
        '[database]\nurl = "postgresql+psycopg://nw:pw@127.0.0.1:1/none"\n'
    )
    result = newswatch("alerts", "list", cwd=tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("newswatch: error: store postgresql+psycopg://nw:***@127.0.0.1:1/none")
    run = newswatch("run", cwd=tmp_path)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr


@pytest.mark.flow
def test_bundled_example_run_prints_pure_json_with_the_alert(tmp_path: Path) -> None:
    """The quick start's example, through the installed console script and a temporary
    Prefect server, reading ./newswatch.toml from the working folder."""
    example = tmp_path / "example"
    shutil.copytree(PROJECT / "examples", example, ignore=shutil.ignore_patterns("*.db*"))
    env = {"PREFECT_HOME": str(tmp_path / "prefect")}
    result = newswatch("run", "--json", cwd=example, env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["totals"]["new"] == len(list((example / "seeds").glob("*.txt")))
    (alert,) = summary["alerts"]
    assert alert["rule"] == "missile-launchers"
    assert "missile launchers" in alert["snippet"]
    assert (example / "newswatch.db").exists()


HOSTILE = "Markets [/] rally [bold]despite[/bold] [link=http://evil.test]fears[/link]"


def test_run_summary_prints_titles_literally_never_as_markup() -> None:
    from datetime import UTC, datetime

    from flows import cli
    from flows.summary import RunSummary, SourceReport

    summary = RunSummary(run_id=1, started_at=datetime.now(UTC))
    summary.sources.append(SourceReport("[red]desk", "seeds", found=1, new=1))
    summary.alerts.append(
        {
            "id": "a",
            "rule": "r",
            "title": HOSTILE,
            "url": "https://x.test/a",
            "source": "[/]",
            "published_at": None,
            "snippet": "…[/] snippet…",
            "channels": [],
        }
    )
    with cli.out.capture() as captured:
        cli._print_summary(summary)
    printed = " ".join(captured.get().split())
    assert HOSTILE in printed
    assert "[red]desk" in printed and "…[/] snippet…" in printed


def test_alerts_table_prints_titles_literally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlmodel import Session
    from typer.testing import CliRunner

    from alerts import Rule, RuleSet, record_alerts
    from flows import cli
    from flows.cli import app
    from storage import ArticleIn, add_articles, ensure_sources, open_store

    database = tmp_path / "newswatch.db"
    (tmp_path / "newswatch.toml").write_text('[database]\nurl = "sqlite:///newswatch.db"\n')
    engine = open_store(f"sqlite:///{database}")
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("desk", "seeds", "seeds/")])
        article = ArticleIn(
            url="https://x.test/a",
            source="desk",
            title=HOSTILE,
            text="Markets rally despite fears.",
            origin="seed",
        )
        stored = add_articles(session=session, articles=[article], source_ids=ids, run_id=None)
        record_alerts(
            session=session, rules=RuleSet([Rule(name="m", query="markets")]), articles=stored.new
        )
        session.commit()
    engine.dispose()
    monkeypatch.setattr(cli.out, "width", 400)
    config = str(tmp_path / "newswatch.toml")
    result = CliRunner().invoke(app, ["alerts", "list", "--config", config])
    assert result.exit_code == 0, result.output
    assert HOSTILE in result.stdout


def test_export_filters_by_date_and_source_and_db_upgrade_reports_the_revision(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from sqlmodel import Session
    from typer.testing import CliRunner

    from flows.cli import app
    from storage import ArticleIn, add_articles, ensure_sources, open_store
    from storage.migrate import head_revision

    config = tmp_path / "newswatch.toml"
    config.write_text('[database]\nurl = "sqlite:///newswatch.db"\n')
    engine = open_store(f"sqlite:///{tmp_path / 'newswatch.db'}")
    rows = [
        ("a", "desk", datetime(2024, 1, 5, tzinfo=UTC)),
        ("b", "wire", datetime(2025, 3, 1, tzinfo=UTC)),
        ("c", "desk", datetime(2025, 3, 2, tzinfo=UTC)),
    ]
    with Session(engine) as session:
        ids = ensure_sources(
            session=session, sources=[("desk", "seeds", "s/"), ("wire", "feed", "https://w.test/")]
        )
        articles = [
            ArticleIn(
                url=f"https://x.test/{name}",
                source=source,
                title=name,
                text=f"Text of article {name}.",
                origin="seed",
                published_at=when,
            )
            for name, source, when in rows
        ]
        add_articles(session=session, articles=articles, source_ids=ids, run_id=None)
        session.commit()
    engine.dispose()

    def exported(*args: str) -> list[str]:
        result = CliRunner().invoke(app, ["export", "--config", str(config), *args])
        assert result.exit_code == 0, result.output
        return [json.loads(line)["title"] for line in result.stdout.splitlines()]

    assert exported() == ["a", "b", "c"]
    assert exported("--since", "2025-01-01") == ["b", "c"]
    assert exported("--since", "2025-01-01", "--source", "desk") == ["c"]
    bad = CliRunner().invoke(app, ["export", "--config", str(config), "--since", "yesterday"])
    assert bad.exit_code == 2
    upgraded = CliRunner().invoke(app, ["db", "upgrade", "--config", str(config)])
    assert upgraded.exit_code == 0
    assert f"schema at {head_revision()}" in upgraded.stdout


def test_run_of_an_unknown_source_exits_2_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text('[[sources]]\nname = "dw"\nurls = ["https://dw.example/a"]\n')
    result = newswatch("run", "--config", str(config), "--source", "nope", cwd=tmp_path)
    assert result.returncode == 2
    assert "'nope'" in result.stderr and "known: dw" in result.stderr
