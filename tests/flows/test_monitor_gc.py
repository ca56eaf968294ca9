"""The monitor flow keeps a process's imports out of full garbage collections, once."""

from __future__ import annotations

import subprocess
import sys

FREEZE_TWICE = """
import gc
from flows.monitor import freeze_imports
freeze_imports()
frozen = gc.get_freeze_count()
made_by_a_run = [[] for _ in range(10_000)]
freeze_imports()
print(frozen, gc.get_freeze_count())
"""


def test_a_process_freezes_what_it_loaded_before_its_first_run_only() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FREEZE_TWICE], capture_output=True, text=True, check=True
    )
    first, second = map(int, done.stdout.split())
    assert first > 100_000  # Prefect, SQLAlchemy and trafilatura's objects
    assert second == first  # a later run's objects stay collectable
