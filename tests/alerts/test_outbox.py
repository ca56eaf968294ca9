"""The delivery outbox on SQLite and PostgreSQL against a real webhook receiver on
127.0.0.1: claims and leases, retries with backoff, dead letters, re-queueing, and a
process that dies between sending and recording."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from alerts import RetryPolicy, Rule, deliver_due, list_alerts, requeue
from alerts.outbox import claim
from storage import Delivery, utcnow
from tests.alerts.kit import NO_JITTER, Clock, article, deliveries, hook, mailbox, rng, store
from tests.servers import LoopbackHTTPServer, LoopbackSMTPServer, Response

RULE = Rule(name="launchers", query='"missile launcher"', channels=("hook",))
OTHER = Rule(name="harbour", query="harbour OR port", channels=("hook",))


def statuses(engine: Engine) -> list[tuple[str, int]]:
    return [(row.status, row.attempts) for row in deliveries(engine)]


def store_texts(engine: Engine, texts: list[str]) -> list:  # type: ignore[type-arg]
    return store(engine, [article(n, text) for n, text in enumerate(texts)], [RULE, OTHER])


def deliver(engine: Engine, server: LoopbackHTTPServer, clock: Clock, **options: object):  # type: ignore[no-untyped-def]
    return asyncio.run(
        deliver_due(
            engine=engine,
            notifiers={"hook": hook(server)},
            clock=clock,
            policy=options.pop("policy", NO_JITTER),  # type: ignore[arg-type]
            rng=rng(),
            **options,  # type: ignore[arg-type]
        )
    )


@pytest.mark.parametrize(
    ("attempts", "minutes"),
    [(1, 5), (2, 10), (3, 20), (4, 40), (5, 80), (9, 360), (60, 360)],
)
def test_backoff_doubles_from_the_first_wait_up_to_the_cap(attempts: int, minutes: int) -> None:
    assert NO_JITTER.delay(attempts, rng=rng()) == timedelta(minutes=minutes)


def test_jitter_spreads_retries_within_its_fraction() -> None:
    policy = RetryPolicy(jitter=0.2)
    generator = rng()
    delays = {policy.delay(3, rng=generator) for _ in range(50)}
    assert len(delays) > 10
    assert all(timedelta(minutes=16) <= d <= timedelta(minutes=24) for d in delays)


def test_each_rule_fires_once_per_article_with_a_pending_delivery(engine: Engine) -> None:
    fired = store_texts(
        engine, ["Mobile missile launchers were shown.", "The harbour reopened.", "Nothing."]
    )
    assert sorted((f.rule, f.title) for f in fired) == [
        ("harbour", "Story 1"),
        ("launchers", "Story 0"),
    ]
    assert statuses(engine) == [("pending", 0), ("pending", 0)]
    with Session(engine) as session:
        (view,) = [v for v in list_alerts(session=session) if v.rule == "launchers"]
    assert "missile launchers" in view.snippet
    assert view.deliveries["hook"]["status"] == "pending"
    assert view.outlets == [{"source": "desk", "url": "https://desk.test/0"}]


def test_a_failed_delivery_waits_out_its_backoff_then_goes_with_the_same_key(
    engine: Engine, http_server: LoopbackHTTPServer
) -> None:
    store_texts(engine, ["Missile launchers were shown."])
    http_server.sequence("/hook", [Response(503), Response(500), Response(200)])
    clock = Clock()

    first = deliver(engine, http_server, clock)
    (row,) = deliveries(engine)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at == clock.now + timedelta(minutes=5)
    assert "503" in (row.last_error or "") and "attempt 1 of 6" in first.failed[0][2]

    clock.advance(minutes=4)
    assert deliver(engine, http_server, clock).failed == []  # not due yet: nothing tried
    clock.advance(minutes=1)
    second = deliver(engine, http_server, clock)
    assert deliveries(engine)[0].next_attempt_at == clock.now + timedelta(minutes=10)
    clock.advance(minutes=10)
    third = deliver(engine, http_server, clock)

    assert (len(second.failed), len(third.sent)) == (1, 1)
    assert statuses(engine) == [("sent", 3)]
    keys = [r.headers["idempotency-key"] for r in http_server.requests_to("/hook", "POST")]
    assert len(keys) == 3 and len(set(keys)) == 1


def test_after_the_last_attempt_a_delivery_is_dead_listed_and_retried_on_demand(
    engine: Engine, http_server: LoopbackHTTPServer
) -> None:
    (fired,) = store_texts(engine, ["Missile launchers were shown."])
    http_server.route("/hook", "down", status=500)
    clock, policy = Clock(), RetryPolicy(max_attempts=3, jitter=0)
    reports = []
    for _ in range(5):
        reports.append(deliver(engine, http_server, clock, policy=policy))
        clock.advance(hours=1)

    assert statuses(engine) == [("dead", 3)]
    assert len(http_server.requests_to("/hook", "POST")) == 3
    assert "dead" in reports[2].dead[0][2] and reports[3].failed == []
    with Session(engine) as session:
        (dead,) = list_alerts(session=session, status="dead")
        assert list_alerts(session=session, status="pending") == []
    assert dead.deliveries["hook"]["attempts"] == 3
    assert "500" in str(dead.deliveries["hook"]["last_error"])

    http_server.route("/hook", "ok")
    with Session(engine) as session:
        (outcome,) = requeue(session=session, target=fired.alert_id[:8], now=clock.now)
    assert (outcome.status, outcome.requeued) == ("dead", True)
    assert len(deliver(engine, http_server, clock, policy=policy).sent) == 1
    assert statuses(engine) == [("sent", 1)]
    with Session(engine) as session:
        (again,) = requeue(session=session, target=str(outcome.delivery_id), now=clock.now)
    assert not again.requeued and "never sent twice" in again.note


def test_retry_names_what_it_cannot_find(engine: Engine) -> None:
    store_texts(engine, ["Missile launchers were shown."])
    with Session(engine) as session:
        for target, message in [
            ("999", "no delivery 999"),
            ("ab", "at least 6"),
            ("ffffff", "no alert"),
        ]:
            with pytest.raises(LookupError, match=message):
                requeue(session=session, target=target, now=utcnow())


def test_delivery_for_an_unconfigured_channel_waits_with_the_reason(engine: Engine) -> None:
    store_texts(engine, ["Missile launchers."])
    report = asyncio.run(deliver_due(engine=engine, notifiers={}))
    (failure,) = report.failed
    assert "channel 'hook' is not configured" in failure[2]
    assert statuses(engine) == [("pending", 0)]


def test_a_claimed_delivery_is_skipped_until_its_lease_expires(
    engine: Engine, http_server: LoopbackHTTPServer
) -> None:
    store_texts(engine, ["Missile launchers."])
    http_server.route("/hook", "ok")
    with Session(engine) as session:
        delivery_id = session.exec(select(Delivery.id)).one()
        lease = timedelta(minutes=10)
        assert claim(session=session, delivery_id=delivery_id, now=utcnow(), lease=lease)
        assert not claim(session=session, delivery_id=delivery_id, now=utcnow(), lease=lease)

    held = deliver(engine, http_server, Clock())
    expired = deliver(engine, http_server, Clock(utcnow() + timedelta(minutes=11)))

    assert (held.sent, held.failed) == ([], [])
    assert len(expired.sent) == 1
    assert statuses(engine) == [("sent", 2)]
    (post,) = http_server.requests_to("/hook", "POST")
    assert json.loads(post.body)["rule"] == "launchers"


DIES_AFTER_SENDING = """
import asyncio, os, sys
from alerts import WebhookChannel, WebhookNotifier, deliver_due
from storage import make_engine

