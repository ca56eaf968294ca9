"""What a notifier delivers: one alert, flattened to plain values.

The dispatcher builds an `AlertMessage` from an article and its `Match`; the
notifiers only format and send it, so they never touch the store or the rules::

    AlertMessage(alert_id="a1", rule="dprk", query='"missile launcher"', ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class AlertMessage:
    """One article that matched one rule. `snippet[snippet_start:snippet_end]` is the hit."""

    alert_id: str
    rule: str
    query: str
    title: str
    url: str
    source: str
    published_at: datetime | None
    snippet: str
    snippet_start: int
    snippet_end: int
    terms: tuple[str, ...]
    matched_at: datetime

    def __post_init__(self) -> None:
        """A naive `matched_at` would be printed and signed as if it were UTC; refuse it."""
        if self.matched_at.utcoffset() != timedelta(0):
            raise ValueError(f"matched_at must be an aware UTC datetime, got {self.matched_at!r}")

    @property
    def snippet_parts(self) -> tuple[str, str, str]:
        """The snippet split as (before, hit, after), offsets clamped into range."""
        end = min(max(self.snippet_end, 0), len(self.snippet))
        start = min(max(self.snippet_start, 0), end)
        return self.snippet[:start], self.snippet[start:end], self.snippet[end:]
