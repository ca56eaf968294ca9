"""A main module that imports something costly, then starts extraction workers:
`python -m tests.flows.workers.pool_main` prints the pids of its workers."""

from __future__ import annotations

import asyncio
import os

import psutil

import tests.flows.workers.imports_once  # noqa: F401  (recorded once per importing process)
from alerts import Rule, RuleSet
from flows.pool import ExtractionPool, start_forkserver
from tests.flows.test_extract import ARTICLE


async def workers() -> list[int]:
    start_forkserver()
    rules = RuleSet([Rule(name="r", query='"missile launcher"')])
    async with ExtractionPool(workers=2, rules=rules) as pool:
        await pool.warm_up()
        await pool.extract(ARTICLE.encode(), url="https://c.example/a", source="c")
        me = psutil.Process(os.getpid())
        return [p.pid for p in me.children(recursive=True) if p.ppid() != me.pid]


if __name__ == "__main__":
    print(" ".join(str(pid) for pid in asyncio.run(workers())))
