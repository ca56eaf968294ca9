"""Errors of the orchestration side, each carrying the input it is about.

    NewswatchError
    ├── ConfigError(message, path=, key=)      bad or missing config file
    └── SourceError(message, source=)          one source or item failed; the run goes on
        ├── FetchError(message, url=)          network, HTTP status, size cap, refused address
        │   │                                  or certificate
        │   └── TransientFetchError            timeouts, dropped connections, 429, 5xx: retry later
        ├── FeedError(message, url=)           a body that is not a readable feed
        ├── SeedError(message, path=)          a seed file that cannot be read
        └── ExtractError(message, url=)        a page with no article text
            └── NotAnArticle(reason, url=)     a PDF, home page, login wall, bot challenge...

`str(error)` is one line that names the input, for summaries and the CLI; a URL's
password shows as ****.
"""

from __future__ import annotations

from pathlib import Path

from storage.errors import shown_url


class NewswatchError(Exception):
    """Base of every error newswatch reports to users as one line."""


class ConfigError(NewswatchError):
    def __init__(self, message: str, *, path: Path | str, key: str | None = None) -> None:
        self.path = str(path)
        self.key = key
        where = f"{self.path}: {key}: " if key else f"{self.path}: "
        super().__init__(where + message)


class SourceError(NewswatchError):
    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(message)


class FetchError(SourceError):
    def __init__(self, message: str, *, url: str, source: str | None = None) -> None:
        self.url = url
        super().__init__(f"{shown_url(url)}: {message}", source=source)


class TransientFetchError(FetchError):
    """A failure worth another try: timeouts, dropped connections, 429, 5xx."""


class FeedError(SourceError):
    def __init__(self, message: str, *, url: str, source: str | None = None) -> None:
        self.url = url
        super().__init__(f"{shown_url(url)}: {message}", source=source)


class SeedError(SourceError):
    def __init__(self, message: str, *, path: Path | str, source: str | None = None) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {message}", source=source)


class ExtractError(SourceError):
    def __init__(self, message: str, *, url: str, source: str | None = None) -> None:
        self.url = url
        super().__init__(f"{shown_url(url)}: {message}", source=source)


class NotAnArticle(ExtractError):
    """A page that is something else: `reason` names what ("home page", "bot challenge").

    Not worth a retry or a warning, unlike a page whose article text was not found.
    """

    def __init__(self, reason: str, *, url: str, source: str | None = None) -> None:
        self.reason = reason
        super().__init__(f"not an article: {reason}", url=url, source=source)
