"""Alerts as users see them (`newswatch alerts list`) and re-queueing (`alerts retry`).

    views = list_alerts(session=session, status="dead")
    outcomes = requeue(session=session, target="12", now=utcnow())

An alert whose delivery went out in a storm summary or a digest shows that
bundle's state on the channel (`via: "summary"`), so `--status dead` also
finds alerts whose digest is dead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from storage import Alert, AlertArticle, Article, Delivery, chunks

BUNDLED = frozenset({"summarised", "digested"})
RETRYABLE = frozenset({"pending", "dead"})
_PAGE = 500  # rows read at a time


@dataclass(frozen=True)
class AlertView:
    """An alert with its outlets and each channel's delivery state."""

    id: str
    rule: str
    story_id: int
    article_url: str
    title: str
    snippet: str
    created_at: datetime
    outlets: list[dict[str, str]]
    deliveries: dict[str, dict[str, object]]

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "rule": self.rule,
            "story_id": self.story_id,
            "article_url": self.article_url,
            "title": self.title,
            "snippet": self.snippet,
            "created_at": self.created_at.isoformat(),
            "outlets": self.outlets,
            "deliveries": self.deliveries,
        }


def list_alerts(
    *,
    session: Session,
    status: str | None = None,
    limit: int | None = None,
    run_id: int | None = None,
    rule: str | None = None,
) -> list[AlertView]:
    """Alerts, newest first; with `status`, only those with a delivery in that state
    (pending, sending, sent, dead or held; bundled ones count with their bundle's); with
    `run_id` or `rule`, only those that run recorded or that rule fired; at most `limit`.
    Read a page at a time, so a store of months of alerts is not loaded to show a few."""
    query = (
        select(Alert, Article)
        .join(Article, col(Article.id) == col(Alert.article_id))
        .order_by(col(Alert.created_at).desc(), col(Alert.id))
    )
    if run_id is not None:
        query = query.where(col(Alert.run_id) == run_id)
    if rule is not None:
        query = query.where(col(Alert.rule) == rule)
    views: list[AlertView] = []
    for rows in _pages(session, query):
        ids = [alert.id for alert, _ in rows]
        deliveries, outlets = _deliveries(session, ids), _outlets(session, ids)
        for alert, article in rows:
            states = {d.channel: state for d, state in deliveries.get(alert.id, [])}
            if status is not None and all(s["status"] != status for s in states.values()):
                continue
            views.append(
                AlertView(
                    alert.id,
                    alert.rule,
                    alert.story_id,
                    article.url,
                    article.title,
                    alert.snippet,
                    alert.created_at,
                    outlets.get(alert.id, []),
                    states,
                )
            )
            if limit is not None and len(views) >= limit:
                return views
    return views


def _pages(
    session: Session, query: Select[Alert, Article]
) -> Iterator[list[tuple[Alert, Article]]]:
    """The rows of `query`, _PAGE at a time."""
    offset = 0
    while True:
        rows = list(session.exec(query.offset(offset).limit(_PAGE)).all())
        if rows:
            yield rows
        if len(rows) < _PAGE:
            return
        offset += _PAGE


def _deliveries(
    session: Session, ids: list[str]
) -> dict[str, list[tuple[Delivery, dict[str, object]]]]:
    rows: list[Delivery] = []
    for chunk in chunks(ids):
        query = select(Delivery).where(col(Delivery.alert_id).in_(chunk)).order_by(col(Delivery.id))
        rows.extend(session.exec(query).all())
    bundle_ids = sorted({row.bundle_id for row in rows if row.bundle_id is not None})
    bundles = {
        bundle.id: bundle
        for bundle in session.exec(select(Delivery).where(col(Delivery.id).in_(bundle_ids))).all()
    }
    by_alert: dict[str, list[tuple[Delivery, dict[str, object]]]] = {}
    for row in rows:
        bundle = bundles.get(row.bundle_id) if row.bundle_id is not None else None
        by_alert.setdefault(row.alert_id or "", []).append((row, _state(row, bundle)))
    return by_alert


