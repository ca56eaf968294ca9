"""The delivery outbox: sends pending deliveries, each exactly once per (alert, channel).

    report = await deliver_due(engine=engine, notifiers=notifiers)

A delivery is claimed (status `sending`, committed) before it is sent, so a
second process skips it; a failed send puts it back to `pending` with the
reason, for the next run. A process that dies between sending and recording
leaves a claim that expires after `lease`; the delivery is then sent again,
and the webhook's `Idempotency-Key` (the alert id) lets receivers drop it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from alerts.errors import DeliveryError
from alerts.message import AlertMessage
from alerts.notifiers import Notifier
from storage import Alert, Article, Delivery, Source, utcnow

PENDING, SENDING, SENT = "pending", "sending", "sent"
DEFAULT_LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class OutboxItem:
    delivery_id: int
    channel: str
    message: AlertMessage


@dataclass
class DeliveryReport:
    sent: list[tuple[str, str]] = field(default_factory=list)  # (alert id, channel)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (alert id, channel, why)

    @property
    def pending(self) -> int:
        return len(self.failed)


def due_deliveries(*, session: Session, now: datetime, lease: timedelta) -> list[OutboxItem]:
    """Deliveries waiting to be sent, and claims old enough to count as abandoned."""
    query = (
        select(Delivery, Alert, Article, Source.name)
        .join(Alert, col(Alert.id) == col(Delivery.alert_id))
        .join(Article, col(Article.id) == col(Alert.article_id))
        .join(Source, col(Source.id) == col(Article.source_id))
        .where(_due(now=now, lease=lease))
        .order_by(col(Delivery.id))
    )
    return [
        OutboxItem(delivery.id, delivery.channel, _message(alert, article, source))
        for delivery, alert, article, source in session.exec(query).all()
        if delivery.id is not None
    ]


def _due(*, now: datetime, lease: timedelta):  # type: ignore[no-untyped-def]
    abandoned = (col(Delivery.status) == SENDING) & (col(Delivery.claimed_at) < now - lease)
    return or_(col(Delivery.status) == PENDING, abandoned)


def _message(alert: Alert, article: Article, source: str) -> AlertMessage:
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
    )


def claim(*, session: Session, delivery_id: int, now: datetime, lease: timedelta) -> bool:
    """Take the delivery for this process; False when another process holds it or sent it."""
    statement = (
        update(Delivery)
        .where(col(Delivery.id) == delivery_id, _due(now=now, lease=lease))
        .values(status=SENDING, claimed_at=now, attempts=Delivery.attempts + 1, updated_at=now)
    )
    claimed = session.execute(statement).rowcount == 1  # type: ignore[attr-defined]
    session.commit()
    return claimed


def settle(*, session: Session, delivery_id: int, now: datetime, error: str | None) -> None:
    """Record the outcome of a claimed delivery: sent, or back to pending with the reason."""
    values: dict[str, object] = {"updated_at": now, "last_error": error}
    values.update({"status": SENT, "sent_at": now} if error is None else {"status": PENDING})
    session.execute(update(Delivery).where(col(Delivery.id) == delivery_id).values(**values))
    session.commit()


async def deliver_due(
    *,
    engine: Engine,
    notifiers: Mapping[str, Notifier],
    lease: timedelta = DEFAULT_LEASE,
    clock: Callable[[], datetime] = utcnow,
) -> DeliveryReport:
    """Send every due delivery once through its channel's notifier."""
    report = DeliveryReport()
    with Session(engine) as session:
        items = due_deliveries(session=session, now=clock(), lease=lease)
    for item in items:
        notifier = notifiers.get(item.channel)
        if notifier is None:
            why = f"channel {item.channel!r} is not configured; the delivery waits for it"
            report.failed.append((item.message.alert_id, item.channel, why))
            continue
        with Session(engine) as session:
            if not claim(session=session, delivery_id=item.delivery_id, now=clock(), lease=lease):
                continue
        error = await _send(notifier, item.message)
        with Session(engine) as session:
            settle(session=session, delivery_id=item.delivery_id, now=clock(), error=error)
        if error is None:
            report.sent.append((item.message.alert_id, item.channel))
        else:
            report.failed.append((item.message.alert_id, item.channel, error))
    return report


async def _send(notifier: Notifier, message: AlertMessage) -> str | None:
    try:
        await notifier.send(message)
    except DeliveryError as error:
        return str(error)
    except Exception as error:  # a notifier bug must not strand the claim until the lease ends
        return f"{notifier.name}: unexpected {type(error).__name__}: {error}"
    return None
