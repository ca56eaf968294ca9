"""The rule query language under fuzzing (tests only: alerts/query.py is not ours here).

Whatever a rule says, `parse_query` returns a query or raises one `QueryError` line
whose 0-based position lies inside the query; a query that parsed matches any
article without crashing, and neither step is slow however the query is built.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts import Query, QueryError, parse_query
from tests.security.fuzz import NASTY, fuzz_settings, hostile_text

SYNTAX = ['"', "(", ")", "-", "*", "OR", "AND", "NOT", "NEAR", "NEAR/3", "NEAR/101", ":"]
FIELDS = ["title:", "text:", "source:", "site:", "lang:", 'source:"desk seeds"', "site:x.org"]
WORDS = ["missile", "launcher", "kim", "launch*", "U.S.", "covid-19", "Pjöngjang", "l'Élysée"]

query_text = st.lists(
    st.one_of(st.sampled_from(SYNTAX + FIELDS + WORDS + NASTY), st.text(max_size=6)),
    max_size=30,
).flatmap(
    lambda parts: st.lists(
        st.sampled_from([" ", "", "  ", "\n"]), min_size=len(parts), max_size=len(parts)
    ).map(lambda gaps: "".join(p + g for p, g in zip(parts, gaps, strict=True)))
)


def parsed_or_error(query: str) -> Query | None:
    try:
        return parse_query(query)
    except QueryError as error:
        assert 0 <= error.position <= len(query), (error.position, len(query))
        assert "\n" not in str(error) and "\r" not in str(error), str(error)
        assert str(error).endswith(f"at position {error.position}"), str(error)
        return None


@fuzz_settings(400)
@given(query=st.one_of(query_text, hostile_text, st.text(max_size=200)))
def test_fuzz_any_query_parses_or_is_one_query_error_with_its_position(query: str) -> None:
    parsed_or_error(query)


@pytest.mark.parametrize("query", ["(", "( ", "kim (", "kim OR (", "NOT (", "-(", "title:("])
def test_a_query_ending_in_an_open_group_is_a_query_error(query: str) -> None:
    with pytest.raises(QueryError, match="position"):
        parse_query(query)


@fuzz_settings(200)
@given(query=query_text, title=hostile_text, text=st.one_of(hostile_text, query_text))
def test_fuzz_a_parsed_query_matches_any_article_without_crashing(
    query: str, title: str, text: str
) -> None:
    parsed = parsed_or_error(query)
    if parsed is None:
        return
    found = parsed.match(title=title, text=text)
    assert found is None or found.terms


@fuzz_settings(150)
@given(word=st.sampled_from(["missile", "launcher", "kim", "drone"]), noise=hostile_text)
def test_fuzz_a_word_is_found_whatever_surrounds_it(word: str, noise: str) -> None:
    query = parse_query(word)
    assert query.match(title="", text=f"{noise} {word} {noise}") is not None or (
        # noise may glue itself to the word ("x" + "missile"): then it is another word
        not noise[-1:].isspace() and noise[-1:].isalnum()
    )


HUGE = [
    "(" * 64 + "kim" + ")" * 64,
    "(" * 65 + "kim" + ")" * 65,
    "(" * 20_000,
    "-" * 19_999 + "k",
    "NOT " * 4_000 + "kim",
    " OR ".join(["kim"] * 1_000),
    " OR ".join(["kim"] * 1_001),
    '"' + " ".join(["kim"] * 64) + '"',
    '"' + " ".join(["kim"] * 5_000) + '"',
    " NEAR/100 ".join(["kim", "missile"]),
    " NEAR ".join(["kim"] * 2_000),
    "kim*" * 4_000,
    "x" * 20_000,
    "x" * 20_001,
    "\u202e" * 10_000 + "kim",
    "site:" * 3_000 + "kim",
    "kim-" * 4_000 + "x",
]
DOCUMENT = " ".join(["kim missile launcher"] * 20_000)  # 420 KB of words that all hit


def parse_and_match_seconds(query: str) -> float:
    started = time.perf_counter()
    parsed = parsed_or_error(query)
    if parsed is not None:
        parsed.match(title=DOCUMENT[:200], text=DOCUMENT)
    return time.perf_counter() - started


@pytest.mark.parametrize("query", HUGE, ids=lambda q: f"{q[:12]!r}x{len(q)}")
def test_no_query_makes_parsing_or_matching_slow(query: str) -> None:
    assert parse_and_match_seconds(query) < 2


@pytest.mark.parametrize("query", ["a:" * 3_000])
def test_words_joined_by_colons_are_rejected_quickly(query: str) -> None:
    assert parse_and_match_seconds(query) < 0.25  # was ~1 s: the lexer rescanned at each ':'
