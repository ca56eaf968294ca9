"""Output safety: what strangers write cannot take over the mail, and secrets stay secret.

Already covered elsewhere, and not repeated here: tests/alerts/test_email.py (title,
snippet and query escaped in the HTML alert; a CRLF title kept inside the Subject;
a `javascript:` link not clickable), tests/alerts/test_webhook.py and
tests/alerts/test_apprise.py (targets and errors masked), and
tests/flows/test_cli.py::test_no_secret_reaches_run_output_logs_alert_lists_or_delivery_errors
(a real run, every channel failing into receivers that echo the secrets; stdout,
stderr, `--json`, `alerts list` and the stored runs and delivery errors grepped).

Added here: quote injection into the HTML alert's links, the summary and digest
HTML, every line-breaking character (not only CRLF) in a Subject, the run's
markdown artifact and JSON grepped for channel secrets after real failed sends, and
titles that try to end, add or restyle a link in that artifact (parsed as markdown).
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from email.policy import SMTP

import pytest

from alerts import (
    AlertMessage,
    AppriseChannel,
    BundleMessage,
    DeliveryError,
    DeliveryReport,
    EmailChannel,
    Fired,
    Outlet,
    WebhookChannel,
    notifier_for,
)
from alerts.notifiers.email import build_email
from alerts.render import Renderer
from flows.summary import RunSummary
from tests.alerts.messages import make_message
from tests.security.fuzz import is_clean_line
from tests.servers import LoopbackHTTPServer, LoopbackSMTPServer, Response

CHANNEL = EmailChannel.model_validate(
    {
        "type": "email",
        "to": ["desk@example.org"],
        "from": "newswatch@example.org",
        "smtp_host": "127.0.0.1",
        "smtp_port": 25,
    }
)
SCRIPT = "<script>alert(1)</script>"
BREAKOUT = f'https://x.test/a"><img src=x onerror=alert(1)>{SCRIPT}'


def html_of(message: AlertMessage | BundleMessage) -> str:
    return Renderer().render(message)[1]


def assert_no_live_markup(html: str) -> None:
    assert "<script>" not in html and "<img" not in html, html
    assert not re.search(r"""href=["'][^"']*["'][^>]*onerror""", html), html


def test_a_quote_in_a_link_cannot_break_out_of_the_alert_html() -> None:
    message = make_message(
        url=BREAKOUT,
        outlets=(
            Outlet(source=f"wire {SCRIPT}", url=BREAKOUT),
            Outlet(source="b", url="https://b.test/"),
        ),
    )
    html = html_of(message)
    assert_no_live_markup(html)
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize("kind", ["summary", "digest"])
def test_summary_and_digest_html_escape_titles_snippets_sources_and_links(kind: str) -> None:
    alerts = tuple(
        make_message(
            alert_id=f"alert-{n}",
            title=f"{SCRIPT} launchers {n}",
            url=BREAKOUT,
            source=f"desk {SCRIPT}",
            snippet=f"a <b onmouseover=x>missile launcher</b> {SCRIPT}",
            snippet_start=2,
            snippet_end=20,
        )
        for n in range(3)
    )
    bundle = BundleMessage(
        bundle_id="bundle-1",
        kind=kind,  # type: ignore[arg-type]
        rule=f"dprk {SCRIPT}",
        alerts=alerts,
        created_at=datetime(2025, 3, 1, tzinfo=UTC),
        schedule="daily" if kind == "digest" else None,
    )
    html = html_of(bundle)
    assert_no_live_markup(html)
    assert "<b onmouseover" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt; launchers") == 3


LINE_BREAKERS = ["\r", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\x00"]


@pytest.mark.parametrize("breaker", LINE_BREAKERS, ids=repr)
def test_no_line_breaking_character_in_a_title_adds_a_mail_header(breaker: str) -> None:
    def headers(title: str) -> list[str]:
        mail = build_email(make_message(title=title), channel=CHANNEL)
        head = mail.as_bytes(policy=SMTP).split(b"\r\n\r\n", 1)[0].decode("ascii")
        return [line.split(":", 1)[0] for line in head.split("\r\n") if not line[:1].isspace()]

    title = f"Launchers{breaker}Bcc: spy@evil.example{breaker}{breaker}<html>body"
    assert headers(title) == headers("Launchers")
    subject = build_email(make_message(title=title), channel=CHANNEL)["Subject"]
    assert is_clean_line(subject) and "Bcc: spy@evil.example" in subject


def test_an_encoded_word_in_a_title_cannot_add_headers_or_a_body(
    smtp_server: LoopbackSMTPServer,
) -> None:
    title = "=?utf-8?q?Launchers=0D=0ABcc:_spy@evil.example=0D=0A=0D=0A<h1>Forged</h1>?="
    channel = CHANNEL.model_copy(update={"smtp_port": smtp_server.port})
    asyncio.run(notifier_for("desk", channel).send(make_message(title=title)))
    received = smtp_server.messages[-1]
    assert received["Bcc"] is None
    assert received["From"] == "newswatch@example.org"
    assert smtp_server.envelopes[-1] == ("newswatch@example.org", ["desk@example.org"])
    assert "<h1>Forged</h1>" not in received.get_body(("html",)).get_content()  # ours, escaped
    assert "= ?utf-8?q?Launchers" in received["Subject"]  # shown as text, not decoded


# --- secrets in the run's artifact and JSON -------------------------------------------------

TOKEN = "hook-token-5ecret-91"
HMAC = "hook-hmac-5ecret-92"
APPRISE = "apprise-pw-5ecret-93"


def test_the_run_artifact_and_json_hold_no_channel_secret_after_failed_sends(
    http_server: LoopbackHTTPServer,
) -> None:
    """Receivers answer 500 with every secret in the body; the delivery errors that end up
    in the run's markdown artifact and JSON carry none of them."""
    echo = f"denied {TOKEN} {HMAC} {APPRISE}".encode()
    http_server.sequence("/hook", [Response(500, echo)])
    http_server.sequence("/apprise", [Response(500, echo)])
    port = http_server.base_url.rsplit(":", 1)[1]
    channels = {
        "hook": WebhookChannel.model_validate(
            {"type": "webhook", "url": http_server.url(f"/hook?token={TOKEN}"), "secret": HMAC}
        ),
        "team": AppriseChannel.model_validate(
            {"type": "apprise", "url": f"json://bot:{APPRISE}@127.0.0.1:{port}/apprise"}
        ),
    }
    message = make_message()
    failed = []
    for name, channel in channels.items():
        with pytest.raises(DeliveryError) as caught:
            asyncio.run(notifier_for(name, channel).send(message))
        failed.append((message.alert_id, name, caught.value.reason))
    tried = [r.path.split("?", 1)[0] for r in http_server.requests if r.method == "POST"]
    assert sorted(tried) == ["/apprise", "/hook"]  # both really tried

    summary = RunSummary(run_id=7, started_at=datetime(2025, 3, 1, tzinfo=UTC))
    summary.add_deliveries(DeliveryReport(failed=failed))
    outputs = [summary.to_markdown(), json.dumps(summary.to_dict()), *(r for *_, r in failed)]
    everything = "\n".join(outputs)
    assert "500" in everything and "****" in everything
    for secret in (TOKEN, HMAC, APPRISE):
        assert secret not in everything, secret


@pytest.mark.parametrize(
    "title",
    [
        "Click [here](javascript:alert(1)) now",
        "Ends the link](https://evil.test/) early",
        f"Markup {SCRIPT} <b>bold</b> *stars* _under_ `code` | pipe",
        "A backslash \\](https://evil.test/) before a bracket",
    ],
)
def test_a_title_adds_no_link_or_markup_to_the_run_artifact(title: str) -> None:
    from markdown_it import MarkdownIt

    url = "https://x.test/a b(1)<2>"
    summary = RunSummary(run_id=7, started_at=datetime(2025, 3, 1, tzinfo=UTC))
    summary.add_alerts([Fired("a1", "rule", 1, title, url, ("hook",), "snippet")], articles=[])
    tokens = MarkdownIt("commonmark").enable("table").parse(summary.to_markdown())
    inline = [child for token in tokens for child in token.children or ()]
    links = [token for token in inline if token.type == "link_open"]
    assert [link.attrs["href"] for link in links] == ["https://x.test/a%20b%281%29%3C2%3E"]
    assert inline[inline.index(links[0]) + 1].content == title  # the link's text, as written
    markup = ("html_inline", "em_open", "strong_open", "code_inline")
    assert not [token for token in inline if token.type in markup]
