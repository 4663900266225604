"""Configurable local web sites for the security tests: fixed headers per path, TLS with
chosen protocol versions and ciphers, and HTTP and HTTPS on one port (the first byte of a
connection decides: 0x16 starts a TLS handshake). The handshake runs in the connection's
own thread, so a client that never speaks cannot block the others."""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import socket
import ssl
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path


@dataclasses.dataclass
class Page:
    """A fixed answer; `stream` instead writes the body itself (hanging, huge or dripping pages).

    `stream(write, stopped)` gets a write function and an Event set when the server stops;
    such a page is sent without Content-Length and closes the connection at the end.
    """

    status: int = 200
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    body: bytes = b"<!doctype html><html lang=de><title>Dienst</title><p>Hallo</p></html>"
    content_type: str | None = "text/html; charset=utf-8"
    stream: Callable[[Callable[[bytes], None], threading.Event], None] | None = None


def hang_after(prefix: bytes) -> Callable[[Callable[[bytes], None], threading.Event], None]:
    """A body that starts with `prefix` and then never ends (until the server stops)."""
    def stream(write, stopped: threading.Event) -> None:
        write(prefix)
        stopped.wait()
    return stream


def huge(size: int, chunk: bytes = b"<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>\n") -> Callable:
    """An HTML page of about `size` bytes, streamed in chunks."""
    def stream(write, stopped: threading.Event) -> None:
        write(b"<!doctype html><html lang=de><title>Gross</title><body>")
        block = chunk * (65536 // len(chunk))
        sent = 0
        while sent < size and not stopped.is_set():
            write(block)
            sent += len(block)
        write(b"</body></html>")
    return stream


def delayed(seconds: float, body: bytes) -> Callable:
    def stream(write, stopped: threading.Event) -> None:
        if not stopped.wait(seconds):
            write(body)
    return stream


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: the headers and the body go out in two writes; with Nagle's algorithm the
    # body then waits for the client's delayed ACK (40 ms on loopback) on every request of a
    # kept-alive connection after its first, as no real web server makes a browser wait.
    disable_nagle_algorithm = True
    server: _SiteServer

    def log_message(self, *_args) -> None:
        pass

    def _serve(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.requests.append(path)
        scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        routes = self.server.routes
        page = (routes.get((host, path)) or routes.get((scheme, path)) or routes.get(path)
                or Page(404, body=b"not found"))
        body = page.body.replace(b"{port}", str(self.server.server_address[1]).encode())
        if page.stream is not None:
            self.send_response(page.status)
            if page.content_type:
                self.send_header("Content-Type", page.content_type)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            if self.command != "HEAD":
                try:
                    page.stream(self.wfile.write, self.server.stopped)
                except OSError:
                    pass  # the browser went away
            return
        self.send_response(page.status)
        if page.content_type:
            self.send_header("Content-Type", page.content_type)
        for k, v in page.headers:
            self.send_header(k, v.replace("{port}", str(self.server.server_address[1])))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_OPTIONS = _serve


class _SiteServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, routes, ctx: ssl.SSLContext | None, plain: bool, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.routes = routes
        self.ctx = ctx
        self.plain = plain
        self.stopped = threading.Event()
        self.requests: list[str] = []  # paths asked for, in order

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up early (a timeout, a body limit) is part of the test, not an error."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError | TimeoutError):
            super().handle_error(request, client_address)

    def finish_request(self, request, client_address) -> None:  # runs in the connection's thread
        if self.ctx is not None:
            request.settimeout(5)
            try:
                first = request.recv(1, socket.MSG_PEEK)
            except OSError:
                return
            if first == b"\x16":
                try:
                    request = self.ctx.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # handshake refused (e.g. a TLS version we do not offer)
            elif not self.plain:
                return
        request.settimeout(10)
        super().finish_request(request, client_address)


@contextlib.contextmanager
def site(routes: dict, *, tls: tuple[Path, Path] | None = None, plain: bool = True,
         versions: tuple[str, str] = ("TLSv1_2", "TLSv1_3"), ciphers: str | None = None,
         port: int = 0) -> Iterator[int]:
    """Serve `routes` ({path, (scheme, path) or (host, path): Page}) on 127.0.0.1; yields the port.

    With `tls`, HTTPS is served; `plain` keeps HTTP on the same port too. `port`: a given one
    (a server stopped and started again), else a free one.
    """
    ctx = None
    if tls is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tls[0]), str(tls[1]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = getattr(ssl.TLSVersion, versions[0])
            ctx.maximum_version = getattr(ssl.TLSVersion, versions[1])
            if versions[0] in ("TLSv1", "TLSv1_1") or ciphers:
                ctx.set_ciphers(ciphers or "ALL:@SECLEVEL=0")
    server = _SiteServer(routes, ctx, plain or tls is None, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.stopped.set()
        server.shutdown()
        server.server_close()
