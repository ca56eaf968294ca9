"""What the `newswatch` commands share: the consoles, the common options, one-line
failures with their exit status, and the store opened for a command.

    settings = settings_from(config)          # a bad config: one line, exit 2
    with open_engine(settings) as engine:     # an unreachable store: one line, exit 1
        ...
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.engine import Engine

from flows.errors import ConfigError
from flows.settings import Settings, load_settings
from flows.summary import counted as counted  # the CLI's commands import it from here
from storage import StoreUnavailable, open_store

out = Console()
err = Console(stderr=True)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="Config file (TOML).", show_default=True),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
SinceOption = Annotated[
    str | None,
    typer.Option(
        help="Only from this date or time on (ISO 8601, e.g. 2025-03-01; UTC if no zone)."
    ),
]
UntilOption = Annotated[
    str | None,
    typer.Option(
        help="Only before this time, or up to the end of this date (ISO 8601; UTC if no zone)."
    ),
]
LimitOption = Annotated[int, typer.Option(min=1, max=1000, help="At most this many rows.")]


def minutes(value: datetime | str | None) -> str:
    """A time as tables print it: `2025-03-02 14:05` (UTC, as stored), or `-`."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        value = value.astimezone(UTC).isoformat()
    return value[:16].replace("T", " ")


def print_json(value: object) -> None:
    """What `--json` prints: one JSON document on stdout, non-ASCII text as it is (plain
    `print`: rich's console would wrap long lines and read brackets as markup)."""
    print(json.dumps(value, ensure_ascii=False))


def fail(message: str, *, code: int) -> typer.Exit:
    """Print `message` as newswatch's one-line error; `raise` what it returns."""
    err.print(f"newswatch: error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def parse_since(value: str | None, *, option: str = "--since") -> datetime | None:
    """`--since` as an aware datetime; a bad value is a usage error (exit 2)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{option}: {value!r} is not an ISO 8601 date or time", code=2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_until(value: str | None) -> datetime | None:
    """`--until` as the aware datetime before which to stop: a date alone reaches the end
    of that day (`--until 2025-03-07` keeps the 7th), a time stops right there."""
    moment = parse_since(value, option="--until")
    if moment is None or value is None:
        return None
    try:
        date.fromisoformat(value)  # a date alone, in either ISO form (2025-03-07, 20250307)
    except ValueError:
        return moment
    return moment + timedelta(days=1)


def settings_from(path: Path) -> Settings:
    """The config at `path`; a bad one is a usage error (exit 2) naming file and key."""
    try:
        return load_settings(path)
    except ConfigError as error:
        raise fail(str(error), code=2) from None


@contextmanager
def open_engine(settings: Settings) -> Iterator[Engine]:
    """The store, migrated, for one command; unreachable is a failure (exit 1)."""
    try:
        engine = open_store(settings.database.url)
    except StoreUnavailable as error:
        raise fail(str(error), code=1) from None
    try:
        yield engine
    finally:
        engine.dispose()
