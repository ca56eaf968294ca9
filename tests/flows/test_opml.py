"""OPML in and out, on real files: nesting, names safe for the config, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.errors import ConfigError
from flows.opml import OpmlFeed, read_opml, safe_name, unique_name, write_opml
from flows.settings import SourceSettings

NESTED = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Reader export</title></head>
  <body>
    <outline text="World">
      <outline type="rss" text="BBC – World" title="BBC News – World"
               xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
      <outline text="Europe">
        <outline type="rss" text="DW" xmlurl="https://rss.dw.com/rdf/rss-en-all"/>
      </outline>
    </outline>
    <outline type="rss" text="Gazette" xmlUrl="https://gazette.test/feed"/>
    <outline type="rss" text="Gazette" xmlUrl="https://gazette.test/other"/>
    <outline type="rss" text="" xmlUrl="https://untitled.test/rss"/>
    <outline text="A folder without feeds"/>
  </body>
</opml>
"""


def test_nested_outlines_are_flattened_with_unique_config_safe_names(tmp_path: Path) -> None:
    path = tmp_path / "reader.opml"
    path.write_text(NESTED, encoding="utf-8")
    feeds = read_opml(path)
    assert feeds == [
        OpmlFeed("BBC News World", "https://feeds.bbci.co.uk/news/world/rss.xml"),
        OpmlFeed("DW", "https://rss.dw.com/rdf/rss-en-all"),
        OpmlFeed("Gazette", "https://gazette.test/feed"),
        OpmlFeed("Gazette 2", "https://gazette.test/other"),
        OpmlFeed("untitled.test", "https://untitled.test/rss"),
    ]
    for feed in feeds:
        SourceSettings(name=feed.name, feed=feed.url)  # the config accepts every name


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Plain", "Plain"),
        ("BBC News – World", "BBC News World"),
        ("  «Le Monde» ", "Le Monde"),
        ("-- dashes first", "dashes first"),
        ("Ünïcode Zeitung", "Ünïcode Zeitung"),
        ("Tech/Science: AI", "Tech/Science: AI"),
        ("★★★", "x.test"),
        (None, "x.test"),
        ("a" * 300, "a" * 190),
    ],
)
def test_safe_name(label: str | None, expected: str) -> None:
    assert safe_name(label, url="https://x.test/feed") == expected


@pytest.mark.parametrize(
    ("taken", "expected"),
    [(set(), "News"), ({"News"}, "News 2"), ({"News", "News 2"}, "News 3")],
)
def test_unique_name(taken: set[str], expected: str) -> None:
    assert unique_name("News", taken=taken) == expected


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "not OPML (invalid XML: "),
        ("<html><body>hi</body></html>", "not OPML (root element <html>, expected <opml>)"),
        ("<opml version='2.0'><head/></opml>", "not OPML (no <body>)"),
        ("<opml><body><outline", "not OPML (invalid XML: "),
        ('<!DOCTYPE opml [<!ENTITY a "b">]><opml><body/></opml>', "not OPML (declares a DTD)"),
    ],
)
def test_invalid_opml_is_one_line_naming_the_file(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "bad.opml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        read_opml(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {reason}")
    assert "\n" not in message


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.opml: cannot read: No such file"):
        read_opml(tmp_path / "missing.opml")


def test_written_opml_reads_back(tmp_path: Path) -> None:
    feeds = [OpmlFeed("A & B", "https://a.test/rss?x=1&y=2"), OpmlFeed("C", "https://c.test/")]
    text = write_opml(feeds, title="newswatch <feeds>")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    assert "<title>newswatch &lt;feeds&gt;</title>" in text
    path = tmp_path / "out.opml"
    path.write_text(text, encoding="utf-8")
    assert read_opml(path) == [OpmlFeed("A B", feeds[0].url), feeds[1]]
