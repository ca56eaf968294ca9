"""Matching rules against articles: tokens, lookups, what hits where, and the snippet an
alert quotes. What each query matches is specified in test_query.py."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts import Document, Match, parse_query, words
from alerts.index import TextIndex
from alerts.snippet import ELLIPSIS, make_snippet
from alerts.words import (
    Pattern,
    _token_pattern,
    fold_words,
    host_of,
    normalise,
    split_keys,
    split_words,
    tokenise,
)

KIM = "Kim Jong Un calls for expanded missile launcher production"


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
        ("ﬁre 𝐀BC", ["fire", "abc"]),
        ("İstanbul STRASSE Straße", ["istanbul", "strasse", "strasse"]),
        ("Пхеньян ПХЕНЬЯНА", ["пхеньян", "пхеньяна"]),
        ("كوريا الشمالية", ["كوريا", "الشمالية"]),
        ("ภาษาไทย ดี", ["ภาษาไทย", "ดี"]),
        ("a_b x'y ‘quoted’ o’clock", ["a_b", "x'y", "quoted", "o'clock"]),
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


def test_the_fast_word_pattern_splits_like_the_full_one_where_both_apply() -> None:
    """Texts without ideographs or astral characters take a faster pattern: every other
    BMP character, each between spaces and inside words, must split the same way."""
    chars = [chr(code) for code in range(0x20, 0x3040)] + [
        chr(code) for code in range(0xA000, 0xF900)
    ]
    chars = [char for char in chars if not 0xD800 <= ord(char) <= 0xDFFF]
    text = " ".join(chars) + " " + "x".join(chars)
    assert _token_pattern(False).split(text) == _token_pattern(True).split(text)


KIM_INDEX = TextIndex.of("Kim's missile-launchers: L'Élysée, the launch pad. Kim again")


@pytest.mark.parametrize(
    ("words", "joins", "prefix", "starts"),
    [
        (("kim",), (), False, [0, 7]),
        (("missile", "launcher"), ("",), False, [1]),
        (("launcher", "l"), ("",), False, []),  # ": " is no soft separator
        (("launch",), (), True, [2, 5]),
        (("elysee",), (), False, [3]),
        (("l'elysee", "the"), ("",), False, []),  # nor is ", "
        (("elysee", "the"), (",",), False, [3]),  # unless the query wrote it
        (("pad", "kim"), ("",), False, []),
        (("pad", "kim"), (".",), False, [6]),
    ],
)
def test_field_index_finds_pattern_starts(
    words: tuple[str, ...], joins: tuple[str, ...], prefix: bool, starts: list[int]
) -> None:
    assert KIM_INDEX.starts(Pattern.of(words, joins, prefix=prefix)) == starts


def test_field_index_also_files_elided_words_under_the_word() -> None:
    index = TextIndex.of("palais de l'Élysée à Paris")
    assert index.elided == {2: "elysee"}
    assert index.positions["elysee"] == index.positions["l'elysee"] == [2]
    assert index.has_prefix("elys") and not index.has_prefix("paz")


@pytest.mark.parametrize(
    ("site", "host"),
    [
        ("https://WWW.Example.com:8443/a?b", "www.example.com"),
        ("www.example.com.", "www.example.com"),
        ("example.com/path", "example.com"),
        ("", ""),
    ],
)
def test_document_site_is_the_lower_case_host(site: str, host: str) -> None:
    assert host_of(site) == host
    assert Document.of(title="", text="", site=site).site == host


def test_document_folds_source_and_language_like_the_query_side() -> None:
    document = Document.of(title="", text="", source="  Désk   Seeds ", lang="en_GB")
    assert (document.source, document.lang) == ("desk seeds", "en-gb")
    assert Document.of(title="", text="").lang == ""


def test_rules_hitting_the_same_words_share_one_snippet() -> None:
    document = Document.of(title="", text=KIM)
    first = parse_query("missile").match_document(document)
    second = parse_query("missile OR drone").match_document(document)
    assert first is not None and second is not None
    assert first.snippet is second.snippet
    assert second.terms == ("missile",)


def test_a_match_pickles_compares_and_hashes_as_its_seven_values() -> None:
    document = Document.of(title="Parade", text=KIM)
    lazy = parse_query("missile OR parade").match_document(document)
    assert lazy is not None
    eager = Match(*(getattr(lazy, name) for name in MATCH_FIELDS))
    restored = pickle.loads(pickle.dumps(lazy))
    assert restored == lazy == eager and hash(restored) == hash(eager)
    assert (
        repr(restored)
        == repr(eager)
        == (
            "Match(terms=('missile', 'parade'), field='text', start=31, end=38, "
            f"snippet={KIM!r}, snippet_start=31, snippet_end=38)"
        )
    )
    with pytest.raises(AttributeError):
        eager.snippet = "changed"  # type: ignore[misc]


def test_a_snippet_is_cut_only_when_read() -> None:
    document = Document.of(title="", text=KIM)
    found = parse_query("missile").match_document(document)
    assert found is not None and found.terms == ("missile",)
    assert document._snippets == {}
    assert found.snippet_start == KIM.index("missile")
    assert list(document._snippets) == [("text", found.start, found.end)]


MATCH_FIELDS = ("terms", "field", "start", "end", "snippet", "snippet_start", "snippet_end")


def test_lower_casing_keeps_every_character_in_its_class_and_its_key() -> None:
    """What lets `split_keys` split the lower-cased text: each character whose lower case
    differs, written between word characters, splits as its lower case does and folds
    to the same key; only `İ` grows, which `split_keys` leaves to the per-word path."""
    chars = [chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF]
    cased = [char for char in chars if char.lower() != char]
    assert [char for char in cased if len(char.lower()) != 1] == ["İ"]
    cased.remove("İ")
    for unusual in (False, True):
        tested = cased if unusual else [char for char in cased if ord(char) < 0x10000]
        text = "x" + "x x".join(tested) + "x"
        split = _token_pattern(unusual).split
        assert list(map(len, split(text))) == list(map(len, split(text.lower())))
    folded = [(normalise("a" + char), normalise("a" + char.lower())) for char in cased]
    assert [pair for pair in folded if pair[0] != pair[1]] == []


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(["İstanbul", "ΟΔΟΣ", "Straße", "’", " "]), st.text())))
def test_split_keys_splits_like_split_words_and_folds_each_word(pieces: list[str]) -> None:
    text = "".join(pieces)
    parts, keys = split_keys(text)
    written = split_words(text)
    assert list(map(len, parts)) == list(map(len, written))
    assert keys == [normalise(word) for word in written[1::2]]


def test_a_full_fold_cache_is_replaced_and_words_still_fold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(words._FOLDED, "limit", 2)
    for text in ("Pjöngjang Straße", "CAFÉ ﬁre Élysée", "Пхеньян ΟΔΟΣ"):
        assert fold_words(text.split()) == [normalise(word) for word in text.split()]
        assert len(words._FOLDED.known) <= 2 + len(text.split())


@pytest.mark.parametrize(
    ("text", "pairs"),
    [
        ("missile launcher", {"missile launcher"}),
        ("missile-launcher, rolled", {"missile launcher"}),  # ", " is no soft join
        ("missile\u00a0launcher — rolled", {"missile launcher", "launcher rolled"}),
        ("palais l'Élysée a", {"palais l'elysee", "palais elysee", "l'elysee a", "elysee a"}),
        ("one", set()),
    ],
)  # fmt: skip
def test_field_pairs_are_adjacent_keys_joined_softly_elisions_under_both(
    text: str, pairs: set[str]
) -> None:
    assert TextIndex.of(text).pairs == pairs


@pytest.mark.parametrize(
    ("text", "left", "right", "distance", "near"),
    [
        ("kim met with the missile crews", "kim", "missile", 3, True),
        ("kim met with the missile crews", "kim", "missile", 2, False),
        ("missiles crews saw kim", "kim", "missile", 2, True),  # either order, any form
        ("kim met kim", "kim", "kim", 1, True),
        ("kim alone", "kim", "kim", 5, False),  # one occurrence is not two
        ("l'élysée et kim", "elysee", "kim", 1, True),  # elided words too
    ],
)
def test_is_near_agrees_with_the_pairing_search(
    text: str, left: str, right: str, distance: int, near: bool
) -> None:
    index = TextIndex.of(text)
    patterns = Pattern.of((left,), ()), Pattern.of((right,), ())
    assert index.is_near(*patterns, distance) is near
    assert (index.near_starts(*patterns, distance) is not None) is near
