"""What every long-running egov-monitor process has: the configuration, the store, a metrics
registry, its browser pool, the HTTP endpoints (/metrics, /healthz, POST /-/reload) and the
signals. The daemon and the scheduler (monitor.daemon) and the worker (monitor.worker) build
on `Process`; none of them branches on which one it is.
"""

from __future__ import annotations

import concurrent.futures
import http.server
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from checks.browser import PoolHolder
from checks.kind import CheckContext
from monitor import __version__
from monitor.config import Config
from monitor.metrics import BrowserPoolCollector
from monitor.statuspage import Response, StatusSite
from monitor.store import Store

log = logging.getLogger("egov_monitor")
HANDLER_TIMEOUT = 20.0  # seconds a connection may idle before the server drops it


def metrics_handler(registry: CollectorRegistry, healthy: Callable[[], tuple[bool, str]],
                    reload: Callable[[], list[str]] | None = None,
                    may_reload: Callable[[str, str | None], str | None] | None = None,
                    extra: Callable[[], bytes] | None = None,
                    status: Callable[[str, str | None, str | None], Response] | None = None,
                    ) -> type[http.server.BaseHTTPRequestHandler]:
    """GET /metrics (the registry, then `extra()`: exposition text rendered elsewhere) and
    /healthz, GET /status/... when `status` is given (the public status page), and POST
    /-/reload when `reload` is given; `may_reload(client, authorization)` says why a reload
    request is refused (None: allowed)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = f"egov-monitor/{__version__}"
        timeout = HANDLER_TIMEOUT  # a client that sends nothing is dropped

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
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                try:
                    self._send(200, generate_latest(registry) + (extra() if extra else b""), CONTENT_TYPE_LATEST)
                except Exception as exc:
                    log.error("metrics collection failed: %s", exc)
                    self._send(500, b"metrics collection failed\n")
            elif path == "/healthz":
                ok, why = healthy()
                self._send(200 if ok else 503, (why + "\n").encode())
            elif status is not None and (path == "/status" or path.startswith("/status/")):
                try:
                    answer = status(path, self.headers.get("If-None-Match"), self.headers.get("Accept-Encoding"))
                except Exception:
                    log.exception("status page failed")
                    self._send(500, "Statusseite vorübergehend nicht verfügbar\n".encode())
                    return
                self._send(answer.code, answer.body, headers=answer.headers)
            elif path == "/":
                self._send(200, b"egov-monitor: /metrics /healthz" + (b" /status/" if status else b"")
                           + (b" POST /-/reload\n" if reload else b"\n"))
            else:
                self._send(404, b"not found\n")

        def do_POST(self) -> None:
            if reload is None or self.path.split("?", 1)[0] != "/-/reload":
                self._send(404, b"not found\n")
                return
            refusal = may_reload(self.client_address[0], self.headers.get("Authorization")) if may_reload else None
            if refusal is not None:
                log.warning("reload refused: %s", refusal)
                self._send(403, (refusal + "\n").encode())
                return
            problems = reload()
            if problems:
                self._send(400, ("Konfiguration ungültig, die laufende bleibt aktiv:\n" + "\n".join(problems) + "\n").encode())
            else:
                self._send(200, b"Konfiguration neu geladen\n")

    return Handler


class _Server(http.server.ThreadingHTTPServer):
    """Connections are handled by a fixed pool of threads, not a new thread each: a burst of a
    hundred status page readers then queues (in the pool and the listen backlog) instead of
    contending with the checks' threads for the interpreter. Each connection may idle for at
    most HANDLER_TIMEOUT seconds, so slow or silent clients cannot hold the pool."""

    # socketserver listens with a backlog of 5: a burst would overflow it and wait out TCP's
    # SYN retries (1, 3, 7, 15 s ...)
    request_queue_size = 1024
    pool_size = 8

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool = concurrent.futures.ThreadPoolExecutor(self.pool_size, thread_name_prefix="http")

    def process_request(self, request: Any, client_address: Any) -> None:
        self._pool.submit(self.process_request_thread, request, client_address)

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def serve_http(listen: tuple[str, int], handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    server = _Server(listen, handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


def close_http(server: http.server.ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def run_until_signalled(start: Callable[[], None], stop: Callable[[], None], stopped: threading.Event) -> None:
    """start(), wait for SIGTERM or SIGINT, then stop() (also after an error)."""
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    start()
    try:
        while not stopped.wait(1.0):
            pass
    finally:
        stop()


class Process:
    """Store, metrics registry, browser pool (if this process runs browser checks), HTTP and signals."""

    def __init__(self, config: Config, *, browser: bool) -> None:
        self.config = config
        settings = config.settings
        self.store = Store.open(config.store_url, tz=settings.tz)
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.browsers: PoolHolder | None = None
        if browser:
            self.browsers = PoolHolder(config.browser_settings, settings.pools.browser)
            self.registry.register(BrowserPoolCollector(self.browsers))
            sandboxed, why = settings.browser.sandboxed()
            if sandboxed is False:
                log.warning("Chromium läuft OHNE Sandbox (%s). Eine Lücke im Renderer einer geprüften Seite liefe mit den "
                            "Rechten des Monitors. Abhilfe: unprivilegiert starten (systemd DynamicUser, Container mit "
                            "USER) und User-Namespaces erlauben; docs/operations.md.", why)
            if config.proxy is not None and config.proxy.authorization:
                log.warning("Browser-Prüfungen gehen ohne Anmeldung über den Proxy %s: Chromium nimmt keine Zugangsdaten "
                            "aus Dateien. Für den Monitor einen Proxy-Zugang ohne Anmeldung (Freigabe nach Adresse) "
                            "einrichten; docs/operations.md.", config.proxy.address)
        self.context = CheckContext(browser=self.browsers, proxy=config.proxy)
        self.http: http.server.ThreadingHTTPServer | None = None
        self.status_site: StatusSite | None = None  # the public status page, for processes that serve one
        self._stop = threading.Event()

    def healthy(self) -> tuple[bool, str]:
        return True, "ok"

    def metrics_text(self) -> bytes:
        """Exposition text served after the registry's (rendered by the process itself)."""
        return b""

    def serve(self, listen: tuple[str, int], reload: Callable[[], list[str]] | None = None) -> None:
        """Start /metrics and /healthz (and POST /-/reload, from the addresses and with the token
        the settings allow) on `listen`."""

        def may_reload(client: str, authorization: str | None) -> str | None:
            return self.config.settings.reload_refusal(client, authorization, self.config.settings_file.parent)

        self.http = serve_http(listen, metrics_handler(self.registry, self.healthy, reload, may_reload,
                                                       self.metrics_text,
                                                       self.status_site.respond if self.status_site else None))

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Close what `Process` opened; subclasses stop their own parts first."""
        if self.browsers is not None:
            self.browsers.close()
        close_http(self.http)
        self.store.close()

    def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT."""
        run_until_signalled(self.start, self.stop, self._stop)
