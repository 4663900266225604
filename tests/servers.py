"""Local test servers on 127.0.0.1: healthy, slow, broken and hostile behaviours by path.

`/ok` 200 with a body; `/status/503`; `/redirect/N` N hops then /ok; `/loop` redirects to
itself; `/big` a 20 MiB body with Content-Length, `/big-chunked` the same chunked;
`/hang` accepts and never answers; `/drip` sends a byte every 0.2 s forever;
`/delay/MS` waits MS milliseconds before answering; `/flaky/KEY` fails the first
request per KEY with 503 and then answers 200; `/count/KEY` answers 200 and counts the
requests per KEY (`hits(KEY)`).
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

BODY = b"<!doctype html><html lang=de><title>Serviceportal</title><p>Willkommen beim Serviceportal Saarland</p></html>"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: the headers and the body go out in two writes; with Nagle's algorithm the
    # body then waits for the client's delayed ACK (40 ms on loopback) on every request of a
    # kept-alive connection after its first, as no real web server makes a browser wait.
    disable_nagle_algorithm = True
    flaky_seen: set[str] = set()
    flaky_lock = threading.Lock()
    counts: dict[str, int] = {}

    def log_message(self, *_args) -> None:
        pass

    def _reply(self, code: int, body: bytes = BODY, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:  # noqa: C901 - a table of behaviours
        path = self.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        try:
            if path in ("/", "/ok"):
                self._reply(200)
            elif parts[0] == "status":
                self._reply(int(parts[1]), f"status {parts[1]}".encode())
            elif parts[0] == "redirect":
                n = int(parts[1])
                self._reply(302, b"", {"Location": f"/redirect/{n - 1}" if n > 1 else "/ok"})
            elif path == "/loop":
                self._reply(301, b"", {"Location": "/loop"})
            elif path == "/big":
                size = 20 * 1024 * 1024
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                chunk = b"x" * 65536
                for _ in range(size // len(chunk)):
                    self.wfile.write(chunk)
            elif path == "/big-chunked":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"x" * 65536
                for _ in range(20 * 16):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            elif path == "/hang":
                time.sleep(60)
            elif path == "/drip":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for _ in range(300):
                    self.wfile.write(b"X")
                    self.wfile.flush()
                    time.sleep(0.2)
            elif parts[0] == "delay":
                time.sleep(int(parts[1]) / 1000)
                self._reply(200)
            elif parts[0] == "count":
                with self.flaky_lock:
                    self.counts[parts[1]] = self.counts.get(parts[1], 0) + 1
                self._reply(200)
            elif parts[0] == "flaky":
                with self.flaky_lock:
                    first = parts[1] not in self.flaky_seen
                    self.flaky_seen.add(parts[1])
                self._reply(503 if first else 200)
            else:
                self._reply(404, b"not found")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        """A client that refuses the certificate (the point of several tests) resets the
        connection; that is not worth a traceback in the test output. Anything else is."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, ssl.SSLError)):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Start a server on 127.0.0.1; yields its base URL (http:// or https://)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    if tls is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def hits(group: str) -> int:
    """Requests to `/count/KEY` so far, summed over the keys `group` and `group-*`."""
    with _Handler.flaky_lock:
        return sum(n for key, n in _Handler.counts.items() if key.split("-", 1)[0] == group)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def unaccepting_port() -> Iterator[int]:
    """A port whose listen backlog is full: new connections are never completed (SYN dropped)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):  # fill the accept queue; later SYNs are dropped
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        fillers.append(s)
    time.sleep(0.1)
    try:
        yield port
    finally:
        for s in fillers:
            s.close()
        listener.close()
