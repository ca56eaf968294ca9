"""Sitemaps and OPML subscription lists under fuzzing.

Whatever the bytes, `parse_sitemap` returns a sitemap or raises one `FeedError` line
naming it, and `read_opml` returns feeds or raises one `ConfigError` line naming the
file; sitemap URLs are clean http(s) URLs, OPML names are valid, unique source names.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

from hypothesis import given
from hypothesis import strategies as st

from flows.errors import ConfigError, FeedError
from flows.opml import read_opml
from flows.sitemaps import Sitemap, parse_sitemap
from tests.security.fuzz import assert_one_line_error, fuzz_settings, hostile_text, is_clean_line

SITEMAP_URL = "https://x.test/sitemap.xml"
NEWS = "http://www.google.com/schemas/sitemap-news/0.9"
SOURCE_NAME = re.compile(r"[\w][\w .:/-]*")


def sitemap_or_error(body: bytes) -> Sitemap | None:
    try:
        sitemap = parse_sitemap(body, url=SITEMAP_URL, source="fuzz")
    except FeedError as error:
        assert_one_line_error(error, naming=SITEMAP_URL)
        assert error.source == "fuzz"
        return None
    for url in [c.url for c in sitemap.candidates] + sitemap.children:
        assert urlsplit(url).scheme in ("http", "https") and is_clean_line(url), url
        assert "#" not in url
    for candidate in sitemap.candidates:
        assert candidate.title is None or (candidate.title and is_clean_line(candidate.title))
    assert all(name and is_clean_line(name) for name in sitemap.publications.values())
    return sitemap


@fuzz_settings(200)
@given(body=st.binary(max_size=3000), gzipped=st.booleans())
def test_fuzz_any_bytes_are_a_sitemap_or_one_feed_error(body: bytes, gzipped: bool) -> None:
    sitemap_or_error(gzip.compress(body) if gzipped else body)


urls = st.lists(
    st.fixed_dictionaries(
        {
            "loc": st.one_of(hostile_text, st.builds("https://x.test/{}".format, hostile_text)),
            "title": hostile_text,
            "name": hostile_text,
            "date": st.one_of(hostile_text, st.just("2025-03-01T10:00:00+01:00")),
        }
    ),
    min_size=1,
    max_size=6,
)


@fuzz_settings(150)
@given(entries=urls, index=st.booleans(), escaped=st.booleans())
def test_fuzz_urlsets_and_indexes_with_hostile_fields_come_out_clean(
    entries: list[dict[str, str]], index: bool, escaped: bool
) -> None:
    def field(value: str) -> str:
        return escape(value) if escaped else value

    if index:
        rows = "".join(f"<sitemap><loc>{field(e['loc'])}</loc></sitemap>" for e in entries)
        body = f"<sitemapindex>{rows}</sitemapindex>"
    else:
        rows = "".join(
            f"<url><loc>{field(e['loc'])}</loc><news:news><news:publication>"
            f"<news:name>{field(e['name'])}</news:name></news:publication>"
            f"<news:publication_date>{field(e['date'])}</news:publication_date>"
            f"<news:title>{field(e['title'])}</news:title></news:news></url>"
            for e in entries
        )
        body = f'<urlset xmlns:news="{NEWS}">{rows}</urlset>'
    sitemap_or_error(body.encode("utf-8", errors="surrogatepass"))


def opml_or_error(path: Path) -> None:
    try:
        feeds = read_opml(path)
    except ConfigError as error:
        assert_one_line_error(error, naming=str(path))
        return
    names = [feed.name for feed in feeds]
    assert len(set(names)) == len(names)
    assert all(SOURCE_NAME.fullmatch(name) and len(name) <= 200 for name in names), names
    assert all(feed.url for feed in feeds)


@fuzz_settings(300)
@given(body=st.binary(max_size=2000))
def test_fuzz_any_bytes_are_opml_or_one_config_error(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "feeds.opml"
    path.write_bytes(body)
    opml_or_error(path)


outlines = st.lists(st.tuples(hostile_text, hostile_text, hostile_text), max_size=6)


@fuzz_settings(150)
@given(rows=outlines, nested=st.booleans())
def test_fuzz_opml_outlines_with_hostile_names_become_valid_unique_names(
    tmp_path: Path, rows: list[tuple[str, str, str]], nested: bool
) -> None:
    body = "".join(
        f"<outline text={quoteattr(text)} title={quoteattr(title)} xmlUrl={quoteattr(url)}/>"
        for text, title, url in rows
    )
    if nested:
        body = f'<outline text="folder">{body}</outline>'
    path = tmp_path / "feeds.opml"
    path.write_text(
        f'<opml version="2.0"><head/><body>{body}</body></opml>', errors="surrogatepass"
    )
    opml_or_error(path)
