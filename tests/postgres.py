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
def postgres(tls: tuple[Path, Path] | None = None, password: str | None = None) -> Iterator[PostgresServer]:
    """A fresh server; PostgreSQL refuses to run as root, so it runs as `postgres`. `tls`: its
    certificate and key; then TCP clients must use TLS and `password` (SCRAM), as a server
    reached across zones would demand (the Unix socket stays trusted, for the set-up)."""
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
    if tls is not None:
        for source, name in ((tls[0], "server.crt"), (tls[1], "server.key")):
            shutil.copy(source, data / name)
            os.chmod(data / name, 0o600)
            if as_root:
                shutil.chown(data / name, "postgres")
        (data / "pg_hba.conf").write_text("local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n"
                                          "host all all 127.0.0.1/32 reject\n")
        opts += " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
    ctl = run_as + [str(bindir / "pg_ctl"), "-D", str(data)]
    server = PostgresServer(f"postgresql+psycopg://egov@127.0.0.1:{port}/postgres",
                            ctl + ["-o", opts, "-l", str(tmp / "log"), "-w", "start"], ctl + ["-m", "fast", "-w", "stop"])
    server.start()
    if password is not None:
        subprocess.run(run_as + [str(bindir / "psql"), "-h", str(sockets), "-p", str(port), "-U", "egov", "-d", "postgres",
                                 "-c", f"ALTER USER egov PASSWORD '{password}'"], check=True, capture_output=True)
    try:
        yield server
    finally:
        subprocess.run(ctl + ["-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
