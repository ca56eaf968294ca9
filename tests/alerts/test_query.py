"""The rule query language: what parses to which tree, and what is rejected where."""

from __future__ import annotations

import dataclasses

import pytest

from alerts import Query, QueryError, parse_query
from alerts.query import MAX_DEPTH, And, Node, Not, Or, Term


def shape(node: Node) -> object:
    """The tree as nested tuples, e.g. ("AND", "a", ("NOT", "b")), to compare readably."""
    if isinstance(node, Term):
        return node.text
    if isinstance(node, Not):
        return ("NOT", shape(node.child))
    label = "AND" if isinstance(node, And) else "OR"
    return (label, *(shape(child) for child in node.children))


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("missile", "missile"),
        ('"missile launcher"', "missile launcher"),
        ("“missile launcher”", "missile launcher"),
        ("missile launcher", ("AND", "missile", "launcher")),
        ("a AND b", ("AND", "a", "b")),
        ("a AND b OR c", ("OR", ("AND", "a", "b"), "c")),
        ("a OR b c", ("OR", "a", ("AND", "b", "c"))),
        ("a OR b OR c", ("OR", "a", "b", "c")),
        ("NOT a b", ("AND", ("NOT", "a"), "b")),
        ("b NOT a OR c", ("OR", ("AND", "b", ("NOT", "a")), "c")),
        ("a -b", ("AND", "a", ("NOT", "b"))),
        ('a -"b c"', ("AND", "a", ("NOT", "b c"))),
        ("-(a OR b) c", ("AND", ("NOT", ("OR", "a", "b")), "c")),
        ("a (b OR c)", ("AND", "a", ("OR", "b", "c"))),
        ("(a OR b) AND (c OR d)", ("AND", ("OR", "a", "b"), ("OR", "c", "d"))),
        ("a and b or not c", ("AND", "a", "and", "b", "or", "not", "c")),
        ("covid-19 U.S.", ("AND", "covid-19", "U.S.")),
        ('kim"missile launcher"', ("AND", "kim", "missile launcher")),
    ],
)
def test_query_parses_to_tree_with_not_over_and_over_or(query: str, tree: object) -> None:
    assert shape(parse_query(query).root) == tree


@pytest.mark.parametrize(
    ("query", "message", "position"),
    [
        ("", "empty query", 0),
        ("   ", "empty query", 0),
        ('missiles "launcher', "unclosed quote", 9),
        ('""', "empty phrase", 0),
        ('kim "  "', "empty phrase", 4),
        ('"..."', "empty phrase", 0),
        ("(a OR b", "unclosed parenthesis", 0),
        ("a (b (c)", "unclosed parenthesis", 2),
        ("a OR b)", "unmatched ')'", 6),
        (")", "unmatched ')'", 0),
        ("a ()", "empty parentheses", 2),
        ("a AND", "dangling AND", 2),
        ("AND a", "dangling AND", 0),
        ("OR a", "dangling OR", 0),
        ("a OR OR b", "dangling OR", 2),
        ("a OR", "dangling OR", 2),
        ("(a OR) b", "dangling OR", 3),
        ("a NOT", "dangling NOT", 2),
        ("a -", "dangling '-'", 2),
        ("a - b", "dangling '-'", 2),
        ("-drill", "only negations here, nothing that must appear", 0),
        ("NOT a -b", "only negations here, nothing that must appear", 0),
        ("a OR -b", "only negations here, nothing that must appear", 5),
        ("a OR NOT NOT b", "only negations here, nothing that must appear", 5),
        ("... kim", "term without letters or digits", 0),
        ("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1), "nesting deeper than 64 levels", 64),
    ],
)
def test_invalid_query_is_rejected_with_one_line_naming_the_position(
    query: str, message: str, position: int
) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert str(caught.value) == f"{message} at position {position}"
    assert (caught.value.query, caught.value.position) == (query, position)


def test_deep_not_chain_fails_with_query_error_not_recursion_error() -> None:
    with pytest.raises(QueryError, match="nesting deeper than"):
        parse_query("a " + "NOT " * 10_000 + "b")


def test_long_flat_query_parses_without_recursing_per_term() -> None:
    query = parse_query(" OR ".join(f"w{number}" for number in range(5_000)))
    assert isinstance(query.root, Or) and len(query.root.children) == 5_000


def test_parsed_query_and_its_nodes_are_immutable() -> None:
    query = parse_query("a -b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.text = "c"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.root.children = ()  # type: ignore[misc, union-attr]


def test_equal_queries_parse_to_equal_hashable_trees() -> None:
    assert parse_query("a (b OR c)") == parse_query("a (b OR c)")
    assert len({parse_query("a b"), parse_query("a b")}) == 1
    assert isinstance(parse_query("a"), Query)


def test_regex_metacharacters_in_a_query_are_plain_text() -> None:
    query = parse_query('"(a+)+$" OR "[x]*"')
    assert query.match(title="", text="we saw a here") is not None
    assert query.match(title="", text="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!") is None
