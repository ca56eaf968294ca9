"""What a run tidies after its alerts went out: the story index rows past the story window,
removed on both backends; a store that refuses is a warning, never the run's failure."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from flows.monitor import prune_stale_index
from storage import ArticleIn, StoryOptions, add_articles, ensure_sources, open_store, utcnow
from storage.models import Article, StoryBand, StorySignature

OPTIONS = StoryOptions()
LONG_AGO = timedelta(days=30)
RECENTLY = timedelta(hours=1)


def store_aged(engine: Engine) -> None:
    """Two articles, one stored LONG_AGO, one RECENTLY."""
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
        session.commit()


def counts(engine: Engine) -> tuple[int, int, int]:
    """(articles, signatures, band keys) in the store."""
    with Session(engine) as session:
        return tuple(  # type: ignore[return-value]
            session.exec(select(func.count()).select_from(table)).one()
            for table in (Article, StorySignature, StoryBand)
        )


def test_a_run_removes_the_index_rows_of_articles_past_the_story_window(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="housekeeping")
    store_aged(engine)

    removed = prune_stale_index(engine, options=OPTIONS, log=logging.getLogger("housekeeping"))

    assert removed == 1
    assert counts(engine) == (2, 1, OPTIONS.bands)  # the articles stay
    assert "rows past the story window removed (articles: 1)" in caplog.text


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

        assert prune_stale_index(engine, options=OPTIONS, log=log) is None

        (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert warning.getMessage().startswith("story index: old rows not removed this run: ")
        assert "band keys are read-only here" in warning.getMessage()
        assert "\n" not in warning.getMessage()
        assert counts(engine) == (2, 2, 2 * OPTIONS.bands)  # rolled back whole
    finally:
        engine.dispose()
