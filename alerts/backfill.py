"""Firing one rule over stored history on purpose: `newswatch rules backfill NAME`.

    fired = backfill_rule(session=session, rule=rule, since=datetime(2025, 3, 1, tzinfo=UTC))

New rules and changed queries do not fire on articles stored before them
(`alerts.firstcontact`); a backfill does, over every stored article published
(or, without a date, stored) since `since`. Stories already alerted under the
rule are not alerted again, only given their missing outlets. The backfill
counts as one run for the storm breaker: past the rule's `storm_limit`, each
channel gets one summary listing the alerts instead of one message each.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from alerts.ledger import Fired, Recorder
from alerts.rules import Rule
from alerts.ruleset import RuleSet
from storage import Article, utcnow

BATCH = 500


def backfill_rule(
    *,
    session: Session,
    rule: Rule,
    since: datetime | None = None,
    now: datetime | None = None,
) -> list[Fired]:
    """Match `rule` against stored articles since `since` (all when None), oldest first,
    ignoring first contact; record alerts and deliveries; the caller commits."""
    now = now or utcnow()
    recorder = Recorder(session=session, rules=RuleSet([rule]), now=now, first_contact=False)
    fired: list[Fired] = []
    for batch in _stored(session, since=since):
        fired.extend(recorder.add(batch))
    recorder.break_storms(scope=f"backfill:{now.isoformat()}")
    return fired


def _stored(session: Session, *, since: datetime | None) -> Iterator[list[Article]]:
    """Stored articles in batches, by id; the next batch starts after the last id seen."""
    when = func.coalesce(col(Article.published_at), col(Article.fetched_at))
    last = 0
    while True:
        query = select(Article).where(col(Article.id) > last).order_by(col(Article.id))
        if since is not None:
            query = query.where(when >= since)
        batch = list(session.exec(query.limit(BATCH)).all())
        if not batch:
            return
        yield batch
        last = batch[-1].id or last
