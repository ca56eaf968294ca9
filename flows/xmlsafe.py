"""XML made safe for feedparser: no DTD, and no character reference to no character.

`flows.feeds` passes every XML feed through both before feedparser sees it::

    xml = valid_char_refs(without_doctype(convert_to_utf8(headers, body, {})))

Both work on the raw bytes, ahead of any parser, because the parsers are what
they guard against: expat and feedparser's fallback parser expand a DTD's
entities, and feedparser raises on a reference to NUL or a surrogate. They
are apart from feed parsing so that the defences can be read together.
"""

from __future__ import annotations

import re

# What can stand before a feed's root element: a comment, a processing instruction, a
# DOCTYPE, or the root's start tag (`<` and a word character, as feedparser looks for it).
_PROLOG_TOKEN = re.compile(rb"<!--|<\?|<!DOCTYPE|<\w", re.I)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.I)
_DECLARATION_END = re.compile(rb"[\[>]")
_SUBSET_END = re.compile(rb"\]\s*>")
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")


def without_doctype(xml: bytes) -> bytes:
    """`xml` (UTF-8) without the DOCTYPE declarations in front of its root element.

    A DTD's internal subset can declare entities that expand a few kilobytes into
    gigabytes (nested ones, "billion laughs", or one long one repeated): expat
    stops only past 8 MiB of expansion, and feedparser's fallback parser expands
    the entities it deems safe without any limit. Feeds need no DTD, so none
    reaches feedparser, and a reference to an entity it declared stays literal
    text. DOCTYPEs inside comments are defused too: feedparser looks there.

    >>> without_doctype(b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>')
    b'<?xml version="1.0"?><r>&a;</r>'
    """
    kept: list[bytes] = []
    position = 0
    while (token := _PROLOG_TOKEN.search(xml, position)) is not None:
        start, kind = token.start(), token.group().upper()
        if kind == b"<!DOCTYPE":
            kept.append(xml[position:start])
            position = _declaration_end(xml, token.end())
        elif kind in (b"<!--", b"<?"):
            closer = b"-->" if kind == b"<!--" else b"?>"
            close = xml.find(closer, token.end())
            end = token.end() if close < 0 else close + len(closer)
            kept.append(_DOCTYPE.sub(b"DOCTYPE", xml[position:end]))
            position = end
        else:
            break
    kept.append(xml[position:])
    return b"".join(kept)


def valid_char_refs(xml: bytes) -> bytes:
    """Numeric character references to no character (NUL, a surrogate, past U+10FFFF)
    made U+FFFD, as HTML does: feedparser raises on them (kurtmckee/feedparser#591)."""
    return _CHAR_REF.sub(_valid_char_ref, xml)


def _valid_char_ref(match: re.Match[bytes]) -> bytes:
    hexadecimal, decimal = match.groups()
    digits = (hexadecimal or decimal).lstrip(b"0")[:8] or b"0"  # 8 digits are past U+10FFFF
    code = int(digits, 16 if hexadecimal else 10)
    if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        return b"&#xFFFD;"
    return match.group()


def _declaration_end(xml: bytes, start: int) -> int:
    """Where a DOCTYPE whose keyword ends at `start` ends: past its `]>` when it has an
    internal subset, else past its `>`; the end of `xml` when it never closes."""
    close = _DECLARATION_END.search(xml, start)
    if close is None:
        return len(xml)
    if close.group() == b">":
        return close.end()
    subset = _SUBSET_END.search(xml, close.end())
    return len(xml) if subset is None else subset.end()
