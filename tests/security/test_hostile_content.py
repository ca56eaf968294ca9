"""Hostile content: deeply nested markup, invalid UTF-8, and control characters in titles.

Nesting 100,000 levels deep reaches no recursion limit: extraction says why it
found no text, every XML reader refuses with one line. Invalid UTF-8 is read as
well as it can be or refused in one line, never raised. A title full of CR, LF,
NUL, ESC, bidi overrides and line separators is stored clean on SQLite and on
PostgreSQL, and can neither split the subject of the alert it fires nor a log line.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from alerts import AlertMessage, EmailChannel, EmailNotifier
from alerts.notifiers.email import build_email
from flows.errors import ConfigError, ExtractError, FeedError, SeedError
from flows.extract import article_from_candidate, extract_article
from flows.feeds import html_to_text, parse_feed
from flows.opml import read_opml
from flows.seeds import read_seed
from flows.sitemaps import parse_sitemap
from storage import ArticleIn, add_articles, ensure_sources, iter_articles
from tests.alerts.messages import make_message
from tests.security.fuzz import assert_one_line_error, is_clean_line, is_clean_text
from tests.servers import LoopbackSMTPServer

URL = "https://news.test/2025/03/01/story"
WORDS = " ".join(["The ministry said the exercise went on for several days."] * 6)
DEEP = 100_000

# --- deep nesting ---------------------------------------------------------------------------

DEPTH_REASON = "no article text found: the page nests elements 250 deep or more"
NESTINGS = {
    "div": ("<div>", "</div>"),
    "span": ("<span>", "</span>"),
    "table": ("<table><tr><td>", "</td></tr></table>"),
    "list": ("<ul><li>", "</li></ul>"),
    "blockquote": ("<blockquote>", "</blockquote>"),
    "never closed": ("<div>", ""),
}


@pytest.mark.parametrize("nesting", NESTINGS)
def test_a_page_nested_100_000_deep_fails_extraction_saying_why(nesting: str) -> None:
    opening, closing = NESTINGS[nesting]
    body = opening * DEEP + f"<p>{WORDS}</p>" + closing * DEEP
    page = f"<html><head><title>Deep</title></head><body>{body}</body></html>"
    started = time.perf_counter()
    with pytest.raises(ExtractError) as failed:
        extract_article(page.encode(), url=URL, source="x")
    assert str(failed.value).startswith(f"{URL}: {DEPTH_REASON}")
    assert time.perf_counter() - started < 5


def test_an_article_followed_by_deep_nesting_is_still_extracted() -> None:
    page = (
        f"<html><body><article><h1>Drill</h1><p>{WORDS}</p></article>{'<div>' * DEEP}</body></html>"
    )
    article = extract_article(page.encode(), url=URL, source="x")
    assert "exercise went on" in article.text


def test_a_page_of_100_000_elements_is_refused_before_extraction_starts() -> None:
    """trafilatura would spend ~12 s on it; a real page has at most ~10,000 elements."""
    page = f"<html><body>{'<p>' * DEEP}{WORDS}</body></html>"
    started = time.perf_counter()
    with pytest.raises(ExtractError) as failed:
        extract_article(page.encode(), url=URL, source="x")
    assert str(failed.value) == f"{URL}: page too big to extract: 100,002 elements, at most 50,000"
    assert time.perf_counter() - started < 2


def test_a_deep_html_seed_file_names_the_file_and_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "deep.html"
    path.write_text(f"<html><body>{'<div>' * DEEP}<p>{WORDS}</p></body></html>")
    with pytest.raises(SeedError) as failed:
        read_seed(path, source="desk")
    assert str(failed.value).startswith(f"{path}: no article text found in the HTML: the page")


def _read_sitemap(data: bytes, tmp_path: Path) -> None:
    parse_sitemap(data, url=URL, source="x")


def _read_opml(data: bytes, tmp_path: Path) -> None:
    (tmp_path / "deep.opml").write_bytes(data)
    read_opml(tmp_path / "deep.opml")


def _read_feed(data: bytes, tmp_path: Path) -> None:
    parse_feed(data, url=URL, source="x")


DEEP_XML: dict[str, tuple[Callable[[bytes, Path], None], bytes, type[Exception]]] = {
    "sitemap": (_read_sitemap, b"<urlset>" + b"<url>" * DEEP, FeedError),
    "OPML": (_read_opml, b"<opml><body>" + b"<outline>" * DEEP, ConfigError),
    "JSON Feed": (_read_feed, b'{"items":' + b"[" * DEEP + b"]" * DEEP + b"}", FeedError),
}


@pytest.mark.parametrize("reader", DEEP_XML)
def test_documents_nested_100_000_deep_are_one_line_errors(tmp_path: Path, reader: str) -> None:
    read, data, error_type = DEEP_XML[reader]
    started = time.perf_counter()
    with pytest.raises(error_type) as failed:
        read(data, tmp_path)
    naming = str(tmp_path / "deep.opml") if reader == "OPML" else URL
    assert_one_line_error(failed.value, naming=naming)
    assert time.perf_counter() - started < 5


def test_a_feed_entry_nested_100_000_deep_is_read_without_recursion() -> None:
    assert html_to_text("<div>" * DEEP + WORDS + "</div>" * DEEP) == ""  # past the parser's cap
    assert html_to_text(f"<p>{WORDS}</p>" + "<div>" * DEEP) == WORDS


# --- invalid UTF-8 ----------------------------------------------------------------------------

BAD_UTF8 = [
    b"\xff\xfe\xfd",  # never valid
    b"\xc0\xaf",  # overlong '/'
    b"\xed\xa0\x80",  # an encoded surrogate
    b"caf\xe9",  # latin-1 in a UTF-8 document
    b"\xe2\x82",  # a sequence cut short
]


@pytest.mark.parametrize("bad", BAD_UTF8, ids=repr)
def test_a_feed_with_invalid_utf8_still_yields_its_entries(bad: bytes) -> None:
    rss = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><item><title>A '
        + bad
        + b" title</title><link>https://x.test/1</link></item></channel></rss>"
    )
    (candidate,) = parse_feed(rss, url=URL, source="x")
    assert candidate.url == "https://x.test/1"
    assert candidate.title and candidate.title.startswith("A ") and is_clean_line(candidate.title)


@pytest.mark.parametrize("bad", BAD_UTF8, ids=repr)
def test_a_json_feed_with_invalid_utf8_keeps_its_items(bad: bytes) -> None:
    feed = json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "items": [{"url": "https://x.test/1"}]}
    ).encode()
    feed = feed.replace(b'"items"', b'"title": "' + bad + b'", "items"')
    (candidate,) = parse_feed(feed, url=URL, source="x")
    assert candidate.url == "https://x.test/1"


@pytest.mark.parametrize("bad", BAD_UTF8, ids=repr)
def test_a_page_with_invalid_utf8_is_extracted(bad: bytes) -> None:
    page = (
        b'<html><head><meta charset="utf-8"><title>A ' + bad + b" title</title></head>"
        b"<body><article><p>" + WORDS.encode() + b" " + bad + b"</p></article></body></html>"
    )
    article = extract_article(page, url=URL, source="x", encoding="utf-8")
    assert is_clean_line(article.title) and "exercise went on" in article.text


@pytest.mark.parametrize("bad", BAD_UTF8, ids=repr)
def test_a_sitemap_or_opml_with_invalid_utf8_is_one_line_error_or_read(
    tmp_path: Path, bad: bytes
) -> None:
    loc = b"https://x.test/" + bad
    try:
        parse_sitemap(b"<urlset><url><loc>" + loc + b"</loc></url></urlset>", url=URL, source="x")
    except FeedError as error:
        assert_one_line_error(error, naming=URL)
    path = tmp_path / "feeds.opml"
    path.write_bytes(
        b'<opml><body><outline text="' + bad + b'" xmlUrl="https://x.test/f"/></body></opml>'
    )
    try:
        read_opml(path)
    except ConfigError as error:
        assert_one_line_error(error, naming=str(path))


@pytest.mark.parametrize("bad", BAD_UTF8, ids=repr)
def test_a_text_seed_with_invalid_utf8_is_read_as_cp1252_or_refused(
    tmp_path: Path, bad: bytes
) -> None:
    path = tmp_path / "seed.txt"
    path.write_bytes(b"date 2024-01-05\nA " + bad + b" title\n" + WORDS.encode() + b"\n")
    try:
        article = read_seed(path, source="desk")
    except SeedError as error:
        assert str(error) == f"{path}: not a text file: cannot decode as UTF-8 or cp1252"
        return
    assert isinstance(article, ArticleIn) and is_clean_line(article.title)


# --- control characters in titles -------------------------------------------------------------

HOSTILE_TITLE = (
    "Kim\r\nBcc: spy@evil.example\r\n\r\nFake body\x00 \x1b[2J\x07 orders"
    "\u202e\u2066 launchers\u2069\u202c\u2028INFO forged log line\x85\x0b\x0c more"
)
CLEAN_TITLE = "Kim Bcc: spy@evil.example Fake body [2J orders launchers INFO forged log line more"


def _xml_escaped(text: str, *, strict: bool = False) -> str:
    """As a feed writes it: markup escaped, every control a character reference; `strict`
    drops the C0 controls XML 1.0 forbids even as references (libxml2 holds to that)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;")
    if strict:
        escaped = "".join(c for c in escaped if c >= " " or c in "\t\n\r")
    return "".join(c if c.isprintable() or c == " " else f"&#{ord(c)};" for c in escaped)


