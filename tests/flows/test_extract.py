"""Article extraction from small pages written here, the feed fallback, and the shared corpus."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from lxml import etree
from lxml.html import HtmlElement
from trafilatura.utils import load_html

from flows.errors import ExtractError, NotAnArticle
from flows.extract import article_from_candidate, decode_html, extract_article, parse_html
from flows.items import MAX_CATEGORIES, MAX_CATEGORY_CHARS, Candidate, clean_categories
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
<meta property="article:section" content="Local news">
<meta name="keywords" content="storm, harbour,Shipping">
<meta property="article:tag" content="Storms, Coastal">
<meta property="article:tag" content="shipping">
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
        # article:section, then keywords split at commas, then whole article:tags
        "categories": ("Local news", "storm", "harbour", "Shipping", "Storms, Coastal"),
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


def test_article_from_candidate_keeps_the_entry_categories() -> None:
    candidate = replace(FALLBACK, categories=("Weather", "Ports"))
    assert article_from_candidate(candidate, note="timed out").categories == ("Weather", "Ports")


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


def _same_tree(ours: object, theirs: object) -> bool:
    if ours is None or theirs is None:
        return ours is theirs
    return etree.tostring(ours) == etree.tostring(theirs)  # type: ignore[arg-type]


def test_parse_html_builds_trafilaturas_tree_on_every_corpus_page() -> None:
    root = shared_path(CORPUS / "articles")
    for path in sorted(root.glob("*.html.gz")):
        text = decode_html(gzip.decompress(path.read_bytes()))
        tree = parse_html(text)
        assert _same_tree(tree, load_html(text)), path.name
        assert tree is not None and isinstance(tree.find(".//body"), HtmlElement), path.name


@pytest.mark.parametrize(
    "text",
    [
        '<?xml version="1.0" encoding="iso-8859-1"?><html><body><p>café</p></body></html>',
        "<!DOCTYPE html><html/>\n<head></head><body><p>self-closed html</p></body></html>",
        "<html><body><p>a \x0b control char</p></body></html>",
        "just some words, no markup at all",
        "<p>a lone fragment</p>",
        "",
        "   ",
    ],
    ids=[
        "xml-declaration",
        "self-closing-html",
        "control-char",
        "text",
        "fragment",
        "empty",
        "blank",
    ],
)
def test_parse_html_agrees_with_trafilatura_on_odd_input(text: str) -> None:
    assert _same_tree(parse_html(text), load_html(text))


def _page(body: str, *, title: str = "Coast Times", head: str = "") -> str:
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title>{head}</head><body>{body}</body></html>"
    )


TEASERS = "".join(
    f"<li><a href='/news/story-{n}'>Story number {n} from the coast today</a></li>"
    for n in range(60)
)
WEBSITE = '<meta property="og:type" content="website">'
SECTION = "".join(
    f"<article><h2><a href='/news/world/story-{n}'>Story {n}</a></h2>"
    f"<p>A short teaser about story {n}.</p></article>"
    for n in range(20)
)
LOGIN = (
    "<form action='/login' method='post'><h1>Sign in to continue</h1>"
    "<input name='user'><input type='password' name='pw'><button>Sign in</button></form>"
)
CLOUDFLARE = (
    "<div id='cf-wrapper'><h1>Checking your browser before accessing coast.example.</h1>"
    "<p>This process is automatic.</p></div>"
    "<script>window._cf_chl_opt={cvId: '2', cType: 'managed'};</script>"
)
PAYWALL = (
    "<article><h1>Harbour reopens</h1><p>The harbour at Port Ellis reopened on Tuesday.</p>"
    "<div class='paywall'>Subscribe to continue reading this article.</div></article>"
)
LONG = ARTICLE.replace(PARAGRAPHS, PARAGRAPHS * 4)
CAPTCHA = "<form><p>Please confirm.</p><div class='g-recaptcha' data-sitekey='x'></div></form>"


@pytest.mark.parametrize(
    ("body", "url", "content_type", "reason"),
    [
        (
            b"%PDF-1.7\n1 0 obj << /Type /Catalog >>",
            "https://c.example/report",
            None,
            "PDF document",
        ),
        (b"<html>not really</html>", "https://c.example/report", "application/pdf", "PDF document"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "https://c.example/pic", "image/png", "image"),
        (b'{"articles": []}', "https://c.example/api", "application/json", "application/json body"),
        (_page(TEASERS).encode(), "https://coast.example/", None, "home page"),
        (_page(PARAGRAPHS, head=WEBSITE).encode(), "https://coast.example/", None, "home page"),
        (_page(TEASERS).encode(), "https://coast.example/index.html", None, "home page"),
        (
            _page(SECTION, head=WEBSITE).encode(),
            "https://coast.example/news/world",
            None,
            "index page",
        ),
        (
            _page(SECTION, head=WEBSITE).encode(),
            "https://coast.example/tag/harbour-news",
            None,
            "index page",
        ),
        (_page(TEASERS).encode(), "https://coast.example/sport", None, "index page"),
        (
            _page(f"<ul>{TEASERS}</ul>").encode(),
            "https://coast.example/a/b/c-d-e",
            None,
            "index page",
        ),
        (
            _page(LOGIN, title="Sign in").encode(),
            "https://coast.example/news/a-b",
            None,
            "login wall",
        ),
        (_page(PAYWALL).encode(), "https://coast.example/news/harbour-1", None, "paywall"),
        (
            _page(CLOUDFLARE, title="Just a moment...").encode(),
            "https://c.example/a-1",
            None,
            "bot challenge",
        ),
        (_page(CLOUDFLARE).encode(), "https://c.example/a-1", None, "bot challenge"),
        (_page(CAPTCHA).encode(), "https://c.example/a-1", "text/html", "bot challenge"),
    ],
)
def test_pages_that_are_not_articles(
    body: bytes, url: str, content_type: str | None, reason: str
) -> None:
    with pytest.raises(NotAnArticle) as caught:
        extract_article(body, url=url, source="c", content_type=content_type)
    assert (caught.value.reason, str(caught.value)) == (reason, f"{url}: not an article: {reason}")


@pytest.mark.parametrize(
    ("url", "content_type", "page"),
    [
        ("https://c.example/", None, ARTICLE),  # an article at the root, without og:type website
        ("https://c.example/news/harbour-reopens", "text/plain", ARTICLE),  # a lying server
        ("https://c.example/news/harbour", "application/octet-stream", ARTICLE),
        ("https://c.example/news/a-1", None, LONG.replace("</footer>", f"{LOGIN}</footer>")),
        ("https://c.example/news/a-1", None, ARTICLE.replace("</footer>", f"{CAPTCHA}</footer>")),
    ],
)
def test_articles_with_misleading_parts_are_articles(
    url: str, content_type: str | None, page: str
) -> None:
    article = extract_article(page.encode(), url=url, source="c", content_type=content_type)
    assert article.text.startswith("The harbour at Port Ellis")


def test_no_corpus_article_is_taken_for_something_else() -> None:
    root = shared_path(CORPUS / "articles")
    truth = json.loads((root / "ground-truth.json").read_text())
    flagged = []
    for key in sorted(truth):
        html = gzip.decompress((root / f"{key}.html.gz").read_bytes())
        try:
            extract_article(html, url=truth[key]["url"], source="corpus", content_type="text/html")
        except NotAnArticle as error:
            flagged.append(str(error))
    assert flagged == []
    assert len(truth) == 181


# --- categories and tags ----------------------------------------------------------------


def _with_head(head: str) -> str:
    return BARE.replace("<html>", f"<html><head><title>Harbour</title>{head}</head>", 1)


@pytest.mark.parametrize(
    ("head", "feed", "categories"),
    [
        ("", (), ()),
        ("", ("World", "Europe"), ("World", "Europe")),
        ('<meta name="keywords" content=" a ,, b,a">', (), ("a", "b")),
        (
            '<meta name="keywords" content="Ports, storms">',
            ("STORMS", "Weather"),
            ("Ports", "storms", "Weather"),
        ),
        ('<meta property="article:tag" content="Reid, Jon">', ("Ports",), ("Reid, Jon", "Ports")),
        ('<meta property="article:section" content="Local, Coast">', (), ("Local", "Coast")),
    ],
    ids=["none", "feed only", "keywords", "page first", "article:tag whole", "section list"],
)
def test_page_categories_and_tags_merge_with_the_feed_entry(
    head: str, feed: tuple[str, ...], categories: tuple[str, ...]
) -> None:
    fallback = replace(FALLBACK, categories=feed)
    page = _with_head(head)
    article = extract_article(page, url=FALLBACK.url, source="coast", fallback=fallback)
    assert article.categories == categories


LONG_TAG = "x" * (MAX_CATEGORY_CHARS + 1)


@pytest.mark.parametrize(
    ("groups", "categories"),
    [
        ([[]], ()),
        ([["World", " world ", "WORLD"]], ("World",)),
        ([["  Middle \n East  "]], ("Middle East",)),
        ([["", "  ", None, 42, "ok"]], ("ok",)),
        ([[LONG_TAG, "short"]], ("short",)),
        ([["a", "b"], ["B", "c"]], ("a", "b", "c")),
        ([[f"t{n}" for n in range(50)]], tuple(f"t{n}" for n in range(MAX_CATEGORIES))),
    ],
    ids=["empty", "case", "spaces", "junk", "too long", "merged", "capped"],
)
def test_clean_categories(groups: list[list[object]], categories: tuple[str, ...]) -> None:
    assert clean_categories(*groups) == categories


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        # keywords split at commas, then the article:tags already among them
        (
            "39d5c43beb60605c3eec760c99500e62e7bd71ebbe4ae05edf382125e1b0b80a",
            ("Economy & Business", "trade war", "Tariff", "United States", "China"),
        ),
        # the New York Times: one article:tag per element, "Last, First" kept whole
        (
            "04a6711caa7c687592777718866e781e976e0fe684faebe8b3cedcef8cd0ea34",
            ("Opinion", "Trump-Ukraine Whistle-Blower Complaint and Impeachment Inquiry"),
        ),
        (
            "2c46804d9db4a85e8f8d31128ce0e11d02f25c7120c2faa5ec0664c604a47717",
            ("U.S.", "texas", "Fort Worth", "video", "kidnapping", "michael webb"),
        ),
    ],
)
def test_corpus_pages_yield_their_categories_and_tags(key: str, expected: tuple[str, ...]) -> None:
    root = shared_path(CORPUS / "articles")
    url = json.loads((root / "ground-truth.json").read_text())[key]["url"]
    html = gzip.decompress((root / f"{key}.html.gz").read_bytes())
    article = extract_article(html, url=url, source="corpus")
    assert article.categories[: len(expected)] == expected
    if key.startswith("04a6711c"):
        assert "Beshear, Andrew G (1977- )" in article.categories


def test_most_corpus_pages_carry_categories_or_tags() -> None:
    root = shared_path(CORPUS / "articles")
    truth = json.loads((root / "ground-truth.json").read_text())
    found = []
    for key in sorted(truth):
        html = gzip.decompress((root / f"{key}.html.gz").read_bytes())
        found.append(extract_article(html, url=truth[key]["url"], source="corpus").categories)
    print(f"article corpus: {sum(map(bool, found))} of {len(found)} pages with categories")
    assert sum(map(bool, found)) >= 120  # measured 127 of 181
    for categories in found:
        assert len(categories) <= MAX_CATEGORIES
        assert all(0 < len(c) <= MAX_CATEGORY_CHARS and c == c.strip() for c in categories)
        assert len({c.casefold() for c in categories}) == len(categories)


def test_a_copyright_year_never_outranks_the_feed_entrys_date() -> None:
    page = BARE.replace("</body>", "<footer>Copyright 2024 Coast Times</footer></body>")
    article = extract_article(page, url=FALLBACK.url, source="coast", fallback=FALLBACK)
    assert article.published_at == FALLBACK.published_at
