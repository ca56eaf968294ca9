"""XML attacks on every XML reader: entity expansion, external entities and DTDs.

Each attack is served to feeds (RSS and Atom), sitemaps, OPML files and article
pages. None may expand an entity, read a local file or make a request (a loopback
server records any that arrive); each finishes quickly in little memory, with
the entries it could read or the reader's one-line error naming the input.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flows.errors import ConfigError, ExtractError, FeedError
from flows.extract import extract_article
from flows.feeds import parse_feed
from flows.opml import read_opml
from flows.sitemaps import parse_sitemap
from tests.security.fuzz import assert_one_line_error
from tests.servers import LoopbackHTTPServer

LOL = "lol" * 3
PASSWD_LINE = "root:x:0:0"  # the first line of /etc/passwd on every Linux
EXTERNAL = "EXTERNAL-CONTENT-7f3a"  # what the loopback server answers, if anyone asks
URL = "https://x.test/hostile.xml"


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackHTTPServer]:
    loopback = LoopbackHTTPServer().start()
    loopback.route("/entity", EXTERNAL, content_type="text/plain")
    loopback.route("/dtd", f'<!ENTITY ext "{EXTERNAL}">', content_type="application/xml-dtd")
    yield loopback
    loopback.stop()


def _laughs(separator: str) -> str:
    lines = ['<!ENTITY l0 "lol">'] + [
        f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10)
    ]
    return separator.join(lines)


# name -> (DOCTYPE, the reference placed where the document's text goes)
ATTACKS: dict[str, Callable[[str], tuple[str, str]]] = {
    "billion laughs, one declaration a line": lambda base: (
        f"<!DOCTYPE root [\n{_laughs(chr(10))}\n]>\n",
        "&l9;",
    ),
    "billion laughs, all on one line": lambda base: (f"<!DOCTYPE root [{_laughs('')}]>", "&l9;"),
    "quadratic blowup: 50 KB entity used 2,000 times": lambda base: (
        f'<!DOCTYPE root [\n<!ENTITY big "{"lol" * 17_000}">\n]>\n',
        "&big;" * 2_000,
    ),
    "external entity: file:///etc/passwd": lambda base: (
        '<!DOCTYPE root [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        "&xxe;",
    ),
    "external entity: http on loopback": lambda base: (
        f'<!DOCTYPE root [<!ENTITY xxe SYSTEM "{base}/entity">]>',
        "&xxe;",
    ),
    "external DTD on loopback": lambda base: (
        f'<!DOCTYPE root SYSTEM "{base}/dtd">',
        "&ext;",
    ),
    "external parameter entity on loopback": lambda base: (
        f'<!DOCTYPE root [<!ENTITY % p SYSTEM "{base}/dtd"> %p;]>',
        "&ext;",
    ),
    "DTD after junk on a line of its own": lambda base: (
        f'junk\n<!DOCTYPE root [\n<!ENTITY big "{"lol" * 17_000}">\n]>\n',
        "&big;" * 2_000,
    ),
    "DTD inside a comment": lambda base: (
        f'<!--\n<!DOCTYPE root [\n<!ENTITY big "{"lol" * 17_000}">\n]>\n-->\njunk\n',
        "&big;" * 2_000,
    ),
    "entity value with regex escapes (feedparser#599)": lambda base: (
        '<!DOCTYPE root [\n<!ENTITY path "C:\\data\\1">\n]>\n',
        "&path;",
    ),
}
ENCODINGS = ["utf-8", "utf-16"]


def feed_rss(doctype: str, ref: str) -> str:
    return (
        f'{doctype}<rss version="2.0"><channel><title>t</title><item><title>a {ref} b</title>'
        f"<link>https://x.test/1</link><description>{ref}</description></item></channel></rss>"
    )


def feed_atom(doctype: str, ref: str) -> str:
    return (
        f'{doctype}<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry>'
        f'<title>a {ref} b</title><link href="https://x.test/1"/><id>{ref}</id>'
        f"<content>{ref}</content></entry></feed>"
    )


def sitemap(doctype: str, ref: str) -> str:
    return (
        f'{doctype}<urlset xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"<url><loc>https://x.test/{ref}</loc><news:news><news:title>{ref}</news:title>"
        "</news:news></url></urlset>"
    )


def opml(doctype: str, ref: str) -> str:
    return (
        f'{doctype}<opml version="2.0"><head/><body><outline text="{ref}" '
        f'xmlUrl="https://x.test/{ref}"/></body></opml>'
    )


def page(doctype: str, ref: str) -> str:
    words = " ".join(["The ministry said the exercise went on for several days."] * 5)
    return (
        f"{doctype}<html><head><title>a {ref} b</title></head><body><article>"
        f"<p>{ref} {words}</p></article></body></html>"
    )


def read_feed(data: bytes, tmp_path: Path) -> list[str]:
    try:
        candidates = parse_feed(data, url=URL, source="x")
    except FeedError as error:
        assert_one_line_error(error, naming=URL)
        return [str(error)]
    fields = [(c.url, c.title, c.summary, c.guid) for c in candidates]
    return [value for row in fields for value in row if value]


def read_sitemap(data: bytes, tmp_path: Path) -> list[str]:
    try:
        found = parse_sitemap(data, url=URL, source="x")
    except FeedError as error:
        assert_one_line_error(error, naming=URL)
        return [str(error)]
    return [*(c.url for c in found.candidates), *(c.title or "" for c in found.candidates)]


def read_opml_file(data: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "feeds.opml"
    path.write_bytes(data)
    try:
        feeds = read_opml(path)
    except ConfigError as error:
        assert_one_line_error(error, naming=str(path))
        return [str(error)]
    return [value for feed in feeds for value in (feed.name, feed.url)]


def read_page(data: bytes, tmp_path: Path) -> list[str]:
    try:
        article = extract_article(data, url=URL, source="x")
    except ExtractError as error:
        assert_one_line_error(error, naming=URL)
        return [str(error)]
    return [article.title, article.text]


READERS = {
    "feed (RSS)": (feed_rss, read_feed),
    "feed (Atom)": (feed_atom, read_feed),
    "sitemap": (sitemap, read_sitemap),
    "OPML": (opml, read_opml_file),
    "article page": (page, read_page),
}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("reader", READERS)
def test_no_reader_expands_entities_reads_files_or_makes_requests(
    server: LoopbackHTTPServer, tmp_path: Path, reader: str, attack: str, encoding: str
) -> None:
    build, read = READERS[reader]
    doctype, ref = ATTACKS[attack](server.base_url)
    prolog = f'<?xml version="1.0" encoding="{encoding}"?>' if reader != "article page" else ""
    data = (prolog + build(doctype, ref)).encode(encoding)
    before = len(server.requests)

    tracemalloc.start()
    started = time.perf_counter()
    try:
        values = read(data, tmp_path)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    text = "\n".join(values)
    assert LOL not in text, f"an entity was expanded: {text[:200]}"
    assert PASSWD_LINE not in text and EXTERNAL not in text
    assert len(server.requests) == before, [r.path for r in server.requests[before:]]
    assert elapsed < 3, f"{elapsed:.1f} s"  # 14-34 s before entities were defused
    assert peak < 8_000_000 + 60 * len(data), f"peak {peak:,} bytes for a {len(data):,}-byte body"
