"""Messages built from the ledger when they are sent, so they list every outlet known then.

message = compose(session=session, delivery=delivery)   # AlertMessage or BundleMessage
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlmodel import Session, col, select

from alerts.message import AlertMessage, BundleMessage, Message, Outlet
from storage import Alert, AlertArticle, Article, Delivery, Source, chunks


def compose(*, session: Session, delivery: Delivery) -> Message | None:
    """The message `delivery` sends; None for a bundle left with nothing to carry."""
    if delivery.kind == "alert":
        if delivery.alert_id is None:
            return None
        return alert_messages(session=session, alert_ids=[delivery.alert_id]).get(delivery.alert_id)
    carried = session.exec(
        select(Delivery.alert_id)
        .where(col(Delivery.bundle_id) == delivery.id)
        .order_by(col(Delivery.id))
    ).all()
    ids = [alert for alert in carried if alert is not None]
    messages = alert_messages(session=session, alert_ids=ids)
    alerts = tuple(messages[alert] for alert in ids if alert in messages)
    if not alerts:
        return None
    return BundleMessage(
        bundle_id=delivery.key,
        kind="summary" if delivery.kind == "summary" else "digest",
        rule=delivery.rule,
        alerts=alerts,
        created_at=delivery.created_at,
        schedule=delivery.digest,
    )


def alert_messages(*, session: Session, alert_ids: Sequence[str]) -> dict[str, AlertMessage]:
    """Each alert as a message: its first article, and every outlet attached so far."""
    found: dict[str, AlertMessage] = {}
    for chunk in chunks(alert_ids):
        outlets = _outlets(session, chunk)
        query = (
            select(Alert, Article, Source.name)
            .join(Article, col(Article.id) == col(Alert.article_id))
            .join(Source, col(Source.id) == col(Article.source_id))
            .where(col(Alert.id).in_(chunk))
        )
        for alert, article, source in session.exec(query).all():
            found[alert.id] = _message(alert, article, source, outlets.get(alert.id, ()))
    return found


def _outlets(session: Session, alert_ids: Sequence[str]) -> dict[str, tuple[Outlet, ...]]:
    rows = session.exec(
        select(AlertArticle)
        .where(col(AlertArticle.alert_id).in_(alert_ids))
        .order_by(col(AlertArticle.id))
    ).all()
    by_alert: dict[str, list[Outlet]] = {}
    for row in rows:
        by_alert.setdefault(row.alert_id, []).append(Outlet(row.source, row.url))
    return {alert: tuple(outlets) for alert, outlets in by_alert.items()}


def _message(
    alert: Alert, article: Article, source: str, outlets: tuple[Outlet, ...]
) -> AlertMessage:
    return AlertMessage(
        alert_id=alert.id,
        rule=alert.rule,
        query=alert.query,
        title=article.title,
        url=article.url,
        source=source,
        published_at=article.published_at,
        snippet=alert.snippet,
        snippet_start=alert.snippet_start,
        snippet_end=alert.snippet_end,
        terms=tuple(json.loads(alert.terms)),
        matched_at=alert.created_at,
        outlets=outlets,
    )
