"""A throw-away PostgreSQL server on loopback for tests: Debian's package (`make test` installs it
with scripts/ensure_postgres.sh), a fresh cluster in a temp folder, stopped and removed after.

PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres` user the
package creates, and its commands run through `runuser`."""

from __future__ import annotations

import contextlib
import getpass
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .ui_servers import HOST, free_port

USER, DATABASE, PASSWORD = "viss", "dagster", "local-trust-auth"   # trust auth: the password is not checked


@dataclass(frozen=True)
class Postgres:
    port: int

    def env(self) -> dict[str, str]:
        """The variables infra/dagster-postgres.yaml reads."""
        return {"DAGSTER_PG_HOST": HOST, "DAGSTER_PG_PORT": str(self.port), "DAGSTER_PG_USERNAME": USER,
                "DAGSTER_PG_PASSWORD": PASSWORD, "DAGSTER_PG_DB": DATABASE}

    def query(self, sql: str) -> str:
        done = subprocess.run(["psql", "-h", HOST, "-p", str(self.port), "-U", USER, "-d", DATABASE, "-tAc", sql],
                              capture_output=True, text=True, check=True)
        return done.stdout.strip()


def server_binaries() -> Path:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's versioned folder."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise RuntimeError("PostgreSQL's server (initdb, pg_ctl) is not installed: run `bash scripts/ensure_postgres.sh` "
                           "(Debian/Ubuntu: apt-get install postgresql)")
    return Path(candidates[-1]).parent


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    binaries = server_binaries()
    as_root = os.geteuid() == 0
    owner = "postgres" if as_root else getpass.getuser()
    run_as = ["runuser", "-u", owner, "--"] if as_root else []
    folder = Path(tempfile.mkdtemp(prefix="viss-r1-postgres-"))   # not under pytest's root-only tmp tree
    data, log = folder / "data", folder / "server.log"
    if as_root:
        shutil.chown(folder, owner)
    port = free_port()

    def run(*command: str) -> None:
        subprocess.run([*run_as, *command], check=True, capture_output=True, text=True, cwd=folder)

    try:
        run(str(binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "--encoding=UTF8")
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
            "-o", f"-h {HOST} -p {port} -k {folder}", "start")
        try:
            run(str(binaries / "createdb"), "-h", HOST, "-p", str(port), "-U", USER, DATABASE)
            yield Postgres(port)
        finally:
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    except subprocess.CalledProcessError as error:
        server_log = log.read_text() if log.exists() else ""
        raise RuntimeError(f"{error.cmd[len(run_as):]} failed: {error.stderr}\n{server_log}") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
