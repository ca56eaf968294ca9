"""The `newswatch` command line.

    newswatch run --config newswatch.toml [--json]
    newswatch alerts list [--status pending|sent|dead|held] [--json]
    newswatch alerts retry ID | deliver | digest [--now]
    newswatch export --format jsonl [--output articles.jsonl]
    newswatch search QUERY [--since DATE] [--source NAME] [--limit N] [--json]
    newswatch stories [--since DATE] [--limit N] [--json]

Exit status: 0 the run completed (failed sources or pages are listed in its
summary), 1 the run itself could not complete (store or Prefect unreachable),
2 bad usage or config. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Annotated, Any

import typer
from rich import box
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from sqlmodel import Session

from flows.cli_alerts import alerts_app
from flows.cli_common import (
    ConfigOption,
    JsonOption,
    counted,
    err,
    fail,
    open_engine,
    out,
    print_json,
    settings_from,
)
from flows.cli_ops import register as register_ops
from flows.cli_rules import rules_app
from flows.cli_runs import runs_app
from flows.cli_sources import sources_app
from flows.cli_store import register as register_store
from flows.errors import ConfigError, NewswatchError
from flows.housekeeping import tidy
from flows.logs import redact_request_logs
from flows.settings import DEFAULT_CONFIG, Settings, select_sources
from flows.summary import moved_note, quiet_note
from storage import (
    StoreUnavailable,
    masked_url,
    open_store,
    utcnow,
)
from storage.migrate import current_revision

PRINTED_ROWS = 20  # alerts and failures a run prints; a line says how many more and where

app = typer.Typer(
    help="newswatch: watch news sources, store articles once, alert on keywords.",
    epilog="Exit status: 0 ok; 1 the run failed (store or Prefect unreachable); 2 bad usage "
    "or config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(alerts_app, name="alerts")
db_app = typer.Typer(help="The store: migrate its schema, tidy it.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sources_app, name="sources")
app.add_typer(rules_app, name="rules")
app.add_typer(runs_app, name="runs")


@app.command()
def run(
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also Prefect's INFO logs: tasks, sources.")
    ] = False,
    ignore_backoff: Annotated[
        bool, typer.Option("--ignore-backoff", help="Also poll sources that are backing off.")
    ] = False,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", "-s", help="Poll only this source (repeatable)."),
    ] = None,
) -> None:
    """Run one monitoring pass: poll sources, store new articles, send alerts.

    Examples: newswatch run --config newswatch.toml --json
              newswatch run --source dw --source reuters
    """
    settings = settings_from(config)
    paused = [s.name for s in settings.sources if s.paused and s.name in (source or ())]
    try:
        settings = select_sources(settings, source)
        if paused:
            names = ", ".join(map(repr, paused))
            resume = shlex.join(["newswatch", "sources", "resume", *paused])
            raise ConfigError(
                f"{names}: paused = true, not polled"
                f" (`{resume}` polls {'it' if len(paused) == 1 else 'them'} again)",
                path=config,
                key="sources",
            )
    except ConfigError as error:
        raise fail(str(error), code=2) from None
    try:
        open_store(settings.database.url).dispose()
    except StoreUnavailable as error:
        raise fail(str(error), code=1) from None
    if quiet and verbose:
        raise fail("--quiet and --verbose exclude each other", code=2)
    if not verbose:  # INFO logs still reach the Prefect server and its UI, not the terminal
        level = "ERROR" if quiet else "WARNING"
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", level)
    # The temporary Prefect server would try to send usage telemetry and, offline, log its failure.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Its start-up takes 6-14 s on an idle 2-core machine: Prefect's 20 s is tight under load.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    show_progress = not (as_json or quiet or verbose)  # bars would interleave with the logs
    summary = _run_flow(
        settings,
        ignore_backoff=ignore_backoff,
        sources=source,
        show_progress=show_progress,
        tracebacks=verbose,
    )
    if as_json:
        print_json(summary.to_dict())
    elif not quiet:
        _print_summary(summary)


def _run_flow(
    settings: Settings,
    *,
    ignore_backoff: bool,
    sources: list[str] | None,
    show_progress: bool,
    tracebacks: bool = False,
) -> Any:
    """The flow run; with `show_progress` on a terminal, bars of sources and pages. Without
    `tracebacks`, Prefect's terminal log leaves them out (the Prefect API still gets them):
    a run that fails says why in one line."""
    from prefect import tags

    from flows.deploy import run_tags
    from flows.monitor import monitor  # Prefect is imported only for commands that run flows
    from flows.pool import start_forkserver
    from flows.progress import RichReporter, reporting

    start_forkserver()  # its import of trafilatura overlaps the flow run's start-up
    if not tracebacks:
        _console_without_tracebacks()
    names = [s.name for s in settings.sources if sources is None or s.name in sources]
    bars = RichReporter(err) if show_progress and err.is_terminal else None
    try:
        with bars or nullcontext(), reporting(bars), tags(*run_tags(names)):
            return asyncio.run(
                monitor(
                    config_path=str(settings.path), ignore_backoff=ignore_backoff, sources=sources
                )
            )
    except (NewswatchError, StoreUnavailable) as error:
        raise fail(str(error), code=1) from None
    except Exception as error:
        raise fail(f"the run could not complete: {type(error).__name__}: {error}", code=1) from None


class _WithoutTraceback(logging.Formatter):
    """Formats a record as `inner` would, minus its traceback and stack."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        kept = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = kept


