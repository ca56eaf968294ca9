"""Finding query terms in an article: tokenise once, look words up, cut a snippet.

Matching is on whole words in any script and ignores case and diacritics
(`Pjöngjang` finds `pjongjang`). The text is split once with a fixed Unicode
word pattern; each field keeps its words, the separators between them, and a
dict from normalised word to positions. A term is a `Pattern`: one word is a
lookup, a phrase a run of consecutive positions, a prefix (`launch*`) a range
of the field's sorted distinct words. Nothing backtracks, so matching is
linear in the text whatever the rule says, and each field remembers what it
already answered, so many rules share the work::

    document = Document.of(title="Mobile missile launchers", text="...")
    document.title.first_span(Pattern.of(("missile", "launcher"), ("",)))  # (7, 24)

Inflection is tolerated by expanding each query word into its plural and
possessive forms (see `word_forms`), never by stemming, so `business` does not
find `busy` and `launcher` does not find `launcherette`; only a written `*`
asks for every word that starts with a prefix.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache
from itertools import accumulate
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

Field = Literal["title", "text"]
FIELDS: tuple[Field, ...] = ("title", "text")

SNIPPET_WIDTH = 240
ELLIPSIS = "…"

# Ideographs and kana are written without spaces, so each one is its own token
# and a word in those scripts matches as a phrase of consecutive characters.
_IDEOGRAPHIC = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_IDEOGRAPHIC_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
# Texts with none of these (most) take the faster word pattern: see `_token_pattern`.
_UNUSUAL = re.compile(f"[{_IDEOGRAPHIC}\U00010000-\U0010ffff]")
_ANY_WHITESPACE = re.compile(r"\s")
_LAST_SPACE = re.compile(r"\s(?=\S*\Z)")  # searched with an end bound, \Z is that bound
_NON_SPACE = re.compile(r"\S")
_UNKNOWN = object()


@cache
def _token_pattern(unusual: bool = True) -> re.Pattern[str]:
    """The word pattern, one capturing group so `split` also returns the separators.

    A word character is a letter, digit, `_` or combining mark (Python's `\\w`
    leaves marks out, which would cut Devanagari or Thai words in pieces),
    except ideographs, which are one token each. The BMP's word characters are
    one flat class, which `re` tests in constant time. Ideographs and
    characters beyond the BMP need an alternation and a second class that
    cost a third more per character, so texts without any (`unusual` false,
    most of them) get the pattern without; both split such texts alike.
    """
    word = f"[{_class_body(0, 0x10000)}]"
    if not unusual:
        return re.compile(f"({word}+(?:['’]{word}+)*)")
    word = f"(?:{word}|[{_class_body(0x10000, 0x40000)}{_class_body(0xE0000, 0xE1000)}])"
    return re.compile(f"([{_IDEOGRAPHIC}]|{word}+(?:['’]{word}+)*)")


def _class_body(low: int, high: int) -> str:
    """Word characters between `low` and `high` as a regex character-class body."""
    ranges: list[list[int]] = []
    for code in range(low, high):
        if not _is_word_char(code):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"\\U{first:08x}-\\U{last:08x}" for first, last in ranges)


def _is_word_char(code: int) -> bool:
    char = chr(code)
    if any(first <= code <= last for first, last in _IDEOGRAPHIC_RANGES):
        return False
    if 0x20000 <= code <= 0x2FA1F:
        return False
    return char.isalnum() or char == "_" or unicodedata.category(char)[0] == "M"


def _split(text: str) -> list[str]:
    """Separators and words alternating: `[sep0, word0, sep1, word1, ..., sepN]`."""
    return _token_pattern(_UNUSUAL.search(text) is not None).split(text)


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


@lru_cache(maxsize=1 << 17)
def normalise(word: str) -> str:
    """The lookup key of a word: casefolded, NFKD, combining marks dropped.

    Cached: an article's words are mostly words seen in earlier articles.
    """
    if word.isascii():
        return word.lower()
    # Casefolding after NFKD too: compatibility forms (𝐀, ℍ) decompose to capitals.
    folded = unicodedata.normalize("NFKD", word.casefold()).casefold().replace("’", "'")
    return "".join(char for char in folded if not unicodedata.combining(char))


def tokenise(text: str) -> list[Token]:
    """The words of `text` with their spans in `text` itself."""
    parts = _split(text)
    offsets = list(accumulate(map(len, parts), initial=0))
    return [Token(normalise(parts[j]), offsets[j], offsets[j + 1]) for j in range(1, len(parts), 2)]


@cache
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
    return separator == " " or all(
        char.isspace() or char == "\u00ad" or unicodedata.category(char) == "Pd"
        for char in separator
    )


def squeeze(text: str) -> str:
    """`text` without any whitespace, to compare punctuation written in a query."""
    return "".join(text.split())


@dataclass(frozen=True, eq=False)
class Pattern:
    """What a term looks for, whatever the query wrote around it: equal patterns
    from different rules share one `key`, so a field answers each only once.

    `words` are normalised; `joins[i]` is the punctuation the query wrote
    between words i and i+1 ("" for a space or hyphen); with `prefix`, the last
    word matches every word that starts with it.
    """

    words: tuple[str, ...]
    forms: tuple[frozenset[str], ...]
    joins: tuple[str, ...]
    prefix: bool
    key: str
    is_word: bool  # one exact word: its first occurrence is a lookup, no sorting

    @classmethod
    def of(cls, words: Sequence[str], joins: Sequence[str], *, prefix: bool = False) -> Pattern:
        forms = tuple(word_forms(word) for word in words)
        key = "\x1f".join(words) + "\x1e" + "\x1f".join(joins) + ("*" if prefix else "")
        return cls(tuple(words), forms, tuple(joins), prefix, key, len(words) == 1 and not prefix)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)


@dataclass(frozen=True, eq=False)
class TextIndex:
    """One field of an article, split once: its words, their separators, and a
    normalised-word → positions dict. Answers are memoised per pattern key."""

    text: str
    parts: list[str]
    keys: list[str]
    positions: dict[str, list[int]]
    elided: dict[int, str]  # position → the word after an elision (`l'élysée` → `elysee`)
    _starts: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _first: dict[str, tuple[int, int] | None] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, text: str) -> TextIndex:
        parts = _split(text)
        keys = list(map(normalise, parts[1::2]))
        positions: dict[str, list[int]] = {}
        for position, key in enumerate(keys):
            if key in positions:
                positions[key].append(position)
            else:
                positions[key] = [position]
        return cls(text, parts, keys, positions, _elide(positions))

    @cached_property
    def offsets(self) -> list[int]:
        """`offsets[j]` is where `parts[j]` starts in `text`: word i spans
        `offsets[2i+1]:offsets[2i+2]`. Computed only once something hits."""
        return list(accumulate(map(len, self.parts), initial=0))

    @cached_property
    def sorted_keys(self) -> list[str]:
        """The distinct words in order, so a prefix is one bisection."""
        return sorted(self.positions)

    @property
    def tokens(self) -> list[Token]:
        offsets = self.offsets
        return [
            Token(key, offsets[2 * i + 1], offsets[2 * i + 2]) for i, key in enumerate(self.keys)
        ]

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Character span from the start of word `first` to the end of word `last`."""
        return self.offsets[2 * first + 1], self.offsets[2 * last + 2]

    def occurrences(self, forms: Iterable[str]) -> list[int]:
        """Sorted positions of words equal to any of `forms`."""
        found: list[int] = []
        for form in forms:
            found.extend(self.positions.get(form, ()))
        return sorted(found)

    def prefixed(self, prefix: str) -> list[int]:
        """Sorted positions of words that start with `prefix`."""
        found: list[int] = []
        for key in self._keys_from(prefix):
            found.extend(self.positions[key])
        return sorted(found)

    def has_prefix(self, prefix: str) -> bool:
        """Whether some word of the field starts with `prefix`."""
        return next(self._keys_from(prefix), None) is not None

    def _keys_from(self, prefix: str) -> Iterator[str]:
        """The distinct words that start with `prefix`, found by bisection."""
        keys = self.sorted_keys
        index = bisect_left(keys, prefix)
        while index < len(keys) and keys[index].startswith(prefix):
            yield keys[index]
            index += 1

    def starts(self, pattern: Pattern) -> list[int]:
        """Positions where `pattern` starts, in order (memoised per pattern key)."""
        found = self._starts.get(pattern.key)
        if found is None:
            found = self._starts[pattern.key] = self._find(pattern)
        return found

    def first_span(self, pattern: Pattern) -> tuple[int, int] | None:
        """Character span of the earliest occurrence of `pattern`, or None (memoised)."""
        span = self._first.get(pattern.key, _UNKNOWN)
        if span is _UNKNOWN:
            span = self._first[pattern.key] = self._first_span(pattern)
        return span  # type: ignore[return-value]

    def _first_span(self, pattern: Pattern) -> tuple[int, int] | None:
        exact_start = len(pattern.words) > 1 or not pattern.prefix
        if exact_start and self.positions.keys().isdisjoint(pattern.forms[0]):
            return None  # most terms, most of all in a title: one set operation in C
        if pattern.is_word:
            positions = self.positions
            start = min(positions[form][0] for form in pattern.forms[0] if form in positions)
        elif not exact_start:  # a one-word prefix: the first of each word it starts
            firsts = [self.positions[key][0] for key in self._keys_from(pattern.words[0])]
            if not firsts:
                return None
            start = min(firsts)
        else:
            starts = self.starts(pattern)
            if not starts:
                return None
            start = starts[0]
        return self.span(start, start + len(pattern.words) - 1)

    def near(
        self, left: Pattern, right: Pattern, distance: int
    ) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """Character spans of `left` and `right` at most `distance` words apart, in
        either order and not overlapping: the first `left` that has such a
        `right`, with the closest one. Bisection keeps it near-linear."""
        rights = self.starts(right)
        width, other = len(left.words), len(right.words)
        for start in self.starts(left) if rights else ():
            end = start + width - 1
            after = bisect_right(rights, end)
            before = bisect_left(rights, start - other + 1) - 1
            gaps = []
            if before >= 0 and start - (rights[before] + other) <= distance:
                gaps.append((start - (rights[before] + other), rights[before]))
            if after < len(rights) and rights[after] - end - 1 <= distance:
                gaps.append((rights[after] - end - 1, rights[after]))
            if gaps:
                partner = min(gaps)[1]
                return self.span(start, end), self.span(partner, partner + other - 1)
        return None

    def _find(self, pattern: Pattern) -> list[int]:
        """Starts of the first word, narrowed word by word to runs of the whole pattern."""
        starts = self._word_positions(pattern, 0)
        for offset in range(1, len(pattern.words)):
            if not starts:
                break
            following = set(self._word_positions(pattern, offset))
            join = pattern.joins[offset - 1]
            starts = [
                start
                for start in starts
                if start + offset in following and self._joined(start + offset, join)
            ]
        return starts

    def _word_positions(self, pattern: Pattern, offset: int) -> list[int]:
        if pattern.prefix and offset == len(pattern.words) - 1:
            return self.prefixed(pattern.words[offset])
        return self.occurrences(pattern.forms[offset])

    def _joined(self, position: int, join: str) -> bool:
        separator = self.parts[2 * position]
        return is_soft_separator(separator) or (bool(join) and squeeze(separator) == join)


