"""Errors of the alerts package, each carrying the input it is about.

    AlertsError
    ├── QueryError(message, query=, position=)   a rule query that cannot be parsed
    └── DeliveryError(message, channel=)         a notifier could not deliver one alert

`str(error)` is one line for the CLI and the outbox log: a query error names the
0-based character position (`unclosed quote at position 9`), a delivery error
names the channel and the target. Neither ever contains a secret.
"""

from __future__ import annotations


class AlertsError(Exception):
    """Base of every error the alerts package reports to users as one line."""


class QueryError(AlertsError):
    """A rule query was rejected; rules are never silently dropped.

    `message` says what is wrong, `position` where (0-based index into `query`).
    """

    def __init__(self, message: str, *, query: str, position: int) -> None:
        self.message = message
        self.query = query
        self.position = position
        super().__init__(f"{message} at position {position}")


class DeliveryError(AlertsError):
    """One attempt to deliver an alert failed; the dispatcher decides whether to retry.

    `reason` is the notifier's one-line explanation, already free of secrets.
    """

    def __init__(self, message: str, *, channel: str) -> None:
        self.reason = message
        self.channel = channel
        super().__init__(f"channel {channel}: {message}")