def _console_without_tracebacks() -> None:
    """Prefect's console handlers (set up when Prefect is imported) print no tracebacks."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *map(logging.getLogger, logging.root.manager.loggerDict)]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, PrefectConsoleHandler) and not isinstance(
                handler.formatter, _WithoutTraceback
            ):
                handler.setFormatter(_WithoutTraceback(handler.formatter))


def _print_summary(summary: Any) -> None:
    """The run as a table and a few lines. Article and feed text is printed as plain
    text, never parsed as rich markup: a title like `[/]` must print, not crash."""
    columns = (
        "source",
        "kind",
        "found",
        "already stored",
        "new",
        "updated",
        "duplicates",
        "failures",
    )
    table = Table(
        title=f"newswatch run {summary.run_id}", box=box.SIMPLE_HEAD, collapse_padding=True
    )
    for column in columns:
        if column == "source":  # wrapped past 24 characters, never cut to "example-…"
            names = [len(r.name) for r in summary.sources]
            table.add_column(column, overflow="fold", min_width=min(24, max(names, default=6)))
        else:
            table.add_column(column, justify="left" if column == "kind" else "right")
    for r in summary.sources:
        failures = f"{r.failures} (source failed)" if r.error else str(r.failures)
        failures = "skipped: backing off" if r.skipped else failures
        counts = (r.found, r.already_stored, r.new, r.updated, r.duplicates)
        table.add_row(Text(r.name), r.kind, *map(str, counts), failures)
    out.print(table)
    for alert in summary.alerts[:PRINTED_ROWS]:
        channels = ", ".join(alert["channels"]) or "no channels"
        published = alert["published_at"][:10] if alert["published_at"] else "date unknown"
        out.print(
            Text.assemble(("ALERT ", "bold red"), (alert["rule"], "bold"), " → ", alert["title"])
        )
        # indented as a block: a snippet wrapped in the terminal keeps under its alert
        out.print(
            Padding(
                Text(f"{alert['url']}  ({alert['source']}, {published}; {channels})"), (0, 0, 0, 2)
            )
        )
        out.print(Padding(Text(alert["snippet"]), (0, 0, 0, 2)))
    _more(summary.alerts, "alert", f"newswatch alerts list --run {summary.run_id}")
    for r in summary.sources:
        if r.skipped:
            out.print(Text.assemble(("skipped ", "yellow"), f"{r.name}: {r.skipped}"))
        if r.moved_to:
            out.print(Text.assemble(("moved ", "yellow"), f"{r.name}: {moved_note(r.moved_to)}"))
        if r.quiet_since:
            quiet = quiet_note(r.quiet_since, now=summary.started_at)
            out.print(Text.assemble(("quiet ", "yellow"), f"{r.name}: {quiet}"))
    for failure in summary.failures[:PRINTED_ROWS]:
        out.print(Text.assemble(("failed ", "yellow"), f"{failure.source}: {failure.reason}"))
    _more(summary.failures, "failure", f"newswatch runs show {summary.run_id}")
    for pending in summary.deliveries.get("failures", []):
        out.print(
            Text.assemble(
                ("delivery pending ", "yellow"), f"{pending['channel']}: {pending['reason']}"
            )
        )
    totals = summary.totals()
    out.print(
        f"{totals['new']} new, {counted(totals['duplicates'], 'duplicate')}, "
        f"{totals['already_stored']} already stored, {counted(totals['alerts'], 'alert')}, "
        f"{counted(totals['deliveries_sent'], 'delivery', 'deliveries')} sent, "
        f"{totals['deliveries_pending']} pending, {counted(totals['failures'], 'failure')}"
    )


def _more(rows: Sequence[object], what: str, command: str) -> None:
    """The line saying how many of `rows` were not printed, and the command that lists them."""
    if len(rows) > PRINTED_ROWS:
        more = counted(len(rows) - PRINTED_ROWS, f"more {what}")
        out.print(f"… and {more}: `{command}` lists them all")


register_store(app)  # export, search, stories: listed after run


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Migrate the store to the newest schema (every command also does this on start).

    Example: NEWSWATCH_DATABASE_URL=postgresql+psycopg://db/newswatch newswatch db upgrade
    """
    settings = settings_from(config)
    with open_engine(settings) as engine:
        out.print(f"{masked_url(settings.database.url)}: schema at {current_revision(engine)}")


@db_app.command("prune")
def db_prune(config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False) -> None:
    """Tidy the whole store at once, as each run tidies a little of it.

    Removes the story index rows of every article stored before the story window, and
    drops the details of runs older than `[database] run_details_days` (their times and
    totals stay). A run does up to 5,000 articles and 500 runs; this clears a long
    history (say, after upgrading a large store). Articles, stories and alerts stay.
    """
    settings = settings_from(config)
    with open_engine(settings) as engine, Session(engine) as session:
        pruned, trimmed = tidy(session=session, settings=settings, now=utcnow(), whole=True)
        session.commit()
    window, details = settings.stories.window_days, settings.database.run_details_days
    if as_json:
        print_json(
            {
                "articles_pruned": pruned,
                "window_days": window,
                "runs_trimmed": trimmed,
                "run_details_days": details,
            }
        )
        return
    out.print(
        f"story index: the rows of {counted(pruned, 'article')} stored more than "
        f"{window + 1:g} days ago (the {window:g}-day story window and a day) removed"
    )
    runs = counted(trimmed, "run")
    out.print(f"runs: the details of {runs} older than {details:g} days dropped")


register_ops(app)  # init, schedules, server, serve, deploy: listed after the commands above


def main() -> None:
    """Console-script entry point."""
    redact_request_logs()
    app()
