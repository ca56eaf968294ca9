"""The `newswatch` command line.

    newswatch run --config newswatch.toml [--json]
    newswatch alerts list [--status pending] [--json]
    newswatch export --format jsonl [--output articles.jsonl]

Exit status: 0 the run completed (failed sources or pages are listed in its
summary), 1 the run itself could not complete (store or Prefect unreachable),
2 bad usage or config. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session

from flows.errors import ConfigError, NewswatchError
from flows.settings import DEFAULT_CONFIG, Settings, load_settings
from storage import StoreUnavailable, iter_articles, open_store

app = typer.Typer(
    help="newswatch: watch news sources, store articles once, alert on keywords.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
alerts_app = typer.Typer(help="Inspect alerts and their deliveries.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")

out = Console()
err = Console(stderr=True)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="Config file (TOML).", show_default=True),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    json = "json"


class DeliveryStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"


def fail(message: str, *, code: int) -> typer.Exit:
    err.print(f"newswatch: error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def settings_from(path: Path) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as error:
        raise fail(str(error), code=2) from None


@app.command()
def run(
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors.")] = False,
) -> None:
    """Run one monitoring pass: poll sources, store new articles, send alerts.

    Example: newswatch run --config newswatch.toml --json
    """
    settings = settings_from(config)
    try:
        open_store(settings.database.url).dispose()
    except StoreUnavailable as error:
        raise fail(str(error), code=1) from None
    if as_json or quiet:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # The temporary Prefect server would try to send usage telemetry and, offline, log its failure.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    summary = _run_flow(settings.path)
    if as_json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False))
    elif not quiet:
        _print_summary(summary)


def _run_flow(path: Path) -> Any:
    from flows.monitor import monitor  # Prefect is imported only for commands that run flows

    try:
        with err.status("monitoring run in progress…", spinner="dots"):
            return asyncio.run(monitor(config_path=str(path)))
    except (NewswatchError, StoreUnavailable) as error:
        raise fail(str(error), code=1) from None
    except Exception as error:
        raise fail(f"the run could not complete: {type(error).__name__}: {error}", code=1) from None


def _print_summary(summary: Any) -> None:
    table = Table(title=f"newswatch run {summary.run_id}")
    for column in ("source", "kind", "found", "already stored", "new", "duplicates", "failures"):
        table.add_column(column, justify="left" if column in {"source", "kind"} else "right")
    for r in summary.sources:
        failures = f"{r.failures} (source failed)" if r.error else str(r.failures)
        table.add_row(
            r.name,
            r.kind,
            str(r.found),
            str(r.already_stored),
            str(r.new),
            str(r.duplicates),
            failures,
        )
    out.print(table)
    for alert in summary.alerts:
        channels = ", ".join(alert["channels"]) or "no channels"
        published = (alert["published_at"] or "date unknown")[:10]
        out.print(
            f"[bold red]ALERT[/] [bold]{alert['rule']}[/] → {alert['title']}", highlight=False
        )
        out.print(
            f"  {alert['url']}  ({alert['source']}, {published}; {channels})",
            highlight=False,
            markup=False,
        )
        out.print(f"  {alert['snippet']}", highlight=False, markup=False)
    for failure in summary.failures:
        out.print(f"[yellow]failed[/] {failure.source}: {failure.reason}", highlight=False)
    for pending in summary.deliveries.get("failures", []):
        out.print(
            f"[yellow]delivery pending[/] {pending['channel']}: {pending['reason']}",
            highlight=False,
        )
    totals = summary.totals()
    out.print(
        f"{totals['new']} new, {totals['duplicates']} duplicates, "
        f"{totals['already_stored']} already stored, {totals['alerts']} alerts, "
        f"{totals['deliveries_sent']} deliveries sent, {totals['deliveries_pending']} pending, "
        f"{totals['failures']} failures"
    )


@alerts_app.command("list")
def alerts_list(
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
    status: Annotated[
        DeliveryStatus | None, typer.Option(help="Only alerts with a delivery in this state.")
    ] = None,
) -> None:
    """List alerts, newest first, with each channel's delivery status.

    Example: newswatch alerts list --status pending --json
    """
    from alerts import list_alerts

    settings = settings_from(config)
    with _store(settings) as engine, Session(engine) as session:
        views = list_alerts(session=session, status=status.value if status else None)
    if as_json:
        print(json.dumps([view.to_dict() for view in views], ensure_ascii=False))
        return
    table = Table(title=f"{len(views)} alerts")
    for column in ("id", "rule", "title", "created", "deliveries"):
        table.add_column(column)
    for view in views:
        states = ", ".join(f"{ch}: {d['status']}" for ch, d in view.deliveries.items())
        table.add_row(
            view.id[:12],
            view.rule,
            view.title,
            view.created_at.isoformat(timespec="seconds"),
            states or "-",
        )
    out.print(table)


@app.command()
def export(
    config: ConfigOption = DEFAULT_CONFIG,
    format: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.jsonl,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File, else stdout.")
    ] = None,
) -> None:
    """Export every stored article: one JSON object a line (jsonl) or one JSON array.

    Example: newswatch export --format jsonl --output articles.jsonl
    """
    settings = settings_from(config)
    with _store(settings) as engine, Session(engine) as session:
        records = (
            _export_record(article, source) for article, source in iter_articles(session=session)
        )
        if output is None:
            _write_export(records, format, sys.stdout)
        else:
            with output.open("w", encoding="utf-8") as handle:
                _write_export(records, format, handle)


def _write_export(records: Iterator[dict[str, Any]], format: ExportFormat, handle: Any) -> None:
    if format is ExportFormat.jsonl:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        json.dump(list(records), handle, ensure_ascii=False)
        handle.write("\n")


def _export_record(article: Any, source: str) -> dict[str, Any]:
    return {
        "id": article.id,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "title": article.title,
        "author": article.author,
        "published_at": article.published_at.isoformat() if article.published_at else None,
        "language": article.language,
        "site_name": article.site_name,
        "source": source,
        "origin": article.origin,
        "fetched_at": article.fetched_at.isoformat(),
        "text": article.text,
    }


@contextmanager
def _store(settings: Settings) -> Iterator[Engine]:
    try:
        engine = open_store(settings.database.url)
    except StoreUnavailable as error:
        raise fail(str(error), code=1) from None
    try:
        yield engine
    finally:
        engine.dispose()


def main() -> None:
    """Console-script entry point."""
    app()
