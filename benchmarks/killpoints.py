"""SIGKILL monitoring runs at random points, run them again, and count what was lost.

    python -m benchmarks.killpoints [--runs 50] [--seed 7] [--pages 60] [--keep DIR]

Each of `--runs` trials builds a fresh world on 127.0.0.1 (a feed of `--pages`
article pages, two rules firing 27 alerts, a webhook receiver and an SMTP server
for both, a fresh SQLite store), starts `newswatch run` in a process group of its
own and SIGKILLs the whole group (run, forkserver, extraction workers) at a point
drawn at random for the trial's kind, taken in turn:

  during fetch                   the site, when it serves page N, before answering
  during extraction              a watcher, once the extraction workers used X s of CPU
  between insert and alert       a watcher, once the store holds K articles, whose
                                 alerts are committed with them and not yet sent
  between send and record        the webhook receiver on the Nth POST, or the SMTP
                                 server on the Nth email, before answering
  after a random delay           drawn over a run measured first (from its feed request)

Then the run is repeated to completion and checked: the store holds exactly the
site's articles and exactly the expected (rule, story) alerts, every delivery is
recorded as sent, every alert's key reached both receivers, and nothing else did.
A message that reached a receiver whose answer the killed run never read is sent
again after the claim's lease (1 s here, 10 minutes by default) with the same key:
the webhook's Idempotency-Key lets a receiver drop it; an email repeats its
Message-ID, which many mail clients, not all, use to drop it (the at-least-once
the README documents). Every run reports to one `newswatch server` started first.

Prints a line per trial, then per kind: trials, kills (a timed kill may come after
the run ended), articles and alerts checked, missing, duplicated, re-sends, and
where the timed kills landed. Exits 1 when any trial found a problem.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tests.reliability.killkit import KillPoint, Outcome, calibrate, trial
from tests.reliability.world import PAGES, prefect_server

COLUMNS = (
    "kill point",
    "trials",
    "kills",
    "articles checked",
    "alerts checked",
    "missing",
    "duplicated",
    "webhook re-sends absorbed by the key",
    "emails sent twice (same Message-ID)",
    'runs left "running"',
)


def run(root: Path, *, runs: int, seed: int, pages: int) -> list[Outcome]:
    """The trials, each kind in turn, printing a line as each ends."""
    started = time.monotonic()
    with prefect_server(root / "prefect") as api_url:
        print(f"prefect server up in {time.monotonic() - started:.1f} s", flush=True)
        timing = calibrate(root / "calibration", api_url=api_url, pages=pages)
        print(
            f"a run without a kill: {timing.seconds:.1f} s, feed asked for at "
            f"{timing.feed_at:.1f} s, extraction workers {timing.worker_seconds:.2f} s of CPU",
            flush=True,
        )
        kinds = list(KillPoint)
        outcomes = []
        for number in range(runs):
            kind = kinds[number % len(kinds)]
            began = time.monotonic()
            outcome = trial(
                root / f"trial-{number + 1}",
                kind,
                api_url=api_url,
                timing=timing,
                rng=random.Random(seed * 100_003 + number),
                pages=pages,
            )
            outcomes.append(outcome)
            verdict = "; ".join(outcome.problems()) or "ok"
            print(
                f"{number + 1:>3} {kind}: kill {outcome.point} → {outcome.landing}; "
                f"{time.monotonic() - began:.0f} s; {verdict}",
                flush=True,
            )
    return outcomes


def table(outcomes: Sequence[Outcome]) -> list[str]:
    """Markdown rows per kind, and the totals."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * (len(COLUMNS) - 1)]
    groups = [(str(kind), [o for o in outcomes if o.kind is kind]) for kind in KillPoint]
    for name, group in [*groups, ("**all**", list(outcomes))]:
        if not group:
            continue
        counts = (
            len(group),
            sum(o.killed for o in group),
            sum(o.articles for o in group),
            sum(o.alerts for o in group),
            sum(len(o.missing) for o in group),
            sum(len(o.duplicated) for o in group),
            sum(o.webhook_resends for o in group),
            sum(o.email_resends for o in group),
            sum(o.running_rows for o in group),
        )
        lines.append(f"| {name} | " + " | ".join(f"{n:,}" for n in counts) + " |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.killpoints", description=__doc__)
    parser.add_argument("--runs", type=int, default=50, help="trials (default 50)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pages", type=int, default=PAGES, help="article pages per trial")
    parser.add_argument("--keep", type=Path, help="keep stores and logs in this directory")
    args = parser.parse_args(argv)
    if not 1 <= args.pages <= 80:  # more would fire a rule past its storm limit of 20
        parser.error(f"--pages: {args.pages} is not between 1 and 80")
    started = time.monotonic()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        outcomes = run(args.keep, runs=args.runs, seed=args.seed, pages=args.pages)
    else:
        with tempfile.TemporaryDirectory(prefix="newswatch-killpoints-") as folder:
            outcomes = run(Path(folder), runs=args.runs, seed=args.seed, pages=args.pages)
    print()
    print("\n".join(table(outcomes)))
    timed = Counter(o.landing.phase for o in outcomes if o.kind is KillPoint.TIMER)
    print("\ntimed kills landed in: " + ", ".join(f"{p} {n}" for p, n in timed.most_common()))
    failed = [o for o in outcomes if o.problems()]
    print(
        f"{len(outcomes)} trials, {sum(o.killed for o in outcomes)} kills, "
        f"{len(failed)} with problems, in {(time.monotonic() - started) / 60:.1f} min"
    )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
