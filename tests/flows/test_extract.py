"""Article extraction from small pages written here, the feed fallback, and the shared corpus."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from datetime import UTC, datetime

import pytest

from flows.errors import ExtractError
from flows.extract import article_from_candidate, decode_html, extract_article
from flows.items import Candidate
from tests.conftest import CORPUS, shared_path

PARAGRAPHS = (
    "<p>The harbour at Port Ellis reopened on Tuesday after three days of closure caused by"
    " the storm that swept the coast at the weekend.</p>"
    "<p>Harbour master Jon Reid said crews had cleared debris from the main channel overnight"
    " and that ferries would run to the normal timetable from Wednesday.</p>"
)
ARTICLE = f"""<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8">
<title>Harbour reopens after storm | Coast Times</title>
<meta property="og:title" content="Harbour reopens after storm">
<meta property="og:site_name" content="Coast Times">
<meta name="author" content="Maria Ortiz">
<meta property="article:published_time" content="2025-03-04T07:15:00+01:00">
<link rel="canonical" href="https://coast.example/news/harbour-reopens">
</head><body><nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>Harbour reopens after storm</h1>{PARAGRAPHS}</article>
<footer>© Coast Times</footer></body></html>"""
BARE = f"<html><body><article>{PARAGRAPHS}</article></body></html>"
FALLBACK = Candidate(
    url="https://coast.example/news/harbour-reopens?utm=feed",
    source="coast",
    guid="coast-123",
    title="Harbour reopens (feed title)",
    author="Feed Author",
    published_at=datetime(2025, 3, 4, 5, 0, tzinfo=UTC),
    summary="Ferries run again from Wednesday.",
)


def test_article_with_its_metadata() -> None:
    article = extract_article(ARTICLE.encode(), url="https://coast.example/x", source="coast")
    assert article.model_dump() == {
        "url": "https://coast.example/x",
        "source": "coast",
        "title": "Harbour reopens after storm",
        "text": (
            "The harbour at Port Ellis reopened on Tuesday after three days of closure caused"
            " by the storm that swept the coast at the weekend.\n\nHarbour master Jon Reid"
            " said crews had cleared debris from the main channel overnight and that ferries"
            " would run to the normal timetable from Wednesday."
        ),
        "origin": "page",
        "author": "Maria Ortiz",
        "published_at": datetime(2025, 3, 4, 6, 15, tzinfo=UTC),
        "language": "en",
        "site_name": "Coast Times",
        "guid": None,
        "final_url": None,
        "note": None,
    }


def test_page_metadata_wins_over_the_feed_entry() -> None:
    article = extract_article(ARTICLE, url=FALLBACK.url, source="coast", fallback=FALLBACK)
    assert (article.title, article.author, article.guid) == (
        "Harbour reopens after storm",
        "Maria Ortiz",
        "coast-123",
    )
    assert article.published_at == datetime(2025, 3, 4, 6, 15, tzinfo=UTC)


def test_feed_entry_fills_what_the_page_lacks() -> None:
    article = extract_article(BARE, url=FALLBACK.url, source="coast", fallback=FALLBACK)
    assert (article.title, article.author, article.published_at) == (
        FALLBACK.title,
        FALLBACK.author,
        FALLBACK.published_at,
    )
    assert article.language is None


def test_htmldate_finds_a_date_trafilatura_leaves_out() -> None:
    page = BARE.replace("<article>", "<article><p>Posted on 2025-02-17</p>")
    url = "https://coast.example/2025/02/17/harbour"
    assert extract_article(page, url=url, source="c").published_at == datetime(
        2025, 2, 17, tzinfo=UTC
    )


def test_a_page_without_title_is_named_by_its_first_line() -> None:
    article = extract_article(BARE, url="https://coast.example/x", source="c")
    assert article.title.startswith("The harbour at Port Ellis reopened")
    assert len(article.title) <= 121


@pytest.mark.parametrize(
    "page",
    [
        "",
        "<html><body></body></html>",
        "<html><body><nav><a href='/'>Home</a> <a href='/about'>About</a></nav></body></html>",
        "<html><body><p>Please enable JavaScript.</p></body></html>",
    ],
)
def test_a_page_without_article_text_is_an_error(page: str) -> None:
    with pytest.raises(ExtractError) as caught:
        extract_article(page, url="https://coast.example/empty", source="c")
    assert str(caught.value) == "https://coast.example/empty: no article text found"


@pytest.mark.parametrize(
    ("body", "declared", "text"),
    [
        ("<p>café</p>".encode(), None, "<p>café</p>"),
        ("<p>café</p>".encode("cp1252"), "windows-1252", "<p>café</p>"),
        ("<meta charset='iso-8859-15'><p>café €</p>".encode("iso-8859-15"), None, "café €"),
        ("<p>café</p>".encode("utf-16"), None, "<p>café</p>"),
        ("<p>café</p>".encode(), "no-such-charset", "<p>café</p>"),
        ("<p>Grüße aus Köln und München</p>".encode("cp1252"), None, "Grüße aus Köln"),
    ],
)
def test_decode_html(body: bytes, declared: str | None, text: str) -> None:
    assert text in decode_html(body, declared=declared)


def test_declared_charset_decodes_the_page() -> None:
    page = ARTICLE.replace('<meta charset="utf-8">', "").replace("harbour", "hàrbour")
    article = extract_article(
        page.encode("cp1252"), url="https://c.example/", source="c", encoding="cp1252"
    )
    assert "hàrbour at Port Ellis" in article.text


def test_article_from_candidate() -> None:
    article = article_from_candidate(FALLBACK, note="https://coast.example/x: HTTP 403 Forbidden")
    assert (article.origin, article.url, article.title, article.text) == (
        "feed",
        FALLBACK.url,
        FALLBACK.title,
        FALLBACK.summary,
    )
    assert (article.guid, article.author, article.published_at) == (
        "coast-123",
        "Feed Author",
        FALLBACK.published_at,
    )
    assert article.note == "https://coast.example/x: HTTP 403 Forbidden"


@pytest.mark.parametrize("summary", [None, "", "  \n "])
def test_a_candidate_without_summary_cannot_stand_in(summary: str | None) -> None:
    candidate = Candidate(url="https://c.example/a", source="c", title="T", summary=summary)
    with pytest.raises(ExtractError, match="feed entry has none"):
        article_from_candidate(candidate, note="timed out")


def _words(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text.lower()))


def _recall(truth: str, extracted: str) -> float:
    """The share of the annotated body's words (with multiplicity) found in the extraction."""
    expected, found = _words(truth), _words(extracted)
    return sum(min(n, found[w]) for w, n in expected.items()) / max(1, sum(expected.values()))


def test_corpus_recall() -> None:
    root = shared_path(CORPUS / "articles")
    truth = json.loads((root / "ground-truth.json").read_text())
    recalls = []
    for key in sorted(truth)[:30]:
        html = gzip.decompress((root / f"{key}.html.gz").read_bytes())
        article = extract_article(html, url=truth[key]["url"], source="corpus")
        recalls.append(_recall(truth[key]["articleBody"], article.title + "\n" + article.text))
    mean = sum(recalls) / len(recalls)
    print(f"article corpus: mean word recall {mean:.3f} over {len(recalls)} pages")
    assert mean > 0.93  # measured 0.974 on these 30 pages
