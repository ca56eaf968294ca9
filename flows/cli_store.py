"""The commands that read the store: `export`, `search`, `stories`.

newswatch export --format jsonl [--since DATE] [--source NAME] [--output FILE]
newswatch search QUERY [--since DATE] [--source NAME] [--limit N] [--json]
newswatch stories [--since DATE] [--limit N] [--json]
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from sqlmodel import Session

from flows.cli_common import (
    ConfigOption,
    JsonOption,
    LimitOption,
    SinceOption,
    UntilOption,
    counted,
    fail,
    minutes,
    open_engine,
    out,
    parse_since,
    parse_until,
    print_json,
    settings_from,
)
from flows.settings import DEFAULT_CONFIG
from storage import iter_articles, recent_stories, search


def register(app: typer.Typer) -> None:
    """Add the store's commands to the `newswatch` app."""
    app.command()(export)
    app.command("search")(search_command)
    app.command()(stories)


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    json = "json"


def export(
    config: ConfigOption = DEFAULT_CONFIG,
    format: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.jsonl,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File, else stdout.")
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    source: Annotated[str | None, typer.Option(help="Only this source's articles.")] = None,
    run: Annotated[
        int | None, typer.Option(help="Only the articles this run stored (`runs list`).")
    ] = None,
) -> None:
    """Export stored articles: one JSON object a line (jsonl) or one JSON array.

    Example: newswatch export --format jsonl --since 2025-03-01 --source dw -o articles.jsonl
    """
    settings = settings_from(config)
    after, before = parse_since(since), parse_until(until)
    with open_engine(settings) as engine, Session(engine) as session:
        rows = iter_articles(session=session, since=after, until=before, source=source, run_id=run)
        records = (export_record(article, source_name) for article, source_name in rows)
        if output is None:
            write_export(records, format, sys.stdout)
        else:
            with output.open("w", encoding="utf-8") as handle:
                write_export(records, format, handle)


def write_export(records: Iterator[dict[str, Any]], format: ExportFormat, handle: Any) -> None:
    if format is ExportFormat.jsonl:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        json.dump(list(records), handle, ensure_ascii=False)
        handle.write("\n")


def export_record(article: Any, source: str) -> dict[str, Any]:
    return {
        "id": article.id,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "title": article.title,
        "author": article.author,
        "published_at": article.published_at.isoformat() if article.published_at else None,
        "language": article.language,
        "site_name": article.site_name,
        "source": source,
        "story_id": article.story_id,
        "version": article.version,
        "final_url": article.final_url,
        "origin": article.origin,
        "categories": list(article.categories or []),
        "fetched_at": article.fetched_at.isoformat(),
        "text": article.text,
    }


def search_command(
    query: Annotated[
        str,
        typer.Argument(
            help='Words (all must occur), "a phrase", OR, -word; "--" before a leading -.'
        ),
    ],
    config: ConfigOption = DEFAULT_CONFIG,
    since: SinceOption = None,
    until: UntilOption = None,
    source: Annotated[str | None, typer.Option(help="Only this source's articles.")] = None,
    limit: LimitOption = 20,
    as_json: JsonOption = False,
) -> None:
    """Search stored articles' titles and texts, best match first, matched words in bold.

    Example: newswatch search '"north korea" missile -test' --since 2025-03-01 --json
    """
    settings = settings_from(config)
    after, before = parse_since(since), parse_until(until)
    with open_engine(settings) as engine, Session(engine) as session:
        try:
            hits = search(
                session=session,
                query=query,
                since=after,
                until=before,
                source=source,
                limit=limit,
            )
        except ValueError as error:
            raise fail(str(error), code=2) from None
    if as_json:
        print_json([hit.to_dict() for hit in hits])
        return
    table = Table(title=f"{counted(len(hits), 'article')} matching {query!r}")
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("article: source · published", overflow="fold", ratio=1)
    table.add_column("snippet", overflow="fold", ratio=1)
    for hit in hits:
        published = hit.published_at.date().isoformat() if hit.published_at else "date unknown"
        table.add_row(
            f"{hit.score:.3g}",
            Text.assemble(
                (hit.title, "bold"),
                "\n",
                (f"{hit.source} · {published}", ""),
                "\n",
                (hit.url, "dim"),
            ),
            _highlighted(hit.snippet),
        )
    out.print(table)


def _highlighted(snippet: str) -> Text:
    """The snippet with its `[marked]` words in bold (markers dropped, no markup parsed)."""
    text = Text()
    for part in re.split(r"(\[[^\]]*\])", snippet):
        marked = part.startswith("[") and part.endswith("]")
        text.append(part[1:-1] if marked else part, style="bold" if marked else "")
    return text


def stories(
    config: ConfigOption = DEFAULT_CONFIG,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: LimitOption = 20,
    as_json: JsonOption = False,
) -> None:
    """List stories seen since a date (or between two), biggest first, with their outlets.

    Example: newswatch stories --since 2025-03-01 --until 2025-03-07 --limit 10 --json
    """
    settings = settings_from(config)
    after, before = parse_since(since), parse_until(until)
    with open_engine(settings) as engine, Session(engine) as session:
        views = recent_stories(session=session, since=after, until=before, limit=limit)
    if as_json:
        print_json([view.to_dict() for view in views])
        return
    table = Table(title=counted(len(views), "story", "stories"))
    # 80 columns: the count and times whole, the story wider than its outlets
    table.add_column("articles", justify="right", no_wrap=True)
    table.add_column("story", overflow="fold", ratio=3)
    table.add_column("outlets", overflow="fold", ratio=1)
    table.add_column("seen (UTC)", no_wrap=True)
    for view in views:
        first, last = minutes(view.first_seen_at), minutes(view.last_seen_at)
        table.add_row(
            str(view.article_count),
            Text.assemble((view.title, "bold"), "\n", (view.first_url or "", "dim")),
            Text(", ".join(view.outlets)),
            first if last == first else f"{first}\n→ {last}",
        )
    out.print(table)
