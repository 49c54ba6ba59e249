"""A PostgreSQL server of the test's own, to stop and restart without disturbing the others.

The shared server on 127.0.0.1:5432 serves every test running in parallel, so a test that
restarts the database gets its own: ``initdb`` into a temporary folder and ``pg_ctl`` on a free
port (as the ``postgres`` user when the tests run as root, since PostgreSQL refuses to run as
root). Without PostgreSQL's programs the test skips, naming how to install them; with
``CI=true`` it fails instead.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.mail_servers import free_port

HOWTO = "install with: apt-get install postgresql"
INITDB_OPTIONS = ["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@dataclass
class PrivatePostgres:
    folder: Path
    port: int
    pg_ctl: str
    as_postgres: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_postgres, self.pg_ctl, "-D", str(self.folder / "data"), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._ctl("-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stop (dropping every connection) and start again, as an administrator or a failover
        would."""
        self.stop()
        self.start()


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        message = f"PostgreSQL's initdb and pg_ctl are missing; {HOWTO}"
        if IN_CI:
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    as_postgres: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="chaser-pg-"))
    if os.geteuid() == 0:
        as_postgres = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres", "postgres")
    try:
        subprocess.run(
            [*as_postgres, initdb, "-D", str(folder / "data"), *INITDB_OPTIONS],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
        server = PrivatePostgres(folder, free_port(), pg_ctl, as_postgres)
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):  # the test stopped it
                server.stop("immediate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
