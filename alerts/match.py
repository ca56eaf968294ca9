"""Finding query terms in an article: tokenise once, look words up, cut a snippet.

Matching is on whole words in any script and ignores case and diacritics
(`Pjöngjang` finds `pjongjang`). The text is tokenised once with a fixed
Unicode word pattern that keeps each token's span in the ORIGINAL string, so a
hit can be quoted and bolded where it really is. A dict from normalised token
to positions then answers every query word by lookup, and a phrase is a run of
consecutive positions; nothing backtracks, so matching is linear in the text
whatever the rule says::

    document = Document.of(title="Mobile missile launchers", text="...")
    document.title.first_span(phrase_forms("missile launcher"), ("",))  # (7, 24)

Inflection is tolerated by expanding each query word into its plural and
possessive forms (see `word_forms`), never by stemming or prefix matching,
so `business` does not find `busy` and `launcher` does not find `launcherette`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal, NamedTuple

Field = Literal["title", "text"]

SNIPPET_WIDTH = 240
ELLIPSIS = "…"

# Ideographs and kana are written without spaces, so each one is its own token
# and a word in those scripts matches as a phrase of consecutive characters.
_IDEOGRAPHIC = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_WHITESPACE = re.compile(r"\s+")
_ANY_WHITESPACE = re.compile(r"\s")


@cache
def _token_pattern() -> re.Pattern[str]:
    """The word pattern: letters, digits and combining marks, with inner apostrophes.

    Python's `\\w` leaves out combining marks, which would cut Devanagari or Thai
    words in pieces, so their ranges are added from the Unicode database once.
    """
    word_char = f"(?:[^\\W{_IDEOGRAPHIC}]|[{_mark_ranges()}])"
    return re.compile(f"[{_IDEOGRAPHIC}]|{word_char}+(?:['’]{word_char}+)*")


def _mark_ranges() -> str:
    """Combining marks (Unicode category M*) as a regex character-class body."""
    ranges: list[list[int]] = []
    for code in (*range(0x20000), *range(0xE0100, 0xE01F0)):
        if unicodedata.category(chr(code))[0] != "M":
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in ranges)


class Token(NamedTuple):
    key: str
    start: int
    end: int


class Hit(NamedTuple):
    """One positive query term found in one field, with its span there."""

    term: str
    field: Field
    start: int
    end: int


def normalise(word: str) -> str:
    """The lookup key of a word: casefolded, NFKD, combining marks dropped."""
    if word.isascii():
        return word.lower()
    folded = unicodedata.normalize("NFKD", word.casefold().replace("’", "'"))
    return "".join(char for char in folded if not unicodedata.combining(char))


def tokenise(text: str) -> list[Token]:
    """The words of `text` with their spans in `text` itself."""
    return [
        Token(normalise(found.group()), found.start(), found.end())
        for found in _token_pattern().finditer(text)
    ]


def word_forms(key: str) -> frozenset[str]:
    """The forms a normalised query word also matches: +s, +es, y→ies, 's.

    A plural possessive (`launchers'`) tokenises as `launchers`: the trailing
    apostrophe is not part of a word, so the +s form covers it.
    """
    forms = {key, key + "s", key + "es", key + "'s"}
    if len(key) > 1 and key.endswith("y"):
        forms.add(key[:-1] + "ies")
    return frozenset(forms)


def is_soft_separator(separator: str) -> bool:
    """Whether two words split by `separator` still read as one phrase.

    Whitespace of any kind (newlines, NBSP) and hyphens or dashes join words
    (`missile-launcher`); sentence punctuation does not (`missiles. Launcher`).
    """
    return all(
        char.isspace() or char == "\u00ad" or unicodedata.category(char) == "Pd"
        for char in separator
    )


def squeeze(text: str) -> str:
    """`text` without any whitespace, to compare punctuation written in a query."""
    return "".join(text.split())


@dataclass(frozen=True, eq=False)
class TextIndex:
    """One field of an article, tokenised once, with a normalised-token → positions dict."""

    text: str
    tokens: Sequence[Token]
    positions: dict[str, list[int]]

    @classmethod
    def of(cls, text: str) -> TextIndex:
        tokens = tokenise(text)
        positions: dict[str, list[int]] = {}
        for position, token in enumerate(tokens):
            positions.setdefault(token.key, []).append(position)
        return cls(text, tokens, positions)

    def occurrences(self, forms: Iterable[str]) -> list[int]:
        """Sorted positions of tokens equal to any of `forms`."""
        found: list[int] = []
        for form in forms:
            found.extend(self.positions.get(form, ()))
        return sorted(found)

    def first_span(
        self, forms: Sequence[frozenset[str]], joins: Sequence[str]
    ) -> tuple[int, int] | None:
        """Span of the earliest run of tokens matching `forms` word by word, or None.

        `joins[i]` is the punctuation the query itself wrote between words i and
        i+1 (`U.S.` gives "."); such a separator is accepted in the text too.
        """
        starts = self.occurrences(forms[0])
        later = [set(self.occurrences(word)) for word in forms[1:]] if starts else []
        for start in starts:
            if all(
                start + offset in positions and self._joined(start + offset, joins[offset - 1])
                for offset, positions in enumerate(later, start=1)
            ):
                return self.tokens[start].start, self.tokens[start + len(later)].end
        return None

    def _joined(self, position: int, join: str) -> bool:
        separator = self.text[self.tokens[position - 1].end : self.tokens[position].start]
        return is_soft_separator(separator) or (bool(join) and squeeze(separator) == join)


@dataclass(frozen=True, eq=False)
class Document:
    """An article's title and text, tokenised once and matched against many rules.

    `source` (the configured source name), `site` (the URL's host) and `lang`
    are what field scopes (`source:`, `site:`, `lang:`) look at.
    """

    title: TextIndex
    text: TextIndex
    source: str = ""
    site: str = ""
    lang: str | None = None

    @classmethod
    def of(
        cls, *, title: str, text: str, source: str = "", site: str = "", lang: str | None = None
    ) -> Document:
        return cls(TextIndex.of(title), TextIndex.of(text), source, site, lang)


@dataclass(frozen=True)
class Match:
    """Why an article matched a rule, ready for an alert.

    `start`/`end` locate the first hit in the original `field` string;
    `snippet_start`/`snippet_end` locate the same hit inside `snippet`, so an
    HTML email can bold it. `terms` are the positive query terms that hit, as
    written in the query (a phrase without its quotes), in query order.
    """

    terms: tuple[str, ...]
    field: Field
    start: int
    end: int
    snippet: str
    snippet_start: int
    snippet_end: int


def build_match(hits: Sequence[Hit], document: Document) -> Match:
    """The `Match` for a true query: the first hit in the text, else in the title."""
    in_text = [hit for hit in hits if hit.field == "text"]
    first = min(in_text or hits, key=lambda hit: hit.start)
    source = document.text.text if first.field == "text" else document.title.text
    snippet, snippet_start, snippet_end = make_snippet(source, start=first.start, end=first.end)
    return Match(
        terms=tuple(dict.fromkeys(hit.term for hit in hits)),
        field=first.field,
        start=first.start,
        end=first.end,
        snippet=snippet,
        snippet_start=snippet_start,
        snippet_end=snippet_end,
    )


def make_snippet(
    text: str, *, start: int, end: int, width: int = SNIPPET_WIDTH
) -> tuple[str, int, int]:
    """About `width` characters of `text` around `text[start:end]`, and the hit's span in it.

    The window is cut at word boundaries, whitespace collapses to single spaces,
    and "…" marks each side where text was left out.
    """
    left, right = _window(len(text), start=start, end=end, width=width)
    left, right = _word_start(text, left, start), _word_end(text, end, right)
    before = _WHITESPACE.sub(" ", text[left:start]).lstrip()
    hit = _WHITESPACE.sub(" ", text[start:end])
    after = _WHITESPACE.sub(" ", text[end:right]).rstrip()
    head = ELLIPSIS if text[:left].strip() else ""
    tail = ELLIPSIS if text[right:].strip() else ""
    hit_start = len(head) + len(before)
    return head + before + hit + after + tail, hit_start, hit_start + len(hit)


def _window(length: int, *, start: int, end: int, width: int) -> tuple[int, int]:
    """A `width`-wide window centred on the hit, shifted to stay inside the text."""
    room = max(width - (end - start), 0)
    left, right = start - room // 2, end + room - room // 2
    if left < 0:
        left, right = 0, right - left
    if right > length:
        left, right = max(left - (right - length), 0), length
    return left, min(right, length)


def _word_start(text: str, left: int, limit: int) -> int:
    """Move `left` forward past a word it would cut, but never past `limit`."""
    if left == 0 or text[left - 1].isspace():
        return left
    space = _ANY_WHITESPACE.search(text, left, limit)
    return space.end() if space else left


def _word_end(text: str, limit: int, right: int) -> int:
    """Move `right` back before a word it would cut, but never before `limit`."""
    if right == len(text) or text[right].isspace():
        return right
    for position in range(right - 1, limit - 1, -1):
        if text[position].isspace():
            return position
    return right
