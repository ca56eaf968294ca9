"""Scheduled monitoring: one Prefect deployment of the `monitor` flow per distinct schedule.

    planned = plan(settings)                  # pure: which sources run when, and under what name
    serve_all(settings)                       # `newswatch serve`: this process runs them
    await deploy_all(settings, pool="nw")     # `newswatch deploy`: the pool's workers run them

Each `[[sources]]` entry is polled on its own `schedule` (a cron line, UTC) or `every`
(an interval such as "10m"), else on the `[schedule]` default (every 15 minutes).
Sources that share a schedule share a deployment, and so one flow run polls them all:
`newswatch every 10m` calls `monitor(config_path, sources=["dw", "reuters"])`. An
interval deployment is named after its interval; a cron deployment after its sources
(`newswatch dw`), since a cron line may hold `/`, which Prefect refuses in names.

Two runs of one deployment never overlap: each deployment has a concurrency limit of 1
with Prefect's CANCEL_NEW collision strategy. A run that comes due while the previous
one is still going is cancelled, not queued: the next tick polls the same feeds anyway,
while a queue would grow without end whenever runs take longer than their interval.
Every source is in exactly one deployment, so two runs never poll the same source at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import httpx
from prefect import serve
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterTags,
    FlowFilter,
    FlowFilterName,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.client.schemas.sorting import DeploymentSort
from prefect.deployments.runner import RunnerDeployment
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.types.entrypoint import EntrypointType

from flows.durations import format_duration, parse_duration
from flows.settings import Settings, SourceSettings

FLOW_NAME = "monitor"
TAG = "newswatch"
# Prefect's events carry each tag of a run as a related resource, at most 100 in all: a
# deployment of ~95 tags gets HTTP 500 on every create_flow_run (measured on 3.8.8).
MAX_SOURCE_TAGS = 40
NAMED_SOURCES = 3  # a cron deployment's name lists this many of its sources


@dataclass(frozen=True)
class Timing:
    """When a deployment runs: every `every`, or at the times of the cron line `cron` (UTC)."""

    every: timedelta | None = None
    cron: str | None = None

    def __str__(self) -> str:
        if self.every is not None:
            return f"every {format_duration(self.every)}"
        return f"cron {self.cron}"


@dataclass(frozen=True)
class Planned:
    """One deployment to create: its name, when it runs and the sources each run polls."""

    name: str
    timing: Timing
    sources: tuple[str, ...]

    @property
    def tags(self) -> list[str]:
        return run_tags(self.sources)


def run_tags(sources: Iterable[str]) -> list[str]:
    """`newswatch` and each source's name, so the UI filters runs by source; past
    MAX_SOURCE_TAGS sources, `newswatch` and their count (the names are in the run's
    parameters and its summary artifact).

    >>> run_tags(["dw", "ap"])
    ['newswatch', 'dw', 'ap']
    >>> run_tags(f"feed-{n}" for n in range(500))
    ['newswatch', '500 sources']
    """
    names = list(sources)
    if len(names) <= MAX_SOURCE_TAGS:
        return [TAG, *names]
    return [TAG, f"{len(names)} sources"]


def timing_of(source: SourceSettings, settings: Settings) -> Timing:
    """The source's own `schedule` or `every`, else the config's `[schedule]` default."""
    if source.schedule is not None:
        return Timing(cron=source.schedule)
    if source.every is not None:
        return Timing(every=parse_duration(source.every))
    default = settings.schedule
    if default.interval is not None:
        return Timing(every=parse_duration(default.interval))
    return Timing(cron=default.cron)


def plan(settings: Settings) -> list[Planned]:
    """One deployment per distinct schedule, in the config's order of first appearance;
    paused sources are in none."""
    groups: dict[Timing, list[str]] = {}
    for source in settings.sources:
        if not source.paused:
            groups.setdefault(timing_of(source, settings), []).append(source.name)
    return [
        Planned(name=_name(timing, names), timing=timing, sources=tuple(names))
        for timing, names in groups.items()
    ]


def _name(timing: Timing, sources: list[str]) -> str:
    """`newswatch every 10m`; `newswatch dw, ap` or `newswatch dw, ap, bbc and 497 more`."""
    if timing.every is not None:
        return f"{TAG} {timing}"
    named = ", ".join(name.replace("/", "-") for name in sources[:NAMED_SOURCES])
    more = len(sources) - NAMED_SOURCES
    return f"{TAG} {named}" + (f" and {more} more" if more > 0 else "")


def _description(planned: Planned, *, config_path: str) -> str:
    if len(planned.sources) <= MAX_SOURCE_TAGS:
        sources = ", ".join(planned.sources)
    else:
        sources = f"{len(planned.sources)} sources ({planned.sources[0]} ... {planned.sources[-1]})"
    return f"Polls {sources} {planned.timing} ({config_path})."


def to_deployment(planned: Planned, *, config_path: str) -> RunnerDeployment:
    """The Prefect deployment for `planned`: the `monitor` flow by module path (so workers
    with newswatch installed can load it), limited to one run at a time."""
    from flows.monitor import monitor  # imports the extraction stack: only when deploying

    return RunnerDeployment.from_flow(
        monitor,
        name=planned.name,
        interval=planned.timing.every,
        cron=planned.timing.cron,
        parameters={"config_path": config_path, "sources": list(planned.sources)},
        tags=planned.tags,
        description=_description(planned, config_path=config_path),
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def serve_all(planned: Iterable[Planned], *, config_path: str) -> None:
    """Run the deployments' schedules in this process until it is stopped (Ctrl-C, SIGTERM);
    their schedules are paused on the way out, so nothing piles up while nobody serves them."""
    deployments = [to_deployment(p, config_path=config_path) for p in planned]
    try:
        with warnings.catch_warnings():
            # Prefect 3.8.8's SIGTERM handler calls the async `stop` without awaiting it, then
            # exits: the runner stops all the same, the warning would only alarm log readers.
            warnings.filterwarnings("ignore", "coroutine 'Runner.astop' was never awaited")
            serve(*deployments, pause_on_shutdown=True, print_starting_message=False)
    finally:
        # ...and that exit may cut the runner's own pausing short: pause them again here,
        # unless the server is gone too.
        with contextlib.suppress(httpx.HTTPError):
            asyncio.run(pause(d.name for d in deployments))


async def pause(names: Iterable[str]) -> None:
    """Pause the `monitor` deployments called `names` (those that exist)."""
    async with get_client() as client:
        for name in names:
            try:
                deployment = await client.read_deployment_by_name(f"{FLOW_NAME}/{name}")
            except ObjectNotFound:
                continue
            await client.pause_deployment(deployment.id)


@dataclass(frozen=True)
class Deployed:
    """What `deploy_all` did: the pool (and whether it was created), the deployments applied
    and the older deployments of the same config it paused."""

    pool: str
    pool_created: bool
    deployments: dict[str, UUID]
    paused: list[str]


async def deploy_all(planned: list[Planned], *, pool: str, config_path: str) -> Deployed:
    """Register the deployments with the work pool `pool` (a process pool, created if missing),
    and pause this config's deployments in that pool that the plan no longer has, so a
    source moved to another schedule is not polled twice."""
    async with get_client() as client:
        created = await ensure_pool(client, pool)
        applied = {
            p.name: await to_deployment(p, config_path=config_path).aapply(work_pool_name=pool)
            for p in planned
        }
        paused = await pause_stale(client, pool=pool, config_path=config_path, keep=set(applied))
    return Deployed(pool=pool, pool_created=created, deployments=applied, paused=paused)


async def ensure_pool(client: PrefectClient, name: str) -> bool:
    """Create the process work pool `name` unless it exists; True when it was created."""
    from prefect.workers.process import ProcessWorker

    try:
        await client.read_work_pool(name)
        return False
    except ObjectNotFound:
        pass
    template = ProcessWorker.get_default_base_job_template()
    try:
        await client.create_work_pool(
            WorkPoolCreate(name=name, type="process", base_job_template=template)
        )
    except ObjectAlreadyExists:  # another deploy created it meanwhile
        return False
    return True


async def pause_stale(
    client: PrefectClient, *, pool: str, config_path: str, keep: set[str]
) -> list[str]:
    """Pause the newswatch deployments in `pool` for `config_path` that are not in `keep`."""
    found = await client.read_deployments(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
        deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TAG])),
        work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool])),
        # Prefect 3.8.8's client sends null `limit` and `sort` by default, which its own
        # server refuses (422): both are given.
        limit=200,
        sort=DeploymentSort.NAME_ASC,
    )
    stale = [
        d
        for d in found
        if d.name not in keep and not d.paused and d.parameters.get("config_path") == config_path
    ]
    for deployment in stale:
        await client.pause_deployment(deployment.id)
    return sorted(d.name for d in stale)
