"""Local seed files: text dumps of articles, saved HTML pages, and lists of URLs.

A seed source names a file, a folder or a glob (relative to the config file)::

    for path in discover_seed_files("seeds/", base=config_dir):
        item = read_seed(path, source="seeds")  # an ArticleIn, or URLs to fetch

The text-dump format, as saved by a browser's "save as text" with a date line
added on top::

     date 2024-01-05   1. Skip to content      <- date; the rest is page chrome
    Kim Jong Un calls for ...                  <- title: first non-empty line
    January 5, 2024                            <- restated date: dropped
    North Korean leader ...                    <- text
    https://p.dw.com/p/4asKO                   <- permalink near the top: the url

Bytes are read as UTF-8 (a BOM is allowed), else as cp1252, the usual encoding
of text saved on Windows; NUL bytes or bytes cp1252 cannot map are an error,
since they mean the file is not text.
"""

from __future__ import annotations

import glob
import re
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from flows.errors import ExtractError, SeedError
from flows.extract import extract_article
from flows.items import clean_line
from storage.schemas import ArticleIn

TEXT_SUFFIXES = (".txt",)
HTML_SUFFIXES = (".html", ".htm")
SEED_SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES
# How many non-empty lines after the title may hold the permalink.
PERMALINK_WINDOW = 6

_DATE_LINE = re.compile(r"date\s+(\S+)\s*(.*)", re.I)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NAVIGATION = re.compile(
    r"(\d+\.\s*)?(skip|jump) to (the )?(main )?(content|navigation|menu|search|footer)\b.*",
    re.I,
)
_DATE_PREFIX = re.compile(r"(published|updated|posted|date)\s*:?\s*", re.I)


def discover_seed_files(spec: str, *, base: Path) -> list[Path]:
    """The files `spec` names: a file, a folder (recursive) or a glob, sorted.

    Hidden files and folders are skipped. A folder contributes only files with
    a seed suffix (.txt, .html, .htm); a file or glob named explicitly is
    taken as is, so a wrong suffix is reported by `read_seed`, not ignored.
    """
    path = seeds_path(spec, base=base)
    if glob.has_magic(spec):
        found = [Path(p) for p in glob.glob(str(path), recursive=True)]
        files = [p for p in found if p.is_file() and not _is_hidden(p, root=_glob_root(path))]
    elif path.is_dir():
        files = [
            p
            for p in path.rglob("*")
            if p.is_file() and p.suffix.lower() in SEED_SUFFIXES and not _is_hidden(p, root=path)
        ]
    else:
        files = [path] if path.is_file() else []
    if not files:
        raise SeedError(f"no seed files match {spec!r}", path=path)
    return sorted(files)


def seeds_path(spec: str, *, base: Path) -> Path:
    """A config's `seeds` value as the path (or glob) it names: `~` expanded, a relative
    one against `base`, the config's folder."""
    path = Path(spec).expanduser()
    return path if path.is_absolute() else base / path


def _glob_root(pattern: Path) -> Path:
    """The part of a glob pattern before its first wildcard."""
    parts = []
    for part in pattern.parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return Path(*parts)


