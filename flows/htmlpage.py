"""An HTML page where a feed or a sitemap was configured, and what the site offers instead.

Both parsers refuse such a page in one line that names what the user most
likely meant to configure, when the site says (a page's feed links, the
sitemaps its robots.txt lists)::

    if is_html_page(body):
        raise FeedError(html_page_reason("feed", named=feeds, by="it"), url=url)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

NAMED = 3  # locations quoted in the reason; a count says how many more
# The start of an HTML document, past any comments: no feed or sitemap begins so.
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)


def is_html_page(body: bytes) -> bool:
    """Whether `body` begins as an HTML document does."""
    return _HTML_START.match(body[:4096]) is not None


def html_page_reason(expected: str, *, named: Sequence[str] = (), by: str = "it") -> str:
    """Why an HTML page is not the `expected` document, with up to `NAMED` of the
    locations `by` names.

    >>> html_page_reason("feed", named=["https://a.test/rss"])
    'an HTML page, not a feed; it names https://a.test/rss'
    """
    reason = f"an HTML page, not a {expected}"
    if not named:
        return reason
    more = f" and {len(named) - NAMED} more" if len(named) > NAMED else ""
    return f"{reason}; {by} names {', '.join(named[:NAMED])}{more}"
