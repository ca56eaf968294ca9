"""Migration 0005 on a store with alerts: one per (rule, story) afterwards, nothing lost
that was sent, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from storage import Alert, AlertArticle, Article, Delivery
from storage.migrate import downgrade, upgrade
from tests.alerts.kit import OUTLETS, T0, article, store

# (alert id, rule, article url, created minute); gazette and courier are one story
OLD_ALERTS = [
    ("a-gazette", "floods", "https://gazette.test/gazette", 1),
    ("a-courier", "floods", "https://courier.test/courier", 2),
    ("b-gazette", "rescue", "https://gazette.test/gazette", 3),
    ("a-other", "floods", "https://desk.test/other", 4),
]


def stamp(engine: Engine, moment: datetime) -> datetime:
    """A time as the store keeps it: naive UTC on SQLite, aware on PostgreSQL."""
    return moment if engine.dialect.name == "postgresql" else moment.replace(tzinfo=None)


def test_upgrade_keeps_the_first_alert_of_each_story_and_makes_the_rest_its_outlets(
    engine: Engine,
) -> None:
    copies = [article(n, OUTLETS[n], source=n) for n in ("gazette", "courier")]
    store(engine, [*copies, article("other", "The central bank held rates.")], [])
    downgrade(engine, revision="0004_categories")
    with engine.begin() as connection:
        ids = dict(connection.execute(text("SELECT url, id FROM articles")).all())
        for alert, rule, url, minute in OLD_ALERTS:
            connection.execute(
                text(
                    "INSERT INTO alerts (id, rule, query, article_id, terms, snippet, "
                    "snippet_start, snippet_end, created_at) VALUES "
                    "(:id, :rule, :query, :article, '[]', 'snippet', 0, 7, :created)"
                ),
                {
                    "id": alert,
                    "rule": rule,
                    "query": rule,
                    "article": ids[url],
                    "created": stamp(engine, T0.replace(minute=minute)),
                },
            )
            connection.execute(
                text(
                    "INSERT INTO deliveries (alert_id, channel, status, attempts, updated_at) "
                    "VALUES (:id, 'hook', :status, 1, :now)"
                ),
                {
                    "id": alert,
                    "status": "sent" if minute == 1 else "pending",
                    "now": stamp(engine, T0),
                },
            )

    upgrade(engine)

    with Session(engine) as session:
        alerts = {a.id: a for a in session.exec(select(Alert)).all()}
        outlets = [(o.alert_id, o.source) for o in session.exec(select(AlertArticle)).all()]
        deliveries = {d.key: d for d in session.exec(select(Delivery)).all()}
        stories = {a.url: a.story_id for a in session.exec(select(Article)).all()}
    assert sorted(alerts) == ["a-gazette", "a-other", "b-gazette"]
    assert alerts["a-gazette"].story_id == stories["https://courier.test/courier"]
    assert sorted(outlets) == [
        ("a-gazette", "courier"),
        ("a-gazette", "gazette"),
        ("a-other", "desk"),
        ("b-gazette", "gazette"),
    ]
    assert sorted(deliveries) == ["a-gazette", "a-other", "b-gazette"]
    sent = deliveries["a-gazette"]
    assert (sent.kind, sent.rule, sent.alert_id, sent.status) == (
        "alert",
        "floods",
        "a-gazette",
        "sent",
    )
    assert sent.created_at == sent.updated_at

    downgrade(engine, revision="0004_categories")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT alert_id, status FROM deliveries")).all()
    assert sorted(rows) == [("a-gazette", "sent"), ("a-other", "pending"), ("b-gazette", "pending")]
    upgrade(engine)
