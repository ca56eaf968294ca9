"""Feed bodies into candidates: RSS 0.9x/1.0/2.0, Atom and RDF via feedparser, JSON Feed here.

A pure step (no I/O), so it is tested with literal feeds and the shared corpus::

    candidates = parse_feed(fetched.body, url=fetched.url, source="dw", content_type=...)

A body that is no feed at all is a `FeedError`, never an empty list: an empty
list means the feed is fine and has nothing new, and the two must not look alike.

Feeds come from strangers, so feedparser only ever sees the body as bytes in a
stream (a bare string may be read as a file name or fetched as a URL) and never
a DTD, whose entities could expand a small feed into gigabytes (`flows.xmlsafe`);
titles, names and texts are cleaned of control characters (`flows.items.clean_line`).
"""

from __future__ import annotations

import html
import io
import json
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.html
from feedparser.encodings import convert_to_utf8
from lxml import etree

from flows.errors import FeedError
from flows.htmlpage import html_page_reason, is_html_page
from flows.items import Candidate, clean_categories, clean_line
from flows.xmlsafe import valid_char_refs, without_doctype

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
_LOOKS_LIKE_MARKUP = re.compile(r"<[a-zA-Z/!]")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The body as feedparser gets it once we made it UTF-8 ourselves.
_UTF8_XML = {"content-type": "application/xml; charset=utf-8"}
_URL_BREAKS = re.compile(r"[\t\n\r]")
# Controls, line and paragraph separators, bidi overrides: no URL holds them, and a log
# line or a mail header that quotes the URL must stay one line that reads as it is.
_URL_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


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
    xml = valid_char_refs(without_doctype(convert_to_utf8(headers, body, {})))
    try:
        parsed = feedparser.parse(io.BytesIO(xml), response_headers=_UTF8_XML)
    except Exception as error:
        # feedparser raises on a dozen known inputs (kurtmckee/feedparser#599): such a
        # body is a feed we cannot read, not a crash.
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        raise FeedError(f"unreadable feed (feedparser failed: {reason})", url=url) from error
    if not parsed.version and not parsed.entries:
        raise FeedError(_not_a_feed_reason(body, parsed, url=url), url=url)
    entries = (_xml_entry(entry, feed_url=url, source=source) for entry in parsed.entries)
    return [candidate for candidate in entries if candidate]


def _not_a_feed_reason(body: bytes, parsed: Any, *, url: str) -> str:
    if is_html_page(body):
        return html_page_reason("feed", named=feeds_named_by(body, url=url))
    problem = parsed.get("bozo_exception")
    return f"not a feed ({problem})" if problem else "not a feed"


def feeds_named_by(page: bytes, *, url: str) -> list[str]:
    """The feeds an HTML page at `url` names (`<link rel="alternate" type="application/
    rss+xml">`..., else links that look like feeds), absolute, comment feeds left out:
    what its owner meant a reader to poll, for whoever configured the page as a feed.
    trafilatura's feed finder reads them; it is imported on this error's path only."""
    from courlan import get_hostinfo
    from trafilatura.feeds import FeedParameters, determine_feed

    domain, base = get_hostinfo(url)  # no domain for an IP address: found all the same
    parameters = FeedParameters(base, domain or "", url)
    named = determine_feed(page.decode("utf-8", "replace"), parameters)
    return [link for link in map(_web_url, named) if link is not None]


def _xml_entry(entry: Any, *, feed_url: str, source: str) -> Candidate | None:
    guid = clean_line(entry.get("id") or "") or None
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
        author=clean_line(detail.get("name") or entry.get("author") or "") or None,
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


def _entry_url(link: object, guid: str | None, *, feed_url: str) -> str | None:
    """The entry's link resolved against the feed URL, else its guid when that is a URL.

    A guid is an identifier, not a path: only an absolute http(s) guid is used.
    """
    return _web_url(link, base=feed_url) or _web_url(guid)


def _web_url(value: object, *, base: str | None = None) -> str | None:
    """`value` as an absolute http(s) URL (resolved against `base`), or None.

    Tabs and line breaks are dropped, as browsers do; a value with other control
    characters, or that no URL parser accepts (`http://[::1`), is no URL.
    """
    if not isinstance(value, str):
        return None
    value = _URL_BREAKS.sub("", value.strip())
    if not value or _URL_CONTROLS.search(value):
        return None
    try:
        resolved = urljoin(base, value) if base else value
        scheme = urlsplit(resolved).scheme
    except ValueError:
        return None
    return resolved if scheme in ("http", "https") else None


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
    return clean_line(html_to_text(title or "")) or None


def _json_title(title: Any) -> str | None:
    """JSON Feed titles are plain text, unlike feedparser's HTML-escaped ones."""
    if not isinstance(title, str):
        return None
    return clean_line(title) or None


def _parse_json_feed(body: bytes, *, url: str, source: str) -> list[Candidate]:
    """JSON Feed 1.0 and 1.1 (https://jsonfeed.org), which feedparser does not read."""
    try:
        document = _json_document(body)
    except json.JSONDecodeError as error:
        raise FeedError(f"not a feed (invalid JSON: {error})", url=url) from error
    except RecursionError:
        raise FeedError("not a feed (JSON nested too deeply)", url=url) from None
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith(JSON_FEED_PREFIX):
        raise FeedError("JSON but not a JSON Feed (no jsonfeed.org version)", url=url)
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedError("JSON Feed without an items list", url=url)
    entries = (_json_item(item, feed_url=url, source=source) for item in items)
    return [candidate for candidate in entries if candidate]


def _json_document(body: bytes) -> Any:
    """The JSON in `body`: UTF-8 (or UTF-16/32, as json detects), a stray invalid byte
    read as U+FFFD rather than losing the whole feed to it."""
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        return json.loads(body.decode("utf-8", errors="replace"))


def _json_item(item: Any, *, feed_url: str, source: str) -> Candidate | None:
    if not isinstance(item, dict):
        return None
    identifier = item.get("id")
    guid = clean_line(str(identifier)) or None if identifier is not None else None
    link = _entry_url(item.get("url") or item.get("external_url"), guid, feed_url=feed_url)
    if link is None:
        return None
    markup = item.get("content_html")
    if isinstance(markup, str) and markup:
        text = html_to_text(markup)
    else:
        text = _tidy_lines(_json_plain(item).splitlines())
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
    if not isinstance(people, list):
        return None
    names = [p["name"] for p in people if isinstance(p, dict) and isinstance(p.get("name"), str)]
    return clean_line(", ".join(names)) or None


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
    """Whitespace runs as one space, and no control character (`&#27;` parses into one),
    which lxml would refuse to set back."""
    return re.sub(r"\s+", " ", _CONTROL_CHARS.sub("", text)) if text else text


def _tidy_lines(lines: Iterable[str]) -> str:
    """Clean each line (`clean_line`), and keep at most one blank line in a row."""
    kept: list[str] = []
    for line in lines:
        line = clean_line(line)
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip()
