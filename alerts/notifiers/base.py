"""The notifier seam: one class per kind of channel, one `send` per message.

Template method, as in apprise's `plugins/base.py`: `Notifier.send` calls the
subclass's `_deliver` once with one message (an alert, a storm summary or a
digest) and turns the failures the subclass declares as expected (network,
protocol, HTTP status) into one `DeliveryError` whose message has every
secret scrubbed. Retries, the outbox and logging belong to
the dispatcher, which only ever sees `DeliveryError`::

    notifier = notifier_for("desk", channel)
    print(notifier.describe())      # smtp://bot:****@mail.example.org:587 → desk@example.org
    await notifier.send(message)    # or raise DeliveryError
    async with notifier.kept_open():  # these messages share one connection
        for message in messages:
            await notifier.send(message)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from alerts.errors import DeliveryError
from alerts.message import Message
from storage import MASK, shown_url


class Notifier(ABC):
    """Delivers alerts to one configured channel, named `name` in the config."""

    #: Exceptions that mean "this attempt failed" rather than "newswatch has a bug".
    expected_failures: tuple[type[BaseException], ...] = ()

    def __init__(self, *, name: str) -> None:
        self.name = name
        self.keep_open = False  # inside `kept_open`: one connection for every message

    @asynccontextmanager
    async def kept_open(self) -> AsyncIterator[None]:
        """Inside, the messages sent share a connection, opened by the first and closed on
        leaving (a dropped one is opened again); outside, each `send` connects for itself.
        A notifier with nothing to keep (webhooks, apprise) sends as usual."""
        self.keep_open = True
        try:
            yield
        finally:
            self.keep_open = False
            await self._release()

    async def _release(self) -> None:  # noqa: B027  (only email keeps a connection open)
        """Close the connection kept for `kept_open` (none by default)."""

    @abstractmethod
    def describe(self) -> str:
        """The target, printable: secrets replaced by ****."""

    @abstractmethod
    def secrets(self) -> tuple[str, ...]:
        """Every secret this notifier holds, scrubbed from error messages."""

    @abstractmethod
    async def _deliver(self, message: Message) -> None:
        """Send `message` once; raise DeliveryError or one of `expected_failures`."""

    @abstractmethod
    def _explain(self, error: BaseException) -> str:
        """A one-line reason for an expected failure, naming the target."""

    async def send(self, message: Message) -> None:
        """Deliver `message` once, or raise `DeliveryError(reason, channel=name)`."""
        try:
            await self._deliver(message)
        except DeliveryError as error:
            raise self._failure(error.reason) from error
        except self.expected_failures as error:
            raise self._failure(self._explain(error)) from error

    def scrub(self, text: str) -> str:
        """`text` on one line, with every secret of this notifier replaced by ****."""
        line = " ".join(text.split())
        for secret in sorted(self.secrets(), key=len, reverse=True):
            if secret:
                line = line.replace(secret, MASK)
        return line

    def _failure(self, reason: str) -> DeliveryError:
        """The reason on one line, with any secret a server may have echoed removed."""
        return DeliveryError(self.scrub(reason), channel=self.name)


def redact_url(url: str) -> str:
    """`url` with a userinfo password and every query-string value replaced by ****."""
    parts = urlsplit(shown_url(url))
    query = urlencode(
        [(key, MASK) for key, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*"
    )
    return urlunsplit(parts._replace(query=query))
