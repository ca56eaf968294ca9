"""`newswatch sources`: see configured sources' health, move feeds in and out as OPML.

    newswatch sources list [--status failing --status quiet] [--json]
    newswatch sources add https://example.org/rss.xml [--name NAME] [--every 30m]
    newswatch sources add ./dumps/ --name desk
    newswatch sources pause dw --reason "feed broken"   (resume, remove: flows.cli_sources_edit)
    newswatch sources try https://example.org/rss.xml [--as feed|sitemap|page] [--limit 5]
    newswatch sources import-opml subscriptions.opml
    newswatch sources export-opml --output feeds.opml

Importing appends `[[sources]]` blocks to the config as text, so the user's comments
and layout stay; the new file is validated before it replaces the old one.
"""

from __future__ import annotations

import asyncio
import glob
import os
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError
from rich import box
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
from flows.cli_sources_edit import pause_command, remove_command, resume_command
from flows.configedit import append_sources
from flows.durations import format_duration
from flows.errors import ConfigError, SourceError
from flows.opml import OpmlFeed, read_opml, write_opml
from flows.pipeline import Failure
from flows.seeds import seeds_path
from flows.settings import DEFAULT_CONFIG, Settings, SourceSettings, problem_in
from flows.summary import moved_note, quiet_note
from flows.trial import TriedPage, poll_once, try_source
from storage import Source, shown_url, utcnow

sources_app = typer.Typer(
    help="Sources: health, trying one out, adding, pausing and removing, OPML import and export.",
    no_args_is_help=True,
)


class SourceStatus(StrEnum):
    """A source's health as `sources list` shows it."""

    ok = "ok"
    quiet = "quiet"
    failing = "failing"
    paused = "paused"
    never_polled = "never polled"


