"""OPML subscription lists in and out, for moving feeds between newswatch and feed readers.

    feeds = read_opml(Path("subscriptions.opml"))
    text = write_opml(feeds, title="newswatch feeds")

Names are made safe to use as `[[sources]] name` in the config (`[\\w][\\w .:/-]*`)
and unique within the file. OPML comes from other programs, so the XML parser never
expands entities or loads anything over the network. A file that is not OPML is
one `ConfigError` line naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree

from flows.errors import ConfigError

NAME_MAX = 200  # the config's limit on a source name
_UNSAFE = re.compile(r"[^\w .:/-]+")


@dataclass(frozen=True)
class OpmlFeed:
    """One subscription: a config-safe name and the feed's URL as the file gives it."""

    name: str
    url: str


def read_opml(path: Path) -> list[OpmlFeed]:
    """Every outline with an `xmlUrl`, at any depth (folders are flattened), in file order."""
    root = _opml_root(path)
    taken: set[str] = set()
    feeds: list[OpmlFeed] = []
    for outline in root.iter("outline"):
        url = _attribute(outline, "xmlUrl")
        if not url:
            continue
        label = _attribute(outline, "title") or _attribute(outline, "text")
        name = unique_name(safe_name(label, url=url), taken=taken)
        taken.add(name)
        feeds.append(OpmlFeed(name=name, url=url))
    return feeds


def _opml_root(path: Path) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False
    )
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read: {error.strerror or error}", path=path) from None
    if re.search(rb"<!DOCTYPE", data[:65536], re.I):
        raise ConfigError("not OPML (declares a DTD)", path=path)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        reason = " ".join(str(error).split())  # libxml2's messages hold line breaks
        raise ConfigError(f"not OPML (invalid XML: {reason})", path=path) from None
    if root is None or root.tag != "opml":
        tag = "none" if root is None else f"<{etree.QName(root).localname}>"
        raise ConfigError(f"not OPML (root element {tag}, expected <opml>)", path=path)
    if root.find("body") is None:
        raise ConfigError("not OPML (no <body>)", path=path)
    return root


def _attribute(outline: etree._Element, name: str) -> str | None:
    """An attribute by name, case-insensitively (`xmlurl` is seen in the wild)."""
    for key, value in outline.attrib.items():
        if str(key).lower() == name.lower() and str(value).strip():
            return str(value).strip()
    return None


def safe_name(label: str | None, *, url: str) -> str:
    """`label` made valid as a source name, else the feed's host name.

    >>> safe_name("BBC News – World", url="https://feeds.bbci.co.uk/news/world/rss.xml")
    'BBC News World'
    """
    for raw in (label or "", _host(url), "feed"):
        name = " ".join(_UNSAFE.sub(" ", raw).split())
        name = re.sub(r"^[^\w]+", "", name)[: NAME_MAX - 10].rstrip()
        if name:
            return name
    return "feed"  # pragma: no cover - the loop's last value is always usable


def _host(url: str) -> str:
    """The URL's host name, or "" when there is none or the URL cannot be parsed."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # e.g. "http://[::1"
        return ""


def unique_name(name: str, *, taken: Iterable[str]) -> str:
    """`name`, or `name 2`, `name 3`... whichever is not taken yet."""
    used = set(taken)
    candidate, number = name, 2
    while candidate in used:
        candidate, number = f"{name} {number}", number + 1
    return candidate


def write_opml(feeds: Iterable[OpmlFeed], *, title: str) -> str:
    """An OPML 2.0 document listing `feeds`, one `rss` outline each."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    body = etree.SubElement(root, "body")
    for feed in feeds:
        etree.SubElement(
            body, "outline", type="rss", text=feed.name, title=feed.name, xmlUrl=feed.url
        )
    markup: str = etree.tostring(root, encoding="unicode", pretty_print=True)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + markup
