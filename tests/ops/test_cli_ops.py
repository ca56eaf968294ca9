"""The operations commands' contract: what they write, print and exit with, without a server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.cli_ops import STARTER_CONFIG
from flows.settings import load_settings
from tests.servers import free_port


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def no_prefect_server() -> Iterator[None]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        yield


def test_init_writes_a_starter_config_that_loads(tmp_path: Path) -> None:
    path = tmp_path / "newswatch.toml"

    result = invoke("init", str(path))

    assert result.exit_code == 0, result.output
    settings = load_settings(path, environ={})
    assert settings.sources == ()  # every example source is commented out
    assert settings.schedule.interval == "15m"
    assert settings.fetch.per_host_delay == 1.0 and settings.fetch.respect_robots
    (channel,) = settings.channels.values()
    assert (channel.smtp_host, channel.smtp_port) == ("localhost", 1025)  # type: ignore[union-attr]
    assert settings.rules[0].channels == ("mailpit",)


def test_the_starter_configs_commented_sources_load_once_uncommented(tmp_path: Path) -> None:
    head, rest = STARTER_CONFIG.split("# [[sources]]", 1)
    sources, tail = rest.split("[[rules]]", 1)
    sources = re.sub(r"^# ", "", "# [[sources]]" + sources, flags=re.MULTILINE)
    uncommented = f"{head}{sources}[[rules]]{tail}"
    path = tmp_path / "newswatch.toml"
    path.write_text(uncommented, encoding="utf-8")

    settings = load_settings(path, environ={})

    assert [s.kind for s in settings.sources] == ["feed", "sitemap", "seeds", "urls"]
    assert settings.sources[0].every == "10m"
    assert settings.sources[1].schedule == "0 * * * *"


def test_init_keeps_an_existing_file_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "newswatch.toml"
    path.write_text("# mine\n", encoding="utf-8")

    refused = invoke("init", str(path))
    assert refused.exit_code == 2
    assert "already exists (--force overwrites it)" in refused.output
    assert path.read_text(encoding="utf-8") == "# mine\n"

    assert invoke("init", str(path), "--force").exit_code == 0
    assert path.read_text(encoding="utf-8") == STARTER_CONFIG


def write_sources(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "newswatch.toml"
    path.write_text(f'[database]\nurl = "sqlite:///newswatch.db"\n{body}', encoding="utf-8")
    return path


def test_schedules_lists_the_deployments_as_json(tmp_path: Path) -> None:
    config = write_sources(
        tmp_path,
        '[[sources]]\nname = "dw"\nfeed = "https://example.org/dw.xml"\nevery = "10m"\n'
        '[[sources]]\nname = "ap"\nfeed = "https://example.org/ap.xml"\nevery = "600s"\n',
    )

    result = invoke("schedules", "--config", str(config), "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"name": "newswatch every 10m", "schedule": "every 10m", "sources": ["dw", "ap"]}
    ]


def test_the_config_may_come_from_newswatch_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_sources(tmp_path, '[[sources]]\nname = "dw"\nfeed = "https://e.org/x"\n')
    monkeypatch.setenv("NEWSWATCH_CONFIG", str(config))

    result = invoke("schedules", "--json")

    assert json.loads(result.stdout)[0]["name"] == "newswatch every 15m"


@pytest.mark.parametrize(
    ("sources", "api_url", "code", "message"),
    [
        pytest.param("", None, 2, "sources: none configured", id="no sources"),
        pytest.param(
            '[[sources]]\nname = "dw"\nfeed = "https://e.org/x"\npaused = true\n',
            None,
            2,
            "sources: every one is paused, nothing to schedule",
            id="every source paused",
        ),
        pytest.param(
            '[[sources]]\nname = "dw"\nfeed = "https://e.org/x"\n',
            None,
            2,
            "no Prefect server: set PREFECT_API_URL",
            id="no server named",
        ),
        pytest.param(
            '[[sources]]\nname = "dw"\nfeed = "https://e.org/x"\n',
            "http://127.0.0.1:{port}/api",
            1,
            "is not answering",
            id="server down",
        ),
    ],
)
def test_serve_and_deploy_fail_in_one_line_with_the_documented_status(
    tmp_path: Path,
    no_prefect_server: None,
    sources: str,
    api_url: str | None,
    code: int,
    message: str,
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    config = str(write_sources(tmp_path, sources))
    updates = {PREFECT_API_URL: api_url.format(port=free_port())} if api_url else {}
    with temporary_settings(updates=updates):
        for command in (["serve"], ["deploy", "--pool", "newswatch"]):
            result = invoke(*command, "--config", config)
            assert result.exit_code == code, result.output
            (line,) = result.stderr.strip().splitlines()
            assert line.startswith("newswatch: error: ") and message in line


def test_deploy_wants_an_absolute_config_path_for_the_workers(tmp_path: Path) -> None:
    config = write_sources(tmp_path, '[[sources]]\nname = "dw"\nfeed = "https://e.org/x"\n')

    result = invoke("deploy", "--pool", "p", "-c", str(config), "--worker-config", "rel.toml")

    assert result.exit_code == 2
    assert "--worker-config: 'rel.toml' is not an absolute path" in result.stderr


def test_run_refuses_quiet_and_verbose_together(tmp_path: Path) -> None:
    config = write_sources(tmp_path, "")

    result = invoke("run", "--config", str(config), "--quiet", "--verbose")

    assert result.exit_code == 2
    assert "--quiet and --verbose exclude each other" in result.stderr


def test_help_documents_the_exit_status() -> None:
    result = invoke("--help")

    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Exit status: 0 ok; 1 the run failed" in text and "2 bad usage or config" in text
    for command in ("init", "schedules", "server", "serve", "deploy"):
        assert f" {command} " in text
