"""Email alerts against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import TypeAdapter, ValidationError

from alerts import AlertMessage, Channel, DeliveryError, EmailChannel, EmailNotifier, notifier_for
from alerts.notifiers.email import SUBJECT_LIMIT
from tests.alerts.messages import make_message
from tests.servers import LoopbackSMTPServer, free_port

PASSWORD = "s3cret-pa55"


def channel_for(host: str, port: int, **changes: Any) -> EmailChannel:
    config = {"type": "email", "to": ["desk@example.org"], "from": "newswatch@example.org"}
    return EmailChannel.model_validate({**config, "smtp_host": host, "smtp_port": port, **changes})


def deliver(server: LoopbackSMTPServer, message: AlertMessage, **changes: Any) -> EmailMessage:
    notifier = EmailNotifier(name="desk", channel=channel_for(server.host, server.port, **changes))
    asyncio.run(notifier.send(message))
    return server.messages[-1]


def body(mail: EmailMessage, subtype: str) -> str:
    part = mail.get_body(preferencelist=(subtype,))
    assert part is not None and part.get_content_type() == f"text/{subtype}"
    return part.get_content()


def test_alert_arrives_as_text_and_html_with_subject_sender_and_recipients(
    smtp_server: LoopbackSMTPServer,
) -> None:
    mail = deliver(smtp_server, make_message())
    assert mail["Subject"] == "[newswatch] dprk: Kim calls for more launchers"
    assert (mail["From"], mail["To"]) == ("newswatch@example.org", "desk@example.org")
    assert smtp_server.envelopes == [("newswatch@example.org", ["desk@example.org"])]
    text = body(mail, "plain")
    for expected in ("Kim calls", "Example News", "2024-05-01 08:30 UTC", "news.example.org/kim"):
        assert expected in text
    assert "expanded missile launcher production" in text
    assert "<strong>missile launcher</strong>" in body(mail, "html")


def test_message_id_is_the_same_on_a_retry_of_the_same_alert(
    smtp_server: LoopbackSMTPServer,
) -> None:
    first = deliver(smtp_server, make_message())["Message-ID"]
    again = deliver(smtp_server, make_message())["Message-ID"]
    other = deliver(smtp_server, make_message(alert_id="alert-0002"))["Message-ID"]
    assert first == again != other
    assert first.startswith("<newswatch.") and first.endswith("@example.org>")


def test_html_escapes_title_snippet_and_query(smtp_server: LoopbackSMTPServer) -> None:
    message = make_message(
        title="<script>alert(1)</script> launchers",
        snippet="a <b>missile launcher</b> & more",
        snippet_start=5,
        snippet_end=21,
        query='"missile launcher" <img>',
    )
    mail = deliver(smtp_server, message)
    html = body(mail, "html")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "a &lt;b&gt;<strong>missile launcher</strong>&lt;/b&gt; &amp; more" in html
    assert "<img>" not in html
    assert "<script>alert(1)</script> launchers" in body(mail, "plain")


def test_title_with_crlf_cannot_inject_headers_or_recipients(
    smtp_server: LoopbackSMTPServer,
) -> None:
    mail = deliver(smtp_server, make_message(title="Launchers\r\nBcc: x@evil.example\x00"))
    assert mail["Subject"] == "[newswatch] dprk: Launchers Bcc: x@evil.example"
    assert mail["Bcc"] is None
    assert smtp_server.envelopes[-1][1] == ["desk@example.org"]


def test_long_title_is_cut_at_a_word_in_the_subject(smtp_server: LoopbackSMTPServer) -> None:
    mail = deliver(smtp_server, make_message(title="launcher " * 40))
    subject = mail["Subject"]
    assert len(subject) <= SUBJECT_LIMIT and subject.endswith("launcher…")


def test_non_web_link_is_shown_but_not_clickable(smtp_server: LoopbackSMTPServer) -> None:
    html = body(deliver(smtp_server, make_message(url="javascript:alert(1)")), "html")
    assert "javascript:alert(1)" in html and 'href="javascript' not in html


def test_closed_smtp_port_raises_delivery_error_naming_host_and_port() -> None:
    port = free_port()
    notifier = EmailNotifier(name="desk", channel=channel_for("127.0.0.1", port))
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(notifier.send(make_message()))
    assert str(caught.value) == f"channel desk: SMTP 127.0.0.1:{port}: connection refused"
    assert caught.value.channel == "desk"


def test_starttls_against_a_server_without_it_fails_instead_of_sending_in_clear(
    smtp_server: LoopbackSMTPServer,
) -> None:
    notifier = EmailNotifier(
        name="desk",
        channel=channel_for(smtp_server.host, smtp_server.port, security="starttls"),
    )
    with pytest.raises(DeliveryError, match="STARTTLS extension not supported"):
        asyncio.run(notifier.send(make_message()))
    assert smtp_server.messages == []


@pytest.fixture
def smtps_server(server_tls: ssl.SSLContext) -> Iterator[LoopbackSMTPServer]:
    server = LoopbackSMTPServer(tls=server_tls).start()
    yield server
    server.stop()


def test_smtps_server_with_an_untrusted_certificate_gets_nothing(
    smtps_server: LoopbackSMTPServer,
) -> None:
    with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        deliver(smtps_server, make_message(), security="ssl")
    assert smtps_server.messages == []


def test_smtps_server_whose_ca_is_trusted_gets_the_mail(
    smtps_server: LoopbackSMTPServer, trusted_ca: Path
) -> None:
    mail = deliver(smtps_server, make_message(), security="ssl")
    assert mail["To"] == "desk@example.org"


def test_starttls_upgrades_before_any_mail_is_sent(
    server_tls: ssl.SSLContext, trusted_ca: Path
) -> None:
    server = LoopbackSMTPServer(starttls=server_tls).start()  # refuses mail before STARTTLS
    try:
        mail = deliver(server, make_message(), security="starttls")
    finally:
        server.stop()
    assert mail["To"] == "desk@example.org"


class _AuthSMTP:
    """An aiosmtpd server that accepts login as bot / PASSWORD (no TLS, loopback only)."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.logins: list[bytes] = []
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=free_port(),
            authenticator=self._authenticate,
            auth_require_tls=False,
            auth_exclude_mechanism=["LOGIN"],  # one mechanism: smtplib stops at its answer
        )

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        valid = isinstance(auth_data, LoginPassword) and auth_data == (b"bot", PASSWORD.encode())
        if valid:
            self.logins.append(auth_data.login)
        return AuthResult(success=valid, handled=False)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def auth_smtp() -> Iterator[_AuthSMTP]:
    server = _AuthSMTP()
    server.controller.start()
    yield server
    server.controller.stop()


