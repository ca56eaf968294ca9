"""`newswatch alerts`: see alerts and their deliveries, retry dead ones, send digests.

    newswatch alerts list [--status pending|sending|sent|dead|held] [--json]
    newswatch alerts retry ID            # a delivery id, or an alert id (6+ characters)
    newswatch alerts deliver [--json]    # the delivery step now: due alerts, retries, digests
    newswatch alerts digest [--now] [--json]
    newswatch alerts test [CHANNEL ...] [--json]   # a test message to each channel, now

Nothing printed here ever holds a channel's secret: URLs and errors come masked
from the notifiers.
"""

from __future__ import annotations

import asyncio
import secrets
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from alerts import (
    AlertMessage,
    DeliveryError,
    DeliveryReport,
    DigestState,
    deliver_due,
    digest_states,
    list_alerts,
    notifier_for,
    requeue,
)
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
from flows.settings import DEFAULT_CONFIG, Settings
from storage import utcnow

TEST_RULE = "newswatch-test"

alerts_app = typer.Typer(
    help="Alerts and their deliveries: list, retry, deliver, digest.", no_args_is_help=True
)


class DeliveryStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    dead = "dead"
    held = "held"


@alerts_app.command("list")
def alerts_list(
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
    status: Annotated[
        DeliveryStatus | None, typer.Option(help="Only alerts with a delivery in this state.")
    ] = None,
    run: Annotated[
        int | None, typer.Option(help="Only alerts this run recorded (the id `run` prints).")
    ] = None,
    rule: Annotated[str | None, typer.Option(help="Only alerts this rule fired.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many, the newest.")] = None,
) -> None:
    """List alerts, newest first, with their outlets and each channel's delivery.

    Per channel: status, attempts, last error, next attempt, sent time.

    Examples: newswatch alerts list --status dead --json;
    newswatch alerts list --run 12 --rule launchers --limit 20
    """

    settings = settings_from(config)
    with open_engine(settings) as engine, Session(engine) as session:
        views = list_alerts(
            session=session,
            status=status.value if status else None,
            run_id=run,
            rule=rule,
            limit=limit,
        )
    if as_json:
        print_json([view.to_dict() for view in views])
        return
    # 80 columns: the id and time whole; the title over its rule and outlets
    table = Table(title=counted(len(views), "alert"))
    table.add_column("id", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("alert: rule · outlets", overflow="fold", ratio=3)
    table.add_column("deliveries", overflow="fold", ratio=2)
    for view in views:
        outlets = ", ".join(dict.fromkeys(o["source"] for o in view.outlets))
        table.add_row(
            view.id[:12],
            minutes(view.created_at),
            Text.assemble((view.title, "bold"), "\n", (f"{view.rule} · {outlets}", "dim")),
            Text("\n".join(_delivery_line(ch, d) for ch, d in view.deliveries.items()) or "-"),
        )
    out.print(table)


def _delivery_line(channel: str, delivery: dict[str, Any]) -> str:
    """`hook: dead after 6 (#12): POST ... answered 500` and the like."""
    line = f"{channel}: {delivery['status']}"
    if delivery["via"]:
        line += f" in {delivery['via']} #{delivery['bundle_id']}"
    if delivery["attempts"]:
        line += f" after {delivery['attempts']}"
    line += f" (#{delivery['id']})"
    if delivery["status"] in ("pending", "dead") and delivery["last_error"]:
        line += f": {delivery['last_error']}"
    return line


@alerts_app.command("retry")
def alerts_retry(
    target: Annotated[
        str, typer.Argument(help="A delivery id, or an alert id (at least 6 characters).")
    ],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Re-queue a dead or pending delivery and send it now, with a fresh set of attempts.

    An alert id re-queues each of its deliveries that is dead or pending (through its
    summary or digest when it went out in one). Sent deliveries are never sent again.

    Example: newswatch alerts retry 12
    """

    settings = settings_from(config)
    with open_engine(settings) as engine:
        with Session(engine) as session:
            try:
                outcomes = requeue(session=session, target=target, now=utcnow())
            except LookupError as error:
                raise fail(str(error), code=2) from None
        for outcome in outcomes:
            out.print(Text(f"delivery {outcome.delivery_id} ({outcome.channel}): {outcome.note}"))
        ids = [outcome.delivery_id for outcome in outcomes if outcome.requeued]
        if ids:
            _print_report(_deliver(settings, engine, only=ids), as_json=False)


@alerts_app.command("deliver")
def alerts_deliver(config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False) -> None:
    """Run the delivery step now, as at the end of a run.

    Sends pending alerts, retries whose wait is over and digests whose period ended.

    Example: newswatch alerts deliver --json
    """

    settings = settings_from(config)
    with open_engine(settings) as engine:
        _print_report(_deliver(settings, engine), as_json=as_json)


@alerts_app.command("test")
def alerts_test(
    channels: Annotated[
        list[str] | None, typer.Argument(help="Channels to try (default: every channel).")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
) -> None:
    """Send a test alert to each channel now and say what each one answered.

    Nothing is stored and no rule fires: the message is an alert of the rule
    "newswatch-test" with a key of its own, so a receiver that drops repeated keys still
    shows it. Exit status 1 when a channel failed, with its reason.

    Example: newswatch alerts test desk hook
    """
    settings = settings_from(config)
    unknown = sorted(set(channels or ()) - settings.channels.keys())
    if unknown:
        known = ", ".join(sorted(settings.channels)) or "none configured"
        raise fail(f"unknown channel {unknown[0]!r} (known: {known})", code=2)
    names = list(dict.fromkeys(channels)) if channels else sorted(settings.channels)
    if not names:
        raise fail(f"{config}: no channels configured: add a [channels.NAME] table", code=2)
    results = asyncio.run(_send_tests(settings, names))
    if as_json:
        print_json([{"channel": n, "target": t, "error": e} for n, t, e in results])
    else:
        for name, target, error in results:  # one line a channel, however long: soft_wrap
            line = (
                Text.assemble(("sent ", "green"), f"{name} ({target})")
                if error is None
                else Text.assemble(("failed ", "red"), f"{name} ({target}): {error}")
            )
            out.print(line, soft_wrap=True)
    if any(error is not None for _, _, error in results):
        raise typer.Exit(1)


async def _send_tests(settings: Settings, names: list[str]) -> list[tuple[str, str, str | None]]:
    """Each channel's (name, printable target, None or the reason it failed)."""
    results: list[tuple[str, str, str | None]] = []
    for name in names:
        notifier = notifier_for(name, settings.channels[name], templates=settings.templates)
        try:
            await notifier.send(sample_alert(name))
        except DeliveryError as error:
            results.append((name, notifier.describe(), error.reason))
        else:
            results.append((name, notifier.describe(), None))
    return results


def sample_alert(channel: str) -> AlertMessage:
    """A message like an alert's, plainly a test, with a key used once."""
    now = utcnow()
    text = (
        f"newswatch can reach the channel {channel!r}: this test message was sent by "
        "`newswatch alerts test`. No rule fired and nothing was stored."
    )
    hit = "newswatch can reach"
    return AlertMessage(
        alert_id=f"test{secrets.token_hex(14)}",
        rule=TEST_RULE,
        query="(test)",
        title=f"Test alert from newswatch for channel {channel}",
        url="https://newswatch.invalid/test-alert",  # RFC 2606: a name that never resolves
        source="newswatch",
        published_at=now,
        snippet=text,
        snippet_start=0,
        snippet_end=len(hit),
        terms=("test",),
        matched_at=now,
    )


@alerts_app.command("digest")
def alerts_digest(
    config: ConfigOption = DEFAULT_CONFIG,
    now: Annotated[
        bool, typer.Option("--now", help="Send every held alert now, whatever the schedule.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show what digest rules hold, then send the digests that are due.

    Runs the delivery step: a digest is due once its period ended (hourly: the top of
    the hour; daily: midnight UTC); with --now every held alert goes out now.

    Example: newswatch alerts digest --now
    """

    settings = settings_from(config)
    with open_engine(settings) as engine:
        with Session(engine) as session:
            states = digest_states(session=session, now=utcnow())
        if not as_json:
            for state in states:
                out.print(Text(_digest_line(state)))
        report = _deliver(settings, engine, digest_now=now)
    if as_json:
        print_json({"held": [s.to_dict() for s in states], **_report_dict(report)})
        return
    _print_report(report, as_json=False)


def _digest_line(state: DigestState) -> str:
    last = state.last_digest_at.isoformat(timespec="minutes") if state.last_digest_at else "never"
    due = state.next_due_at.isoformat(timespec="minutes")
    return (
        f"{state.rule} → {state.channel}: {state.held} held for the {state.schedule} digest, "
        f"last digest {last}, next due {due}"
    )


def _deliver(
    settings: Settings, engine: Engine, *, only: list[int] | None = None, digest_now: bool = False
) -> DeliveryReport:
    notifiers = {
        name: notifier_for(name, channel, templates=settings.templates)
        for name, channel in settings.channels.items()
    }
    return asyncio.run(
        deliver_due(
            engine=engine,
            notifiers=notifiers,
            policy=settings.delivery.policy(),
            only=only,
            digest_now=digest_now,
        )
    )


def _report_dict(report: DeliveryReport) -> dict[str, Any]:
    return {
        "sent": [{"key": key, "channel": channel} for key, channel in report.sent],
        "failed": [
            {"key": key, "channel": channel, "reason": why} for key, channel, why in report.failed
        ],
        "dead": [{"key": key, "channel": channel} for key, channel, _ in report.dead],
    }


def _print_report(report: DeliveryReport, *, as_json: bool) -> None:

    if as_json:
        print_json(_report_dict(report))
        return
    for key, channel in report.sent:
        out.print(Text(f"sent {key} to {channel}"))
    for key, channel, why in report.failed:
        out.print(Text.assemble(("not sent ", "yellow"), f"{key} to {channel}: {why}"))
    out.print(f"{len(report.sent)} sent, {len(report.failed)} not sent ({len(report.dead)} dead)")
