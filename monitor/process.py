"""What every long-running egov-monitor process has: the configuration, the store, a metrics
registry, its browser pool, the HTTP endpoints (/metrics, /healthz, POST /-/reload) and the
signals. The daemon and the scheduler (monitor.daemon) and the worker (monitor.worker) build
on `Process`; none of them branches on which one it is.
"""

from __future__ import annotations

import gc
import http.server
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from checks.browser import PoolHolder
from checks.browser_host import ca_bundle
from checks.context import CheckContext
from monitor.config import Config
from monitor.config.webconfig import Live, WebConfig
from monitor.metrics import BrowserPoolCollector
from monitor.statuspage import Response, StatusSite
from monitor.statuspage.serve import BaseHandler, PoolServer, StatusProcess, status_path
from monitor.store import Store

log = logging.getLogger("egov_monitor")

# How long a thread holding the GIL may keep it while another waits (Python's default: 5 ms).
# The libcurl loop thread gives the GIL up on every call into libcurl and then waits this
# long to get it back whenever another thread computes (a /metrics rendering, a report): at
# 167 probes a second it fell behind during the first full /metrics rendering (2 s), the
# probes under way reached max_in_flight, every pool thread ended up waiting for the loop,
# and no run started for 1.4 s (bench.daemon_e2e). With 0.5 ms nothing waits that long.
SWITCH_INTERVAL = 0.0005

