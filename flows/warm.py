"""What every extraction worker would otherwise load for itself, loaded once.

The extraction forkserver imports this module (see `flows.pool`), so each worker
forked from it starts with jusText's stoplists merged (~150 ms, the first time a
page falls back to jusText), the public-suffix list parsed (~80 ms, the first
time a page's domain is looked up) and the MinHash permutations drawn, instead
of paying for them on one of its pages in every run. Imported anywhere else it
costs those ~0.25 s once, for nothing.
"""

from __future__ import annotations

from courlan import extract_domain
from trafilatura import external

import flows.extract  # noqa: F401  (what the workers run)
from storage.stories import prepare

external.jt_stoplist_init()
extract_domain("https://www.example.org/")
prepare("a text to fingerprint")
