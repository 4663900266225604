"""Serving /status from a process of its own.

A hundred readers a second cost a Python HTTP server a few hundred microseconds of
interpreter time each; inside the daemon that time is taken from the scheduler and the
checks (their lag p99 went from 10 to 44 ms under such bursts). Even accepting those
connections and passing them on from the daemon's interpreter cost 10 -> 33 ms. So the
daemon and the distributed scheduler start a status process (`StatusProcess`) that shares
the daemon's listening socket. While it runs, the daemon stops accepting and the status
process accepts every connection: a request for `/status` it answers itself (it opens the
store, renders with `StatusSite`), any other (/metrics, /healthz, POST /-/reload) it passes
back to the daemon, the connection itself, over a Unix socket. Scrapes and reloads cost one
hop more; readers of the page cost the daemon nothing.

The status process is started by the first request for the page (the daemon answers that
one); while it starts, after it died (a later request starts a new one, RESTART_AFTER
seconds on) or when the page is disabled, the daemon accepts and answers everything
itself, as before: the page and the daemon's endpoints never go away because of this split.
It runs at a lower CPU priority (NICE) than the daemon. The daemon pings it; one that
stops answering for HUNG_AFTER seconds (hung, not dead) is killed, so /metrics and /healthz
never wait on it for long.
"""

from __future__ import annotations

import http.server
import logging
import multiprocessing
import multiprocessing.connection
import os
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import reduction
from typing import Any, Protocol

from monitor import __version__
from monitor.config import Config

log = logging.getLogger("egov_monitor")
HANDLER_TIMEOUT = 20.0  # seconds a connection may idle before the server drops it
RESTART_AFTER = 5.0  # seconds at least between a status process's death and its successor
PING_EVERY = 5.0  # seconds between the daemon's pings of the status process
HUNG_AFTER = 20.0  # seconds without an answer to a ping after which the status process is killed
STATUS_PREFIXES = (b"GET /status", b"HEAD /status")
NICE = 10  # the status process's niceness, added to the daemon's


def status_path(path: str) -> bool:
    return path == "/status" or path.startswith("/status/")


class TlsServer(Protocol):
    """What makes a connection's server side of TLS: an ssl.SSLContext, or the live web config."""

    def wrap_socket(self, sock: socket.socket, server_side: bool) -> ssl.SSLSocket: ...


