"""A local multi-step application (Antragsstrecke) for the journey tests.

Start, personal data, address with a select, an upload with a declaration, summary,
submit, each a page of its own; the forms post and the server answers with a redirect to
the next step (post/redirect/get, as real application platforms do). Variants live under
`/v/<variant>/`:

- gut: all good
- fehler500: the address step answers 500
- umbenannt: the address step's "Weiter" button is called "Fortfahren"
- haengt: the upload step never finishes loading
- barriere: the personal data step has barriers (an image without alt, an unlabelled field)
- tracker: the upload step loads a tracker (www.google-analytics.com, mapped to this server)
- login: a login wall in front; /v/login/konto is a page only a logged-in user sees
- spa: a single-page form: "Weiter" submits nothing, a script shows the next step in place

The server counts submissions (POST .../absenden): a journey must never reach it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html as htmlmod
import http.server
import threading
import urllib.parse
from collections.abc import Iterator

VARIANTS = ("gut", "fehler500", "umbenannt", "haengt", "barriere", "tracker", "login", "spa")
PASSWORD = "Sehr-Geheim-4711!"  # the login's password (the tests pass it as a secret)
TRACKER = "www.google-analytics.com"


def page(title: str, body: str, head: str = "") -> bytes:
    return (f'<!doctype html><html lang="de"><head><meta charset="utf-8"><title>{title}</title>{head}</head>'
            f'<body><header><p>Serviceportal Saarland</p></header><main>{body}</main>'
            f'<footer><a href="/impressum">Impressum</a> <a href="/datenschutz">Datenschutz</a></footer></body></html>'
            ).encode()


@dataclasses.dataclass
class App:
    url: str  # http://127.0.0.1:PORT
    submissions: list[str]  # paths of every POST .../absenden
    requests: list[tuple[str, str]]  # (method, path) of everything
    tracker_hits: list[str]

    def variant(self, name: str) -> str:
        return f"{self.url}/v/{name}/"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: the headers and the body go out in two writes; with Nagle's algorithm the
    # body then waits for the client's delayed ACK (40 ms on loopback) on every request of a
    # kept-alive connection after its first, as no real web server makes a browser wait.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, *_args) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None,
              content_type: str = "text/html; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in headers or []:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _cookies(self) -> dict[str, str]:
        out = {}
        for part in (self.headers.get("Cookie") or "").split(";"):
            if "=" in part:
                k, v = part.strip().split("=", 1)
                out[k] = urllib.parse.unquote(v)
        return out

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.app.requests.append(("GET", path))
        host = (self.headers.get("Host") or "").split(":")[0]
        if host == TRACKER:
            self.server.app.tracker_hits.append(path)
            self._send(200, b"document.cookie = '_ga=GA1.2.1; max-age=63072000; path=/';",
                       content_type="application/javascript")
            return
        parts = path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != "v" or parts[1] not in VARIANTS:
            self._send(404, page("Nicht gefunden", "<h1>Seite nicht gefunden</h1>"))
            return
        variant, step = parts[1], (parts[2] if len(parts) > 2 else "")
        cookies = self._cookies()
        if variant == "login" and step not in ("anmelden",) and cookies.get("sitzung") != "ok":
            self._send(303, headers=[("Location", f"/v/{variant}/anmelden")])
            return
        if variant == "spa" and step == "":
            self._send(200, page("Wohngeld beantragen", """<h1>Wohngeld beantragen</h1>
<form id="f" action="person" method="post"><p><label for="vn">Vorname</label> <input id="vn" name="vorname"></p>
<p><button type="submit">Weiter</button></p></form>
<script>document.getElementById('f').addEventListener('submit', e => { e.preventDefault();
  document.querySelector('main').innerHTML = '<h1>Schritt 2: Anschrift (ohne Neuladen)</h1>'; });</script>"""))
        elif step == "":
            self._send(200, page("Wohngeld beantragen", """<h1>Wohngeld beantragen</h1>
<p>Hier beantragen Sie Wohngeld online.</p><p><a href="person">Antrag starten</a></p>"""))
        elif step == "anmelden":
            error = '<p role="alert">Benutzername oder Passwort falsch.</p>' if "fehler" in self.path else ""
            self._send(200, page("Anmelden", f"""<h1>Anmelden mit dem Servicekonto</h1>{error}
<form method="post" action="anmelden"><p><label for="u">Benutzername</label> <input id="u" name="u"></p>
<p><label for="p">Passwort</label> <input id="p" name="p" type="password"></p>
<p><button type="submit">Anmelden</button></p></form>"""))
        elif step == "konto":
            self._send(200, page("Mein Konto", """<h1>Mein Konto</h1><p>Ihre Anträge</p>
<img src="/logo.png"><script src="http://www.google-analytics.com/analytics.js"></script>"""))
        elif step == "person":
            barrier = ('<img src="/banner.png" width="40" height="20"><p><input name="x"></p>'
                       if variant == "barriere" else "")
            self._send(200, page("Persönliche Angaben", f"""<h1>Schritt 1: Persönliche Angaben</h1>{barrier}
<form method="post" action="person"><p><label for="vn">Vorname</label> <input id="vn" name="vorname"></p>
<p><label for="nn">Nachname</label> <input id="nn" name="nachname"></p>
<p><button type="submit">Weiter</button></p></form>"""))
        elif step == "adresse":
            if variant == "fehler500":
                self._send(500, page("Fehler", "<h1>Interner Serverfehler</h1>"))
                return
            label = "Fortfahren" if variant == "umbenannt" else "Weiter"
            self._send(200, page("Anschrift", f"""<h1>Schritt 2: Anschrift</h1>
