"""Article pages into `ArticleIn`: the main text and metadata, by trafilatura.

A pure step: fetching is done before, storing after::

    article = extract_article(fetched.body, url=fetched.url, source="dw",
                              fallback=candidate, encoding=fetched.encoding)

What the page lacks is filled in order: trafilatura's metadata, then the feed
entry's own fields (authored metadata), then htmldate's wider search for a date
(a guess, so it comes last). When the page cannot be used at all,
`article_from_candidate` keeps the feed entry itself.
"""

from __future__ import annotations

import codecs
import re
from datetime import UTC, datetime
from typing import Any

import htmldate
import trafilatura
from lxml.html import HtmlElement
from trafilatura.utils import detect_encoding, load_html

from flows.errors import ExtractError
from flows.items import Candidate
from storage.schemas import ArticleIn

# Fewer words than this is navigation or a cookie wall, not an article.
MIN_WORDS = 10
TITLE_FROM_TEXT_CHARS = 120
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def extract_article(
    html: str | bytes,
    *,
    url: str,
    source: str,
    fallback: Candidate | None = None,
    origin: str = "page",
    encoding: str | None = None,
) -> ArticleIn:
    """The article in `html`, found at `url`; `encoding` is the charset the server declared.

    For a fetched page `url` stays the address it was fetched from (a wrong
    canonical link would merge unrelated articles); for a local file (a
    `file://` url) the page's canonical or og:url is used when it has one.
    """
    text = html if isinstance(html, str) else decode_html(html, declared=encoding)
    tree = load_html(text)
    document = _extract(tree, url=url) if tree is not None else None
    body = _article_text(document)
    if not body:
        raise ExtractError("no article text found", url=url)
    title = document.title or (fallback and fallback.title) or _title_from(body)
    return ArticleIn(
        url=_article_url(document, url=url),
        source=source,
        title=title,
        text=_without_heading(body, title=title),
        origin=origin,
        author=document.author or (fallback and fallback.author) or None,
        published_at=_published(document, fallback=fallback, html=text, url=url),
        language=document.language or _html_lang(tree),
        site_name=document.sitename or None,
        guid=fallback.guid if fallback else None,
    )


def article_from_candidate(candidate: Candidate, *, note: str) -> ArticleIn:
    """The feed entry as the article, when its page could not be fetched or extracted.

    `note` says why (it is stored with the article), e.g. the FetchError message.
    """
    summary = (candidate.summary or "").strip()
    if not summary:
        raise ExtractError(
            f"no article text found, and the feed entry has none ({note})", url=candidate.url
        )
    return ArticleIn(
        url=candidate.url,
        source=candidate.source,
        title=candidate.title or _title_from(summary),
        text=summary,
        origin="feed",
        author=candidate.author,
        published_at=candidate.published_at,
        guid=candidate.guid,
        note=note,
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
        date_extraction_params={"outputformat": DATE_FORMAT, "original_date": True},
    )


def _article_text(document: Any) -> str | None:
    """trafilatura's text with one blank line between paragraphs, as seeds and feeds have it."""
    text = (getattr(document, "text", None) or "").strip()
    if len(text.split()) < MIN_WORDS:
        return None
    lines = (line.strip() for line in text.splitlines())
    return "\n\n".join(line for line in lines if line)


def _without_heading(text: str, *, title: str) -> str:
    """The text without a first paragraph that only repeats the title (the page's `<h1>`)."""
    first, _, rest = text.partition("\n\n")
    return rest if rest and first.strip() == title.strip() else text


def _article_url(document: Any, *, url: str) -> str:
    found = document.url or ""
    if url.startswith("file:") and found.startswith(("http://", "https://")):
        return found
    return url


def _published(
    document: Any, *, fallback: Candidate | None, html: str, url: str
) -> datetime | None:
    found = _parse_date(document.date)
    if found or (fallback and fallback.published_at):
        return found or fallback.published_at
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
    first = text.strip().splitlines()[0]
    if len(first) <= TITLE_FROM_TEXT_CHARS:
        return first
    return first[:TITLE_FROM_TEXT_CHARS].rsplit(" ", 1)[0] + "…"
