"""`newswatch sources pause|resume|remove` through typer's runner, on a config and store
in tmp_path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from flows.cli import app
from flows.settings import load_settings
from storage import ArticleIn, add_articles, ensure_sources, open_store, record_source_health
from tests.flows.test_cli_sources import config_file, sources

CONFIG = """# My newswatch config: keep this comment.
[database]
url = "{url}"

# the local paper
[[sources]]
name = "Gazette"
feed = "https://gazette.test/feed"  # since 2019

[[sources]]
name = "Daily World"
feed = "https://daily.test/world.xml"
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return config_file(tmp_path, monkeypatch, CONFIG)


def statuses(config: Path) -> list[tuple[str, str]]:
    code, stdout, _ = sources(config, "list", "--json")
    assert code == 0
    return [(view["name"], view["status"]) for view in json.loads(stdout)]


def test_a_paused_source_is_listed_as_paused_until_it_is_resumed(config: Path) -> None:
    code, stdout, _ = sources(config, "pause", "Gazette", "--reason", "redesign")

    assert code == 0
    assert stdout == "paused Gazette: no run polls it until `newswatch sources resume`\n"
    assert statuses(config) == [("Gazette", "paused"), ("Daily World", "never polled")]
    today = datetime.now(UTC).date().isoformat()
    assert f"paused = true  # since {today}: redesign\n" in config.read_text()
    assert sources(config, "pause", "Gazette")[1] == "Gazette is paused already\n"

    code, stdout, _ = sources(config, "resume", "Gazette", "Daily World")

    assert code == 0
    assert stdout == "resumed Gazette: the next run polls it\nDaily World is not paused\n"
    assert config.read_text() == CONFIG.format(url=load_settings(config).database.url)
    assert statuses(config) == [("Gazette", "never polled"), ("Daily World", "never polled")]


def test_resuming_a_source_backing_off_says_until_when_and_how_to_poll_it_now(
    config: Path, tmp_path: Path
) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'newswatch.db'}")
    with Session(engine) as session:
        ids = ensure_sources(
            session=session, sources=[("Daily World", "feed", "https://daily.test/world.xml")]
        )
        failed = datetime.now(UTC) - timedelta(minutes=1)
        for _ in range(3):
            record_source_health(
                session=session, source_id=ids["Daily World"], error="HTTP 503", when=failed
            )
        session.commit()
    engine.dispose()
    sources(config, "pause", "Daily World")

    code, stdout, _ = sources(config, "resume", "Daily World")

    assert code == 0
    assert stdout.startswith("resumed Daily World: backing off after 3 failures (HTTP 503) until ")
    assert stdout.rstrip().endswith(
        "UTC; `newswatch run --source 'Daily World' --ignore-backoff` polls it now"
    )


def test_removing_a_source_keeps_its_stored_articles_and_the_other_blocks(
    config: Path, database_url: str
) -> None:
    config.write_text(CONFIG.format(url=database_url), encoding="utf-8")
    engine = open_store(database_url)
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("Gazette", "feed", "x")])
        articles = [
            ArticleIn(
                url=f"https://gazette.test/{n}",
                source="Gazette",
                title=f"Story {n}",
                text=f"Story number {n} of the Gazette, told at length.",
                origin="page",
            )
            for n in range(2)
        ]
        add_articles(session=session, articles=articles, source_ids=ids, run_id=None)
        session.commit()

    code, stdout, _ = sources(config, "remove", "Gazette", "Daily World")

    assert code == 0
    assert stdout.splitlines() == [
        "removed Gazette (feed https://gazette.test/feed); its 2 stored articles stay in the store",
        "removed Daily World (feed https://daily.test/world.xml); nothing was stored from it",
    ]
    text = config.read_text()
    assert text.startswith("# My newswatch config: keep this comment.\n[database]\n")
    assert "the local paper" not in text and "[[sources]]" not in text
    assert load_settings(config).sources == ()
    engine.dispose()
    exported = CliRunner().invoke(
        app, ["export", "--format", "jsonl", "--source", "Gazette", "--config", str(config)]
    )
    assert exported.exit_code == 0
    assert len(exported.stdout.splitlines()) == 2  # the store still gives them out


def test_removing_with_the_store_unreachable_still_edits_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSWATCH_DATABASE_URL", raising=False)
    config = tmp_path / "newswatch.toml"
    config.write_text(CONFIG.format(url="postgresql+psycopg://postgres@127.0.0.1:1/newswatch"))

    code, stdout, _ = sources(config, "remove", "Gazette")

    assert code == 0
    assert stdout == (
        "removed Gazette (feed https://gazette.test/feed); what the store holds from it stays"
        " there\n"
    )
    assert [s.name for s in load_settings(config).sources] == ["Daily World"]


@pytest.mark.parametrize("command", ["pause", "resume", "remove"])
def test_an_unknown_name_exits_2_and_leaves_the_config_unchanged(
    config: Path, command: str
) -> None:
    before = config.read_bytes()

    code, _, stderr = sources(config, command, "Gazette", "Reuters")

    assert code == 2
    assert stderr == (
        f"newswatch: error: {config}: sources: unknown source 'Reuters'"
        " (known: Gazette, Daily World) (the config is left unchanged)\n"
    )
    assert config.read_bytes() == before
