"""Email alerts: one multipart (text + HTML) message per alert, over SMTP.

The message is built by pure functions (`build_email`) so its headers and
escaping can be checked without a server; `EmailNotifier` only hands it to
stdlib `smtplib`, run in a worker thread so the event loop keeps going::

    await EmailNotifier(name="desk", channel=channel).send(message)

Every header value that came from an article is folded to one printable line
first: a title with `\\r\\nBcc: x@evil` stays inside the Subject.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from alerts.channels import EmailChannel
from alerts.errors import DeliveryError
from alerts.message import AlertMessage
from alerts.notifiers.base import MASK, Notifier

SUBJECT_LIMIT = 140
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@cache
def _environment() -> Environment:
    """Templates are read once, on first use; HTML templates are autoescaped."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def one_line(text: str) -> str:
    """`text` with line breaks and control characters folded to single spaces."""
    return " ".join("".join(char if char.isprintable() else " " for char in text).split())


def subject_for(message: AlertMessage) -> str:
    """`[newswatch] {rule}: {title}`, on one line, the title cut at a word if too long."""
    prefix = f"[newswatch] {one_line(message.rule)}: "
    title = one_line(message.title)
    room = max(SUBJECT_LIMIT - len(prefix), 20)
    if len(title) > room:
        cut = title[: room - 1]
        title = (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"
    return prefix + title


def _format_time(moment: datetime | None) -> str:
    if moment is None:
        return "date unknown"
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()


def render(message: AlertMessage) -> tuple[str, str]:
    """The text and HTML bodies of `message`."""
    before, hit, after = message.snippet_parts
    context = {
        "alert_id": message.alert_id,
        "rule": message.rule,
        "query": message.query,
        "title": one_line(message.title),
        "source": message.source,
        "published": _format_time(message.published_at),
        "matched": _format_time(message.matched_at),
        "url": message.url,
        "link": message.url if urlsplit(message.url).scheme in ("http", "https") else None,
        "snippet": message.snippet,
        "before": before,
        "hit": hit,
        "after": after,
        "terms": ", ".join(message.terms) or "the query",
    }
    environment = _environment()
    text = environment.get_template("alert.txt.j2").render(context)
    return text, environment.get_template("alert.html.j2").render(context)


def message_id(alert_id: str, *, sender: str) -> str:
    """A Message-ID that is the same on every retry, so mail clients can drop duplicates."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "newswatch.invalid"
    return f"<newswatch.{hashlib.sha256(alert_id.encode()).hexdigest()[:32]}@{domain}>"


def build_email(message: AlertMessage, *, channel: EmailChannel) -> EmailMessage:
    """The complete email for `message` as sent to `channel`."""
    text, html = render(message)
    mail = EmailMessage()
    mail["Subject"] = subject_for(message)
    mail["From"] = channel.from_
    mail["To"] = ", ".join(channel.to)
    mail["Date"] = format_datetime(message.matched_at)
    mail["Message-ID"] = message_id(message.alert_id, sender=channel.from_)
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Newswatch-Alert-Id"] = one_line(message.alert_id)
    mail.set_content(text)
    mail.add_alternative(html, subtype="html")
    return mail


def transmit(mail: EmailMessage, *, channel: EmailChannel) -> None:
    """Hand `mail` to the SMTP server once (blocking): TLS and login as configured."""
    context = ssl.create_default_context()
    if channel.security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            channel.smtp_host, channel.smtp_port, timeout=channel.timeout, context=context
        )
    else:
        smtp = smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=channel.timeout)
    with smtp:
        if channel.security == "starttls":
            smtp.starttls(context=context)
        if channel.username is not None and channel.password is not None:
            smtp.login(channel.username, channel.password.get_secret_value())
        refused = smtp.send_message(mail)
    if refused:  # some recipients were accepted: still a failure, never a silent loss
        raise smtplib.SMTPRecipientsRefused(refused)


def _target(channel: EmailChannel) -> str:
    return f"SMTP {channel.smtp_host}:{channel.smtp_port}"


class EmailNotifier(Notifier):
    """Sends each alert as one email to every address in `channel.to`."""

    expected_failures = (OSError,)  # smtplib.SMTPException and ssl.SSLError are OSErrors

    def __init__(self, *, name: str, channel: EmailChannel) -> None:
        super().__init__(name=name)
        self.channel = channel

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

    async def _deliver(self, message: AlertMessage) -> None:
        if self.channel.username is not None and self.channel.password is None:
            raise DeliveryError(
                f"{_target(self.channel)}: username {self.channel.username} has no password "
                "(set NEWSWATCH_SMTP_PASSWORD)",
                channel=self.name,
            )
        mail = build_email(message, channel=self.channel)
        await asyncio.to_thread(transmit, mail, channel=self.channel)

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
