"""A private PostgreSQL cluster a test may stop and start: never the shared server on 5432.

    cluster = PrivateCluster.create()     # initdb in a temporary folder, on a free port
    cluster.start(); url = cluster.url
    cluster.stop(mode="immediate")        # as if the server died: no clean shutdown
    cluster.remove()

The cluster belongs to the `postgres` user, as initdb requires: its commands run
through `runuser -u postgres --`, so the tests must run as root. `unavailable()`
says why a cluster cannot be made here, for a skip.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.servers import free_port

OWNER = "postgres"


def binaries() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, or the newest Debian/Ubuntu install."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_version)
    return installed[-1].parent if installed else None


def _version(initdb: Path) -> int:
    name = initdb.parent.parent.name
    return int(name) if name.isdigit() else 0


def unavailable() -> str | None:
    """Why no private cluster can be made here, or None when one can."""
    if binaries() is None:
        return "initdb is not installed (no PostgreSQL server binaries on PATH or under /usr/lib)"
    if shutil.which("runuser") is None or os.geteuid() != 0:
        return "a private cluster needs root, to run initdb as the postgres user via runuser"
    try:
        pwd.getpwnam(OWNER)
    except KeyError:
        return f"there is no {OWNER!r} user to own a private cluster"
    return None


@dataclass
class PrivateCluster:
    folder: Path
    port: int

    @classmethod
    def create(cls) -> PrivateCluster:
        """initdb a fresh cluster (trust auth for `postgres`) in a new folder under /tmp:
        pytest's own temporary folders are private to root, so `postgres` could not enter."""
        folder = Path(tempfile.mkdtemp(prefix="newswatch-pg-"))
        owner = pwd.getpwnam(OWNER)
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        cluster = cls(folder, free_port())
        cluster._run("initdb", "-D", str(cluster.data), "-U", OWNER, "-A", "trust", "--no-sync")
        return cluster

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{OWNER}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = self.folder / "server.log"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(log), "-o", options, "-w", "start")

    def stop(self, *, mode: str = "fast") -> None:
        """Stop the server: `immediate` kills it without a checkpoint, as a crash would."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        status = self._run("pg_ctl", "-D", str(self.data), "status", check=False)
        return status.returncode == 0

    def remove(self) -> None:
        if self.running():
            self.stop(mode="immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["runuser", "-u", OWNER, "--", str(binaries() / tool), *args]  # type: ignore[operator]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {done.stderr.strip()}")
        return done
