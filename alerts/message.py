"""What a notifier delivers, flattened to plain values: one alert, or a bundle of them.

The outbox builds messages from the ledger at send time, so an alert lists
every outlet known then; the notifiers only format and send, never touching
the store or the rules::

    AlertMessage(alert_id="a1", rule="dprk", query='"missile launcher"', ...)
    BundleMessage(bundle_id="b7", kind="digest", rule="dprk", alerts=(...), ...)

`key` is the same on every retry of a message: the webhook's Idempotency-Key
and the email's Message-ID come from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal


def _require_utc(moment: datetime, *, name: str) -> None:
    """A naive time would be printed and signed as if it were UTC; refuse it."""
    if moment.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be an aware UTC datetime, got {moment!r}")


@dataclass(frozen=True)
class Outlet:
    """One outlet that ran the alerted story: its source's name and its article's URL."""

    source: str
    url: str


@dataclass(frozen=True)
class AlertMessage:
    """One story that matched one rule. `snippet[snippet_start:snippet_end]` is the hit.

    `title`, `url` and `source` are the first article's; `outlets` lists every
    copy known at send time, the first included (empty when built by hand).
    """

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
    outlets: tuple[Outlet, ...] = ()

    def __post_init__(self) -> None:
        _require_utc(self.matched_at, name="matched_at")

    @property
    def key(self) -> str:
        return self.alert_id

    @property
    def snippet_parts(self) -> tuple[str, str, str]:
        """The snippet split as (before, hit, after), offsets clamped into range."""
        end = min(max(self.snippet_end, 0), len(self.snippet))
        start = min(max(self.snippet_start, 0), end)
        return self.snippet[:start], self.snippet[start:end], self.snippet[end:]

    @property
    def all_outlets(self) -> tuple[Outlet, ...]:
        """`outlets`, or the first article alone when none were given."""
        return self.outlets or (Outlet(self.source, self.url),)


BundleKind = Literal["summary", "digest"]


@dataclass(frozen=True)
class BundleMessage:
    """Many alerts of one rule in one message.

    A `summary` replaces a storm (the rule fired more than its `storm_limit`
    in one run); a `digest` collects a digest rule's alerts of one period.
    """

    bundle_id: str
    kind: BundleKind
    rule: str
    alerts: tuple[AlertMessage, ...]
    created_at: datetime
    schedule: str | None = None  # a digest's "hourly" or "daily"

    def __post_init__(self) -> None:
        _require_utc(self.created_at, name="created_at")

    @property
    def key(self) -> str:
        return self.bundle_id

    @property
    def headline(self) -> str:
        """`25 alerts in one run (storm summary)` or `3 alerts (daily digest)`."""
        count = len(self.alerts)
        noun = "alert" if count == 1 else "alerts"
        if self.kind == "summary":
            return f"{count} {noun} in one run (storm summary)"
        return f"{count} {noun} ({self.schedule or 'scheduled'} digest)"


Message = AlertMessage | BundleMessage
