"""Same story: near-duplicate articles (one wire story, many outlets) told apart by text.

    fp = fingerprint(text, options=options)       # MinHash signature and LSH band keys
    prepared = prepare(text, options=options)     # the text hash too, in a worker

Level 3 of dedup, after the canonical URL and the text hash. Each article gets a
MinHash signature of its word shingles and a few LSH band keys, pure functions
of its text equal in every process; `storage.story_index` persists them and
finds which story a new article joins.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, cast

import numpy as np

from storage.fingerprints import hash_normalised, normalise_text

if TYPE_CHECKING:
    from datasketch import MinHash

# Fixed so that signatures from every process and run are comparable; changing it
# (or num_perm, bands, shingle) invalidates the stored index.
MINHASH_SEED = 1
_MAX_BANDS = 128  # the band index sits in the top byte of a non-negative BIGINT


@dataclass(frozen=True)
class StoryOptions:
    """How near two texts must be to count as the same story.

    Tuned on the syndication set of tests/storage/test_stories.py (real corpus
    bodies of 100 words or more, each copied under another outlet's
    boilerplate, with 2% and 10% word edits, under a new headline line; and
    unrelated pairs sharing a 100-word footer); figures in that test's output.

    - `shingle=2` words: a word edit breaks 2 shingles instead of 3, so a
      10%-edited copy keeps Jaccard ~0.72 (not ~0.61 with 3); unrelated texts
      still stay under 0.11 and footer-sharing pairs under 0.4.
    - `threshold=0.5`: halfway between those two groups, so that the
      estimation noise of 48 values (±0.07) errs on neither side.
    - `num_perm=48`, `bands=16` (3 rows each): a pair at Jaccard 0.7 becomes a
      candidate with probability 0.998, at 0.5 with 0.88, at 0.1 with 0.016.
      With 4 rows (64 values) 10%-edited copies were found 2% less often.
      Band rows dominate the index size (~100 bytes each with their index
      entries), so their number, not num_perm, is what to keep small.
    - `window=7 days`: syndicated copies appear within hours; older articles
      stop being candidates, so the lookup cost does not grow with history.
    - `candidates=32`: the articles with the most band hits are compared
      first; a text near more than 32 recent articles joins one of them anyway.
    """

    threshold: float = 0.5
    window: timedelta = timedelta(days=7)
    num_perm: int = 48
    bands: int = 16
    shingle: int = 2
    candidates: int = 32

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], not {self.threshold}")
        if not 1 <= self.bands <= min(self.num_perm, _MAX_BANDS):
            raise ValueError(f"bands must be 1..min(num_perm, {_MAX_BANDS}), not {self.bands}")
        if self.shingle < 1 or self.candidates < 1:
            raise ValueError("shingle and candidates must be at least 1")

    @property
    def rows(self) -> int:
        """Hash values per band."""
        return self.num_perm // self.bands


DEFAULT_OPTIONS = StoryOptions()


@dataclass(frozen=True)
class Fingerprint:
    """A text's MinHash values (uint32 little-endian) and its LSH band keys."""

    signature: bytes
    bands: tuple[int, ...]


def fingerprint(
    text: str, *, options: StoryOptions = DEFAULT_OPTIONS, normalised: str | None = None
) -> Fingerprint:
    """The fingerprint of `text`; pure, and equal for equal texts in every process.

    Texts shorter than one shingle are fingerprinted as a single shingle, so
    that even a one-word text is comparable (with equal texts only, in practice).
    `normalised` is `normalise_text(text)` when the caller has it already.
    """
    minhash = _minhash()(options.num_perm, seed=MINHASH_SEED, permutations=_perms(options.num_perm))
    normalised = normalise_text(text) if normalised is None else normalised
    minhash.update_batch(_shingles(normalised, size=options.shingle))
    values = minhash.hashvalues.astype("<u4")
    return Fingerprint(signature=values.tobytes(), bands=_band_keys(values, options=options))


@dataclass(frozen=True)
class Prepared:
    """What storing a text needs that depends on the text alone, computed ahead.

    An extraction worker computes it while its CPU is free, so the one process
    that writes to the store does not; `fits` checks it still belongs to the
    text and options at hand (an article copied with a new text would not).
    """

    text_hash: str
    fingerprint: Fingerprint
    options: StoryOptions
    checksum: int

    def fits(self, text: str, options: StoryOptions | None = None) -> bool:
        """Whether this was computed from `text` (and with `options`, when given)."""
        return (options is None or self.options == options) and self.checksum == _checksum(text)


def prepare(text: str, *, options: StoryOptions = DEFAULT_OPTIONS) -> Prepared:
    """`text`'s hash and story fingerprint, normalising it once for both."""
    normalised = normalise_text(text)
    return Prepared(
        text_hash=hash_normalised(normalised),
        fingerprint=fingerprint(text, options=options, normalised=normalised),
        options=options,
        checksum=_checksum(text),
    )


def _checksum(text: str) -> int:
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


@cache
def _minhash() -> type[MinHash]:
    """datasketch's MinHash, imported on first use: the datasketch package imports scipy
    and redis for its LSH indexes (~0.3 s), which every CLI command paid before doing
    anything, fingerprinting or not."""
    from datasketch import MinHash

    return cast("type[MinHash]", MinHash)  # datasketch publishes no types


@cache
def _perms(num_perm: int) -> np.ndarray:
    """The seeded permutations, drawn once per process instead of once per text."""
    return cast(np.ndarray, _minhash()(num_perm, seed=MINHASH_SEED).permutations)


def _shingles(normalised: str, *, size: int) -> set[bytes]:
    words = normalised.split()
    if len(words) <= size:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


def _band_keys(values: np.ndarray, *, options: StoryOptions) -> tuple[int, ...]:
    """One BIGINT per band: the band index in the top byte, a hash of its slice below."""
    rows = options.rows
    keys = []
    for band in range(options.bands):
        digest = hashlib.blake2b(values[band * rows : (band + 1) * rows].tobytes(), digest_size=7)
        keys.append(band << 56 | int.from_bytes(digest.digest(), "little"))
    return tuple(keys)


def estimate_jaccard(left: bytes, right: bytes) -> float:
    """The fraction of equal MinHash values: an unbiased estimate of the Jaccard similarity."""
    ours, theirs = np.frombuffer(left, "<u4"), np.frombuffer(right, "<u4")
    if len(ours) != len(theirs) or len(ours) == 0:
        return 0.0
    return float(np.count_nonzero(ours == theirs)) / len(ours)
