"""Article extraction throughput and quality against trafilatura alone.

    python -m benchmarks.ingest [--repeat 3] [--workers N] [--end-to-end [--stages] [--rules N]]

Loads the annotated article pages of ../shared/corpus/articles and extracts
all of them, worker pools started beforehand (start-up printed apart):

  baseline   a process pool of plain `trafilatura.bare_extraction`, with the
             settings `extract_article` uses, on every core;
  newswatch  `ExtractionPool` running `extract_article` (decoding, fallbacks,
             htmldate, not-an-article checks) on as many cores.

Prints articles/s for each (median of `--repeat` interleaved runs), their
ratio (goal >= 0.85), and extraction quality against the annotated bodies as
the Scrapinghub article-extraction-benchmark scores it: precision and recall
of word 4-gram shingles per page, averaged over pages, and F1 of the averages.

`--end-to-end` also times whole monitoring runs: the pages served on 127.0.0.1
(by a server in its own process) behind a generated RSS feed, 1,000 rules of
quoted corpus phrases (`--rules`), a SQLite store migrated beforehand in a temporary
directory, no per-host delay, a Prefect test server started beforehand:

  run        the `monitor` flow called in this process after one warm-up run
             over no sources (the process's one-time start-up is the CLI
             line's): fetch, extract, dedup, store, match, deliver,
             artifacts; its articles/s against trafilatura alone is the
             headline ratio (medians of `--repeat` rounds, each timing
             trafilatura alone too);
  CLI        `newswatch run` in a fresh process over a fresh store, whose
             interpreter, import and flow-run start-up is a fixed cost per
             process, printed apart (`newswatch serve` pays it too: Prefect
             runs each scheduled flow run in a process of its own).

`--stages` adds to each round the stages between the two without Prefect (see
`benchmarks.stages`): where the run's time goes.

"cores busy" is the machine's busy CPU time (from /proc/stat) over wall time;
the CPU-s lines say which processes spent it (see `benchmarks.cpu`), and the
last one what the run's own process costs an article: the throughput it caps
a run at, however many cores extract.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import multiprocessing
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerts.words import split_words
from benchmarks.baseline import trafilatura_text
from benchmarks.cpu import ceiling_line, cpu_line, cpu_snapshot
from flows.errors import ExtractError
from flows.items import Candidate
from flows.pool import ExtractionPool

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "articles"
SHINGLE = 4
GOAL = 0.85
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class Page:
    url: str
    body: bytes
    truth: str


@dataclass(frozen=True)
class Run:
    seconds: float
    texts: list[str]


def load_pages(root: Path) -> list[Page]:
    truth = json.loads((root / "ground-truth.json").read_text())
    return [
        Page(
            url=item["url"],
            body=gzip.decompress((root / f"{key}.html.gz").read_bytes()),
            truth=item["articleBody"],
        )
        for key, item in sorted(truth.items())
    ]


def run_baseline(executor: ProcessPoolExecutor, pages: list[Page]) -> Run:
    started = time.perf_counter()
    texts = list(executor.map(trafilatura_text, [p.body for p in pages], [p.url for p in pages]))
    return Run(time.perf_counter() - started, texts)


async def run_newswatch(pool: ExtractionPool, pages: list[Page]) -> Run:
    async def one(page: Page) -> str:
        try:
            article = await pool.extract(page.body, url=page.url, source="corpus")
        except ExtractError:
            return ""
        return article.text

    started = time.perf_counter()
    texts = await asyncio.gather(*(one(p) for p in pages))
    return Run(time.perf_counter() - started, list(texts))


def shingles(text: str) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text.lower())
    return Counter(tuple(tokens[i : i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1))


def quality(texts: list[str], pages: list[Page]) -> tuple[float, float, float]:
    """Precision, recall and F1 of word 4-gram shingles; an empty side scores 0 (1 if both are)."""
    precisions, recalls = [], []
    for text, page in zip(texts, pages, strict=True):
        found, expected = shingles(text), shingles(page.truth)
        common = sum((found & expected).values())
        precisions.append(common / sum(found.values()) if found else float(not expected))
        recalls.append(common / sum(expected.values()) if expected else float(not found))
    precision, recall = statistics.mean(precisions), statistics.mean(recalls)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


async def compare(pages: list[Page], *, workers: int, repeat: int) -> None:
    """Prints extraction alone against trafilatura alone."""
    context = multiprocessing.get_context("forkserver")
    started = time.perf_counter()
    async with ExtractionPool(workers=workers) as pool:
        await pool.warm_up()
        pool_start = time.perf_counter() - started
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as executor:
            list(executor.map(abs, range(workers)))
            baseline_start = time.perf_counter() - started
            baselines, ours = [], []
            for _ in range(repeat):
                baselines.append(run_baseline(executor, pages))
                ours.append(await run_newswatch(pool, pages))
    report(pages, baselines, ours, starts=(baseline_start, pool_start), workers=workers)


def report(
    pages: list[Page],
    baselines: list[Run],
    ours: list[Run],
    *,
    starts: tuple[float, float],
    workers: int,
) -> None:
    print(f"{len(pages)} pages, {workers} workers, median of {len(ours)} runs")
    print(f"{'':<12}{'articles/s':>11}{'start-up s':>12}{'precision':>11}{'recall':>8}{'F1':>7}")
    rates = []
    for name, runs, start in (
        ("trafilatura", baselines, starts[0]),
        ("newswatch", ours, starts[1]),
    ):
        rate = len(pages) / statistics.median(r.seconds for r in runs)
        rates.append(rate)
        precision, recall, f1 = quality(runs[-1].texts, pages)
        print(f"{name:<12}{rate:>11.1f}{start:>12.2f}{precision:>11.3f}{recall:>8.3f}{f1:>7.3f}")
    ratio = rates[1] / rates[0]
    verdict = "meets" if ratio >= GOAL else "misses"
    print(f"ratio newswatch / trafilatura: {ratio:.2f} ({verdict} the goal of {GOAL})")
    failed = sum(not text for text in ours[-1].texts)
    print(f"pages without article text in newswatch: {failed}")
    print("start-up: the first pool also starts the shared forkserver, which imports trafilatura")


RULES = 1000
PHRASE_WORDS = 3
E2E_FETCH = """[fetch]
allow_networks = ["127.0.0.0/8"]
per_host_delay = 0
per_host_concurrency = 8
respect_robots = false
"""


def end_to_end(
    pages: list[Page], *, workers: int, repeat: int, stages: bool, rules: int = RULES
) -> None:
    """Monitoring runs over the served pages with `rules` rules, `repeat` rounds each also
    timing trafilatura alone (and with `stages`, the stages of `benchmarks.stages`): medians
    and their ratios."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect.testing.utilities import prefect_test_harness

    phrased = phrases(pages, rules)
    context = multiprocessing.get_context("forkserver")
    with (
        served(pages) as feed,
        prefect_test_harness(server_startup_timeout=60),
        ProcessPoolExecutor(max_workers=workers, mp_context=context) as executor,
    ):
        with fresh_config(feed=None, rules=phrased) as config:  # what a serving process did
            timed_flow(config)
        rounds = Rounds()
        for _ in range(repeat):
            rounds.run(pages, executor, feed=feed, rules=phrased, stages=stages)
        seconds = rounds.report(len(pages))
        with fresh_config(feed=feed, rules=phrased) as config:
            cli_seconds = timed_cli(config)
        print(
            f"CLI: `newswatch run` in a fresh process {cli_seconds:.2f}s, of which "
            f"{cli_seconds - seconds:.2f}s start-up beyond the run above"
        )


