"""The alert ledger: which (rule, story) pairs fired, their outlets, and their deliveries.

    fired = record_alerts(session=session, rules=RuleSet(rules), articles=stored.new)

Runs inside the caller's transaction, the one that stores the articles, so an
article is never committed without its alerts and their outbox rows.

- **One alert per (rule, story)**, a unique key in the schema: when ten
  outlets run one story, the rule fires once and the later copies are
  attached to the alert (`alert_articles`), never sent again.
- **First contact** (`alerts.firstcontact`): a rule does not fire on articles
  stored before it existed, nor a new feed on old entries.
- **Modes**: an immediate rule's deliveries are pending at once; a digest
  rule's are held for its digest (`alerts.digest`).
- **Storm breaker**: an immediate rule that fires more than its
  `storm_limit` in one run sends one summary per channel instead. Its alerts
  are still recorded; their deliveries are `summarised` and point at the
  summary's delivery, which lists them.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from sqlmodel import Session, col, func, select

from alerts.bundles import break_storm
from alerts.firstcontact import (
    SourceInfo,
    is_fresh,
    is_history,
    rule_gates,
    source_infos,
)
from alerts.match import Match
from alerts.rules import Rule
from alerts.ruleset import RuleSet
from storage import (
    Alert,
    AlertArticle,
    Article,
    Delivery,
    alert_id,
    insert_ignoring_conflicts,
    insert_returning_id,
    table_of,
    utcnow,
)

PENDING, HELD = "pending", "held"
_RULE_AND_STORY = itemgetter("rule", "story_id")
DEFAULT_DIGEST = "daily"


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


def record_alerts(
    *,
    session: Session,
    rules: RuleSet,
    articles: Sequence[Article],
    backfill: Mapping[str, timedelta | None] | None = None,
    first_poll: Collection[str] | None = None,
    now: datetime | None = None,
    matched: Mapping[str, list[tuple[Rule, Match]]] | None = None,
    gates: Mapping[str, datetime] | None = None,
) -> list[Fired]:
    """Match every rule against every newly stored article: new alerts with their
    deliveries, later outlets of an alerted story attached.

    `backfill` maps a source's name to how far back its first poll alerts (None:
    everything; a source not named: 24 hours). `first_poll` names the sources on their
    first poll; None lets the store tell (no successful poll recorded yet). `matched`
    holds articles' matches made already, by canonical URL, from exactly the title,
    text, source, URL and language stored (`RuleSet.matches_article`). `gates` are the
    rules' gates as `alerts.rule_gates` returned them in a committed transaction of the
    same run (the rules table is then not read again); None reads and registers them.
    """
    if not articles:
        return []
    sources = source_infos(
        session=session, source_ids=[a.source_id for a in articles], first_poll=first_poll
    )
    recorder = Recorder(
        session=session,
        rules=rules,
        now=now or utcnow(),
        backfill=dict(backfill or {}),
        sources=sources,
        matched=matched or {},
        gates=dict(gates) if gates is not None else None,
    )
    fired = recorder.add(articles)
    recorder.break_storms()
    return fired


@dataclass(frozen=True)
class _Proposed:
    """An alert to create, with what its deliveries and `Fired` need."""

    row: dict[str, object]
    article: Article
    rule: Rule
    match: Match


@dataclass
class Recorder:
    """Records the alerts of one call (or one backfill) and remembers what it created."""

    session: Session
    rules: RuleSet
    now: datetime
    first_contact: bool = True  # False: a deliberate backfill, which fires on history too
    backfill: dict[str, timedelta | None] = field(default_factory=dict)
    sources: dict[int, SourceInfo] = field(default_factory=dict)
    created: dict[str, list[str]] = field(default_factory=dict)  # rule → new alert ids
    runs: dict[str, set[int | None]] = field(default_factory=dict)  # rule → runs that fired it
    # rule → stored before this is history; None: read (and registered) by the first `add`
    gates: dict[str, datetime] | None = None
    _known: dict[tuple[str, int], str] = field(default_factory=dict)  # (rule, story) → alert
    # canonical URL → the article's matches, made already (by an extraction worker)
    matched: Mapping[str, list[tuple[Rule, Match]]] = field(default_factory=dict)
    _proposed: list[_Proposed] = field(default_factory=list)  # alerts to create, in order
    _outlets: list[dict[str, Any]] = field(default_factory=list)  # alert_articles to write
    _deliveries: list[dict[str, Any]] = field(default_factory=list)  # deliveries to write

    def add(self, articles: Sequence[Article]) -> list[Fired]:
        """Match `articles`; returns the alerts they created."""
        if self.gates is None:
            self.gates = rule_gates(
                session=self.session,
                rules=self.rules.rules,
                articles=articles if self.first_contact else (),
                now=self.now,
            )
        unknown = {a.source_id for a in articles} - self.sources.keys()
        if unknown:
            self.sources |= source_infos(session=self.session, source_ids=unknown)
        matched = [(a, self._matches(a)) for a in articles if a.id is not None]
        self._load_known(matched)
        for article, matches in matched:
            for rule, match in matches:
                self._record(article, rule, match)
        fired = self._create_proposed()
        self._flush()
        return fired

    def _flush(self) -> None:
        """Write the outlets and deliveries gathered by `add`: one statement per table (after
        the alerts they point at, see `_create_proposed`)."""
        for model, rows in ((AlertArticle, self._outlets), (Delivery, self._deliveries)):
            if rows:
                table = table_of(model)
                self.session.execute(insert_ignoring_conflicts(self.session, table), rows)
                rows.clear()

    def break_storms(self, *, scope: str | None = None) -> None:
        """Summarise each immediate rule that fired more than its storm limit: in its run
        when all its new alerts came from one run, else in this call (`scope` names it)."""
        candidates = [
            rule  # a rule without channels has no deliveries to summarise
            for rule in self.rules.rules
            if self.created.get(rule.name) and rule.mode == "immediate" and rule.channels
        ]
        counts = self._alerts_per_rule_and_run([rule.name for rule in candidates])
        for rule in candidates:
            ids = self.created[rule.name]
            runs = self.runs.get(rule.name, set())
            run_id = next(iter(runs)) if len(runs) == 1 and scope is None else None
            fired = counts.get((rule.name, run_id), 0) if run_id is not None else len(ids)
            if fired <= rule.storm_limit:
                continue  # checked here for every rule at once, not by a query per rule
            break_storm(
                session=self.session,
                rule=rule,
                alert_ids=ids,
                run_id=run_id,
                scope=scope or f"call:{self.now.isoformat()}:{ids[0]}",
                now=self.now,
            )

    def _alerts_per_rule_and_run(self, rules: list[str]) -> dict[tuple[str, int | None], int]:
        """How many alerts each of `rules` has in each of the runs this call stored for."""
        runs = {run for name in rules for run in self.runs.get(name, set()) if run is not None}
        if not rules or not runs:
            return {}
        query = (
            select(Alert.rule, Alert.run_id, func.count())
            .where(col(Alert.rule).in_(rules), col(Alert.run_id).in_(runs))
            .group_by(col(Alert.rule), col(Alert.run_id))
        )
        return {(rule, run): count for rule, run, count in self.session.exec(query).all()}

    def _matches(self, article: Article) -> list[tuple[Rule, Match]]:
        found = self.matched.get(article.canonical_url)
        if found is not None:
            return found
        source = self.sources.get(article.source_id)
        return self.rules.matches_article(
            title=article.title,
            text=article.text,
            source=source.name if source else "",
            url=article.url,
            lang=article.language,
        )

    def _load_known(self, matched: list[tuple[Article, list[tuple[Rule, Match]]]]) -> None:
        """The alerts already recorded for these stories, one query per batch."""
        stories = {a.story_id for a, matches in matched if matches} - {
            story for _, story in self._known
        }
        if not stories:
            return
        query = select(Alert.rule, Alert.story_id, Alert.id).where(
            col(Alert.story_id).in_(sorted(stories))
        )
        for rule, story, existing in self.session.exec(query).all():
            self._known[(rule, story)] = existing

    def _record(self, article: Article, rule: Rule, match: Match) -> None:
        assert article.id is not None
        gate = (self.gates or {}).get(rule.name)
        if self.first_contact and is_history(article, gate):
            return
        existing = self._known.get((rule.name, article.story_id))
        if existing is None:
            if self.first_contact and not self._fresh(article):
                return
            existing = self._propose(article, rule, match)
        self._attach(existing, article)

    def _fresh(self, article: Article) -> bool:
        source = self.sources.get(article.source_id)
        return is_fresh(article, source, backfill=self.backfill, now=self.now)

    def _propose(self, article: Article, rule: Rule, match: Match) -> str:
        """The id the alert of (rule, article's story) will have: later articles of the story
        in this call attach to it. `_create_proposed` inserts it, or finds it lost."""
        new_id = alert_id(rule=rule.name, canonical=article.canonical_url)
        row = {
            "id": new_id,
            "rule": rule.name,
            "query": rule.query,
            "story_id": article.story_id,
            "article_id": article.id,
            "run_id": article.run_id,
            "terms": json.dumps(list(match.terms)),
            "snippet": match.snippet,
            "snippet_start": match.snippet_start,
            "snippet_end": match.snippet_end,
            "created_at": self.now,
        }
        self._proposed.append(_Proposed(row, article, rule, match))
        self._known[(rule.name, article.story_id)] = new_id
        return new_id

    def _create_proposed(self) -> list[Fired]:
        """Insert the proposed alerts in one statement; each gets its deliveries, unless
        another process recorded its (rule, story) first: its outlets then go to that
        alert, and nothing is sent twice."""
        if not self._proposed:
            return []
        table = table_of(Alert)
        # sorted by their unique key: another run firing some of the same rules on the same
        # stories takes them in the same order, and waits instead of deadlocking (their
        # outlets and deliveries need not be: each is of an article or alert of this run)
        rows = sorted((proposed.row for proposed in self._proposed), key=_RULE_AND_STORY)
        # the rows as parameters of one cached statement; RETURNING names the ones that went in
        result = self.session.execute(insert_returning_id(self.session, table), rows)
        inserted = set(result.scalars())
        fired = []
        for proposed in self._proposed:
            if proposed.row["id"] in inserted:
                fired.append(self._created(proposed))
            else:
                self._lost(proposed)
        self._proposed.clear()
        return fired

    def _created(self, proposed: _Proposed) -> Fired:
        article, rule, new_id = proposed.article, proposed.rule, str(proposed.row["id"])
        assert article.id is not None
        self.created.setdefault(rule.name, []).append(new_id)
        self.runs.setdefault(rule.name, set()).add(article.run_id)
        self._add_deliveries(new_id, rule)
        snippet = proposed.match.snippet
        return Fired(
            new_id, rule.name, article.id, article.title, article.url, rule.channels, snippet
        )

    def _lost(self, proposed: _Proposed) -> None:
        """The outlets attached to a proposed alert that did not go in move to the alert
        recorded first (dropped if there is none: its row was taken by another key)."""
        lost, key = proposed.row["id"], (proposed.rule.name, proposed.article.story_id)
        del self._known[key]
        winner = self._winner(*key)
        outlets = [row for row in self._outlets if row["alert_id"] != lost]
        if winner is not None:
            outlets += [
                {**row, "alert_id": winner} for row in self._outlets if row["alert_id"] == lost
            ]
        self._outlets[:] = outlets

    def _winner(self, rule: str, story: int) -> str | None:
        query = select(Alert.id).where(col(Alert.rule) == rule, col(Alert.story_id) == story)
        found = self.session.exec(query).first()
        if found is not None:
            self._known[(rule, story)] = found
        return found

    def _attach(self, alert: str, article: Article) -> None:
        source = self.sources.get(article.source_id)
        row = {
            "alert_id": alert,
            "article_id": article.id,
            "source": source.name if source else "",
            "url": article.url,
            "attached_at": self.now,
        }
        self._outlets.append(row)

    def _add_deliveries(self, alert: str, rule: Rule) -> None:
        digest = rule.mode == "digest"
        for channel in rule.channels:
            row = {
                "key": alert,
                "kind": "alert",
                "rule": rule.name,
                "alert_id": alert,
                "channel": channel,
                "status": HELD if digest else PENDING,
                "digest": (rule.digest or DEFAULT_DIGEST) if digest else None,
                "created_at": self.now,
                "updated_at": self.now,
            }
            self._deliveries.append(row)
