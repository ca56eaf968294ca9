"""Edits to the user's config file that keep their comments and layout. New `[[sources]]`
blocks are appended as text; a source is paused, resumed or removed by editing the
lines of its block alone. Every edit is checked before the file is replaced: the new
text must read as the old one with exactly that change, and load as a config.

    append_sources(Path("newswatch.toml"), [{"name": "Gazette", "feed": "https://…/rss"}])
    pause_sources(Path("newswatch.toml"), ["dw"], comment="since 2026-11-25: site redesign")
    resume_sources(Path("newswatch.toml"), ["dw"])
    remove_sources(Path("newswatch.toml"), ["dw"])

A block owns the comment lines right above its header (no blank line between), except
a comment that opens the file: removing the block removes them too, while the comment
lines above the next header stay with that header. (TOML parsers that keep comments,
tomlkit among them, give those lines to the table before, so removing a block there
would take the next block's comment and leave its own.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from flows.errors import ConfigError
from flows.settings import load_settings

_SOURCES_HEADER = re.compile(r"\s*\[\[\s*sources\s*\]\]\s*(#.*)?")
_TABLE_HEADER = re.compile(r"\s*\[")  # [table] or [[array]]: where a block ends
_PAUSED_KEY = re.compile(r"\s*paused\s*=")
_LINE = re.compile(r"[^\n]*\n|[^\n]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")  # not allowed in a TOML comment


def append_sources(config: Path, sources: Sequence[Mapping[str, str]]) -> None:
    """Append one `[[sources]]` block per mapping (its keys in order, string values).

    Raises ConfigError naming `config` when the result does not load; the file is
    then left as it was.
    """
    text = _read_text(config)
    newline = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith("\n"):
        text += newline
    text += "".join(
        newline
        + "[[sources]]"
        + newline
        + "".join(f"{key} = {toml_string(value)}{newline}" for key, value in s.items())
        for s in sources
    )
    _replace(config, text)


def pause_sources(config: Path, names: Sequence[str], *, comment: str = "") -> list[str]:
    """Write `paused = true` (with `comment` after it) into each named source's block;
    return the names that were not paused already. Raises ConfigError naming `config`
    for an unknown name or a block it cannot edit in place; the file is then unchanged."""

    def pause(lines: list[str], block: _Block) -> None:
        line = "paused = true" + (f"  # {_CONTROL.sub(' ', comment)}" if comment else "")
        if block.paused_at is not None:  # `paused = false`, or a paused one named twice
            old = lines[block.paused_at]
            indent, ending = old[: len(old) - len(old.lstrip())], old[len(old.rstrip("\r\n")) :]
            lines[block.paused_at] = indent + line + ending
        elif lines[block.last_key].endswith("\n"):
            lines.insert(block.last_key + 1, line + block.newline)
        else:  # the file's last line, and no newline after it: none after ours either
            lines[block.last_key] += block.newline
            lines.append(line)

    def expect(source: dict[str, Any]) -> None:
        source["paused"] = True

    return _edit(config, names, wanted=lambda s: not s.get("paused"), edit=pause, expect=expect)


def resume_sources(config: Path, names: Sequence[str]) -> list[str]:
    """Remove `paused` from each named source's block; return the names that were paused.
    Raises ConfigError as `pause_sources` does."""

    def resume(lines: list[str], block: _Block) -> None:
        if block.paused_at is None:
            return
        if not lines.pop(block.paused_at).endswith("\n") and lines:
            lines[-1] = lines[-1].rstrip("\r\n")  # the file ended without a newline

    def expect(source: dict[str, Any]) -> None:
        source.pop("paused", None)

    return _edit(config, names, wanted=lambda s: bool(s.get("paused")), edit=resume, expect=expect)


def remove_sources(config: Path, names: Sequence[str]) -> list[str]:
    """Remove each named source's block, with the comment lines that introduce it; return
    the names. Raises ConfigError as `pause_sources` does."""

    def remove(lines: list[str], block: _Block) -> None:
        last = block.end == len(lines)
        del lines[block.start : block.end]
        while last and lines and not lines[-1].strip():
            del lines[-1]  # the blank lines that separated it from the block before

    return _edit(config, names, wanted=lambda s: True, edit=remove, expect=None)


class _Block:
    """Where one `[[sources]]` block lies in a config's lines (indices into them)."""

    def __init__(self, lines: list[str], header: int) -> None:
        self.header = header
        self.newline = "\r\n" if lines[header].endswith("\r\n") else "\n"
        end = next(
            (i for i in range(header + 1, len(lines)) if _TABLE_HEADER.match(lines[i])),
            len(lines),
        )
        self.end = _introduction(lines, end) if end < len(lines) else end
        self.start = _introduction(lines, header)
        if self.start == 0 and header > 0:
            self.start = header  # the comment opening the file is the file's
        body = range(header + 1, self.end)
        self.last_key = max((i for i in body if _is_content(lines[i])), default=header)
        self.paused_at = next((i for i in body if _PAUSED_KEY.match(lines[i])), None)


