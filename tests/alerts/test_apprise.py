"""Apprise channels against a real HTTP receiver on 127.0.0.1 (apprise's `json://` and
`ntfy://` services), with every secret of the URL kept out of errors and logs."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from pydantic import TypeAdapter, ValidationError

from alerts import AppriseChannel, Channel, DeliveryError, Outlet, notifier_for
from tests.alerts.messages import make_message
from tests.servers import LoopbackHTTPServer, Response, free_port

PASSWORD = "pa55-apprise-7Qx"
OUTLETS = (
    Outlet("Example News", "https://news.example.org/kim?id=7"),
    Outlet("Wire Daily", "https://wire.example.net/kim"),
)


def channel(url: str) -> Channel:
    return TypeAdapter(Channel).validate_python({"type": "apprise", "url": url})


def port_of(server: LoopbackHTTPServer) -> str:
    return server.base_url.rsplit(":", 1)[1]


def test_json_service_gets_the_subject_and_the_text_body_with_outlets(
    http_server: LoopbackHTTPServer,
) -> None:
    http_server.route("/notify", "ok")
    notifier = notifier_for("team", channel(f"json://127.0.0.1:{port_of(http_server)}/notify"))

    asyncio.run(notifier.send(make_message(outlets=OUTLETS)))

    (request,) = http_server.requests_to("/notify", "POST")
    body = json.loads(request.body)
    assert body["title"] == "[newswatch] dprk: Kim calls for more launchers"
    assert "expanded missile launcher production" in body["message"]
    assert "Wire Daily: https://wire.example.net/kim" in body["message"]


def test_ntfy_service_posts_the_topic_and_message(http_server: LoopbackHTTPServer) -> None:
    http_server.route("/", "{}", content_type="application/json")
    notifier = notifier_for("phone", channel(f"ntfy://127.0.0.1:{port_of(http_server)}/newsdesk"))

    asyncio.run(notifier.send(make_message()))

    (request,) = http_server.requests_to("/", "POST")
    body = json.loads(request.body)
    assert body["topic"] == "newsdesk"
    assert body["title"].startswith("[newswatch] dprk:")


def test_a_failure_names_the_target_with_its_password_masked_everywhere(
    http_server: LoopbackHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    http_server.sequence("/notify", [Response(500, f"bad auth for {PASSWORD}".encode())])
    url = f"json://bot:{PASSWORD}@127.0.0.1:{port_of(http_server)}/notify"
    notifier = notifier_for("team", channel(url))
    caplog.set_level(logging.DEBUG)

    with pytest.raises(DeliveryError) as caught:
        asyncio.run(notifier.send(make_message()))

    message = str(caught.value)
    assert message.startswith(f"channel team: json://bot:****@127.0.0.1:{port_of(http_server)}")
    assert "500" in message and PASSWORD not in message
    assert notifier.describe() == f"json://bot:****@127.0.0.1:{port_of(http_server)}/notify"
    assert PASSWORD not in caplog.text
    assert http_server.requests_to("/notify", "POST")  # it did try


def test_an_unreachable_service_is_a_delivery_error() -> None:
    notifier = notifier_for("team", channel(f"json://127.0.0.1:{free_port()}/notify"))
    with pytest.raises(DeliveryError, match=r"channel team: json://127\.0\.0\.1:"):
        asyncio.run(notifier.send(make_message()))


SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general"


@pytest.mark.parametrize(
    ("url", "hidden"),
    [
        (SLACK, ["A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7FQ"]),
        ("tgram://123456789:abcdefg_hijklmnop/12315544/", ["abcdefg_hijklmnop"]),
        (f"ntfys://me:{PASSWORD}@ntfy.example.org/topic", [PASSWORD]),
        ("json://127.0.0.1/hook?+X-Token=zz-header-secret", ["zz-header-secret"]),
    ],
)
def test_targets_print_with_their_secrets_masked(url: str, hidden: list[str]) -> None:
    notifier = notifier_for("team", channel(url))
    shown = notifier.describe()
    assert shown.split("://")[0] == url.split("://")[0]
    for secret in hidden:
        assert secret not in shown
        assert secret in notifier.secrets() or any(secret in s for s in notifier.secrets())
    config = channel(url)
    assert isinstance(config, AppriseChannel)
    assert all(secret not in repr(config) for secret in hidden)
    assert all(secret not in config.model_dump_json() for secret in hidden)


@pytest.mark.parametrize("url", ["nonsense://whatever", f"slack://{PASSWORD}", "not a url at all"])
def test_a_url_apprise_does_not_know_is_rejected_without_echoing_it(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AppriseChannel.model_validate({"type": "apprise", "url": url})
    assert "apprise does not recognise" in str(caught.value)
    assert PASSWORD not in str(caught.value)
