"""Errors of the store.

    StorageError
    └── StoreUnavailable(message, url=)   the database cannot be reached or set up

The URL in messages has its password masked.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.engine import make_url

MASK = "****"  # what a secret shows as


def masked_url(url: str) -> str:
    """A database `url` with any password masked (SQLAlchemy's ***), safe to print; it
    is rendered again, so other URLs keep their text better through `shown_url`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is printed as it was given, it holds no parsed secret
        return url


def shown_url(url: str) -> str:
    """`url` with the password of its userinfo replaced by ****, to print or store
    (`https://user:secret@host/feed` is how a feed behind basic auth is configured)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # a malformed URL shows what was given: it holds no parsed secret
        return url
    if password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]  # the password is all after the first colon
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def first_line(error: BaseException, *, default: str) -> str:
    """The first line of what the database said: the driver's own error when SQLAlchemy
    wrapped one (`error.orig`), `default` when it said nothing."""
    said = str(getattr(error, "orig", None) or error).strip().splitlines()
    return said[0] if said else default


class StorageError(Exception):
    """Base of the store's errors."""


class StoreUnavailable(StorageError):
    def __init__(self, message: str, *, url: str) -> None:
        self.url = masked_url(url)
        super().__init__(f"store {self.url}: {message}")
