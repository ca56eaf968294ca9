"""Email alerts: one multipart (text + HTML) message per alert, summary or digest, over SMTP.

The message is built by pure functions (`build_email`) so its headers and
escaping can be checked without a server; `EmailNotifier` only hands it to
stdlib `smtplib`, run in a worker thread so the event loop keeps going; inside
`kept_open` (a delivery pass) its messages share one SMTP session instead of a
connection, TLS handshake and login each::

    await EmailNotifier(name="desk", channel=channel, templates=Path("templates")).send(message)

Every header value that came from an article is folded to one printable line
first: a title with `\\r\\nBcc: x@evil` stays inside the Subject. Bodies come
from the Jinja2 templates in `alerts/templates/`, which users may override
(see `alerts.render`).
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

from alerts.channels import EmailChannel
from alerts.errors import DeliveryError
from alerts.message import AlertMessage, Message
from alerts.notifiers.base import Notifier
from alerts.notifiers.tls import smtp_tls
from alerts.render import SUBJECT_LIMIT, Renderer, one_line, subject_for
from storage import MASK

__all__ = ["SUBJECT_LIMIT", "EmailNotifier", "build_email", "message_id", "one_line", "subject_for"]


def message_id(key: str, *, sender: str) -> str:
    """A Message-ID that is the same on every retry, so mail clients can drop duplicates."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "newswatch.invalid"
    return f"<newswatch.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def build_email(
    message: Message, *, channel: EmailChannel, renderer: Renderer | None = None
) -> EmailMessage:
    """The complete email for `message` as sent to `channel`."""
    text, html = (renderer or Renderer()).render(message)
    sent = message.matched_at if isinstance(message, AlertMessage) else message.created_at
    mail = EmailMessage()
    mail["Subject"] = subject_for(message)
    mail["From"] = channel.from_
    mail["To"] = ", ".join(channel.to)
    mail["Date"] = format_datetime(sent)
    mail["Message-ID"] = message_id(message.key, sender=channel.from_)
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Newswatch-Alert-Id"] = one_line(message.key)
    mail.set_content(text)
    mail.add_alternative(html, subtype="html")
    return mail


def connect(channel: EmailChannel) -> smtplib.SMTP:
    """A connection to the channel's SMTP server, TLS and login done as configured
    (blocking)."""
    if channel.security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            channel.smtp_host, channel.smtp_port, timeout=channel.timeout, context=smtp_tls()
        )
    else:
        smtp = smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=channel.timeout)
    try:
        if channel.security == "starttls":
            smtp.starttls(context=smtp_tls())
        if channel.username is not None and channel.password is not None:
            smtp.login(channel.username, channel.password.get_secret_value())
    except BaseException:
        smtp.close()
        raise
    return smtp


def hand_over(smtp: smtplib.SMTP, mail: EmailMessage) -> None:
    """Send `mail` over `smtp` (blocking); a refused recipient fails it."""
    refused = smtp.send_message(mail)
    if refused:  # some recipients were accepted: still a failure, never a silent loss
        raise smtplib.SMTPRecipientsRefused(refused)


def _alive(smtp: smtplib.SMTP) -> bool:
    try:
        return smtp.noop()[0] == 250
    except OSError:  # smtplib's errors are OSErrors
        return False


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except OSError:
        smtp.close()


def _target(channel: EmailChannel) -> str:
    return f"SMTP {channel.smtp_host}:{channel.smtp_port}"


class EmailNotifier(Notifier):
    """Sends each alert as one email to every address in `channel.to`."""

    expected_failures = (OSError,)  # smtplib.SMTPException and ssl.SSLError are OSErrors

    def __init__(self, *, name: str, channel: EmailChannel, templates: Path | None = None) -> None:
        super().__init__(name=name)
        self.channel = channel
        self.renderer = Renderer(templates)
        self._smtp: smtplib.SMTP | None = None  # kept between messages inside `kept_open`

    def describe(self) -> str:
        channel = self.channel
        scheme = "smtps" if channel.security == "ssl" else "smtp"
        user = ""
        if channel.username is not None:
            user = f"{channel.username}:{MASK}@" if channel.password else f"{channel.username}@"
        tls = " (STARTTLS)" if channel.security == "starttls" else ""
        server = f"{scheme}://{user}{channel.smtp_host}:{channel.smtp_port}{tls}"
        return f"{server} → {', '.join(channel.to)}"

    def secrets(self) -> tuple[str, ...]:
        password = self.channel.password
        return (password.get_secret_value(),) if password is not None else ()

    async def _deliver(self, message: Message) -> None:
        if self.channel.username is not None and self.channel.password is None:
            raise DeliveryError(
                f"{_target(self.channel)}: username {self.channel.username} has no password "
                "(set NEWSWATCH_SMTP_PASSWORD)",
                channel=self.name,
            )
        mail = build_email(message, channel=self.channel, renderer=self.renderer)
        await asyncio.to_thread(self._transmit, mail)

    def _transmit(self, mail: EmailMessage) -> None:
        """Hand `mail` to the server once (blocking). Inside `kept_open`, over the connection
        the last message used while it still answers NOOP, else a new one; a connection a
        message failed on is never used again."""
        if not self.keep_open:
            smtp = connect(self.channel)
            with smtp:
                hand_over(smtp, mail)
            return
        if self._smtp is not None and not _alive(self._smtp):
            self._drop()
        if self._smtp is None:
            self._smtp = connect(self.channel)
        try:
            hand_over(self._smtp, mail)
        except BaseException:
            self._drop()
            raise

    async def _release(self) -> None:
        await asyncio.to_thread(self._drop)

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            _close(smtp)

    def _explain(self, error: BaseException) -> str:
        return f"{_target(self.channel)}: {_reason(error)}"


def _reason(error: BaseException) -> str:
    """What went wrong, in the server's words when it gave any."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return f"refused recipients {', '.join(error.recipients)}"
    if isinstance(error, smtplib.SMTPResponseException):
        detail = error.smtp_error
        text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        return f"{type(error).__name__} {error.smtp_code} {text}"
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return f"{type(error).__name__}: {error}"
