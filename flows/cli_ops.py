"""Operating newswatch: a starter config, schedules, the Prefect server and its UI.

    newswatch init [newswatch.toml]               # a commented starter config
    newswatch schedules [--json]                  # the deployments serve/deploy would create
    newswatch server [--port 4200]                # Prefect's server and UI, in the foreground
    newswatch serve                               # poll every source on its schedule, here
    newswatch deploy --pool newswatch             # ...or on the workers of a work pool

`serve` and `deploy` need a Prefect server: `PREFECT_API_URL` (or Prefect's profile)
names its API, e.g. http://127.0.0.1:4200/api. The config is `--config`, else
`NEWSWATCH_CONFIG`, else ./newswatch.toml. Exit status as for every command: 0 ok,
1 the server or the store is unreachable, 2 bad usage or config.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import typer
from rich.table import Table
from rich.text import Text

from flows.cli_common import JsonOption, err, fail, out, print_json, settings_from
from flows.settings import DEFAULT_CONFIG, Settings

if TYPE_CHECKING:
    from flows.deploy import Planned

CONFIG_VARIABLE = "NEWSWATCH_CONFIG"

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", envvar=CONFIG_VARIABLE, help="Config file (TOML).", show_default=True
    ),
]


def register(app: typer.Typer) -> None:
    """Add the operations commands to the `newswatch` app."""
    for command in (init, schedules, server, serve, deploy):
        app.command()(command)


def init(
    path: Annotated[Path, typer.Argument(help="Where to write it.")] = DEFAULT_CONFIG,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config to edit: sources, a rule, Mailpit, a schedule.

    Each kind of source is there, commented out; the email channel sends to Mailpit
    (docker-compose.yml) on localhost:1025; the fetch politeness defaults are spelled out.

    Example: newswatch init /srv/newswatch/newswatch.toml
    """

    if path.exists() and not force:
        raise fail(f"{path}: already exists (--force overwrites it)", code=2)
    try:
        path.write_text(STARTER_CONFIG, encoding="utf-8")
    except OSError as error:
        raise fail(f"{path}: cannot write: {error.strerror}", code=2) from None
    out.print(f"wrote {path}: uncomment a source, then: newswatch run --config {path}")


def schedules(config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False) -> None:
    """The deployments `serve` and `deploy` would create: one per distinct schedule.

    Example: newswatch schedules --config newswatch.toml --json
    """

    planned = _plan(_settings(config))
    if as_json:
        rows = [{"name": p.name, "schedule": str(p.timing), "sources": p.sources} for p in planned]
        print_json(rows)
        return
    table = Table(title=f"{len(planned)} deployments of the monitor flow")
    for column in ("deployment", "schedule", "sources"):
        table.add_column(column)
    for p in planned:
        table.add_row(Text(p.name), Text(str(p.timing)), Text(", ".join(p.sources)))
    out.print(table)


def server(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the API and UI.")] = 4200,
) -> None:
    """Run a Prefect server with its UI (`prefect server start`) until Ctrl-C.

    Its database is SQLite under PREFECT_HOME unless PREFECT_API_DATABASE_CONNECTION_URL
    names PostgreSQL (postgresql+asyncpg://user@host:5432/prefect). Then, elsewhere:
    PREFECT_API_URL=http://127.0.0.1:4200/api newswatch serve
    """

    env = {**os.environ, "PREFECT_SERVER_API_HOST": host, "PREFECT_SERVER_API_PORT": str(port)}
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry from newswatch
    err.print(f"Prefect UI: http://{host}:{port}  API: http://{host}:{port}/api", highlight=False)
    # The server replaces this process: signals and the exit status are Prefect's own.
    os.execve(sys.executable, [sys.executable, "-m", "prefect", "server", "start"], env)


