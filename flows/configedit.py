"""Edits to the user's config file that keep their comments and layout: new `[[sources]]`
blocks are appended as text, and the file is replaced only once the new text loads.

    append_sources(Path("newswatch.toml"), [{"name": "Gazette", "feed": "https://…/rss"}])
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from flows.errors import ConfigError
from flows.settings import load_settings


def append_sources(config: Path, sources: Sequence[Mapping[str, str]]) -> None:
    """Append one `[[sources]]` block per mapping (its keys in order, string values).

    Raises ConfigError naming `config` when the result does not load; the file is
    then left as it was.
    """
    text = config.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text += "\n"
    text += "".join(
        "\n[[sources]]\n" + "".join(f"{key} = {toml_string(value)}\n" for key, value in s.items())
        for s in sources
    )
    # A sibling file, so relative paths in the config resolve exactly as they will.
    handle, name = tempfile.mkstemp(prefix=f".{config.name}.", suffix=".toml", dir=config.parent)
    candidate = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
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
