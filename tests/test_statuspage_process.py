"""The status page in its own process: the daemon's HTTP server hands /status connections
over and keeps serving everything else; the page follows the store and reloads, survives
the status process's death (the daemon answers meanwhile) and goes when it is disabled."""

from __future__ import annotations

import http.client
import os
import signal
import time
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry, Gauge

from checks.result import State
from monitor.config import load_config
from monitor.process import close_http, metrics_handler, serve_http
from monitor.statuspage import StatusSite
from monitor.statuspage.serve import StatusProcess
from tests.helpers import KINDS, result
from tests.test_statuspage import estate, eventually  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow


class Daemon:
    """The daemon's side as `Process.serve` builds it, with its own StatusSite counting the
    requests it answers itself."""

    def __init__(self, config, store) -> None:
        self.config = config
        self.site = StatusSite(lambda: self.config, store)
        self.answered = 0
        self.process = StatusProcess()
        self.process.configure(config)
        registry = CollectorRegistry()
        Gauge("egov_test_up", "Whether the test daemon runs.", registry=registry).set(1)
        handler = metrics_handler(registry, lambda: (True, "ok"), status=self.respond)
        self.http = serve_http(("127.0.0.1", 0), handler, self.process)
        self.port = self.http.server_address[1]

    def respond(self, *args):
        self.answered += 1
        return self.site.respond(*args)

    def get(self, path: str) -> tuple[int, str, dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace"), dict(resp.getheaders())

    def close(self) -> None:
        self.process.close()
        close_http(self.http)


def reloaded(config, old: str, new: str):
    """The configuration after an operator changed `old` to `new` in the settings file."""
    text = config.settings_file.read_text()
    assert old in text
    config.settings_file.write_text(text.replace(old, new))
    return load_config(config.settings_file, KINDS)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def daemon(estate):  # noqa: F811
    config, store = estate
    d = Daemon(config, store)
    try:
        assert d.process.pid is None  # started by the first request for the page, not before
        assert d.get("/status/")[0] == 200 and d.answered == 1  # meanwhile the daemon answers
        assert d.process.wait_ready(120), "the status process did not start"
        yield d, config, store
    finally:
        d.close()


def test_status_connections_are_served_by_the_status_process(daemon):
    d, config, store = daemon
    code, body, headers = d.get("/status/")
    assert code == 200 and "Serviceportal" in body and headers["Cache-Control"] == "public, max-age=3600"
    code, css, _ = d.get("/status/status.css")
    assert code == 200 and "{" in css
    code, metrics, _ = d.get("/metrics")  # the daemon's own paths: passed back to the daemon
    assert code == 200 and "egov_test_up 1.0" in metrics
    assert d.get("/healthz")[0] == 200
    assert d.answered == 1 and d.process.returned == 2
    assert d.http.delegated()  # the daemon does not accept while the status process does
    assert d.process.pid != os.getpid()
    # the status process reads the store the daemon writes: an outage shows within a second or two
    store.record(result(State.DOWN, at=datetime.now(UTC), service="portal", url=config.services["portal"].urls[0]))
    eventually(lambda: "1 von 2 Diensten ist gestört" in d.get("/status/")[1])
    assert d.answered == 1


def test_a_reload_reaches_the_status_process(daemon):
    d, config, _store = daemon
    assert "Status der Online-Dienste im Saarland" in d.get("/status/")[1]
    d.config = reloaded(config, "Status der Online-Dienste im Saarland", "Neuer Titel der Statusseite")
    d.process.configure(d.config)
    eventually(lambda: "Neuer Titel der Statusseite" in d.get("/status/")[1])
    assert d.answered == 1


def test_when_the_status_process_dies_the_daemon_answers_and_a_new_one_starts(daemon):
    d, _config, _store = daemon
    first = d.process.pid
    assert d.get("/status/")[0] == 200
    os.kill(first, signal.SIGKILL)
    eventually(lambda: not d.process.ready)
    code, body, _ = d.get("/status/")  # no status process: the daemon itself
    assert code == 200 and "Serviceportal" in body and d.answered >= 1
    # a request after RESTART_AFTER (5 s) starts a new one; starting may take a while on two busy cores
    eventually(lambda: d.get("/status/")[0] == 200 and d.process.ready and d.process.pid not in (None, first),
               timeout=120)
    before = d.answered
    assert d.get("/status/")[0] == 200 and d.get("/metrics")[0] == 200
    assert d.answered == before


def test_disabling_the_page_ends_the_status_process(daemon):
    d, config, _store = daemon
    pid = d.process.pid
    d.config = reloaded(config, "status_page: {", "status_page: {enabled: false, ")
    d.process.configure(d.config)
    assert not d.process.ready

    eventually(lambda: gone(pid))
    assert d.get("/status/")[0] == 404  # disabled: answered by the daemon, which says so
    assert d.get("/metrics")[0] == 200


def test_a_slow_client_does_not_hold_up_others(daemon):
    """A client that connects and sends its request late: the others are served meanwhile,
    and its request is answered when it comes."""
    import socket

    d, _config, _store = daemon
    silent = socket.create_connection(("127.0.0.1", d.port))
    try:
        start = time.monotonic()
        assert d.get("/status/")[0] == 200
        assert time.monotonic() - start < 30  # nowhere near the 20 s idle timeout of the silent one
        silent.sendall(b"GET /status/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := silent.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.0 200") and b"Serviceportal" in answer
    finally:
        silent.close()


def test_a_hung_status_process_is_killed_and_the_daemon_takes_its_socket_back(daemon, monkeypatch):
    """While the status process accepts, /metrics and /healthz depend on it: one that stops
    answering (here: stopped with SIGSTOP) is killed, and the daemon accepts again."""
    import monitor.statuspage.serve as serve

    d, _config, _store = daemon
    monkeypatch.setattr(serve, "PING_EVERY", 0.5)
    monkeypatch.setattr(serve, "HUNG_AFTER", 3.0)
    pid = d.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        while True:
            try:
                code, metrics, _ = d.get("/metrics")  # waits in the listen backlog until the daemon takes over
                break
            except ConnectionResetError:  # queued for the stopped process when it was killed: asked again
                assert time.monotonic() - start < 60
        assert code == 200 and "egov_test_up 1.0" in metrics
        assert time.monotonic() - start < 60 and not d.process.ready
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    eventually(lambda: gone(pid))
