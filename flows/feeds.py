"""Feed bodies into candidates: RSS 0.9x/1.0/2.0, Atom and RDF via feedparser, JSON Feed here.

A pure step (no I/O), so it is tested with literal feeds and the shared corpus::

    candidates = parse_feed(fetched.body, url=fetched.url, source="dw", content_type=...)

A body that is no feed at all is a `FeedError`, never an empty list: an empty
list means the feed is fine and has nothing new, and the two must not look alike.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.html
from lxml import etree

from flows.errors import FeedError
from flows.items import Candidate, clean_categories

JSON_FEED_PREFIX = "https://jsonfeed.org/version/"

_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)
_LOOKS_LIKE_MARKUP = re.compile(r"<[a-zA-Z/!]")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def parse_feed(
    body: bytes, *, url: str, source: str, content_type: str | None = None
) -> list[Candidate]:
    """The entries of the feed in `body`, as candidates; `url` is where the feed was found.

    Leading whitespace and wrongly declared charsets are tolerated (feedparser's
    `bozo` flag is not an error as long as it read a feed).
    """
    body = body.lstrip()
    if not body:
        raise FeedError("empty body, expected a feed", url=url)
    if _is_json(body, content_type):
        return _parse_json_feed(body, url=url, source=source)
    return _parse_xml_feed(body, url=url, source=source, content_type=content_type)


def _is_json(body: bytes, content_type: str | None) -> bool:
    return body.startswith(b"{") or "json" in (content_type or "").lower()


def _parse_xml_feed(
    body: bytes, *, url: str, source: str, content_type: str | None
) -> list[Candidate]:
    # No content-location header: feedparser would then "resolve" opaque guids
    # into URLs. Links are resolved against `url` here instead.
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(body, response_headers=headers)
    if not parsed.version and not parsed.entries:
        raise FeedError(_not_a_feed_reason(body, parsed), url=url)
    entries = (_xml_entry(entry, feed_url=url, source=source) for entry in parsed.entries)
    return [candidate for candidate in entries if candidate]


def _not_a_feed_reason(body: bytes, parsed: Any) -> str:
    if _HTML_START.match(body[:4096]):
        return "an HTML page, not a feed"
    problem = parsed.get("bozo_exception")
    return f"not a feed ({problem})" if problem else "not a feed"


def _xml_entry(entry: Any, *, feed_url: str, source: str) -> Candidate | None:
    guid = entry.get("id") or None
    link = entry.get("link")
    if entry.get("guidislink") and link == guid:
        link = None  # feedparser copied a permalink guid into `link`: judge it as a guid

    link = _entry_url(link, guid, feed_url=feed_url)
    if link is None:
        return None
    detail = entry.get("author_detail") or {}
    return Candidate(
        url=link,
        source=source,
        guid=guid,
        title=_plain_title(entry.get("title")),
        author=detail.get("name") or entry.get("author") or None,
        published_at=_entry_date(entry),
        summary=html_to_text(_entry_markup(entry)) or None,
        categories=_entry_categories(entry),
    )


def _entry_categories(entry: Any) -> tuple[str, ...]:
    """RSS `<category>`, Atom `<category term= label=>` and Media RSS keywords, which
    feedparser all lists as `tags`; an Atom label is the readable name of its term."""
    tags = entry.get("tags") or []
    return clean_categories(
        tag.get("label") or tag.get("term") for tag in tags if isinstance(tag, dict)
    )


def _entry_markup(entry: Any) -> str:
    """The fullest body the entry carries: its longest `content`, else its summary."""
    contents = [c.get("value") or "" for c in entry.get("content") or []]
    best = max(contents, key=len, default="")
    return best or entry.get("summary") or ""


def _entry_url(link: str | None, guid: str | None, *, feed_url: str) -> str | None:
    """The entry's link resolved against the feed URL, else its guid when that is a URL.

    A guid is an identifier, not a path: only an absolute http(s) guid is used.
    """
    if link and link.strip():
        resolved = urljoin(feed_url, link.strip())
        if urlsplit(resolved).scheme in ("http", "https"):
            return resolved
    if guid and urlsplit(guid.strip()).scheme in ("http", "https"):
        return guid.strip()
    return None


def _entry_date(entry: Any) -> datetime | None:
    """Published, else updated. Plain `dict.get` skips feedparser's deprecated key aliasing."""
    parsed = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    return _from_struct(parsed)


