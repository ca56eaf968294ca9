"""The config editor under fuzzing: `[[sources]]` blocks of any layout (comments above,
inside and after them, blank lines, indentation, keys in any order, `paused` written or
not, other tables around them) and hostile pause reasons.

Pausing, resuming and removing any of them succeeds; every line it did not mean to
touch stays, in order; pausing and resuming gives back the file byte for byte.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from flows.configedit import pause_sources, remove_sources, resume_sources, toml_string
from flows.settings import SourceSettings, load_settings
from tests.security.fuzz import fuzz_settings, short_hostile


def _is_a_name(name: str) -> bool:
    try:
        SourceSettings(name=name, feed="https://a.test/")
    except ValidationError:
        return False
    return True


NAME = st.from_regex(r"[\w][\w .:/-]{0,15}", fullmatch=True).filter(_is_a_name)
# A comment holds anything but control characters other than tab (TOML 1.0).
COMMENT = short_hostile.map(lambda text: "#" + re.sub(r"[\x00-\x08\x0a-\x1f\x7f]", " ", text))
# What may sit between lines: nothing, blank lines (spaces only), comment lines.
FILLER = st.lists(st.one_of(st.just(""), st.just("   "), COMMENT), max_size=3)


@st.composite
def source_block(draw: st.DrawFn, name: str) -> tuple[list[str], list[str]]:
    """A block's lines, with what comes before and after it, and its key lines alone."""
    url = "https://" + draw(
        st.from_regex(r"[a-z]{1,8}\.test/[\w\u2028\x85/.-]{0,12}", fullmatch=True)
    )
    keys = [f"name = {toml_string(name)}", f"feed = {toml_string(url)}"]
    keys += draw(st.lists(st.sampled_from(['every = "30m"', 'backfill = "24h"']), unique=True))
    if draw(st.booleans()):
        keys.append(f"paused = {draw(st.sampled_from(['true', 'false']))}")
    lines = draw(FILLER)  # the block's introduction, or the end of what comes before
    lines.append(draw(st.sampled_from(["[[sources]]", "[[ sources ]]", "  [[sources]]  # x"])))
    key_lines = []
    for key in draw(st.permutations(keys)):
        lines += [line for line in draw(FILLER) if line.strip()]  # comments inside the block
        indent = " " * draw(st.integers(0, 3))
        key_lines.append(indent + key + draw(st.sampled_from(["", "  # why", "\t#"])))
        lines.append(key_lines[-1])
    return lines + draw(FILLER), key_lines


@st.composite
def config_text(draw: st.DrawFn) -> tuple[str, dict[str, list[str]]]:
    """A config's text, and each source's key lines by name."""
    names = draw(st.lists(NAME, min_size=1, max_size=4, unique_by=str.casefold))
    lines = draw(FILLER)
    if draw(st.booleans()):
        lines += ["[database]", 'url = "sqlite:///newswatch.db"', *draw(FILLER)]
    keys = {}
    for name in names:
        block, keys[name] = draw(source_block(name))
        lines += block
    if draw(st.booleans()):
        lines += ["[[rules]]", 'name = "r"', "query = '\"missile launcher\"'", *draw(FILLER)]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(lines) + draw(st.sampled_from(["", newline])), keys


def sources_of(text: str) -> list[dict[str, Any]]:
    return list(tomllib.loads(text).get("sources", []))


def is_subsequence(kept: list[str], lines: list[str]) -> bool:
    remaining = iter(lines)
    return all(line in remaining for line in kept)


def lines_of(text: str) -> list[str]:
    return text.replace("\r\n", "\n").split("\n")


@fuzz_settings(150)
@given(drawn=config_text(), data=st.data())
def test_fuzz_pause_then_resume_gives_back_the_file(
    tmp_path_factory: pytest.TempPathFactory, drawn: tuple[str, Any], data: st.DataObject
) -> None:
    text, _ = drawn
    config = tmp_path_factory.mktemp("edit") / "newswatch.toml"
    config.write_bytes(text.encode())
    names = [source["name"] for source in sources_of(text)]
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    reason = data.draw(short_hostile)

    pause_sources(config, chosen, comment=reason)

    paused = config.read_bytes().decode()
    settings = load_settings(config)
    before = {s["name"]: s for s in sources_of(text)}
    for source in settings.sources:
        assert source.paused == (source.name in chosen or before[source.name].get("paused", False))
    untouched = [line for line in lines_of(text) if not re.match(r"\s*paused\s*=", line)]
    assert is_subsequence(untouched, lines_of(paused))
    if not any("paused" in source for source in before.values()):
        resume_sources(config, chosen)
        assert config.read_bytes() == text.encode()


@fuzz_settings(150)
@given(drawn=config_text(), data=st.data())
def test_fuzz_removing_sources_keeps_every_other_line(
    tmp_path_factory: pytest.TempPathFactory,
    drawn: tuple[str, dict[str, list[str]]],
    data: st.DataObject,
) -> None:
    text, keys = drawn
    config = tmp_path_factory.mktemp("edit") / "newswatch.toml"
    config.write_bytes(text.encode())
    chosen = data.draw(st.lists(st.sampled_from(list(keys)), min_size=1, unique=True))

    remove_sources(config, chosen)

    after = config.read_bytes().decode()
    kept = [name for name in keys if name not in chosen]
    assert [s.name for s in load_settings(config).sources] == kept
    assert sources_of(after) == [s for s in sources_of(text) if s["name"] in kept]
    for table in ("rules", "database"):
        assert tomllib.loads(after).get(table) == tomllib.loads(text).get(table)
    assert is_subsequence([line for name in kept for line in keys[name]], lines_of(after))
    assert not [
        line
        for name in chosen
        for line in keys[name]
        if line in lines_of(after) and "name = " in line
    ]
