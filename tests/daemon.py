"""Start the real daemon as a subprocess with a generated configuration."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def service_yaml(sid: str, urls: list[str], *, interval: str = "1s", timeout: str = "0.5s", extra: str = "") -> str:
    url_list = ", ".join(f'"{u}"' for u in urls)
    return textwrap.dedent(f"""\
      - id: {sid}
        name: Dienst {sid}
        category: efa
        operator: Land Saarland
        contact: ops@example.invalid
        urls: [{url_list}]
        checks:
          availability: {{interval: {interval}, timeout: {timeout}, retries: 0, jitter: 0.05s{extra}}}
    """)


def write_daemon_config(directory: Path, services: str, *, port: int | None = None, canaries: list[str] | None = None,
                        store: str | None = None) -> Path:
    """settings.yaml and catalog.yaml in `directory`; `store`: the settings' store mapping (default: SQLite there)."""
    port = port or free_port()
    (directory / "catalog.yaml").write_text("services:\n" + textwrap.indent(services, "  "))
    canary = f"canaries: {{urls: {canaries}, interval: 2s, timeout: 1s}}\n" if canaries else ""
    settings = directory / "settings.yaml"
    store = store or "{url: \"sqlite:///%s\"}" % (directory / "store.db")
    settings.write_text(
        f"catalog: [catalog.yaml]\nlisten: \"127.0.0.1:{port}\"\nheartbeat_interval: 1s\n"
        f"store: {store}\npools: {{http: 16}}\n{canary}"
    )
    return settings


class DaemonProcess:
    def __init__(self, settings: Path, log_level: str = "INFO", command: tuple[str, ...] = ("run",),
                 port: int | None = None, wrap: tuple[str, ...] = ()) -> None:
        """`command`: run, scheduler, or worker with its options; `port`: where its /metrics is
        (default: the settings' listen port); `wrap`: a command line the daemon runs under (nsenter)."""
        self.settings = settings
        text = settings.read_text()
        self.port = port or int(text.split('listen: "127.0.0.1:')[1].split('"')[0])
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = settings.parent / f"{command[0]}-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([*wrap, sys.executable, "-m", "monitor.cli", *command, "--config", str(settings),
                                      "--log-level", log_level], cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def post(self, path: str) -> tuple[int, str]:
        req = urllib.request.Request(self.base + path, method="POST", data=b"")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def wait_ready(self, timeout: float = 20) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError):
                if self.get("/healthz")[0] == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"daemon not ready:\n{self.log()}")

    def wait_for(self, predicate, timeout: float = 20, what: str = "condition"):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log()[-3000:]}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> DaemonProcess:
        self.wait_ready()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def running(settings: Path, **kwargs) -> Iterator[DaemonProcess]:
    daemon = DaemonProcess(settings, **kwargs)
    try:
        daemon.wait_ready()
        yield daemon
    finally:
        daemon.stop()
