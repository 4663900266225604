"""A second local application form, unlike tests/journey_app.py: a date of birth, a
municipality list a script fills 1.5 s after load, a consent checkbox that enables "Weiter",
an upload, a summary. Variants by path prefix /f/<variant>/:

- `gut`: everything works.
- `pflicht`: a new required field "Steuer-ID" the journey does not know: the browser's own
  validation blocks the submission.
- `kurz`: the name field cuts its input at 3 characters (maxlength): a wrong value.
- `spaet`: the municipality list is filled only after 4 s.
- `server`: the service refuses the submission: its answer is the form again, the date of
  birth marked `aria-invalid` with an error summary ("Es gibt ein Problem").
- `skript`: the form checks itself in a script (`novalidate`): the submission is stopped in
  place, the date field marked invalid and an alert names the problem.
- `hinweis`: the summary page has a live region with a friendly note (`role=alert`, no error):
  nothing is refused.
- `konto`: a login in front (user name and password; the answer to the login sets the
  session cookie `anmeldung`, the form page sends anyone without it to the login), and the
  summary page loads a tracker (TRACKER, to be mapped to this server).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tests.sites import Page, site

VARIANTS = ("gut", "pflicht", "kurz", "spaet", "server", "skript", "hinweis", "konto")
TRACKER = "www.google-analytics.com"  # a listed tracker host; the tests map it to this server


def _form(variant: str, refused: bool = False) -> bytes:
    delay = 4000 if variant == "spaet" else 1500
    novalidate = " novalidate" if variant == "skript" else ""
    invalid = (' aria-invalid="true" aria-describedby="geb-fehler"' if refused else "")
    problem = ('<div class="fehlerliste" tabindex="-1"><h2>Es gibt ein Problem</h2><ul><li><a href="#geb">'
               'Das Geburtsdatum darf nicht vor 1990 liegen</a></li></ul></div>') if refused else ""
    geb_error = '<span id="geb-fehler">Geburtsdatum vor 1990</span>' if refused else ""
    wall = ("if (!document.cookie.split('; ').includes('anmeldung=ja')) location.replace('/f/konto/anmelden');"
            if variant == "konto" else "")
    check = ("""
document.querySelector('form').addEventListener('submit', e => {
  e.preventDefault();
  const geb = document.getElementById('geb');
  geb.setAttribute('aria-invalid', 'true');
  const box = document.createElement('div'); box.setAttribute('role', 'alert');
  box.textContent = 'Bitte korrigieren Sie das Geburtsdatum: Antragsteller müssen nach 1990 geboren sein.';
  document.querySelector('main').prepend(box);
});""" if variant == "skript" else "")
    maxlength = ' maxlength="3"' if variant == "kurz" else ""
    extra = ('<p><label for="steuerid">Steuer-ID</label> <input id="steuerid" name="steuerid" required '
             'pattern="[0-9]{11}"></p>') if variant == "pflicht" else ""
    return f"""<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Antrag auf Bewohnerparkausweis</title></head>
