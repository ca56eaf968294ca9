"""Bundles: one message carrying many alerts of one rule, a storm summary or a digest.

    break_storm(session=s, rule=rule, alert_ids=ids, run_id=7, scope="run:7", now=now)
    bundle_digests(session=s, now=now)          # the digests whose period has ended
    bundle_digests(session=s, now=now, force=True)  # everything held, now

A bundle is a delivery row of kind "summary" or "digest" (its own retries,
lease and dead-lettering, like any delivery); each alert delivery it carries
points at it through `bundle_id`, with status "summarised" or "digested", so
no alert is sent twice on a channel. A bundle's key, its Idempotency-Key, is
derived from the rule and the run or period, so two processes bundling the
same period make one bundle.

Digest periods are aligned to UTC: an hourly digest carries what was held
before the top of the hour, a daily one what was held before midnight UTC.
The state is the rows themselves: held deliveries waiting, and the digests
already made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from alerts.rules import Rule
from storage import Alert, Delivery, chunks, insert_returning_id, table_of

PENDING, HELD, SUMMARISED, DIGESTED = "pending", "held", "summarised", "digested"
PERIODS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}


def bundle_key(kind: str, rule: str, scope: str, number: int = 0) -> str:
    """The stable id of a bundle: the same for the same rule and run or period."""
    return hashlib.sha256(f"{kind}\x1f{rule}\x1f{scope}\x1f{number}".encode()).hexdigest()[:32]


def period_start(schedule: str, now: datetime) -> datetime:
    """Start of the digest period `now` is in: the top of the hour, or midnight UTC."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    return hour if schedule == "hourly" else hour.replace(hour=0)


def break_storm(
    *,
    session: Session,
    rule: Rule,
    alert_ids: Sequence[str],
    run_id: int | None,
    scope: str,
    now: datetime,
) -> int:
    """When `rule` fired more than `rule.storm_limit` times in run `run_id` (or, without a
    run, in `alert_ids`), roll its waiting deliveries into one summary per channel.
    Returns how many alerts the storm has (0 when there is none)."""
    ids = list(alert_ids)
    if run_id is not None:
        scope = f"run:{run_id}"
        query = select(Alert.id).where(col(Alert.rule) == rule.name, col(Alert.run_id) == run_id)
        ids = list(session.exec(query).all())
    if len(ids) <= rule.storm_limit:
        return 0
    for channel in rule.channels:
        summary = _open_bundle(
            session, kind="summary", rule=rule.name, channel=channel, scope=scope, now=now
        )
        for chunk in chunks(ids):
            session.execute(
                update(Delivery)
                .where(
                    col(Delivery.kind) == "alert",
                    col(Delivery.channel) == channel,
                    col(Delivery.status) == PENDING,
                    col(Delivery.attempts) == 0,
                    col(Delivery.alert_id).in_(chunk),
                )
                .values(status=SUMMARISED, bundle_id=summary, updated_at=now)
            )
    return len(ids)


def _open_bundle(
    session: Session,
    *,
    kind: str,
    rule: str,
    channel: str,
    scope: str,
    now: datetime,
    schedule: str | None = None,
) -> int:
    """The id of the bundle for (rule, channel, scope) that is still unsent, made if needed."""
    table = table_of(Delivery)
    for number in range(1000):
        key = bundle_key(kind, rule, scope, number)
        row = session.exec(
            select(Delivery).where(col(Delivery.key) == key, col(Delivery.channel) == channel)
        ).first()
        if row is None:
            values = {
                "key": key,
                "kind": kind,
                "rule": rule,
                "channel": channel,
                "status": PENDING,
                "digest": schedule,
                "created_at": now,
                "updated_at": now,
            }
            inserted = session.execute(
                insert_returning_id(session, table), values
            ).scalar_one_or_none()
            if inserted is not None:
                return int(inserted)
            continue  # another process made it just now; look again
        if row.status == PENDING and row.attempts == 0 and row.id is not None:
            return row.id
    raise RuntimeError(f"no free bundle key for rule {rule!r} on {channel!r} ({scope})")


def bundle_digests(*, session: Session, now: datetime, force: bool = False) -> list[int]:
    """Make the digests that are due: per (rule, channel), the held deliveries whose
    period has ended (all of them with `force`). Returns the new digests' delivery ids."""
    held = session.exec(
        select(Delivery).where(col(Delivery.status) == HELD).order_by(col(Delivery.id))
    ).all()
    groups: dict[tuple[str, str], list[Delivery]] = {}
    for row in held:
        groups.setdefault((row.rule, row.channel), []).append(row)
    made = []
    for (rule, channel), rows in groups.items():
        due = [row for row in rows if force or row.created_at < _cutoff(row, now)]
        if not due:
            continue
        schedule = due[-1].digest or "daily"
        scope = f"forced:{now.isoformat()}" if force else period_start(schedule, now).isoformat()
        digest = _open_bundle(
            session,
            kind="digest",
            rule=rule,
            channel=channel,
            scope=scope,
            now=now,
            schedule=schedule,
        )
        ids = [row.id for row in due if row.id is not None]
        for chunk in chunks(ids):
            session.execute(
                update(Delivery)
                .where(col(Delivery.id).in_(chunk), col(Delivery.status) == HELD)
                .values(status=DIGESTED, bundle_id=digest, updated_at=now)
            )
        made.append(digest)
    return made


def _cutoff(row: Delivery, now: datetime) -> datetime:
    return period_start(row.digest or "daily", now)


@dataclass(frozen=True)
class DigestState:
    """Where one rule's digest to one channel stands, for `newswatch alerts digest`."""

    rule: str
    channel: str
    schedule: str
    held: int
    last_digest_at: datetime | None
    next_due_at: datetime

    def to_dict(self) -> dict[str, object]:
        last = self.last_digest_at.isoformat() if self.last_digest_at else None
        return {
            "rule": self.rule,
            "channel": self.channel,
            "schedule": self.schedule,
            "held": self.held,
            "last_digest_at": last,
            "next_due_at": self.next_due_at.isoformat(),
        }


def digest_states(*, session: Session, now: datetime) -> list[DigestState]:
    """Each (rule, channel) with alerts held for a digest: how many, when its last digest
    was made and when the next is due."""
    held = session.execute(  # five columns: more than sqlmodel's `select` is typed for
        sa.select(
            col(Delivery.rule),
            col(Delivery.channel),
            col(Delivery.digest),
            func.count(),
            func.min(Delivery.created_at),
        )
        .where(col(Delivery.status) == HELD)
        .group_by(col(Delivery.rule), col(Delivery.channel), col(Delivery.digest))
    ).all()
    made = session.exec(
        select(Delivery.rule, Delivery.channel, func.max(Delivery.created_at))
        .where(col(Delivery.kind) == "digest")
        .group_by(col(Delivery.rule), col(Delivery.channel))
    ).all()
    last = {(rule, channel): when for rule, channel, when in made}
    states: dict[tuple[str, str], DigestState] = {}
    for rule, channel, schedule, count, oldest in held:
        schedule = schedule or "daily"
        due = period_start(schedule, oldest) + PERIODS[schedule]
        previous = states.get((rule, channel))
        states[(rule, channel)] = DigestState(
            rule,
            channel,
            schedule,
            count + (previous.held if previous else 0),
            last.get((rule, channel)),
            min(due, previous.next_due_at) if previous else due,
        )
    return sorted(states.values(), key=lambda state: (state.rule, state.channel))
