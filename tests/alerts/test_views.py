"""`list_alerts`, what `newswatch alerts list` shows: filtered by run and rule, limited,
read a page at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

import alerts.views
from alerts import Rule, list_alerts
from tests.alerts.kit import T0, article, new_run, store

LAUNCHERS = Rule(name="launchers", query='"missile launcher"')
FLOODS = Rule(name="floods", query="flood*")


def one_story(n: int, subject: str) -> str:
    """A text about `subject` that no other text here shares a story with."""
    return f"{subject} reported on day {n}. " + " ".join(f"d{n}w{k}" for k in range(40))


def test_alerts_are_listed_by_run_and_rule_newest_first(engine: Engine) -> None:
    first, second = new_run(engine), new_run(engine)
    for hour, (n, subject, run) in enumerate(
        [
            (1, "A missile launcher", first),
            (2, "Floods and a missile launcher", second),
            (3, "Flooding", second),
        ]
    ):
        text = one_story(n, subject)
        store(
            engine,
            [article(n, text)],
            [LAUNCHERS, FLOODS],
            run_id=run,
            now=T0 + timedelta(hours=hour),
        )

    def listed(**where: object) -> list[tuple[str, str]]:
        with Session(engine) as session:
            views = list_alerts(session=session, **where)  # type: ignore[arg-type]
        return [(view.rule, view.title) for view in views]

    assert listed(run_id=first) == [("launchers", "Story 1")]
    assert listed(run_id=second, rule="floods") == [("floods", "Story 3"), ("floods", "Story 2")]
    assert listed(rule="launchers") == [("launchers", "Story 2"), ("launchers", "Story 1")]
    assert listed(run_id=second + 1) == []


def test_a_limit_stops_the_listing_at_the_newest_alerts_across_pages(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alerts.views, "_PAGE", 2)  # five alerts: three pages
    for n in range(5):
        text = one_story(n, "A missile launcher")
        store(engine, [article(n, text)], [LAUNCHERS], now=T0 + timedelta(minutes=n))

    with Session(engine) as session:
        everything = list_alerts(session=session)
        newest = list_alerts(session=session, limit=3)

    assert [view.title for view in everything] == [f"Story {n}" for n in (4, 3, 2, 1, 0)]
    assert [view.title for view in newest] == ["Story 4", "Story 3", "Story 2"]
