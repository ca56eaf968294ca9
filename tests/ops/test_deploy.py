"""Schedules in the config, the deployments they make, and `newswatch deploy` to a work pool
whose worker runs them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from flows.deploy import MAX_SOURCE_TAGS, Planned, Timing, deploy_all, plan, to_deployment
from flows.errors import ConfigError
from flows.settings import load_settings
from tests.ops.conftest import PrefectServer, serve_news, write_config
from tests.ops.harness import newswatch, start, stop, wait_until
from tests.servers import LoopbackHTTPServer


def settings_with(tmp_path: Path, sources: list[str], schedule: str = ""):
    blocks = [
        f'[[sources]]\nname = "s{index}"\nfeed = "https://example.org/{index}.xml"\n{extra}'
        for index, extra in enumerate(sources)
    ]
    config = tmp_path / "newswatch.toml"
    config.write_text(schedule + "\n" + "\n\n".join(blocks), encoding="utf-8")
    return load_settings(config)


@pytest.mark.parametrize(
    ("sources", "schedule", "expected"),
    [
        pytest.param(
            ["", ""], "", [("newswatch every 15m", "every 15m", ("s0", "s1"))], id="default"
        ),
        pytest.param(
            ['every = "60m"', 'every = "1h"', ""],
            "",
            [
                ("newswatch every 1h", "every 1h", ("s0", "s1")),
                ("newswatch every 15m", "every 15m", ("s2",)),
            ],
            id="equal intervals share one deployment",
        ),
        pytest.param(
            ['every = "90s"', 'every = "120s"', 'every = "1d"'],
            "",
            [
                ("newswatch every 90s", "every 90s", ("s0",)),
                ("newswatch every 2m", "every 2m", ("s1",)),
                ("newswatch every 1d", "every 1d", ("s2",)),
            ],
            id="interval names in the largest whole unit",
        ),
        pytest.param(
            ['schedule = "*/15 * * * *"', 'schedule = "*/15 * * * *"', 'schedule = "0 7 * * *"'],
            "",
            [
                ("newswatch s0, s1", "cron */15 * * * *", ("s0", "s1")),
                ("newswatch s2", "cron 0 7 * * *", ("s2",)),
            ],
            id="cron deployments are named after their sources",
        ),
        pytest.param(
            ["", 'every = "5m"'],
            '[schedule]\ncron = "0 * * * *"\n',
            [
                ("newswatch s0", "cron 0 * * * *", ("s0",)),
                ("newswatch every 5m", "every 5m", ("s1",)),
            ],
            id="a cron default",
        ),
        pytest.param(
            ["", ""],
            '[schedule]\nevery = "10m"\n',
            [("newswatch every 10m", "every 10m", ("s0", "s1"))],
            id="an interval default",
        ),
        pytest.param(
            ['every = "5m"\npaused = true', "", 'every = "5m"'],
            "",
            [
                ("newswatch every 15m", "every 15m", ("s1",)),
                ("newswatch every 5m", "every 5m", ("s2",)),
            ],
            id="a paused source is in none",
        ),
    ],
)
def test_sources_sharing_a_schedule_share_a_deployment(
    tmp_path: Path, sources: list[str], schedule: str, expected: list[tuple[str, str, tuple]]
) -> None:
    planned = plan(settings_with(tmp_path, sources, schedule))
    assert [(p.name, str(p.timing), p.sources) for p in planned] == expected


@pytest.mark.parametrize(
    ("extra", "schedule", "message"),
    [
        (
            'every = "10x"',
            "",
            'sources[0].every: not an interval like 90s, 10m, 2h or 1d (got "10x")',
        ),
        ('every = "0m"', "", "sources[0].every: not an interval"),
        ('schedule = "61 * * * *"', "", "sources[0].schedule: not a cron line"),
        ('schedule = "every day"', "", "sources[0].schedule: not a cron line"),
        ('schedule = "0 * * * *"\nevery = "5m"', "", "sources[0]: set schedule (a cron line)"),
        ("", '[schedule]\nevery = "5m"\ncron = "0 * * * *"\n', "schedule: set every or cron"),
        ("", '[schedule]\ncron = "nope"\n', "schedule.cron: not a cron line"),
        ("", '[schedule]\nat = "noon"\n', "schedule.at: unknown key"),
    ],
)
def test_a_bad_schedule_is_one_line_naming_the_key(
    tmp_path: Path, extra: str, schedule: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_with(tmp_path, [extra], schedule)
    assert message.replace('"10x"', "'10x'") in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_deployment_runs_the_monitor_flow_on_its_sources_one_run_at_a_time() -> None:
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy

    planned = Planned("newswatch every 10m", Timing(every=timedelta(minutes=10)), ("dw", "ap"))
    deployment = to_deployment(planned, config_path="/srv/newswatch.toml")

    assert deployment.name == "newswatch every 10m"
    assert deployment.entrypoint == "flows.monitor.monitor"
    assert deployment.parameters == {"config_path": "/srv/newswatch.toml", "sources": ["dw", "ap"]}
    assert deployment.tags == ["newswatch", "dw", "ap"]
    (schedule,) = deployment.schedules
    assert schedule.schedule.interval == timedelta(minutes=10)
    assert deployment.concurrency_limit == 1
    assert deployment.concurrency_options is not None
    assert deployment.concurrency_options.collision_strategy is ConcurrencyLimitStrategy.CANCEL_NEW


def test_a_deployment_of_many_sources_is_tagged_with_their_count_and_named_after_three(
    tmp_path: Path,
) -> None:
    sources = ['schedule = "*/15 * * * *"'] * 500
    (planned,) = plan(settings_with(tmp_path, sources))

    deployment = to_deployment(planned, config_path="/srv/newswatch.toml")

    assert deployment.name == "newswatch s0, s1, s2 and 497 more"
    assert deployment.tags == ["newswatch", "500 sources"]
    assert len(deployment.parameters["sources"]) == 500
    assert (
        deployment.description
        == "Polls 500 sources (s0 ... s499) cron */15 * * * * (/srv/newswatch.toml)."
    )


@pytest.mark.flow
@pytest.mark.ops
def test_the_server_creates_runs_of_a_deployment_with_hundreds_of_sources(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    """Prefect refuses (HTTP 500) a flow run of ~95 tags or more: every event of a run
    carries its tags, at most 100 related resources. Capped tags keep such runs possible."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    settings = settings_with(tmp_path, ['every = "1234m"'] * (MAX_SOURCE_TAGS * 5))
    with temporary_settings(updates={PREFECT_API_URL: prefect_server.api.url}):
        deployed = asyncio.run(deploy_all(plan(settings), pool="newswatch-many", config_path="x"))
    (deployment_id,) = deployed.deployments.values()

    run = prefect_server.api.post(f"/deployments/{deployment_id}/create_flow_run", {})

    assert sorted(run["tags"]) == sorted(["newswatch", f"{MAX_SOURCE_TAGS * 5} sources"])  # a set
    assert len(run["parameters"]["sources"]) == MAX_SOURCE_TAGS * 5