<form method="post" action="adresse"><p><label for="s">Straße und Hausnummer</label> <input id="s" name="strasse"></p>
<p><label for="l">Bundesland</label> <select id="l" name="land"><option value="">Bitte wählen</option>
<option value="by">Bayern</option><option value="sl">Saarland</option><option value="rp">Rheinland-Pfalz</option></select></p>
<p><button type="submit">{label}</button></p></form>"""))
        elif step == "nachweis":
            if variant == "haengt":
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.wfile.write(b'<!doctype html><html lang="de"><title>Nachweis</title><h1>Nachweis</h1>')
                    self.wfile.flush()
                    self.server.stopped.wait()
                return
            tracker = (f'<script src="http://{TRACKER}/analytics.js"></script>' if variant == "tracker" else "")
            self._send(200, page("Nachweise", f"""<h1>Schritt 3: Nachweise</h1>{tracker}
<form method="post" action="nachweis" enctype="multipart/form-data">
<p><label for="f">Einkommensnachweis hochladen</label> <input id="f" name="datei" type="file"></p>
<p><input id="r" name="richtig" type="checkbox" value="1"> <label for="r">Ich versichere die Richtigkeit meiner Angaben</label></p>
<p><button type="submit">Weiter</button></p></form>"""))
        elif step == "zusammenfassung":
            name = htmlmod.escape(cookies.get("vorname", ""))
            self._send(200, page("Zusammenfassung", f"""<h1>Schritt 4: Zusammenfassung</h1>
<p>Vorname: {name}</p><p>Bitte prüfen Sie Ihre Angaben.</p>
<form method="post" action="absenden"><p><button type="submit">Absenden</button></p></form>"""))
        elif step == "danke":
            self._send(200, page("Danke", "<h1>Vielen Dank, Ihr Antrag ist eingegangen</h1>"))
        else:
            self._send(404, page("Nicht gefunden", "<h1>Seite nicht gefunden</h1>"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.app.requests.append(("POST", path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = path.strip("/").split("/")
        if len(parts) < 3 or parts[0] != "v":
            self._send(404)
            return
        variant, step = parts[1], parts[2]
        nxt = {"person": "adresse", "adresse": "nachweis", "nachweis": "zusammenfassung"}
        if step == "absenden":
            self.server.app.submissions.append(path)
            self._send(303, headers=[("Location", f"/v/{variant}/danke")])
        elif step == "anmelden":
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            if form.get("p", [""])[0] == PASSWORD:
                self._send(303, headers=[("Location", f"/v/{variant}/"), ("Set-Cookie", "sitzung=ok; Path=/")])
            else:
                self._send(303, headers=[("Location", f"/v/{variant}/anmelden?fehler=1")])
        elif step in nxt:
            headers = [("Location", f"/v/{variant}/{nxt[step]}")]
            if step == "person":
                form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
                vorname = urllib.parse.quote(form.get("vorname", [""])[0])
                headers.append(("Set-Cookie", f"vorname={vorname}; Path=/"))
            self._send(303, headers=headers)
        else:
            self._send(404)

    do_HEAD = do_GET


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: App) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.app = app
        self.stopped = threading.Event()


@contextlib.contextmanager
def serve() -> Iterator[App]:
    app = App("", [], [], [])
    server = _Server(app)
    app.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.stopped.set()
        server.shutdown()
        server.server_close()


def steps(variant: str = "gut", *, submit: bool = False) -> list[dict]:
    """The catalog's steps for the whole application (the login first for the login variant)."""
    out: list[dict] = [{"name": "start", "open": f"/v/{variant}/"}]
    if variant == "login":
        out += [{"name": "benutzer", "fill": "Benutzername", "value": "benutzer"},
                {"name": "passwort", "fill": "Passwort", "value": "passwort"},
                {"name": "anmelden", "click": "Anmelden"}]
    out += [
        {"name": "startseite", "expect": {"text": "Wohngeld beantragen", "no_error": True}},
        {"name": "starten", "click": "Antrag starten", "role": "link"},
        {"name": "vorname", "fill": "Vorname", "value": "vorname"},
        {"name": "nachname", "fill": "Nachname", "value": "nachname"},
        {"name": "weiter-person", "click": "Weiter"},
        {"name": "strasse", "fill": "Straße und Hausnummer", "value": "strasse"},
        {"name": "land", "choose": "Bundesland", "option": "Saarland"},
        {"name": "weiter-adresse", "click": "Weiter"},
        {"name": "nachweis", "upload": "Einkommensnachweis hochladen", "file": "nachweis.pdf"},
        {"name": "versicherung", "tick": "Ich versichere die Richtigkeit meiner Angaben"},
        {"name": "weiter-nachweis", "click": "Weiter"},
        {"name": "zusammenfassung", "expect": {"text": "Bitte prüfen Sie Ihre Angaben", "url": "zusammenfassung$"}},
    ]
    if submit:  # misconfigured: clicks the final button
        out.append({"name": "absenden", "click": "Absenden"})
    out.append({"name": "ende", "stop": "Zusammenfassung erreicht, nichts absenden"})
    return out