def test_login_with_the_configured_username_and_password_delivers(auth_smtp: _AuthSMTP) -> None:
    channel = channel_for("127.0.0.1", auth_smtp.controller.port, username="bot", password=PASSWORD)
    asyncio.run(EmailNotifier(name="desk", channel=channel).send(make_message()))
    assert auth_smtp.logins == [b"bot"] and len(auth_smtp.messages) == 1


def test_wrong_password_fails_with_the_server_reply_and_no_secret(auth_smtp: _AuthSMTP) -> None:
    wrong = "not-the-" + PASSWORD
    channel = channel_for("127.0.0.1", auth_smtp.controller.port, username="bot", password=wrong)
    with pytest.raises(DeliveryError, match="SMTPAuthenticationError 535") as caught:
        asyncio.run(EmailNotifier(name="desk", channel=channel).send(make_message()))
    assert wrong not in str(caught.value) and PASSWORD not in str(caught.value)
    assert auth_smtp.messages == []


def test_username_without_password_fails_naming_the_environment_variable() -> None:
    channel = channel_for("127.0.0.1", free_port(), username="bot")
    with pytest.raises(DeliveryError, match="NEWSWATCH_SMTP_PASSWORD"):
        asyncio.run(EmailNotifier(name="desk", channel=channel).send(make_message()))


@pytest.mark.parametrize(
    ("changes", "described"),
    [
        ({}, "smtp://mail.example.org:25 → desk@example.org"),
        (
            {"smtp_port": 587, "security": "starttls", "username": "bot", "password": PASSWORD},
            "smtp://bot:****@mail.example.org:587 (STARTTLS) → desk@example.org",
        ),
        (
            {"smtp_port": 465, "security": "ssl", "to": ["a@example.org", "B <b@example.org>"]},
            "smtps://mail.example.org:465 → a@example.org, B <b@example.org>",
        ),
    ],
)
def test_describe_shows_the_target_with_the_password_masked(
    changes: dict[str, Any], described: str
) -> None:
    channel = channel_for("mail.example.org", 25, **changes)
    assert notifier_for("desk", channel).describe() == described


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"to": []}, "at least 1 item"),
        ({"to": ["not-an-address"]}, "not a plausible email address"),
        ({"to": ["a@example.org, b@example.org"]}, "not a single email address"),
        ({"from": "bot@example.org\r\nBcc: x@evil"}, "not a single email address"),
        ({"security": "tls"}, "'none', 'starttls' or 'ssl'"),
        ({"smtp_port": 0}, "greater than or equal to 1"),
        ({"smtp_server": "mail"}, "Extra inputs are not permitted"),
    ],
)
def test_email_channel_config_rejects_bad_values_and_unknown_keys(
    config: dict[str, Any], error: str
) -> None:
    base = {"type": "email", "to": ["desk@example.org"], "from": "newswatch@example.org"}
    with pytest.raises(ValidationError, match=error):
        TypeAdapter(Channel).validate_python({**base, **config})


def test_email_channel_reads_the_toml_key_from_and_is_frozen() -> None:
    channel = TypeAdapter(Channel).validate_python(
        {"type": "email", "to": ["desk@example.org"], "from": "Newswatch <bot@example.org>"}
    )
    assert isinstance(channel, EmailChannel) and channel.from_ == "Newswatch <bot@example.org>"
    assert (channel.smtp_host, channel.smtp_port, channel.security) == ("localhost", 25, "none")
    with pytest.raises(ValidationError, match="frozen"):
        channel.smtp_port = 2525  # type: ignore[misc]
