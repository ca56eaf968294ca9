"""Notifiers, one per kind of channel, behind the `Notifier` seam in `base`::

    notifier = notifier_for("desk", channel, templates=Path("templates"))

Adding a kind of channel means a config model in `alerts.channels`, a
`Notifier` subclass here, and one branch in `notifier_for`.
"""

from __future__ import annotations

from pathlib import Path

from alerts.channels import AppriseChannel, Channel, EmailChannel, WebhookChannel
from alerts.notifiers.apprise import AppriseNotifier
from alerts.notifiers.base import Notifier, redact_url
from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.tls import http_tls
from alerts.notifiers.webhook import WebhookNotifier, verify_signature

__all__ = [
    "AppriseNotifier",
    "EmailNotifier",
    "Notifier",
    "WebhookNotifier",
    "http_tls",
    "notifier_for",
    "redact_url",
    "verify_signature",
]


def notifier_for(name: str, channel: Channel, *, templates: Path | None = None) -> Notifier:
    """The notifier that delivers to `channel`, named `name` in errors and logs.

    `templates` is the user's template directory, overriding the bundled ones
    for email and apprise text.
    """
    if isinstance(channel, EmailChannel):
        return EmailNotifier(name=name, channel=channel, templates=templates)
    if isinstance(channel, WebhookChannel):
        return WebhookNotifier(name=name, channel=channel)
    if isinstance(channel, AppriseChannel):
        return AppriseNotifier(name=name, channel=channel, templates=templates)
    raise TypeError(f"no notifier for channel {name!r} of type {type(channel).__name__}")