def _state(row: Delivery, bundle: Delivery | None) -> dict[str, object]:
    """The channel's state: the bundle's when the alert went out in one."""
    shown = bundle or row
    return {
        "id": row.id,
        "status": shown.status,
        "attempts": shown.attempts,
        "last_error": shown.last_error,
        "next_attempt_at": _iso(shown.next_attempt_at) if shown.status == "pending" else None,
        "sent_at": _iso(shown.sent_at),
        "via": bundle.kind if bundle else None,
        "bundle_id": bundle.id if bundle else None,
        "digest": row.digest if row.status == "held" else None,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def alert_outlets(*, session: Session, ids: Sequence[str]) -> dict[str, list[str]]:
    """Each alert's outlets (source names, first first), for the alerts `ids`."""
    return {
        alert: list(dict.fromkeys(outlet["source"] for outlet in outlets))
        for alert, outlets in _outlets(session, list(ids)).items()
    }


def _outlets(session: Session, ids: list[str]) -> dict[str, list[dict[str, str]]]:
    by_alert: dict[str, list[dict[str, str]]] = {}
    for chunk in chunks(ids):
        query = (  # rows, not ORM objects: a run's artifact reads a thousand alerts' outlets
            select(AlertArticle.alert_id, AlertArticle.source, AlertArticle.url)
            .where(col(AlertArticle.alert_id).in_(chunk))
            .order_by(col(AlertArticle.id))
        )
        for alert, source, url in session.exec(query).all():
            by_alert.setdefault(alert, []).append({"source": source, "url": url})
    return by_alert


@dataclass(frozen=True)
class Requeued:
    """What `requeue` did with one delivery."""

    delivery_id: int
    channel: str
    kind: str
    status: str  # its status before
    requeued: bool
    note: str


def requeue(*, session: Session, target: str, now: datetime) -> list[Requeued]:
    """Re-queue the dead or pending deliveries `target` names, due now with a fresh set of
    attempts. `target` is a delivery id (a number) or an alert id (a unique prefix of 6+
    characters will do): all that alert's deliveries. A delivery that went out in a
    summary or digest is re-queued through it. Sent ones are never sent again.
    Raises LookupError when `target` names nothing, or more than one alert."""
    rows = [_through_bundle(session, row) for row in _targets(session, target)]
    outcomes, seen = [], set()
    for row in rows:
        if row.id is None or row.id in seen:
            continue
        seen.add(row.id)
        outcome = Requeued(
            row.id, row.channel, row.kind, row.status, row.status in RETRYABLE, _note(row)
        )
        if outcome.requeued:
            session.execute(
                update(Delivery)
                .where(col(Delivery.id) == row.id, col(Delivery.status).in_(RETRYABLE))
                .values(status="pending", attempts=0, next_attempt_at=now, updated_at=now)
            )
        outcomes.append(outcome)
    session.commit()
    return outcomes


def _targets(session: Session, target: str) -> list[Delivery]:
    target = target.strip()
    if target.isdigit():
        row = session.get(Delivery, int(target))
        if row is None:
            raise LookupError(f"no delivery {target}")
        return [row]
    if len(target) < 6:
        raise LookupError(f"{target!r}: give a delivery id or at least 6 characters of an alert id")
    found = session.exec(select(Alert.id).where(col(Alert.id).startswith(target)).limit(2)).all()
    if not found:
        raise LookupError(f"no alert or delivery {target!r}")
    if len(found) > 1:
        raise LookupError(f"{target!r} names more than one alert; give more of its id")
    query = select(Delivery).where(col(Delivery.alert_id) == found[0]).order_by(col(Delivery.id))
    return list(session.exec(query).all())


def _through_bundle(session: Session, row: Delivery) -> Delivery:
    if row.status in BUNDLED and row.bundle_id is not None:
        return session.get(Delivery, row.bundle_id) or row
    return row


def _note(row: Delivery) -> str:
    if row.status in RETRYABLE:
        return "re-queued: sent by the next delivery step"
    return {
        "sent": "already sent; never sent twice",
        "sending": "being sent right now",
        "held": f"held for the {row.digest or 'daily'} digest (`newswatch alerts digest --now`)",
    }.get(row.status, row.status)