def _from_rss() -> ArticleIn:
    rss = (
        f'<rss version="2.0"><channel><item><title>{_xml_escaped(HOSTILE_TITLE)}</title>'
        f"<link>{URL}</link><description>{WORDS}</description></item></channel></rss>"
    )
    (candidate,) = parse_feed(rss.encode(), url=URL, source="x")
    return article_from_candidate(candidate, note="page not fetched")


def _from_atom() -> ArticleIn:
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry>'
        f'<title type="html">{_xml_escaped(HOSTILE_TITLE)}</title>'
        f'<link href="{URL}"/><summary>{WORDS}</summary></entry></feed>'
    )
    (candidate,) = parse_feed(atom.encode(), url=URL, source="x")
    return article_from_candidate(candidate, note="page not fetched")


def _from_json_feed() -> ArticleIn:
    item = {"url": URL, "title": HOSTILE_TITLE, "content_text": WORDS}
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": [item]})
    (candidate,) = parse_feed(body.encode(), url=URL, source="x")
    return article_from_candidate(candidate, note="page not fetched")


def _from_sitemap() -> ArticleIn:
    body = (
        '<urlset xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url>'
        f"<loc>{URL}</loc><news:news><news:title>{_xml_escaped(HOSTILE_TITLE, strict=True)}"
        "</news:title>"
        "</news:news></url></urlset>"
    )
    (candidate,) = parse_sitemap(body.encode(), url=URL, source="x").candidates
    return article_from_candidate(
        type(candidate)(url=candidate.url, source="x", title=candidate.title, summary=WORDS),
        note="page not fetched",
    )


