"""Sitemaps into candidates: `<urlset>` (with Google News fields) and `<sitemapindex>`.

Parsing is a pure step; following an index is the one async step, and it takes
the fetcher as an argument so tests and the pipeline hand in their own::

    sitemap = parse_sitemap(body, url="https://x.test/sitemap.xml", source="x")
    candidates = await collect_sitemap(url, source="x", fetch_body=fetch)

Sitemaps come from the open web, so the XML parser never expands entities, never
loads a DTD or anything over the network, and a gzipped body is inflated only up
to `MAX_SITEMAP_BYTES`. A body that is no sitemap is a `FeedError`, never an
empty sitemap: an empty one means the site lists nothing, and the two must not
look alike.
"""

from __future__ import annotations

import re
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urldefrag, urlsplit

from lxml import etree

from flows.errors import FeedError
from flows.htmlpage import html_page_reason, is_html_page
from flows.items import Candidate, clean_line

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit for one uncompressed file
INFLATE_STEP = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"

_DOCTYPE = re.compile(rb"<!DOCTYPE", re.I)
# Controls, line separators and bidi overrides: no URL holds them (see flows.feeds).
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

FetchBody = Callable[[str], Awaitable[bytes]]
ListSitemaps = Callable[[str], Awaitable[list[str]]]


@dataclass(frozen=True)
class Sitemap:
    """What one sitemap file says: article candidates (a urlset) or child sitemaps (an index).

    `publications` maps a candidate's URL to its Google News publication name, which
    `Candidate` has no field for.
    """

    candidates: list[Candidate] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    publications: dict[str, str] = field(default_factory=dict)


def parse_sitemap(body: bytes, *, url: str, source: str) -> Sitemap:
    """The sitemap in `body` (plain or gzipped XML), found at `url`."""
    body = _inflated(body, url=url, source=source).lstrip()
    if not body:
        raise FeedError("empty body, expected a sitemap", url=url, source=source)
    if is_html_page(body):
        raise FeedError(html_page_reason("sitemap"), url=url, source=source)
    if _DOCTYPE.search(body[:65536]):
        # Sitemaps have no DTD; one here can only declare entities to expand (billion laughs).
        raise FeedError("declares a DTD, refused in a sitemap", url=url, source=source)
    root = _xml_root(body, url=url, source=source)
    kind = etree.QName(root).localname
    if kind == "urlset":
        return _urlset(root, source=source)
    if kind == "sitemapindex":
        return Sitemap(children=_unique(_http_url(_child_text(s, "loc")) for s in _each(root)))
    raise FeedError(f"not a sitemap (root element <{kind}>)", url=url, source=source)


def _inflated(body: bytes, *, url: str, source: str) -> bytes:
    """A gzipped body (`.xml.gz`) decompressed a megabyte at a time, refused as soon as it
    passes MAX_SITEMAP_BYTES: a bomb costs no more memory than the limit itself."""
    if not body.startswith(GZIP_MAGIC):
        return body
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    pieces: list[bytes] = []
    size, data = 0, body
    try:
        while True:
            piece = inflater.decompress(data, INFLATE_STEP)
            size += len(piece)
            if size > MAX_SITEMAP_BYTES:
                limit = MAX_SITEMAP_BYTES // (1024 * 1024)
                raise FeedError(
                    f"gzipped sitemap over {limit} MB uncompressed", url=url, source=source
                )
            pieces.append(piece)
            data = inflater.unconsumed_tail
            if not data and len(piece) < INFLATE_STEP:
                return b"".join(pieces)
    except zlib.error as error:
        raise FeedError(f"corrupt gzipped sitemap ({error})", url=url, source=source) from None


def _xml_root(body: bytes, *, url: str, source: str) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as error:
        reason = " ".join(str(error).split())  # libxml2's messages hold line breaks
        raise FeedError(f"not a sitemap (invalid XML: {reason})", url=url, source=source) from None
    if root is None:
        raise FeedError("not a sitemap (no XML element)", url=url, source=source)
    return root


def _urlset(root: etree._Element, *, source: str) -> Sitemap:
    candidates: dict[str, Candidate] = {}
    publications: dict[str, str] = {}
    for entry in _each(root):
        link = _http_url(_child_text(entry, "loc"))
        if link is None or link in candidates:
            continue
        news = _child(entry, "news")
        published = _w3c_date(_child_text(news, "publication_date")) or _w3c_date(
            _child_text(entry, "lastmod")
        )
        title = clean_line(_child_text(news, "title") or "") or None
        candidates[link] = Candidate(url=link, source=source, title=title, published_at=published)
        name = clean_line(_child_text(_child(news, "publication"), "name") or "")
        if name:
            publications[link] = name
    return Sitemap(candidates=list(candidates.values()), publications=publications)


def _each(root: etree._Element) -> list[etree._Element]:
    """The `<url>` or `<sitemap>` children, whatever namespace (or none) the file uses."""
    return [child for child in root if isinstance(child.tag, str)]


def _child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None
    for child in element:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return child
    return None


def _child_text(element: etree._Element | None, name: str) -> str | None:
    child = _child(element, name)
    if child is None:
        return None
    text = " ".join("".join(child.itertext()).split())
    return text or None


def _http_url(value: str | None) -> str | None:
    """An absolute http(s) URL without its fragment; sitemaps allow no relative ones.

    A value with control characters, or that no URL parser accepts (`http://[::1`),
    is skipped like a relative one.
    """
    if not value or _CONTROLS.search(value):
        return None
    try:
        if urlsplit(value).scheme not in ("http", "https"):
            return None
        return urldefrag(value).url.rstrip()
    except ValueError:
        return None


def _w3c_date(value: str | None) -> datetime | None:
    """A W3C datetime (`2025-03-01`, `2025-03-01T10:00:00+01:00`, `...Z`) as aware UTC."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _unique(urls: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(url for url in urls if url))


async def collect_sitemap(
    url: str,
    *,
    source: str,
    fetch_body: FetchBody,
    sitemaps_listed: ListSitemaps | None = None,
    max_sitemaps: int = 50,
    max_depth: int = 3,
) -> list[Candidate]:
    """Every candidate reachable from the sitemap at `url`, each URL once, first seen wins.

    Indexes are followed breadth-first, at most `max_depth` levels below `url` and at
    most `max_sitemaps` files in all; a sitemap listed twice (or listing itself) is
    fetched once. Errors from `fetch_body` and `FeedError`s propagate: a sitemap
    that cannot be read fails the source rather than silently shrinking it.

    When `url` itself is an HTML page (a site's home page, most often), the error
    names the sitemaps `sitemaps_listed(url)` finds (its site's robots.txt).
    """
    queue: deque[tuple[str, int]] = deque([(urldefrag(url).url, 0)])
    seen = {queue[0][0]}
    found: dict[str, Candidate] = {}
    fetched = 0
    while queue and fetched < max_sitemaps:
        location, depth = queue.popleft()
        body = await fetch_body(location)
        if depth == 0 and sitemaps_listed is not None and is_html_page(body):
            listed = [_http_url(found) for found in await sitemaps_listed(location)]
            named = _unique(found for found in listed if found != location)
            reason = html_page_reason("sitemap", named=named, by="its site's robots.txt")
            raise FeedError(reason, url=location, source=source)
        sitemap = parse_sitemap(body, url=location, source=source)
        fetched += 1
        for candidate in sitemap.candidates:
            found.setdefault(candidate.url, candidate)
        if depth >= max_depth:
            continue
        for child in sitemap.children:
            if child not in seen:
                seen.add(child)
                queue.append((child, depth + 1))
    return list(found.values())
