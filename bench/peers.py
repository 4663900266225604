"""Local peers for benchmarks: nginx, a delay server, prometheus-blackbox-exporter, wrk."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def need(cmd: str) -> str:
    path = shutil.which(cmd) or (f"/usr/sbin/{cmd}" if os.path.exists(f"/usr/sbin/{cmd}") else None)
    if not path:
        sys.exit(f"{cmd} fehlt: `scripts/setup.sh test` installiert es")
    return path


@contextlib.contextmanager
def browser_tmp() -> Iterator[dict[str, str]]:
    """An environment whose TMPDIR is a directory of its own, removed afterwards: a peer's
    Chromium (Lighthouse's chrome-launcher, @axe-core/cli, a plain Selenium script) leaves its
    singleton socket's directory and scoped directories in TMPDIR when it is ended, as our
    sessions did before they were given one inside their profile."""
    directory = tempfile.mkdtemp(prefix="egov-peer-")  # short: the socket's path stays under 108 bytes
    try:
        yield {**os.environ, "TMPDIR": directory}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def _process(cmd: list[str], port: int, **popen) -> Iterator[subprocess.Popen]:
    """Start a server process, wait until it listens on `port`, stop it afterwards."""
    proc = subprocess.Popen(cmd, **popen)
    try:
        wait_port(port)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def nginx() -> Iterator[int]:
    """nginx on 127.0.0.1 answering 200 for any path."""
    port = free_port()
    with tempfile.TemporaryDirectory() as prefix:
        conf = Path(prefix) / "nginx.conf"
        conf.write_text(textwrap.dedent(f"""
            worker_processes 1;
            daemon off;
            pid {prefix}/nginx.pid;
            error_log {prefix}/error.log error;
            events {{ worker_connections 4096; }}
            http {{
                access_log off;
                client_body_temp_path {prefix}/body;
                proxy_temp_path {prefix}/proxy;
                fastcgi_temp_path {prefix}/fastcgi;
                uwsgi_temp_path {prefix}/uwsgi;
                scgi_temp_path {prefix}/scgi;
                keepalive_requests 100000;
                server {{
                    listen 127.0.0.1:{port} backlog=4096;
                    location / {{ default_type text/html; return 200 "<html lang=de><title>ok</title>Serviceportal</html>\\n"; }}
                }}
            }}
        """))
        with _process([need("nginx"), "-c", str(conf), "-p", prefix], port, stderr=subprocess.DEVNULL):
            yield port


DELAY_SERVER = """
import asyncio, sys
DELAY = float(sys.argv[2])
async def handle(reader, writer):
    try:
        while True:
            data = await reader.readuntil(b"\\r\\n\\r\\n")
            await asyncio.sleep(DELAY)
            writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok")
            await writer.drain()
            break
    except Exception:
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


@contextlib.contextmanager
def delay_server(delay: float) -> Iterator[int]:
    """An asyncio server in its own process that waits `delay` seconds before each answer."""
    port = free_port()
    with _process([sys.executable, "-c", DELAY_SERVER, str(port), str(delay)], port):
        yield port


@contextlib.contextmanager
def blackbox() -> Iterator[tuple[int, int]]:
    """prometheus-blackbox-exporter with an http_2xx module; yields (port, pid)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "blackbox.yml"
        conf.write_text(textwrap.dedent("""
            modules:
              http_2xx:
                prober: http
                timeout: 5s
                http:
                  preferred_ip_protocol: ip4
                  ip_protocol_fallback: false
        """))
        with _process([need("prometheus-blackbox-exporter"), f"--config.file={conf}",
                       f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"], port,
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
            yield port, proc.pid


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
