"""Sitemaps: literal documents for the parser, a real loopback server for following indexes."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime

import httpx
import pytest

from flows.errors import FeedError
from flows.sitemaps import MAX_SITEMAP_BYTES, ListSitemaps, collect_sitemap, parse_sitemap
from tests.servers import LoopbackHTTPServer

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
NEWS_NS = 'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'


def urlset(*entries: str) -> bytes:
    declaration = '<?xml version="1.0" encoding="UTF-8"?>\n'
    return f"{declaration}<urlset {NS} {NEWS_NS}>{''.join(entries)}</urlset>".encode()


def index(*locations: str) -> bytes:
    children = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locations)
    return f'<?xml version="1.0"?><sitemapindex {NS}>{children}</sitemapindex>'.encode()


def url(loc: str, extra: str = "") -> str:
    return f"<url><loc>{loc}</loc>{extra}</url>"


NEWS = (
    "<news:news><news:publication><news:name>The Gazette</news:name>"
    "<news:language>en</news:language></news:publication>"
    "<news:publication_date>2025-03-01T10:30:00+01:00</news:publication_date>"
    "<news:title>Rates &amp; markets</news:title></news:news>"
)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (url("https://x.test/a"), ("https://x.test/a", None, None)),
        (
            url("https://x.test/b", "<lastmod>2025-03-02</lastmod>"),
            ("https://x.test/b", None, datetime(2025, 3, 2, tzinfo=UTC)),
        ),
        (
            url("https://x.test/c", "<lastmod>2025-03-02T08:00:00Z</lastmod>"),
            ("https://x.test/c", None, datetime(2025, 3, 2, 8, tzinfo=UTC)),
        ),
        (
            url("https://x.test/d", "<lastmod>yesterday</lastmod>"),
            ("https://x.test/d", None, None),
        ),
        (
            url("https://x.test/e", f"<lastmod>2020-01-01</lastmod>{NEWS}"),
            ("https://x.test/e", "Rates & markets", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        ),
        (url("  https://x.test/f#top  "), ("https://x.test/f", None, None)),
    ],
)
def test_urlset_entries_become_candidates(entry: str, expected: tuple) -> None:
    sitemap = parse_sitemap(urlset(entry), url="https://x.test/sitemap.xml", source="x")
    (candidate,) = sitemap.candidates
    assert (candidate.url, candidate.title, candidate.published_at) == expected
    assert candidate.source == "x"
    assert sitemap.children == []


def test_news_sitemap_keeps_the_publication_name() -> None:
    sitemap = parse_sitemap(urlset(url("https://x.test/n", NEWS)), url="u", source="x")
    assert sitemap.publications == {"https://x.test/n": "The Gazette"}


def test_urlset_skips_relative_and_repeated_locations() -> None:
    body = urlset(url("/relative"), url("https://x.test/a"), url("https://x.test/a"), url(""))
    sitemap = parse_sitemap(body, url="u", source="x")
    assert [c.url for c in sitemap.candidates] == ["https://x.test/a"]


def test_sitemap_without_namespace_is_read() -> None:
    body = b"<urlset><url><loc>https://x.test/a</loc></url></urlset>"
    assert [c.url for c in parse_sitemap(body, url="u", source="x").candidates] == [
        "https://x.test/a"
    ]


def test_index_lists_children() -> None:
    body = index("https://x.test/1.xml", "https://x.test/2.xml.gz", "https://x.test/1.xml")
    sitemap = parse_sitemap(body, url="u", source="x")
    assert sitemap.children == ["https://x.test/1.xml", "https://x.test/2.xml.gz"]
    assert sitemap.candidates == []


def test_gzipped_sitemap_is_decompressed() -> None:
    body = gzip.compress(urlset(url("https://x.test/a")))
    assert [c.url for c in parse_sitemap(body, url="u.xml.gz", source="x").candidates] == [
        "https://x.test/a"
    ]


def test_gzip_bomb_is_refused_at_the_cap() -> None:
    bomb = gzip.compress(b" " * (MAX_SITEMAP_BYTES + 1))
    with pytest.raises(FeedError, match=r"^u.xml.gz: gzipped sitemap over 50 MB uncompressed$"):
        parse_sitemap(bomb, url="u.xml.gz", source="x")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE urlset [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<urlset><url><loc>https://x.test/&lol9;</loc></url></urlset>"""


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body, expected a sitemap"),
        (b"  \n ", "empty body, expected a sitemap"),
        (b"<!DOCTYPE html><html><body>Hi</body></html>", "an HTML page, not a sitemap"),
        (b"<html><head></head></html>", "an HTML page, not a sitemap"),
        (b"<rss version='2.0'><channel/></rss>", "not a sitemap (root element <rss>)"),
        (b"\x00\x01garbage", "not a sitemap (invalid XML: "),
        (b"\x1f\x8bnot really gzip", "corrupt gzipped sitemap"),
        (BILLION_LAUGHS, "declares a DTD, refused in a sitemap"),
    ],
)
def test_bodies_that_are_no_sitemap_are_feed_errors(body: bytes, reason: str) -> None:
    with pytest.raises(FeedError) as raised:
        parse_sitemap(body, url="https://x.test/sitemap.xml", source="x")
    message = str(raised.value)
    assert message.startswith(f"https://x.test/sitemap.xml: {reason}")
    assert "\n" not in message
    assert raised.value.source == "x"


