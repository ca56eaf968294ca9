r"""What a source yields before any page is fetched, and the plain text it may carry.

Titles, names and texts come from strangers' feeds and pages, so they are cleaned
before they are stored, logged or mailed: no control character (NUL, ESC, a lone
CR...) and no bidi override that could reorder what a reader sees::

    clean_line("Launch\r\nBcc: x@evil.example\u202e")  # 'Launch Bcc: x@evil.example'
    clean_text("one\r\ntwo\x00")                       # 'one\ntwo'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

# Enough to file an article and match a rule on; past that a page's keyword list is
# search-engine bait ("sport news, latest news, ..."), and a "tag" longer than a short
# headline is a sentence that found its way into the keywords.
MAX_CATEGORIES = 20
MAX_CATEGORY_CHARS = 80

# C0 and C1 controls and DEL that are not whitespace (whitespace ones are line breaks or
# spaces, handled as such), and the bidi embeddings, overrides and isolates (U+202A-E,
# U+2066-9) that can make text read differently from what it says ("Trojan Source").
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
_DROPPED = dict.fromkeys(
    [c for c in _CONTROLS if not chr(c).isspace()]
    + [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)
# In a text, a control that is whitespace but ends no line (the unit separator, 0x1F,
# which str.splitlines keeps) is a space; tabs stay.
_IN_TEXT = _DROPPED | {
    c: " "
    for c in _CONTROLS
    if chr(c).isspace() and c != 0x09 and len(f"a{chr(c)}b".splitlines()) == 1
}


@dataclass(frozen=True)
class Candidate:
    """An article a source points at: a feed entry or a URL from a URL list.

    The feed's own fields are kept as the fallback when the page cannot be
    fetched or extracted (`summary` is plain text, HTML already stripped).
    """

    url: str
    source: str
    guid: str | None = None
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None  # timezone-aware UTC
    summary: str | None = None
    categories: tuple[str, ...] = ()  # the entry's categories and tags, cleaned


def clean_line(value: str) -> str:
    r"""`value` as one line: controls and bidi overrides dropped, any run of whitespace
    (line breaks of every kind included: CR, LF, NEL, U+2028...) one space.

    >>> clean_line(" Kim\u2028calls\x00 for\r\nmore ")
    'Kim calls for more'
    """
    return " ".join(value.translate(_DROPPED).split())


def clean_text(value: str) -> str:
    r"""`value` with its lines kept: every kind of line break one `\n`, controls other
    than tab and bidi overrides dropped, surrounding whitespace stripped.

    >>> clean_text("One\r\ntwo\u2029three\x1b[31m")
    'One\ntwo\nthree[31m'
    """
    return "\n".join(line.translate(_IN_TEXT) for line in value.splitlines()).strip()


def clean_categories(*groups: Iterable[object]) -> tuple[str, ...]:
    """Categories and tags from several places merged into one list, in order.

    Each is cleaned to one line (`clean_line`) and kept once whatever its case (the
    first spelling wins); empty ones, ones that are not text and ones longer than
    `MAX_CATEGORY_CHARS` are dropped, and at most `MAX_CATEGORIES` are kept.

    >>> clean_categories(["World", " world "], ["Europe", "", None])
    ('World', 'Europe')
    """
    kept: dict[str, str] = {}
    for group in groups:
        for value in group:
            if not isinstance(value, str):
                continue
            name = clean_line(value)
            if name and len(name) <= MAX_CATEGORY_CHARS:
                kept.setdefault(name.casefold(), name)
            if len(kept) == MAX_CATEGORIES:
                return tuple(kept.values())
    return tuple(kept.values())
