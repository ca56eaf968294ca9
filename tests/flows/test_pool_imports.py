"""What a new extraction worker imports: neither the parent's main module again nor
the CLI, so a run's workers cost a fork each, not an import of Prefect each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


def test_workers_inherit_the_main_modules_imports_from_the_forkserver(tmp_path: Path) -> None:
    log = tmp_path / "imports.log"
    env = {**os.environ, "NEWSWATCH_IMPORTS_LOG": str(log), "PYTHONPATH": str(PROJECT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.flows.workers.pool_main"],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    workers = {int(pid) for pid in done.stdout.split()}
    importers = [int(pid) for pid in log.read_text().split()]
    assert len(workers) == 2
    assert not workers & set(importers), "a worker imported the main module's imports itself"
    assert len(importers) == 2  # the parent, then the forkserver once for every worker
    assert "found in sys.modules" not in done.stderr  # runpy's warning, once per worker


def test_the_newswatch_script_run_as_a_workers_main_imports_no_cli() -> None:
    script = Path(sys.executable).with_name("newswatch")
    if not script.exists():
        pytest.skip(f"{script} is absent: the project is not installed in this interpreter")
    probe = (
        "import runpy, sys\n"
        f"runpy.run_path({str(script)!r}, run_name='__mp_main__')\n"  # as multiprocessing does
        "print(sorted(m for m in ('flows.cli', 'prefect', 'typer') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
