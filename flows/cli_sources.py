"""`newswatch sources`: see configured sources' health, move feeds in and out as OPML.

    newswatch sources list [--json]
    newswatch sources import-opml subscriptions.opml
    newswatch sources export-opml --output feeds.opml

Importing appends `[[sources]]` blocks to the config as text, so the user's comments
and layout stay; the new file is validated before it replaces the old one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from sqlmodel import Session, select

from flows.cli_common import (
    ConfigOption,
    JsonOption,
    counted,
    fail,
    minutes,
    open_engine,
    out,
    print_json,
    settings_from,
)
from flows.errors import ConfigError, shown_url
from flows.opml import OpmlFeed, read_opml, write_opml
from flows.settings import DEFAULT_CONFIG, Settings, SourceSettings, load_settings
from storage import Source

sources_app = typer.Typer(
    help="Configured sources: health, OPML import and export.", no_args_is_help=True
)


@sources_app.command("list")
def list_sources(config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False) -> None:
    """Each configured source with its kind, location and polling health.

    Example: newswatch sources list --json
    """

    settings = settings_from(config)
    with open_engine(settings) as engine, Session(engine) as session:
        rows = {row.name: row for row in session.exec(select(Source)).all()}
    views = [_source_view(source, rows.get(source.name)) for source in settings.sources]
    if as_json:
        print_json(views)
        return
    table = Table(title=counted(len(views), "source"))
    for column in ("source", "kind", "location", "status", "last success", "next attempt"):
        table.add_column(column, overflow="fold")
    for view in views:
        status = view["status"]
        if view["consecutive_failures"]:
            status += f" ({view['consecutive_failures']}x): {view['last_error']}"
        table.add_row(
            Text(view["name"]),
            view["kind"],
            Text(view["location"]),
            Text(status),
            minutes(view["last_success_at"]),
            minutes(view["next_attempt_at"]),
        )
    out.print(table)


def _source_view(source: SourceSettings, row: Source | None) -> dict[str, Any]:
    """One source as printed by `sources list --json`; health fields are null if never polled."""
    polled = row is not None and row.last_run_at is not None
    failures = row.consecutive_failures if row is not None else 0
    return {
        "name": source.name,
        "kind": source.kind,
        "location": shown_url(source.location),
        "status": "failing" if failures else ("ok" if polled else "never polled"),
        "last_run_at": _iso(row.last_run_at if row else None),
        "last_success_at": _iso(row.last_success_at if row else None),
        "last_error": row.last_error if row else None,
        "consecutive_failures": failures,
        "next_attempt_at": _iso(row.next_attempt_at if row else None),
    }


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


@sources_app.command("import-opml")
def import_opml(
    file: Annotated[Path, typer.Argument(help="OPML file exported from a feed reader.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Add the OPML file's feeds to the config as sources, skipping known ones.

    Example: newswatch sources import-opml subscriptions.opml --config newswatch.toml
    """

    settings = settings_from(config)
    try:
        feeds = read_opml(file)
    except ConfigError as error:
        raise fail(str(error), code=2) from None
    added, skipped = _new_feeds(feeds, settings)
    for feed, reason in skipped:
        out.print(Text(f"skipped {feed.name}: {reason}"), soft_wrap=True)
    if added:
        try:
            _append_sources(config, added)
        except ConfigError as error:
            raise fail(
                f"{error} (after the import; the config is left unchanged)", code=2
            ) from None
    out.print(f"{len(added)} added, {len(skipped)} skipped")


def _new_feeds(
    feeds: list[OpmlFeed], settings: Settings
) -> tuple[list[OpmlFeed], list[tuple[OpmlFeed, str]]]:
    """The feeds to add, and the others with why they are left out."""
    names = {source.name for source in settings.sources}
    urls = {source.feed for source in settings.sources if source.feed}
    added: list[OpmlFeed] = []
    skipped: list[tuple[OpmlFeed, str]] = []
    for feed in feeds:
        if not feed.url.startswith(("http://", "https://")):  # what the config accepts
            skipped.append((feed, f"{feed.url} is not an http(s) URL"))
        elif feed.url in urls:
            skipped.append((feed, f"{feed.url} is already configured"))
        elif feed.name in names:
            skipped.append((feed, "a source with this name is already configured"))
        else:
            added.append(feed)
            names.add(feed.name)
            urls.add(feed.url)
    return added, skipped


def _append_sources(config: Path, feeds: list[OpmlFeed]) -> None:
    """Append one block per feed; the old file is replaced only once the new one loads."""
    text = config.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text += "\n"
    text += "".join(
        f"\n[[sources]]\nname = {_toml_string(feed.name)}\nfeed = {_toml_string(feed.url)}\n"
        for feed in feeds
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


def _toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes are a subset of TOML's."""
    return json.dumps(value, ensure_ascii=False)


@sources_app.command("export-opml")
def export_opml(
    config: ConfigOption = DEFAULT_CONFIG,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File, else stdout.")
    ] = None,
) -> None:
    """Write the config's feed sources as OPML, for a feed reader or another newswatch.

    Example: newswatch sources export-opml --output feeds.opml
    """

    settings = settings_from(config)
    feeds = [OpmlFeed(name=s.name, url=s.feed) for s in settings.sources if s.feed]
    document = write_opml(feeds, title=f"newswatch feeds from {settings.path.name}")
    if output is None:
        print(document, end="")
    else:
        output.write_text(document, encoding="utf-8")
