"""CPU seconds a benchmark's processes spend, by what each process is for.

    before = cpu_snapshot()
    ...                                   # a monitoring run, or trafilatura alone
    spent = cpu_snapshot() - before       # {"extraction workers": 3.4, "this process": 0.9, ...}

Children of this process are told apart by their command line: the forkserver
(with every worker it forked, the exited ones included: it reaps them, so their
time is in its children's time), the Prefect server, the page server. Wall time
on N cores is at least the sum over N: what the ratio's gap costs, and where.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import psutil

# command-line fragment → role; the first fragment found names the process
ROLES = (
    ("multiprocessing.forkserver", "extraction workers"),
    ("uvicorn", "Prefect server"),
    ("multiprocessing.spawn", "page server"),
)
SELF = "this process"


@dataclass(frozen=True)
class CpuSnapshot:
    seconds: dict[str, float]

    def __sub__(self, earlier: CpuSnapshot) -> dict[str, float]:
        return {
            role: seconds - earlier.seconds.get(role, 0.0) for role, seconds in self.seconds.items()
        }


def cpu_snapshot() -> CpuSnapshot:
    """CPU seconds (user + system) so far of this process and of each role's processes."""
    me = psutil.Process()
    seconds = {SELF: _own(me)}
    for child in me.children():
        try:
            role = _role(" ".join(child.cmdline()))
            if role is not None:
                seconds[role] = seconds.get(role, 0.0) + _tree(child)
        except psutil.Error:  # ended between the listing and the reading
            continue
    return CpuSnapshot(seconds)


def _role(command: str) -> str | None:
    return next((role for fragment, role in ROLES if fragment in command), None)


def _own(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _tree(process: psutil.Process) -> float:
    """The process, the children it has reaped, and those still running."""
    times = process.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in process.children(recursive=True):
        try:
            total += _own(child)
        except psutil.Error:
            continue
    return total


def cpu_line(name: str, spent: list[dict[str, float]]) -> str:
    """`spent`'s medians by role, on one line: `CPU-s, the flow: extraction workers 3.35, …`."""
    names = dict.fromkeys(role for seconds in spent for role in seconds)  # every role, in order
    roles = {role: statistics.median(s.get(role, 0.0) for s in spent) for role in names}
    shown = ", ".join(f"{role} {seconds:.2f}" for role, seconds in roles.items() if seconds > 0.005)
    return f"CPU-s, {name}: {shown}; in all {sum(roles.values()):.2f}"


def ceiling_line(spent: list[dict[str, float]], articles: int) -> str:
    """This process's median CPU an article, and the articles/s it caps a run at.

    Extraction workers are added with cores; the run's own process (fetching,
    storing, Prefect's client) is one, so its CPU an article bounds a run's
    throughput however many cores extract.
    """
    per_article = statistics.median(s.get(SELF, 0.0) for s in spent) / articles
    return (
        f"{SELF}: {1000 * per_article:.1f} ms of CPU an article (the run's fixed costs "
        f"included): at most {1 / per_article:.0f} articles/s, however many cores extract"
    )
