"""The growth path: N feeds polled by 1 and by 2 Prefect workers against one PostgreSQL.

    python -m benchmarks.scale [--feeds 2000] [--entries 5] [--workers 1 2] [--groups N]

Takes the first `--feeds` feed names of ../shared/corpus/feeds/feedjira/top5kfeeds.dat
and serves, on 127.0.0.1 from a process of its own, one small RSS feed per name
(`--entries` items, with ETag for conditional GETs), each item linking to an article
page built from an annotated corpus body, with its paragraphs rotated and a line of
its own so that no two pages are duplicates.

The sources are split over `--groups` schedules (1 per 500 feeds, >= 4, by default), so
`newswatch deploy` registers that many deployments (their schedules paused: the
benchmark starts the runs). One `newswatch server` on a fresh PostgreSQL database;
per worker count, a fresh newswatch PostgreSQL database and that many
`prefect worker start --pool P --limit L`. Each scenario polls twice: the first
poll fetches, extracts and stores every page; the second finds every feed
unchanged (304), the steady state of conditional GETs.

Baseline, in the same run: the same feeds and pages fetched with httpx on asyncio and
extracted with plain trafilatura on a process pool of every core, nothing stored and
no Prefect; then the feeds again with their ETags. Ratios are newswatch / baseline.

CPU seconds per component come from sampling /proc every 0.2 s (processes that live
shorter than that are missed; "other" is the machine's busy time not attributed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from benchmarks.baseline import trafilatura_text
from benchmarks.ingest import CORPUS, busy_jiffies

FEEDS = CORPUS.parent / "feeds" / "feedjira" / "top5kfeeds.dat"
PG = "postgres@127.0.0.1:5432"
POOL = "newswatch-scale"
SAMPLE = 0.2  # seconds between /proc samples
RUN_TIMEOUT = 3600
ARTICLE = (
    "<!doctype html><html lang='en'><head><title>{title}</title></head><body>"
    "<nav>Home | World | Business</nav><article><h1>{title}</h1>{paragraphs}</article>"
    "<footer>Loopback News</footer></body></html>"
)
_UNSAFE = re.compile(r"[^A-Za-z0-9/._-]+|//+|/\.+(?=/)")
_LINK = re.compile(r"<link>([^<]+)</link>")


# --- the feeds and pages -------------------------------------------------------------


def feed_paths(path: Path, count: int) -> list[str]:
    """The first `count` feed URLs of the list as loopback paths: `/<n>/<host><path>`."""
    lines = [line.split("\t", 1)[0] for line in path.read_text(errors="replace").splitlines()]
    urls = [line for line in lines if line.startswith("http")][:count]
    return [
        f"/{n}/{_UNSAFE.sub('-', urlsplit(u).netloc + urlsplit(u).path).lstrip('/')}"
        for n, u in enumerate(urls)
    ]


def article_html(bodies: list[str], number: int) -> str:
    """Page `number`: a corpus body with its paragraphs rotated and a line of its own."""
    body = bodies[number % len(bodies)]
    paragraphs = [p for p in body.split("\n") if p.strip()] or [body]
    shift = (number // len(bodies)) % len(paragraphs)
    rotated = paragraphs[shift:] + paragraphs[:shift]
    own = f"This is dispatch {number} of the loopback desk, filed as item {number * 7919}."
    html = "".join(f"<p>{p}</p>" for p in [own, *rotated])
    return ARTICLE.format(title=f"Dispatch {number}", paragraphs=html)


def _serve_forever(paths: list[str], entries: int, bodies: list[str], connection: Any) -> None:
    from tests.servers import FaultyHTTPServer

    server = FaultyHTTPServer().start()
    server.served = _Discard()  # the server would keep a record of every request
    for n, path in enumerate(paths):
        items = []
        for j in range(entries):
            page = n * entries + j
            url = server.route(f"/a/{page}", article_html(bodies, page))
            items.append(
                f"<item><title>Dispatch {page}</title><link>{url}</link><guid>g{page}</guid>"
                "<pubDate>Sun, 02 Mar 2025 10:00:00 GMT</pubDate></item>"
            )
        feed = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {n}</title><link>{server.base_url}/</link>{''.join(items)}"
            "</channel></rss>"
        )
        server.conditional(path, feed, etag=f'"v{n}"')
    connection.send(server.base_url)
    threading.Event().wait()


class _Discard(list):
    def append(self, item: Any) -> None:
        pass


@contextmanager
def served(paths: list[str], entries: int, bodies: list[str]) -> Iterator[tuple[str, int]]:
    """The feeds served from a process of their own; yields their base URL and its pid."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_serve_forever, args=(paths, entries, bodies, child), daemon=True
    )
    process.start()
    try:
        yield parent.recv(), process.pid or 0
    finally:
        process.terminate()
        process.join()


