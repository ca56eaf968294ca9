"""First contact: a new rule, a changed query or a new feed does not flood the channels.

    gates = rule_gates(session=session, rules=rules.rules, articles=articles, now=now)
    sources = source_infos(session=session, source_ids={a.source_id for a in articles})
    fresh = is_fresh(article, sources[article.source_id], backfill=windows, now=now)

- **A rule** fires only on articles stored since its current query took
  effect. The store remembers each rule by name (`rules` table): when it was
  first seen (with the batch being stored then) and since when its query is
  the current one. A changed query counts as a new rule for this (it does not
  fire on history), not for the ledger: a story already alerted under the
  rule's name is not alerted again.
  `newswatch rules backfill NAME` fires a rule over history on purpose.
- **A feed or sitemap** on its first successful poll alerts only on entries
  published within its `backfill` window (24 hours unless configured; None
  means everything); an entry without a date counts as new. Later polls
  alert on every new entry. Seed files and URL lists always alert: someone
  put them there on purpose.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from alerts.rules import Rule
from storage import Article, RuleState, Source, insert_ignoring_conflicts, table_of

DEFAULT_BACKFILL = timedelta(hours=24)
POLLED_KINDS = frozenset({"feed", "sitemap"})  # listings whose first poll holds old entries


@dataclass(frozen=True)
class SourceInfo:
    """What first contact needs to know about an article's source."""

    name: str
    kind: str
    first_poll: bool  # never polled successfully before this run


def source_infos(
    *, session: Session, source_ids: Iterable[int], first_poll: Collection[str] | None = None
) -> dict[int, SourceInfo]:
    """The sources of `source_ids` by id. A source is on its first poll when named in
    `first_poll`, or, when that is None, when the store has no successful poll of it yet
    (the run records its sources' health after storing)."""
    ids = sorted(set(source_ids))
    rows = session.exec(select(Source).where(col(Source.id).in_(ids))).all() if ids else []
    return {
        row.id: SourceInfo(
            row.name,
            row.kind,
            row.name in first_poll if first_poll is not None else row.last_success_at is None,
        )
        for row in rows
        if row.id is not None
    }


def is_fresh(
    article: Article,
    source: SourceInfo | None,
    *,
    backfill: Mapping[str, timedelta | None],
    now: datetime,
) -> bool:
    """Whether `article` may start an alert as far as its source's first contact goes."""
    if source is None or source.kind not in POLLED_KINDS or not source.first_poll:
        return True
    window = backfill.get(source.name, DEFAULT_BACKFILL)
    if window is None or article.published_at is None:
        return True
    return article.published_at >= now - window


def register_rules(
    *, session: Session, rules: Sequence[Rule], since: datetime
) -> dict[str, datetime]:
    """Remember rules first seen now and queries changed now, as of `since` (the time the
    batch being matched was stored); return each rule's gate: articles stored before it
    are history to the rule."""
    names = [rule.name for rule in rules]
    statement = select(RuleState.name, RuleState.query, RuleState.query_since).where(
        col(RuleState.name).in_(names)
    )  # rows, not ORM objects: ~10x cheaper for the thousands of rules of a config
    known = {name: (query, gate) for name, query, gate in session.exec(statement).all()}
    gates: dict[str, datetime] = {}
    new = []
    for rule in rules:
        gates[rule.name] = since
        stored = known.get(rule.name)  # (its query, the gate that query set)
        if stored is None:
            new.append(
                {
                    "name": rule.name,
                    "query": rule.query,
                    "first_seen_at": since,
                    "query_since": since,
                }
            )
        elif stored[0] != rule.query:
            session.execute(
                update(RuleState)
                .where(col(RuleState.name) == rule.name)
                .values(query=rule.query, query_since=since)
            )
        else:
            gates[rule.name] = stored[1]
    if new:  # one statement for all: a config may hold thousands of rules
        table = table_of(RuleState)
        session.execute(insert_ignoring_conflicts(session, table), new)
    return gates


def rule_gates(
    *, session: Session, rules: Sequence[Rule], articles: Sequence[Article], now: datetime
) -> dict[str, datetime]:
    """`register_rules` as of the time the batch `articles` was stored (`batch_time`)."""
    return register_rules(session=session, rules=rules, since=batch_time(articles, now=now))


def batch_time(articles: Sequence[Article], *, now: datetime) -> datetime:
    """When the batch was stored: its latest `fetched_at`, never later than `now`. A rule
    first seen with this batch counts from then, so the batch itself is new to it."""
    stored = [article.fetched_at for article in articles if article.fetched_at is not None]
    return min(max(stored), now) if stored else now


def is_history(article: Article, gate: datetime | None) -> bool:
    """Whether `article` was stored before the rule's gate (see `register_rules`)."""
    return gate is not None and article.fetched_at < gate