def _from_struct(value: time.struct_time | None) -> datetime | None:
    """feedparser's parsed dates are already normalised to UTC."""
    if value is None:
        return None
    return datetime(*value[:6], tzinfo=UTC)


def _plain_title(title: str | None) -> str | None:
    text = html_to_text(title or "").replace("\n", " ")
    return text or None


def _json_title(title: Any) -> str | None:
    """JSON Feed titles are plain text, unlike feedparser's HTML-escaped ones."""
    if not isinstance(title, str):
        return None
    return " ".join(title.split()) or None


def _parse_json_feed(body: bytes, *, url: str, source: str) -> list[Candidate]:
    """JSON Feed 1.0 and 1.1 (https://jsonfeed.org), which feedparser does not read."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FeedError(f"not a feed (invalid JSON: {error})", url=url) from error
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith(JSON_FEED_PREFIX):
        raise FeedError("JSON but not a JSON Feed (no jsonfeed.org version)", url=url)
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedError("JSON Feed without an items list", url=url)
    entries = (_json_item(item, feed_url=url, source=source) for item in items)
    return [candidate for candidate in entries if candidate]


def _json_item(item: Any, *, feed_url: str, source: str) -> Candidate | None:
    if not isinstance(item, dict):
        return None
    guid = str(item["id"]) if item.get("id") is not None else None
    link = _entry_url(item.get("url") or item.get("external_url"), guid, feed_url=feed_url)
    if link is None:
        return None
    markup = item.get("content_html")
    text = html_to_text(markup) if markup else _tidy_lines(_json_plain(item).splitlines())
    return Candidate(
        url=link,
        source=source,
        guid=guid,
        title=_json_title(item.get("title")),
        author=_json_author(item),
        published_at=_iso_date(item.get("date_published") or item.get("date_modified")),
        summary=text or None,
        categories=_json_tags(item),
    )


def _json_tags(item: dict[str, Any]) -> tuple[str, ...]:
    tags = item.get("tags")
    return clean_categories(tags) if isinstance(tags, list) else ()


def _json_plain(item: dict[str, Any]) -> str:
    value = item.get("content_text") or item.get("summary") or ""
    return value if isinstance(value, str) else ""


def _json_author(item: dict[str, Any]) -> str | None:
    """1.1 has `authors` (a list), 1.0 has `author`; either holds objects with `name`."""
    people = item.get("authors") or [item.get("author")]
    names = [p["name"] for p in people if isinstance(p, dict) and p.get("name")]
    return ", ".join(names) or None


def _iso_date(value: Any) -> datetime | None:
    """An RFC 3339 date as aware UTC; a date without offset is taken as UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def html_to_text(markup: str) -> str:
    """Plain text from an HTML fragment, one blank line between paragraphs.

    Source line breaks are only whitespace; `<p>`, `<li>`, headings... end a
    paragraph and `<br>` ends a line, as a reader sees them.

    >>> html_to_text("<p>One\\n two</p><p>Three<br>four</p>")
    'One two\\n\\nThree\\nfour'
    """
    markup = _CONTROL_CHARS.sub("", markup)
    if not _LOOKS_LIKE_MARKUP.search(markup):
        return _tidy_lines(html.unescape(markup).splitlines())
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return _tidy_lines(re.sub(r"<[^>]*>", " ", markup).splitlines())
    etree.strip_elements(root, "script", "style", with_tail=False)
    etree.strip_tags(root, etree.Comment, etree.ProcessingInstruction)
    _mark_breaks(root)
    return _tidy_lines(root.text_content().splitlines())


def _mark_breaks(root: lxml.html.HtmlElement) -> None:
    """Turn layout into newlines: collapse source whitespace, then mark blocks and `<br>`."""
    for element in root.iter():
        element.text = _squash(element.text)
        element.tail = _squash(element.tail)
    for element in root.iter(*_BLOCK_TAGS):
        element.text = "\n\n" + (element.text or "")
        element.tail = "\n\n" + (element.tail or "")
    for element in root.iter("br"):
        element.tail = "\n" + (element.tail or "")


def _squash(text: str | None) -> str | None:
    return re.sub(r"\s+", " ", text) if text else text


def _tidy_lines(lines: Iterable[str]) -> str:
    """Strip each line, squeeze spaces, and keep at most one blank line in a row."""
    kept: list[str] = []
    for line in lines:
        line = re.sub(r"\s+", " ", line).strip()
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip()
