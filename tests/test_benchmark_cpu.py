"""The benchmarks' CPU accounting: exited workers' time is counted, under their role."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

from benchmarks.cpu import SELF, ceiling_line, cpu_line, cpu_snapshot


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_cpu_of_forkserver_workers_that_have_exited_counts_as_extraction_workers() -> None:
    before = cpu_snapshot()
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as executor:
        list(executor.map(_burn, [0.3, 0.3]))
    spent = cpu_snapshot() - before  # the workers are gone: the forkserver reaped them
    assert spent["extraction workers"] >= 0.5
    assert spent[SELF] < 0.5


def test_cpu_line_shows_median_seconds_by_role() -> None:
    spent = [{"this process": 1.0, "Prefect server": 0.2}, {"this process": 3.0}]
    line = cpu_line("the flow", spent)
    assert line == "CPU-s, the flow: this process 2.00, Prefect server 0.10; in all 2.10"


def test_ceiling_line_divides_this_process_cpu_by_the_articles() -> None:
    spent = [{"this process": 1.0}, {"this process": 1.2}, {"this process": 2.0}]
    line = ceiling_line(spent, 200)
    assert line == (
        "this process: 6.0 ms of CPU an article (the run's fixed costs included): "
        "at most 167 articles/s, however many cores extract"
    )
