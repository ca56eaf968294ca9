"""The rule query language: parse a query once into an immutable tree, match it many times.

    parse_query('"missile launcher" NEAR/5 Pyongyang (drone OR Pjöng*) -drill site:reuters.com')

Grammar, loosest binding first (so NEAR binds tighter than NOT, NOT than AND, AND than OR)::

    query   := and ("OR" and)*
    and     := unary (["AND"] unary)*        adjacent terms mean AND
    unary   := ("NOT" | "-") unary | near
    near    := primary [("NEAR" | "NEAR/" N) primary]    both sides a word or phrase
    primary := WORD | WORD* | "PHRASE" | "(" query ")" | FIELD: primary

Keywords are upper case; `and`, `or`, `not`, `near` in lower case are words. A
bare word with inner punctuation (`U.S.`, `covid-19`) matches as a phrase of
its words; `launch*` matches every word starting with `launch`. Fields:
`title:` and `text:` scope a word, phrase or group to one part of the article;
`source:`, `site:` and `lang:` filter on the article's source name, host
(subdomains included) and language (`lang:en` takes `en-GB`).

A query must contain a word or phrase that has to appear: `-drill` or
`source:dw` alone would match nearly every article, so they are rejected, like
every other invalid query, with a `QueryError` naming the position. This is
also what lets `RuleSet` skip every rule none of whose positive terms occur.
Sizes are capped (`MAX_*`) so no query can make parsing or matching slow. The
scanner (`alerts.lexer`) and the parser are hand-written: nothing from the query
is compiled into a regex. The tree's nodes and how they are evaluated are in
`alerts.tree`, re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import cast

from alerts.errors import QueryError
from alerts.index import FIELDS, Document, Field
from alerts.lexer import FILTERS, Lexeme, lex
from alerts.match import Match
from alerts.tree import And, Filter, Filtered, Near, Node, Not, Or, Term
from alerts.words import Pattern, fold_name, host_of, is_soft_separator, squeeze, tokenise

__all__ = [
    "MAX_DEPTH",
    "MAX_PHRASE_WORDS",
    "MAX_QUERY_LENGTH",
    "MAX_TERMS",
    "And",
    "Filter",
    "Near",
    "Node",
    "Not",
    "Or",
    "Query",
    "Term",
    "parse_query",
]

MAX_DEPTH = 64
MAX_QUERY_LENGTH = 20_000
MAX_TERMS = 1_000
MAX_PHRASE_WORDS = 64
MIN_PREFIX = 3

TEXT_FIELDS: tuple[str, ...] = FIELDS
_OPERAND_STARTS = frozenset({"WORD", "PHRASE", "(", "NOT", "FIELD"})


@dataclass(frozen=True)
class Query:
    """A parsed rule query. `text` is the query as written, `root` its tree."""

    text: str
    root: Node

    def match(self, *, title: str, text: str) -> Match | None:
        """Why the article matches, or None when it does not."""
        return self.match_document(Document.of(title=title, text=text))

    def match_document(self, document: Document) -> Match | None:
        """Like `match`, for an article already tokenised once for many rules."""
        hits = self.root.find(document)
        return Match.of_hits(hits, document) if hits else None


def parse_query(text: str) -> Query:
    """Parse `text`, or raise `QueryError(message, query=text, position=...)`."""
    if len(text) > MAX_QUERY_LENGTH:
        message = f"query longer than {MAX_QUERY_LENGTH:,} characters; split it into several rules"
        raise QueryError(message, query=text, position=MAX_QUERY_LENGTH)
    lexemes = lex(text)
    if not lexemes:
        raise QueryError("empty query", query=text, position=0)
    root = _Parser(text, lexemes).parse()
    offender = _true_without_terms(root)
    if isinstance(offender, Filter):
        message = f"{offender.name}: only narrows; add a word or phrase that must appear"
        raise QueryError(message, query=text, position=offender.position)
    if offender is not None:
        message = "only negations here, nothing that must appear"
        raise QueryError(message, query=text, position=offender.position)
    return Query(text, root)


def _true_without_terms(node: Node) -> Not | Filter | None:
    """The first negation or filter that could make `node` true while no positive
    term occurs, if any."""
    if isinstance(node, Not | Filter):
        return node
    if isinstance(node, And):
        offenders = [_true_without_terms(child) for child in node.children]
        return offenders[0] if all(offenders) else None
    if isinstance(node, Or):
        found = (_true_without_terms(child) for child in node.children)
        return next((offender for offender in found if offender), None)
    return None


class _Parser:
    """Recursive descent over the lexemes; nesting is capped at MAX_DEPTH."""

    def __init__(self, query: str, lexemes: list[Lexeme]) -> None:
        self.query = query
        self.lexemes = lexemes
        self.index = 0
        self.depth = 0
        self.terms = 0
        self.scope: Field | None = None

    def parse(self) -> Node:
        node = self._or()
        extra = self._peek()
        if extra is not None:  # only a stray ")" can stop the loops early
            raise self._error("unmatched ')'", extra)
        return node

    def _or(self) -> Node:
        children = [self._and()]
        while (lexeme := self._peek()) is not None and lexeme.kind == "OR":
            self._take_operator()
            children.append(self._and())
        return children[0] if len(children) == 1 else Or(tuple(children), children[0].position)

    def _and(self) -> Node:
        children = [self._unary()]
        while (lexeme := self._peek()) is not None and lexeme.kind in {"AND", *_OPERAND_STARTS}:
            if lexeme.kind == "AND":
                self._take_operator()
            children.append(self._unary())
        return children[0] if len(children) == 1 else And(tuple(children), children[0].position)

    def _unary(self) -> Node:
        lexeme = self._peek()
        if lexeme is None or lexeme.kind != "NOT":
            return self._near()
        self._take_operator()
        with self._nested(lexeme):
            return Not(self._unary(), lexeme.position)

    def _near(self) -> Node:
        left = self._primary()
        operator = self._peek()
        if operator is None or operator.kind != "NEAR":
            return left
        self._take_operator()
        right = self._peek()
        if not isinstance(left, Term) or left.field != self.scope:
            raise self._error(_NEAR_OPERANDS, operator if not isinstance(left, Term) else left)
        if right is None or right.kind not in ("WORD", "PHRASE"):
            raise self._error(_NEAR_OPERANDS, right or operator)
        term = self._term(self._take())
        if (after := self._peek()) is not None and after.kind == "NEAR":
            raise self._error("NEAR joins exactly two terms; combine pairs with AND", after)
        return Near(left, term, operator.distance, self.scope, left.position)

    def _primary(self) -> Node:
        lexeme = self._take()
        if lexeme.kind in ("AND", "OR", "NEAR"):
            raise self._error(f"dangling {lexeme.text}", lexeme)
        if lexeme.kind == ")":
            raise self._error("unmatched ')'", lexeme)
        if lexeme.kind == "FIELD":
            return self._field(lexeme)
        if lexeme.kind != "(":
            return self._term(lexeme)
        if (inner := self._peek()) is None:
            raise self._error("unclosed parenthesis", lexeme)
        if inner.kind == ")":
            raise self._error("empty parentheses", lexeme)
        with self._nested(lexeme):
            node = self._or()
        if (close := self._peek()) is None or close.kind != ")":
            raise self._error("unclosed parenthesis", lexeme)
        self.index += 1
        return node

    def _term(self, lexeme: Lexeme) -> Term:
        self._count(lexeme)
        pattern = _pattern(lexeme, self.query)
        if len(pattern.words) > MAX_PHRASE_WORDS:
            message = f"phrase of {len(pattern.words):,} words; at most {MAX_PHRASE_WORDS}"
            raise self._error(message, lexeme)
        return Term(lexeme.text, pattern, self.scope, lexeme.position)

    def _field(self, lexeme: Lexeme) -> Node:
        """`title:` / `text:` scope what follows; `source:`, `site:`, `lang:` filter."""
        name = lexeme.text[:-1].lower()
        if name not in (*TEXT_FIELDS, *FILTERS):
            known = ", ".join(f"{known}:" for known in (*TEXT_FIELDS, *FILTERS))
            message = f"unknown field {lexeme.text!r} (known: {known}; quote a word with ':')"
            raise self._error(message, lexeme)
        value = self._peek()
        wanted = ("WORD", "PHRASE") if name in FILTERS else ("WORD", "PHRASE", "(")
        if value is None or value.position != lexeme.end or value.kind not in wanted:
            what = "a word or phrase" if name in FILTERS else "a word, phrase or (group)"
            raise self._error(f"{lexeme.text} needs {what} right after the colon", lexeme)
        if name in TEXT_FIELDS:
            return self._scoped(cast(Field, name), lexeme)
        self._count(self._take())
        return Filter(cast(Filtered, name), _filter_value(name, value, self.query), lexeme.position)

    def _scoped(self, name: Field, lexeme: Lexeme) -> Node:
        """What follows `title:` or `text:`, each of its terms looked for there only."""
        if self.scope is not None:
            raise self._error(f"{lexeme.text} inside {self.scope}:(...)", lexeme)
        self.scope = name
        try:
            return self._primary()
        finally:
            self.scope = None

    def _count(self, lexeme: Lexeme) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            message = f"more than {MAX_TERMS:,} terms; split the query into several rules"
            raise self._error(message, lexeme)

    def _take_operator(self) -> None:
        """Consume AND, OR, NOT or NEAR, which must be followed by something to apply to."""
        operator = self._take()
        following = self._peek()
        if following is None or following.kind not in _OPERAND_STARTS:
            raise self._error(f"dangling {operator.text}", operator)

    def _peek(self) -> Lexeme | None:
        return self.lexemes[self.index] if self.index < len(self.lexemes) else None

    def _take(self) -> Lexeme:
        lexeme = self.lexemes[self.index]
        self.index += 1
        return lexeme

    def _nested(self, lexeme: Lexeme) -> _Depth:
        return _Depth(self, lexeme)

    def _error(self, message: str, at: Lexeme | Node) -> QueryError:
        return QueryError(message, query=self.query, position=at.position)


_NEAR_OPERANDS = "NEAR needs a word or phrase on each side (scope both: title:(a NEAR b))"


def _filter_value(name: str, lexeme: Lexeme, query: str) -> str:
    """The folded value of `source:`, `site:` or `lang:`, checked for its shape."""
    value = fold_name(lexeme.text) if name != "site" else host_of(lexeme.text)
    problem = None
    if "*" in value:
        problem = f"{name}: takes an exact value, no '*'"
    elif name == "site" and not _looks_like_host(value):
        problem = "site: needs a host name like example.com"
    elif name == "lang" and not _looks_like_language(value):
        problem = "lang: needs a language code like en or en-GB"
    elif not value:
        problem = f"{name}: needs a value"
    if problem:
        raise QueryError(problem, query=query, position=lexeme.position)
    return value


def _looks_like_host(value: str) -> bool:
    labels = value.split(".")
    return all(label and all(c.isalnum() or c == "-" for c in label) for label in labels)


def _looks_like_language(value: str) -> bool:
    primary, *subtags = value.split("-")
    return (
        primary.isascii()
        and primary.isalpha()
        and 2 <= len(primary) <= 3
        and all(tag.isascii() and tag.isalnum() and 1 <= len(tag) <= 8 for tag in subtags)
    )


def _pattern(lexeme: Lexeme, query: str) -> Pattern:
    """What a word or phrase looks for; `*` ends a bare word to make it a prefix."""
    star = lexeme.text.find("*") if lexeme.kind == "WORD" else -1
    if 0 <= star < len(lexeme.text) - 1:
        raise QueryError(
            "'*' only ends a word (launch*)", query=query, position=lexeme.position + star
        )
    prefix = star >= 0
    body = lexeme.text[:-1] if prefix else lexeme.text
    tokens = tokenise(body)
    if not tokens:
        what = "empty phrase" if lexeme.kind == "PHRASE" else "term without letters or digits"
        what = (
            f"a bare '*' would match every word; write {MIN_PREFIX}+ letters before it"
            if prefix
            else what
        )
        raise QueryError(what, query=query, position=lexeme.position)
    if prefix and (len(tokens[-1].key) < MIN_PREFIX or tokens[-1].end != len(body)):
        message = (
            f"prefix {lexeme.text!r} is too short: {MIN_PREFIX} or more letters or digits "
            "before '*', or it would match too many words"
        )
        raise QueryError(message, query=query, position=lexeme.position)
    joins = tuple(_join(body[left.end : right.start]) for left, right in pairwise(tokens))
    return Pattern.of([token.key for token in tokens], joins, prefix=prefix)


def _join(separator: str) -> str:
    """What the query wrote between two words of a term: "" for a space or hyphen, else "."."""
    return "" if is_soft_separator(separator) else squeeze(separator)


class _Depth:
    """Counts nesting so a pathological query fails with a message, not a RecursionError."""

    def __init__(self, parser: _Parser, lexeme: Lexeme) -> None:
        self.parser = parser
        self.lexeme = lexeme

    def __enter__(self) -> None:
        self.parser.depth += 1
        if self.parser.depth > MAX_DEPTH:
            raise self.parser._error(f"nesting deeper than {MAX_DEPTH} levels", self.lexeme)

    def __exit__(self, *_: object) -> None:
        self.parser.depth -= 1
