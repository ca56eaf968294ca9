"""Article pages under fuzzing: any bytes, any declared charset and type, hostile markup.

`extract_article` gives an article whose title, author and site name are clean
single lines and whose text holds no control character, or raises one
`ExtractError` (or `NotAnArticle`) line naming the page.
"""

from __future__ import annotations

from html import escape

from hypothesis import given
from hypothesis import strategies as st

from flows.errors import ExtractError
from flows.extract import article_from_candidate, extract_article
from flows.items import Candidate
from storage.schemas import ArticleIn
from tests.security.fuzz import (
    assert_one_line_error,
    fuzz_settings,
    hostile_text,
    is_clean_line,
    is_clean_text,
)

PAGE = "https://news.test/2025/03/01/story"
CHARSETS = [None, "utf-8", "utf-16", "iso-8859-1", "no-such-charset", "utf-7"]
TYPES = [None, "text/html", "application/pdf", "text/plain", "application/octet-stream"]
WORDS = " ".join(["The ministry said the exercise went on for several days."] * 6)


def assert_clean_article(article: ArticleIn) -> None:
    assert article.title and is_clean_line(article.title), article.title
    assert article.text and is_clean_text(article.text), article.text
    for value in (article.author, article.site_name, *article.categories):
        assert value is None or (value and is_clean_line(value)), value


def extracted_or_error(page: bytes | str, **declared: str | None) -> None:
    try:
        article = extract_article(page, url=PAGE, source="fuzz", **declared)
    except ExtractError as error:
        assert_one_line_error(error, naming=PAGE)
        return
    assert_clean_article(article)


@fuzz_settings(150)
@given(
    body=st.binary(max_size=3000),
    encoding=st.sampled_from(CHARSETS),
    content_type=st.sampled_from(TYPES),
)
def test_fuzz_any_bytes_are_an_article_or_one_extract_error(
    body: bytes, encoding: str | None, content_type: str | None
) -> None:
    extracted_or_error(body, encoding=encoding, content_type=content_type)


@fuzz_settings(150)
@given(
    title=hostile_text,
    heading=hostile_text,
    author=hostile_text,
    paragraphs=st.lists(hostile_text, min_size=1, max_size=4),
    escaped=st.booleans(),
    encoding=st.sampled_from(["utf-8", "cp1252", "utf-16"]),
)
def test_fuzz_pages_with_hostile_titles_and_text_come_out_clean(
    title: str,
    heading: str,
    author: str,
    paragraphs: list[str],
    escaped: bool,
    encoding: str,
) -> None:
    def field(value: str) -> str:
        return escape(value) if escaped else value

    body = "".join(f"<p>{field(p)} {WORDS}</p>" for p in paragraphs)
    page = (
        f"<html><head><title>{field(title)}</title>"
        f'<meta name="author" content="{escape(author)}"></head>'
        f"<body><article><h1>{field(heading)}</h1>{body}</article></body></html>"
    )
    extracted_or_error(page.encode(encoding, errors="replace"), encoding=encoding)


@fuzz_settings(200)
@given(title=hostile_text, author=hostile_text, summary=hostile_text)
def test_fuzz_a_feed_entry_standing_in_for_its_page_comes_out_clean(
    title: str, author: str, summary: str
) -> None:
    candidate = Candidate(url=PAGE, source="fuzz", title=title, author=author, summary=summary)
    try:
        article = article_from_candidate(candidate, note="HTTP 404")
    except ExtractError as error:
        assert_one_line_error(error, naming=PAGE)
        return
    assert_clean_article(article)
