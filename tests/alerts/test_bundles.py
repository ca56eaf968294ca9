"""Storm summaries and digests on SQLite and PostgreSQL, delivered to a real webhook
receiver and SMTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from alerts import (
    EmailChannel,
    Rule,
    deliver_due,
    digest_states,
    list_alerts,
    notifier_for,
)
from alerts.bundles import period_start
from tests.alerts.kit import (
    NO_JITTER,
    Clock,
    article,
    deliveries,
    hook,
    mailbox,
    new_run,
    rng,
    store,
)
from tests.servers import LoopbackHTTPServer, LoopbackSMTPServer

STORMY = Rule(name="stormy", query="harbour", channels=("hook", "desk"), storm_limit=3)
CALM = Rule(name="calm", query="lighthouse", channels=("hook",))
HOURLY = Rule(name="floods", query="floods", channels=("hook",), mode="digest", digest="hourly")

HARBOUR = [
    "The harbour master closed the northern quay after a crane collapsed overnight.",
    "Fishing boats stayed in the harbour as gales battered the coast for a third day.",
    "A cruise ship ran aground at the harbour entrance; no passengers were hurt.",
    "Dock workers at the harbour voted to strike over pay and night shifts.",
    "The city council approved a new ferry terminal on the east side of the harbour.",
]
FLOODS = [
    "Floods cut the railway line between the two largest cities in the region.",
    "Farmers in the delta counted their losses as floods receded from the fields.",
    "Insurers expect record claims after spring floods damaged thousands of homes.",
    "A second wave of floods reached the capital, where the river burst its banks.",
]


def send(engine: Engine, clock: Clock, notifiers: dict, **options: object):  # type: ignore[no-untyped-def,type-arg]
    return asyncio.run(
        deliver_due(
            engine=engine, notifiers=notifiers, clock=clock, policy=NO_JITTER, rng=rng(), **options
        )  # type: ignore[arg-type]
    )


def test_a_rule_firing_past_its_storm_limit_in_one_run_sends_one_summary_per_channel(
    engine: Engine, http_server: LoopbackHTTPServer, smtp_server: LoopbackSMTPServer
) -> None:
    run = new_run(engine)
    lighthouse = article("calm", "The old lighthouse was repainted.", title="Lighthouse")
    batches = [HARBOUR[:2], HARBOUR[2:]]  # the storm spans two batches of one run
    for number, texts in enumerate(batches):
        items = [article(f"{number}-{n}", text) for n, text in enumerate(texts)]
        store(engine, items + ([lighthouse] if number else []), [STORMY, CALM], run_id=run)
    http_server.route("/hook", "ok")
    notifiers = {"hook": hook(http_server), "desk": mailbox(smtp_server)}

    report = send(engine, Clock(), notifiers)

    kinds = sorted((d.kind, d.status) for d in deliveries(engine) if d.rule == "stormy")
    assert kinds == [("alert", "summarised")] * 10 + [("summary", "sent")] * 2
    assert len(report.sent) == 3  # a summary per channel, and the calm rule's alert
    bodies = [json.loads(p.body) for p in http_server.requests_to("/hook", "POST")]
    (summary,) = [b for b in bodies if b["kind"] == "summary"]
    assert summary["rule"] == "stormy" and len(summary["alerts"]) == 5
    assert {a["article"]["snippet"] for a in summary["alerts"]} == set(HARBOUR)
    assert [b["rule"] for b in bodies if b["kind"] == "alert"] == ["calm"]
    (mail,) = smtp_server.messages
    assert mail["Subject"] == "[newswatch] stormy: 5 alerts in one run (storm summary)"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert all(f"Story 1-{n}" in text for n in range(3)) and "storm_limit" in text
    with Session(engine) as session:
        views = [v for v in list_alerts(session=session) if v.rule == "stormy"]
    assert {v.deliveries["hook"]["via"] for v in views} == {"summary"}
    assert {v.deliveries["hook"]["status"] for v in views} == {"sent"}


def test_the_storm_limit_counts_per_run(engine: Engine) -> None:
    for texts in (HARBOUR[:3], HARBOUR[3:]):
        run = new_run(engine)
        store(engine, [article(t[:10], t) for t in texts], [STORMY], run_id=run)
    assert {(d.kind, d.status) for d in deliveries(engine)} == {("alert", "pending")}


@pytest.mark.parametrize(
    ("schedule", "now", "start"),
    [
        (
            "hourly",
            datetime(2026, 3, 2, 10, 59, 59, tzinfo=UTC),
            datetime(2026, 3, 2, 10, tzinfo=UTC),
        ),
        ("hourly", datetime(2026, 3, 2, 11, 0, tzinfo=UTC), datetime(2026, 3, 2, 11, tzinfo=UTC)),
        ("daily", datetime(2026, 3, 2, 23, 59, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)),
        ("daily", datetime(2026, 3, 3, 0, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)),
    ],
)
def test_digest_periods_are_aligned_to_utc(schedule: str, now: datetime, start: datetime) -> None:
    assert period_start(schedule, now) == start


def test_a_digest_rule_sends_one_message_per_period_with_every_alert_since_the_last(
    engine: Engine, http_server: LoopbackHTTPServer
) -> None:
    http_server.route("/hook", "ok")
    clock = Clock(datetime(2026, 3, 2, 10, 15, tzinfo=UTC))
    items = [article(n, text) for n, text in enumerate(FLOODS[:3])]
    fired = store(engine, items, [HOURLY], now=clock.now)
    assert [d.status for d in deliveries(engine)] == ["held"] * 3

    clock.advance(minutes=25)
    assert send(engine, clock, {"hook": hook(http_server)}).sent == []  # the hour is not over
    clock.advance(minutes=25)  # 11:05
    first = send(engine, clock, {"hook": hook(http_server)})
    store(engine, [article(3, FLOODS[3])], [HOURLY], now=clock.advance(minutes=5))
    clock.advance(minutes=10)  # 11:20
    assert send(engine, clock, {"hook": hook(http_server)}).sent == []
    with Session(engine) as session:
        (state,) = digest_states(session=session, now=clock.now)
    forced = send(engine, clock, {"hook": hook(http_server)}, digest_now=True)

    assert len(first.sent) == len(forced.sent) == 1
    digests = [json.loads(p.body) for p in http_server.requests_to("/hook", "POST")]
    assert [d["kind"] for d in digests] == ["digest", "digest"]
    assert [a["id"] for a in digests[0]["alerts"]] == [f.alert_id for f in fired]
    assert [len(d["alerts"]) for d in digests] == [3, 1]
    assert digests[0]["schedule"] == "hourly" and digests[0]["id"] != digests[1]["id"]
    assert (state.held, state.schedule) == (1, "hourly")
    assert state.next_due_at == datetime(2026, 3, 2, 12, tzinfo=UTC)
    assert state.last_digest_at == datetime(2026, 3, 2, 11, 5, tzinfo=UTC)
    statuses = sorted((d.kind, d.status) for d in deliveries(engine))
    assert statuses == [("alert", "digested")] * 4 + [("digest", "sent")] * 2


def test_a_digest_email_uses_the_users_template_over_the_bundled_one(
    engine: Engine, smtp_server: LoopbackSMTPServer, tmp_path: Path
) -> None:
    (tmp_path / "bundle.txt.j2").write_text(
        "{{ headline }}:{% for alert in alerts %} [{{ alert.title }}]{% endfor %}\n"
    )
    rule = Rule(name="floods", query="floods", channels=("desk",), mode="digest")
    store(engine, [article(n, text) for n, text in enumerate(FLOODS[:2])], [rule])
    channel = mailbox(smtp_server).channel  # type: ignore[attr-defined]
    assert isinstance(channel, EmailChannel)
    desk = notifier_for("desk", channel, templates=tmp_path)

    report = send(engine, Clock(), {"desk": desk}, digest_now=True)

    assert len(report.sent) == 1
    (mail,) = smtp_server.messages
    assert mail["Subject"] == "[newswatch] floods: 2 alerts (daily digest)"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert text.strip() == "2 alerts (daily digest): [Story 0] [Story 1]"
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "<ol>" in html  # the bundled HTML template, not overridden