def _from_page() -> ArticleIn:
    page = (
        f"<html><head><title>{_xml_escaped(HOSTILE_TITLE)}</title></head>"
        f"<body><article><p>{WORDS}</p></article></body></html>"
    )
    return extract_article(page.encode(), url=URL, source="x")


def _from_text_seed(tmp_path: Path) -> ArticleIn:
    path = tmp_path / "seed.txt"
    # A text file cannot hold NUL (it is refused as binary), nor a line break in a title.
    breaks = str.maketrans(dict.fromkeys("\r\n\x85\x0b\x0c\u2028", " ") | {"\x00": None})
    path.write_text(f"date 2025-03-01\n{HOSTILE_TITLE.translate(breaks)}\n{WORDS}\n")
    article = read_seed(path, source="x")
    assert isinstance(article, ArticleIn)
    return article


SOURCES: dict[str, Callable[[Path], ArticleIn]] = {
    "RSS title": lambda tmp_path: _from_rss(),
    "Atom title": lambda tmp_path: _from_atom(),
    "JSON Feed title": lambda tmp_path: _from_json_feed(),
    "Google News sitemap title": lambda tmp_path: _from_sitemap(),
    "page <title>": lambda tmp_path: _from_page(),
    "text seed title": _from_text_seed,
}


@pytest.mark.parametrize("source", SOURCES)
def test_a_title_full_of_control_characters_is_stored_clean(
    engine: Engine, tmp_path: Path, source: str
) -> None:
    article = SOURCES[source](tmp_path)
    assert is_clean_line(article.title) and is_clean_text(article.text)
    # A reference to NUL reads as U+FFFD and one to 0x85 as "…", as in browsers (HTML5)
    words = article.title.replace("\ufffd", "").replace("…", " ").split()
    assert words == CLEAN_TITLE.split()
    with Session(engine) as session:
        ids = ensure_sources(session=session, sources=[("x", "feed", URL)])
        add_articles(session=session, articles=[article], source_ids=ids, run_id=None)
        session.commit()
    with Session(engine) as session:
        ((stored, _),) = list(iter_articles(session=session))
    assert (stored.title, stored.text) == (article.title, article.text)


def test_a_cleaned_title_cannot_split_the_alert_subject_or_add_recipients(
    smtp_server: LoopbackSMTPServer,
) -> None:
    title = _from_rss().title
    channel = EmailChannel.model_validate(
        {
            "type": "email",
            "to": ["desk@example.org"],
            "from": "newswatch@example.org",
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
        }
    )

    def header_names(message: AlertMessage) -> list[str]:
        raw = build_email(message, channel=channel).as_bytes(policy=SMTP)
        head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
        return [line.split(":", 1)[0] for line in head.split("\r\n") if not line[:1].isspace()]

    plain = header_names(make_message(title="Kim orders launchers"))
    assert plain.count("Subject") == 1 and "Bcc" not in plain
    for candidate in (title, HOSTILE_TITLE):  # cleaned, and raw: the subject holds either
        message = make_message(title=candidate)
        assert header_names(message) == plain
        asyncio.run(EmailNotifier(name="desk", channel=channel).send(message))
        mail: EmailMessage = smtp_server.messages[-1]
        assert is_clean_line(mail["Subject"]) and mail["Bcc"] is None
        assert smtp_server.envelopes[-1] == ("newswatch@example.org", ["desk@example.org"])


def test_a_cleaned_title_is_one_log_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("newswatch.security-test")
    logger.addHandler(handler)
    try:
        logger.warning("stored %s", _from_rss().title)
    finally:
        logger.removeHandler(handler)
    assert len(stream.getvalue().splitlines()) == 1
    assert "\x1b" not in stream.getvalue() and "\u202e" not in stream.getvalue()
