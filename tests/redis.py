"""A throwaway Redis server from the Debian package redis-server, on 127.0.0.1, for the task queue."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.servers import free_port


@contextlib.contextmanager
def redis_server(tls: tuple[Path, Path] | None = None, password: str | None = None) -> Iterator[str]:
    """Yields a redis:// URL of a fresh server without persistence; with `tls` (certificate, key)
    a rediss:// URL of a server that speaks TLS only, with `password` one that demands it."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server fehlt: `scripts/setup.sh test` installiert das Debian-Paket redis-server")
    tmp = Path(tempfile.mkdtemp(prefix="egov-redis-"))
    port = free_port()
    listen = ["--port", str(port)] if tls is None else [
        "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(tls[0]), "--tls-key-file", str(tls[1]),
        "--tls-auth-clients", "no"]
    secret = ["--requirepass", password] if password else []
    proc = subprocess.Popen([binary, *listen, *secret, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp), "--logfile", str(tmp / "log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                    if tls is not None or password:
                        break  # listening (the clients' own handshake and AUTH are what the tests look at)
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                if time.monotonic() > end or proc.poll() is not None:
                    raise RuntimeError(f"redis-server did not start: {(tmp / 'log').read_text()}") from None
                time.sleep(0.05)
        yield f"{'rediss' if tls else 'redis'}://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