def test_entities_are_never_expanded_even_past_the_doctype_check() -> None:
    """The parser itself refuses: a DTD buried after 64 KiB of comments still expands nothing."""
    padded = BILLION_LAUGHS.replace(b"<!DOCTYPE", b"<!--" + b" " * 70000 + b"-->\n<!DOCTYPE")
    with pytest.raises(FeedError, match="not a sitemap"):
        parse_sitemap(padded, url="u", source="x")


def fetcher(server: LoopbackHTTPServer):
    """A `fetch_body` over real HTTP against the loopback server."""

    async def fetch_body(location: str) -> bytes:
        async with httpx.AsyncClient() as client:
            response = await client.get(location)
            response.raise_for_status()
            return response.content

    return fetch_body


def listing(*sitemaps: str) -> ListSitemaps:
    """A `sitemaps_listed` that answers `sitemaps` for any page, as a robots.txt would."""

    async def sitemaps_listed(page: str) -> list[str]:
        return list(sitemaps)

    return sitemaps_listed


def collect(
    server: LoopbackHTTPServer,
    path: str,
    sitemaps_listed: ListSitemaps | None = None,
    **limits: int,
) -> list[str]:
    candidates = asyncio.run(
        collect_sitemap(
            server.url(path),
            source="x",
            fetch_body=fetcher(server),
            sitemaps_listed=sitemaps_listed,
            **limits,
        )
    )
    return [c.url for c in candidates]


def test_index_children_are_followed_breadth_first_and_deduplicated(
    http_server: LoopbackHTTPServer,
) -> None:
    s = http_server
    s.route("/index.xml", index(s.url("/news.xml"), s.url("/more.xml"), s.url("/old.xml.gz")))
    s.route("/news.xml", urlset(url("https://x.test/1", NEWS), url("https://x.test/2")))
    s.route("/more.xml", index(s.url("/deep.xml")))
    s.route("/old.xml.gz", gzip.compress(urlset(url("https://x.test/2"), url("https://x.test/3"))))
    s.route("/deep.xml", urlset(url("https://x.test/4")))
    assert collect(s, "/index.xml") == [
        "https://x.test/1",
        "https://x.test/2",
        "https://x.test/3",
        "https://x.test/4",
    ]


def test_index_listing_itself_terminates(http_server: LoopbackHTTPServer) -> None:
    s = http_server
    s.route("/loop.xml", index(s.url("/loop.xml"), s.url("/a.xml")))
    s.route("/a.xml", index(s.url("/loop.xml"), s.url("/a.xml#again")))
    assert collect(s, "/loop.xml") == []
    assert len(s.requests_to("/loop.xml")) == 1
    assert len(s.requests_to("/a.xml")) == 1


@pytest.mark.parametrize(
    ("limits", "expected", "fetched"),
    [
        ({}, ["https://x.test/0", "https://x.test/1", "https://x.test/2"], 4),
        ({"max_sitemaps": 3}, ["https://x.test/0", "https://x.test/1"], 3),
        ({"max_sitemaps": 1}, [], 1),
        ({"max_depth": 0}, [], 1),
    ],
)
def test_limits_are_honoured(
    http_server: LoopbackHTTPServer, limits: dict[str, int], expected: list[str], fetched: int
) -> None:
    s = http_server
    s.route("/index.xml", index(*(s.url(f"/{n}.xml") for n in range(3))))
    for n in range(3):
        s.route(f"/{n}.xml", urlset(url(f"https://x.test/{n}")))
    assert collect(s, "/index.xml", **limits) == expected
    assert len(s.requests) == fetched


@pytest.mark.parametrize("listed", [None, listing("https://x.test/news.xml")])
def test_an_unreadable_child_fails_the_collection_naming_it_and_not_the_robots_txt_sitemaps(
    http_server: LoopbackHTTPServer, listed: ListSitemaps | None
) -> None:
    s = http_server
    s.route("/index.xml", index(s.url("/page.html")))
    s.route("/page.html", "<!doctype html><html></html>")
    with pytest.raises(FeedError, match=r"/page\.html: an HTML page, not a sitemap$"):
        collect(s, "/index.xml", sitemaps_listed=listed)


@pytest.mark.parametrize(
    ("listed", "named"),
    [
        (["https://x.test/news.xml"], "; its site's robots.txt names https://x.test/news.xml"),
        (
            [f"https://x.test/{n}.xml" for n in range(5)] + ["https://x.test/0.xml"],
            "; its site's robots.txt names https://x.test/0.xml, https://x.test/1.xml, "
            "https://x.test/2.xml and 2 more",
        ),
        (["/relative.xml", "ftp://x.test/s.xml", "{home}", "{home}#top"], ""),
        ([], ""),
    ],
)
def test_a_home_page_given_as_the_sitemap_names_the_sitemaps_of_its_robots_txt(
    http_server: LoopbackHTTPServer, listed: list[str], named: str
) -> None:
    s = http_server
    home = s.route("/", "<!doctype html><html><body>Welcome</body></html>")
    lister = listing(*(location.format(home=home) for location in listed))
    with pytest.raises(FeedError) as caught:
        collect(s, "/", sitemaps_listed=lister)
    assert str(caught.value) == f"{home}: an HTML page, not a sitemap{named}"
