"""A forwarding HTTP proxy on 127.0.0.1 for the proxy tests: absolute-form requests for
plain HTTP, CONNECT tunnels for HTTPS, optional Basic authentication. It records what it
was asked (method and target) so a test can see the traffic went through it."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import select
import socket
import socketserver
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit


@dataclasses.dataclass
class ProxyLog:
    requests: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (method, target)
    refused: int = 0  # 407 answers
    unreachable: set[str] = dataclasses.field(default_factory=set)  # "host:port" it answers 502 for (a broken path)

    def targets(self) -> list[str]:
        return [t for _m, t in self.requests]


class _Handler(socketserver.StreamRequestHandler):
    server: _ProxyServer

    def _answer(self, code: int, text: str, extra: str = "") -> None:
        body = f"{code} {text}\n".encode()
        self.wfile.write(f"HTTP/1.1 {code} {text}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
                         .encode() + body)

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        header, rest = head.split(b"\r\n\r\n", 1)
        lines = header.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        self.server.log.requests.append((method, target))
        if self.server.credentials is not None:
            expected = "Basic " + base64.b64encode(self.server.credentials.encode()).decode()
            if fields.get("proxy-authorization") != expected:
                self.server.log.refused += 1
                self._answer(407, "Proxy Authentication Required", 'Proxy-Authenticate: Basic realm="test"\r\n')
                return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            if target in self.server.log.unreachable:
                self._answer(502, "Bad Gateway")
                return
            try:
                upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
            except OSError:
                self._answer(502, "Bad Gateway")
                return
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pipe(self.request, upstream, rest)
            return
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            self._answer(400, "Bad Request")
            return
        if f"{parts.hostname}:{parts.port or 80}" in self.server.log.unreachable:
            self._answer(502, "Bad Gateway")
            return
        try:
            upstream = socket.create_connection((parts.hostname, parts.port or 80), timeout=5)
        except OSError:
            self._answer(502, "Bad Gateway")
            return
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        kept = [line for line in lines[1:] if not line.lower().startswith(("proxy-authorization:", "proxy-connection:"))]
        upstream.sendall(("\r\n".join([f"{method} {path} HTTP/1.1", *kept]) + "\r\n\r\n").encode("latin-1") + rest)
        _pipe(self.request, upstream, b"")


def _pipe(client: socket.socket, upstream: socket.socket, first: bytes) -> None:
    try:
        if first:
            upstream.sendall(first)
        sockets = [client, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], 30)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
    except OSError:
        return
    finally:
        upstream.close()


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, credentials: str | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.credentials = credentials
        self.log = ProxyLog()


@contextlib.contextmanager
def proxy(credentials: str | None = None) -> Iterator[tuple[int, ProxyLog]]:
    """A proxy on 127.0.0.1; yields its port and what it saw. `credentials`: "user:password" it demands."""
    server = _ProxyServer(credentials)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], server.log
    finally:
        server.shutdown()
        server.server_close()
