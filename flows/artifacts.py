"""What a run publishes to the Prefect UI: its summary, the alerts it fired, failing sources.

    await publish(summary, engine=engine)

Each is an artifact of the flow run: a markdown summary (per source: found,
new, duplicates, skipped and failures with reasons, time), a table of alerts
(rule, title, outlets, link) and a table of the sources failing after the run.

A table shows at most ARTIFACT_ROWS alerts and says where the rest are: the
server refuses an artifact's event past 1.5 MB (~8,000 alerts: it was refused
with 10,000 rules), and nobody reads a table that long in a browser.
"""

from __future__ import annotations

from typing import Any

from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from sqlalchemy.engine import Engine
from sqlmodel import Session

from alerts import alert_outlets
from flows.summary import RunSummary, SourceReport, moved_note
from storage import source_states

ARTIFACT_ROWS = 500


async def publish(summary: RunSummary, *, engine: Engine) -> None:
    """Every artifact of the run `summary` describes; `engine` has the alerts' outlets and
    the sources' health as this run left them."""
    await acreate_markdown_artifact(
        key="newswatch-run-summary",
        markdown=summary.to_markdown(),
        description=f"newswatch run {summary.run_id}",
    )
    if summary.alerts:
        outlets = _outlets(summary.alerts[:ARTIFACT_ROWS], engine)
        rows, description = alerts_table(summary, outlets)
        await acreate_table_artifact(key="newswatch-alerts", table=rows, description=description)
    await _publish_failing_sources(summary, engine)


def source_line(r: SourceReport) -> str:
    """One source's counts as one log line: `dw (feed): 12 found, 3 already stored, ...`."""
    if r.skipped:
        return f"{r.name} ({r.kind}): skipped, {r.skipped}"
    counts = (
        f"{r.found} found, {r.already_stored} already stored, {r.new} new, {r.updated} updated, "
        f"{r.duplicates} duplicates, {r.not_articles} not articles, {r.failures} failures"
    )
    failed = f"; source failed: {r.error}" if r.error else ""
    moved = f"; {moved_note(r.moved_to)}" if r.moved_to else ""
    return f"{r.name} ({r.kind}): {counts} in {r.seconds:.1f} s{failed}{moved}"


def _outlets(alerts: list[dict[str, Any]], engine: Engine) -> dict[str, list[str]]:
    """The outlets of each of `alerts`, as the store now has them."""
    with Session(engine) as session:
        return alert_outlets(session=session, ids=[alert["id"] for alert in alerts])


def alerts_table(
    summary: RunSummary, outlets: dict[str, list[str]]
) -> tuple[list[dict[str, str]], str]:
    """The rows of the run's alerts table, its first ARTIFACT_ROWS alerts (`outlets`: theirs
    by alert id), and its description, which says where the rest are."""
    shown = summary.alerts[:ARTIFACT_ROWS]
    rows = [
        {
            "rule": a["rule"],
            "title": a["title"],
            "outlets": ", ".join(outlets.get(a["id"]) or [a["source"] or ""]),
            "link": a["url"],
        }
        for a in shown
    ]
    if len(shown) == len(summary.alerts):
        return rows, "alerts fired in this run"
    return rows, (
        f"the first {len(shown)} of the {len(summary.alerts)} alerts fired in this run; "
        f"`newswatch alerts list --run {summary.run_id}` lists them all"
    )


async def _publish_failing_sources(summary: RunSummary, engine: Engine) -> None:
    """A table of this run's sources that are failing, as the store now sees them (after this
    run's health was recorded), so an operator sees what to fix without opening a terminal."""
    names = [report.name for report in summary.sources]
    with Session(engine) as session:
        states = source_states(session=session, names=names)
    failing = [states[name] for name in names if name in states]
    failing = [row for row in failing if row.consecutive_failures]
    if not failing:
        return
    await acreate_table_artifact(
        key="newswatch-failing-sources",
        table=[
            {
                "source": row.name,
                "error": row.last_error or "",
                "consecutive failures": row.consecutive_failures,
                "next attempt": (
                    row.next_attempt_at.isoformat(timespec="minutes") if row.next_attempt_at else ""
                ),
            }
            for row in failing
        ],
        description="sources failing after this run, and when each is tried again",
    )