# --- the baseline --------------------------------------------------------------------


async def baseline(urls: list[str], *, workers: int) -> tuple[float, int, float]:
    """Plain httpx + trafilatura: seconds for the first poll, pages, seconds for a poll of
    conditional GETs."""
    context = multiprocessing.get_context("forkserver")
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(16)
    limits = httpx.Limits(max_connections=16)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as executor:
        list(executor.map(abs, range(workers)))
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:

            async def get(url: str, **headers: str) -> httpx.Response:
                async with gate:
                    return await client.get(url, headers=headers)

            async def page(url: str) -> str:
                body = (await get(url)).content
                return await loop.run_in_executor(executor, trafilatura_text, body, url)

            async def feed(url: str) -> tuple[str, list[str]]:
                response = await get(url)
                links = _LINK.findall(response.text)[1:]  # the first is the channel's
                texts = await asyncio.gather(*(page(link) for link in links))
                return response.headers.get("etag", ""), texts

            started = time.perf_counter()
            polled = await asyncio.gather(*(feed(u) for u in urls))
            first = time.perf_counter() - started
            started = time.perf_counter()
            again = await asyncio.gather(
                *(
                    get(u, **{"If-None-Match": etag})
                    for u, (etag, _) in zip(urls, polled, strict=True)
                )
            )
            second = time.perf_counter() - started
    assert all(r.status_code == 304 for r in again), "the feeds should answer 304"
    return first, sum(len(texts) for _, texts in polled), second


# --- CPU per component ---------------------------------------------------------------


@dataclass
class Roots:
    """The processes whose trees are components, and the databases whose backends are."""

    server: int = 0
    feeds: int = 0
    workers: set[int] = field(default_factory=set)
    databases: dict[str, str] = field(default_factory=dict)  # name -> component


def _stat(pid: str) -> tuple[int, int, int] | None:
    """(ppid, starttime, utime+stime) of a process, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19]), int(fields[11]) + int(fields[12])


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class CPUSampler:
    """CPU jiffies per component, from /proc samples in a thread of this process."""

    def __init__(self, roots: Roots) -> None:
        self.roots = roots
        self.seen: dict[tuple[int, int], tuple[str, int]] = {}  # (pid, start) -> (part, cpu)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> CPUSampler:
        self.sample()
        self.before = dict(self.seen)
        self.busy = busy_jiffies()
        self.started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
        self.seconds = time.perf_counter() - self.started
        self.busy = busy_jiffies() - self.busy

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE):
            self.sample()

    def sample(self) -> None:
        stats = {pid: s for pid in os.listdir("/proc") if pid.isdigit() and (s := _stat(pid))}
        parents = {int(pid): s[0] for pid, s in stats.items()}
        for pid, (_, start, cpu) in stats.items():
            key = (int(pid), start)
            part = self.seen[key][0] if key in self.seen else self._part(int(pid), parents)
            self.seen[key] = (part, cpu)

    def _part(self, pid: int, parents: dict[int, int]) -> str:
        command = _cmdline(str(pid))
        if command.startswith("postgres"):
            return next(
                (part for db, part in self.roots.databases.items() if f" {db} " in command),
                "postgres, other",
            )
        chain, node = [], pid
        while node > 1 and len(chain) < 50:
            chain.append(node)
            node = parents.get(node, 0)
        if self.roots.server in chain:
            return "prefect server"
        if self.roots.feeds in chain:
            return "feed server (loopback)"
        if any(w in chain for w in self.roots.workers):
            if "multiprocessing" in command:
                return "extraction processes"
            return "worker" if pid in self.roots.workers else "flow-run processes"
        if os.getpid() in chain:
            return "benchmark, other processes"
        return f"other: {command.split(' ', 1)[0].rsplit('/', 1)[-1][:20] or 'kernel'}"

    def parts(self) -> dict[str, float]:
        """CPU seconds per component between enter and exit."""
        totals: dict[str, float] = {}
        for key, (part, cpu) in self.seen.items():
            spent = cpu - self.before.get(key, (part, 0))[1]
            totals[part] = totals.get(part, 0) + spent / os.sysconf("SC_CLK_TCK")
        return totals


# --- Prefect, PostgreSQL and the scenarios -------------------------------------------


def admin_engine() -> Any:
    from sqlalchemy import create_engine

    return create_engine(f"postgresql+psycopg://{PG}/postgres", isolation_level="AUTOCOMMIT")


@contextmanager
def database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    from sqlalchemy import text

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def prefect_server(home: Path, roots: Roots) -> Iterator[Any]:
    """`newswatch server` on a fresh PostgreSQL database, as tests/ops/conftest.py starts it."""
    from tests.ops.conftest import SERVER_STARTUP, PrefectServer
    from tests.ops.harness import newswatch, start, stop, wait_until
    from tests.servers import free_port

    with database("nw_scale_prefect") as db:
        roots.databases[db] = "postgres, prefect db"
        url = f"http://127.0.0.1:{free_port()}"
        server = PrefectServer(url, home)
        env = {
            **server.client_env(home),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://{PG}/{db}",
        }
        del env["PREFECT_API_URL"]
        log = home / "server.log"
        process = start(newswatch("server", "--port", url.rsplit(":", 1)[1]), env=env, log=log)
        roots.server = process.pid
        try:
            wait_until(server.api.healthy, timeout=SERVER_STARTUP, what="server", log=log)
            yield server
        finally:
            stop(process)


def write_config(folder: Path, *, db: str, base: str, paths: list[str], groups: int) -> Path:
    """One source per feed, `groups` distinct schedules (so as many deployments)."""
    sources = "".join(
        f'[[sources]]\nname = "feed-{n:05d}"\nfeed = "{base}{path}"\n'
        f'every = "{1000 + n % groups}d"\n\n'
        for n, path in enumerate(paths)
    )
    config = folder / f"{db}.toml"
    config.write_text(
        f'[database]\nurl = "postgresql+psycopg://{PG}/{db}"\n\n'
        '[fetch]\nallow_networks = ["127.0.0.0/8"]\nper_host_delay = 0\n'
        "concurrency = 16\nper_host_concurrency = 16\nrespect_robots = false\n\n" + sources,
        encoding="utf-8",
    )
    return config


def deploy(server: Any, config: Path, folder: Path) -> list[str]:
    """`newswatch deploy` to the pool, schedules paused; the deployments' ids."""
    from tests.ops.harness import newswatch, start

    log = folder / "deploy.log"
    process = start(
        newswatch("deploy", "--pool", POOL, "-c", str(config)),
        env=server.client_env(folder / "p"),
        log=log,
    )
    if process.wait(300) != 0:
        raise SystemExit(f"newswatch deploy failed:\n{log.read_text()[-2000:]}")
    found = server.api.post(
        "/deployments/filter",
        {"deployments": {"tags": {"all_": ["newswatch"]}}, "limit": 200},
    )
    ids = [d["id"] for d in found if d["parameters"].get("config_path") == str(config)]
    for deployment_id in ids:
        httpx.patch(
            f"{server.api.url}/deployments/{deployment_id}", json={"paused": True}
        ).raise_for_status()
    return ids