@dataclass
class Rounds:
    """What each round timed: trafilatura alone, the stages, the flow (seconds, cores busy,
    totals)."""

    baselines: list[float] = field(default_factory=list)
    staged: dict[str, list[float]] = field(default_factory=dict)
    runs: list[tuple[float, float, dict[str, int]]] = field(default_factory=list)
    cpu: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # by process role
    candidates: list[Candidate] | None = None  # the feed's entries, read once for the stages

    def run(
        self,
        pages: list[Page],
        executor: ProcessPoolExecutor,
        *,
        feed: str,
        rules: list[str],
        stages: bool,
    ) -> None:
        from benchmarks.stages import STAGES, candidates_of, timed_stage

        before = cpu_snapshot()
        self.baselines.append(run_baseline(executor, pages).seconds)
        self.cpu.setdefault("trafilatura alone", []).append(cpu_snapshot() - before)
        for stage in STAGES if stages else ():
            with fresh_config(feed=feed, rules=rules) as config:
                if self.candidates is None:
                    self.candidates = candidates_of(config)
                seconds = timed_stage(stage, config, self.candidates)
            self.staged.setdefault(stage.name, []).append(seconds)
        with fresh_config(feed=feed, rules=rules) as config:
            before = cpu_snapshot()
            self.runs.append(timed_flow(config))
            self.cpu.setdefault("the flow", []).append(cpu_snapshot() - before)

    def report(self, pages: int) -> float:
        """Prints the medians and their ratios; returns the flow's median seconds."""
        baseline = statistics.median(self.baselines)
        rounds = len(self.baselines)
        print(f"{pages} pages, median of {rounds} rounds, trafilatura alone {baseline:.2f}s")
        for name, times in self.staged.items():
            seconds = statistics.median(times)
            print(f"  {name:<24}{seconds:6.2f}s, ratio {baseline / seconds:.2f}")
        seconds = statistics.median(run[0] for run in self.runs)
        busy, totals = statistics.median(run[1] for run in self.runs), self.runs[-1][2]
        print(
            f"run: {pages} pages in {seconds:.2f}s, {pages / seconds:.1f} articles/s, "
            f"ratio to trafilatura alone {baseline / seconds:.2f} (goal {GOAL}), cores busy "
            f"{busy:.2f}; {totals['new']} new, {totals['duplicates']} duplicates, "
            f"{totals['alerts']} alerts"
        )
        for name, spent in self.cpu.items():
            print(f"  {cpu_line(name, spent)}")
        print(f"  {ceiling_line(self.cpu['the flow'], pages)}")
        return seconds


