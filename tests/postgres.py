"""A throwaway PostgreSQL server from the Debian packages, on 127.0.0.1, for store tests."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.servers import free_port


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """A running throwaway server that a test can stop and start again (same data, same port)."""

    def __init__(self, url: str, start: list[str], stop: list[str]) -> None:
        self.url, self._start, self._stop = url, start, stop

    def stop(self) -> None:
        subprocess.run(self._stop, check=True, capture_output=True)

    def start(self) -> None:
        subprocess.run(self._start, check=True, capture_output=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yields a SQLAlchemy URL of a fresh server."""
    with postgres() as server:
        yield server.url


@contextlib.contextmanager
def postgres() -> Iterator[PostgresServer]:
    """A fresh server; PostgreSQL refuses to run as root, so it runs as `postgres`."""
    bindir = pg_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL fehlt: `scripts/setup.sh test` installiert das Debian-Paket postgresql")
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    tmp = Path(tempfile.mkdtemp(prefix="egov-pg-"))
    data, sockets = tmp / "data", tmp / "sock"
    sockets.mkdir()
    if as_root:
        shutil.chown(tmp, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    subprocess.run(run_as + [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "egov", "--no-sync"],
                   check=True, capture_output=True)
    opts = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    ctl = run_as + [str(bindir / "pg_ctl"), "-D", str(data)]
    server = PostgresServer(f"postgresql+psycopg://egov@127.0.0.1:{port}/postgres",
                            ctl + ["-o", opts, "-l", str(tmp / "log"), "-w", "start"], ctl + ["-m", "fast", "-w", "stop"])
    server.start()
    try:
        yield server
    finally:
        subprocess.run(ctl + ["-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
