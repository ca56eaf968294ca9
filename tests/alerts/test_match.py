"""Matching rules against articles: what hits, where, and the snippet an alert quotes."""

from __future__ import annotations

import pytest

from alerts import Document, Match, parse_query
from alerts.match import ELLIPSIS, make_snippet, tokenise

KIM = "Kim Jong Un calls for expanded missile launcher production"


@pytest.mark.parametrize(
    ("query", "text", "matches"),
    [
        # phrases: consecutive words, split only by whitespace or hyphens/dashes
        ('"missile launcher"', KIM, True),
        ('"missile launcher"', "Parade of mobile missile launchers", True),
        ('"missile launcher"', "a Missile-Launcher was seen", True),
        ('"missile launcher"', "the missile\nlauncher", True),
        ('"missile launcher"', "the missile\u00a0launcher", True),
        ('"missile launcher"', "a missile \u2014 launcher", True),
        ('"missile launcher"', "the missile launcher's range", True),
        ('"missile launcher"', "the missile launcher\u2019s range", True),
        ('"missile launcher"', "the missile launcherette", False),
        ('"missile launcher"', "It fired missiles. Launcher crews cheered", False),
        ('"missile launcher"', "a missile, launcher", False),
        ('"missile launcher"', "a missilelauncher", False),
        ('"missile launcher"', "a launcher missile", False),
        # case and diacritics
        ("Pjöngjang", "News from PJONGJANG today", True),
        ("pjongjang", "Nachrichten aus Pjöngjang", True),
        ("Straße", "die STRASSE war leer", True),
        ("café", "CAFÉ", True),
        # inflection by variant expansion: +s, +es, y→ies, 's, s'
        ("launcher", "two launchers", True),
        ("box", "boxes of ammunition", True),
        ("party", "rival parties met", True),
        ("minister", "the minister's aide", True),
        ("minister", "the ministers' aides", True),
        ("business", "a busy week", False),
        ("busy", "business as usual", False),
        ("launcher", "launcherette", False),
        ("launch", "launcher", False),
        ("launchers", "one launcher", False),
        # whole words in any script
        ("हिन्दी", "यह हिन्दी है", True),
        ("हिन", "यह हिन्दी है", False),
        ("北朝鲜", "今天北朝鲜发射了导弹", True),
        ("Пхеньян", "Заявление Пхеньяна", False),
        ("Пхеньян", "Сегодня ПХЕНЬЯН заявил", True),
        # punctuation written in the query is kept, whitespace always joins
        ("U.S.", "The U.S. said", True),
        ("covid-19", "COVID 19 cases", True),
        ("covid-19", "covid19 cases", False),
        # boolean structure
        ("kim launcher", KIM, True),
        ("kim drone", KIM, False),
        ("drone OR launcher", KIM, True),
        ("kim -launcher", KIM, False),
        ("kim NOT drone", KIM, True),
        ("(drone OR missile) AND NOT (parade OR drill)", KIM, True),
        ("drone OR kim -missile", KIM, False),
    ],
)
def test_query_matches_whole_words_ignoring_case_accents_and_plurals(
    query: str, text: str, matches: bool
) -> None:
    assert (parse_query(query).match(title="", text=text) is not None) is matches


def test_hit_offsets_point_into_the_original_text() -> None:
    text = "Berichte aus  PJÖNGJANG,\nheute"
    found = parse_query("pjongjang").match(title="", text=text)
    assert found is not None
    assert text[found.start : found.end] == "PJÖNGJANG"
    assert found.field == "text"


def test_phrase_hit_spans_from_first_to_last_word_across_a_line_break() -> None:
    text = "Satellite images show a missile\r\nlaunchers' base."
    found = parse_query('"missile launcher"').match(title="", text=text)
    assert found is not None
    assert text[found.start : found.end] == "missile\r\nlaunchers"
    assert found.snippet[found.snippet_start : found.snippet_end] == "missile launchers"


def test_first_hit_is_the_earliest_in_the_text_even_when_the_title_also_hits() -> None:
    found = parse_query("launcher OR kim").match(title="Launcher news", text=KIM)
    assert found is not None
    assert (found.field, found.start, found.end) == ("text", 0, 3)
    assert found.snippet == KIM


