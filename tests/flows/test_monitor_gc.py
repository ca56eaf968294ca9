"""The monitor flow's process and the garbage collector: its imports kept out of full
collections, once; bulk building (rules, config) with the collector paused."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from flows.gcpause import gc_paused

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


def test_gc_paused_resumes_the_collector_after_its_body_even_one_that_raises() -> None:
    assert gc.isenabled()
    with pytest.raises(ValueError), gc_paused():
        assert not gc.isenabled()
        raise ValueError("a rule failed")
    assert gc.isenabled()


def test_a_nested_gc_pause_leaves_the_collector_paused_for_the_outer_one() -> None:
    with gc_paused():
        with gc_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
