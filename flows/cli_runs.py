"""`newswatch runs`: past monitoring runs as the store recorded them.

    newswatch runs list [--limit 20] [--json]   # newest first: status, times, counts
    newswatch runs show ID [--json]             # one run's whole summary: every source,
                                                # failure and page skipped, with reasons

A run's row holds the summary `newswatch run --json` printed (see `storage.runs`),
so what a run artifact in the Prefect UI cuts short is here in full.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text
from sqlmodel import Session

from flows.cli_common import (
    ConfigOption,
    JsonOption,
    LimitOption,
    counted,
    fail,
    minutes,
    open_engine,
    out,
    print_json,
    settings_from,
)
from flows.settings import DEFAULT_CONFIG
from flows.summary import moved_note, quiet_note
from storage import Run, recent_runs

runs_app = typer.Typer(
    help="Past monitoring runs as the store recorded them: list, show.", no_args_is_help=True
)
COUNTS = ("new", "duplicates", "alerts", "failures")


def run_record(row: Run) -> dict[str, Any]:
    """A run row as JSON: its summary parsed (a run still going, or abandoned, has only
    its owner's host and process in it, and no totals; an old one only its totals, and
    when its details were dropped)."""
    summary = json.loads(row.summary) if row.summary else {}
    removed = row.details_removed_at
    return {
        "id": row.id,
        "flow_run_id": row.flow_run_id,
        "status": row.status,
        "started_at": row.started_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "details_removed_at": removed.isoformat() if removed else None,
        "totals": summary.get("totals"),
        "summary": summary,
    }


@runs_app.command("list")
def runs_list(
    config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False, limit: LimitOption = 20
) -> None:
    """List the latest runs, newest first: status, start and end, and what each found.

    Example: newswatch runs list --limit 5
    """
    settings = settings_from(config)
    with open_engine(settings) as engine, Session(engine) as session:
        rows = recent_runs(session=session, limit=limit)
    records = [run_record(row) for row in rows]
    if as_json:
        print_json([{k: v for k, v in r.items() if k != "summary"} for r in records])
        return
    table = Table(
        title=f"{counted(len(records), 'run')}, newest first",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
    )
    for column in ("id", "status", "started (UTC)", "seconds", *COUNTS):
        table.add_column(column, no_wrap=True, min_width=len(column))
    for row, record in zip(rows, records, strict=True):
        totals = record["totals"] or {}
        table.add_row(
            str(row.id),
            row.status,
            minutes(row.started_at),
            _took(row),
            *(str(totals.get(count, "-")) for count in COUNTS),
        )
    out.print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[int, typer.Argument(help="The run's id (`runs list`, `run` prints it).")],
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
) -> None:
    """Show one run's whole summary: sources, failures, skipped pages, with reasons.

    Everything the run's artifacts in the Prefect UI cut short is here in full.

    Example: newswatch runs show 12 --json
    """
    settings = settings_from(config)
    with open_engine(settings) as engine, Session(engine) as session:
        row = session.get(Run, run_id)
        if row is None:
            raise fail(f"run {run_id}: not in the store (`newswatch runs list` lists them)", code=2)
        record = run_record(row)
    if as_json:
        print_json(record)
        return
    summary, row_trimmed = record["summary"], record["details_removed_at"]
    took = f", {_took(row)} s" if row.finished_at is not None else ""
    out.print(
        Text(f"run {run_id}: {record['status']}, started {minutes(row.started_at)} UTC{took}")
    )
    if record["totals"]:
        out.print(Text(totals_line(record["totals"])))
    _table(
        ["source", "kind", "found", "new", "duplicates", "failures", "error"],
        [
            [
                s["name"],
                s["kind"],
                s["found"],
                s["new"],
                s["duplicates"],
                s["failures"],
                s.get("error") or s.get("skipped") or _notes(s, started=row.started_at),
            ]
            for s in summary.get("sources", [])
        ],
        title="sources",
    )
    _table(
        ["source", "input", "reason"],
        [[f["source"], f["target"], f["reason"]] for f in summary.get("failures", [])],
        title="failures",
    )
    _table(
        ["source", "page", "reason"],
        [[p["source"], p["target"], p["reason"]] for p in summary.get("not_articles", [])],
        title="pages skipped as not articles",
    )
    totals = record["totals"] or {}
    if totals.get("new"):
        new = counted(totals["new"], "new article")
        out.print(Text(f"{new}: newswatch export --run {run_id}"))
    if totals.get("alerts"):
        out.print(
            Text(f"{counted(totals['alerts'], 'alert')}: newswatch alerts list --run {run_id}")
        )
    if "abandoned" in summary:
        out.print(Text(f"abandoned: {summary['abandoned']}"))
    if row_trimmed:
        out.print(
            Text(
                f"details dropped {row_trimmed[:16].replace('T', ' ')} UTC, past "
                "[database] run_details_days: times and totals kept"
            )
        )


def _notes(source: dict[str, Any], *, started: datetime) -> str:
    """What a source that did not fail asks of the user, as `runs show` lists it: where
    it moved, how long it has been quiet (rows before 0009 and 0010 have neither)."""
    notes = [moved_note(source["moved_to"])] if source.get("moved_to") else []
    if source.get("quiet_since"):
        notes.append(f"quiet: {quiet_note(source['quiet_since'], now=started)}")
    return "; ".join(notes)


def totals_line(totals: dict[str, int]) -> str:
    """A run's totals in words: `12 found: 3 new, 1 updated, ...; 1 alert; ...`. A row
    written before a count existed lacks it: it reads 0."""
    t = defaultdict(int, totals)
    return (
        f"{t['found']} found: {t['new']} new, {t['updated']} updated, "
        f"{counted(t['duplicates'], 'duplicate')}, {t['already_stored']} already stored, "
        f"{t['not_articles']} not articles; {counted(t['alerts'], 'alert')}; deliveries: "
        f"{t['deliveries_sent']} sent, {t['deliveries_pending']} pending; "
        f"{counted(t['failures'], 'failure')}; {counted(t['sources'], 'source')} "
        f"({t['sources_failed']} failed, {t['sources_skipped']} skipped)"
    )


def _took(row: Run) -> str:
    if row.finished_at is None:
        return "-"
    return f"{(row.finished_at - row.started_at).total_seconds():.1f}"


def _table(header: list[str], rows: list[list[Any]], *, title: str) -> None:
    if not rows:
        return
    table = Table(title=title)
    for column in header:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))  # Text: a stranger's text is no markup
    out.print(table)
