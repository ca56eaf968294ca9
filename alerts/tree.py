"""The nodes of a parsed query, and the two ways to evaluate them on a `Document`.

    node.holds(document)  # True or False, from word positions alone: deciding
    node.find(document)   # the hits that make it true, with character spans, or None

`holds(d)` is `find(d) is not None` for every node, only cheaper: it stops at
the first occurrence that settles the answer and builds no hits. `RuleSet`
decides with `holds` and explains with `find` only the matches that are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import methodcaller
from typing import Literal

from alerts.index import FIELDS, Document, Field
from alerts.match import Hit
from alerts.words import Pattern

Filtered = Literal["source", "site", "lang"]


@dataclass(frozen=True)
class Term:
    """A word, phrase or prefix as written (`text`), what it looks for, and where:
    `field` None means the title or the text."""

    text: str
    pattern: Pattern
    field: Field | None
    position: int

    def holds(self, document: Document) -> bool:
        pattern, field = self.pattern, self.field
        if pattern.is_word:  # most terms: a set operation per field, inline
            forms = pattern.forms[0]
            return (field != "text" and not document.title.words.isdisjoint(forms)) or (
                field != "title" and not document.text.words.isdisjoint(forms)
            )
        if field != "text" and document.title.has(pattern):
            return True
        return field != "title" and document.text.has(pattern)

    def find(self, document: Document) -> tuple[Hit, ...] | None:
        """The first occurrence in the title, then in the text."""
        title = document.title.first_span(self.pattern) if self.field != "text" else None
        text = document.text.first_span(self.pattern) if self.field != "title" else None
        if text is None:
            return None if title is None else (Hit(self.text, "title", *title),)
        in_text = Hit(self.text, "text", *text)
        return (in_text,) if title is None else (Hit(self.text, "title", *title), in_text)


@dataclass(frozen=True)
class Near:
    """Two terms at most `distance` words apart, in either order, in one field."""

    left: Term
    right: Term
    distance: int
    field: Field | None
    position: int

    def holds(self, document: Document) -> bool:
        for name in (self.field,) if self.field else FIELDS:
            index = document.field(name)
            left, right = self.left.pattern, self.right.pattern
            if index.has(left) and index.has(right) and index.is_near(left, right, self.distance):
                return True
        return False

    def find(self, document: Document) -> tuple[Hit, ...] | None:
        hits = []
        for name in (self.field,) if self.field else FIELDS:
            index = document.field(name)
            if not (index.has(self.left.pattern) and index.has(self.right.pattern)):
                continue  # the usual case, told by memoised lookups: no positions to pair
            pair = index.near(self.left.pattern, self.right.pattern, self.distance)
            if pair is not None:
                hits.append(Hit(self.left.text, name, *pair[0]))
                hits.append(Hit(self.right.text, name, *pair[1]))
        return tuple(hits) or None


@dataclass(frozen=True)
class Filter:
    """`source:`, `site:` or `lang:`: true or false for the article, never a hit."""

    name: Filtered
    value: str
    position: int

    def holds(self, document: Document) -> bool:
        found: str = getattr(document, self.name)
        if found == self.value:
            return True
        if self.name == "site":  # subdomains: site:example.com takes www.example.com
            return found.endswith("." + self.value)
        if self.name == "lang":  # regions: lang:en takes en-GB
            return found.startswith(self.value + "-")
        return False

    def find(self, document: Document) -> tuple[Hit, ...] | None:
        return () if self.holds(document) else None


@dataclass(frozen=True)
class Not:
    child: Node
    position: int

    def holds(self, document: Document) -> bool:
        return not self.child.holds(document)

    def find(self, document: Document) -> tuple[Hit, ...] | None:
        """True (with no positive hits) exactly when the child is false."""
        return () if self.child.find(document) is None else None


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]
    position: int

    def holds(self, document: Document) -> bool:
        return all(map(methodcaller("holds", document), self.children))

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

    def holds(self, document: Document) -> bool:
        return any(map(methodcaller("holds", document), self.children))

    def find(self, document: Document) -> tuple[Hit, ...] | None:
        """Every true branch counts, so an alert lists all the terms that hit."""
        found = [child.find(document) for child in self.children]
        if all(hits is None for hits in found):
            return None
        return tuple(hit for hits in found if hits for hit in hits)


Node = Term | Near | Filter | Not | And | Or
