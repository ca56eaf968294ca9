"""Webhook alerts against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from alerts import (
    AlertMessage,
    Channel,
    DeliveryError,
    WebhookChannel,
    WebhookNotifier,
    notifier_for,
    verify_signature,
)
from alerts.notifiers.webhook import sign
from tests.alerts import messages
from tests.alerts.messages import SNIPPET
from tests.servers import LoopbackHTTPServer, Response, free_port

SECRET = "whsec-7d1f0c"
TITLE = "Kim calls for more launchers — Pjöngjang"


def make_message(**changes: Any) -> AlertMessage:
    return messages.make_message(**{"title": TITLE, **changes})


def notifier(url: str, **changes: Any) -> WebhookNotifier:
    channel = WebhookChannel.model_validate({"type": "webhook", "url": url, **changes})
    return WebhookNotifier(name="hook", channel=channel)


def test_post_body_has_the_documented_shape(http_server: LoopbackHTTPServer) -> None:
    url = http_server.route("/hook", "ok")
    asyncio.run(notifier(url).send(make_message()))
    [request] = http_server.requests_to("/hook", "POST")
    assert json.loads(request.body) == {
        "kind": "alert",
        "id": "alert-0001",
        "rule": "dprk",
        "query": '"missile launcher"',
        "terms": ["missile launcher"],
        "article": {
            "url": "https://news.example.org/kim?id=7",
            "title": TITLE,
            "published_at": "2024-05-01T08:30:00+00:00",
            "source": "Example News",
            "snippet": SNIPPET,
        },
        "outlets": [{"source": "Example News", "url": "https://news.example.org/kim?id=7"}],
        "matched_at": "2024-05-01T09:00:00+00:00",
    }


def test_https_receiver_with_an_untrusted_certificate_gets_nothing(
    https_server: LoopbackHTTPServer,
) -> None:
    url = https_server.route("/hook", "ok")
    with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(notifier(url).send(make_message()))
    assert https_server.requests == []


def test_https_receiver_whose_ca_is_trusted_gets_each_alert(
    https_server: LoopbackHTTPServer, trusted_ca: Path
) -> None:
    url = https_server.route("/hook", "ok")
    hook = notifier(url)
    asyncio.run(hook.send(make_message()))
    asyncio.run(hook.send(make_message(alert_id="alert-0002")))
    keys = [r.headers["idempotency-key"] for r in https_server.requests_to("/hook", "POST")]
    assert keys == ["alert-0001", "alert-0002"]


def test_unknown_publication_date_is_sent_as_null(http_server: LoopbackHTTPServer) -> None:
    url = http_server.route("/hook", "ok")
    asyncio.run(notifier(url).send(make_message(published_at=None)))
    [request] = http_server.requests_to("/hook")
    assert json.loads(request.body)["article"]["published_at"] is None


def test_headers_carry_type_idempotency_key_agent_and_channel_headers(
    http_server: LoopbackHTTPServer,
) -> None:
    url = http_server.route("/hook", "ok")
    asyncio.run(notifier(url, headers={"X-Team": "desk"}).send(make_message()))
    [request] = http_server.requests_to("/hook")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "alert-0001"
    assert request.headers["user-agent"] == "newswatch/0.1"
    assert request.headers["x-team"] == "desk"
    assert "x-newswatch-signature" not in request.headers


def test_signature_of_the_raw_body_verifies_on_the_receiver(
    http_server: LoopbackHTTPServer,
) -> None:
    url = http_server.route("/hook", "ok")
    asyncio.run(notifier(url, secret=SECRET).send(make_message()))
    [request] = http_server.requests_to("/hook")
    header = request.headers["x-newswatch-signature"]
    assert header.startswith("sha256=") and len(header) == len("sha256=") + 64
    assert verify_signature(request.body, header, SECRET)
    assert not verify_signature(request.body, header, "another-secret")


@pytest.mark.parametrize(
    ("body", "header", "valid"),
    [
        (b'{"id":"a"}', sign(b'{"id":"a"}', SECRET), True),
        (b'{"id":"a"}', " " + sign(b'{"id":"a"}', SECRET) + " ", True),
        (b'{"id":"b"}', sign(b'{"id":"a"}', SECRET), False),
        (b'{"id":"a"}', sign(b'{"id":"a"}', SECRET).removeprefix("sha256="), False),
        (b'{"id":"a"}', sign(b'{"id":"a"}', SECRET).upper(), False),
        (b'{"id":"a"}', "sha256=é", False),
        (b'{"id":"a"}', "", False),
    ],
)
def test_verify_signature_accepts_only_the_exact_hmac(
    body: bytes, header: str, valid: bool
) -> None:
    assert verify_signature(body, header, SECRET) is valid


def test_receiver_error_status_raises_delivery_error_with_the_status(
    http_server: LoopbackHTTPServer,
) -> None:
    url = http_server.route("/hook", "boom", status=500)
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(notifier(url, secret=SECRET).send(make_message()))
    assert str(caught.value) == f"channel hook: POST {url} answered 500 Internal Server Error"
    assert SECRET not in str(caught.value)


def test_each_send_is_one_attempt_so_the_dispatcher_owns_retries(
    http_server: LoopbackHTTPServer,
) -> None:
    url = http_server.sequence("/hook", [Response(503), Response(200)])
    hook = notifier(url)
    with pytest.raises(DeliveryError, match="503"):
        asyncio.run(hook.send(make_message()))
    asyncio.run(hook.send(make_message()))
    keys = [request.headers["idempotency-key"] for request in http_server.requests_to("/hook")]
    assert keys == ["alert-0001", "alert-0001"]


def test_redirect_is_not_followed_and_counts_as_failure(http_server: LoopbackHTTPServer) -> None:
    http_server.route("/moved", "", status=200)
    url = http_server.route("/hook", "", status=302, headers={"Location": "/moved"})
    with pytest.raises(DeliveryError, match="answered 302"):
        asyncio.run(notifier(url).send(make_message()))
    assert http_server.requests_to("/moved") == []


def test_refused_connection_raises_delivery_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook?token=abc123"
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(notifier(url).send(make_message()))
    message = str(caught.value)
    assert message.startswith("channel hook: POST http://127.0.0.1:")
    assert "/hook?token=****" in message and "ConnectError" in message
    assert "abc123" not in message


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A socket that accepts connections into its backlog and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_receiver_that_never_answers_times_out_as_delivery_error(silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}/hook"
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(notifier(url, timeout=0.2).send(make_message()))
    assert str(caught.value) == f"channel hook: POST {url} failed, no status: ReadTimeout timed out"


@pytest.mark.parametrize(
    ("url", "changes", "described"),
    [
        ("https://hooks.example.org/x", {}, "https://hooks.example.org/x"),
        ("https://hooks.example.org/x", {"secret": SECRET}, "https://hooks.example.org/x (signed)"),
        (
            "https://bot:pw@hooks.example.org/x?token=abc&team=desk",
            {},
            "https://bot:****@hooks.example.org/x?token=****&team=****",
        ),
    ],
)
def test_describe_masks_secrets_in_the_target(
    url: str, changes: dict[str, Any], described: str
) -> None:
    channel = WebhookChannel.model_validate({"type": "webhook", "url": url, **changes})
    assert notifier_for("hook", channel).describe() == described


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"url": "ftp://hooks.example.org/x"}, "not an http:// or https:// URL"),
        ({"url": "hooks.example.org/x"}, "not an http:// or https:// URL"),
        ({"headers": {"Idempotency-Key": "x"}}, "cannot be overridden"),
        ({"headers": {"X-A": "b\r\nX-Evil: 1"}}, "line break or control character"),
        ({"timeout": 0}, "greater than 0"),
        ({"signing_secret": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_webhook_channel_config_rejects_bad_values_and_unknown_keys(
    config: dict[str, Any], error: str
) -> None:
    base = {"type": "webhook", "url": "https://hooks.example.org/x"}
    with pytest.raises(ValidationError, match=error):
        TypeAdapter(Channel).validate_python({**base, **config})


def test_webhook_secret_is_hidden_when_the_channel_is_printed() -> None:
    channel = TypeAdapter(Channel).validate_python(
        {"type": "webhook", "url": "https://hooks.example.org/x", "secret": SECRET}
    )
    assert isinstance(channel, WebhookChannel)
    assert SECRET not in repr(channel) and SECRET not in str(channel.model_dump())
