"""Why an article matched a rule: the terms that hit, where the first one is, a snippet.

    match = parse_query('"missile launcher"').match(title=title, text=text)
    match.terms, match.field, match.start, match.end  # ('missile launcher',), 'text', 7, 24
    match.snippet[match.snippet_start : match.snippet_end]  # 'missile launcher'

A `Match` is worked out lazily: `RuleSet` decides which rules are true from
word positions alone and hands back matches that look up their terms and spans
the first time one is read, and cut their snippet when that is read. A match
that never becomes an alert (its story alerted already, or the article is
history to the rule) costs neither. Equality, hashing, `repr` and pickling use
the seven values, so a lazy match and one built from its values are
interchangeable; pickling works them out first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from alerts.index import Document, Field

if TYPE_CHECKING:
    from alerts.tree import Node


class Hit(NamedTuple):
    """One positive query term found in one field, with its span there."""

    term: str
    field: Field
    start: int
    end: int


_Why = tuple[tuple[str, ...], Field, int, int]  # terms, field, start, end
_Quote = tuple[str, int, int]  # snippet, snippet_start, snippet_end
_new = object.__new__
_NAMES = ("terms", "field", "start", "end", "snippet", "snippet_start", "snippet_end")


class Match:
    """Why an article matched a rule, ready for an alert.

    `start`/`end` locate the first hit in the original `field` string (in the
    text when the text hits, else in the title); `snippet_start`/`snippet_end`
    locate the same hit inside `snippet`, so an HTML email can bold it.
    `terms` are the positive query terms that hit, as written in the query (a
    phrase without its quotes), in query order. Read-only.
    """

    __slots__ = ("_document", "_node", "_quote", "_why")

    def __init__(
        self,
        terms: tuple[str, ...],
        field: Field,
        start: int,
        end: int,
        snippet: str,
        snippet_start: int,
        snippet_end: int,
    ) -> None:
        self._why: _Why | None = (terms, field, start, end)
        self._quote: _Quote | None = (snippet, snippet_start, snippet_end)
        self._node: Node | None = None
        self._document: Document | None = None

    @classmethod
    def of_hits(cls, hits: Sequence[Hit], document: Document) -> Match:
        """The match for a true query's `hits`; the snippet is cut when first read."""
        match = _new(cls)
        match._why, match._quote, match._node, match._document = _why(hits), None, None, document
        return match

    @classmethod
    def pending(cls, node: Node, document: Document) -> Match:
        """The match of a query whose tree `node` is known to be true for `document`:
        its hits are looked up when first read."""
        match = _new(cls)
        match._why, match._quote, match._node, match._document = None, None, node, document
        return match

    @property
    def terms(self) -> tuple[str, ...]:
        return self._explained()[0]

    @property
    def field(self) -> Field:
        return self._explained()[1]

    @property
    def start(self) -> int:
        return self._explained()[2]

    @property
    def end(self) -> int:
        return self._explained()[3]

    @property
    def snippet(self) -> str:
        return self._quoted()[0]

    @property
    def snippet_start(self) -> int:
        return self._quoted()[1]

    @property
    def snippet_end(self) -> int:
        return self._quoted()[2]

    def _explained(self) -> _Why:
        why = self._why
        if why is None:
            assert self._node is not None and self._document is not None
            hits = self._node.find(self._document)
            if not hits:  # parsing rejects queries that can be true without a hit
                raise AssertionError(f"a true query found no hits: {self._node!r}")
            why = self._why = _why(hits)
            self._node = None
        return why

    def _quoted(self) -> _Quote:
        quote = self._quote
        if quote is None:
            _, field, start, end = self._explained()
            assert self._document is not None
            quote = self._quote = self._document.snippet(field, start, end)
            self._document = None  # nothing left to compute: let the article go
        return quote

    def _values(self) -> tuple[Any, ...]:
        return (*self._explained(), *self._quoted())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Match):
            return NotImplemented
        return self is other or self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        values = zip(_NAMES, self._values(), strict=True)
        shown = ", ".join(f"{name}={value!r}" for name, value in values)
        return f"Match({shown})"

    def __reduce__(self) -> tuple[type[Match], tuple[Any, ...]]:
        return (Match, self._values())


def _why(hits: Sequence[Hit]) -> _Why:
    """Terms and first hit of a true query: the earliest in the text, else in the title."""
    terms: tuple[str, ...]
    if len(hits) == 1:
        first, terms = hits[0], (hits[0].term,)
    else:
        in_text = [hit for hit in hits if hit.field == "text"]
        first = min(in_text or hits, key=lambda hit: hit.start)
        terms = tuple(dict.fromkeys(hit.term for hit in hits))
    return terms, first.field, first.start, first.end