@dataclass
class Poll:
    seconds: float
    flow_runs: int
    failed: list[str]  # the state messages of the runs that did not complete
    task_runs: int
    articles: int
    cpu: dict[str, float]
    busy: float


def poll(server: Any, deployments: list[str], roots: Roots, *, store: str) -> Poll:
    """One flow run per deployment, all started at once; waits for them all to finish."""
    from tests.ops.harness import wait_until

    api = server.api
    before = count_articles(store)
    with CPUSampler(roots) as sampler:
        runs = [create_run(api, d) for d in deployments]
        body = {"flow_runs": {"id": {"any_": runs}}}
        final = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}

        def finished() -> list[Any] | None:
            found = api.post("/flow_runs/filter", body)
            return found if all(r["state_type"] in final for r in found) else None

        done = wait_until(
            finished,
            timeout=RUN_TIMEOUT,
            what="the poll's flow runs",
            interval=0.5,
        )
    tasks = settled(lambda: api.post("/task_runs/count", body))
    return Poll(
        seconds=sampler.seconds,
        flow_runs=len(runs),
        failed=[r["state"]["message"] for r in done if r["state_type"] != "COMPLETED"],
        task_runs=tasks,
        articles=count_articles(store) - before,
        cpu=sampler.parts(),
        busy=sampler.busy / os.sysconf("SC_CLK_TCK"),
    )


def create_run(api: Any, deployment: str, *, attempts: int = 5) -> str:
    """A flow run of `deployment`; a busy server may answer 500 (its database pool timed
    out), so up to `attempts` tries, two seconds apart."""
    for attempt in range(attempts):
        try:
            return api.post(f"/deployments/{deployment}/create_flow_run", {})["id"]
        except httpx.HTTPStatusError as error:
            print(f"create_flow_run: {error.response.status_code}, attempt {attempt + 1}")
            time.sleep(2)
    raise SystemExit(f"the server refused a flow run of {deployment} {attempts} times")


def settled(count: Any, *, quiet: float = 3, timeout: float = 60) -> int:
    """`count()` once it has not changed for `quiet` seconds: task runs reach the API
    as events, some time after their flow run has finished."""
    deadline, last = time.monotonic() + timeout, -1
    while (value := count()) != last and time.monotonic() < deadline:
        last = value
        time.sleep(quiet)
    return value