def _introduction(lines: list[str], header: int) -> int:
    """The first of the comment lines right above `header`, or `header` if none."""
    start = header
    while start > 0 and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    return start


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _edit(
    config: Path,
    names: Sequence[str],
    *,
    wanted: Callable[[dict[str, Any]], bool],
    edit: Callable[[list[str], _Block], None],
    expect: Callable[[dict[str, Any]], None] | None,
) -> list[str]:
    """Apply `edit` to the block of each named source for which `wanted` holds, check the
    result reads as `expect` (None: the source removed) says, and replace the file."""
    text = _read_text(config)
    expected = _read(text, config)
    sources: list[Any] = expected.get("sources", [])  # a valid config's: a list of tables
    known = [source.get("name") for source in sources]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigError(
            f"unknown source {', '.join(map(repr, unknown))} (known: {', '.join(map(str, known))})",
            path=config,
            key="sources",
        )
    lines = _LINE.findall(text)  # not str.splitlines: TOML lines end at \n alone
    changed: list[str] = []
    for name in dict.fromkeys(names):
        source = sources[known.index(name)]
        if not wanted(source):
            continue
        edit(lines, _Block(lines, _headers(lines, len(known), config)[known.index(name)]))
        if expect is None:
            del sources[known.index(name)]
            known.remove(name)
            if not sources:
                del expected["sources"]  # no [[sources]] header left: no key
        else:
            expect(source)
        changed.append(name)
    if changed:
        new_text = "".join(lines)
        try:
            edited = tomllib.loads(new_text)
        except tomllib.TOMLDecodeError:
            edited = None
        if edited != expected:
            raise ConfigError(
                f"cannot edit {', '.join(map(repr, changed))} in place: edit the file by hand",
                path=config,
                key="sources",
            )
        _replace(config, new_text)
    return changed


def _read_text(config: Path) -> str:
    """The config's text with its line endings as they are (CRLF stays CRLF)."""
    try:
        with config.open(encoding="utf-8", newline="") as stream:
            return stream.read()
    except FileNotFoundError:
        raise ConfigError("file not found", path=config) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read: {error}", path=config) from None


def _read(text: str, config: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"invalid TOML: {error}", path=config) from None


def _headers(lines: list[str], count: int, config: Path) -> list[int]:
    """The line of each `[[sources]]` header, one per source."""
    headers = [i for i, line in enumerate(lines) if _SOURCES_HEADER.fullmatch(line.rstrip("\r\n"))]
    if len(headers) != count:
        raise ConfigError(
            "sources are not all written as [[sources]] blocks (an inline array?): "
            "edit the file by hand",
            path=config,
            key="sources",
        )
    return headers


def _replace(config: Path, text: str) -> None:
    """Replace `config` with `text` once `text` loads as a config; a ConfigError naming
    `config` otherwise, the file left as it was."""
    # A sibling file, so relative paths in the config resolve exactly as they will.
    handle, name = tempfile.mkstemp(prefix=f".{config.name}.", suffix=".toml", dir=config.parent)
    candidate = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        shutil.copymode(config, candidate)
        try:
            load_settings(candidate)
        except ConfigError as error:
            message = str(error).removeprefix(f"{candidate}: ")
            raise ConfigError(message, path=config) from None
        os.replace(candidate, config)
    finally:
        candidate.unlink(missing_ok=True)


def toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes are a subset of TOML's."""
    return json.dumps(value, ensure_ascii=False)
