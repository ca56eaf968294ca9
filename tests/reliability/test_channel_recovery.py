"""Channels that fail and recover, for real on 127.0.0.1: alerts wait in the outbox, pending
with the reason, and `newswatch alerts deliver` sends each exactly once when the
channel is back. (Failing runs that recover at the next run are in
tests/test_end_to_end.py; one notifier call per fault in tests/alerts.)

A receiver that answers after the timeout has the message although the sender gave
up: the retry carries the same key, so a receiver that remembers keys drops it.
"""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from alerts import Rule
from flows.cli import app
from storage import open_store
from tests.alerts.kit import article, store
from tests.servers import LoopbackHTTPServer, LoopbackSMTPServer, Response, free_port

pytestmark = pytest.mark.reliability

RULE = Rule(name="launchers", query='"missile launcher"', channels=("out",))
TEXTS = (
    "Mobile missile launchers were moved north overnight, villagers said.",
    "A missile launcher was unloaded at the naval pier on Tuesday.",
)
TIMEOUT = 0.5  # seconds: the channels' timeout, which the slow servers overrun


class DelayingHTTPServer(LoopbackHTTPServer):
    """Answers its first `slow` requests only after `delay` seconds (each is recorded,
    so handled, on arrival), the later ones at once."""

    def __init__(self, *, slow: int, delay: float) -> None:
        super().__init__()
        self._slow, self._delay = slow, delay

    def before_answer(self, path: str) -> None:
        with self._lock:
            late = len(self.requests) <= self._slow
        if late:
            time.sleep(self._delay)
        super().before_answer(path)


class Fault:
    """A channel that fails now and works after `recover()`; `reason` is in the outbox's
    record of the failure; `delivered()` lists the keys the receiver took in, in order."""

    reason = ""

    def channel(self) -> dict[str, Any]:
        raise NotImplementedError

    def recover(self) -> dict[str, Any] | None:
        """Bring the channel back; a changed channel config when that is the repair."""
        return None

    def delivered(self) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def email_channel(port: int) -> dict[str, Any]:
    return {
        "type": "email",
        "to": ["desk@example.org"],
        "from": "newswatch@example.org",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "timeout": TIMEOUT,
    }


class SMTPDown(Fault):
    """Nothing listens on the SMTP port; then the server starts there."""

    reason = "connection refused"

    def __init__(self) -> None:
        self.port = free_port()
        self.smtp: LoopbackSMTPServer | None = None

    def channel(self) -> dict[str, Any]:
        return email_channel(self.port)

    def recover(self) -> None:
        self.smtp = LoopbackSMTPServer(port=self.port).start()

    def delivered(self) -> list[str]:
        return [mail["X-Newswatch-Alert-Id"] for mail in (self.smtp.messages if self.smtp else [])]

    def close(self) -> None:
        if self.smtp:
            self.smtp.stop()


class SMTPSilent(SMTPDown):
    """A server that accepts the connection and never greets; then a real one."""

    reason = "timed out"

    def __init__(self) -> None:
        super().__init__()
        self.listener = socket.create_server(("127.0.0.1", self.port))

    def recover(self) -> None:
        self.listener.close()
        super().recover()

    def close(self) -> None:
        self.listener.close()
        super().close()


class WebhookError(Fault):
    """The receiver answers 500 (to both alerts), then 200."""

    reason = "answered 500 Internal Server Error"

    def __init__(self) -> None:
        self.server = LoopbackHTTPServer().start()
        failing = [Response(500, b"down"), Response(500, b"down"), Response(200, b"ok")]
        self.url = self.server.sequence("/hook", failing)

    def channel(self) -> dict[str, Any]:
        return {"type": "webhook", "url": self.url, "timeout": TIMEOUT}

    def posted(self) -> list[str]:
        return [r.headers["idempotency-key"] for r in self.server.requests_to("/hook", "POST")]

    def delivered(self) -> list[str]:
        return self.posted()[2:]  # the first two were answered 500: refused, not taken in

    def close(self) -> None:
        self.server.stop()


