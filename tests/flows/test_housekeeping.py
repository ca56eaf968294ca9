"""What a run tidies after its alerts went out: the story index rows past the story window,
the details of runs past `[database] run_details_days`; on both backends. A store that
refuses is a warning, never the run's failure."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from flows.housekeeping import tidy_store
from flows.pipeline import Failure
from flows.settings import DatabaseSettings, Settings
from flows.summary import RunSummary, SourceReport
from storage import ArticleIn, add_articles, ensure_sources, open_store, utcnow
from storage.models import Article, Run, StoryBand, StorySignature
from storage.runs import KEPT
from storage.stories import StoryOptions

OPTIONS = StoryOptions()
LONG_AGO = timedelta(days=30)
RECENTLY = timedelta(hours=1)
SETTINGS = Settings(path=Path("newswatch.toml"), database=DatabaseSettings(run_details_days=10))


def store_aged(engine: Engine) -> None:
    """Two articles, one stored LONG_AGO, one RECENTLY; and a run finished at each time."""
    now = utcnow()
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("desk", "feed", "https://a.test/")])
        for age, words in ((LONG_AGO, "floods cut off the valley"), (RECENTLY, "port strike")):
            body = " ".join([words] * 20)
            url = f"https://a.test/{age.days}"
            article = ArticleIn(url=url, source="desk", title=words, text=body, origin="page")
            add_articles(
                session=session, articles=[article], source_ids=ids, run_id=None, now=now - age
            )
            summary = RunSummary(run_id=None, started_at=now - age, finished_at=now - age)
            summary.sources.append(SourceReport("desk", "feed", found=1, new=1, failures=1))
            summary.failures.append(Failure("desk", url, "HTTP 404"))
            session.add(
                Run(
                    started_at=now - age,
                    finished_at=now - age,
                    status="completed",
                    summary=json.dumps(summary.record()),
                )
            )
        session.commit()


def counts(engine: Engine) -> tuple[int, int, int]:
    """(articles, signatures, band keys) in the store."""
    with Session(engine) as session:
        return tuple(  # type: ignore[return-value]
            session.exec(select(func.count()).select_from(table)).one()
            for table in (Article, StorySignature, StoryBand)
        )


def test_a_run_removes_old_index_rows_and_old_runs_details_and_keeps_the_rest(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="housekeeping")
    store_aged(engine)

    tidied = tidy_store(engine, settings=SETTINGS, log=logging.getLogger("housekeeping"))

    assert tidied == (1, 1)
    assert counts(engine) == (2, 1, OPTIONS.bands)  # the articles stay
    with Session(engine) as session:
        old, recent = session.exec(select(Run).order_by(Run.started_at)).all()  # type: ignore[arg-type]
    kept = json.loads(old.summary or "")
    assert set(kept) <= set(KEPT) and kept["totals"]["failures"] == 1
    assert old.details_removed_at is not None and recent.details_removed_at is None
    assert json.loads(recent.summary or "")["failures"][0]["reason"] == "HTTP 404"
    assert "past the story window removed (1), details of runs past 10 days dropped (1)" in (
        caplog.text
    )
    assert tidy_store(engine, settings=SETTINGS, log=logging.getLogger("housekeeping")) == (0, 0)


@pytest.mark.postgres
def test_a_store_refusing_the_removal_is_a_one_line_warning_and_loses_nothing(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = open_store(postgres_url)
    try:
        store_aged(engine)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'band keys are read-only here'; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE DELETE ON story_bands "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
        log = logging.getLogger("housekeeping")

        assert tidy_store(engine, settings=SETTINGS, log=log) is None

        (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert warning.getMessage().startswith("store: old rows not tidied this run: ")
        assert "band keys are read-only here" in warning.getMessage()
        assert "\n" not in warning.getMessage()
        assert counts(engine) == (2, 2, 2 * OPTIONS.bands)  # rolled back whole
        with Session(engine) as session:
            trimmed = session.exec(select(Run).where(Run.details_removed_at.is_not(None))).all()  # type: ignore[union-attr]
        assert trimmed == []
    finally:
        engine.dispose()
