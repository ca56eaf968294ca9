"""The rule query language: parse a query once into an immutable tree, match it many times.

    parse_query('"missile launcher" AND (Pyongyang OR Pjöngjang) -drill')

Grammar, loosest binding first (NOT > AND > OR)::

    query   := and ("OR" and)*
    and     := unary (["AND"] unary)*        adjacent terms mean AND
    unary   := ("NOT" | "-") unary | primary
    primary := WORD | "PHRASE" | "(" query ")"

Keywords are upper case; `and`, `or`, `not` in lower case are words. A bare
word with inner punctuation (`U.S.`, `covid-19`) matches as a phrase of its
words. A query must contain something that has to appear: `-drill` alone, or
`a OR -b`, would match nearly every article, so it is rejected, like every
other invalid query, with a `QueryError` naming the position. The parser is a
hand-written scanner: nothing from the query is ever compiled into a regex.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from alerts.errors import QueryError
from alerts.match import (
    Document,
    Hit,
    Match,
    build_match,
    is_soft_separator,
    squeeze,
    tokenise,
    word_forms,
)

MAX_DEPTH = 64
_QUOTES = {'"': '"', "“": "”"}
_OPERAND_STARTS = frozenset({"WORD", "PHRASE", "(", "NOT"})


@dataclass(frozen=True)
class Term:
    """A word or phrase: each of its words with the forms it matches (see `word_forms`)."""

    text: str
    forms: tuple[frozenset[str], ...]
    joins: tuple[str, ...]
    position: int

    def find(self, document: Document) -> tuple[Hit, ...] | None:
        in_title = document.title.first_span(self.forms, self.joins)
        in_text = document.text.first_span(self.forms, self.joins)
        hits = (
            *((Hit(self.text, "title", *in_title),) if in_title else ()),
            *((Hit(self.text, "text", *in_text),) if in_text else ()),
        )
        return hits or None


@dataclass(frozen=True)
class Not:
    child: Node
    position: int

    def find(self, document: Document) -> tuple[Hit, ...] | None:
        """True (with no positive hits) exactly when the child is false."""
        return () if self.child.find(document) is None else None


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]
    position: int

    def find(self, document: Document) -> tuple[Hit, ...] | None:
        hits: list[Hit] = []
        for child in self.children:
            found = child.find(document)
            if found is None:
                return None
            hits.extend(found)
        return tuple(hits)


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]
    position: int

    def find(self, document: Document) -> tuple[Hit, ...] | None:
        """Every true branch counts, so an alert lists all the terms that hit."""
        found = [child.find(document) for child in self.children]
        if all(hits is None for hits in found):
            return None
        return tuple(hit for hits in found if hits for hit in hits)


Node = Term | Not | And | Or


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
        return build_match(hits, document) if hits else None


def parse_query(text: str) -> Query:
    """Parse `text`, or raise `QueryError(message, query=text, position=...)`."""
    lexemes = _lex(text)
    if not lexemes:
        raise QueryError("empty query", query=text, position=0)
    root = _Parser(text, lexemes).parse()
    offender = _negations_only(root)
    if offender is not None:
        raise QueryError(
            "only negations here, nothing that must appear", query=text, position=offender.position
        )
    return Query(text, root)


def _negations_only(node: Node) -> Node | None:
    """The part of the tree that could be true without any positive term, if any."""
    if isinstance(node, Term):
        return None
    if isinstance(node, Not):
        return node
    if isinstance(node, And):
        return node if all(_negations_only(child) for child in node.children) else None
    return next((child for child in node.children if _negations_only(child)), None)


@dataclass(frozen=True)
class _Lexeme:
    kind: str  # WORD, PHRASE, AND, OR, NOT, "(", ")"
    text: str
    position: int


def _lex(query: str) -> list[_Lexeme]:
    lexemes: list[_Lexeme] = []
    index = 0
    while index < len(query):
        char = query[index]
        if char.isspace():
            index += 1
        elif char in "()":
            lexemes.append(_Lexeme(char, char, index))
            index += 1
        elif char in _QUOTES:
            lexemes.append(_phrase(query, index))
            index = lexemes[-1].position + len(lexemes[-1].text) + 2
        elif char == "-":
            lexemes.append(_minus(query, index))
            index += 1
        else:
            lexemes.append(_word(query, index))
            index += len(lexemes[-1].text)
    return lexemes


def _phrase(query: str, start: int) -> _Lexeme:
    close = query.find(_QUOTES[query[start]], start + 1)
    if close < 0:
        raise QueryError("unclosed quote", query=query, position=start)
    return _Lexeme("PHRASE", query[start + 1 : close], start)


def _minus(query: str, start: int) -> _Lexeme:
    following = query[start + 1 : start + 2]
    if not following or following.isspace() or following == ")":
        raise QueryError("dangling '-'", query=query, position=start)
    return _Lexeme("NOT", "-", start)


def _word(query: str, start: int) -> _Lexeme:
    end = start
    while end < len(query) and not query[end].isspace() and query[end] not in '()"“':
        end += 1
    text = query[start:end]
    return _Lexeme(text if text in ("AND", "OR", "NOT") else "WORD", text, start)


def _term(lexeme: _Lexeme, query: str) -> Term:
    """A `Term` from a word or phrase; a term with no letters or digits is an error."""
    tokens = tokenise(lexeme.text)
    if not tokens:
        what = "empty phrase" if lexeme.kind == "PHRASE" else "term without letters or digits"
        raise QueryError(what, query=query, position=lexeme.position)
    joins = tuple(_join(lexeme.text[left.end : right.start]) for left, right in pairwise(tokens))
    forms = tuple(word_forms(token.key) for token in tokens)
    return Term(lexeme.text, forms, joins, lexeme.position)


def _join(separator: str) -> str:
    """What the query wrote between two words of a term: "" for a space or hyphen, else "."."""
    return "" if is_soft_separator(separator) else squeeze(separator)


class _Parser:
    """Recursive descent over the lexemes; nesting is capped at MAX_DEPTH."""

    def __init__(self, query: str, lexemes: list[_Lexeme]) -> None:
        self.query = query
        self.lexemes = lexemes
        self.index = 0
        self.depth = 0

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
            return self._primary()
        self._take_operator()
        with self._nested(lexeme):
            return Not(self._unary(), lexeme.position)

    def _primary(self) -> Node:
        lexeme = self._take()
        if lexeme.kind in ("AND", "OR"):
            raise self._error(f"dangling {lexeme.text}", lexeme)
        if lexeme.kind == ")":
            raise self._error("unmatched ')'", lexeme)
        if lexeme.kind != "(":
            return _term(lexeme, self.query)
        if (inner := self._peek()) is not None and inner.kind == ")":
            raise self._error("empty parentheses", lexeme)
        with self._nested(lexeme):
            node = self._or()
        if (close := self._peek()) is None or close.kind != ")":
            raise self._error("unclosed parenthesis", lexeme)
        self.index += 1
        return node

    def _take_operator(self) -> None:
        """Consume AND, OR or NOT, which must be followed by something to apply to."""
        operator = self._take()
        following = self._peek()
        if following is None or following.kind not in _OPERAND_STARTS:
            raise self._error(f"dangling {operator.text}", operator)

    def _peek(self) -> _Lexeme | None:
        return self.lexemes[self.index] if self.index < len(self.lexemes) else None

    def _take(self) -> _Lexeme:
        lexeme = self.lexemes[self.index]
        self.index += 1
        return lexeme

    def _nested(self, lexeme: _Lexeme) -> _Depth:
        return _Depth(self, lexeme)

    def _error(self, message: str, lexeme: _Lexeme) -> QueryError:
        return QueryError(message, query=self.query, position=lexeme.position)


class _Depth:
    """Counts nesting so a pathological query fails with a message, not a RecursionError."""

    def __init__(self, parser: _Parser, lexeme: _Lexeme) -> None:
        self.parser = parser
        self.lexeme = lexeme

    def __enter__(self) -> None:
        self.parser.depth += 1
        if self.parser.depth > MAX_DEPTH:
            raise self.parser._error(f"nesting deeper than {MAX_DEPTH} levels", self.lexeme)

    def __exit__(self, *_: object) -> None:
        self.parser.depth -= 1