# French and Italian elisions: `l'Élysée` is also found as `Élysée`, `dell'Italia` as `Italia`.
ELISIONS = frozenset(
    {"c", "d", "j", "l", "m", "n", "s", "t", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu"}
    | {"dell", "all", "dall", "nell", "sull", "coll", "un", "quell"}
)


def _elide(positions: dict[str, list[int]]) -> dict[int, str]:
    """Also index each elided word under the word itself; returns where they are."""
    elided: dict[int, str] = {}
    for key in [key for key in positions if "'" in key]:
        head, _, word = key.partition("'")
        if head in ELISIONS and word:
            positions[word] = sorted(positions.get(word, []) + positions[key])
            elided.update(dict.fromkeys(positions[key], word))
    return elided


def fold_name(name: str) -> str:
    """A source name or language code as `source:` and `lang:` compare it."""
    return " ".join(normalise(name).split()).replace("_", "-")


def host_of(site: str) -> str:
    """The lower-case host of a URL or host name (`https://WWW.x.org:8/a` → `www.x.org`)."""
    site = site.strip()
    host = (urlsplit(site).hostname or "") if "://" in site else site.split("/")[0]
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return host.strip(".").lower()


@dataclass(frozen=True, eq=False)
class Document:
    """An article's title and text, tokenised once and matched against many rules.

    `source` (the configured source name), `site` (the URL's host) and `lang`
    are what field scopes (`source:`, `site:`, `lang:`) look at; `of` folds
    them the way the query side is folded.
    """

    title: TextIndex
    text: TextIndex
    source: str = ""
    site: str = ""
    lang: str = ""
    _snippets: dict[tuple[str, int, int], tuple[str, int, int]] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def of(
        cls, *, title: str, text: str, source: str = "", site: str = "", lang: str | None = None
    ) -> Document:
        """`site` may be the article's URL or just its host."""
        return cls(
            TextIndex.of(title),
            TextIndex.of(text),
            fold_name(source),
            host_of(site),
            fold_name(lang or ""),
        )

    def field(self, name: Field) -> TextIndex:
        return self.title if name == "title" else self.text


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
    if len(hits) == 1:
        first, terms = hits[0], (hits[0].term,)
    else:
        in_text = [hit for hit in hits if hit.field == "text"]
        first = min(in_text or hits, key=lambda hit: hit.start)
        terms = tuple(dict.fromkeys(hit.term for hit in hits))
    where = (first.field, first.start, first.end)
    if where not in document._snippets:  # rules that hit the same words share one snippet
        source = document.field(first.field).text
        document._snippets[where] = make_snippet(source, start=first.start, end=first.end)
    snippet, snippet_start, snippet_end = document._snippets[where]
    return Match(
        terms=terms,
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
    before = _collapse(text[left:start]).lstrip()
    hit = _collapse(text[start:end])
    after = _collapse(text[end:right]).rstrip()
    head = ELLIPSIS if _NON_SPACE.search(text, 0, left) else ""
    tail = ELLIPSIS if _NON_SPACE.search(text, right) else ""
    hit_start = len(head) + len(before)
    return head + before + hit + after + tail, hit_start, hit_start + len(hit)


def _collapse(text: str) -> str:
    """Each run of whitespace as one space, at the ends too (`str.split` is much
    faster than a regex substitution here, and splits on the same characters)."""
    inner = " ".join(text.split())
    if not inner:
        return " " if text else ""
    head = " " if text[0].isspace() else ""
    return head + inner + (" " if text[-1].isspace() else "")


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
    space = _LAST_SPACE.search(text, limit, right)
    return space.start() if space else right
