"""`newswatch sources ...` through typer's runner, on configs and stores in tmp_path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from flows.cli import app
from flows.opml import OpmlFeed, read_opml, write_opml
from flows.settings import load_settings
from storage import ensure_sources, open_store, record_source_health

CONFIG = """# My newswatch config: keep this comment.
[database]
url = "{url}"

[[sources]]
name = "Gazette"
feed = "https://gazette.test/feed"  # the local paper

[[sources]]
name = "desk"
seeds = "seeds/"
"""

SUBSCRIPTIONS = [
    OpmlFeed("Gazette", "https://gazette.test/feed"),  # same URL: skipped
    OpmlFeed("Wire", "https://wire.test/rss"),
    OpmlFeed("Daily – World", "https://daily.test/world.xml"),
]


def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str) -> Path:
    """tmp_path/newswatch.toml from `template`, its store a SQLite file beside it."""
    monkeypatch.delenv("NEWSWATCH_DATABASE_URL", raising=False)
    path = tmp_path / "newswatch.toml"
    path.write_text(template.format(url=f"sqlite:///{tmp_path / 'newswatch.db'}"), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return config_file(tmp_path, monkeypatch, CONFIG)


@pytest.fixture
def opml(tmp_path: Path) -> Path:
    path = tmp_path / "reader.opml"
    path.write_text(write_opml(SUBSCRIPTIONS, title="reader"), encoding="utf-8")
    return path


def sources(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["sources", args[0], "--config", str(config), *args[1:]])
    return result.exit_code, result.stdout, result.stderr


def test_import_list_export_round_trip(config: Path, opml: Path, tmp_path: Path) -> None:
    code, stdout, _ = sources(config, "import-opml", str(opml))
    assert code == 0, stdout
    assert "skipped Gazette: https://gazette.test/feed is already configured" in stdout
    assert stdout.splitlines()[-1] == "2 added, 1 skipped"
    text = config.read_text(encoding="utf-8")
    assert text.startswith(CONFIG.split("{url}")[0])  # comments and layout kept
    assert "# the local paper" in text
    settings = load_settings(config)
    assert [(s.name, s.kind, s.location) for s in settings.sources] == [
        ("Gazette", "feed", "https://gazette.test/feed"),
        ("desk", "seeds", "seeds/"),
        ("Wire", "feed", "https://wire.test/rss"),
        ("Daily World", "feed", "https://daily.test/world.xml"),
    ]

    code, stdout, _ = sources(config, "list", "--json")
    assert code == 0
    assert [(v["name"], v["status"]) for v in json.loads(stdout)] == [
        ("Gazette", "never polled"),
        ("desk", "never polled"),
        ("Wire", "never polled"),
        ("Daily World", "never polled"),
    ]

    exported = tmp_path / "exported.opml"
    code, _, _ = sources(config, "export-opml", "--output", str(exported))
    assert code == 0
    assert read_opml(exported) == [
        OpmlFeed("Gazette", "https://gazette.test/feed"),
        OpmlFeed("Wire", "https://wire.test/rss"),
        OpmlFeed("Daily World", "https://daily.test/world.xml"),
    ]
    code, stdout, _ = sources(config, "export-opml")
    assert stdout == exported.read_text(encoding="utf-8")


def test_importing_twice_adds_nothing(config: Path, opml: Path) -> None:
    assert sources(config, "import-opml", str(opml))[0] == 0
    once = config.read_text(encoding="utf-8")
    code, stdout, _ = sources(config, "import-opml", str(opml))
    assert code == 0
    assert stdout.splitlines()[-1] == "0 added, 3 skipped"
    assert config.read_text(encoding="utf-8") == once


def test_a_name_already_configured_is_skipped(config: Path, tmp_path: Path) -> None:
    path = tmp_path / "clash.opml"
    path.write_text(write_opml([OpmlFeed("desk", "https://desk.test/rss")], title="t"))
    code, stdout, _ = sources(config, "import-opml", str(path))
    assert code == 0
    assert "skipped desk: a source with this name is already configured" in stdout
    assert stdout.splitlines()[-1] == "0 added, 1 skipped"


def test_an_import_that_would_break_the_config_leaves_it_unchanged(
    tmp_path: Path, opml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSWATCH_DATABASE_URL", raising=False)
    config = tmp_path / "inline.toml"
    original = "# sources as an inline array: [[sources]] cannot follow\nsources = []\n"
    config.write_text(original, encoding="utf-8")
    code, _, stderr = sources(config, "import-opml", str(opml))
    assert code == 2
    (line,) = stderr.strip().splitlines()
    assert line.startswith(f"newswatch: error: {config}: invalid TOML: ")
    assert line.endswith("(after the import; the config is left unchanged)")
    assert config.read_text(encoding="utf-8") == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inline.toml", "reader.opml"]


def test_invalid_opml_exits_2_naming_the_file(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.opml"
    bad.write_text("<html>not opml</html>")
    before = config.read_text(encoding="utf-8")
    code, _, stderr = sources(config, "import-opml", str(bad))
    assert code == 2
    assert stderr.strip() == (
        f"newswatch: error: {bad}: not OPML (root element <html>, expected <opml>)"
    )
    assert config.read_text(encoding="utf-8") == before


def test_list_json_shows_health_from_the_store(config: Path, tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'newswatch.db'}")
    ok, failed = datetime(2025, 3, 1, 12, tzinfo=UTC), datetime(2025, 3, 2, 12, tzinfo=UTC)
    with Session(engine) as session:
        ids = ensure_sources(
            session=session,
            sources=[("Gazette", "feed", "https://gazette.test/feed"), ("desk", "seeds", "s/")],
        )
        record_source_health(
            session=session,
            source_id=ids["Gazette"],
            error=None,
            when=ok,
            moved_to="https://gazette.test/rss",
        )
        record_source_health(
            session=session, source_id=ids["Gazette"], error="HTTP 503", when=failed
        )
        session.commit()
    engine.dispose()

    code, stdout, _ = sources(config, "list", "--json")
    assert code == 0
    gazette, desk = json.loads(stdout)
    assert set(gazette) == {
        "name",
        "kind",
        "location",
        "status",
        "paused",
        "last_run_at",
        "last_success_at",
        "last_error",
        "consecutive_failures",
        "next_attempt_at",
        "moved_to",
        "last_new_at",
        "quiet_since",
        "quiet_after",
    }
    assert gazette["kind"] == "feed"
    assert gazette["location"] == "https://gazette.test/feed"
    assert gazette["status"] == "failing"
    assert gazette["last_success_at"] == ok.isoformat()
    assert gazette["last_run_at"] == failed.isoformat()
    assert gazette["last_error"] == "HTTP 503"
    assert gazette["consecutive_failures"] == 1
    assert datetime.fromisoformat(gazette["next_attempt_at"]) > failed  # backing off
    assert gazette["moved_to"] == "https://gazette.test/rss"  # a failure keeps what was found
    assert desk == {
        "name": "desk",
        "kind": "seeds",
        "location": "seeds/",
        "status": "never polled",  # a row exists, but no run has polled it
        "paused": False,
        "last_run_at": None,
        "last_success_at": None,
        "last_error": None,
        "consecutive_failures": 0,
        "next_attempt_at": None,
        "moved_to": None,
        "last_new_at": None,
        "quiet_since": None,
        "quiet_after": None,  # seeds are never called quiet unless their block says so
    }


def test_list_shows_a_source_moved_in_the_config_as_not_polled_at_its_new_location(
    config: Path, tmp_path: Path
) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'newswatch.db'}")
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("Gazette", "feed", "https://old.test/rss")])
        failed = datetime(2025, 3, 2, 12, tzinfo=UTC)
        record_source_health(
            session=session, source_id=ids["Gazette"], error="HTTP 410", when=failed
        )
        session.commit()
    engine.dispose()

    code, stdout, _ = sources(config, "list", "--json")

    gazette = json.loads(stdout)[0]
    assert code == 0
    assert (gazette["location"], gazette["status"]) == ("https://gazette.test/feed", "never polled")
    assert (gazette["last_error"], gazette["next_attempt_at"]) == (None, None)


def a_month_of_polls(folder: Path) -> datetime:
    """Gazette (a feed) and desk (seeds) polled for a month, the feed listing something
    new last 10 days ago (returned), the seeds never."""
    now = datetime.now(UTC)
    last_new = (now - timedelta(days=10)).replace(microsecond=0)
    engine = open_store(f"sqlite:///{folder / 'newswatch.db'}")
    with Session(engine) as session:
        ids = ensure_sources(
            session=session,
            sources=[("Gazette", "feed", "https://gazette.test/feed"), ("desk", "seeds", "seeds/")],
        )
        for name in ids:
            health = {"session": session, "source_id": ids[name], "error": None}
            record_source_health(**health, when=now - timedelta(days=30))
            record_source_health(**health, when=last_new, fresh=name == "Gazette")
            record_source_health(**health, when=now - timedelta(hours=1))
        session.commit()
    engine.dispose()
    return last_new


def test_list_calls_a_feed_quiet_after_a_week_with_nothing_new_but_not_seeds(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows import cli

    last_new = a_month_of_polls(tmp_path)

    code, stdout, _ = sources(config, "list", "--json")
    gazette, desk = json.loads(stdout)
    monkeypatch.setattr(cli.out, "width", 200)
    _, table, _ = sources(config, "list")

    assert code == 0
    assert (gazette["status"], gazette["quiet_after"]) == ("quiet", "7d")
    assert gazette["quiet_since"] == gazette["last_new_at"] == last_new.isoformat()
    assert (desk["status"], desk["quiet_since"], desk["quiet_after"]) == ("ok", None, None)
    assert f"quiet: nothing new since {last_new:%Y-%m-%d %H:%M} UTC (10 days)" in table


def test_list_calls_a_paused_source_paused_never_quiet(config: Path, tmp_path: Path) -> None:
    config.write_text(
        config.read_text().replace("# the local paper", "# the local paper\npaused = true")
    )
    a_month_of_polls(tmp_path)

    code, stdout, _ = sources(config, "list", "--json")

    gazette = json.loads(stdout)[0]
    assert code == 0
    assert (gazette["status"], gazette["quiet_since"]) == ("paused", None)


def test_list_status_shows_only_the_sources_in_the_states_asked_for(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows import cli

    a_month_of_polls(tmp_path)
    monkeypatch.setattr(cli.out, "width", 200)

    _, quiet, _ = sources(config, "list", "--status", "quiet", "--json")
    _, either, _ = sources(config, "list", "--status", "ok", "--status", "failing", "--json")
    _, table, _ = sources(config, "list", "--status", "quiet", "--status", "failing")
    code, _, stderr = sources(config, "list", "--status", "sleepy")

    assert [view["name"] for view in json.loads(quiet)] == ["Gazette"]
    assert [view["name"] for view in json.loads(either)] == ["desk"]
    assert "1 source quiet or failing" in table and "desk" not in table
    assert code == 2 and "sleepy" in stderr


@pytest.mark.parametrize(
    ("setting", "status"),
    [
        ('[health]\nquiet_after = "30d"\n', "ok"),
        ('[health]\nquiet_after = "off"\n', "ok"),
        ('[health]\nquiet_after = "2d"\n', "quiet"),
    ],
)
def test_list_quiet_follows_the_health_setting(
    config: Path, tmp_path: Path, setting: str, status: str
) -> None:
    config.write_text(setting + config.read_text(encoding="utf-8"), encoding="utf-8")
    now = datetime.now(UTC)
    engine = open_store(f"sqlite:///{tmp_path / 'newswatch.db'}")
    with Session(engine) as session:
        ids = ensure_sources(
            session=session, sources=[("Gazette", "feed", "https://gazette.test/feed")]
        )
        health = {"session": session, "source_id": ids["Gazette"], "error": None}
        record_source_health(**health, when=now - timedelta(days=10), fresh=True)
        record_source_health(**health, when=now - timedelta(hours=1))
        session.commit()
    engine.dispose()

    code, stdout, _ = sources(config, "list", "--json")

    assert code == 0
    assert json.loads(stdout)[0]["status"] == status


def test_list_table_names_every_source(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows import cli

    monkeypatch.setattr(cli.out, "width", 200)
    code, stdout, _ = sources(config, "list")
    assert code == 0
    assert "2 sources" in stdout
    assert "Gazette" in stdout and "https://gazette.test/feed" in stdout
    assert stdout.count("never polled") == 2


def test_list_shows_a_paused_source_as_paused_with_its_last_error(
    config: Path, tmp_path: Path
) -> None:
    config.write_text(
        config.read_text().replace('seeds = "seeds/"', 'seeds = "seeds/"\npaused = true')
    )
    engine = open_store(f"sqlite:///{tmp_path / 'newswatch.db'}")
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("desk", "seeds", "seeds/")])
        failed = datetime(2025, 3, 2, 12, tzinfo=UTC)
        record_source_health(session=session, source_id=ids["desk"], error="no files", when=failed)
        session.commit()
    engine.dispose()

    code, stdout, _ = sources(config, "list", "--json")

    gazette, desk = json.loads(stdout)
    assert code == 0
    assert (gazette["status"], gazette["paused"]) == ("never polled", False)
    assert (desk["status"], desk["paused"], desk["last_error"]) == ("paused", True, "no files")
