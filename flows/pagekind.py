"""What a page is when it is no article: a non-HTML body, a bot challenge, a wall, an index.

`flows.extract` asks here before it keeps a page::

    reason = not_html(body, content_type=fetched.content_type)   # "PDF document", ...
    reason = page_kind(tree, html=text, document=document, url=url)  # "login wall", ...

The checks are conservative: each needs a strong marker, and the page-shape
ones also little article text, so that a real article is never thrown away for
a login box in its header. They live apart from extraction because they are a
classifier with its own tables of markers, tuned and tested on their own.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from lxml.html import HtmlElement

# Magic bytes of bodies that are no HTML page, with the reason they are refused.
_MAGIC = (
    (b"%PDF-", "PDF document"),
    (b"\x89PNG", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"GIF8", "image"),
    (b"PK\x03\x04", "ZIP archive or office document"),
    (b"\xd0\xcf\x11\xe0", "office document"),
    (b"\x1f\x8b", "gzip archive"),
    (b"ID3", "audio or video"),
    (b"OggS", "audio or video"),
)
_MEDIA_REASONS = {"application/pdf": "PDF document", "image": "image", "audio": "audio or video"}
_TEXTUAL_MEDIA = ("text/", "application/xhtml", "application/xml", "application/octet-stream")

# Page-shape checks need little article text as well as their marker: a real
# article can carry a login box, a captcha for comments or a "subscribe" footer.
CHALLENGE_MAX_WORDS = 50
WALL_MAX_WORDS = 150
PASSWORD_MAX_WORDS = 50
INDEX_MIN_LINKS = 30
INDEX_ANCHOR_SHARE = 0.5
LINK_LIST_MIN_LINKS = 50
LINK_LIST_ANCHOR_SHARE = 0.9  # real articles reach 0.84 with menus and related links

_CHALLENGE_TITLES = (
    "just a moment",
    "attention required! | cloudflare",
    "checking your browser",
    "ddos-guard",
    "are you a robot",
    "verify you are human",
    "human verification",
    "pardon our interruption",
)
_CHALLENGE_MARKERS = (
    "cf_chl_opt",
    "cf-browser-verification",
    "checking your browser",
    "verify you are human",
    "cf-turnstile",
    "g-recaptcha",
    "h-captcha",
    "captcha-delivery.com",
    "px-captcha",
)
_LOGIN_PHRASES = (
    "sign in to continue",
    "log in to continue",
    "login to continue",
    "sign in to read",
    "log in to read",
    "you must be logged in",
    "please log in to",
    "please sign in to",
)
_PAYWALL_PHRASES = (
    "subscribe to continue reading",
    "subscribe to read",
    "to continue reading, subscribe",
    "this article is for subscribers",
    "this content is for subscribers",
    "subscribers only",
)
_INDEX_SEGMENT = re.compile(r"^(?:[a-z]+|index\.[a-z]+)$", re.I)
_COUNT_LINKS = etree.XPath("count(//a[@href])")
_LINK_TEXT = etree.XPath("//body//a[@href]//text()", smart_strings=False)
_VISIBLE_TEXT = etree.XPath(
    "//body//text()[not(ancestor::script) and not(ancestor::style)]", smart_strings=False
)
_LISTING_PREFIXES = {"tag", "tags", "category", "categories", "topic", "topics", "section"}


def not_html(html: str | bytes, *, content_type: str | None = None) -> str | None:
    """Why the body is no HTML page ("PDF document", "image"), or None when it may be one.

    The magic bytes decide first; a declared content type only when it is plainly
    not text, since servers send HTML as `text/plain` or `application/octet-stream`.
    """
    if isinstance(html, bytes):
        head = html[:16].lstrip()
        for magic, reason in _MAGIC:
            if head.startswith(magic):
                return reason
    media = (content_type or "").split(";")[0].strip().lower()
    if not media or media.startswith(_TEXTUAL_MEDIA) or "html" in media or "xml" in media:
        return None
    kind = media.split("/")[0]
    return _MEDIA_REASONS.get(media) or _MEDIA_REASONS.get(kind) or f"{media} body"


def page_kind(tree: HtmlElement, *, html: str, document: Any, url: str) -> str | None:
    """Why the page is no article ("home page", "login wall", ...), or None for an article."""
    words = len((getattr(document, "text", None) or "").split())
    if words < max(CHALLENGE_MAX_WORDS, WALL_MAX_WORDS):  # lowering a whole page costs ~0.5 ms
        lowered = html.lower()
        if words < CHALLENGE_MAX_WORDS and _is_challenge(tree, lowered):
            return "bot challenge"
        wall = _wall(tree, lowered, words=words) if words < WALL_MAX_WORDS else None
        if wall:
            return wall
    return _index_kind(tree, document=document, words=words, url=url)


def _is_challenge(tree: HtmlElement, lowered: str) -> bool:
    title = (tree.findtext(".//title") or "").strip().lower()
    if title.startswith(_CHALLENGE_TITLES):
        return True
    return any(marker in lowered for marker in _CHALLENGE_MARKERS)


def _wall(tree: HtmlElement, lowered: str, *, words: int) -> str | None:
    if any(phrase in lowered for phrase in _PAYWALL_PHRASES):
        return "paywall"
    if any(phrase in lowered for phrase in _LOGIN_PHRASES):
        return "login wall"
    if words < PASSWORD_MAX_WORDS and tree.xpath("//input[@type='password']"):
        return "login wall"
    return None


def _index_kind(tree: HtmlElement, *, document: Any, words: int, url: str) -> str | None:
    """A home or section page by its address and shape; a bare list of links by its shape."""
    segments = [s for s in urlsplit(url).path.split("/") if s]
    links = int(_COUNT_LINKS(tree))
    share = _anchor_share(tree, words=words) if links >= INDEX_MIN_LINKS else 0.0
    if links >= LINK_LIST_MIN_LINKS and share >= LINK_LIST_ANCHOR_SHARE:
        return "home page" if _is_root(segments) else "index page"
    website = (getattr(document, "pagetype", None) or "").lower() == "website"
    many_links = links >= INDEX_MIN_LINKS and (links * 2 >= words or share >= INDEX_ANCHOR_SHARE)
    if not (website or many_links):
        return None
    if _is_root(segments):
        return "home page"
    if len(segments) <= 2 and all(_INDEX_SEGMENT.match(s) for s in segments):
        return "index page"
    if segments[0].lower() in _LISTING_PREFIXES and len(segments) <= 3:
        return "index page"
    return None


def _is_root(segments: list[str]) -> bool:
    return not segments or (len(segments) == 1 and segments[0].lower().startswith("index."))


def _anchor_share(tree: HtmlElement, *, words: int) -> float:
    """The share of the body's visible words that are link text.

    The extracted `words` are visible too, so link text short of half of them
    settles that the share is low without counting the whole page.
    """
    linked = _word_count(_LINK_TEXT(tree))
    if linked < INDEX_ANCHOR_SHARE * words:
        return 0.0
    total = _word_count(_VISIBLE_TEXT(tree))
    return linked / total if total else 0.0


def _word_count(texts: list[str]) -> int:
    """The words of `texts` counted apart, as `sum(len(t.split()) ...)` would, in one split."""
    return len(" ".join(texts).split())
