"""Identity of an article: its canonical URL and the hash of its normalised text.

canonical_url("HTTPS://Example.com/a?utm_source=x#top") == "https://example.com/a"
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import urlsplit, urlunsplit

from courlan import normalize_url

_NOT_WORD = re.compile(r"[\W_]+")


def canonical_url(url: str) -> str:
    """The URL two fetches of the same article share.

    courlan lowercases scheme and host, sorts the query and drops tracking
    parameters; its strict mode would drop every unknown parameter too, which
    merges distinct articles (`story.php?sid=1` and `?sid=2`), so it stays off.
    Fragments never select a different article and are dropped. A URL no parser
    accepts (`http://[::1`) is its own canonical form, less its fragment. The
    result is its own canonical form: a malformed URL courlan refuses may become
    one it accepts once its fragment is gone, so the step is repeated until stable.
    """
    canonical = _canonical_step(url)
    for _ in range(3):
        again = _canonical_step(canonical)
        if again == canonical:
            break
        canonical = again
    return canonical


def _canonical_step(url: str) -> str:
    try:
        normalised = normalize_url(url.strip())
    except (ValueError, AttributeError):
        normalised = url.strip()
    try:
        scheme, netloc, path, query, _fragment = urlsplit(normalised)
    except ValueError:
        return normalised.partition("#")[0].strip()
    return urlunsplit((scheme, netloc, path or "/", query, ""))


def normalise_text(text: str) -> str:
    """Text folded so that case, whitespace and punctuation differences vanish."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def text_hash(text: str) -> str:
    """SHA-256 of the normalised text: equal for the same article re-published verbatim."""
    return hash_normalised(normalise_text(text))


def hash_normalised(normalised: str) -> str:
    """`text_hash` of a text whose `normalise_text` is `normalised`."""
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def alert_id(*, rule: str, canonical: str) -> str:
    """A stable id for the (rule, article) pair: the same in every run, process and store."""
    return hashlib.sha256(f"{rule}\x1f{canonical}".encode()).hexdigest()[:32]
