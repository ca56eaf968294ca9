"""Messages as text: subjects and the Jinja2 templates shared by email and apprise.

Users override any template by putting a file of the same name in their
`templates` directory (`[delivery] templates = "templates/"`); the bundled
ones in `alerts/templates/` fill in the rest::

    text, html = Renderer(user_dir).render(message)

| template | used for |
|---|---|
| `alert.txt.j2`, `alert.html.j2` | one alert |
| `bundle.txt.j2`, `bundle.html.j2` | a storm summary or a digest (`kind`) |

HTML templates are autoescaped; every template gets plain values only.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    select_autoescape,
)

from alerts.message import AlertMessage, BundleMessage, Message

SUBJECT_LIMIT = 140
TEMPLATES = Path(__file__).resolve().parent / "templates"


def one_line(text: str) -> str:
    """`text` with line breaks and control characters folded to single spaces."""
    return " ".join("".join(char if char.isprintable() else " " for char in text).split())


def subject_for(message: Message) -> str:
    """`[newswatch] {rule}: {title or headline}`, one line, cut at a word if too long.

    `=?` becomes `= ?`: the email package decodes RFC 2047 encoded words in a Subject it
    is given, and before Python 3.11.10 (CVE-2024-6923) writes a decoded CR LF raw, so a
    title such as `=?utf-8?q?x=0D=0ABcc:_y?=` could add headers or replace the body.
    """
    prefix = f"[newswatch] {one_line(message.rule)}: "
    title = one_line(message.title if isinstance(message, AlertMessage) else message.headline)
    room = max(SUBJECT_LIMIT - len(prefix), 20)
    if len(title) > room:
        cut = title[: room - 1]
        title = (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"
    return (prefix + title).replace("=?", "= ?")


def format_time(moment: datetime | None) -> str:
    if moment is None:
        return "date unknown"
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()


def _link(url: str) -> str | None:
    """The URL when it is safe to make clickable (http or https), else None."""
    return url if urlsplit(url).scheme in ("http", "https") else None


def alert_context(message: AlertMessage) -> dict[str, Any]:
    """The values an alert template sees."""
    before, hit, after = message.snippet_parts
    return {
        "alert_id": message.alert_id,
        "rule": message.rule,
        "query": message.query,
        "title": one_line(message.title),
        "source": message.source,
        "published": format_time(message.published_at),
        "matched": format_time(message.matched_at),
        "url": message.url,
        "link": _link(message.url),
        "snippet": message.snippet,
        "before": before,
        "hit": hit,
        "after": after,
        "terms": ", ".join(message.terms) or "the query",
        "outlets": [
            {"source": outlet.source, "url": outlet.url, "link": _link(outlet.url)}
            for outlet in message.all_outlets
        ],
    }


def bundle_context(message: BundleMessage) -> dict[str, Any]:
    """The values a bundle template sees: its own, and each alert's as `alerts`."""
    return {
        "bundle_id": message.bundle_id,
        "kind": message.kind,
        "rule": message.rule,
        "schedule": message.schedule,
        "headline": message.headline,
        "created": format_time(message.created_at),
        "alerts": [alert_context(alert) for alert in message.alerts],
    }


@cache
def _environment(user_dir: Path | None) -> Environment:
    """Templates are read on first use; the user's directory wins over the bundled one."""
    loaders = [FileSystemLoader(user_dir)] if user_dir is not None else []
    return Environment(
        loader=ChoiceLoader([*loaders, FileSystemLoader(TEMPLATES)]),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


class Renderer:
    """Renders messages with the bundled templates, overridden by `user_dir`'s."""

    def __init__(self, user_dir: Path | None = None) -> None:
        self.user_dir = user_dir

    def render(self, message: Message) -> tuple[str, str]:
        """The text and HTML bodies of `message`."""
        if isinstance(message, AlertMessage):
            name, context = "alert", alert_context(message)
        else:
            name, context = "bundle", bundle_context(message)
        environment = _environment(self.user_dir)
        text = environment.get_template(f"{name}.txt.j2").render(context)
        return text, environment.get_template(f"{name}.html.j2").render(context)

    def text(self, message: Message) -> str:
        return self.render(message)[0]
