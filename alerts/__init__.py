"""Alerts: the rule query language, matching, and delivery to channels.

Plain Python, never importing `flows` or `prefect`::

    query = parse_query('"missile launcher" -drill')
    found = query.match(title=article.title, text=article.text)
    if found:
        await notifier_for("desk", channel).send(message)

Everything the rest of newswatch may use is re-exported here.
"""

from alerts.channels import Channel, EmailChannel, WebhookChannel
from alerts.errors import AlertsError, DeliveryError, QueryError
from alerts.ledger import AlertView, Fired, list_alerts, record_alerts
from alerts.match import Document, Match
from alerts.message import AlertMessage
from alerts.notifiers import (
    EmailNotifier,
    Notifier,
    WebhookNotifier,
    notifier_for,
    verify_signature,
)
from alerts.outbox import DeliveryReport, OutboxItem, deliver_due
from alerts.query import Query, parse_query
from alerts.rules import Rule
from alerts.ruleset import RuleSet

__all__ = [
    "AlertMessage",
    "AlertView",
    "AlertsError",
    "Channel",
    "DeliveryError",
    "DeliveryReport",
    "Document",
    "EmailChannel",
    "EmailNotifier",
    "Fired",
    "Match",
    "Notifier",
    "OutboxItem",
    "Query",
    "QueryError",
    "Rule",
    "RuleSet",
    "WebhookChannel",
    "WebhookNotifier",
    "deliver_due",
    "list_alerts",
    "notifier_for",
    "parse_query",
    "record_alerts",
    "verify_signature",
]
