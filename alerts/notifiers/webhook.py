"""Webhook alerts: one JSON POST per message, signed when the channel has a secret.

The body is serialised once and those exact bytes are both signed and sent, so
a receiver checks the signature against the raw request body::

    if not verify_signature(request.body, request.headers["X-Newswatch-Signature"], secret):
        return 401

`Idempotency-Key` carries the message's id (the alert id, or a summary's or
digest's own id), the same on every retry, so a receiver can drop a delivery it
has already processed. `kind` says which: "alert", "summary" or "digest".
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from alerts.channels import WebhookChannel
from alerts.errors import DeliveryError
from alerts.message import AlertMessage, Message
from alerts.notifiers.base import Notifier, redact_url
from alerts.notifiers.tls import http_tls

USER_AGENT = "newswatch/0.1"
SIGNATURE_HEADER = "X-Newswatch-Signature"


def payload(message: Message) -> dict[str, Any]:
    """The JSON document a receiver gets for `message`: an alert, a summary or a digest."""
    if isinstance(message, AlertMessage):
        return {"kind": "alert", **_alert(message)}
    return {
        "kind": message.kind,
        "id": message.bundle_id,
        "rule": message.rule,
        "schedule": message.schedule,
        "created_at": message.created_at.isoformat(),
        "alerts": [_alert(alert) for alert in message.alerts],
    }


def _alert(message: AlertMessage) -> dict[str, Any]:
    published = message.published_at.isoformat() if message.published_at else None
    return {
        "id": message.alert_id,
        "rule": message.rule,
        "query": message.query,
        "terms": list(message.terms),
        "article": {
            "url": message.url,
            "title": message.title,
            "published_at": published,
            "source": message.source,
            "snippet": message.snippet,
        },
        "outlets": [{"source": o.source, "url": o.url} for o in message.all_outlets],
        "matched_at": message.matched_at.isoformat(),
    }


def encode(message: Message) -> bytes:
    """The request body: compact UTF-8 JSON, exactly the bytes that get signed."""
    return json.dumps(payload(message), ensure_ascii=False, separators=(",", ":")).encode()


def sign(body: bytes, secret: str) -> str:
    """The signature header value: `sha256=` and the hex HMAC-SHA256 of `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str, secret: str) -> bool:
    """Whether `header` is the signature of the raw `body` under `secret` (constant time)."""
    return hmac.compare_digest(sign(body, secret).encode(), header.strip().encode())


class WebhookNotifier(Notifier):
    """POSTs each alert to `channel.url`; any 2xx answer counts as delivered.

    `transport` is a seam for unit tests (`httpx.MockTransport`); by default
    httpx talks to the network.
    """

    expected_failures = (httpx.HTTPError,)

    def __init__(
        self,
        *,
        name: str,
        channel: WebhookChannel,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(name=name)
        self.channel = channel
        self.transport = transport

    def describe(self) -> str:
        signed = " (signed)" if self.channel.secret is not None else ""
        return redact_url(self.channel.url) + signed

    def secrets(self) -> tuple[str, ...]:
        secret = self.channel.secret
        return (secret.get_secret_value(),) if secret is not None else ()

    def headers(self, body: bytes, *, key: str) -> dict[str, str]:
        """The channel's own headers, then ours: type, idempotency key, agent, signature."""
        headers = {
            **self.channel.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "User-Agent": USER_AGENT,
        }
        if self.channel.secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self.channel.secret.get_secret_value())
        return headers

    async def _deliver(self, message: Message) -> None:
        body = encode(message)
        headers = self.headers(body, key=message.key)
        async with httpx.AsyncClient(
            timeout=self.channel.timeout,
            transport=self.transport,
            follow_redirects=False,
            verify=http_tls(),
        ) as client:
            response = await client.post(self.channel.url, content=body, headers=headers)
        if not response.is_success:
            raise DeliveryError(
                f"POST {redact_url(self.channel.url)} answered "
                f"{response.status_code} {response.reason_phrase}",
                channel=self.name,
            )

    def _explain(self, error: BaseException) -> str:
        reason = "timed out" if isinstance(error, httpx.TimeoutException) else str(error)
        what = type(error).__name__
        return f"POST {redact_url(self.channel.url)} failed, no status: {what} {reason}".rstrip()
