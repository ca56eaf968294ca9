"""Article pages into `ArticleIn`: the main text and metadata, by trafilatura.

A pure step: fetching is done before, storing after::

    article = extract_article(fetched.body, url=fetched.url, source="dw",
                              fallback=candidate, encoding=fetched.encoding)

What the page lacks is filled in order: trafilatura's metadata, then the feed
entry's own fields (authored metadata), then htmldate's wider search for a date
(a guess, so it comes last). Categories and tags are merged rather than
filled: the page's own first, then the feed entry's. When the page cannot be
used at all, `article_from_candidate` keeps the feed entry itself.

Pages that are something other than an article raise `NotAnArticle` with a
short reason: non-HTML bodies (by magic bytes or content type), home and index
pages, login walls and paywalls, bot challenges. `flows.pagekind` tells them
apart, conservatively, so that a real article is never thrown away for a login
box in its header.

Titles, names and texts leave here cleaned of control characters and bidi
overrides (`flows.items.clean_line`, `clean_text`), whatever the page held.
"""

from __future__ import annotations

import codecs
import re
from datetime import UTC, datetime
from typing import Any

import htmldate
import lxml.html
import trafilatura
from lxml import etree
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HtmlProcessingInstruction
from trafilatura.utils import detect_encoding, repair_faulty_html

from flows.errors import ExtractError, NotAnArticle
from flows.items import Candidate, clean_categories, clean_line, clean_text
from flows.pagekind import not_html, page_kind
from storage.schemas import ArticleIn, Origin

# Fewer words than this is navigation or a cookie wall, not an article.
MIN_WORDS = 10
# libxml2's HTML parser drops whatever is nested deeper than 255 elements; a page
# reaching this depth lost its content to that cap (no real page comes close).
MAX_HTML_DEPTH = 250
# trafilatura and htmldate spend ~0.1 ms per element: a page of a million empty tags
# would hold a worker for minutes. The shared corpus's largest page has 10,106.
MAX_ELEMENTS = 50_000
TITLE_FROM_TEXT_CHARS = 120
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
# The page's authored dates only (markup, URL): htmldate's extensive search would take a
# "Copyright 2024" footer for 2024-01-01 and outrank the feed entry's exact date; it runs
# last, when neither has a date (see `_published`).
DATE_PARAMS = {"outputformat": DATE_FORMAT, "original_date": True, "extensive_search": False}

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# trafilatura's parser settings, with element classes chosen in C: lxml.html's own lookup
# is Python code run for every element touched (~740,000 times for the 181 corpus pages,
# ~4 % of extracting them), and trafilatura needs no form or input element classes.
_PARSER = lxml.html.HTMLParser(
    collect_ids=False,
    default_doctype=False,
    encoding="utf-8",
    remove_comments=True,
    remove_pis=True,
)
_PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity
    )
)
_COUNT_ELEMENTS = etree.XPath("count(//*)")
_ARTICLE_TAGS = etree.XPath("//head/meta[@property='article:tag']/@content", smart_strings=False)
_TOO_DEEP = etree.XPath(f"boolean({'/*' * MAX_HTML_DEPTH})")  # an element that deep


def extract_article(
    html: str | bytes,
    *,
    url: str,
    source: str,
    fallback: Candidate | None = None,
    origin: Origin = "page",
    encoding: str | None = None,
    content_type: str | None = None,
) -> ArticleIn:
    """The article in `html`, found at `url`; `encoding` and `content_type` are what the
    server declared.

    For a fetched page `url` stays the address it was fetched from (a wrong
    canonical link would merge unrelated articles); for a local file (a
    `file://` url) the page's canonical or og:url is used when it has one.
    Raises `NotAnArticle` for a page that is something else, `ExtractError`
    for one without article text.
    """
    reason = not_html(html, content_type=content_type)
    if reason:
        raise NotAnArticle(reason, url=url)
    text = html if isinstance(html, str) else decode_html(html, declared=encoding)
    tree = parse_html(text)
    elements = int(_COUNT_ELEMENTS(tree)) if tree is not None else 0
    if elements > MAX_ELEMENTS:
        raise ExtractError(
            f"page too big to extract: {elements:,} elements, at most {MAX_ELEMENTS:,}", url=url
        )
    document = _extract(tree, url=url) if tree is not None else None
    body = _article_text(document)
    reason = page_kind(tree, html=text, document=document, url=url) if tree is not None else None
    if reason:
        raise NotAnArticle(reason, url=url)
    if not body or document is None:
        raise ExtractError(_no_text_reason(tree), url=url)
    title = _first_line(document.title, fallback.title if fallback else None) or _title_from(body)
    return ArticleIn(
        url=_article_url(document, url=url),
        source=source,
        title=title,
        text=_without_heading(body, title=title),
        origin=origin,
        author=_first_line(document.author, fallback.author if fallback else None),
        published_at=_published(document, fallback=fallback, html=text, url=url),
        language=document.language or _html_lang(tree),
        site_name=_first_line(document.sitename),
        guid=fallback.guid if fallback else None,
        categories=clean_categories(
            _page_categories(document, tree), fallback.categories if fallback else ()
        ),
    )


