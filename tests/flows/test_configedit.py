"""Pausing, resuming and removing sources by editing their blocks, keeping the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.configedit import pause_sources, remove_sources, resume_sources
from flows.errors import ConfigError
from flows.settings import load_settings

CONFIG = """\
# My newswatch config: this comment opens the file.
[database]
url = "sqlite:///newswatch.db"

# --- The Gazette, the local paper
[[sources]]
name = "gazette"   # short names read better in alerts
feed = "https://gazette.test/feed"
every = "30m"
# feed = "https://gazette.test/old-feed"

# --- Wire, two lines
# of introduction
[[sources]]
name = "wire"
feed = "https://wire.test/rss"

[[sources]]
name = "desk"
seeds = "seeds/"

# rules come last
[[rules]]
name = "launchers"
query = '"missile launcher"'
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "newswatch.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_pausing_writes_paused_after_the_blocks_last_key_with_the_comment(config: Path) -> None:
    assert pause_sources(config, ["gazette", "desk"], comment="since 2026-11-25: redesign") == [
        "gazette",
        "desk",
    ]

    paused = "paused = true  # since 2026-11-25: redesign\n"
    assert config.read_text(encoding="utf-8") == CONFIG.replace(
        'every = "30m"\n',
        'every = "30m"\n' + paused,  # above the commented-out key
    ).replace('seeds = "seeds/"\n', 'seeds = "seeds/"\n' + paused)
    assert [s.paused for s in load_settings(config).sources] == [True, False, True]


def test_pausing_a_paused_source_changes_nothing(config: Path) -> None:
    pause_sources(config, ["wire"])
    before = config.read_bytes()

    assert pause_sources(config, ["wire", "wire"]) == []
    assert config.read_bytes() == before


def test_pausing_sets_paused_false_to_true_in_its_place(config: Path) -> None:
    config.write_text(CONFIG.replace('name = "wire"\n', 'name = "wire"\n  paused = false  # no\n'))

    pause_sources(config, ["wire"])

    assert '  paused = true\nfeed = "https://wire.test/rss"' in config.read_text()
    assert load_settings(config).sources[1].paused


def test_resuming_what_was_paused_gives_back_the_file_byte_for_byte(config: Path) -> None:
    pause_sources(config, ["gazette", "wire", "desk"], comment="since 2026-11-25")

    assert resume_sources(config, ["desk", "wire", "gazette"]) == ["desk", "wire", "gazette"]
    assert config.read_text(encoding="utf-8") == CONFIG
    assert resume_sources(config, ["wire"]) == []  # not paused: nothing to do


@pytest.mark.parametrize(
    ("names", "gone", "kept"),
    [
        pytest.param(
            ["gazette"],
            ["# --- The Gazette", "gazette", "old-feed"],
            ["# My newswatch config", "# --- Wire, two lines\n# of introduction\n[[sources]]"],
            id="the first: with its introduction and its commented-out key",
        ),
        pytest.param(
            ["wire"],
            ["# --- Wire", "# of introduction", "wire.test"],
            ['# feed = "https://gazette.test/old-feed"\n\n[[sources]]\nname = "desk"'],
            id="a middle one: both lines of its introduction",
        ),
        pytest.param(
            ["desk"],
            ['name = "desk"', "seeds/"],
            ['wire.test/rss"\n\n# rules come last\n[[rules]]'],
            id="the last: the next table keeps its comment",
        ),
    ],
)
def test_removing_a_source_takes_its_block_and_introduction_only(
    config: Path, names: list[str], gone: list[str], kept: list[str]
) -> None:
    assert remove_sources(config, names) == names

    text = config.read_text(encoding="utf-8")
    assert [s for s in gone if s in text] == []
    assert [s for s in kept if s not in text] == []
    assert "\n\n\n" not in text
    remaining = [s.name for s in load_settings(config).sources]
    assert remaining == [name for name in ("gazette", "wire", "desk") if name not in names]
    assert [r.name for r in load_settings(config).rules] == ["launchers"]


def test_removing_every_source_leaves_a_config_that_loads(config: Path) -> None:
    remove_sources(config, ["desk", "gazette", "wire"])

    text = config.read_text(encoding="utf-8")
    assert text == (
        "# My newswatch config: this comment opens the file.\n"
        '[database]\nurl = "sqlite:///newswatch.db"\n\n'
        '# rules come last\n[[rules]]\nname = "launchers"\nquery = \'"missile launcher"\'\n'
    )
    assert load_settings(config).sources == ()


def test_removing_the_last_block_of_the_file_leaves_no_blank_lines_behind(tmp_path: Path) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text(
        '[[sources]]\nname = "a"\nfeed = "https://a.test/rss"\n\n'
        '[[sources]]\nname = "b"\nfeed = "https://b.test/rss"\n\n\n'
    )

    remove_sources(config, ["b"])

    assert config.read_text() == '[[sources]]\nname = "a"\nfeed = "https://a.test/rss"\n'


def test_a_comment_opening_the_file_above_the_first_source_stays(tmp_path: Path) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text('# my feeds\n[[sources]]\nname = "a"\nfeed = "https://a.test/rss"\n')

    remove_sources(config, ["a"])

    assert config.read_text() == "# my feeds\n"


def test_a_crlf_config_keeps_its_line_endings(tmp_path: Path) -> None:
    config = tmp_path / "newswatch.toml"
    original = CONFIG.replace("\n", "\r\n").encode()
    config.write_bytes(original)

    pause_sources(config, ["wire"])
    assert b'feed = "https://wire.test/rss"\r\npaused = true\r\n' in config.read_bytes()
    resume_sources(config, ["wire"])
    assert config.read_bytes() == original
    remove_sources(config, ["wire"])
    assert b"\n" not in config.read_bytes().replace(b"\r\n", b"")


def test_a_file_without_a_final_newline_is_paused_on_a_line_of_its_own_and_resumed(
    tmp_path: Path,
) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text('[[sources]]\nname = "a"\nfeed = "https://a.test/rss"')

    pause_sources(config, ["a"], comment="why\nnot")

    assert config.read_text() == (
        '[[sources]]\nname = "a"\nfeed = "https://a.test/rss"\npaused = true  # why not'
    )
    resume_sources(config, ["a"])
    assert config.read_text() == '[[sources]]\nname = "a"\nfeed = "https://a.test/rss"'


@pytest.mark.parametrize(
    ("text", "edit", "message"),
    [
        pytest.param(
            CONFIG,
            lambda path: remove_sources(path, ["gazette", "reuters"]),
            "sources: unknown source 'reuters' (known: gazette, wire, desk)",
            id="an unknown name, before anything is edited",
        ),
        pytest.param(
            'sources = [{name = "a", feed = "https://a.test/rss"}]\n',
            lambda path: pause_sources(path, ["a"]),
            "sources: sources are not all written as [[sources]] blocks (an inline array?)",
            id="sources written as an inline array",
        ),
        pytest.param(
            CONFIG.replace('name = "wire"\n', 'name = "wire"\n"paused" = false\n'),
            lambda path: pause_sources(path, ["wire"]),
            "sources: cannot edit 'wire' in place: edit the file by hand",
            id="a quoted key the edit does not recognise",
        ),
    ],
)
def test_an_edit_it_cannot_make_names_the_file_and_leaves_it_unchanged(
    tmp_path: Path, text: str, edit: object, message: str
) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        edit(config)  # type: ignore[operator]

    assert str(raised.value).startswith(f"{config}: {message}")
    assert config.read_text(encoding="utf-8") == text
    assert [p.name for p in tmp_path.iterdir()] == ["newswatch.toml"]  # no temporary file left
