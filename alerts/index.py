"""An article indexed once for many rules: each field's words, their pairs, their positions.

Each field (title, text) is split once (`alerts.words`) and keeps its words'
keys, the separators between them and the set of its distinct keys. A term is
a `Pattern`: one word is a set lookup, a two-word phrase a lookup among the
field's pairs of adjacent words, a longer phrase a run of consecutive
positions, a prefix (`launch*`) a range of the field's sorted distinct words.
Nothing backtracks, so matching is linear in the text whatever the rule says,
and each field remembers what it already answered, so many rules share the
work::

    document = Document.of(title="Mobile missile launchers", text="...")
    document.title.has(Pattern.of(("missile", "launcher"), ("",)))  # True
    document.title.first_span(Pattern.of(("missile", "launcher"), ("",)))  # (7, 24)

Whether a term occurs is told from keys and positions alone (`has`); where,
in characters, only when a hit is explained (`first_span`), since that needs
the offsets of every word.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate, compress, islice, repeat
from operator import contains
from typing import Literal

from alerts.snippet import make_snippet
from alerts.words import (
    Pattern,
    fold_name,
    host_of,
    is_soft_separator,
    pairs_of,
    soft_flags,
    split_keys,
    squeeze,
)

Field = Literal["title", "text"]
FIELDS: tuple[Field, ...] = ("title", "text")

# French and Italian elisions: `l'Élysée` is also found as `Élysée`, `dell'Italia` as `Italia`.
ELISIONS = frozenset(
    {"c", "d", "j", "l", "m", "n", "s", "t", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu"}
    | {"dell", "all", "dall", "nell", "sull", "coll", "un", "quell"}
)
SCANS = 16  # words a field scans for before it files every word's positions at once
SCAN_WORDS = 2_000  # a field of more words files them at once from the first
_UNKNOWN = object()


@dataclass(frozen=True, eq=False)
class TextIndex:
    """One field of an article, split once: its words' keys, the separators between
    them, and the set of distinct keys. Pairs of adjacent words, positions and
    character offsets are worked out when first needed; answers are memoised
    per word and per pattern."""

    text: str
    parts: list[str]  # separators and words alternating, lower-cased (`split_keys`)
    keys: list[str]
    words: set[str]  # the distinct keys, and each elided word (`elysee` for `l'elysee`)
    elided: dict[int, str]  # position → the word after an elision (`l'élysée` → `elysee`)
    _scanned: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _starts: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _first: dict[str, int | None] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, text: str) -> TextIndex:
        parts, keys = split_keys(text)
        words = set(keys)
        return cls(text, parts, keys, words, _elide(keys, words))

    @cached_property
    def pairs(self) -> set[str]:
        """Every two adjacent keys joined by a space, hyphen or dash (`pair`; elided
        words under both keys): a two-word phrase occurs exactly when one of its pairs
        is here."""
        keys = self.keys
        soft = soft_flags(self.parts[2:-1:2])
        firsts, seconds = compress(keys, soft), compress(islice(keys, 1, None), soft)
        pairs = set(map(" ".join, zip(firsts, seconds, strict=True)))  # `pair`s, a fifth faster
        for position, word in self.elided.items():
            if position > 0 and soft[position - 1]:
                pairs.update(pairs_of(self._keys_at(position - 1), (word,)))
            if position + 1 < len(keys) and soft[position]:
                pairs.update(pairs_of((word,), self._keys_at(position + 1)))
        return pairs

    def _keys_at(self, position: int) -> tuple[str, ...]:
        word = self.elided.get(position)
        return (self.keys[position],) if word is None else (self.keys[position], word)

    @cached_property
    def positions(self) -> dict[str, list[int]]:
        """Key → its positions, in order; an elided word is also filed under the word."""
        positions: dict[str, list[int]] = {}
        get = positions.get
        for position, key in enumerate(self.keys):
            found = get(key)
            if found is None:
                positions[key] = [position]
            else:
                found.append(position)
        for position, word in self.elided.items():
            positions.setdefault(word, []).append(position)
        for word in set(self.elided.values()):
            positions[word].sort()
        return positions

    def positions_of(self, key: str) -> list[int]:
        """Where `key` stands, in order: scanned for in C, until `SCANS` keys were;
        from then on (and in long texts) looked up in `positions`."""
        found = self._scanned.get(key)
        if found is None:
            if key not in self.words:
                return []
            if len(self._scanned) >= SCANS or len(self.keys) > SCAN_WORDS:
                return self.positions[key]
            found = self._scanned[key] = self._scan(key)
        return found

    def _first_of(self, key: str) -> int:
        """Where `key`, one of `words`, first stands: no need to find all its places."""
        found = self._scanned.get(key) or self.__dict__.get("positions", {}).get(key)
        if found:
            return found[0]
        firsts = [at for at, word in self.elided.items() if word == key]
        with suppress(ValueError):  # when it only ever stands elided (`l'élysée`)
            firsts.append(self.keys.index(key))
        return min(firsts)

    def _scan(self, key: str) -> list[int]:
        found: list[int] = []
        find = self.keys.index
        try:
            position = find(key)
            while True:
                found.append(position)
                position = find(key, position + 1)
        except ValueError:
            pass
        if self.elided:
            found = sorted(found + [at for at, word in self.elided.items() if word == key])
        return found

    @cached_property
    def offsets(self) -> list[int]:
        """`offsets[j]` is where `parts[j]` starts in `text`: word i spans
        `offsets[2i+1]:offsets[2i+2]`. Computed only once something is explained."""
        return list(accumulate(map(len, self.parts), initial=0))

    @cached_property
    def sorted_keys(self) -> list[str]:
        """The distinct words in order, so a prefix is one bisection."""
        return sorted(self.words)

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Character span from the start of word `first` to the end of word `last`."""
        return self.offsets[2 * first + 1], self.offsets[2 * last + 2]

    def occurrences(self, forms: Iterable[str]) -> list[int]:
        """Sorted positions of words equal to any of `forms`."""
        present = self.words.intersection(forms)
        if len(present) == 1:
            return self.positions_of(present.pop())
        found: list[int] = []
        for form in present:
            found.extend(self.positions_of(form))
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

    def has(self, pattern: Pattern) -> bool:
        """Whether `pattern` occurs at all (the question most rules ask)."""
        if pattern.is_word:
            return not self.words.isdisjoint(pattern.forms[0])
        if pattern.pairs is not None:
            words, forms = self.words, pattern.forms
            if words.isdisjoint(forms[0]) or words.isdisjoint(forms[1]):
                return False  # in C, and the usual answer: no need for the field's pairs
            return not self.pairs.isdisjoint(pattern.pairs)
        return self.first_start(pattern) is not None

    def starts(self, pattern: Pattern) -> list[int]:
        """Positions where `pattern` starts, in order (memoised per pattern key)."""
        found = self._starts.get(pattern.key)
        if found is None:
            found = self._starts[pattern.key] = self._find(pattern)
        return found

    def first_start(self, pattern: Pattern) -> int | None:
        """Position of the earliest occurrence of `pattern`, or None (memoised)."""
        start = self._first.get(pattern.key, _UNKNOWN)
        if start is _UNKNOWN:
            start = self._first[pattern.key] = self._first_start(pattern)
        return start  # type: ignore[return-value]

    def first_span(self, pattern: Pattern) -> tuple[int, int] | None:
        """Character span of the earliest occurrence of `pattern`, or None."""
        start = self.first_start(pattern)
        return None if start is None else self.span(start, start + len(pattern.words) - 1)

    def _first_start(self, pattern: Pattern) -> int | None:
        words, forms = self.words, pattern.forms
        exact = len(forms) - pattern.prefix
        if any(words.isdisjoint(forms[offset]) for offset in range(exact)):
            return None  # most terms, most of all in a title: set operations in C
        if pattern.is_word:
            return min(map(self._first_of, words.intersection(forms[0])))
        if exact == 0:  # a one-word prefix: the first of each word it starts
            firsts = [self.positions[key][0] for key in self._keys_from(pattern.words[0])]
            return min(firsts) if firsts else None
        starts = self.starts(pattern)
        return starts[0] if starts else None

    def near(
        self, left: Pattern, right: Pattern, distance: int
    ) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """Character spans of `left` and `right` at most `distance` words apart (`near_starts`)."""
        found = self.near_starts(left, right, distance)
        if found is None:
            return None
        start, partner = found
        return (
            self.span(start, start + len(left.words) - 1),
            self.span(partner, partner + len(right.words) - 1),
        )

    def is_near(self, left: Pattern, right: Pattern, distance: int) -> bool:
        """Whether `near_starts` finds a pair. Two words are told from the positions of
        one (the longer, likely rarer) and the words around each."""
        if not (left.is_word and right.is_word) or self.elided:
            return self.near_starts(left, right, distance) is not None
        if len(right.words[0]) > len(left.words[0]):
            left, right = right, left
        keys, others = self.keys, right.forms[0]
        for position in self.occurrences(left.forms[0]):
            before = keys[max(position - distance - 1, 0) : position]
            if not others.isdisjoint(before) or not others.isdisjoint(
                keys[position + 1 : position + distance + 2]
            ):
                return True
        return False

    def near_starts(self, left: Pattern, right: Pattern, distance: int) -> tuple[int, int] | None:
        """Starts of `left` and `right` at most `distance` words apart, in either order
        and not overlapping: the first `left` that has such a `right`, with the closest
        one. Bisection keeps it near-linear."""
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
                return start, min(gaps)[1]
        return None

    def _find(self, pattern: Pattern) -> list[int]:
        """Where the pattern's pivot word occurs, kept where the other words stand
        around it as the pattern says: starts in order."""
        size = len(pattern.words)
        if size == 1:
            return self._word_positions(pattern, 0)
        pivot = pattern.pivot
        last = len(self.keys) - size
        return [
            position - pivot
            for position in self._word_positions(pattern, pivot)
            if 0 <= position - pivot <= last and self._stands_at(pattern, position - pivot, pivot)
        ]

    def _stands_at(self, pattern: Pattern, start: int, pivot: int) -> bool:
        """Whether `pattern` starts at `start`, its word `pivot` known to be there."""
        size = len(pattern.words)
        return all(
            offset == pivot or self._fits(pattern, offset, start + offset) for offset in range(size)
        ) and all(
            self._joined(start + offset, pattern.joins[offset - 1]) for offset in range(1, size)
        )

    def _word_positions(self, pattern: Pattern, offset: int) -> list[int]:
        if pattern.prefix and offset == len(pattern.words) - 1:
            return self.prefixed(pattern.words[offset])
        return self.occurrences(pattern.forms[offset])

    def _fits(self, pattern: Pattern, offset: int, position: int) -> bool:
        """Whether word `offset` of `pattern` is the word at `position`."""
        key, word = self.keys[position], self.elided.get(position)
        if pattern.prefix and offset == len(pattern.words) - 1:
            wanted = pattern.words[offset]
            return key.startswith(wanted) or (word is not None and word.startswith(wanted))
        return key in pattern.forms[offset] or word in pattern.forms[offset]

    def _joined(self, position: int, join: str) -> bool:
        if is_soft_separator(self.parts[2 * position]):
            return True
        if not join:
            return False
        written = self.text[self.offsets[2 * position] : self.offsets[2 * position + 1]]
        return squeeze(written) == join


def _elide(keys: list[str], words: set[str]) -> dict[int, str]:
    """Add each elided word to `words` (`elysee` for `l'elysee`); returns where they are."""
    elided: dict[int, str] = {}
    for key in [*compress(words, map(contains, words, repeat("'")))]:  # picked in C
        head, _, word = key.partition("'")
        if head in ELISIONS and word:
            words.add(word)
            elided.update((position, word) for position, at in enumerate(keys) if at == key)
    return elided


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

    def snippet(self, name: Field, start: int, end: int) -> tuple[str, int, int]:
        """`make_snippet` around a hit; rules that hit the same words share one snippet."""
        where = (name, start, end)
        made = self._snippets.get(where)
        if made is None:
            made = self._snippets[where] = make_snippet(self.field(name).text, start=start, end=end)
        return made