class WebhookHostUnknown(WebhookError):
    """The webhook's host does not resolve; then its URL names one that does (the DNS
    record appears, or the user fixes a typo)."""

    reason = "ConnectError"

    def __init__(self) -> None:
        super().__init__()
        self.url = self.server.route("/hook", "ok")

    def channel(self) -> dict[str, Any]:
        return {**super().channel(), "url": "http://hooks.newswatch.invalid/hook"}

    def recover(self) -> dict[str, Any]:
        return super().channel()

    def delivered(self) -> list[str]:
        return self.posted()


class WebhookSlow(WebhookError):
    """The receiver takes each of the first two POSTs in but answers after the timeout;
    then it answers at once."""

    reason = "ReadTimeout timed out"

    def __init__(self) -> None:
        self.server = DelayingHTTPServer(slow=2, delay=TIMEOUT * 4).start()
        self.url = self.server.route("/hook", "ok")

    def delivered(self) -> list[str]:
        return self.posted()


# fault → how often each alert's key reaches the receiver in the end
FAULTS = {
    "smtp server down, then up": (SMTPDown, 1),
    "smtp server silent past the timeout, then answering": (SMTPSilent, 1),
    "webhook answering 500, then 200": (WebhookError, 1),
    "webhook host not resolving, then resolving": (WebhookHostUnknown, 1),
    "webhook answering after the timeout, then in time": (WebhookSlow, 2),
}


@pytest.fixture(params=list(FAULTS))
def fault(request: pytest.FixtureRequest) -> Iterator[tuple[Fault, int]]:
    kind, copies = FAULTS[request.param]
    made = kind()
    yield made, copies
    made.close()


def write_config(folder: Path, channel: dict[str, Any]) -> Path:
    settings = "".join(f"{key} = {json.dumps(value)}\n" for key, value in channel.items())
    config = folder / "newswatch.toml"
    config.write_text(
        f"""[database]
url = "sqlite:///{folder / "newswatch.db"}"

[[rules]]
name = "{RULE.name}"
query = '{RULE.query}'
channels = ["out"]

[delivery]
backoff = "0s"  # a failed delivery is due again at once: the test is the clock

[channels.out]
{settings}""",
        encoding="utf-8",
    )
    return config


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_alerts_wait_in_the_outbox_with_the_reason_and_go_out_once_when_the_channel_recovers(
    fault: tuple[Fault, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken, copies = fault
    monkeypatch.delenv("NEWSWATCH_DATABASE_URL", raising=False)
    config = write_config(tmp_path, broken.channel())
    engine = open_store(f"sqlite:///{tmp_path / 'newswatch.db'}")
    try:
        fired = store(engine, [article(n, text) for n, text in enumerate(TEXTS)], [RULE])
    finally:
        engine.dispose()
    alerts = sorted(alert.alert_id for alert in fired)

    failed = cli("alerts", "deliver", "--config", str(config), "--json")

    assert failed["sent"] == [] and len(failed["failed"]) == len(alerts)
    assert all(broken.reason in failure["reason"] for failure in failed["failed"]), failed
    waiting = cli("alerts", "list", "--config", str(config), "--status", "pending", "--json")
    assert sorted(view["id"] for view in waiting) == alerts
    for view in waiting:
        out = view["deliveries"]["out"]
        assert (out["status"], out["attempts"]) == ("pending", 1)
        assert broken.reason in out["last_error"]

    repaired = broken.recover()
    if repaired is not None:
        config = write_config(tmp_path, repaired)
    sent = cli("alerts", "deliver", "--config", str(config), "--json")
    again = cli("alerts", "deliver", "--config", str(config), "--json")

    assert sorted(item["key"] for item in sent["sent"]) == alerts
    assert sent["failed"] == [] and again == {"sent": [], "failed": [], "dead": []}
    assert cli("alerts", "list", "--config", str(config), "--status", "pending", "--json") == []
    assert Counter(broken.delivered()) == {alert: copies for alert in alerts}
