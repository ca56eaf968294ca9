"""The benchmarks' baseline: trafilatura alone, with the settings newswatch extracts with.

Worker processes import this module to run it, so it imports no more than
they have already (`flows.warm`): a heavier module would cost each new worker
its imports inside the timings.
"""

from __future__ import annotations

from typing import Any

import trafilatura

from flows.extract import DATE_PARAMS
from storage.schemas import ArticleIn


def trafilatura_text(body: bytes, url: str) -> str:
    """The baseline: trafilatura alone, as `flows.extract._extract` calls it."""
    document = trafilatura.bare_extraction(
        body,
        url=url,
        with_metadata=True,
        include_comments=False,
        date_extraction_params=DATE_PARAMS,
    )
    return (document.text or "") if document else ""


def trafilatura_article(body: bytes | str, *, url: str, source: str, **_: Any) -> ArticleIn:
    """`trafilatura_text` as an `ExtractionPool` extractor: nothing checked, nothing filled."""
    text = trafilatura_text(body if isinstance(body, bytes) else body.encode(), url)
    return ArticleIn(url=url, source=source, title=url, text=text or "-", origin="page")
