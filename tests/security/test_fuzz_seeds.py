"""Seed files under fuzzing: text dumps, URL lists and saved pages of any content.

Whatever a file holds, `read_seed` gives an article, a list of URLs, or one
`SeedError` line naming the file; an article's title is a clean single line and
its text has no control character but line breaks and tabs.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from hypothesis import given
from hypothesis import strategies as st

from flows.errors import SeedError
from flows.seeds import parse_text_seed, read_seed
from storage.schemas import ArticleIn
from tests.security.fuzz import (
    assert_one_line_error,
    fuzz_settings,
    hostile_text,
    is_clean_line,
    is_clean_text,
)

SEED = Path("/seeds/desk/hostile.txt")


def assert_clean_seed_result(result: ArticleIn | list[str]) -> None:
    if isinstance(result, list):
        assert result
        for url in result:
            parts = urlsplit(url)
            assert parts.scheme in ("http", "https") and parts.netloc, url
            assert is_clean_line(url) and " " not in url, url
        return
    assert result.title and is_clean_line(result.title), result.title
    assert result.text and is_clean_text(result.text), result.text
    assert is_clean_line(result.url) and urlsplit(result.url).scheme in ("http", "https", "file")
    assert result.author is None or is_clean_line(result.author)
    assert result.published_at is None or result.published_at.tzinfo is not None


@fuzz_settings(300)
@given(text=st.one_of(st.text(max_size=400), hostile_text))
def test_fuzz_any_text_is_an_article_urls_or_one_seed_error(text: str) -> None:
    try:
        result = parse_text_seed(text, path=SEED, source="desk")
    except SeedError as error:
        assert_one_line_error(error, naming=str(SEED))
        return
    assert_clean_seed_result(result)


@fuzz_settings(250)
@given(
    date=st.sampled_from(["2024-01-05", "2024-02-30", "2024-1-5", "yesterday", ""]),
    lines=st.lists(hostile_text, max_size=8),
)
def test_fuzz_text_dumps_with_hostile_lines_come_out_clean(date: str, lines: list[str]) -> None:
    text = "\n".join([f"date {date}", *lines])
    try:
        result = parse_text_seed(text, path=SEED, source="desk")
    except SeedError as error:
        assert_one_line_error(error, naming=str(SEED))
        return
    assert isinstance(result, ArticleIn)
    assert_clean_seed_result(result)


@fuzz_settings(200)
@given(lines=st.lists(st.one_of(hostile_text, st.builds("https://x.test/{}".format, hostile_text))))
def test_fuzz_url_lists_hold_only_urls(lines: list[str]) -> None:
    try:
        result = parse_text_seed("\n".join(lines), path=SEED, source="desk")
    except SeedError as error:
        assert_one_line_error(error, naming=str(SEED))
        return
    assert_clean_seed_result(result)


@fuzz_settings(150)
@given(
    data=st.one_of(
        st.binary(max_size=2000),
        hostile_text.map(lambda text: text.encode("utf-8", errors="surrogatepass")),
        hostile_text.map(lambda text: ("date 2024-01-05\n" + text).encode("cp1252", "replace")),
    ),
    suffix=st.sampled_from([".txt", ".TXT", ".html", ".htm", ".md", ""]),
)
def test_fuzz_any_file_is_read_or_one_seed_error_naming_it(
    tmp_path: Path, data: bytes, suffix: str
) -> None:
    path = tmp_path / f"seed{suffix}"
    path.write_bytes(data)
    try:
        result = read_seed(path, source="desk")
    except SeedError as error:
        assert_one_line_error(error, naming=str(path))
        return
    assert_clean_seed_result(result)
