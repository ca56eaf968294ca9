"""Seed files: the real text dump, the bundled examples, URL lists, HTML, discovery and errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.errors import SeedError
from flows.seeds import discover_seed_files, read_seed
from storage.schemas import ArticleIn
from tests.conftest import SEED_DOCUMENT, shared_path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "seeds"


def test_the_real_seed_document() -> None:
    article = read_seed(shared_path(SEED_DOCUMENT), source="seeds")
    assert isinstance(article, ArticleIn)
    assert article.title == "Kim Jong Un calls for expanded missile launcher production"
    assert article.published_at == datetime(2024, 1, 5, tzinfo=UTC)
    assert article.url == "https://p.dw.com/p/4asKO"
    assert (article.origin, article.source) == ("seed", "seeds")
    assert article.text.startswith(
        "North Korean leader Kim Jong Un has made calls for the increased production"
        " of mobile missile launchers"
    )
    assert "Skip to content" not in article.text
    assert "January 5, 2024" not in article.text
    assert "https://p.dw.com/p/4asKO" not in article.text
    assert "\n\n\n" not in article.text
    assert "\xa0" not in article.text
    assert article.text.endswith("ss/kb (AFP, Reuters)")


@pytest.mark.parametrize(
    ("name", "title", "day", "matches_example_rule"),
    [
        (
            "001_defence_launchers.txt",
            "Defence ministry orders more mobile missile launchers after coastal exercise",
            12,
            True,
        ),
        (
            "002_tram_line.txt",
            "City council approves new tram line to the eastern districts",
            2,
            False,
        ),
        ("003_wheat_forecast.txt", "Dry spring cuts wheat harvest forecast", 20, False),
    ],
)
def test_bundled_example_seeds_parse(
    name: str, title: str, day: int, matches_example_rule: bool
) -> None:
    article = read_seed(EXAMPLES / name, source="examples")
    assert isinstance(article, ArticleIn)
    assert article.title == title
    assert article.published_at is not None
    assert (article.published_at.year, article.published_at.day) == (2025, day)
    assert "Skip to content" not in article.text
    assert ("missile launcher" in f"{article.title}\n{article.text}") is matches_example_rule


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty file"),
        ("blank.txt", b"  \n\n ", "empty file"),
        ("nodate.txt", "Title\n\nSome text.\n", "line 1 must be 'date YYYY-MM-DD'"),
        ("baddate.txt", "date 2024-13-45\nTitle\n\nText.\n", "line 1: invalid date '2024-13-45'"),
        (
            "wordydate.txt",
            "date yesterday\nTitle\n\nText.\n",
            "line 1: expected 'date YYYY-MM-DD', found date 'yesterday'",
        ),
        (
            "notitle.txt",
            "date 2024-01-05 Skip to content\n\n\xa0\n",
            "no title after the date line",
        ),
        ("notext.txt", "date 2024-01-05\nA title\n\nJanuary 5, 2024\n", "no text after the title"),
        (
            "binary.txt",
            b"date 2024-01-05\nT\n\x81\x8d\x8f\x90\x9d",
            "not a text file: cannot decode as UTF-8 or cp1252",
        ),
        ("nul.txt", b"date 2024-01-05\x00\x00", "not a text file"),
        ("notes.md", "date 2024-01-05\nTitle\nText\n", "unsupported extension '.md'"),
        ("comments.txt", "# only a comment\n\n", "a URL list without URLs"),
        ("mixed.txt", "https://a.example/1\nnot a url\n", "line 1 must be 'date YYYY-MM-DD'"),
        (
            "empty.html",
            "<html><body><nav>Home</nav></body></html>",
            "no article text found in the HTML",
        ),
    ],
)
def test_malformed_seeds_are_errors_naming_the_path(
    tmp_path: Path, name: str, content: str | bytes, reason: str
) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(SeedError) as caught:
        read_seed(path, source="seeds")
    assert str(caught.value).startswith(f"{path}: {reason}")
    assert caught.value.path == str(path)


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        ("date 2024-01-05\nCafé opens\n\nThe café opened.\n", "utf-8"),
        ("\ufeffdate 2024-01-05\nCafé opens\n\nThe café opened.\n", "utf-8"),
        ("date 2024-01-05\nCafé opens\n\nThe café opened.\n", "cp1252"),
        ("date 2024-01-05\r\nCafé opens\r\n\r\nThe café opened.\r\n", "cp1252"),
    ],
)
def test_text_seed_encodings(tmp_path: Path, content: str, encoding: str) -> None:
    article = read_seed(write(tmp_path, "a.txt", content.encode(encoding)), source="s")
    assert isinstance(article, ArticleIn)
    assert (article.title, article.text) == ("Café opens", "The café opened.")
    assert article.url == (tmp_path / "a.txt").resolve().as_uri()


@pytest.mark.parametrize(
    ("line", "dropped"),
    [
        ("January 5, 2024", True),
        ("Jan 5, 2024", True),
        ("5 January 2024", True),
        ("Published: January 5, 2024", True),
        ("05.01.2024", True),
        ("2024-01-05", True),
        ("January 6, 2024", False),
        ("1. Skip to content", True),
        ("Skip to main content", True),
        ("3. Skip to navigation", True),
        ("Skipping school became a habit", False),
    ],
)
def test_page_chrome_lines(tmp_path: Path, line: str, dropped: bool) -> None:
    content = f"date 2024-01-05\nTitle\n{line}\nBody text.\n"
    article = read_seed(write(tmp_path, "a.txt", content), source="s")
    assert isinstance(article, ArticleIn)
    assert (line not in article.text) is dropped


def test_permalink_only_near_the_top(tmp_path: Path) -> None:
    body = "\n".join(f"Paragraph {i}." for i in range(8))
    content = f"date 2024-01-05\nTitle\n{body}\nhttps://late.example/p/1\n"
    article = read_seed(write(tmp_path, "a.txt", content), source="s")
    assert isinstance(article, ArticleIn)
    assert article.url.startswith("file://")
    assert article.text.endswith("https://late.example/p/1")


def test_url_list(tmp_path: Path) -> None:
    content = "# morning reading\nhttps://a.example/1\n\n  http://b.example/2?x=1  \n# end\n"
    urls = read_seed(write(tmp_path, "list.txt", content), source="s")
    assert urls == ["https://a.example/1", "http://b.example/2?x=1"]


def test_html_seed(tmp_path: Path) -> None:
    page = """<html lang="en"><head><title>Bridge closed | Town Post</title>
    <link rel="canonical" href="https://town.example/bridge-closed">
    <meta name="date" content="2025-06-01">
    <meta name="keywords" content="roads, River bridge"></head>
    <body><article><h1>Bridge closed</h1>
    <p>The old river bridge will stay closed for repairs until the end of the summer,
    the town said.</p>
    <p>Cyclists are asked to use the ferry, which will run every twenty minutes at no charge.</p>
    </article></body></html>"""
    article = read_seed(write(tmp_path, "bridge.html", page), source="saved")
    assert isinstance(article, ArticleIn)
    assert (article.origin, article.url, article.language) == (
        "html",
        "https://town.example/bridge-closed",
        "en",
    )
    assert article.title.startswith("Bridge closed")
    assert article.published_at == datetime(2025, 6, 1, tzinfo=UTC)
    assert article.text.startswith("The old river bridge")
    assert article.categories == ("roads", "River bridge")  # a saved page keeps its keywords


def test_html_seed_without_canonical_keeps_the_file_uri(tmp_path: Path) -> None:
    page = (
        "<html><body><article><p>" + "Words of a saved page. " * 10 + "</p></article></body></html>"
    )
    path = write(tmp_path, "saved.htm", page)
    article = read_seed(path, source="saved")
    assert isinstance(article, ArticleIn)
    assert article.url == path.resolve().as_uri()


@pytest.fixture
def seed_tree(tmp_path: Path) -> Path:
    for name in [
        "b.txt",
        "a.html",
        "sub/c.txt",
        "sub/deeper/d.htm",
        "sub/readme.md",
        ".hidden.txt",
        ".git/e.txt",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    return tmp_path


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("b.txt", ["b.txt"]),
        ("sub/readme.md", ["sub/readme.md"]),
        (".", ["a.html", "b.txt", "sub/c.txt", "sub/deeper/d.htm"]),
        ("sub", ["sub/c.txt", "sub/deeper/d.htm"]),
        ("*.txt", ["b.txt"]),
        ("**/*.txt", ["b.txt", "sub/c.txt"]),
        ("sub/*", ["sub/c.txt", "sub/readme.md"]),
    ],
)
def test_discovery(seed_tree: Path, spec: str, expected: list[str]) -> None:
    found = discover_seed_files(spec, base=seed_tree)
    assert [p.relative_to(seed_tree).as_posix() for p in found] == expected


def test_discovery_of_an_absolute_spec(
    seed_tree: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    found = discover_seed_files(str(seed_tree / "sub"), base=elsewhere)
    assert [p.name for p in found] == ["c.txt", "d.htm"]


@pytest.mark.parametrize("spec", ["missing.txt", "nothing/", "*.csv", "sub/deeper/*.txt"])
def test_discovery_finding_nothing_names_the_spec(seed_tree: Path, spec: str) -> None:
    with pytest.raises(SeedError, match=f"no seed files match '{spec}'".replace("*", r"\*")):
        discover_seed_files(spec, base=seed_tree)


def test_bundled_examples_are_discovered() -> None:
    names = [p.name for p in discover_seed_files("seeds", base=EXAMPLES.parent)]
    assert names == ["001_defence_launchers.txt", "002_tram_line.txt", "003_wheat_forecast.txt"]
