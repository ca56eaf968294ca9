"""A ready-made alert for notifier tests; each test changes only what it is about."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from alerts import AlertMessage

SNIPPET = "…calls for expanded missile launcher production…"


def make_message(**changes: Any) -> AlertMessage:
    message = AlertMessage(
        alert_id="alert-0001",
        rule="dprk",
        query='"missile launcher"',
        title="Kim calls for more launchers",
        url="https://news.example.org/kim?id=7",
        source="Example News",
        published_at=datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
        snippet=SNIPPET,
        snippet_start=SNIPPET.index("missile"),
        snippet_end=SNIPPET.index(" production"),
        terms=("missile launcher",),
        matched_at=datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
    )
    return dataclasses.replace(message, **changes)
