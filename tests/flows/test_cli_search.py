"""`newswatch search` and `newswatch stories` through the CLI, on a SQLite store in tmp_path."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from flows import cli as cli_module
from flows.cli import app
from storage import ArticleIn, add_articles, ensure_sources, open_store

WIRE = (
    "The central bank raised its main interest rate by a quarter point on Tuesday, "
    "citing persistent inflation in services and a labour market that remains tight. "
    "Officials said further increases were possible if price pressures failed to ease."
)
ARTICLES = [
    ("desk", "a", "Missile test over the sea", "Officials confirmed a launch [on Monday].", 3),
    ("wire", "b", "Markets wobble", "Stocks fell after a missile test rattled investors.", 1),
    ("wire", "c", "Bank raises rates", f"{WIRE} Wire copy.", 2),
    ("desk", "d", "Rates up", f"{WIRE} Desk copy.", 2),
    ("gazette", "e", "Weather", "Rain and sun across the region.", 2),
]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("NEWSWATCH_DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'newswatch.db'}"
    engine = open_store(url)
    with Session(engine) as session:
        ids = ensure_sources(
            session=session, sources=[(s, "feed", s) for s in ("desk", "wire", "gazette")]
        )
        articles = [
            ArticleIn(
                url=f"https://{source}.test/{key}",
                source=source,
                title=title,
                text=text,
                origin="page",
                published_at=datetime(2024, month, 1, tzinfo=UTC),
            )
            for source, key, title, text, month in ARTICLES
        ]
        add_articles(session=session, articles=articles, source_ids=ids, run_id=None)
        session.commit()
    engine.dispose()
    path = tmp_path / "newswatch.toml"
    path.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    return path


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as a desktop terminal, so cells do not wrap mid-title."""
    monkeypatch.setattr(cli_module.out, "width", 200)


def cli(config: Path, command: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [command, "--config", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def test_search_json_is_one_array_of_hits_best_first(config: Path) -> None:
    code, stdout, stderr = cli(config, "search", "missile", "--json")
    assert (code, stderr) == (0, "")
    hits = json.loads(stdout)
    assert [hit["title"] for hit in hits] == ["Missile test over the sea", "Markets wobble"]
    first = hits[0]
    assert first["url"] == "https://desk.test/a"
    assert first["source"] == "desk"
    assert first["published_at"] == "2024-03-01T00:00:00+00:00"
    assert first["score"] > hits[1]["score"]
    assert hits[1]["highlights"] == ["missile"]
    assert "[missile]" in hits[1]["snippet"]
    assert set(first) == {
        "article_id",
        "title",
        "url",
        "source",
        "published_at",
        "story_id",
        "score",
        "snippet",
        "highlights",
    }


@pytest.mark.parametrize(
    ("args", "titles"),
    [
        (["missile", "--source", "wire"], ["Markets wobble"]),
        (["missile", "--since", "2024-02-15"], ["Missile test over the sea"]),
        (["missile", "--since", "2024-02-15T00:00:00+05:00"], ["Missile test over the sea"]),
        (["missile", "--limit", "1"], ["Missile test over the sea"]),
        (["missile", "--until", "2024-02-29"], ["Markets wobble"]),  # the 1 January article
        (["missile", "--until", "2024-03-01"], ["Markets wobble", "Missile test over the sea"]),
        (["missile", "--until", "2024-03-01T00:00"], ["Markets wobble"]),  # a time: before it
        (["missile", "--until", "20240301"], ["Markets wobble", "Missile test over the sea"]),
        (["missile", "--since", "2024-02-01", "--until", "2024-02-29"], []),
        (["rain OR stocks"], ["Weather", "Markets wobble"]),
        (['"test missile"'], []),
    ],
)
def test_search_options(config: Path, args: list[str], titles: list[str]) -> None:
    code, stdout, _ = cli(config, "search", *args, "--json")
    assert code == 0
    assert sorted(hit["title"] for hit in json.loads(stdout)) == sorted(titles)


@pytest.mark.usefixtures("wide")
def test_search_table_shows_hits_with_the_matched_words(config: Path) -> None:
    code, stdout, _ = cli(config, "search", "launch")
    assert code == 0
    assert "1 article matching 'launch'" in stdout
    assert "desk · 2024-03-01" in stdout  # the source and publication date under the title
    assert "Missile test over the sea" in stdout
    assert "https://desk.test/a" in stdout
    assert "launch (on Monday)" in stdout  # markers become bold; the text's brackets stay plain
    assert "[launch]" not in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "missile", "--since", "last tuesday"], "--since: 'last tuesday' is not an ISO"),
        (["stories", "--since", "2024-13-01"], "--since: '2024-13-01' is not an ISO"),
        (["search", "  "], "empty search query: give at least one word to look for"),
        (["search", "--", "-missile"], "search query '-missile' excludes words but looks for none"),
    ],
)
def test_bad_input_exits_2_with_one_line(config: Path, args: list[str], message: str) -> None:
    code, stdout, stderr = cli(config, *args)
    assert code == 2
    assert stdout == ""
    (line,) = stderr.strip().splitlines()
    assert line.startswith(f"newswatch: error: {message}")


def test_stories_json_biggest_first_with_outlets(config: Path) -> None:
    code, stdout, _ = cli(config, "stories", "--json")
    assert code == 0
    biggest, *rest = json.loads(stdout)
    assert (biggest["title"], biggest["article_count"]) == ("Bank raises rates", 2)
    assert biggest["outlets"] == ["wire", "desk"]
    assert biggest["first_url"] == "https://wire.test/c"
    assert datetime.fromisoformat(biggest["first_seen_at"]).tzinfo is not None
    assert [story["article_count"] for story in rest] == [1, 1, 1]


@pytest.mark.usefixtures("wide")
def test_stories_table_and_limit(config: Path) -> None:
    code, stdout, _ = cli(config, "stories", "--limit", "1")
    assert code == 0
    assert "1 story" in stdout
    assert "Bank raises rates" in stdout
    assert "wire, desk" in stdout
    code, stdout, _ = cli(config, "stories", "--since", "2999-01-01", "--json")
    assert (code, json.loads(stdout)) == (0, [])
    code, stdout, _ = cli(config, "stories", "--until", "2000-01-01", "--json")
    assert (code, json.loads(stdout)) == (0, [])  # every story was first seen after
    code, stdout, _ = cli(config, "stories", "--until", "2999-01-01", "--json")
    assert (code, len(json.loads(stdout))) == (0, 4)


def test_stories_table_fits_a_terminal_of_80_columns_with_its_times_whole(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_module.out, "width", 80)
    code, stdout, _ = cli(config, "stories")
    assert code == 0
    lines = stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    times = re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", stdout)
    assert len(times) == 4  # each story's first sighting, whole on its line (one per story)
    assert "Bank raises rates" in stdout
