"""docker-compose.yml without a Docker engine: valid for docker-compose and for the Compose
Specification's JSON schema, and the stack it describes is the one the README promises."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"

pytestmark = pytest.mark.ops


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_docker_compose_accepts_the_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("no docker-compose: `apt-get install -y docker-compose` (.ci/run installs it)")
    result = subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_the_file_follows_the_compose_specification_schema(stack: dict[str, Any]) -> None:
    pytest.importorskip("check_jsonschema", reason="pip install -e '.[test]'")
    from jsonschema.validators import validator_for

    vendored = files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema = json.loads(vendored.read_text(encoding="utf-8"))
    validator = validator_for(schema)(schema)
    problems = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(stack)]
    assert problems == []


def test_images_are_pinned_and_prefect_is_the_version_newswatch_runs(
    stack: dict[str, Any],
) -> None:
    import prefect

    images = {name: s["image"] for name, s in stack["services"].items() if "image" in s}
    for name, image in images.items():
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: {image} has no tag"
        assert not image.endswith(":latest"), f"{name}: {image}"
    assert images["prefect-server"] == f"prefecthq/prefect:{prefect.__version__}-python3.11"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert f'"prefect=={prefect.__version__}"' in dockerfile
    assert re.search(r"^FROM python:3\.11\.\d+-slim-bookworm$", dockerfile, re.MULTILINE)


def test_services_start_after_the_ones_they_need_are_healthy(stack: dict[str, Any]) -> None:
    services = stack["services"]
    assert set(services) == {"postgres", "prefect-server", "mailpit", "newswatch"}
    needs = {name: s.get("depends_on", {}) for name, s in services.items()}
    assert set(needs["newswatch"]) == {"postgres", "prefect-server", "mailpit"}
    assert set(needs["prefect-server"]) == {"postgres"}
    for name, dependencies in needs.items():
        for dependency, condition in dependencies.items():
            assert condition == {"condition": "service_healthy"}, f"{name} → {dependency}"
            assert "healthcheck" in services[dependency], dependency


def test_ports_and_volumes_are_the_documented_ones(stack: dict[str, Any]) -> None:
    services = stack["services"]
    ports = {name: s.get("ports", []) for name, s in services.items()}
    assert ports["prefect-server"] == ["4200:4200"]
    assert ports["mailpit"] == ["8025:8025", "1025:1025"]
    assert set(stack["volumes"]) == {"pgdata", "mailpit"}
    assert (ROOT / "docker" / "postgres" / "10-prefect.sql").exists()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for documented in ("4200", "8025", "1025", "pgdata", "mailpit"):
        assert documented in readme


def test_newswatch_serves_the_mounted_config_on_the_stacks_postgresql(
    stack: dict[str, Any],
) -> None:
    newswatch = stack["services"]["newswatch"]
    assert newswatch["command"] == ["serve"]
    env = newswatch["environment"]
    assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    mount, target = newswatch["volumes"][0].split(":")[:2]
    config = ROOT / mount / Path(env["NEWSWATCH_CONFIG"]).relative_to(target)
    settings = load_settings(config, environ=env)
    assert settings.database.url.startswith("postgresql+psycopg://")
    assert [channel.smtp_host for channel in settings.channels.values()] == ["mailpit"]
    assert settings.sources and settings.schedule.interval
