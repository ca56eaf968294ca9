"""The config file: every mistake is one line naming the file, the key and the problem."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from flows.errors import ConfigError
from flows.settings import load_settings, select_sources

GOOD = """
[database]
url = "sqlite:///data/newswatch.db"

[fetch]
allow_networks = ["127.0.0.0/8"]

[[sources]]
name = "desk-seeds"
seeds = "seeds/"

[[sources]]
name = "dw"
feed = "https://rss.dw.com/rdf/rss-en-all"

[[rules]]
name = "missile-launchers"
query = '"missile launcher"'
channels = ["desk", "hook"]

[channels.desk]
type = "email"
to = ["desk@example.org"]
from = "newswatch@example.org"
smtp_host = "localhost"
smtp_port = 1025

[channels.hook]
type = "webhook"
url = "http://127.0.0.1:9000/hook"
secret = "env:NEWSWATCH_HOOK_SECRET"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "newswatch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_loads_with_paths_and_secrets_resolved(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), environ={"NEWSWATCH_HOOK_SECRET": "k3y"})
    assert settings.database.url == f"sqlite:///{tmp_path / 'data' / 'newswatch.db'}"
    assert [s.kind for s in settings.sources] == ["seeds", "feed"]
    assert settings.channels["hook"].secret.get_secret_value() == "k3y"  # type: ignore[union-attr]
    assert settings.rules[0].channels == ("desk", "hook")
    assert str(settings.fetch.allow_networks[0]) == "127.0.0.0/8"


def test_story_settings_become_story_options(tmp_path: Path) -> None:
    text = GOOD.replace("[fetch]", "[stories]\nwindow_days = 2\nthreshold = 0.6\n\n[fetch]")
    options = load_settings(write(tmp_path, text), environ={"NEWSWATCH_HOOK_SECRET": "k"})
    assert options.stories.options().window.days == 2
    assert options.stories.options().threshold == 0.6


def test_database_url_from_environment_overrides_the_file(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    environ = {"NEWSWATCH_HOOK_SECRET": "k", "NEWSWATCH_DATABASE_URL": url}
    assert load_settings(write(tmp_path, GOOD), environ=environ).database.url == url


def test_smtp_password_comes_from_the_environment_when_a_username_is_set(tmp_path: Path) -> None:
    text = GOOD.replace("smtp_port = 1025", 'smtp_port = 1025\nusername = "bot"')
    environ = {"NEWSWATCH_HOOK_SECRET": "k", "NEWSWATCH_SMTP_PASSWORD": "pw"}
    settings = load_settings(write(tmp_path, text), environ=environ)
    assert settings.channels["desk"].password.get_secret_value() == "pw"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (("[database]", "[database]\nurls = 1"), "database.urls", "unknown key"),
        (('name = "dw"', 'name = "dw"\ncolour = "red"'), "sources[1].colour", "unknown key"),
        (
            ('feed = "https://rss', 'seeds = "x"\nfeed = "https://rss'),
            "sources[1]",
            "exactly one of feed, sitemap, seeds, urls",
        ),
        (
            ('feed = "https://rss.dw.com/rdf/rss-en-all"', ""),
            "sources[1]",
            "exactly one of feed, sitemap, seeds, urls",
        ),
        (('name = "dw"', 'name = "desk-seeds"'), "sources[1].name", "used twice"),
        (
            ('channels = ["desk", "hook"]', 'channels = ["pager"]'),
            "rules[0].channels",
            "unknown channel 'pager'",
        ),
        (
            ("query = '\"missile launcher\"'", "query = '\"missile launcher'"),
            "rules[0].query",
            "position",
        ),
        (("smtp_port = 1025", 'smtp_port = "many"'), "channels.desk.smtp_port", "integer"),
        (('type = "webhook"', 'type = "pager"'), "channels.hook", "type"),
        (('to = ["desk@example.org"]', ""), "channels.desk.to", "required key is missing"),
        (
            ('feed = "https://rss', 'feed = "ftp://rss'),
            "sources[1].feed",
            "must be an http:// or https:// URL (got 'ftp://rss",
        ),
        (('name = "dw"', 'name = "-dw"'), "sources[1].name", "must start with a letter or digit"),
        (
            ('channels = ["desk", "hook"]', 'channels = ["desk"]\nmode = "weekly"'),
            "rules[0].mode",
            "must be immediate or digest (got 'weekly')",
        ),
        (
            ("[fetch]", "[stories]\nwindow_days = 0\n\n[fetch]"),
            "stories.window_days",
            "greater than 0",
        ),
        (
            ('name = "dw"', 'name = "dw"\nquiet_after = "a week"'),
            "sources[1].quiet_after",
            'not a duration like 36h or 7d, nor "off"',
        ),
        (
            ("[fetch]", '[health]\nquiet_after = "0d"\n\n[fetch]'),
            "health.quiet_after",
            'not a duration like 36h or 7d, nor "off"',
        ),
    ],
)
def test_invalid_config_is_one_line_naming_file_key_and_problem(
    tmp_path: Path, change: tuple[str, str], key: str, problem: str
) -> None:
    old, new = change
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={"NEWSWATCH_HOOK_SECRET": "k"})
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key}")
    assert problem in message