def _is_hidden(path: Path, *, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def read_seed(path: Path, *, source: str) -> ArticleIn | list[str]:
    """One article from a seed file, or the URLs a `.txt` URL list holds."""
    suffix = path.suffix.lower()
    if suffix not in SEED_SUFFIXES:
        raise SeedError(
            f"unsupported extension {suffix or '(none)'!r}: expected .txt, .html or .htm", path=path
        )
    data = _read_bytes(path)
    if suffix in HTML_SUFFIXES:
        return _read_html_seed(data, path=path, source=source)
    return parse_text_seed(_decode(data, path=path), path=path, source=source)


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SeedError(f"cannot read: {error.strerror}", path=path) from error
    if not data.strip():
        raise SeedError("empty file", path=path)
    return data


def _decode(data: bytes, *, path: Path) -> str:
    """UTF-8 (BOM or not), else cp1252; a file that is neither is not text."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text
    raise SeedError("not a text file: cannot decode as UTF-8 or cp1252", path=path)


def _read_html_seed(data: bytes, *, path: Path, source: str) -> ArticleIn:
    try:
        return extract_article(data, url=path.resolve().as_uri(), source=source, origin="html")
    except ExtractError as error:
        reason = str(error).removeprefix(f"{error.url}: ")
        detail = reason.removeprefix("no article text found")
        detail = detail if detail != reason else f" ({reason})"
        raise SeedError(f"no article text found in the HTML{detail}", path=path) from error


def parse_text_seed(text: str, *, path: Path, source: str) -> ArticleIn | list[str]:
    """A text dump (first line `date YYYY-MM-DD`) as an article, or a URL list as its URLs."""
    lines = text.lstrip().splitlines()  # leading blank lines are leading whitespace too
    if not lines:
        raise SeedError("empty file", path=path)
    first = lines[0].strip()
    match = _DATE_LINE.fullmatch(first)
    if match:
        published = _parse_date(match.group(1), path=path)
        return _text_article(lines[1:], published=published, path=path, source=source)
    urls = _url_list(lines)
    if urls is not None:
        if not urls:
            raise SeedError("a URL list without URLs", path=path)
        return urls
    raise SeedError(
        f"line 1 must be 'date YYYY-MM-DD' (or the file a list of URLs), found {first[:60]!r}",
        path=path,
    )


def _parse_date(token: str, *, path: Path) -> datetime:
    if not _ISO_DATE.fullmatch(token):
        raise SeedError(f"line 1: expected 'date YYYY-MM-DD', found date {token!r}", path=path)
    try:
        day = date.fromisoformat(token)
    except ValueError as error:
        raise SeedError(f"line 1: invalid date {token!r} ({error})", path=path) from error
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _url_list(lines: list[str]) -> list[str] | None:
    """The URLs when every line is a URL, blank or a `#` comment; else None."""
    entries = [line.strip() for line in lines]
    entries = [line for line in entries if line and not line.startswith("#")]
    return entries if all(_is_url(line) for line in entries) else None


def _is_url(line: str) -> bool:
    """An absolute http(s) URL with a host, no spaces and nothing a URL parser refuses."""
    if any(c.isspace() or not c.isprintable() for c in line):
        return False
    try:
        parts = urlsplit(line)
    except ValueError:  # e.g. "http://[::1"
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _text_article(lines: list[str], *, published: datetime, path: Path, source: str) -> ArticleIn:
    cleaned = [clean_line(line) for line in lines]  # NBSP-only lines become empty
    body = [line for line in cleaned if not _is_chrome(line, published=published)]
    nonempty = [i for i, line in enumerate(body) if line]
    if not nonempty:
        raise SeedError("no title after the date line", path=path)
    title = body[nonempty[0]]
    rest = body[nonempty[0] + 1 :]
    permalink = _permalink(rest)
    if permalink is not None:
        rest.remove(permalink)
    text = _paragraphs(rest)
    if not text:
        raise SeedError("no text after the title", path=path)
    return ArticleIn(
        url=permalink or path.resolve().as_uri(),
        source=source,
        title=title,
        text=text,
        origin="seed",
        published_at=published,
    )


def _is_chrome(line: str, *, published: datetime) -> bool:
    """Navigation links ("1. Skip to content") and a line that only restates the date."""
    return bool(_NAVIGATION.fullmatch(line)) or _is_date_line(line, published=published)


def _is_date_line(line: str, *, published: datetime) -> bool:
    candidate = _DATE_PREFIX.sub("", line, count=1) if _DATE_PREFIX.match(line) else line
    return candidate.strip(" .,").lower() in _date_spellings(published)


def _date_spellings(day: datetime) -> set[str]:
    """The ways a page prints a date: 'January 5, 2024', '5 Jan 2024', '2024-01-05', ..."""
    month, abbr, d, y = day.strftime("%B"), day.strftime("%b"), day.day, day.year
    spellings = {
        f"{month} {d}, {y}",
        f"{month} {d:02d}, {y}",
        f"{abbr} {d}, {y}",
        f"{d} {month} {y}",
        f"{d} {abbr} {y}",
        f"{d}. {month} {y}",
        day.strftime("%Y-%m-%d"),
        day.strftime("%d.%m.%Y"),
        day.strftime("%m/%d/%Y"),
        day.strftime("%d/%m/%Y"),
    }
    return {s.lower() for s in spellings}


def _permalink(lines: list[str]) -> str | None:
    """A lone URL line among the first few lines: the page's short link or permalink."""
    head = [line for line in lines if line][:PERMALINK_WINDOW]
    return next((line for line in head if _is_url(line)), None)


def _paragraphs(lines: list[str]) -> str:
    """The lines with runs of blank lines collapsed to one blank line."""
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip()
