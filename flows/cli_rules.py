"""`newswatch rules`: check the config's rule queries, dry-run a query over stored articles.

    newswatch rules check [--config newswatch.toml] [--json]
    newswatch rules test '"missile launcher" NEAR/5 test*' [--since DATE] [--limit N] [--json]

`check` reads the `[[rules]]` tables itself, so it reports every invalid rule
at once, where loading the config stops at the first problem. `test` matches
one query against the stored articles exactly as a rule would, and prints what
would have fired: nothing is sent, nothing is written.
"""

from __future__ import annotations

import tomllib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text
from sqlmodel import Session

from alerts import Document, Match, Query, QueryError, Rule, parse_query
from flows.cli_common import (
    ConfigOption,
    JsonOption,
    UntilOption,
    counted,
    err,
    fail,
    open_engine,
    out,
    parse_since,
    parse_until,
    print_json,
    settings_from,
)
from flows.settings import DEFAULT_CONFIG, problem_in
from storage import Article, iter_articles

rules_app = typer.Typer(
    help="Alert rules: check the config's queries, dry-run a query.", no_args_is_help=True
)


@dataclass(frozen=True)
class RuleProblem:
    """Why one `[[rules]]` table is invalid; `position` is into its query, if about it."""

    index: int
    name: str
    message: str
    position: int | None = None

    def line(self) -> str:
        where = f" at position {self.position}" if self.position is not None else ""
        return f"rule {self.name!r} (rules[{self.index}]): {self.message}{where}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "message": self.message,
            "position": self.position,
        }


@rules_app.command("check")
def check(config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False) -> None:
    """Validate every rule in the config; list all invalid ones (exit 2), else the rules.

    Example: newswatch rules check --config newswatch.toml
    """
    tables, channels = _rule_tables(config)
    problems = [
        problem
        for index, table in enumerate(tables)
        for problem in rule_problems(index, table, channels=channels)
    ]
    problems = sorted(problems + _duplicate_names(tables), key=lambda problem: problem.index)
    if as_json:
        views = [] if problems else [_rule_view(table) for table in tables]
        report = {"rules": views, "problems": [problem.to_dict() for problem in problems]}
        print_json(report)
    elif problems:
        _print_problems(config, problems, rules=len(tables))
    else:
        _print_rules(config, tables)
    if problems:
        raise typer.Exit(2)


def _print_problems(config: Path, problems: list[RuleProblem], *, rules: int) -> None:
    for problem in problems:
        err.print(f"newswatch: error: {config}: {problem.line()}", markup=False, soft_wrap=True)
    invalid = len({problem.index for problem in problems})
    err.print(f"{invalid} of {rules} rules invalid", markup=False)


def _print_rules(config: Path, tables: list[Any]) -> None:
    table = Table(title=Text(f"{counted(len(tables), 'rule')} OK in {config}"))
    for column in ("rule", "query", "channels"):
        table.add_column(column, overflow="fold")
    for view in map(_rule_view, tables):
        table.add_row(Text(view["name"]), Text(view["query"]), Text(", ".join(view["channels"])))
    out.print(table)


def _rule_tables(config: Path) -> tuple[list[Any], set[str]]:
    """The raw `[[rules]]` entries and the configured channel names."""

    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail(f"{config}: file not found", code=2) from None
    except (OSError, UnicodeDecodeError) as error:
        raise fail(f"{config}: cannot read: {error}", code=2) from None
    except tomllib.TOMLDecodeError as error:
        raise fail(f"{config}: invalid TOML: {error}", code=2) from None
    rules, channels = data.get("rules", []), data.get("channels", {})
    if not isinstance(rules, list):
        raise fail(f"{config}: rules: must be an array of tables ([[rules]])", code=2)
    return rules, set(channels) if isinstance(channels, dict) else set()


def rule_problems(index: int, table: Any, *, channels: set[str]) -> list[RuleProblem]:
    """Everything wrong with one `[[rules]]` table: its query with the position, its
    other keys as the config loader would say, and channels that are not configured."""
    if not isinstance(table, dict):
        return [RuleProblem(index, "?", "not a table")]
    name = str(table.get("name", "?"))
    problems: list[RuleProblem] = []
    query = table.get("query")
    if isinstance(query, str):
        try:
            parse_query(query)
        except QueryError as error:
            problems.append(RuleProblem(index, name, error.message, error.position))
    try:
        Rule.model_validate(table)
    except ValidationError as error:
        problems += [
            RuleProblem(index, name, _pydantic_message(detail))
            for detail in error.errors()
            if detail["loc"] != ("query",) or not isinstance(query, str)
        ]
    wanted = table.get("channels")
    for channel in wanted if isinstance(wanted, list) else ():
        if channel not in channels:
            known = ", ".join(sorted(channels)) or "none configured"
            problems.append(
                RuleProblem(index, name, f"unknown channel {channel!r} (known: {known})")
            )
    return problems