def test_missing_secret_variable_names_the_key_and_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, GOOD), environ={})
    assert str(raised.value) == (
        f"{tmp_path / 'newswatch.toml'}: channels.hook.secret: "
        "environment variable NEWSWATCH_HOOK_SECRET is not set"
    )


def test_missing_file_and_broken_toml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(write(tmp_path, "[database\nurl="))


def test_secret_values_never_appear_in_config_errors(tmp_path: Path) -> None:
    text = GOOD.replace('secret = "env:NEWSWATCH_HOOK_SECRET"', "secret = 12345")
    with pytest.raises(ConfigError) as raised:
        load_settings(write(tmp_path, text), environ={})
    assert "12345" not in str(raised.value)


def test_paused_sources_are_left_out_of_every_run_even_one_naming_them(tmp_path: Path) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text(
        '[[sources]]\nname = "dw"\nurls = ["https://dw.example/a"]\npaused = true\n\n'
        '[[sources]]\nname = "ap"\nurls = ["https://ap.example/a"]\n'
    )
    settings = load_settings(config)

    everything = select_sources(settings, None)
    named = select_sources(settings, ["dw", "ap"])  # a deployment made before the pause

    assert [s.name for s in everything.sources] == [s.name for s in named.sources] == ["ap"]
    assert [s.name for s in settings.sources] == ["dw", "ap"]  # still configured
    with pytest.raises(ConfigError, match="unknown source 'bbc'"):
        select_sources(settings, ["bbc"])


def test_feeds_and_sitemaps_go_quiet_after_the_health_default_other_sources_only_if_told(
    tmp_path: Path,
) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text(
        '[health]\nquiet_after = "3d"\n\n'
        '[[sources]]\nname = "feed"\nfeed = "https://dw.example/rss"\n\n'
        '[[sources]]\nname = "map"\nsitemap = "https://dw.example/sitemap.xml"\n\n'
        '[[sources]]\nname = "blog"\nfeed = "https://blog.example/rss"\nquiet_after = "30d"\n\n'
        '[[sources]]\nname = "wire"\nfeed = "https://wire.example/rss"\nquiet_after = "off"\n\n'
        '[[sources]]\nname = "list"\nurls = ["https://dw.example/a"]\n\n'
        '[[sources]]\nname = "desk"\nseeds = "dumps/"\nquiet_after = "36h"\n'
    )
    settings = load_settings(config)

    limits = {source.name: settings.quiet_after(source) for source in settings.sources}

    assert limits == {
        "feed": timedelta(days=3),
        "map": timedelta(days=3),
        "blog": timedelta(days=30),
        "wire": None,
        "list": None,  # a URL list lists the same URLs for ever: never quiet by default
        "desk": timedelta(hours=36),
    }
