"""Helpers for ledger and outbox tests: store articles and record their alerts the way a
run does (one transaction per batch), look at rows, build notifiers for loopback servers."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select

from alerts import (
    EmailChannel,
    Fired,
    Notifier,
    RetryPolicy,
    Rule,
    RuleSet,
    WebhookChannel,
    notifier_for,
    record_alerts,
)
from storage import ArticleIn, Delivery, Run, add_articles, ensure_sources, utcnow
from tests.servers import LoopbackHTTPServer, LoopbackSMTPServer

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
NO_JITTER = RetryPolicy(jitter=0)

WIRE = (
    "Rescue teams in the northern province worked through the night on Tuesday to reach "
    "villages cut off by floods after the river burst its banks, officials said. At least "
    "twelve people were reported missing and several thousand had left their homes, the "
    "regional governor told reporters at an emergency shelter set up in a school gym. "
    "Helicopters dropped food and drinking water to families stranded on rooftops, while "
    "army engineers tried to shore up a damaged bridge on the main road to the capital. "
    "Forecasters warned that more heavy rain was expected later in the week."
)

# The same wire story as three outlets ran it: near-duplicates, one story in the store.
OUTLETS = {
    "gazette": f"The Valley Gazette. {WIRE} Copyright 2026 The Valley Gazette.",
    "courier": f"{WIRE} Sign up for the Courier's morning newsletter.",
    "herald": WIRE.replace("Tuesday", "Tuesday night").replace("twelve", "12"),
}


def article(
    n: int | str,
    text: str,
    *,
    source: str = "desk",
    title: str | None = None,
    published_at: datetime | None = None,
) -> ArticleIn:
    return ArticleIn(
        url=f"https://{source}.test/{n}",
        source=source,
        title=title or f"Story {n}",
        text=text,
        origin="page",
        published_at=published_at,
    )


def sources(engine: Engine, *specs: tuple[str, str]) -> dict[str, int]:
    """Sources by (name, kind), created if needed."""
    with Session(engine) as session:
        ids = ensure_sources(
            session=session, sources=[(name, kind, f"https://{name}.test/") for name, kind in specs]
        )
        session.commit()
    return ids


def new_run(engine: Engine) -> int:
    with Session(engine) as session:
        run = Run()
        session.add(run)
        session.commit()
        assert run.id is not None
        return run.id


def store(
    engine: Engine,
    articles: Sequence[ArticleIn],
    rules: Sequence[Rule],
    *,
    kinds: dict[str, str] | None = None,
    run_id: int | None = None,
    now: datetime | None = None,
    **options: Any,
) -> list[Fired]:
    """Store `articles` and record the alerts they fire in one transaction, like a run."""
    names = sorted({a.source for a in articles})
    ids = sources(engine, *[(name, (kinds or {}).get(name, "seeds")) for name in names])
    with Session(engine) as session:
        stored = add_articles(
            session=session, articles=articles, source_ids=ids, run_id=run_id, now=now
        )
        fired = record_alerts(
            session=session, rules=RuleSet(rules), articles=stored.new, now=now, **options
        )
        session.commit()
    return fired


def deliveries(engine: Engine, **where: Any) -> list[Delivery]:
    with Session(engine) as session:
        query = select(Delivery).order_by(col(Delivery.id))
        for name, value in where.items():
            query = query.where(getattr(Delivery, name) == value)
        return list(session.exec(query).all())


def count(engine: Engine, model: type[SQLModel]) -> int:
    with Session(engine) as session:
        return len(session.exec(select(model)).all())


def hook(server: LoopbackHTTPServer, path: str = "/hook", **changes: Any) -> Notifier:
    channel = WebhookChannel.model_validate({"type": "webhook", "url": server.url(path), **changes})
    return notifier_for("hook", channel)


def mailbox(server: LoopbackSMTPServer) -> Notifier:
    channel = EmailChannel.model_validate(
        {
            "type": "email",
            "to": ["desk@example.org"],
            "from": "newswatch@example.org",
            "smtp_host": server.host,
            "smtp_port": server.port,
        }
    )
    return notifier_for("desk", channel)


class Clock:
    """A clock tests move by hand: `clock.advance(minutes=5)`."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def rng() -> random.Random:
    return random.Random(7)
