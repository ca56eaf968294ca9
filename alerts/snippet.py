"""The snippet an alert quotes: about 240 characters of the article around the first hit.

    make_snippet(text, start=120, end=136)  # ('… a mobile missile launcher was …', 11, 27)

The window is cut at word boundaries, whitespace collapses to single spaces,
and "…" marks each side where text was left out; the hit's span inside the
snippet comes with it, so an HTML email can bold it.
"""

from __future__ import annotations

import re

SNIPPET_WIDTH = 240
ELLIPSIS = "…"

_ANY_WHITESPACE = re.compile(r"\s")
_LAST_SPACE = re.compile(r"\s(?=\S*\Z)")  # searched with an end bound, \Z is that bound
_NON_SPACE = re.compile(r"\S")


def make_snippet(
    text: str, *, start: int, end: int, width: int = SNIPPET_WIDTH
) -> tuple[str, int, int]:
    """About `width` characters of `text` around `text[start:end]`, and the hit's span in it."""
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
