"""Real processes for the operations tests, and waiting on them with deadlines, not sleeps.

    process = start(newswatch("serve", "-c", str(config)), env=env, log=tmp / "serve.log")
    run = wait_until(lambda: api.completed_run(deployment_id), timeout=120, what="a run",
                     process=process)
    stop(process)

Every process is started in its own session, so `stop` can end whatever it spawned
(flow-run processes, extraction workers) by its process group, and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


def newswatch(*args: str) -> list[str]:
    """The `newswatch` console script of the interpreter running the tests."""
    return [str(Path(sys.executable).with_name("newswatch")), *args]


def start(command: list[str], *, env: Mapping[str, str], log: Path, cwd: Path | None = None):
    """Start `command` in a new session, its output going to `log`."""
    with log.open("ab") as handle:
        return subprocess.Popen(
            command,
            env=dict(env),
            cwd=cwd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], *, timeout: float = 30) -> None:
    """SIGTERM to the process, so it stops its own children; after it exits or `timeout`
    passes, SIGKILL to whatever is left of its process group."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    with contextlib.suppress(ProcessLookupError):  # the group outlives a leader with children
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def wait_until(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    interval: float = 0.25,
) -> T:
    """Poll `condition` until it returns something truthy; fail with `what` (and the end of
    `log`) when `timeout` seconds pass or `process` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: exited with {process.returncode} first\n{tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s\n{tail(log)}")
        time.sleep(interval)


def tail(log: Path | None, lines: int = 40) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


class PrefectAPI:
    """The few REST calls the tests make. Prefect 3.8.8's client sends filter fields its own
    server rejects (`read_artifacts`), so the tests speak to the API directly."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.url}{path}", timeout=10)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = httpx.post(f"{self.url}{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def deployment(self, name: str, *, flow: str = "monitor") -> dict[str, Any] | None:
        response = httpx.get(f"{self.url}/deployments/name/{flow}/{name}", timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def flow_runs(self, deployment_id: str, *, states: list[str] | None = None) -> list[Any]:
        runs: dict[str, Any] = {"deployment_id": {"any_": [deployment_id]}}
        if states:
            runs["state"] = {"type": {"any_": states}}
        return self.post("/flow_runs/filter", {"flow_runs": runs, "sort": "START_TIME_ASC"})

    def logs(self, flow_run_id: str) -> list[dict[str, Any]]:
        """The flow run's log entries, its tasks' included, oldest first."""
        body = {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "TIMESTAMP_ASC"}
        return self.post("/logs/filter", body)

    def artifacts(self, flow_run_id: str) -> dict[str, Any]:
        """The flow run's artifacts by key."""
        found = self.post(
            "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}
        )
        return {artifact["key"]: artifact for artifact in found}