class DiesAfterSending(WebhookNotifier):
    async def send(self, message):
        await super().send(message)
        os._exit(17)  # the receiver has it; the outbox never hears back

channel = WebhookChannel(type="webhook", url=sys.argv[2])
notifier = DiesAfterSending(name="hook", channel=channel)
asyncio.run(deliver_due(engine=make_engine(sys.argv[1]), notifiers={"hook": notifier}))
"""


def test_a_process_killed_between_sending_and_recording_resends_with_the_same_key(
    engine: Engine, database_url: str, http_server: LoopbackHTTPServer
) -> None:
    store_texts(engine, ["Missile launchers were shown."])
    url = http_server.route("/hook", "ok")
    crashed = subprocess.run(
        [sys.executable, "-c", DIES_AFTER_SENDING, database_url, url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert crashed.returncode == 17, crashed.stderr
    assert statuses(engine) == [("sending", 1)]  # sent, never recorded

    clock = Clock()
    assert deliver(engine, http_server, clock).sent == []  # the claim holds for its lease
    clock.advance(minutes=11)
    assert len(deliver(engine, http_server, clock).sent) == 1

    assert statuses(engine) == [("sent", 2)]
    posts = http_server.requests_to("/hook", "POST")
    assert len(posts) == 2  # at least once on the wire...
    received: dict[str, bytes] = {}
    for post in posts:  # ...exactly once for a receiver that keeps the keys it has seen
        received.setdefault(post.headers["idempotency-key"], post.body)
    assert len(received) == 1


THREE_STORIES = [
    "Mobile missile launchers were shown at the parade on Sunday.",
    "The harbour reopened after the storm, port officials said.",
    "A second missile launcher battalion moved north overnight, villagers said.",
]


def mail_three_stories(engine: Engine, server: LoopbackSMTPServer):  # type: ignore[no-untyped-def]
    """Three alerts for an email channel, delivered in one pass."""
    rules = [rule.model_copy(update={"channels": ("desk",)}) for rule in (RULE, OTHER)]
    store(engine, [article(n, text) for n, text in enumerate(THREE_STORIES)], rules)
    return asyncio.run(deliver_due(engine=engine, notifiers={"desk": mailbox(server)}, rng=rng()))


def test_a_pass_mails_a_channels_messages_in_one_smtp_session(
    engine: Engine, smtp_server: LoopbackSMTPServer
) -> None:
    report = mail_three_stories(engine, smtp_server)

    assert len(report.sent) == len(smtp_server.messages) == 3
    assert len(set(smtp_server.peers)) == 1


def test_a_session_the_smtp_server_closed_is_opened_again_and_nothing_goes_twice(
    engine: Engine, smtp_server: LoopbackSMTPServer
) -> None:
    smtp_server.hang_up_after_each_message()

    report = mail_three_stories(engine, smtp_server)

    assert (len(report.sent), report.pending, report.failed) == (3, 0, [])
    ids = [message["Message-ID"] for message in smtp_server.messages]
    assert len(ids) == len(set(ids)) == 3
    assert len(set(smtp_server.peers)) == 3
