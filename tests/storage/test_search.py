"""Full-text search and recent stories, on SQLite (FTS5) and PostgreSQL (tsvector + GIN)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from storage import (
    Article,
    ArticleIn,
    SearchHit,
    add_articles,
    ensure_sources,
    open_store,
    recent_stories,
    search,
)
from storage.models import EntryGuid, StoryBand, StorySignature
from storage.search import fts5_query, parse_query, websearch_query
from tests.conftest import CORPUS as SHARED_CORPUS
from tests.conftest import shared_path

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
SOURCES = ("desk", "wire", "gazette")

# (key, source, title, text, published_at)
CORPUS = [
    ("title", "desk", "Missile test over the sea", "Officials confirmed a launch on Monday.",
     datetime(2024, 3, 1, tzinfo=UTC)),
    ("text", "wire", "Markets wobble",
     "Stocks fell after a missile test rattled investors in Pjongjang and Tokyo.",
     datetime(2024, 1, 10, tzinfo=UTC)),
    ("apart", "desk", "Exam season",
     "The school held a test. Later a missile replica was shown in a museum.", None),
    ("accent", "gazette", "Talks in Seoul",
     "Envoys from Pjöngjang met in Seoul [officially] to discuss the border.",
     datetime(2024, 2, 1, tzinfo=UTC)),
] + [
    (f"filler{n}", "gazette", f"Weather report {n}",
     f"Rain and sun across the region on day {n}, with wind from the {side}.", None)
    for n, side in enumerate(["north", "south", "east", "west", "coast", "hills"])
]  # fmt: skip


Row = tuple[str, str, str, str, datetime | None]


def store(engine: Engine, rows: list[Row], *, now: datetime | None = None) -> dict[str, int]:
    """Store `rows`; the ids of the stored articles by key."""
    articles = [
        ArticleIn(
            url=f"https://{source}.test/{key}",
            source=source,
            title=title,
            text=body,
            origin="page",
            published_at=published,
        )
        for key, source, title, body, published in rows
    ]
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[(s, "feed", s) for s in SOURCES])
        stored = add_articles(
            session=session, articles=articles, source_ids=ids, run_id=None, now=now
        )
        session.commit()
        by_url = {article.url: article.id for article in stored.new}
    return {key: by_url[f"https://{source}.test/{key}"] for key, source, *_ in rows}


@pytest.fixture
def corpus(engine: Engine) -> dict[str, int]:
    return store(engine, CORPUS, now=NOW)


def keys(engine: Engine, ids: dict[str, int], query: str, **filters: object) -> list[str]:
    names = {article_id: key for key, article_id in ids.items()}
    with Session(engine) as session:
        return [names[hit.article_id] for hit in search(session=session, query=query, **filters)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("missile", ["title", "text", "apart"]),
        ("MISSILE Test", ["title", "text", "apart"]),
        ('"missile test"', ["title", "text"]),  # a phrase, not two words anywhere
        ('"test missile"', []),
        ("missile -stocks", ["title", "apart"]),
        ('missile -"missile test"', ["apart"]),
        ("museum OR tokyo", ["text", "apart"]),
        ("museum OR weather report 3", ["filler3", "apart"]),
        ("Pjöngjang", ["text", "accent"]),  # diacritics folded, both ways
        ("pjongjang seoul", ["accent"]),
        ("dinosaur", []),
    ],
)
def test_search_matches_like_the_query_says(
    engine: Engine, corpus: dict[str, int], query: str, expected: list[str]
) -> None:
    if "ö" in query or "pjongjang" in query:
        _needs_unaccent(engine)
    assert sorted(keys(engine, corpus, query)) == sorted(expected)


@pytest.mark.parametrize(
    ("query", "ranked"),
    [
        ("missile", ["title", "text", "apart"]),  # in the title beats in the text
        ("missile test", ["title", "text", "apart"]),  # then words together beat words apart
        ("sea OR stocks", ["title", "text"]),
    ],
)
def test_title_matches_rank_first(
    engine: Engine, corpus: dict[str, int], query: str, ranked: list[str]
) -> None:
    assert keys(engine, corpus, query) == ranked


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"since": datetime(2024, 2, 1, tzinfo=UTC)}, {"title", "apart"}),  # apart: fetch time
        ({"since": NOW + timedelta(days=365)}, set()),
        ({"source": "wire"}, {"text"}),
        ({"source": "desk", "since": datetime(2024, 2, 1, tzinfo=UTC)}, {"title", "apart"}),
        ({"source": "nobody"}, set()),
        ({"until": datetime(2024, 3, 1, tzinfo=UTC)}, {"text"}),  # until: not at it
        ({"until": NOW}, {"text", "title"}),  # apart was fetched at NOW
        (
            {"since": datetime(2024, 2, 1, tzinfo=UTC), "until": NOW + timedelta(1)},
            {"title", "apart"},
        ),
    ],
)
def test_since_until_and_source_filter(
    engine: Engine, corpus: dict[str, int], filters: dict[str, object], expected: set[str]
) -> None:
    # The `apart` article has no publication date: its fetch time, NOW, counts instead.
    assert set(keys(engine, corpus, "missile", **filters)) == expected


def test_snippet_marks_the_matched_words_and_keeps_literal_brackets_apart(
    engine: Engine, corpus: dict[str, int]
) -> None:
    with Session(engine) as session:
        (hit,) = search(session=session, query="envoys border", limit=5)
    assert "[Envoys]" in hit.snippet
    assert "[border]" in hit.snippet
    assert "(officially)" in hit.snippet  # the text's own brackets are not highlights
    assert hit.highlights == ["Envoys", "border"]


def test_hits_have_the_same_shape_on_every_backend(engine: Engine, corpus: dict[str, int]) -> None:
    with Session(engine) as session:
        hits = search(session=session, query="missile", limit=2)
    assert [type(hit) for hit in hits] == [SearchHit, SearchHit]
    best, second = hits
    assert best.article_id == corpus["title"]
    assert (best.title, best.url, best.source) == (
        "Missile test over the sea",
        "https://desk.test/title",
        "desk",
    )
    assert best.published_at == datetime(2024, 3, 1, tzinfo=UTC)
    assert isinstance(best.story_id, int)
    assert isinstance(best.score, float)
    assert best.score > second.score > 0
    assert list(best.to_dict()) == [
        "article_id",
        "title",
        "url",
        "source",
        "published_at",
        "story_id",
        "score",
        "snippet",
        "highlights",
    ]
    assert best.to_dict()["published_at"] == "2024-03-01T00:00:00+00:00"


def test_both_backends_rank_alike(sqlite_url: str, postgres_url: str) -> None:
    engines = [open_store(sqlite_url), open_store(postgres_url)]
    try:
        corpora = [store(engine, CORPUS) for engine in engines]
        for query in ["missile", "missile test", '"missile test"', "rain -north", "seoul"]:
            sqlite_keys, postgres_keys = (
                keys(engine, ids, query) for engine, ids in zip(engines, corpora, strict=True)
            )
            assert sqlite_keys == postgres_keys, query
    finally:
        for engine in engines:
            engine.dispose()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty search query: give at least one word to look for"),
        ("   \t", "empty search query: give at least one word to look for"),
        ('"', "no words to look for in search query '\"'"),
        ("* ( ) -", "no words to look for in search query '* ( ) -'"),
        ("-missile", "search query '-missile' excludes words but looks for none"),
        ("rain OR -sun", "search query 'rain OR -sun' excludes words but looks for none"),
    ],
)
def test_queries_with_nothing_to_find_are_value_errors(
    engine: Engine, query: str, message: str
) -> None:
    with Session(engine) as session, pytest.raises(ValueError) as raised:
        search(session=session, query=query)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "query",
    [
        'missile "',
        "AND (",
        "missile*",
        "NEAR(missile test)",
        "'; DROP TABLE articles; --",
        "title:missile",
        "missile OR OR",
        "OR",  # a lone OR is no word: ValueError below, as for "AND ("
        '"unclosed phrase',
        "^missile",
        "missile + test & !stocks | (sea)",
        "\\x00 %s {0} $1",
    ],
)
def test_hostile_queries_never_reach_the_engine_as_syntax(
    engine: Engine, corpus: dict[str, int], query: str
) -> None:
    with Session(engine) as session:
        try:
            hits = search(session=session, query=query)
        except ValueError:
            assert query in {"OR", "AND ("}  # operators and a bracket: no word to look for
            return
        except SQLAlchemyError as error:  # pragma: no cover - the failure being tested for
            pytest.fail(f"{query!r} raised {error}")
        assert isinstance(hits, list)
        assert session.exec(select(Article)).first() is not None  # nothing dropped


@pytest.mark.parametrize(
    ("query", "fts5", "websearch"),
    [
        ("missile", '"missile"', '"missile"'),
        ('"north korea" missile', '"north korea" "missile"', '"north korea" "missile"'),
        ("-test missile", '"missile" NOT "test"', '-"test" "missile"'),
        ("a OR b c", '("a") OR ("b" "c")', '"a" or "b" "c"'),
        ("NEAR(x) AND y", '"NEAR(x)" "y"', '"NEAR(x)" "y"'),  # AND as the rules write it
        ("missile NOT drill", '"missile" NOT "drill"', '"missile" -"drill"'),
        ('"AND" and missile', '"AND" "and" "missile"', '"AND" "and" "missile"'),  # words
        ("a NOT", '"a"', '"a"'),
        ('"open phrase', '"open phrase"', '"open phrase"'),
        ("it's", '"it\'s"', '"it\'s"'),
        ("a-b -c", '"a-b" NOT "c"', '"a-b" -"c"'),
    ],
)
def test_query_translation(query: str, fts5: str, websearch: str) -> None:
    groups = parse_query(query)
    assert fts5_query(groups) == fts5
    assert websearch_query(groups) == websearch


def test_fts_index_follows_updates_and_deletes(engine: Engine, corpus: dict[str, int]) -> None:
    with Session(engine) as session:
        article = session.get(Article, corpus["title"])
        assert article is not None
        article.title = "Rocket trial over the sea"
        session.add(article)
        session.commit()
    assert keys(engine, corpus, "missile") == ["text", "apart"]
    assert keys(engine, corpus, "rocket") == ["title"]
    with Session(engine) as session:
        doomed = corpus["apart"]
        for table in (StoryBand, StorySignature, EntryGuid):
            session.execute(delete(table).where(table.article_id == doomed))  # type: ignore[attr-defined]
        session.execute(delete(Article).where(Article.id == doomed))  # type: ignore[arg-type]
        session.commit()
    assert keys(engine, corpus, "missile") == ["text"]
    assert keys(engine, corpus, "museum") == []


def test_migration_indexes_articles_stored_before_it(database_url: str) -> None:
    from storage.migrate import downgrade, upgrade

    engine = open_store(database_url)
    ids = store(engine, CORPUS)
    downgrade(engine, revision="0001_baseline")
    upgrade(engine)
    assert keys(engine, ids, "museum") == ["apart"]
    engine.dispose()


WIRE = (
    "The central bank raised its main interest rate by a quarter point on Tuesday, "
    "citing persistent inflation in services and a labour market that remains tight. "
    "Officials said further increases were possible if price pressures failed to ease, "
    "and markets moved quickly to price in another rise before the end of the year."
)


def copy(key: str, source: str) -> Row:
    return (key, source, f"Bank raises rates ({key})", f"{WIRE} Reported for {key}.", None)


def test_recent_stories_biggest_first_with_outlets_in_order(engine: Engine) -> None:
    earlier, later = NOW - timedelta(hours=5), NOW
    store(engine, [copy("first", "wire"), copy("second", "desk"), CORPUS[0]], now=earlier)
    store(engine, [copy("third", "gazette"), copy("fourth", "wire"), CORPUS[1]], now=later)
    with Session(engine) as session:
        biggest, *rest = recent_stories(session=session)
        assert biggest.article_count == 4
        assert biggest.title == "Bank raises rates (first)"
        assert biggest.outlets == ["wire", "desk", "gazette"]  # each once, first to run it first
        assert biggest.first_url == "https://wire.test/first"
        assert (biggest.first_seen_at, biggest.last_seen_at) == (earlier, later)
        assert [(s.title, s.article_count) for s in rest] == [
            ("Markets wobble", 1),  # seen later than the other single
            ("Missile test over the sea", 1),
        ]
        assert [s.title for s in recent_stories(session=session, since=later)] == [
            "Bank raises rates (first)",
            "Markets wobble",
        ]
        assert len(recent_stories(session=session, limit=1)) == 1
        assert [s.title for s in recent_stories(session=session, until=later)] == [
            "Bank raises rates (first)",  # first seen earlier, seen again later
            "Missile test over the sea",
        ]
    assert biggest.to_dict()["last_seen_at"] == "2024-03-10T12:00:00+00:00"


def test_a_phrase_from_any_real_article_finds_that_article(engine: Engine) -> None:
    """The shared corpus (English, Russian, German, ...): four consecutive words from
    the middle of each body, as a phrase, find that body on both backends."""
    truth = json.loads(shared_path(SHARED_CORPUS / "articles" / "ground-truth.json").read_text())
    bodies = {entry["url"]: entry["articleBody"] for entry in truth.values()}
    articles = [
        ArticleIn(url=url, source="desk", title=body[:60], text=body, origin="page")
        for url, body in bodies.items()
    ]
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("desk", "feed", "x")])
        stored = add_articles(session=session, articles=articles, source_ids=ids, run_id=None)
        session.commit()
        missed = []
        for article in stored.new:
            phrase = _middle_words(article.text, 4)
            if not phrase:  # no four plain words in a row (a text without spaces)
                continue
            hits = search(session=session, query=f'"{phrase}"', limit=50)
            if article.id not in [hit.article_id for hit in hits]:
                missed.append(phrase)
    assert len(stored.new) > 150
    assert missed == []


def _middle_words(body: str, count: int) -> str:
    words = body.split()
    for start in range(len(words) // 2, len(words) - count):
        run = words[start : start + count]
        if all(word.isalpha() for word in run):
            return " ".join(run)
    return ""


def test_recent_stories_of_an_empty_store(engine: Engine) -> None:
    with Session(engine) as session:
        assert recent_stories(session=session) == []


def _needs_unaccent(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        query = "SELECT 1 FROM pg_extension WHERE extname = 'unaccent'"
        if connection.execute(text(query)).first() is None:
            pytest.skip("this PostgreSQL has no unaccent extension: accents must match there")
