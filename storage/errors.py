"""Errors of the store.

    StorageError
    └── StoreUnavailable(message, url=)   the database cannot be reached or set up

The URL in messages has its password masked.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url


def masked_url(url: str) -> str:
    """`url` with any password replaced by ****, safe to print."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is printed as it was given, it holds no parsed secret
        return url


class StorageError(Exception):
    """Base of the store's errors."""


class StoreUnavailable(StorageError):
    def __init__(self, message: str, *, url: str) -> None:
        self.url = masked_url(url)
        super().__init__(f"store {self.url}: {message}")
