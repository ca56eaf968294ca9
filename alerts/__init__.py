"""Alerts: the rule query language, matching, and delivery to channels.

Plain Python, never importing `flows` or `prefect`::

    query = parse_query('"missile launcher" -drill')
    found = query.match(title=article.title, text=article.text)
    if found:
        await notifier_for("desk", channel).send(message)

Everything the rest of newswatch may use is re-exported here.
"""

from alerts.backfill import backfill_rule
from alerts.bundles import DigestState, digest_states
from alerts.channels import AppriseChannel, Channel, EmailChannel, WebhookChannel
from alerts.errors import AlertsError, DeliveryError, QueryError
from alerts.firstcontact import DEFAULT_BACKFILL, rule_gates
from alerts.index import Document
from alerts.ledger import Fired, record_alerts
from alerts.match import Match
from alerts.message import AlertMessage, BundleMessage, Message, Outlet
from alerts.notifiers import (
    AppriseNotifier,
    EmailNotifier,
    Notifier,
    WebhookNotifier,
    http_tls,
    notifier_for,
    redact_url,
    verify_signature,
)
from alerts.outbox import DeliveryReport, OutboxItem, RetryPolicy, deliver_due
from alerts.query import Query, parse_query
from alerts.rules import Rule
from alerts.ruleset import RuleSet
from alerts.views import AlertView, Requeued, alert_outlets, list_alerts, requeue

__all__ = [
    "DEFAULT_BACKFILL",
    "AlertMessage",
    "AlertView",
    "AlertsError",
    "AppriseChannel",
    "AppriseNotifier",
    "BundleMessage",
    "Channel",
    "DeliveryError",
    "DeliveryReport",
    "DigestState",
    "Document",
    "EmailChannel",
    "EmailNotifier",
    "Fired",
    "Match",
    "Message",
    "Notifier",
    "OutboxItem",
    "Outlet",
    "Query",
    "QueryError",
    "Requeued",
    "RetryPolicy",
    "Rule",
    "RuleSet",
    "WebhookChannel",
    "WebhookNotifier",
    "alert_outlets",
    "backfill_rule",
    "deliver_due",
    "digest_states",
    "http_tls",
    "list_alerts",
    "notifier_for",
    "parse_query",
    "record_alerts",
    "redact_url",
    "requeue",
    "rule_gates",
    "verify_signature",
]
