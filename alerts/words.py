"""Words: how articles and queries are cut into words, folded to keys, and looked for.

Matching is on whole words in any script and ignores case and diacritics
(`Pjöngjang` finds `pjongjang`). A text is split once with a fixed Unicode
word pattern into words and the separators between them, and each word is
folded to its key (`split_keys`, `normalise`). Query words go through the same
steps, so both sides always agree::

    [token.key for token in tokenise("Kim's missile-launcher")]  # ["kim's", "missile", "launcher"]

A query term becomes a `Pattern` of keys. Inflection is tolerated by expanding
each query word into its plural and possessive forms (`word_forms`), never by
stemming, so `business` does not find `busy` and `launcher` does not find
`launcherette`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from itertools import accumulate, compress, count, product, starmap
from operator import not_
from typing import Any, NamedTuple
from urllib.parse import urlsplit

# Ideographs and kana are written without spaces, so each one is its own token
# and a word in those scripts matches as a phrase of consecutive characters.
_IDEOGRAPHIC = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_IDEOGRAPHIC_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
# Texts with none of these (most) take the faster word pattern: see `_token_pattern`.
_UNUSUAL = re.compile(f"[{_IDEOGRAPHIC}\U00010000-\U0010ffff]")
FOLD_CACHE = 1 << 18  # words whose key `fold_words` remembers, at most
SEPARATOR_CACHE = 1 << 16  # separators whose softness `soft_flags` remembers, at most


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


def split_words(text: str) -> list[str]:
    """Separators and words alternating: `[sep0, word0, sep1, word1, ..., sepN]`."""
    return _token_pattern(_UNUSUAL.search(text) is not None).split(text)


def split_keys(text: str) -> tuple[list[str], list[str]]:
    """`split_words` of `text`, lower-cased, and the key of each word.

    The text is lower-cased as a whole first, which makes every ASCII word (most
    of them) its own key, so only the others are looked up. That is safe because
    `str.lower` maps every character but `İ` to one character of the same class
    and `normalise` of a lower-cased word is that of the word (a test checks
    every code point): the parts have the lengths of `text`'s, so offsets hold.
    """
    lowered = text.lower()
    if len(lowered) != len(text):  # an `İ`: lower-casing would shift the offsets
        parts = split_words(text)
        return parts, fold_words(parts[1::2])
    parts = split_words(lowered)
    keys = parts[1::2]
    others = list(compress(count(), map(not_, map(str.isascii, keys))))
    if others:
        for position, key in zip(others, fold_words([keys[n] for n in others]), strict=True):
            keys[position] = key
    return parts, keys


class Token(NamedTuple):
    key: str
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


class _Memo:
    """`compute` of each value, remembered for up to `limit` distinct values, so a text
    costs one C-level lookup per word or separator. The dict is replaced, not cleared,
    when full, so a thread still reading the old one is unharmed."""

    def __init__(self, compute: Callable[[str], Any], limit: int) -> None:
        self.compute = compute
        self.limit = limit
        self.known: dict[str, Any] = {}

    def map(self, values: Sequence[str]) -> list[Any]:
        known = self.known
        try:
            return list(map(known.__getitem__, values))
        except KeyError:
            pass
        if len(known) > self.limit:
            known = self.known = {}
        for value in set(values).difference(known):
            known[value] = self.compute(value)
        return list(map(known.__getitem__, values))


def fold_words(words: Sequence[str]) -> list[str]:
    """`normalise` of each word, for the thousand words of an article at once."""
    return _FOLDED.map(words)


def soft_flags(separators: Sequence[str]) -> list[bool]:
    """`is_soft_separator` of each separator (a text has a few dozen distinct ones)."""
    return _SOFT.map(separators)


def pair(first: str, second: str) -> str:
    """Two keys side by side as one string: keys hold no spaces, and strings, unlike
    tuples, cost the garbage collector nothing (a text has hundreds of pairs)."""
    return first + " " + second


def pairs_of(firsts: Iterable[str], seconds: Iterable[str]) -> Iterator[str]:
    """`pair` of every first with every second."""
    return starmap(pair, product(firsts, seconds))


def tokenise(text: str) -> list[Token]:
    """The words of `text` with their spans in `text` itself."""
    parts, keys = split_keys(text)
    offsets = list(accumulate(map(len, parts), initial=0))
    return [Token(key, offsets[2 * i + 1], offsets[2 * i + 2]) for i, key in enumerate(keys)]


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
    # a two-word phrase written with a space or hyphen: the pairs of forms it can be
    pairs: frozenset[str] | None

    @classmethod
    def of(cls, words: Sequence[str], joins: Sequence[str], *, prefix: bool = False) -> Pattern:
        forms = tuple(word_forms(word) for word in words)
        key = "\x1f".join(words) + "\x1e" + "\x1f".join(joins) + ("*" if prefix else "")
        is_word = len(words) == 1 and not prefix
        is_pair = len(words) == 2 and not prefix and joins[0] == ""
        pairs = frozenset(pairs_of(forms[0], forms[1])) if is_pair else None
        return cls(tuple(words), forms, tuple(joins), prefix, key, is_word, pairs)

    @cached_property
    def pivot(self) -> int:
        """The word a phrase is looked for by: its longest (likely rarest) exact word
        (0 for a one-word prefix, which has none)."""
        exact = len(self.words) - self.prefix
        return max(range(exact), key=lambda offset: len(self.words[offset]), default=0)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)


_FOLDED = _Memo(normalise, FOLD_CACHE)
_SOFT = _Memo(is_soft_separator, SEPARATOR_CACHE)
