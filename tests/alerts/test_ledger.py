"""The alert ledger on SQLite and PostgreSQL: one alert per (rule, story) with its outlets,
first contact (new rules, new feeds, seeds), and `rules backfill`."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from alerts import (
    Fired,
    Rule,
    RuleSet,
    backfill_rule,
    deliver_due,
    list_alerts,
    record_alerts,
)
from alerts.firstcontact import register_rules
from storage import (
    Alert,
    AlertArticle,
    Article,
    RuleState,
    open_store,
    record_source_health,
    utcnow,
)
from tests.alerts.kit import OUTLETS, T0, article, count, deliveries, hook, sources, store
from tests.locks import wait_for_lock_waiter
from tests.servers import LoopbackHTTPServer

FLOODS = Rule(name="floods", query="floods", channels=("hook",))
RESCUE = Rule(name="rescue", query='"rescue teams"', channels=("hook",))


def stories(engine: Engine) -> set[int]:
    with Session(engine) as session:
        return set(session.exec(select(Article.story_id)).all())


def test_a_story_from_three_outlets_fires_once_and_lists_every_outlet(
    engine: Engine, http_server: LoopbackHTTPServer
) -> None:
    copies = [article(n, text, source=n) for n, text in OUTLETS.items()]
    fired = store(engine, copies[:1], [FLOODS])
    http_server.route("/hook", "ok")
    asyncio.run(deliver_due(engine=engine, notifiers={"hook": hook(http_server)}))

    later = store(engine, copies[1:], [FLOODS])

    assert len(stories(engine)) == 1, "the three copies must be one story for this test"
    assert [f.rule for f in fired] == ["floods"] and later == []
    assert (count(engine, Alert), count(engine, AlertArticle)) == (1, 3)
    assert [(d.kind, d.status) for d in deliveries(engine)] == [("alert", "sent")]
    with Session(engine) as session:
        (view,) = list_alerts(session=session)
    assert [o["source"] for o in view.outlets] == ["gazette", "courier", "herald"]
    assert view.outlets[2]["url"] == "https://herald.test/herald"
    (post,) = http_server.requests_to("/hook", "POST")
    assert [o["source"] for o in json.loads(post.body)["outlets"]] == ["gazette"]


@pytest.mark.postgres
def test_an_alert_another_run_records_first_gets_the_outlets_and_nothing_is_sent_twice(
    postgres_url: str,
) -> None:
    engine = open_store(postgres_url)
    try:
        copies = [article(n, text, source=n) for n, text in OUTLETS.items()]
        store(engine, copies[2:], [])  # the story, without alerts yet
        with Session(engine) as session:
            register_rules(session=session, rules=[FLOODS], since=utcnow())
            session.commit()
        fired: list[Fired] = []
        batch = threading.Thread(target=lambda: fired.extend(store(engine, copies[:2], [FLOODS])))
        with Session(engine) as rival:
            # another run records the story's alert, and commits only once the batch waits on it
            (first,) = backfill_rule(session=rival, rule=FLOODS)
            batch.start()
            wait_for_lock_waiter(engine)
            rival.commit()
        batch.join(timeout=30)

        assert not batch.is_alive() and fired == []
        with Session(engine) as session:
            alerts = session.exec(select(Alert.id)).all()
            outlets = session.exec(select(AlertArticle.alert_id, AlertArticle.source)).all()
        assert alerts == [first.alert_id]
        assert sorted(outlets) == [(first.alert_id, n) for n in sorted(OUTLETS)]
        assert [d.alert_id for d in deliveries(engine)] == [first.alert_id]
    finally:
        engine.dispose()


def test_the_message_lists_the_outlets_known_when_it_is_sent(
    engine: Engine, http_server: LoopbackHTTPServer
) -> None:
    copies = [article(n, text, source=n) for n, text in OUTLETS.items()]
    store(engine, copies[:2], [FLOODS, RESCUE])  # one batch: both copies, two rules
    store(engine, copies[2:], [FLOODS, RESCUE])
    http_server.route("/hook", "ok")

    asyncio.run(deliver_due(engine=engine, notifiers={"hook": hook(http_server)}))

    posts = [json.loads(p.body) for p in http_server.requests_to("/hook", "POST")]
    assert sorted(p["rule"] for p in posts) == ["floods", "rescue"]
    for body in posts:
        assert [o["url"] for o in body["outlets"]] == [
            "https://gazette.test/gazette",
            "https://courier.test/courier",
            "https://herald.test/herald",
        ]


def test_a_new_rule_does_not_fire_on_articles_stored_before_it(engine: Engine) -> None:
    store(engine, [article(1, "Floods in the north.")], [], now=T0)
    # first sight of the rule, while storing an article that does not match it
    fresh = store(engine, [article(2, "A quiet day.")], [FLOODS], now=T0 + timedelta(hours=1))
    with Session(engine) as session:
        old = session.exec(select(Article).where(Article.url == "https://desk.test/1")).one()
        again = record_alerts(
            session=session, rules=RuleSet([FLOODS]), articles=[old], now=T0 + timedelta(hours=2)
        )
        session.commit()
    new = store(engine, [article(3, "More floods.")], [FLOODS], now=T0 + timedelta(hours=3))

    assert (fresh, again) == ([], [])
    assert [f.url for f in new] == ["https://desk.test/3"]
    with Session(engine) as session:
        state = session.get(RuleState, "floods")
    assert state is not None and state.first_seen_at == state.query_since == T0 + timedelta(hours=1)


def test_a_changed_query_counts_as_a_new_rule_but_keeps_the_rules_alerts(engine: Engine) -> None:
    gazette, courier, _ = (article(n, text, source=n) for n, text in OUTLETS.items())
    first = store(engine, [gazette], [FLOODS], now=T0)
    store(engine, [article(2, "Drought in the south.")], [FLOODS], now=T0 + timedelta(hours=1))
    changed = Rule(name="floods", query="floods OR drought", channels=("hook",))
    later = T0 + timedelta(hours=2)

    fresh = store(engine, [article(3, "Drought in the east."), courier], [changed], now=later)
    with Session(engine) as session:
        old = session.exec(select(Article).where(Article.url == "https://desk.test/2")).one()
        history = record_alerts(
            session=session, rules=RuleSet([changed]), articles=[old], now=later
        )
        session.commit()
        state = session.get(RuleState, "floods")
        assert state is not None
        since = (state.query, state.first_seen_at, state.query_since)
        backfilled = backfill_rule(session=session, rule=changed, now=later)
        session.commit()

    assert len(first) == 1
    assert [f.url for f in fresh] == ["https://desk.test/3"]  # the courier's copy: attached
    assert history == []  # stored before the query changed
    assert since == ("floods OR drought", T0, later)
    assert [f.url for f in backfilled] == ["https://desk.test/2"]
    assert (count(engine, Alert), count(engine, AlertArticle)) == (3, 4)


@pytest.mark.parametrize(
    ("kind", "window", "expected"),
    [
        # a feed's first poll: only entries within the window, and undated ones
        ("feed", None, ["recent", "undated"]),
        ("sitemap", None, ["recent", "undated"]),
        ("feed", timedelta(days=3), ["old", "recent", "undated"]),
        ("feed", "all", ["ancient", "old", "recent", "undated"]),
        # seed files and URL lists always alert
        ("seeds", None, ["ancient", "old", "recent", "undated"]),
        ("urls", None, ["ancient", "old", "recent", "undated"]),
    ],
)
def test_a_new_feed_alerts_only_within_its_backfill_window(
    engine: Engine, kind: str, window: timedelta | str | None, expected: list[str]
) -> None:
    ages = {"ancient": timedelta(days=400), "old": timedelta(days=2), "recent": timedelta(hours=2)}
    entries = [
        article(name, f"Floods, report {name}.", source="wire", title=name, published_at=T0 - age)
        for name, age in ages.items()
    ] + [article("undated", "Floods, report undated.", source="wire", title="undated")]
    backfill = {} if window is None else {"wire": None if window == "all" else window}

    fired = store(engine, entries, [FLOODS], kinds={"wire": kind}, now=T0, backfill=backfill)

    assert sorted(f.title for f in fired) == expected


def test_after_the_first_poll_every_new_entry_alerts_whatever_its_date(engine: Engine) -> None:
    old = T0 - timedelta(days=30)
    first = store(
        engine,
        [article(1, "Floods one.", source="wire", published_at=old)],
        [FLOODS],
        kinds={"wire": "feed"},
        now=T0,
    )
    ids = sources(engine, ("wire", "feed"))
    with Session(engine) as session:
        record_source_health(session=session, source_id=ids["wire"], error=None, when=T0)
        session.commit()
    later = store(
        engine,
        [article(2, "Floods two, late entry.", source="wire", published_at=old)],
        [FLOODS],
        kinds={"wire": "feed"},
        now=T0 + timedelta(hours=1),
    )
    named = store(  # the caller may say which sources are on their first poll
        engine,
        [article(3, "Floods three, also old.", source="wire", published_at=old)],
        [FLOODS],
        kinds={"wire": "feed"},
        now=T0 + timedelta(hours=2),
        first_poll={"wire"},
    )
    assert (first, [f.url for f in later], named) == ([], ["https://wire.test/2"], [])


def test_backfill_fires_a_rule_over_history_once(engine: Engine) -> None:
    store(
        engine,
        [
            article(1, "Floods cut the northern railway.", published_at=T0 - timedelta(days=10)),
            article(
                2, "Southern farmers count losses from floods.", published_at=T0 - timedelta(1)
            ),
            article(3, "A quiet day at the stock exchange."),
        ],
        [],
        now=T0,
    )
    store(
        engine,
        [article(4, "Eastern towns brace for floods.")],
        [FLOODS],
        now=T0 + timedelta(hours=1),
    )
    with Session(engine) as session:
        since = T0 - timedelta(days=2)
        recent = backfill_rule(
            session=session, rule=FLOODS, since=since, now=T0 + timedelta(hours=2)
        )
        everything = backfill_rule(session=session, rule=FLOODS, now=T0 + timedelta(hours=3))
        session.commit()
    assert [f.url for f in recent] == ["https://desk.test/2"]
    assert [f.url for f in everything] == ["https://desk.test/1"]  # 2 and 4 fired already
    assert count(engine, Alert) == 3
    assert [d.status for d in deliveries(engine)] == ["pending"] * 3