@contextmanager
def fresh_config(*, feed: str | None, rules: list[str]) -> Iterator[Path]:
    """`write_config`'s config in a temporary directory, its store migrated."""
    from flows.settings import load_settings
    from storage import open_store

    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), feed=feed, rules=rules)
        open_store(load_settings(config).database.url).dispose()
        yield config


def timed_flow(config: Path) -> tuple[float, float, dict[str, int]]:
    from flows.monitor import monitor

    cpu = busy_jiffies()
    started = time.perf_counter()
    summary = asyncio.run(monitor(config_path=str(config)))
    seconds = time.perf_counter() - started
    busy = (busy_jiffies() - cpu) / os.sysconf("SC_CLK_TCK") / seconds if cpu else float("nan")
    return seconds, busy, summary.totals()


def timed_cli(config: Path) -> float:
    script = Path(sys.executable).with_name("newswatch")  # the console script of this venv
    command = [str(script), "run", "--config", str(config), "--quiet"]
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}  # the same server
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def busy_jiffies() -> int:
    """CPU time the whole machine spent busy so far (0 where /proc/stat is absent)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0
    user, nice, system, _idle, _iowait, *rest = (int(value) for value in fields)
    return user + nice + system + sum(rest[:3])  # irq, softirq, steal


@contextmanager
def served(pages: list[Page]) -> Iterator[str]:
    """The pages and their feed served by a loopback server in a process of its own,
    so that serving them takes no time from the process under measurement."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve_forever, args=(pages, child), daemon=True)
    process.start()
    try:
        yield parent.recv()
    finally:
        process.terminate()
        process.join()


def _serve_forever(pages: list[Page], connection: Any) -> None:
    from tests.servers import LoopbackHTTPServer

    server = LoopbackHTTPServer().start()
    connection.send(serve(server, pages))
    threading.Event().wait()


def serve(server: Any, pages: list[Page]) -> str:
    items = []
    for number, page in enumerate(pages):
        url = server.route(f"/articles/{number}", page.body, content_type="text/html")
        items.append(
            f"<item><title>Article {number}</title><link>{url}</link><guid>a{number}</guid>"
            "<pubDate>Sun, 02 Mar 2025 10:00:00 GMT</pubDate></item>"
        )
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Corpus</title><link>{server.base_url}/</link>{''.join(items)}</channel></rss>"
    )
    return server.route("/feed.xml", feed, content_type="application/rss+xml")


def phrases(pages: list[Page], count: int) -> list[str]:
    """`count` distinct quoted phrases of the annotated bodies, picked with a fixed seed;
    each is PHRASE_WORDS words to the rules too (a run of CJK characters is one `\\w+`
    token, and as many words as characters to a rule)."""
    rng = random.Random(7)
    found: set[str] = set()
    while len(found) < count:
        tokens = _TOKEN.findall(rng.choice(pages).truth.lower())
        if len(tokens) > PHRASE_WORDS:
            start = rng.randrange(len(tokens) - PHRASE_WORDS)
            phrase = " ".join(tokens[start : start + PHRASE_WORDS])
            if len(split_words(phrase)[1::2]) == PHRASE_WORDS:
                found.add(phrase)
    return sorted(found)


def write_config(directory: Path, *, feed: str | None, rules: list[str]) -> Path:
    """A config polling `feed` (nothing when None) with a rule per phrase of `rules`."""
    rule_tables = "".join(
        f'\n[[rules]]\nname = "rule-{n}"\nquery = \'"{phrase}"\'\n'
        for n, phrase in enumerate(rules)
    )
    config = directory / "newswatch.toml"
    source = f'[[sources]]\nname = "corpus"\nfeed = "{feed}"\nbackfill = "all"\n' if feed else ""
    config.write_text(
        f'[database]\nurl = "sqlite:///{directory / "newswatch.db"}"\n\n{E2E_FETCH}\n'
        f"{source}{rule_tables}",
        encoding="utf-8",
    )
    return config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--end-to-end", action="store_true", help="also time `newswatch run`")
    parser.add_argument(
        "--stages", action="store_true", help="with --end-to-end: where a run's time goes"
    )
    parser.add_argument(
        "--rules", type=int, default=RULES, help="with --end-to-end: rules the runs match"
    )
    args = parser.parse_args(argv)
    if not (args.corpus / "ground-truth.json").exists():
        parser.exit(1, f"{args.corpus}: no ground-truth.json, the article corpus is absent\n")
    pages = load_pages(args.corpus)
    asyncio.run(compare(pages, workers=args.workers, repeat=args.repeat))
    if args.end_to_end:
        end_to_end(
            pages, workers=args.workers, repeat=args.repeat, stages=args.stages, rules=args.rules
        )


if __name__ == "__main__":
    main()