def serve(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Poll every source on its schedule, in this process, until Ctrl-C or SIGTERM.

    Each run is a flow run of a deployment on the Prefect server, with its logs and
    artifacts in the UI. Schedules are paused when serving stops.
    Example: PREFECT_API_URL=http://127.0.0.1:4200/api newswatch serve -c newswatch.toml
    """
    from flows.deploy import serve_all

    settings = _settings(config)
    planned = _plan(settings)
    api = _prefect_api()
    names = ", ".join(repr(p.name) for p in planned)
    err.print(f"serving {names} on {api}; Ctrl-C stops", highlight=False, soft_wrap=True)
    serve_all(planned, config_path=str(settings.path))


def deploy(
    pool: Annotated[str, typer.Option("--pool", "-p", help="Work pool (created if missing).")],
    config: ConfigOption = DEFAULT_CONFIG,
    worker_config: Annotated[
        str | None,
        typer.Option(help="The config's absolute path on the workers [default: this one's]."),
    ] = None,
) -> None:
    """Register the deployments with a work pool, for `prefect worker start --pool NAME`.

    Workers need newswatch installed, the config at the same absolute path (or
    --worker-config) and a store they all reach: set NEWSWATCH_DATABASE_URL to PostgreSQL.
    Deployments of this config that the schedules no longer name are paused.
    Example: newswatch deploy --pool newswatch --config /srv/newswatch/newswatch.toml
    """
    import asyncio

    from flows.deploy import deploy_all

    settings = _settings(config)
    planned = _plan(settings)
    target = worker_config or str(settings.path)
    if not Path(target).is_absolute():
        raise fail(f"--worker-config: {target!r} is not an absolute path", code=2)
    _prefect_api()
    if settings.database.url.startswith("sqlite"):
        err.print(
            "note: the store is SQLite; workers on other machines need a shared PostgreSQL "
            "store (NEWSWATCH_DATABASE_URL)",
            highlight=False,
        )
    try:
        done = asyncio.run(deploy_all(planned, pool=pool, config_path=target))
    except Exception as error:  # the server refused: one line, not a traceback
        raise fail(f"deploy failed: {type(error).__name__}: {error}", code=1) from None
    created = " (created)" if done.pool_created else ""
    for name in done.deployments:
        out.print(Text(f"deployed monitor/{name} to work pool {pool}{created}"))
    for name in done.paused:
        out.print(Text(f"paused monitor/{name}: no longer in this config's schedules"))
    out.print(Text(f"start a worker: prefect worker start --pool {pool}"))


def _settings(config: Path) -> Settings:

    return settings_from(config)


def _plan(settings: Settings) -> list[Planned]:
    from flows.deploy import plan

    if not settings.sources:
        raise fail(f"{settings.path}: sources: none configured, nothing to schedule", code=2)
    if all(source.paused for source in settings.sources):
        raise fail(f"{settings.path}: sources: every one is paused, nothing to schedule", code=2)
    return plan(settings)


def _prefect_api() -> str:
    """The Prefect API URL, checked to answer: exit 2 when none is set, 1 when it is down."""
    from prefect.settings import PREFECT_API_URL

    url: str | None = PREFECT_API_URL.value()
    if not url:
        raise fail(
            "no Prefect server: set PREFECT_API_URL, e.g. http://127.0.0.1:4200/api "
            "after `newswatch server`",
            code=2,
        )
    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=10).raise_for_status()
    except httpx.HTTPError as error:
        raise fail(f"the Prefect API at {url} is not answering: {error}", code=1) from None
    return url


STARTER_CONFIG = """\
# newswatch config, written by `newswatch init`. The README's "Config reference" explains
# every key; unknown keys are errors. Relative paths are relative to this file.
#   newswatch run --config newswatch.toml       one monitoring pass, now
#   newswatch serve --config newswatch.toml     poll on the schedules below (Prefect server)

[database]
url = "sqlite:///newswatch.db"          # NEWSWATCH_DATABASE_URL overrides it
# url = "postgresql+psycopg://newswatch@127.0.0.1:5432/newswatch"
# run_details_days = 90                 # then a run's row keeps its times and totals only

[fetch]
# Politeness towards the sites you watch.
concurrency = 8                         # requests in flight at once
per_host_concurrency = 2                # ...and to one host
per_host_delay = 1.0                    # seconds between two requests to one host
respect_robots = true                   # robots.txt is honoured for article pages
timeout = 20                            # seconds per connect or read step
total_timeout = 60                      # seconds per request, body included
max_bytes = 5000000                     # a larger response is cut, not read
retries = 3                             # on timeouts, dropped connections, 429 and 5xx
# user_agent = "newswatch/0.1 (+https://example.org/contact)"   # say who you are

[schedule]
every = "15m"                           # sources with no schedule of their own (s, m, h, d)
# cron = "*/15 * * * *"                 # ...or a cron line (UTC) instead of every

[health]
quiet_after = "7d"                      # a feed listing nothing new this long is called quiet

# Sources: uncomment one or more and edit them. Names are unique.

# [[sources]]
# name = "dw"
# feed = "https://rss.dw.com/rdf/rss-en-all"      # RSS, Atom, RDF or JSON Feed
# every = "10m"                                   # its own interval...
# quiet_after = "2d"                              # a wire feed: quiet sooner ("off": never)

# [[sources]]
# name = "example-news"
# sitemap = "https://example.org/news-sitemap.xml"
# schedule = "0 * * * *"                          # ...or its own cron line (UTC)

# [[sources]]
# name = "desk-seeds"
# seeds = "seeds/"                                # a file, a directory or a glob

# [[sources]]
# name = "watchlist"
# urls = ["https://example.org/news/1"]           # pages fetched as articles

[[rules]]
name = "example"
query = '"missile launcher" OR "air defence"'     # "phrases", words, OR, NOT, -word, ( )
channels = ["mailpit"]

# Mailpit from docker-compose.yml catches the mail: read it at http://localhost:8025
[channels.mailpit]
type = "email"
to = ["desk@example.org"]
from = "newswatch@example.org"
smtp_host = "localhost"
smtp_port = 1025
security = "none"                       # "starttls" or "ssl" for a real server
# username = "bot"                      # its password is read from NEWSWATCH_SMTP_PASSWORD
"""
