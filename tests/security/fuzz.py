"""What the fuzz tests share: Hypothesis settings, hostile text, and what "clean" means.

CI runs a bounded number of examples per property, the same ones on every run; a
long fuzzing pass draws new ones, as many as `NEWSWATCH_FUZZ_EXAMPLES` says::

    NEWSWATCH_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/security -k fuzz
"""

from __future__ import annotations

import os
import re
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from flows.errors import shown_url

LONG_PASS = int(os.environ.get("NEWSWATCH_FUZZ_EXAMPLES") or 0)


def fuzz_settings(examples: int) -> settings:
    """`examples` per property in CI, derandomized so a run never fails by luck; in a
    long pass, NEWSWATCH_FUZZ_EXAMPLES random ones, each of which must finish in 10 s."""
    return settings(
        max_examples=LONG_PASS or examples,
        derandomize=not LONG_PASS,
        deadline=timedelta(seconds=10) if LONG_PASS else None,
        database=None,  # no .hypothesis/ folder left in the checkout
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


# Pieces that have broken parsers before: controls, line breaks of every kind, bidi
# overrides, entities and DTDs, markup, URLs no parser accepts, query syntax.
NASTY = [
    *["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b[31m", "\x7f", "\x85", "\x9b", "\t"],
    *["\r\n", "\r", "\n", "\u2028", "\u2029", "\xa0", "\u200b", "\ufeff", "\ufffd"],
    *["\u202a", "\u202b", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"],
    *["&lol;", "&amp;", "&#0;", "&#27;", "&#x202e;", "&#xD800;", "&nbsp;", "&", "&#"],
    *["<!DOCTYPE x [<!ENTITY a 'b'>]>", "<!ENTITY a SYSTEM 'file:///etc/passwd'>", "&a;"],
    *["<![CDATA[", "]]>", "<!--", "-->", "<?xml", "?>", "<script>", "</div>", "<p>", "<"],
    *["http://[::1", "http://2130706433/", "http://0x7f.1/", "file:///etc/passwd"],
    *["https://x.test/a", "//x.test/b", "http://", "%00", "%zz", "#", "?", "@", ":"],
    *['"', "'", "\\", "{", "}", "[", "]", "(", ")", "*", "-", "|", "/", ";", ","],
    *["date 2024-01-05", "date 2024-02-30", "Skip to content", "January 5, 2024"],
    *["OR", "AND", "NOT", "NEAR", "NEAR/5", "NEAR/0", "title:", "site:", "source:", "lang:"],
    *["é", "e\u0301", "İ", "ß", "𝒳", "北朝鲜", "مرحبا", "\U0001f600", "ǅ"],
]

_pieces = st.one_of(st.sampled_from(NASTY), st.text(max_size=12))
hostile_text = st.lists(_pieces, max_size=24).map("".join)
# Cheaper to draw, for strategies that need many strings per example.
short_hostile = st.lists(_pieces, max_size=6).map("".join)

# What no cleaned line or text may contain: controls (a text keeps \n and \t), line
# and paragraph separators, bidi embeddings, overrides and isolates.
_BIDI = "\u202a-\u202e\u2066-\u2069"
_NOT_IN_LINE = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029{_BIDI}]")
_NOT_IN_TEXT = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u2028\\u2029{_BIDI}]")


def is_clean_line(value: str) -> bool:
    """One line a mail header or a log line can quote: nothing that breaks or reorders it."""
    return value == value.strip() and not _NOT_IN_LINE.search(value)


def is_clean_text(value: str) -> bool:
    return not _NOT_IN_TEXT.search(value)


def assert_one_line_error(error: BaseException, *, naming: str) -> None:
    """A user-facing error: the input it is about, then the reason on the same line.

    The input is quoted as it is, a URL's password masked (`shown_url`), so only an
    input that holds a line break itself (a URL a caller made up, never one the
    feeds, sitemaps or seeds let through) can spread the message over two lines.
    """
    message, named = str(error), shown_url(naming)
    assert message.startswith(f"{named}: "), message
    assert naming == named or naming not in message, message  # the password is not shown
    reason = message.removeprefix(f"{named}: ")
    assert reason and "\n" not in reason and "\r" not in reason, message
