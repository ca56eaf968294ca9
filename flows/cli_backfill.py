"""`newswatch rules backfill NAME [--since DATE]`: fire one rule over stored history.

A new rule, or a rule whose query changed, only fires on articles stored from
then on; this fires it on purpose over what the store already holds. Stories
already alerted under the rule are not alerted again. The alerts are recorded
with their deliveries and sent by the next delivery step (`newswatch run` or
`newswatch alerts deliver`); past the rule's `storm_limit`, as one summary.
Registered on `rules_app` in `flows.cli_rules`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text
from sqlmodel import Session

from alerts import backfill_rule
from flows.cli_common import fail, open_engine, out, parse_since, print_json, settings_from
from flows.settings import DEFAULT_CONFIG


def backfill(
    name: Annotated[str, typer.Argument(help="The rule's name, as in the config.")],
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Config file (TOML).", show_default=True)
    ] = DEFAULT_CONFIG,
    since: Annotated[
        str | None,
        typer.Option(help="Only articles published (or stored) from this date on (ISO 8601)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Fire a rule over the articles already stored; they are sent by the next delivery.

    Example: newswatch rules backfill missile-launchers --since 2025-03-01
    """

    settings = settings_from(config)
    rule = next((rule for rule in settings.rules if rule.name == name), None)
    if rule is None:
        known = ", ".join(rule.name for rule in settings.rules) or "none configured"
        raise fail(f"unknown rule {name!r} (known: {known})", code=2)
    after = parse_since(since)
    with open_engine(settings) as engine, Session(engine) as session:
        fired = backfill_rule(session=session, rule=rule, since=after)
        session.commit()
    if as_json:
        print_json([{"id": f.alert_id, "title": f.title, "url": f.url} for f in fired])
        return
    for alert in fired:
        out.print(Text(f"{alert.alert_id[:12]}  {alert.title}  {alert.url}"))
    channels = ", ".join(rule.channels) or "no channels"
    out.print(f"{len(fired)} alerts recorded for {name} ({channels}); the next delivery sends them")