def test_snippet_comes_from_the_title_when_only_the_title_hits() -> None:
    found = parse_query("parade").match(title="A Parade in Pyongyang", text=KIM)
    assert found == Match(
        terms=("parade",),
        field="title",
        start=2,
        end=8,
        snippet="A Parade in Pyongyang",
        snippet_start=2,
        snippet_end=8,
    )


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ('kim "missile launcher"', ("kim", "missile launcher")),
        ("drone OR Missile OR Kim", ("Missile", "Kim")),
        ("kim -drone", ("kim",)),
        ("(kim drone) OR launcher", ("launcher",)),
        ("kim OR kim", ("kim",)),
    ],
)
def test_terms_are_the_positive_terms_that_hit_as_written(
    query: str, terms: tuple[str, ...]
) -> None:
    found = parse_query(query).match(title="", text=KIM)
    assert found is not None and found.terms == terms


def test_article_without_the_terms_gives_none_and_the_title_counts_as_a_field() -> None:
    assert parse_query("drone").match(title="Parade", text=KIM) is None
    assert parse_query("drone").match(title="Drones", text=KIM) is not None


def test_one_document_is_tokenised_once_for_many_queries() -> None:
    document = Document.of(title="Parade", text=KIM)
    queries = [parse_query(text) for text in ("kim", "parade", "drone")]
    found = [query.match_document(document) for query in queries]
    assert [hit.terms if hit else None for hit in found] == [("kim",), ("parade",), None]


LONG = " ".join(f"word{number:03d}" for number in range(200))


@pytest.mark.parametrize(
    ("text", "start", "end", "snippet", "hit"),
    [
        ("short  text\n\twith   space", 7, 11, "short text with space", "text"),
        ("a missile\n\nlauncher b", 2, 19, "a missile launcher b", "missile launcher"),
    ],
)
def test_snippet_collapses_whitespace_and_locates_the_hit(
    text: str, start: int, end: int, snippet: str, hit: str
) -> None:
    made, hit_start, hit_end = make_snippet(text, start=start, end=end)
    assert made == snippet
    assert made[hit_start:hit_end] == hit


@pytest.mark.parametrize(
    ("target", "head", "tail"),
    [("word000", "", ELLIPSIS), ("word100", ELLIPSIS, ELLIPSIS), ("word199", ELLIPSIS, "")],
)
def test_long_text_snippet_is_about_240_chars_cut_at_words_with_ellipses(
    target: str, head: str, tail: str
) -> None:
    start = LONG.index(target)
    snippet, hit_start, hit_end = make_snippet(LONG, start=start, end=start + len(target))
    assert snippet[hit_start:hit_end] == target
    assert 200 <= len(snippet) <= 242
    assert snippet.startswith(head) and snippet.endswith(tail)
    inner = snippet.removeprefix(ELLIPSIS).removesuffix(ELLIPSIS)
    assert all(word in LONG.split() for word in inner.split())


def test_match_snippet_bolds_the_hit_in_a_long_article() -> None:
    text = LONG + " the missile launcher " + LONG
    found = parse_query('"missile launcher"').match(title="", text=text)
    assert found is not None
    assert found.snippet[found.snippet_start : found.snippet_end] == "missile launcher"
    assert found.snippet.startswith(ELLIPSIS) and found.snippet.endswith(ELLIPSIS)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Kim's  missile-launcher", ["kim's", "missile", "launcher"]),
        ("Pjöngjang’s", ["pjongjang's"]),
        # one word each despite Python's \w skipping marks; the virama (a combining
        # mark) is dropped from the key, on the query side too
        ("हिन्दी भाषा", ["हिनदी", "भाषा"]),
        ("北朝鲜 test", ["北", "朝", "鲜", "test"]),
        ("ﬁre", ["fire"]),
    ],
)
def test_tokens_are_normalised_words_with_spans_into_the_original(
    text: str, tokens: list[str]
) -> None:
    found = tokenise(text)
    assert [token.key for token in found] == tokens
    assert all(text[token.start : token.end].strip() for token in found)


def test_matching_a_huge_repetitive_text_stays_fast_and_correct() -> None:
    text = "missile " * 200_000 + "launcher"
    found = parse_query('"missile missile launcher"').match(title="", text=text)
    assert found is not None
    assert text[found.start : found.end] == "missile missile launcher"
