"""A hostile HTTP server on 127.0.0.1 that writes raw bytes: what a broken or malicious
server sends and a well-behaved one (http.server) would refuse to produce.

Each path answers with the bytes of `RESPONSES[path]` (a whole response, headers included,
so a header can hold any byte); `/ok` is a plain healthy page for the "neighbour" checks.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

PAGE = b"<!doctype html><html lang=de><title>Serviceportal</title><p>Willkommen beim Serviceportal Saarland</p></html>"


def response(status: str = "200 OK", headers: list[tuple[bytes, bytes]] | None = None, body: bytes = PAGE,
             content_type: bytes = b"text/html; charset=utf-8") -> bytes:
    lines = [b"HTTP/1.1 " + status.encode()]
    if content_type:
        lines.append(b"Content-Type: " + content_type)
    lines += [name + b": " + value for name, value in headers or []]
    lines.append(b"Content-Length: %d" % len(body))
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def redirect(location: bytes) -> bytes:
    return response("302 Found", [(b"Location", location)], b"")


RESPONSES: dict[str, bytes | Callable[[], bytes]] = {
    "/ok": response(),
    "/ok-\xc3\xa4": response(),  # the target of a redirect with a non-ASCII byte, percent-encoded by the client
    # a UTF-8 "ä" raw in the Location header, as some servers send it
    "/redirect-utf8": redirect(b"/ok-\xc3\xa4"),
    "/ok-\xe4": response(),
    # a Latin-1 byte that is no UTF-8: a browser percent-encodes it as it is (%E4)
    "/redirect-latin1": redirect(b"/ok-\xe4"),
    # a control character in Location
    "/redirect-ctl": redirect(b"/ok\x01x"),
    # a 10 KB Location
    "/redirect-long": redirect(b"/ok?" + b"a" * 10_000),
    # a 100 KB Location: longer than a header line libcurl accepts? (a header block Chromium accepts)
    "/redirect-huge": redirect(b"/ok?" + b"b" * 100_000),
    "/charset-idna": response(content_type=b"text/html; charset=idna"),
    "/charset-bogus": response(content_type=b"text/html; charset=x-no-such-codec"),
    "/charset-utf16": response(content_type=b"text/html; charset=utf-16", body=PAGE.decode().encode("utf-16")),
    "/cookies-1000": response(headers=[(b"Set-Cookie", b"c%d=v%d; Path=/" % (i, i)) for i in range(1000)]),
    "/header-200k": response(headers=[(b"X-Padding", b"p" * 200_000)]),
    "/header-300k": response(headers=[(b"X-Padding", b"p" * 300_000)]),
    "/dialogs": response(body=b"<!doctype html><html lang=de><title>Dialoge</title><script>alert('eins');alert('zwei');"
                                b"confirm('Wirklich?');prompt('Name?');alert('drei');</script>"
                                b"<main><h1>Serviceportal</h1><img src=x.png></main></html>"),
    "/frames-0": response(body=b"<!doctype html><html lang=de><title>Tiefe 0</title><main><h1>Rahmen</h1>"
                                b"<img src=a.png><iframe title=t src=/frames-1></iframe></main></html>"),
    # memory a page takes outside the V8 heap (ArrayBuffers), 40 MB every 20 ms, touched so it is resident
    "/memory-bomb": response(body=b"<!doctype html><html lang=de><title>Speicher</title><main>Laden</main><script>"
                                  b"const keep = []; for (;;) keep.push(new Uint8Array(20e6).fill(7));"
                                  b"</script></html>"),
    # a script that fills the V8 heap itself
    "/heap-bomb": response(body=b"<!doctype html><html lang=de><title>Heap</title><main>Laden</main><script>"
                                b"const keep = []; setInterval(() => { for (let i = 0; i < 2e5; i++) "
                                b"keep.push({a: i, b: 'x' + i}); }, 5);</script></html>"),
    # a page that asks before it is left (beforeunload), with a link away
    "/leave": response(body=b"<!doctype html><html lang=de><title>Antrag</title><main><h1>Antrag</h1>"
                            b"<a href=/ok>Weiter</a></main><script>addEventListener('beforeunload', e => "
                            b"{ e.preventDefault(); e.returnValue = 'Wirklich verlassen?'; });"
                            b"onbeforeunload = () => 'Daten gehen verloren';</script></html>"),
    "/download": response(headers=[(b"Content-Disposition", b'attachment; filename="antrag.pdf"')],
                          content_type=b"application/pdf", body=b"%PDF-1.4\n" + b"0" * 2048),
}


FRAME_DEPTH = 33  # /frames-0 nests documents down to /frames-33: 34 documents, 3 past the cap of 30
for _depth in range(1, FRAME_DEPTH + 1):
    _inner = (b"<iframe title=t src=/frames-%d></iframe>" % (_depth + 1)) if _depth < FRAME_DEPTH else b""
    RESPONSES[f"/frames-{_depth}"] = response(body=b"<!doctype html><html lang=de><title>Tiefe %d</title>"
                                                   b"<img src=b.png>%s</html>" % (_depth, _inner))


class _Server:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.closed = False

    def serve(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    @staticmethod
    def _answer(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                target = data.split(b" ", 2)[1].decode("latin-1")
                from urllib.parse import unquote_to_bytes
                path = unquote_to_bytes(target.split("?", 1)[0]).decode("latin-1")
                answer = RESPONSES.get(path)
                if answer is None:
                    answer = response("404 Not Found", body=b"not found")
                conn.sendall(answer() if callable(answer) else answer)
            except OSError:
                pass


@contextlib.contextmanager
def serve() -> Iterator[str]:
    server = _Server()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.closed = True
        server.sock.close()