# glibc's malloc gives each thread that allocates an arena of its own (up to 8 per core) and
# keeps freed memory in it. A reload builds a catalog of 10,000 services in a fresh thread
# (SIGHUP, or the HTTP handler of POST /-/reload) while pool threads allocate beside it, so
# every reload left memory pinned in yet another arena: RSS grew by 20-200 MB per reload with
# no Python object growing (sys.getallocatedblocks() flat, tracemalloc flat; bench.soak).
# With two arenas RSS stays flat after the third reload (within 1 %: docs/benchmarks.md).
MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """mallopt(M_ARENA_MAX) where the C library is glibc; False elsewhere (musl has no arenas)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(-8, arenas))  # M_ARENA_MAX


WRITE_PIECES = 1024  # pieces of exposition text encoded and written at a time (a target's family: ~200 B)


def metrics_handler(registry: CollectorRegistry, healthy: Callable[[], tuple[bool, str]],
                    reload: Callable[[], list[str]] | None = None,
                    may_reload: Callable[[str, str | None], str | None] | None = None,
                    extra: Callable[[], Sequence[str]] | None = None,
                    status: Callable[[str, str | None, str | None], Response] | None = None,
                    web: Live | None = None,
                    ) -> type[http.server.BaseHTTPRequestHandler]:
    """GET /metrics (the registry, then `extra()`: exposition text rendered elsewhere) and
    /healthz, GET /status/... when `status` is given (the public status page), and POST
    /-/reload when `reload` is given; `may_reload(client, authorization)` says why a reload
    request is refused (None: allowed). `web`: settings.yaml `web_config:` (basic
    authentication for all but the public paths, extra response headers)."""

    class Handler(BaseHandler):
        respond = staticmethod(status) if status is not None else None

        def end_headers(self) -> None:
            for name, value in (web.config.headers.items() if web is not None else ()):
                self.send_header(name, value)
            super().end_headers()

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if web is not None and not WebConfig.public(path) and \
                    not web.config.authorized(self.headers.get("Authorization")):
                self._send(401, b"Unauthorized\n", headers={"Content-Type": "text/plain; charset=utf-8",
                                                            "WWW-Authenticate": 'Basic realm="egov-monitor"'})
            elif path == "/metrics":
                try:
                    head, pieces = generate_latest(registry), (extra() if extra else ())
                except Exception as exc:
                    log.error("metrics collection failed: %s", exc)
                    self._send(500, b"metrics collection failed\n")
                    return
                self._send_pieces(head, pieces, CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ok, why = healthy()
                self._send(200 if ok else 503, (why + "\n").encode())
            elif status is not None and status_path(path):
                self.send_status(path)
            elif path == "/":
                self._send(200, b"egov-monitor: /metrics /healthz" + (b" /status/" if status else b"")
                           + (b" POST /-/reload\n" if reload else b"\n"))
            else:
                self._send(404, b"not found\n")

        def _send_pieces(self, head: bytes, pieces: Sequence[str], ctype: str) -> None:
            """`head` and then `pieces` (UTF-8), written a batch at a time: the exposition of a
            large catalog is never joined into one string, nor encoded as a whole."""
            # a piece per target and family (10,000 targets: 150,000): counted and joined by
            # the built-ins, no Python step per piece
            ascii_only = all(map(str.isascii, pieces))
            length = len(head) + (sum(map(len, pieces)) if ascii_only else sum(len(p.encode()) for p in pieces))
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command == "HEAD":
                return
            self.wfile.write(head)
            for at in range(0, len(pieces), WRITE_PIECES):
                self.wfile.write("".join(pieces[at:at + WRITE_PIECES]).encode())

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


def serve_http(listen: tuple[str, int], handler: type[http.server.BaseHTTPRequestHandler],
               status: StatusProcess | None = None, tls: Live | None = None) -> PoolServer:
    """Serve `handler` on `listen`; with `status`, sharing the socket with the status process;
    with `tls`, HTTPS only."""
    server = PoolServer(listen, handler)
    server.tls = tls
    if status is not None:
        status.attach(server)
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


def trust_of(config: Config) -> dict[str, Any]:
    """`browser.hosts` and `browser.ca_files` for the HTTP-side probes, and the locations they
    probe from (CheckContext fields)."""
    browser = config.settings.browser
    return {"host_rules": tuple((name, address) for name, address in browser.hosts.items()),
            "ca_bundle": ca_bundle(browser.ca_files), "locations": dict(config.locations)}


def settle_heap() -> None:
    """Take what the process holds for good (modules, the catalog, one job per target) out of
    the cycle collector's way; called once the configuration is applied (start, reload).

    Python's full collection walks every object the collector tracks, holding the GIL: in a
    daemon with 10,000 targets about 250 ms every 20-30 s, and every run due meanwhile
    started late (bench.daemon_e2e: lag p99 up to 1 s). Frozen objects are still freed when
    their last reference goes; only a cycle among them waits for the next settle, which
    first collects everything (one pause per start and reload, not one every half minute).
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class Process:
    """Store, metrics registry, browser pool (if this process runs browser checks), HTTP and signals."""

    def __init__(self, config: Config, *, browser: bool) -> None:
        sys.setswitchinterval(SWITCH_INTERVAL)
        limit_malloc_arenas()
        self.config = config
        settings = config.settings
        self.store = Store.open(config.store_url, config.kinds, tz=settings.tz)
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
        self.context = CheckContext(browser=self.browsers, proxy=config.proxy, **trust_of(config))
        self.http: http.server.ThreadingHTTPServer | None = None
        self.status_site: StatusSite | None = None  # the public status page, for processes that serve one
        self.status_process: StatusProcess | None = None  # ... and its own process, which answers most requests
        self._stop = threading.Event()

    def healthy(self) -> tuple[bool, str]:
        return True, "ok"

    def metrics_pieces(self) -> Sequence[str]:
        """Exposition text served after the registry's (rendered by the process itself), in pieces."""
        return ()

    def serve(self, listen: tuple[str, int], reload: Callable[[], list[str]] | None = None) -> None:
        """Start /metrics and /healthz (and POST /-/reload, from the addresses and with the token
        the settings allow) on `listen`."""

        def may_reload(client: str, authorization: str | None) -> str | None:
            return self.config.settings.reload_refusal(client, authorization, self.config.settings_file.parent)

        web = self.config.web
        # the status process routes a connection by its first plain bytes: under TLS this process answers all
        if self.status_site is not None and (web is None or web.context is None):
            self.status_process = StatusProcess()
            self.status_process.configure(self.config)
        live = Live(web) if web is not None else None  # read anew when its files change, as the toolkit does
        self.http = serve_http(listen, metrics_handler(self.registry, self.healthy, reload, may_reload,
                                                       self.metrics_pieces,
                                                       self.status_site.respond if self.status_site else None, live),
                               self.status_process, live if web is not None and web.context is not None else None)

    @property
    def scheme(self) -> str:
        """How this process's endpoint is reached: https under `web_config` TLS."""
        web = self.config.web
        return "https" if web is not None and web.context is not None else "http"

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Close what `Process` opened; subclasses stop their own parts first."""
        if self.browsers is not None:
            self.browsers.close(abort=True)  # runs still using a browser were recorded as cut short
        if self.status_process is not None:  # first: it accepts on the daemon's socket
            self.status_process.close()
        close_http(self.http)
        self.store.close()

    def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT."""
        run_until_signalled(self.start, self.stop, self._stop)