class BaseHandler(http.server.BaseHTTPRequestHandler):
    """What both HTTP servers share: sending, HEAD, idle timeout, no log line per request,
    and the status page's answers (`respond`, set by the subclass; None: no status page)."""

    server_version = f"egov-monitor/{__version__}"
    timeout = HANDLER_TIMEOUT  # a client that sends nothing is dropped
    respond: Callable[[str, str | None, str | None], Any] | None = None

    def log_message(self, fmt: str, *args: Any) -> None:  # requests are not worth a log line each
        log.debug("http %s", fmt % args)

    def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in (headers or {"Content-Type": ctype}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        raise NotImplementedError

    def send_status(self, path: str) -> None:
        """Answer a GET of `path` below /status from the status page."""
        assert self.respond is not None
        try:
            answer = self.respond(path, self.headers.get("If-None-Match"), self.headers.get("Accept-Encoding"))
        except Exception:
            log.exception("status page failed")
            self._send(500, "Statusseite vorübergehend nicht verfügbar\n".encode())
            return
        self._send(answer.code, answer.body, headers=answer.headers)


class PoolServer(http.server.ThreadingHTTPServer):
    """Connections are handled by a fixed pool of threads, not a new thread each: a burst of
    readers then queues (in the pool and the listen backlog) instead of contending with the
    checks' threads for the interpreter. Each connection may idle for at most HANDLER_TIMEOUT
    seconds, so slow or silent clients cannot hold the pool.

    `delegated()` true: the status process accepts on this socket, this server does not.
    `status_asked()` is called for a connection whose first bytes ask for /status (this
    server answers it; the status process, started then, answers those after it)."""

    # socketserver listens with a backlog of 5: a burst would overflow it and wait out TCP's
    # SYN retries (1, 3, 7, 15 s ...)
    request_queue_size = 1024
    pool_size = 8
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.status_asked: Callable[[], None] | None = None
        self.delegated: Callable[[], bool] = lambda: False
        self._stopping, self._stopped = threading.Event(), threading.Event()
        self._stopped.set()  # (shutdown() before serve_forever() returns at once)
        super().__init__(*args, **kwargs)
        self._pool = ThreadPoolExecutor(self.pool_size, thread_name_prefix="http")

    def server_bind(self) -> None:
        # accept() returns once the request's first bytes are there (Linux): the accepting
        # thread can then route the connection by a peek without waiting for the client
        if hasattr(socket, "TCP_DEFER_ACCEPT"):
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 2)
        super().server_bind()

    def server_activate(self) -> None:
        super().server_activate()
        self.socket.setblocking(False)  # shared with the status process: either may take a connection first

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """socketserver's loop, except that it does not accept while `delegated()`."""
        self._stopped.clear()
        try:
            with selectors.PollSelector() as selector:
                selector.register(self, selectors.EVENT_READ)
                while not self._stopping.is_set():
                    if self.delegated():
                        self._stopping.wait(poll_interval)
                    elif (selector.select(poll_interval) and not self._stopping.is_set()
                          and not self.delegated()):  # (it may have started while this waited)
                        self._handle_request_noblock()  # type: ignore[attr-defined]  # (the other may have taken it)
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        self._stopping.set()
        self._stopped.wait()

    # settings.yaml `web_config:` with TLS (an SSLContext, or the live web config, which hands each
    # connection the current certificate): each connection's handshake in the pool
    tls: TlsServer | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            request.settimeout(HANDLER_TIMEOUT)  # a client that never completes the handshake is dropped
            secure = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:  # plain HTTP, an unknown client certificate, a silent client
            log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        try:
            super().finish_request(secure, client_address)
        finally:
            secure.close()  # no close_notify round trip: every answer carries its Content-Length

    def process_request(self, request: Any, client_address: Any) -> None:
        if self.status_asked is not None and _first_is_status(request):
            self.status_asked()
        self.serve_here(request, client_address)

    def serve_here(self, request: socket.socket, client_address: Any) -> None:
        self._pool.submit(self.process_request_thread, request, client_address)

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _first_is_status(request: socket.socket) -> bool:
    """Whether the bytes already received on `request` begin a request for /status (without
    waiting: a request not there yet is served by the pool)."""
    try:
        head = request.recv(len(STATUS_PREFIXES[1]), socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:  # BlockingIOError: nothing received yet
        return False
    return head.startswith(STATUS_PREFIXES[0]) or head == STATUS_PREFIXES[1]


class _StatusOnly(BaseHandler):
    """The status process's handler: /status and nothing else."""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if status_path(path):
            self.send_status(path)
        else:  # only an HTTP/1.1 client could ask this on a connection that began with /status
            self.close_connection = True
            self._send(404, b"not found on this connection\n")

    def do_POST(self) -> None:
        self.close_connection = True
        self._send(404, b"not found on this connection\n")


class _StatusServer(PoolServer):
    """The status process's server on the daemon's listening socket: /status requests it
    answers, every other connection goes back to the daemon (`pass_back`)."""

    pool_size = 16  # a thread may wait up to HANDLER_TIMEOUT for a slow client's first bytes

    def __init__(self, listener: socket.socket, handler: type[BaseHandler],
                 pass_back: Callable[[socket.socket, Any], bool]) -> None:
        super().__init__(listener.getsockname()[:2], handler, bind_and_activate=False)
        self.socket.close()
        self.socket = listener
        self.pass_back = pass_back

    def process_request(self, request: Any, client_address: Any) -> None:
        self._pool.submit(self._route, request, client_address)

    def _route(self, request: socket.socket, client_address: Any) -> None:
        request.settimeout(HANDLER_TIMEOUT)
        try:  # the first bytes, however slowly they come (HANDLER_TIMEOUT at most)
            head = request.recv(len(STATUS_PREFIXES[1]), socket.MSG_PEEK | socket.MSG_WAITALL)
        except OSError:
            self.shutdown_request(request)
            return
        if head.startswith(STATUS_PREFIXES[0]) or head == STATUS_PREFIXES[1]:
            self.process_request_thread(request, client_address)
        elif self.pass_back(request, client_address):
            request.close()  # the daemon holds its own copy now
        else:
            self.shutdown_request(request)


class StatusProcess:
    """The daemon's side: starts the status process when the page is first asked for, serves
    the connections it passes back, sends it each new configuration, stops it when the page
    is disabled and starts a new one after a death."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the state below
        self._send_lock = threading.Lock()  # one message at a time on the pipe (a send may wait for the process)
        self._config: Config | None = None
        self._server: PoolServer | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._ready = threading.Event()
        self._closing = threading.Event()
        self._not_before = 0.0  # no start before this (time.monotonic()): after a death
        self._pong = 0.0  # when the process last answered a ping (time.monotonic())
        self.returned = 0  # connections the process accepted and passed back (not for /status)
        self.pid: int | None = None

    def attach(self, server: PoolServer) -> None:
        """The daemon's HTTP server: its socket is shared, it pauses while the process accepts."""
        self._server = server
        server.status_asked = self.status_asked
        server.delegated = self._ready.is_set

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def configure(self, config: Config) -> None:
        """Apply `config`: stop the process if the page is disabled, else send it the configuration."""
        with self._lock:
            self._config = config
            if not config.settings.status_page.enabled:
                self._stop_locked()
                return
            conn = self._conn
        if conn is not None:
            with self._send_lock:
                try:
                    conn.send(("config", config))
                except OSError:
                    pass  # it died; its successor starts with this configuration

    def _start_locked(self) -> None:
        # A fresh interpreter running this module, not multiprocessing: its spawn would import
        # the daemon's __main__ (the whole CLI) again, and fork is unsafe in a process with threads.
        assert self._server is not None
        listener = self._server.socket.fileno()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        proc = subprocess.Popen([sys.executable, "-m", "monitor.statuspage.serve", str(theirs.fileno()), str(listener),
                                 str(logging.getLogger().level)], pass_fds=[theirs.fileno(), listener],
                                stdin=subprocess.DEVNULL)
        theirs.close()
        conn = multiprocessing.connection.Connection(ours.detach())
        self._proc, self._conn = proc, conn
        self._pong = time.monotonic()
        threading.Thread(target=self._watch, args=(proc, conn), name="status-watch", daemon=True).start()
        threading.Thread(target=self._ping, args=(proc, conn), name="status-ping", daemon=True).start()

    def _ping(self, proc: subprocess.Popen[bytes], conn: multiprocessing.connection.Connection) -> None:
        """While the process accepts, the daemon's endpoints depend on it: one that stops
        answering (hung, not dead) is killed after HUNG_AFTER seconds, and the daemon takes
        its socket back."""
        while not self._closing.wait(PING_EVERY) and self._proc is proc and proc.poll() is None:
            if self._ready.is_set() and time.monotonic() - self._pong > HUNG_AFTER:
                log.error("Der Prozess der Statusseite antwortet seit %.0f s nicht; er wird beendet", HUNG_AFTER)
                proc.kill()
                return
            try:
                with self._send_lock:
                    conn.send(("ping", time.monotonic()))
            except OSError:
                return

    def _watch(self, proc: subprocess.Popen[bytes], conn: multiprocessing.connection.Connection) -> None:
        """Send the process its configuration; then take its messages (ready, connections
        passed back) until it ends."""
        try:
            with self._send_lock:  # (outside the state lock: the process reads it once it has started)
                with self._lock:
                    config = self._config
                conn.send(("config", config))
            while True:
                message = conn.recv()
                if message[0] == "conn":
                    request = socket.socket(fileno=reduction.recv_handle(conn))
                    self.returned += 1
                    if self._server is not None:
                        self._server.serve_here(request, message[1])
                elif message[0] == "pong":
                    self._pong = time.monotonic()
                elif message[0] == "ready":
                    with self._lock:
                        if self._proc is proc:
                            self.pid = message[1]
                            self._pong = time.monotonic()
                            self._ready.set()
                    log.info("Statusseite läuft im eigenen Prozess %d", message[1])
        except (EOFError, OSError):
            pass
        _reap(proc)
        with self._lock:
            if self._proc is not proc:
                return  # stopped or replaced on purpose
            self._ready.clear()  # the daemon accepts again
            self._proc = self._conn = None
            self._not_before = time.monotonic() + RESTART_AFTER
        conn.close()
        log.error("Der Prozess der Statusseite endete (Exitcode %s); der Daemon beantwortet /status selbst und "
                  "startet ihn frühestens in %.0f s neu", proc.returncode, RESTART_AFTER)

    def status_asked(self) -> None:
        """The daemon accepted a request for /status (and answers it): start the process, which
        answers the next ones. So a monitor whose page nobody reads does not pay for it; after a
        death, a new one starts once RESTART_AFTER has passed."""
        with self._lock:
            if (self._proc is None and self._server is not None and self._config is not None
                    and self._config.settings.status_page.enabled and not self._closing.is_set()
                    and time.monotonic() >= self._not_before):
                self._start_locked()

    def _stop_locked(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        self._ready.clear()
        self.pid = None
        if conn is not None:
            # the process ends when its end of the pipe sees EOF; close() alone would not
            # send it while the watcher thread is blocked reading, shutdown() does
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=os.dup(conn.fileno())) as s:
                    s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        if proc is not None:
            _reap(proc)

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            self._stop_locked()


def _reap(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _main(fd: int, listen_fd: int, level: int) -> None:
    """The status process: accept on the daemon's listening socket until the daemon's end of
    the pipe closes; answer /status, pass every other connection back."""
    from monitor.statuspage import StatusSite  # the status process imports only what the page needs
    from monitor.store import Store

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the daemon stops us
    # The checks come first: where both want the CPU, the kernel gives the daemon about nine
    # tenths (weights 1024 : 110), so readers of the page cannot push the checks off schedule.
    os.nice(NICE)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s[status]: %(message)s")
    conn = multiprocessing.connection.Connection(fd)
    kind, config = conn.recv()
    assert kind == "config"
    current = [config]
    store = Store.open(config.store_url, config.kinds, tz=config.settings.tz)
    site = StatusSite(lambda: current[0], store)
    send_lock = threading.Lock()
    daemon_pid = os.getppid()

    def pass_back(request: socket.socket, address: Any) -> bool:
        with send_lock:
            try:
                conn.send(("conn", address))
                reduction.send_handle(conn, request.fileno(), daemon_pid)
            except OSError:
                return False
        return True

    handler = type("Handler", (_StatusOnly,), {"respond": staticmethod(site.respond)})
    server = _StatusServer(socket.socket(fileno=listen_fd), handler, pass_back)
    threading.Thread(target=server.serve_forever, name="accept", daemon=True).start()
    with send_lock:
        conn.send(("ready", os.getpid()))
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if message[0] == "config":
                current[0] = message[1]
            elif message[0] == "ping":  # the daemon's watchdog: this process still answers
                with send_lock:
                    conn.send(("pong", message[1]))
    finally:
        server.shutdown()
        server.server_close()
        store.close()


if __name__ == "__main__":
    _main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
