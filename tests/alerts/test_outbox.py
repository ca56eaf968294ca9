"""The alert ledger and the delivery outbox on SQLite and PostgreSQL, with a real
webhook receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from alerts import (
    Rule,
    RuleSet,
    WebhookChannel,
    deliver_due,
    list_alerts,
    notifier_for,
    record_alerts,
)
from alerts.outbox import claim
from storage import ArticleIn, Delivery, add_articles, ensure_sources, utcnow
from tests.servers import LoopbackHTTPServer, Response

RULE = Rule(name="launchers", query='"missile launcher"', channels=("hook",))
OTHER = Rule(name="harbour", query="harbour OR port", channels=("hook",))


def store_with_alerts(engine: Engine, texts: list[str]) -> list:  # type: ignore[type-arg]
    articles = [
        ArticleIn(
            url=f"https://x.test/{n}", source="desk", title=f"Story {n}", text=text, origin="page"
        )
        for n, text in enumerate(texts)
    ]
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("desk", "feed", "https://x.test/feed")])
        stored = add_articles(session=session, articles=articles, source_ids=ids, run_id=None)
        fired = record_alerts(session=session, rules=RuleSet([RULE, OTHER]), articles=stored.new)
        session.commit()
    return fired


def hook(server: LoopbackHTTPServer) -> dict:  # type: ignore[type-arg]
    channel = WebhookChannel(type="webhook", url=server.url("/hook"))
    return {"hook": notifier_for("hook", channel)}


def statuses(engine: Engine) -> list[tuple[str, int]]:
    with Session(engine) as session:
        rows = session.exec(select(Delivery).order_by(Delivery.id)).all()
        return [(row.status, row.attempts) for row in rows]


def test_each_rule_fires_once_per_article_with_a_pending_delivery(engine: Engine) -> None:
    fired = store_with_alerts(
        engine, ["Mobile missile launchers were shown.", "The harbour reopened.", "Nothing."]
    )
    assert sorted((f.rule, f.title) for f in fired) == [
        ("harbour", "Story 1"),
        ("launchers", "Story 0"),
    ]
    assert statuses(engine) == [("pending", 0), ("pending", 0)]
    with Session(engine) as session:
        again = record_alerts(session=session, rules=RuleSet([RULE]), articles=[])
        (view,) = [v for v in list_alerts(session=session) if v.rule == "launchers"]
    assert again == []
    assert "missile launchers" in view.snippet
    assert view.deliveries["hook"]["status"] == "pending"


def test_matching_the_same_article_twice_adds_no_second_alert(engine: Engine) -> None:
    store_with_alerts(engine, ["Mobile missile launchers were shown."])
    with Session(engine) as session:
        from storage import Article

        article = session.exec(select(Article)).one()
        assert record_alerts(session=session, rules=RuleSet([RULE]), articles=[article]) == []
        session.commit()
    assert statuses(engine) == [("pending", 0)]


def test_outbox_sends_each_delivery_once_and_keeps_failures_pending(
    engine: Engine, http_server: LoopbackHTTPServer
) -> None:
    store_with_alerts(engine, ["Missile launchers.", "A harbour story."])
    http_server.sequence("/hook", [Response(503), Response(200)])

    first = asyncio.run(deliver_due(engine=engine, notifiers=hook(http_server)))
    second = asyncio.run(deliver_due(engine=engine, notifiers=hook(http_server)))
    third = asyncio.run(deliver_due(engine=engine, notifiers=hook(http_server)))

    assert (len(first.sent), len(first.failed)) == (1, 1)
    assert "503" in first.failed[0][2]
    assert (len(second.sent), len(second.failed)) == (1, 0)
    assert (third.sent, third.failed) == ([], [])
    assert statuses(engine) == [("sent", 2), ("sent", 1)]  # the first one met the 503
    keys = [r.headers["idempotency-key"] for r in http_server.requests_to("/hook", "POST")]
    assert len(keys) == 3 and len(set(keys)) == 2
    with Session(engine) as session:
        assert list_alerts(session=session, status="pending") == []
        assert len(list_alerts(session=session, status="sent")) == 2


def test_delivery_for_an_unconfigured_channel_waits_with_the_reason(engine: Engine) -> None:
    store_with_alerts(engine, ["Missile launchers."])
    report = asyncio.run(deliver_due(engine=engine, notifiers={}))
    (failure,) = report.failed
    assert "channel 'hook' is not configured" in failure[2]
    assert statuses(engine) == [("pending", 0)]


def test_a_claimed_delivery_is_skipped_until_its_lease_expires(
    engine: Engine, http_server: LoopbackHTTPServer
) -> None:
    store_with_alerts(engine, ["Missile launchers."])
    http_server.route("/hook", "ok")
    with Session(engine) as session:
        delivery_id = session.exec(select(Delivery.id)).one()
        lease = timedelta(minutes=10)
        assert claim(session=session, delivery_id=delivery_id, now=utcnow(), lease=lease)
        assert not claim(session=session, delivery_id=delivery_id, now=utcnow(), lease=lease)

    held = asyncio.run(deliver_due(engine=engine, notifiers=hook(http_server)))
    later = utcnow() + timedelta(minutes=11)
    expired = asyncio.run(
        deliver_due(engine=engine, notifiers=hook(http_server), clock=lambda: later)
    )

    assert (held.sent, held.failed) == ([], [])
    assert len(expired.sent) == 1
    assert statuses(engine) == [("sent", 2)]
    (post,) = http_server.requests_to("/hook", "POST")
    assert json.loads(post.body)["rule"] == "launchers"
