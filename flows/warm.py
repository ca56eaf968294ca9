"""What every extraction worker would otherwise load for itself, loaded once.

The extraction forkserver imports this module (see `flows.pool`), so each worker
forked from it starts with jusText's stoplists merged (~150 ms, the first time a
page falls back to jusText), the public-suffix list parsed (~80 ms, the first
time a page's domain is looked up), the MinHash permutations drawn, the `alerts`
package imported (~1.4 s: unpickling the run's rules needs it), the rules'
word patterns compiled (~0.3 s) and one article of our own extracted (~0.09 s:
the patterns and tables trafilatura, htmldate and charset_normalizer build on
first use; without it each worker's first pages cost 0.15–0.2 CPU-s more a run
on 2 workers than its later ones, measured), instead of paying for them in
every run. Imported anywhere else it costs those ~2 s once, for nothing.
"""

from __future__ import annotations

import warnings

from courlan import extract_domain
from trafilatura import external

import alerts  # noqa: F401  (the rules a worker receives are `alerts` objects)
from alerts.words import split_words
from flows.errors import NewswatchError
from flows.extract import extract_article
from storage.schemas import ArticleIn
from storage.stories import prepare

external.jt_stoplist_init()
extract_domain("https://www.example.org/")
prepare("a text to fingerprint")
split_words("words, and ideographs: 漢字")  # both word patterns: with and without ideographs
split_words("words only")

# An article page of our own, extracted once here so that no worker's first page pays for
# what extraction builds on first use.
_SAMPLE = """<!doctype html><html lang="en"><head><title>Harbour reopens after the storm</title>
<meta name="author" content="A. Writer"><meta property="article:published_time"
content="2025-03-02T10:00:00Z"></head><body><nav>Home | World</nav><article>
<h1>Harbour reopens after the storm</h1><p>The harbour reopened on Sunday after the storm
passed, port officials said, and the first ferries left in the afternoon.</p><p>Cranes
were inspected overnight and two of them stay closed until repairs are done.</p>
</article><footer>Copyright 2025</footer></body></html>"""
try:
    WARM_ARTICLE: ArticleIn | None = extract_article(
        _SAMPLE.encode(), url="https://example.org/2025/03/harbour", source="warm"
    )
except NewswatchError:  # a warm-up: the forkserver must start whatever extraction decides
    WARM_ARTICLE = None

# A main module run by name, which the forkserver has imported (see `flows.pool`), is
# run again in each worker over that import; runpy's warning about it would reach the
# run's stderr once per worker, for a module whose body is all the workers repeat.
warnings.filterwarnings(
    "ignore", message=r".* found in sys\.modules after import of package", category=RuntimeWarning
)
