"""What one run did, per source and in total: for the CLI table, `--json`, the stored
run row and the Prefect markdown artifact, all from the same numbers."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from alerts import DeliveryReport, Fired
from flows.pipeline import Failure
from storage import ArticleIn, shown_url

T = TypeVar("T")
SECTION_ROWS = 100  # rows of a markdown section; a line says how many more and where
_MARKUP = re.compile(r"([\\`*_{}\[\]()<>#!~&])")  # markdown's and HTML's special characters
_URL_BREAKERS = frozenset(" ()<>[]\\`\"'")  # would end a link's target or break out of it


@dataclass
class SourceReport:
    name: str
    kind: str
    found: int = 0  # entries, seed files or URLs the source listed this time
    already_stored: int = 0  # its URL is stored already: no page request, nothing new
    duplicates: int = 0  # the same text as a stored article, at another URL
    new: int = 0
    updated: int = 0  # stored articles whose text changed: a new version, no new alert
    not_articles: int = 0  # pages skipped as home pages, login walls, PDFs...
    failures: int = 0
    seconds: float = 0.0
    error: str | None = None  # the source as a whole failed
    skipped: str | None = None  # not polled this run, and why (a failing source backing off)
    unchanged: bool = False  # the feed answered 304 or sent the same body: nothing to parse
    moved_to: str | None = None  # a permanent redirect says the config should name this URL
    gone: bool = False  # it answered 410 Gone: its next attempt is a day away
    # It answers but has listed nothing new since then (ISO 8601), longer than its
    # `quiet_after`: a feed its site stopped updating, most likely.
    quiet_since: str | None = None


@dataclass
class RunSummary:
    run_id: int | None
    started_at: datetime
    finished_at: datetime | None = None
    flow_run_id: str | None = None
    sources: list[SourceReport] = field(default_factory=list)
    new_articles: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    deliveries: dict[str, Any] = field(default_factory=lambda: {"sent": 0, "pending": 0})
    failures: list[Failure] = field(default_factory=list)
    not_articles: list[Failure] = field(default_factory=list)

    def source(self, name: str) -> SourceReport:
        return next(report for report in self.sources if report.name == name)

    def add_alerts(self, fired: list[Fired], *, articles: list[ArticleIn]) -> None:
        """Record alerts fired on `articles` (the batch that fired them)."""
        by_url = {article.url: article for article in articles}
        for alert in fired:
            article = by_url.get(alert.url)
            published = article.published_at if article else None
            self.alerts.append(
                {
                    "id": alert.alert_id,
                    "rule": alert.rule,
                    "title": alert.title,
                    "url": alert.url,
                    "source": article.source if article else None,
                    "published_at": published.isoformat() if published else None,
                    "snippet": alert.snippet,
                    "channels": list(alert.channels),
                }
            )

    def add_deliveries(self, report: DeliveryReport) -> None:
        self.deliveries = {
            "sent": len(report.sent),
            "pending": len(report.failed),
            "failures": [
                {"alert_id": alert_id, "channel": channel, "reason": reason}
                for alert_id, channel, reason in report.failed
            ],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "flow_run_id": self.flow_run_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "totals": self.totals(),
            "sources": [asdict(report) for report in self.sources],
            "new_articles": self.new_articles,
            "duplicates": self.duplicates,
            "alerts": self.alerts,
            "deliveries": self.deliveries,
            "failures": [failure.to_dict() for failure in self.failures],
            "not_articles": [skipped.to_dict() for skipped in self.not_articles],
        }

    def record(self) -> dict[str, Any]:
        """`to_dict` as the store keeps it in the run's row: without the new articles and
        alerts, which their own tables hold by run (`newswatch export --run N`, `alerts
        list --run N`); their counts stay in the totals. A run firing 1,000 alerts wrote
        ~0.5 MB of them into the row, every run, for good."""
        return {
            key: value
            for key, value in self.to_dict().items()
            if key not in {"new_articles", "alerts"}
        }

    def totals(self) -> dict[str, int]:
        return {
            "sources": len(self.sources),
            "sources_failed": sum(1 for report in self.sources if report.error),
            "sources_skipped": sum(1 for report in self.sources if report.skipped),
            "found": sum(report.found for report in self.sources),
            "new": len(self.new_articles),
            "updated": sum(report.updated for report in self.sources),
            "not_articles": len(self.not_articles),
            "duplicates": sum(report.duplicates for report in self.sources),
            "already_stored": sum(report.already_stored for report in self.sources),
            "alerts": len(self.alerts),
            "deliveries_sent": self.deliveries["sent"],
            "deliveries_pending": self.deliveries["pending"],
            "failures": len(self.failures),
        }

    def to_markdown(self) -> str:
        totals = self.totals()
        lines = [
            f"# newswatch run {self.run_id}",
            "",
            f"{totals['new']} new articles, {totals['duplicates']} duplicates, "
            f"{totals['already_stored']} already stored; {totals['alerts']} alerts; "
            f"deliveries: {totals['deliveries_sent']} sent, "
            f"{totals['deliveries_pending']} pending; {totals['failures']} failures.",
            "",
            "| source | kind | found | already stored | new | duplicates | failures | seconds |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.sources:
            failures = f"{r.failures} (source failed)" if r.error else str(r.failures)
            failures = f"skipped: {_cell(r.skipped)}" if r.skipped else failures
            lines.append(
                f"| {_cell(r.name)} | {r.kind} | {r.found} | {r.already_stored} | {r.new} "
                f"| {r.duplicates} | {failures} | {r.seconds:.1f} |"
            )
        shown_in_full = f"`newswatch runs show {self.run_id}` lists them all"
        lines += _section(
            "Sources moved",
            ["source", "now at"],
            [[r.name, shown_url(r.moved_to)] for r in self.sources if r.moved_to],
        )
        lines += _section(
            "Sources gone quiet",
            ["source", "listed"],
            [
                [r.name, quiet_note(r.quiet_since, now=self.started_at)]
                for r in self.sources
                if r.quiet_since
            ],
        )
        lines += _capped_section(
            "Alerts fired",
            ["rule", "title", "channels"],
            self.alerts,
            lambda a: [a["rule"], _link(a["title"], a["url"]), ", ".join(a["channels"])],
            rest=f"`newswatch alerts list --run {self.run_id}` lists them all",
        )
        lines += _capped_section(
            "Failures",
            ["source", "input", "reason"],
            self.failures,
            lambda f: [f.source, shown_url(f.target), f.reason],
            rest=shown_in_full,
        )
        lines += _capped_section(
            "Pages skipped as not articles",
            ["source", "page", "reason"],
            self.not_articles,
            lambda p: [p.source, shown_url(p.target), p.reason],
            rest=shown_in_full,
        )
        lines += _section(
            "Deliveries waiting",
            ["alert", "channel", "reason"],
            [
                [d["alert_id"], d["channel"], d["reason"]]
                for d in self.deliveries.get("failures", [])
            ],
        )
        return "\n".join(lines) + "\n"


def counted(number: int, singular: str, plural: str | None = None) -> str:
    """`1 alert`, `2 alerts`; `plural` where adding an s is wrong (`2 stories`)."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def quiet_note(quiet_since: str, *, now: datetime) -> str:
    """A quiet source's silence as a run and `sources list` show it: `nothing new since
    2026-11-01 09:30 UTC (24 days)`."""
    since = datetime.fromisoformat(quiet_since)
    days = (now - since).days
    ago = "under a day" if days < 1 else counted(days, "day")
    return f"nothing new since {since:%Y-%m-%d %H:%M} UTC ({ago})"


def moved_note(moved_to: str) -> str:
    """What a source's permanent redirect asks of the user, wherever a run shows it."""
    return f"moved permanently to {shown_url(moved_to)}: update the config"


def _section(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return []
    lines = ["", f"## {title}", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def _capped_section(
    title: str, header: list[str], items: Sequence[T], row: Callable[[T], list[str]], *, rest: str
) -> list[str]:
    """`_section` of the first SECTION_ROWS of `items` (`row` makes each one's cells); when
    there are more, a line says how many and where `rest` of them are."""
    lines = _section(title, header, [row(item) for item in items[:SECTION_ROWS]])
    if len(items) > SECTION_ROWS:
        lines += ["", f"… and {len(items) - SECTION_ROWS} more: {rest}."]
    return lines


def _cell(value: str) -> str:
    """Markdown table cell text: one line, pipes escaped."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _link(title: str, url: str) -> str:
    """A markdown link to `url` reading `title`: what a stranger wrote in a title cannot
    end the link, start another or add markup (pipes are left to `_cell`)."""
    text = _MARKUP.sub(r"\\\1", title)
    target = "".join(f"%{ord(char):02X}" if char in _URL_BREAKERS else char for char in url)
    return f"[{text}]({target})"
