"""Feeds under fuzzing: RSS, Atom, RDF and JSON Feed bodies of any shape and encoding.

Whatever the bytes, `parse_feed` returns candidates or raises one `FeedError` line
naming the feed; a candidate's URL is an http(s) URL with nothing that breaks a line,
and its title, author and guid are clean single lines (no control character, line
separator or bidi override).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from hypothesis import given
from hypothesis import strategies as st

from flows.errors import FeedError
from flows.feeds import html_to_text, parse_feed
from flows.items import Candidate
from tests.security.fuzz import (
    assert_one_line_error,
    fuzz_settings,
    hostile_text,
    is_clean_line,
    is_clean_text,
    short_hostile,
)

FEED_URL = "https://feeds.test/news/feed.xml"
CONTENT_TYPES = [
    None,
    "application/rss+xml",
    "application/atom+xml; charset=iso-8859-1",
    "text/xml; charset=utf-16",
    "application/xml; charset=utf-7",
    "text/html",
    "text/plain; charset=no-such-charset",
    "application/feed+json",
]
ENCODINGS = ["utf-8", "utf-16", "utf-16-be", "utf-32", "cp1252", "latin-1", "utf-7", "cp037"]


def parsed_or_error(body: bytes, content_type: str | None = None) -> list[Candidate] | None:
    """The candidates, checked clean; None when the body was refused with a proper error."""
    try:
        candidates = parse_feed(body, url=FEED_URL, source="fuzz", content_type=content_type)
    except FeedError as error:
        assert_one_line_error(error, naming=FEED_URL)
        return None
    for candidate in candidates:
        assert_clean_candidate(candidate)
    return candidates


def assert_clean_candidate(candidate: Candidate) -> None:
    assert candidate.source == "fuzz"
    assert urlsplit(candidate.url).scheme in ("http", "https"), candidate.url
    assert is_clean_line(candidate.url), candidate.url
    for value in (candidate.title, candidate.author, candidate.guid, *candidate.categories):
        assert value is None or (value and is_clean_line(value)), value
    assert candidate.summary is None or is_clean_text(candidate.summary), candidate.summary
    assert candidate.published_at is None or candidate.published_at.tzinfo is not None


@fuzz_settings(300)
@given(body=st.binary(max_size=3000), content_type=st.sampled_from(CONTENT_TYPES))
def test_fuzz_any_bytes_are_candidates_or_one_feed_error(
    body: bytes, content_type: str | None
) -> None:
    parsed_or_error(body, content_type)


@fuzz_settings(300)
@given(
    text=hostile_text,
    encoding=st.sampled_from(ENCODINGS),
    content_type=st.sampled_from(CONTENT_TYPES),
)
def test_fuzz_hostile_text_in_any_encoding_is_candidates_or_one_feed_error(
    text: str, encoding: str, content_type: str | None
) -> None:
    parsed_or_error(text.encode(encoding, errors="replace"), content_type)


def _field(value: str, escaped: bool) -> str:
    return escape(value) if escaped else value


entries = st.lists(
    st.fixed_dictionaries(
        {
            "title": hostile_text,
            "link": st.one_of(hostile_text, st.builds("https://x.test/{}".format, hostile_text)),
            "guid": hostile_text,
            "description": hostile_text,
            "author": hostile_text,
            "category": hostile_text,
            "date": st.one_of(hostile_text, st.just("Tue, 05 Mar 2024 10:00:00 +0100")),
        }
    ),
    min_size=1,
    max_size=5,
)


def rss(items: list[dict[str, str]], *, escaped: bool, prolog: str) -> bytes:
    body = "".join(
        "<item>"
        + "".join(f"<{tag}>{_field(item[key], escaped)}</{tag}>" for tag, key in RSS_TAGS)
        + "</item>"
        for item in items
    )
    document = f'{prolog}<rss version="2.0"><channel><title>t</title>{body}</channel></rss>'
    return document.encode("utf-8", errors="surrogatepass")


def atom(items: list[dict[str, str]], *, escaped: bool, prolog: str) -> bytes:
    body = "".join(
        f"<entry><title>{_field(item['title'], escaped)}</title>"
        f'<link href="{escape(item["link"], {chr(34): "&quot;"})}"/>'
        f"<id>{_field(item['guid'], escaped)}</id>"
        f"<author><name>{_field(item['author'], escaped)}</name></author>"
        f'<category term="{escape(item["category"], {chr(34): "&quot;"})}"/>'
        f"<updated>{_field(item['date'], escaped)}</updated>"
        f'<content type="html">{_field(item["description"], escaped)}</content></entry>'
        for item in items
    )
    document = f'{prolog}<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>{body}</feed>'
    return document.encode("utf-8", errors="surrogatepass")


RSS_TAGS = [
    ("title", "title"),
    ("link", "link"),
    ("guid", "guid"),
    ("description", "description"),
    ("author", "author"),
    ("category", "category"),
    ("pubDate", "date"),
]
PROLOGS = [
    "",
    '<?xml version="1.0" encoding="utf-8"?>',
    "<!-- a comment -->\n",
    '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "x.dtd">',
    '<!DOCTYPE rss [\n<!ENTITY a "aaaaaaaaaa">\n<!ENTITY b "&a;&a;&a;&a;">\n]>\n',
]


@fuzz_settings(150)
@given(
    items=entries,
    escaped=st.booleans(),
    prolog=st.sampled_from(PROLOGS),
    build=st.sampled_from([rss, atom]),
)
def test_fuzz_rss_and_atom_entries_with_hostile_fields_come_out_clean(
    items: list[dict[str, str]], escaped: bool, prolog: str, build
) -> None:
    parsed_or_error(build(items, escaped=escaped, prolog=prolog))


@fuzz_settings(100)
@given(items=entries, build=st.sampled_from([rss, atom]))
def test_fuzz_every_well_formed_entry_with_a_link_is_kept(
    items: list[dict[str, str]], build
) -> None:
    """Hostile text escaped as XML must not cost an entry: each one with a link is read."""
    for number, item in enumerate(items):
        item["link"] = f"https://x.test/{number}"
    candidates = parsed_or_error(build(items, escaped=True, prolog=""))
    assert candidates is not None
    assert [c.url for c in candidates] == [f"https://x.test/{n}" for n in range(len(items))]


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), short_hostile),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(short_hostile, children, max_size=3)
    ),
    max_leaves=5,
)
json_items = st.lists(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {},
            optional={
                key: json_values
                for key in (
                    "id",
                    "url",
                    "external_url",
                    "title",
                    "content_html",
                    "content_text",
                    "summary",
                    "date_published",
                    "date_modified",
                    "authors",
                    "author",
                    "tags",
                )
            },
        ),
    ),
    max_size=4,
)


@fuzz_settings(150)
@given(items=json_items, version=st.sampled_from(["https://jsonfeed.org/version/1.1", "1", None]))
def test_fuzz_json_feeds_of_any_shape_are_candidates_or_one_feed_error(
    items: list[object], version: str | None
) -> None:
    document = {"version": version, "title": "t", "items": items}
    parsed_or_error(json.dumps(document).encode(), "application/feed+json")


@fuzz_settings(200)
@given(markup=hostile_text)
def test_fuzz_html_to_text_gives_clean_text(markup: str) -> None:
    assert is_clean_text(html_to_text(markup))
