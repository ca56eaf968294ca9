"""Apprise alerts: Slack, Discord, Telegram, ntfy and the other services apprise knows.

One URL names the service and carries its credentials (`slack://T000/B000/XXXX`,
`tgram://bot-token/chat-id`, `ntfy://topic`, `json://host/path`); the message
is the same text the email's plain part has, titled like the email's subject::

    await AppriseNotifier(name="team", channel=channel).send(message)

apprise reports a failure by returning False and logging why, and it logs
URLs, sometimes whole. So while it works its logger is taken over: nothing it
says reaches newswatch's logs, and its warnings become the `DeliveryError`
reason, with every secret of the URL masked.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from alerts.channels import AppriseChannel
from alerts.errors import DeliveryError
from alerts.message import Message
from alerts.notifiers.base import Notifier
from alerts.render import Renderer, subject_for
from storage import MASK

_LOGGER = "apprise"
_QUIET = threading.Lock()  # apprise's logger is one per process


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def _apprise_quiet() -> Iterator[list[str]]:
    """Silence apprise's logger; yield the warnings and errors it logs meanwhile.

    apprise loads its plugins on first use, and on Python < 3.13 one of them imports
    the deprecated `imghdr`: a warning that is apprise's to fix, not a newswatch user's,
    so it is silenced too.
    """
    logger = logging.getLogger(_LOGGER)
    collect = _Collect()
    with _QUIET, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        saved = logger.handlers[:], logger.propagate, logger.level
        logger.handlers, logger.propagate = [collect], False
        logger.setLevel(logging.WARNING)
        try:
            yield collect.lines
        finally:
            logger.handlers, logger.propagate = saved[0], saved[1]
            logger.setLevel(saved[2])


def instantiate(url: str) -> Any:
    """apprise's plugin for `url`, or None when apprise does not recognise it."""
    with _apprise_quiet():
        import apprise  # on first use: importing it costs a few hundred milliseconds

        return apprise.Apprise.instantiate(url, suppress_exceptions=True)


def private_url(url: str) -> str:
    """`url` as apprise prints it with privacy on (tokens cut to `T...Q`, passwords ****),
    without its query string, which may carry headers or tokens apprise leaves as they are."""
    plugin = instantiate(url)
    if plugin is None:
        return url.partition("://")[0] + f"://{MASK}"
    return str(plugin.url(privacy=True)).partition("?")[0]


def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of `url` that its private form hides: the URL itself, its password, and
    every token that does not appear in the private form (webhook ids, bot tokens...)."""
    shown = private_url(url)
    pieces = {piece for piece in re.split(r"[/:@?&=#,]+", url.partition("://")[2]) if piece}
    pieces |= {unquote(piece) for piece in pieces}
    hidden = sorted((p for p in pieces if len(p) >= 4 and p not in shown), key=len, reverse=True)
    return (url, *hidden) if url.partition("?")[0] != shown else tuple(hidden)


class AppriseNotifier(Notifier):
    """Sends each message through apprise to the service `channel.url` names."""

    expected_failures = (OSError,)  # requests' errors are OSErrors; apprise catches most

    def __init__(
        self, *, name: str, channel: AppriseChannel, templates: Path | None = None
    ) -> None:
        super().__init__(name=name)
        self.channel = channel
        self.renderer = Renderer(templates)

    @property
    def _url(self) -> str:
        return self.channel.url.get_secret_value()

    def describe(self) -> str:
        return private_url(self._url)

    def secrets(self) -> tuple[str, ...]:
        return url_secrets(self._url)

    async def _deliver(self, message: Message) -> None:
        title, body = subject_for(message), self.renderer.text(message)
        problems = await asyncio.to_thread(self._notify, title, body)
        if problems is not None:
            raise DeliveryError(f"{self.describe()}: {problems}", channel=self.name)

    def _notify(self, title: str, body: str) -> str | None:
        """Send once (blocking); None when delivered, else what apprise said went wrong."""
        with _apprise_quiet() as said:
            import apprise

            plugin = apprise.Apprise.instantiate(self._url, suppress_exceptions=True)
            if plugin is None:
                return "apprise does not recognise the URL"
            sender = apprise.Apprise()
            sender.add(plugin)
            delivered = sender.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
        if delivered:
            return None
        return "; ".join(dict.fromkeys(said)) or "apprise reported a failure without a reason"

    def _explain(self, error: BaseException) -> str:
        return f"{self.describe()}: {type(error).__name__}: {error}"