def article_from_candidate(candidate: Candidate, *, note: str) -> ArticleIn:
    """The feed entry as the article, when its page could not be fetched or extracted.

    `note` says why (it is stored with the article), e.g. the FetchError message.
    """
    summary = clean_text(candidate.summary or "")
    if not summary:
        raise ExtractError(
            f"no article text found, and the feed entry has none ({note})", url=candidate.url
        )
    return ArticleIn(
        url=candidate.url,
        source=candidate.source,
        title=_first_line(candidate.title) or _title_from(summary),
        text=summary,
        origin="feed",
        author=_first_line(candidate.author),
        published_at=candidate.published_at,
        guid=candidate.guid,
        note=note,
        categories=candidate.categories,
    )


def decode_html(body: bytes, *, declared: str | None = None) -> str:
    """Bytes to text, trusting in turn a BOM, the declared charset, `<meta charset>`, a guess.

    A charset that is unknown or does not decode the bytes is skipped; the last
    resort replaces undecodable bytes rather than losing the page.
    """
    for encoding in _encodings_to_try(body, declared=declared):
        try:
            return body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("utf-8", errors="replace")


def parse_html(text: str) -> HtmlElement | None:
    """The page's tree as trafilatura's `load_html` builds it from text, or None for what is
    not HTML: repaired where libxml2 stumbles, parsed as UTF-8 bytes (a string would be
    refused for its encoding declaration), a doubtful document kept only with some body."""
    beginning = text[:50].lower()
    try:
        tree = lxml.html.fromstring(
            repair_faulty_html(text, beginning).encode("utf-8", "surrogatepass"), parser=_PARSER
        )
    except (etree.LxmlError, ValueError):  # nothing to parse, as trafilatura takes it
        return None
    if "html" not in beginning and len(tree) < 2:  # text or a fragment, not a page
        return None
    return tree


def _encodings_to_try(body: bytes, *, declared: str | None) -> list[str]:
    found = [name for bom, name in _BOMS if body.startswith(bom)]
    if declared:
        found.append(declared)
    meta = _META_CHARSET.search(body[:4096])
    if meta:
        found.append(meta.group(1).decode("ascii"))
    found.append("utf-8")
    return found + detect_encoding(body)


def _extract(tree: HtmlElement, *, url: str) -> Any:
    return trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=True,
        include_comments=False,
        date_extraction_params=DATE_PARAMS,
    )


def _article_text(document: Any) -> str | None:
    """trafilatura's text with one blank line between paragraphs, as seeds and feeds have it."""
    text = clean_text(getattr(document, "text", None) or "")
    if len(text.split()) < MIN_WORDS:
        return None
    lines = (line.strip() for line in text.splitlines())
    return "\n\n".join(line for line in lines if line)


def _no_text_reason(tree: HtmlElement | None) -> str:
    """Why a page gave no text: say so when the parser's depth cap cut its content off."""
    if tree is not None and _TOO_DEEP(tree):
        return (
            f"no article text found: the page nests elements {MAX_HTML_DEPTH} deep or more, "
            "and the HTML parser reads no deeper"
        )
    return "no article text found"


def _first_line(*values: str | None) -> str | None:
    """The first of `values` that is not empty once cleaned to one line."""
    return next((line for value in values if value and (line := clean_line(value))), None)


def _without_heading(text: str, *, title: str) -> str:
    """The text without a first paragraph that only repeats the title (the page's `<h1>`)."""
    first, _, rest = text.partition("\n\n")
    return rest if rest and first.strip() == title.strip() else text


def _article_url(document: Any, *, url: str) -> str:
    found = document.url or ""
    if url.startswith("file:") and found.startswith(("http://", "https://")):
        return found
    return url


def _page_categories(document: Any, tree: HtmlElement) -> list[str]:
    """trafilatura's categories, then its tags, with keyword lists split at commas.

    A `keywords` meta element (or an `article:section` listing several) comes
    through as one string of comma-separated keywords; an `article:tag` element
    holds one tag, commas and all ("Beshear, Andrew G"), and stays whole.
    """
    whole = {_tag_key(tag) for tag in _ARTICLE_TAGS(tree)}
    found = [*(document.categories or []), *(document.tags or [])]
    return [
        part
        for value in found
        if isinstance(value, str)
        for part in ([value] if _tag_key(value) in whole else value.split(","))
    ]


def _tag_key(tag: str) -> str:
    """A tag as trafilatura's `normalize_tags` leaves it, to recognise it: no quotes."""
    return " ".join(tag.replace('"', "").replace("'", "").split()).casefold()


def _published(
    document: Any, *, fallback: Candidate | None, html: str, url: str
) -> datetime | None:
    found = _parse_date(document.date) or (fallback.published_at if fallback else None)
    if found:
        return found
    guess = htmldate.find_date(
        html, url=url, outputformat=DATE_FORMAT, extensive_search=True, original_date=True
    )
    return _parse_date(guess)


def _parse_date(value: str | None) -> datetime | None:
    """htmldate's output as aware UTC; a date without an offset is taken as UTC."""
    if not value:
        return None
    try:
        parsed = datetime.strptime(value, DATE_FORMAT)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _html_lang(tree: HtmlElement) -> str | None:
    """The primary subtag of `<html lang>` ("en-GB" -> "en"): trafilatura detects
    language only with the optional py3langid package."""
    lang = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang") or ""
    primary = lang.strip().split("-")[0].split("_")[0].lower()
    return primary if primary.isalpha() and 2 <= len(primary) <= 3 else None


def _title_from(text: str) -> str:
    """The first line of the text, cut at a word, when nothing else names the article."""
    first = clean_line(text.strip().splitlines()[0])
    if len(first) <= TITLE_FROM_TEXT_CHARS:
        return first
    return first[:TITLE_FROM_TEXT_CHARS].rsplit(" ", 1)[0] + "…"
