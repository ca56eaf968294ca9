"""Fixtures of the reliability suite: one Prefect server for every run of the session, and
a private PostgreSQL cluster a test may stop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.cluster import PrivateCluster, unavailable
from tests.reliability.world import prefect_server


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API URL of one `newswatch server` (SQLite) that every `newswatch run` of the
    session reports to: a run then starts in ~5 s instead of ~15 s with a temporary one."""
    with prefect_server(tmp_path_factory.mktemp("prefect-server")) as url:
        yield url


@pytest.fixture
def private_postgres() -> Iterator[PrivateCluster]:
    """A running PostgreSQL cluster of this test's own, on a free port."""
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    cluster = PrivateCluster.create()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