def count_articles(store: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"postgresql+psycopg://{PG}/{store}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM articles")).scalar_one())
    finally:
        engine.dispose()


@contextmanager
def workers(server: Any, count: int, limit: int, folder: Path, roots: Roots) -> Iterator[None]:
    from tests.ops.harness import newswatch, start, stop

    prefect = str(Path(newswatch()[0]).with_name("prefect"))
    env = {**server.client_env(folder / "p"), "PREFECT_WORKER_QUERY_SECONDS": "1"}
    started = [
        start(
            [prefect, "worker", "start", "--pool", POOL, "--limit", str(limit)],
            env=env,
            log=folder / f"worker-{n}.log",
            cwd=folder,
        )
        for n in range(count)
    ]
    roots.workers = {p.pid for p in started}
    try:
        yield
    finally:
        for process in started:
            stop(process)


def scenario(
    server: Any,
    args: argparse.Namespace,
    count: int,
    base: str,
    paths: list[str],
    roots: Roots,
    folder: Path,
) -> list[Poll]:
    from storage import open_store

    with database("nw_scale_store") as store:
        roots.databases[store] = "postgres, newswatch db"
        config = write_config(folder, db=store, base=base, paths=paths, groups=args.groups)
        open_store(f"postgresql+psycopg://{PG}/{store}").dispose()  # migrated beforehand
        deployments = deploy(server, config, folder)
        with workers(server, count, args.limit, folder, roots):
            polls = [poll(server, deployments, roots, store=store) for _ in range(2)]
        del roots.databases[store]
    return polls


# --- the report ----------------------------------------------------------------------


def report(
    feeds: int, base: tuple[float, int, float], results: dict[int, list[Poll]]
) -> dict[str, Any]:
    first, pages, second = base
    print(f"{feeds} feeds, {pages} pages; baseline (httpx + trafilatura, no store, no Prefect):")
    print(
        f"  first poll {first:.1f} s, {pages / first:.1f} articles/s; "
        f"second poll (304s) {second:.2f} s"
    )
    print(
        f"{'':<22}{'wall s':>8}{'runs/min':>9}{'tasks':>7}{'tasks/s':>8}{'articles':>9}"
        f"{'art/s':>7}{'ratio':>7}{'cores':>7}"
    )
    rows: dict[str, Any] = {"feeds": feeds, "pages": pages, "baseline": base, "runs": {}}
    for count, polls in results.items():
        for name, p, against in (("first", polls[0], first), ("second", polls[1], second)):
            label = f"{count} worker{'s' * (count > 1)}, {name}"
            print(
                f"{label:<22}{p.seconds:>8.1f}{p.flow_runs / p.seconds * 60:>9.1f}{p.task_runs:>7}"
                f"{p.task_runs / p.seconds:>8.1f}{p.articles:>9}{p.articles / p.seconds:>7.1f}"
                f"{against / p.seconds:>7.2f}{p.busy / p.seconds:>7.2f}"
                + (f"  ({len(p.failed)} runs failed: {p.failed})" if p.failed else "")
            )
            attributed = sum(p.cpu.values())
            shares = sorted(
                {**p.cpu, "other (unattributed)": max(p.busy - attributed, 0)}.items(),
                key=lambda kv: -kv[1],
            )
            print(
                "    CPU s: "
                + ", ".join(f"{k} {v:.1f} ({v / p.busy:.0%})" for k, v in shares if v >= 0.05)
            )
            rows["runs"][label] = p.__dict__
    print("ratio: baseline wall time / newswatch wall time for the same poll (1.0 = as fast)")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--groups", type=int, help="schedules, so deployments (default: 1 per 500 feeds, >= 4)"
    )
    parser.add_argument("--limit", type=int, default=2, help="flow runs at once per worker")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    truth = CORPUS / "ground-truth.json"
    if not FEEDS.exists() or not truth.exists():
        parser.exit(1, f"{FEEDS} or {truth}: absent, the shared corpus is missing\n")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    paths = feed_paths(FEEDS, args.feeds)
    # at least 4 runs per poll, so two workers of `--limit 2` all have one
    args.groups = args.groups or max(4, -(-len(paths) // 500))
    bodies = [item["articleBody"] for item in json.loads(truth.read_text()).values()]
    roots = Roots()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, served(paths, args.entries, bodies) as (base, pid):
        roots.feeds = pid
        cores = os.cpu_count() or 1
        measured = asyncio.run(baseline([base + p for p in paths], workers=cores))
        results = {}
        with prefect_server(Path(tmp) / "server", roots) as server:
            for count in args.workers:
                folder = Path(tmp) / f"w{count}"
                folder.mkdir()
                results[count] = scenario(server, args, count, base, paths, roots, folder)
                report(len(paths), measured, {count: results[count]})  # in case a later fails
        rows = report(len(paths), measured, results)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