@pytest.mark.flow
@pytest.mark.ops
def test_deploy_registers_to_a_process_pool_whose_worker_runs_it_and_pauses_stale_ones(
    prefect_server: PrefectServer, http_server: LoopbackHTTPServer, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api = prefect_server.api
    config = write_config(
        tmp_path, feed=serve_news(http_server), gone=http_server.url("/x"), every="1h"
    )
    env = prefect_server.client_env(tmp_path / "prefect")
    pool = "newswatch-test"
    deploy_log = tmp_path / "deploy.log"

    deployed = start(
        newswatch("deploy", "--pool", pool, "-c", str(config)), env=env, log=deploy_log
    )
    assert deployed.wait(120) == 0, deploy_log.read_text()

    assert "to work pool newswatch-test (created)" in deploy_log.read_text()
    assert api.get(f"/work_pools/{pool}")["type"] == "process"
    deployment = api.deployment("newswatch every 1h")
    assert deployment and deployment["work_pool_name"] == pool
    assert deployment["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    run = api.post(f"/deployments/{deployment['id']}/create_flow_run", {})

    worker_log = tmp_path / "worker.log"
    worker = start(
        [str(Path(newswatch()[0]).with_name("prefect")), "worker", "start", "--pool", pool],
        env={**env, "PREFECT_WORKER_QUERY_SECONDS": "1"},
        log=worker_log,
        cwd=tmp_path,
    )
    try:
        finished = wait_until(
            lambda: (
                (r := api.get(f"/flow_runs/{run['id']}"))["state_type"]
                in {"COMPLETED", "FAILED", "CRASHED"}
                and r
            ),
            timeout=120,
            what="the worker's run",
            process=worker,
            log=worker_log,
        )
    finally:
        stop(worker)
    assert finished["state_type"] == "COMPLETED", worker_log.read_text()[-3000:]
    assert "newswatch-run-summary" in api.artifacts(run["id"])

    write_config(tmp_path, feed=serve_news(http_server), gone=http_server.url("/x"), every="2h")
    with temporary_settings(updates={PREFECT_API_URL: api.url}):
        again = asyncio.run(
            deploy_all(plan(load_settings(config)), pool=pool, config_path=str(config))
        )

    assert (again.pool_created, list(again.deployments)) == (False, ["newswatch every 2h"])
    assert again.paused == ["newswatch every 1h"]
    assert api.deployment("newswatch every 1h")["paused"]  # type: ignore[index]
    assert not api.deployment("newswatch every 2h")["paused"]  # type: ignore[index]
