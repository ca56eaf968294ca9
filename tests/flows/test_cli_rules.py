"""`newswatch rules check` and `rules test` through typer's runner, on stores in tmp_path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from flows import cli
from flows.cli import app
from storage import Alert, ArticleIn, add_articles, ensure_sources, open_store

CONFIG = """[database]
url = "sqlite:///newswatch.db"

[channels.desk]
type = "webhook"
url = "https://hooks.test/desk"
{rules}"""

GOOD_RULES = """
[[rules]]
name = "launchers"
query = '"missile launcher" -drill'
channels = ["desk"]

[[rules]]
name = "near"
query = '"kim jong un" NEAR/10 missile*'
"""

BAD_RULES = """
[[rules]]
name = "fine"
query = "missile"

[[rules]]
name = "open-quote"
query = '"missile launcher'

[[rules]]
name = "bad-near"
query = "kim NEAR/0 missile"
channels = ["pager"]
mode = "weekly"

[[rules]]
name = "fine"
query = "nope:word"
"""

ARTICLES = [
    # (slug, source, title, text, published)
    (
        "a",
        "desk",
        "Parade",
        "Mobile missile launchers rolled past.",
        datetime(2025, 3, 1, tzinfo=UTC),
    ),
    ("b", "wire", "Drill", "A missile launcher drill was held.", datetime(2025, 3, 2, tzinfo=UTC)),
    (
        "c",
        "wire",
        "Launch",
        "Kim Jong Un watched the missiles fly.",
        datetime(2025, 3, 3, tzinfo=UTC),
    ),
    (
        "d",
        "desk",
        "Markets [/]",
        "Missile-launcher makers rallied.",
        datetime(2025, 3, 4, tzinfo=UTC),
    ),
]


def write_config(directory: Path, rules: str) -> Path:
    config = directory / "newswatch.toml"
    config.write_text(CONFIG.format(rules=rules), encoding="utf-8")
    return config


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config without rules and a SQLite store holding `ARTICLES`."""
    monkeypatch.delenv("NEWSWATCH_DATABASE_URL", raising=False)
    monkeypatch.setattr(cli.out, "width", 400)
    config = write_config(tmp_path, "")
    engine = open_store(f"sqlite:///{tmp_path / 'newswatch.db'}")
    with Session(engine) as session:
        ids = ensure_sources(
            session=session, sources=[("desk", "seeds", "s/"), ("wire", "feed", "https://w.test/")]
        )
        articles = [
            ArticleIn(
                url=f"https://www.{source}.test/{slug}",
                source=source,
                title=title,
                text=text,
                origin="seed",
                published_at=published,
            )
            for slug, source, title, text, published in ARTICLES
        ]
        add_articles(session=session, articles=articles, source_ids=ids, run_id=None)
        session.commit()
    engine.dispose()
    return config


def rules(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["rules", *args])
    return result.exit_code, result.stdout, result.stderr


def test_check_lists_every_invalid_rule_with_name_and_position(tmp_path: Path) -> None:
    config = write_config(tmp_path, BAD_RULES)
    code, stdout, stderr = rules("check", "--config", str(config))
    assert code == 2
    assert stdout == ""
    prefix = f"newswatch: error: {config}: rule "
    assert stderr.splitlines() == [
        f"{prefix}'open-quote' (rules[1]): unclosed quote at position 0",
        f"{prefix}'bad-near' (rules[2]): NEAR/ needs a number of words from 1 to 100 at position 9",
        f"{prefix}'bad-near' (rules[2]): mode: must be immediate or digest",
        f"{prefix}'bad-near' (rules[2]): unknown channel 'pager' (known: desk)",
        f"{prefix}'fine' (rules[3]): unknown field 'nope:' (known: title:, text:, source:, "
        "site:, lang:; quote a word with ':') at position 0",
        f"{prefix}'fine' (rules[3]): name also used by rules[0]",
        "3 of 4 rules invalid",
    ]


def test_check_json_reports_problems_for_machines(tmp_path: Path) -> None:
    config = write_config(tmp_path, BAD_RULES)
    code, stdout, _ = rules("check", "--config", str(config), "--json")
    assert code == 2
    report = json.loads(stdout)
    assert report["rules"] == []
    assert report["problems"][0] == {
        "index": 1,
        "name": "open-quote",
        "message": "unclosed quote",
        "position": 0,
    }


