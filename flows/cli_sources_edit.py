"""`newswatch sources pause|resume|remove NAME...`: edit the config's sources in place.

    newswatch sources pause dw --reason "site redesign, feed broken"
    newswatch sources resume dw
    newswatch sources remove dw reuters

Each edits only the named sources' `[[sources]]` blocks (flows.configedit): comments
and layout stay, and the file is replaced only once the new text loads. The store is
read, never written: a removed source's articles and alerts stay.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from rich.text import Text
from sqlalchemy import func
from sqlmodel import Session, col, select

from flows.cli_common import ConfigOption, counted, fail, minutes, out, settings_from
from flows.configedit import pause_sources, remove_sources, resume_sources
from flows.errors import ConfigError
from flows.settings import DEFAULT_CONFIG, Settings
from storage import Article, Source, StoreUnavailable, open_store, shown_url

T = TypeVar("T")

NamesArgument = Annotated[list[str], typer.Argument(help="Names of configured sources.")]


def pause_command(
    names: NamesArgument,
    reason: Annotated[
        str | None, typer.Option(help="Why, written as a comment after `paused = true`.")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Stop polling sources without forgetting them: writes `paused = true` in their blocks.

    A paused source is still listed, tried and exported; no run or schedule polls it
    (schedules read the config at each run), until `newswatch sources resume`.

    Example: newswatch sources pause dw --reason "feed broken since the redesign"
    """
    settings_from(config)  # a config that does not load is reported as every command does
    today = datetime.now(UTC).date().isoformat()
    comment = f"since {today}" + (f": {reason}" if reason else "")
    changed = _edited(lambda: pause_sources(config, names, comment=comment))
    for name in dict.fromkeys(names):
        if name in changed:
            out.print(
                Text(f"paused {name}: no run polls it until `newswatch sources resume`"),
                soft_wrap=True,
            )
        else:
            out.print(Text(f"{name} is paused already"), soft_wrap=True)


def resume_command(names: NamesArgument, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Poll paused sources again: removes `paused` from their blocks.

    Says when a source resumed is still backing off after failures, and how to poll it now.

    Example: newswatch sources resume dw
    """
    settings = settings_from(config)
    changed = _edited(lambda: resume_sources(config, names))
    rows = _rows(settings) or {}
    for name in dict.fromkeys(names):
        if name not in changed:
            out.print(Text(f"{name} is not paused"), soft_wrap=True)
            continue
        out.print(
            Text(f"resumed {name}: {_next_poll(settings, name, rows.get(name))}"), soft_wrap=True
        )


def remove_command(names: NamesArgument, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Remove sources from the config, with the comment lines right above their blocks.

    Their stored articles and alerts stay (`newswatch export --source NAME` still finds
    them); adding a source of that name and location later takes its health back up.
    Schedules made before (by `deploy`, or a `serve` running now) still name it: their
    runs poll the others and name it among their failures until `deploy` runs again
    or `serve` restarts.

    Example: newswatch sources remove dw
    """
    settings = settings_from(config)
    locations = {s.name: f"{s.kind} {shown_url(s.location)}" for s in settings.sources}
    _edited(lambda: remove_sources(config, names))
    stored = _stored_articles(settings)
    for name in dict.fromkeys(names):
        removed = f"removed {name} ({locations[name]})"
        if stored is None:
            out.print(Text(f"{removed}; what the store holds from it stays there"), soft_wrap=True)
        elif stored.get(name):
            kept = counted(stored[name], "stored article")
            stay = "stays" if stored[name] == 1 else "stay"
            out.print(Text(f"{removed}; its {kept} {stay} in the store"), soft_wrap=True)
        else:
            out.print(Text(f"{removed}; nothing was stored from it"), soft_wrap=True)


def _edited(edit: Callable[[], list[str]]) -> list[str]:
    """What `edit` changed; its ConfigError (an unknown name, a block it cannot edit in
    place, a result that does not load) as a usage error, the config unchanged."""
    try:
        return edit()
    except ConfigError as error:
        raise fail(f"{error} (the config is left unchanged)", code=2) from None


def _read_store(settings: Settings, read: Callable[[Session], T]) -> T | None:
    """What `read` finds in the store; None when the store is unreachable: the config is
    edited all the same, as the store is not needed for that."""
    try:
        engine = open_store(settings.database.url)
    except StoreUnavailable:
        return None
    try:
        with Session(engine) as session:
            return read(session)
    finally:
        engine.dispose()


def _rows(settings: Settings) -> dict[str, Source] | None:
    """The store's sources by name."""
    return _read_store(
        settings, lambda session: {row.name: row for row in session.exec(select(Source))}
    )


def _next_poll(settings: Settings, name: str, row: Source | None) -> str:
    """When a resumed source is polled: at the next run, unless it is backing off."""
    source = next(s for s in settings.sources if s.name == name)
    now = datetime.now(UTC)
    if (
        row is None
        or not row.is_at(source.kind, source.location)
        or row.next_attempt_at is None
        or row.next_attempt_at <= now
    ):
        return "the next run polls it"
    failures = counted(row.consecutive_failures, "failure")
    return (
        f"backing off after {failures} ({row.last_error}) until"
        f" {minutes(row.next_attempt_at)} UTC;"
        f" `newswatch run --source {shlex.quote(name)} --ignore-backoff` polls it now"
    )


def _stored_articles(settings: Settings) -> dict[str, int] | None:
    """How many articles the store holds from each source, by name."""
    count = func.count(col(Article.id))
    query = select(Source.name, count).join(Article, col(Article.source_id) == col(Source.id))
    return _read_store(
        settings, lambda session: dict(session.exec(query.group_by(Source.name)).all())
    )