@sources_app.command("list")
def list_sources(
    statuses: Annotated[
        list[SourceStatus] | None,
        typer.Option(
            "--status",
            help="Only sources in this state; repeat it for several (--status failing "
            "--status quiet: those needing a look).",
        ),
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
) -> None:
    """Each configured source with its kind, location and polling health.

    Examples: newswatch sources list --json; newswatch sources list --status failing --status quiet
    """

    settings = settings_from(config)
    with open_engine(settings) as engine, Session(engine) as session:
        rows = {row.name: row for row in session.exec(select(Source)).all()}
    now = utcnow()
    views = [
        _source_view(
            source, _health_row(source, rows), quiet_after=settings.quiet_after(source), now=now
        )
        for source in settings.sources
    ]
    if statuses:
        views = [view for view in views if view["status"] in statuses]
    if as_json:
        print_json(views)
        return
    wanted = f" {' or '.join(statuses)}" if statuses else ""
    table = Table(title=f"{counted(len(views), 'source')}{wanted}")
    for column in ("source", "kind", "location", "status", "last success", "next attempt"):
        table.add_column(column, overflow="fold")
    for view in views:
        status = view["status"]
        if view["consecutive_failures"]:
            status += f" ({view['consecutive_failures']}x): {view['last_error']}"
        if view["quiet_since"]:
            status += f": {quiet_note(view['quiet_since'], now=now)}"
        if view["moved_to"]:
            status += f"; {moved_note(view['moved_to'])}"
        table.add_row(
            Text(view["name"]),
            view["kind"],
            Text(view["location"]),
            Text(status),
            minutes(view["last_success_at"]),
            minutes(view["next_attempt_at"]),
        )
    out.print(table)


def _health_row(source: SourceSettings, rows: dict[str, Source]) -> Source | None:
    """The store's row for `source`, unless it was polled at another location: a source
    moved in the config starts afresh at its next run (`storage.ensure_sources`)."""
    row = rows.get(source.name)
    return row if row is not None and row.is_at(source.kind, source.location) else None


def _source_view(
    source: SourceSettings, row: Source | None, *, quiet_after: timedelta | None, now: datetime
) -> dict[str, Any]:
    """One source as printed by `sources list --json`; health fields are null if never polled."""
    polled = row is not None and row.last_run_at is not None
    failures = row.consecutive_failures if row is not None else 0
    quiet = None  # a paused source is not polled: its silence says nothing
    if row is not None and not source.paused:
        quiet = row.quiet_since(quiet_after, now=now)
    return {
        "name": source.name,
        "kind": source.kind,
        "location": shown_url(source.location),
        "status": _status(source, failures=failures, polled=polled, quiet=quiet is not None),
        "paused": source.paused,
        "last_run_at": _iso(row.last_run_at if row else None),
        "last_success_at": _iso(row.last_success_at if row else None),
        "last_error": row.last_error if row else None,
        "consecutive_failures": failures,
        "next_attempt_at": _iso(row.next_attempt_at if row else None),
        "moved_to": row.moved_to if row else None,
        "last_new_at": _iso(row.last_new_at if row else None),
        "quiet_since": _iso(quiet),
        "quiet_after": format_duration(quiet_after) if quiet_after else None,
    }


def _status(source: SourceSettings, *, failures: int, polled: bool, quiet: bool) -> str:
    if source.paused:
        return "paused"
    if failures:
        return "failing"
    return ("quiet" if quiet else "ok") if polled else "never polled"


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


TRIED = "try"  # the name of a source tried by its URL


class TargetKind(StrEnum):
    """What a URL given to `sources try` is read as."""

    feed = "feed"
    sitemap = "sitemap"
    page = "page"


@sources_app.command("try")
def try_command(
    target: Annotated[
        str, typer.Argument(help="A configured source's name, or a URL (read as --as says).")
    ],
    kind: Annotated[
        TargetKind, typer.Option("--as", help="What a URL is: a feed, a sitemap or one page.")
    ] = TargetKind.feed,
    limit: Annotated[
        int, typer.Option(min=1, max=100, help="How many of its pages to fetch and extract.")
    ] = 5,
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
) -> None:
    """Poll a source once and extract its first pages, as a run would: nothing is stored.

    Shows what each page would become (an article, its feed entry's text, a page
    skipped as not an article, a failure, with why) and the config's rules it would
    fire. No alert is recorded or sent. The config's [fetch] settings apply.

    Example: newswatch sources try https://example.org/rss.xml --limit 3
    """
    settings = settings_from(config)
    source = _target(settings, target, kind)
    try:
        trial = asyncio.run(try_source(source, settings=settings, limit=limit))
    except SourceError as error:
        raise fail(_named(str(error), source=source), code=1) from None
    if as_json:
        print_json(trial.to_dict())
        return
    found = counted(trial.found, "entry", "entries")
    if trial.newest_dated is not None:
        found += f" (the newest dated {trial.newest_dated:%Y-%m-%d %H:%M} UTC)"
    tried = counted(len(trial.pages), "page")
    where = f"{source.kind} {shown_url(source.location)}"
    out.print(Text(f"{where}: {found} found, {tried} tried; nothing stored, nothing sent"))
    if trial.moved_to:
        out.print(Text(moved_note(trial.moved_to)))
    stale = _stale_note(trial.newest_dated, limit=settings.quiet_after(source))
    if stale:
        out.print(Text(stale), soft_wrap=True)
    if trial.pages:
        out.print(_tried_table(trial.pages))


def _target(settings: Settings, target: str, kind: TargetKind) -> SourceSettings:
    """The configured source named `target`, or a source of `kind` at the URL `target`."""
    named = next((source for source in settings.sources if source.name == target), None)
    if named is not None:
        return named
    if not target.startswith(("http://", "https://")):
        raise fail(f"{target}: not a source of {settings.path}, nor an http(s) URL", code=2)
    if kind is TargetKind.page:
        return SourceSettings(name=TRIED, urls=(target,))
    return SourceSettings.model_validate({"name": TRIED, kind.value: target})


def _stale_note(newest: datetime | None, *, limit: timedelta | None) -> str | None:
    """What a source whose newest entry is older than its quiet limit gives to think
    about, before it is added or while it is tried; None for a fresh or undated one."""
    if newest is None or limit is None:
        return None
    age = utcnow() - newest
    if age <= limit:
        return None
    dated = f"{newest:%Y-%m-%d} ({counted(age.days, 'day')} ago)"
    return f"its newest entry is dated {dated}: is the site still updating it?"


def _named(message: str, *, source: SourceSettings) -> str:
    """`message` saying which source failed, when it does not name its location already."""
    where = shown_url(source.location)
    message = message if where in message else f"{source.kind} {where}: {message}"
    return message if source.name == TRIED else f"{source.name}: {message}"


def _tried_table(pages: list[TriedPage]) -> Table:
    """80 columns: the result and word count whole, the page (title, date, URL, and why
    it was not taken) widest."""
    table = Table(box=box.SIMPLE_HEAD, collapse_padding=True)
    table.add_column("result", no_wrap=True)
    table.add_column("page: title · published · author", overflow="fold", ratio=3)
    table.add_column("words", justify="right", no_wrap=True)
    table.add_column("rules it fires", overflow="fold", ratio=1)
    for page in pages:
        shown = page.to_dict()
        lines = []
        if shown["title"]:
            lines.append(shown["title"])
            byline = [minutes(shown["published_at"])[:10], shown["author"] or ""]
            lines.append(" · ".join(part for part in byline if part and part != "-"))
        lines.append(shown["url"])
        if page.reason:
            lines.append(page.reason)
        words = str(shown["words"]) if page.article else "-"
        cell = Text("\n".join(line for line in lines if line))
        table.add_row(page.result, cell, words, Text(", ".join(page.rules) or "-"))
    return table


class AddedKind(StrEnum):
    """What `sources add` reads its location as."""

    feed = "feed"
    sitemap = "sitemap"
    seeds = "seeds"


@sources_app.command("add")
def add_source(
    location: Annotated[
        str,
        typer.Argument(
            help="A feed's or sitemap's http(s) URL, or a seed file, folder or quoted glob."
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option(help="The source's name (by default the URL's host, the folder's name)."),
    ] = None,
    kind: Annotated[
        AddedKind | None,
        typer.Option("--as", help="A feed, a sitemap or seeds [default: feed for a URL]."),
    ] = None,
    every: Annotated[
        str | None, typer.Option(help='How often `serve` polls it ("30m", "2h").')
    ] = None,
    check: Annotated[
        bool,
        typer.Option("--check/--no-check", help="Poll it once first: one that fails is not added."),
    ] = True,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Add a feed, a sitemap or seed files to the config, once a poll shows it answers.

    A path (not a URL) is read as seeds: a path relative to this folder is
    written relative to the config's folder (or whole, outside it).
    The block is appended as text: the config's comments and layout stay, and
    the file is replaced only once the new one loads. No page is fetched.

    Example: newswatch sources add https://example.org/rss.xml --name example --every 30m
    """
    settings = settings_from(config)
    web = "://" in location  # a URL of any scheme: the feed's checks say which are taken
    kind = kind or (AddedKind.feed if web else AddedKind.seeds)
    if kind is AddedKind.seeds:
        if web:
            message = f"{location}: seeds are local files, not a URL (--as feed or sitemap)"
            raise fail(message, code=2)
        location = _seeds_spec(location, base=settings.base)
    default_name = urlsplit(location).hostname if web else _seeds_name(location)
    block = {"name": name or default_name or location, kind.value: location}
    if every is not None:
        block["every"] = every
    source = _new_source(settings, block)
    found, notes = "", []
    unreadable: list[Failure] = []
    if check:
        try:
            collected = asyncio.run(poll_once(source, settings=settings))
        except SourceError as error:
            raise fail(f"{error} (not added)", code=1) from None
        found = f", {counted(collected.found, 'entry', 'entries')} in it now"
        unreadable = collected.failures
        if unreadable:
            found += f", {len(unreadable)} unreadable"
        moved_to = collected.moved_to
        if moved_to and _has_credentials(location) and not _has_credentials(moved_to):
            notes.append(moved_note(moved_to))  # its new home would drop the credentials
        elif moved_to:
            notes.append(f"{shown_url(location)} redirects there permanently")
            location = block[kind.value] = moved_to
            block["name"] = name or urlsplit(location).hostname or location
            source = _new_source(settings, block)
        newest = collected.newest_dated(now=utcnow())
        stale = _stale_note(newest, limit=settings.quiet_after(source))
        notes += [stale] if stale else []
    try:
        append_sources(config, [block])
    except ConfigError as error:
        raise fail(f"{error} (the config is left unchanged)", code=2) from None
    out.print(Text(f"added {source.name}: {source.kind} {shown_url(location)}{found}"))
    for note in notes:
        out.print(Text(note), soft_wrap=True)
    for failure in unreadable:  # a seed file a run would report as failing, each time
        out.print(Text(f"unreadable: {failure.reason}"), soft_wrap=True)


def _has_credentials(url: str) -> bool:
    parts = urlsplit(url)
    return parts.username is not None or parts.password is not None


def _seeds_spec(given: str, *, base: Path) -> str:
    """A seeds location typed here, as the config reads it: relative to the config's
    folder when inside it, else whole."""
    path = Path(given).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    path = Path(os.path.normpath(path))
    try:
        relative = path.relative_to(base.resolve())
    except ValueError:
        return str(path)
    spec = relative.as_posix()
    return spec + "/" if given.endswith(("/", os.sep)) and spec != "." else spec


def _seeds_name(spec: str) -> str:
    """The default name of a seeds source: its folder's or file's name, before any glob."""
    parts = [part for part in Path(spec).parts if not glob.has_magic(part)]
    return Path(*parts).name if parts else spec


def _new_source(settings: Settings, block: dict[str, str]) -> SourceSettings:
    """The source `block` describes; a usage error if it is invalid or configured already."""
    try:
        source = SourceSettings.model_validate(block)
    except ValidationError as error:
        detail = error.errors()[0]
        key = ".".join(str(part) for part in detail["loc"])
        option = {"name": "--name", "every": "--every"}.get(key, "the URL")
        raise fail(f"{option}: {problem_in(detail)}", code=2) from None
    for known in settings.sources:
        if known.name == source.name:
            raise fail(f"a source named {source.name!r} is configured already (--name)", code=2)
        if _where(known, settings) == _where(source, settings):
            raise fail(
                f"{shown_url(source.location)} is configured already, as {known.name!r}", code=2
            )
    return source


def _where(source: SourceSettings, settings: Settings) -> str:
    """What `source` reads, comparable: seeds as a normalised path ("desk/" is "./desk")."""
    if source.seeds is None:
        return source.location
    return os.path.normpath(seeds_path(source.seeds, base=settings.base))


sources_app.command("pause")(pause_command)
sources_app.command("resume")(resume_command)
sources_app.command("remove")(remove_command)


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
            append_sources(config, [{"name": f.name, "feed": f.url} for f in added])
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