def test_check_prints_the_rules_when_all_are_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.out, "width", 200)
    config = write_config(tmp_path, GOOD_RULES)
    code, stdout, stderr = rules("check", "--config", str(config))
    assert (code, stderr) == (0, "")
    assert "2 rules OK" in stdout
    assert '"missile launcher" -drill' in stdout and "desk" in stdout
    code, stdout, _ = rules("check", "--config", str(config), "--json")
    assert json.loads(stdout)["rules"][1] == {
        "name": "near",
        "query": '"kim jong un" NEAR/10 missile*',
        "channels": [],
    }
    (tmp_path / "one").mkdir()
    one_rule = write_config(tmp_path / "one", GOOD_RULES.split("\n\n")[0])
    assert "1 rule OK" in rules("check", "--config", str(one_rule))[1]


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "file not found"), ("rules = [", "invalid TOML"), ("rules = 3", "array of tables")],
)
def test_check_of_an_unreadable_config_is_one_line_exit_2(
    tmp_path: Path, content: str | None, message: str
) -> None:
    config = tmp_path / "newswatch.toml"
    if content is not None:
        config.write_text(content)
    code, _, stderr = rules("check", "--config", str(config))
    assert code == 2
    (line,) = stderr.splitlines()
    assert line.startswith(f"newswatch: error: {config}: ") and message in line


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ('"missile launcher"', ["Markets [/]", "Drill", "Parade"]),
        ('"missile launcher" -drill', ["Markets [/]", "Parade"]),
        ('"missile launcher" source:wire', ["Drill"]),
        ('"missile launcher" site:desk.test', ["Markets [/]", "Parade"]),
        ('"kim jong un" NEAR/3 missile*', ["Launch"]),
        ("title:drill", ["Drill"]),
        ("submarine", []),
    ],
)
def test_dry_run_lists_what_would_fire_newest_first(
    store: Path, query: str, titles: list[str]
) -> None:
    code, stdout, stderr = rules("test", query, "--config", str(store), "--json")
    assert (code, stderr) == (0, "")
    assert [hit["title"] for hit in json.loads(stdout)] == titles


def test_dry_run_json_carries_terms_and_snippet_and_writes_nothing(store: Path) -> None:
    code, stdout, _ = rules("test", "launcher*", "--config", str(store), "--json", "--limit", "1")
    assert code == 0
    (hit,) = json.loads(stdout)
    assert hit["url"] == "https://www.desk.test/d" and hit["source"] == "desk"
    assert hit["published_at"] == "2025-03-04T00:00:00+00:00"
    assert hit["terms"] == ["launcher*"]
    assert hit["snippet"][hit["snippet_start"] : hit["snippet_end"]] == "launcher"
    engine = open_store(f"sqlite:///{store.parent / 'newswatch.db'}")
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Alert)).one() == 0
    engine.dispose()


def test_dry_run_table_prints_titles_literally_and_counts(store: Path) -> None:
    code, stdout, _ = rules("test", "missile*", "--config", str(store), "--limit", "2")
    assert code == 0
    assert "4 of 4 stored articles match 'missile*'; the 2 newest shown" in stdout
    assert "Markets [/]" in stdout and "https://www.desk.test/d" in stdout
    assert "Parade" not in stdout
    assert "dry run: nothing was sent or written" in stdout


def test_dry_run_since_filters_by_publication_date(store: Path) -> None:
    args = ("test", "missile*", "--config", str(store), "--json", "--since", "2025-03-03")
    code, stdout, _ = rules(*args)
    assert code == 0
    assert [hit["title"] for hit in json.loads(stdout)] == ["Markets [/]", "Launch"]
    code, stdout, _ = rules(*args, "--until", "2025-03-03")  # a date keeps its whole day
    assert (code, [hit["title"] for hit in json.loads(stdout)]) == (0, ["Launch"])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('"missile', "unclosed quote at position 0"),
        ("la*", "prefix 'la*' is too short"),
        ("source:desk", "source: only narrows"),
    ],
)
def test_dry_run_of_an_invalid_query_is_one_line_with_the_position(
    store: Path, query: str, message: str
) -> None:
    code, stdout, stderr = rules("test", query, "--config", str(store))
    assert (code, stdout) == (2, "")
    (line,) = stderr.splitlines()
    assert line.startswith(f"newswatch: error: query {query!r}: ") and message in line


def test_loading_a_config_with_an_invalid_rule_names_the_rule_and_position(
    tmp_path: Path,
) -> None:
    from flows.errors import ConfigError
    from flows.settings import load_settings

    config = write_config(tmp_path, BAD_RULES)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    message = str(caught.value)
    assert message.startswith(f"{config}: rules[1].query: unclosed quote at position 0 ")
    assert "in rule 'open-quote'" in message
