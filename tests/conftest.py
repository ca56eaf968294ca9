"""Fixtures shared by the whole suite: real servers on 127.0.0.1 and the stores under test."""

from __future__ import annotations

import os
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from sqlalchemy.engine import Engine

from storage import open_store
from tests.servers import LoopbackHTTPServer, LoopbackSMTPServer

# Prefect's test server would otherwise phone home and log its failure to do so offline.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SEED_DOCUMENT = SHARED / "seeds" / "000_a7d8362a27637217.txt"
CORPUS = SHARED / "corpus"
PG_URL = os.environ.get(
    "NEWSWATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def shared_path(path: Path) -> Path:
    """`path` under ../shared, or skip the test with the reason when it is absent."""
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared corpus sits beside the project only in CI")
    return path


@pytest.fixture
def http_server() -> Iterator[LoopbackHTTPServer]:
    server = LoopbackHTTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server() -> Iterator[LoopbackSMTPServer]:
    server = LoopbackSMTPServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """A certificate authority of the tests' own, which nothing trusts unless told to."""
    return trustme.CA()


@pytest.fixture
def server_tls(tls_ca: trustme.CA) -> ssl.SSLContext:
    """A server's TLS: a certificate for 127.0.0.1 and localhost issued by `tls_ca`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def https_server(server_tls: ssl.SSLContext) -> Iterator[LoopbackHTTPServer]:
    """`http_server` behind TLS, with `server_tls`'s certificate."""
    server = LoopbackHTTPServer(tls=server_tls).start()
    yield server
    server.stop()


@pytest.fixture
def trusted_ca(tls_ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`tls_ca` trusted for this test, the way a user trusts a private CA: SSL_CERT_FILE."""
    path = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'newswatch.db'}"


def _postgres_schema_url() -> Iterator[str]:
    """A fresh schema in the local PostgreSQL `test` database, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    schema = f"nw_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            # Extensions are per database: kept in `public`, a test schema's DROP ... CASCADE
            # cannot take the search migration's `unaccent` away from other schemas.
            available = "SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'"
            if conn.execute(text(available)).first():
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public"))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as error:
        admin.dispose()
        if os.environ.get("NEWSWATCH_REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"PostgreSQL at {PG_URL} is not answering: {error.orig}")
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_schema_url()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A store with its tables, on each backend; its connections are closed afterwards."""
    engine = open_store(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each store test runs once on SQLite and once on the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'newswatch.db'}"
    else:
        yield from _postgres_schema_url()