def _pydantic_message(detail: Any) -> str:
    key = ".".join(str(part) for part in detail["loc"])
    return f"{key}: {problem_in(detail)}"


def _duplicate_names(tables: list[Any]) -> list[RuleProblem]:
    first: dict[str, int] = {}
    problems = []
    for index, table in enumerate(tables):
        name = table.get("name") if isinstance(table, dict) else None
        if isinstance(name, str) and name in first:
            message = f"name also used by rules[{first[name]}]"
            problems.append(RuleProblem(index, name, message))
        elif isinstance(name, str):
            first[name] = index
    return problems


def _rule_view(table: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": table["name"],
        "query": table["query"],
        "channels": list(table.get("channels", [])),
    }


LimitOption = Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many.")]
SinceOption = Annotated[
    str | None,
    typer.Option(help="Only articles from this date or time on (ISO 8601; UTC if no zone)."),
]


@rules_app.command("test")
def dry_run_query(
    query: Annotated[
        str,
        typer.Argument(help='A rule query; put "--" before one that starts with "-".'),
    ],
    config: ConfigOption = DEFAULT_CONFIG,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: LimitOption = 20,
    as_json: JsonOption = False,
) -> None:
    """Dry-run a query over the stored articles: what would have fired, newest first.

    Nothing is sent and nothing is written.
    Example: newswatch rules test '"missile launcher" -drill site:reuters.com' --since 2025-03-01
    """

    try:
        compiled = parse_query(query)
    except QueryError as error:
        raise fail(f"query {query!r}: {error}", code=2) from None
    settings = settings_from(config)
    after, before = parse_since(since), parse_until(until)
    with open_engine(settings) as engine, Session(engine) as session:
        found = DryRun.of(compiled, _documents(session, since=after, until=before), limit=limit)
    if as_json:
        print_json([hit.to_dict() for hit in found.hits])
    else:
        _print_dry_run(query, found, limit=limit)


@dataclass(frozen=True)
class WouldFire:
    """One stored article the query matches, with why."""

    article: Article
    source: str
    match: Match

    def to_dict(self) -> dict[str, Any]:
        published = self.article.published_at
        return {
            "title": self.article.title,
            "url": self.article.url,
            "source": self.source,
            "published_at": published.isoformat() if published else None,
            "terms": list(self.match.terms),
            "field": self.match.field,
            "snippet": self.match.snippet,
            "snippet_start": self.match.snippet_start,
            "snippet_end": self.match.snippet_end,
        }


@dataclass(frozen=True)
class DryRun:
    """The newest `limit` matches, newest first, of `matched` among `scanned` articles."""

    hits: list[WouldFire]
    matched: int
    scanned: int

    @classmethod
    def of(
        cls, query: Query, documents: Iterator[tuple[Article, str, Document]], *, limit: int
    ) -> DryRun:
        newest: deque[WouldFire] = deque(maxlen=limit)
        matched = scanned = 0
        for article, source, document in documents:
            scanned += 1
            match = query.match_document(document)
            if match is not None:
                matched += 1
                newest.append(WouldFire(article, source, match))
        return cls(list(reversed(newest)), matched, scanned)


def _documents(
    session: Session, *, since: datetime | None, until: datetime | None = None
) -> Iterator[tuple[Article, str, Document]]:
    """Stored articles, oldest first, each tokenised as the alert engine sees it."""
    for article, source in iter_articles(session=session, since=since, until=until):
        document = Document.of(
            title=article.title,
            text=article.text,
            source=source,
            site=article.url,
            lang=article.language,
        )
        yield article, source, document


def _print_dry_run(query: str, found: DryRun, *, limit: int) -> None:
    """Article text is printed as plain text, never parsed as rich markup."""

    shown = f"; the {limit} newest shown" if found.matched > limit else ""
    title = f"{found.matched} of {found.scanned} stored articles match {query!r}{shown}"
    table = Table(title=Text(title))
    table.add_column("article: source · published", overflow="fold", ratio=2)
    table.add_column("terms", overflow="fold", ratio=1)
    table.add_column("snippet", overflow="fold", ratio=2)
    for hit in found.hits:
        published = hit.article.published_at
        when = published.date().isoformat() if published else "date unknown"
        table.add_row(
            Text.assemble(
                (hit.article.title, "bold"),
                "\n",
                f"{hit.source} · {when}",
                "\n",
                (hit.article.url, "dim"),
            ),
            Text(", ".join(hit.match.terms)),
            _bolded(hit.match),
        )
    out.print(table)
    out.print("dry run: nothing was sent or written")


def _bolded(match: Match) -> Text:
    snippet = match.snippet
    return Text.assemble(
        snippet[: match.snippet_start],
        (snippet[match.snippet_start : match.snippet_end], "bold"),
        snippet[match.snippet_end :],
    )


# `rules backfill` writes alerts, unlike the commands above, so it lives in its own module.
from flows.cli_backfill import backfill  # noqa: E402

rules_app.command("backfill")(backfill)
