"""What every extraction worker would otherwise load for itself, loaded once.

The extraction forkserver imports this module (see `flows.pool`), so each worker
forked from it starts with jusText's stoplists merged (~150 ms, the first time a
page falls back to jusText), the public-suffix list parsed (~80 ms, the first
time a page's domain is looked up), the MinHash permutations drawn, the `alerts`
package imported (~1.4 s: unpickling the run's rules needs it) and the rules'
word patterns compiled (~0.3 s), instead of paying for them in every run.
Imported anywhere else it costs those ~2 s once, for nothing.
"""

from __future__ import annotations

import warnings

from courlan import extract_domain
from trafilatura import external

import alerts  # noqa: F401  (the rules a worker receives are `alerts` objects)
import flows.extract  # noqa: F401  (what the workers run)
from alerts.words import split_words
from storage.stories import prepare

external.jt_stoplist_init()
extract_domain("https://www.example.org/")
prepare("a text to fingerprint")
split_words("words, and ideographs: 漢字")  # both word patterns: with and without ideographs
split_words("words only")

# A main module run by name, which the forkserver has imported (see `flows.pool`), is
# run again in each worker over that import; runpy's warning about it would reach the
# run's stderr once per worker, for a module whose body is all the workers repeat.
warnings.filterwarnings(
    "ignore", message=r".* found in sys\.modules after import of package", category=RuntimeWarning
)
