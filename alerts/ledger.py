"""The alert ledger: which (rule, article) pairs fired, and their pending deliveries.

    alerts = record_alerts(session=session, rules=RuleSet(rules), articles=stored.new)

Runs inside the caller's transaction, the one that stores the articles, so an
article is never committed without its alerts and their outbox rows. The
schema's unique (rule, article) constraint makes a pair fire once, ever, even
when two processes match the same article at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from alerts.match import Document
from alerts.ruleset import RuleSet
from storage import Alert, Article, Delivery, alert_id, insert_ignoring_conflicts, utcnow

PENDING = "pending"


@dataclass(frozen=True)
class Fired:
    """One alert created in this transaction."""

    alert_id: str
    rule: str
    article_id: int
    title: str
    url: str
    channels: tuple[str, ...]
    snippet: str


def record_alerts(*, session: Session, rules: RuleSet, articles: Sequence[Article]) -> list[Fired]:
    """Match every rule against every article; write new alerts and their deliveries."""
    fired: list[Fired] = []
    for article in articles:
        document = Document.of(title=article.title, text=article.text)
        for rule, match in rules.matches(document):
            if article.id is None:
                continue
            new_id = alert_id(rule=rule.name, canonical=article.canonical_url)
            row = {
                "id": new_id,
                "rule": rule.name,
                "query": rule.query,
                "article_id": article.id,
                "terms": json.dumps(list(match.terms)),
                "snippet": match.snippet,
                "snippet_start": match.snippet_start,
                "snippet_end": match.snippet_end,
                "created_at": utcnow(),
            }
            if _insert(session, Alert, row):
                _add_deliveries(session, alert=new_id, channels=rule.channels)
                fired.append(
                    Fired(
                        new_id,
                        rule.name,
                        article.id,
                        article.title,
                        article.url,
                        rule.channels,
                        match.snippet,
                    )
                )
    return fired


def _insert(session: Session, model: type[Alert] | type[Delivery], row: dict[str, object]) -> bool:
    table = model.__table__  # type: ignore[attr-defined]
    statement = insert_ignoring_conflicts(session, table).values(**row).returning(table.c.id)
    return session.execute(statement).scalar_one_or_none() is not None


def _add_deliveries(session: Session, *, alert: str, channels: Sequence[str]) -> None:
    for channel in channels:
        row = {"alert_id": alert, "channel": channel, "status": PENDING, "updated_at": utcnow()}
        _insert(session, Delivery, row)


@dataclass(frozen=True)
class AlertView:
    """An alert as `newswatch alerts list` shows it, with each channel's delivery state."""

    id: str
    rule: str
    article_url: str
    title: str
    snippet: str
    created_at: datetime
    deliveries: dict[str, dict[str, object]]

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "rule": self.rule,
            "article_url": self.article_url,
            "title": self.title,
            "snippet": self.snippet,
            "created_at": self.created_at.isoformat(),
            "deliveries": self.deliveries,
        }


def list_alerts(*, session: Session, status: str | None = None) -> list[AlertView]:
    """Alerts, newest first; with `status`, only those with a delivery in that state."""
    query = (
        select(Alert, Article)
        .join(Article, col(Article.id) == col(Alert.article_id))
        .order_by(col(Alert.created_at).desc(), col(Alert.id))
    )
    rows = session.exec(query).all()
    by_alert: dict[str, list[Delivery]] = {}
    for delivery in session.exec(select(Delivery).order_by(col(Delivery.id))).all():
        by_alert.setdefault(delivery.alert_id, []).append(delivery)
    views = []
    for alert, article in rows:
        deliveries = by_alert.get(alert.id, [])
        if status is not None and all(d.status != status for d in deliveries):
            continue
        states = {d.channel: _delivery_state(d) for d in deliveries}
        views.append(
            AlertView(
                alert.id,
                alert.rule,
                article.url,
                article.title,
                alert.snippet,
                alert.created_at,
                states,
            )
        )
    return views


def _delivery_state(delivery: Delivery) -> dict[str, object]:
    return {
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "sent_at": delivery.sent_at.isoformat() if delivery.sent_at else None,
    }