<body><main><h1>Bewohnerparkausweis beantragen</h1>{problem}
<form action="/f/{variant}/zusammenfassung" method="get"{novalidate}>
<p><label for="name">Name</label> <input id="name" name="name" required{maxlength}></p>
<p><label for="geb">Geburtsdatum</label> <input id="geb" name="geb" type="date" required{invalid}>{geb_error}</p>
<p><label for="gemeinde">Gemeinde</label> <select id="gemeinde" name="gemeinde" required>
<option value="">Bitte wählen</option></select></p>
{extra}
<p><label for="nachweis">Nachweis hochladen</label> <input id="nachweis" name="nachweis" type="file"></p>
<p><input id="ok" type="checkbox" name="ok"> <label for="ok">Meine Angaben sind richtig</label></p>
<p><button type="submit" id="weiter" disabled>Weiter</button></p>
</form>
<script>
{wall}
setTimeout(() => {{
  const sel = document.getElementById('gemeinde');
  for (const name of ['Saarbrücken', 'Homburg', 'Merzig']) {{
    const o = document.createElement('option'); o.value = name.toLowerCase(); o.text = name; sel.add(o);
  }}
}}, {delay});
document.getElementById('ok').addEventListener('change', e => {{ document.getElementById('weiter').disabled = !e.target.checked; }});
{check}
</script></main></body></html>""".encode()


_SUMMARY = """<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Zusammenfassung</title></head>
<body><main><h1>Zusammenfassung</h1>{note}<p>Bitte prüfen Sie Ihre Angaben.</p>
<form action="/f/absenden" method="post"><button type="submit">Verbindlich absenden</button></form>
</main></body></html>"""
_NOTE = '<div role="alert">Ihre Angaben wurden zwischengespeichert.</div>'
_TRACKING = f'<script src="http://{TRACKER}:{{port}}/analytics.js"></script>'
_LOGIN = """<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Anmelden</title></head>
<body><main><h1>Anmelden</h1><form action="/f/konto/angemeldet" method="get">
<p><label for="benutzer">Benutzername</label> <input id="benutzer" name="benutzer" required></p>
<p><label for="passwort">Passwort</label> <input id="passwort" name="passwort" type="password" required></p>
<p><button type="submit">Anmelden</button></p></form></main></body></html>""".encode()
_LOGGED_IN = """<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Angemeldet</title></head>
<body><main><h1>Sie sind angemeldet</h1><p><a href="/f/konto/">Zum Antrag</a></p></main></body></html>""".encode()


@contextlib.contextmanager
def serve() -> Iterator[str]:
    routes = {}
    for variant in VARIANTS:
        routes[f"/f/{variant}/"] = Page(body=_form(variant))
        note = _NOTE if variant == "hinweis" else _TRACKING if variant == "konto" else ""
        answer = _form(variant, refused=True) if variant == "server" else _SUMMARY.format(note=note).encode()
        routes[f"/f/{variant}/zusammenfassung"] = Page(body=answer)
    routes["/f/konto/anmelden"] = Page(body=_LOGIN)
    routes["/f/konto/angemeldet"] = Page(body=_LOGGED_IN, headers=[("Set-Cookie", "anmeldung=ja; Path=/")])
    routes[(TRACKER, "/analytics.js")] = Page(body=b"/* analytics */", content_type="application/javascript")
    with site(routes) as port:
        yield f"http://127.0.0.1:{port}"


def steps(variant: str, *, date: str = "1980-05-17") -> list[dict]:
    login = [{"name": "konto", "open": "/f/konto/"},
             {"name": "anmeldeseite", "expect": {"text": "Anmelden"}},
             {"name": "benutzer", "fill": "Benutzername", "value": "benutzer"},
             {"name": "passwort", "fill": "Passwort", "value": "passwort"},
             {"name": "anmelden", "click": "Anmelden"},
             {"name": "zum-antrag", "click": "Zum Antrag"}] if variant == "konto" else []
    return login + [
        {"name": "start", "open": f"/f/{variant}/"},
        {"name": "name", "fill": "Name", "value": "name"},
        {"name": "geburtsdatum", "fill": "Geburtsdatum", "value": "geburtsdatum" if date == "1980-05-17" else "datum_de"},
        {"name": "gemeinde", "choose": "Gemeinde", "option": "Homburg"},
        {"name": "nachweis", "upload": "Nachweis hochladen", "file": "nachweis.pdf"},
        {"name": "zustimmung", "tick": "Meine Angaben sind richtig"},
        {"name": "weiter", "click": "Weiter"},
        {"name": "zusammenfassung", "expect": {"text": "Bitte prüfen Sie Ihre Angaben"}},
        {"name": "ende", "stop": "Zusammenfassung erreicht, nichts absenden"},
    ]
