"""A local estate for the DSGVO tests: a first-party portal and fake third parties.

Chromium resolves the fake names to local servers (`--host-resolver-rules`), all over TLS
with a certificate from the test CA (the test browser ignores certificate errors), so the
pages behave as they would on the public web: a tracker script on
www.google-analytics.com, Google Fonts, a YouTube embed, a processor's CDN, and an
unlisted widget host.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from checks.browser import BrowserSettings
from tests.a11y_site import html
from tests.certs import TestCA
from tests.sites import Page, site

PORTAL = "www.portal.saarland"
STATIC = "static.portal.saarland"  # first party: same registrable domain
THIRD_HOSTS = ("www.google-analytics.com", "fonts.googleapis.com", "fonts.gstatic.com", "www.youtube.com",
               "www.youtube-nocookie.com", "cdn.dienstleister.example", "widget.unbekannt.example")

LEGAL_FOOTER = """<footer><ul><li><a href="/impressum">Impressum</a></li>
<li><a href="/datenschutz">Datenschutzerklärung</a></li></ul></footer>"""

# Everything a careful public site does: first-party assets only, a session cookie, a form
# that posts over HTTPS, and both legal links.
CLEAN = html(f"""<header><nav><a href="/">Start</a></nav></header>
<main><h1>Serviceportal</h1><link rel="stylesheet" href="https://{STATIC}/style.css">
<img src="https://{STATIC}/logo.svg" alt="Logo">
<form action="/suche" method="post"><label>Suche <input name="q"></label><button>Suchen</button></form></main>
{LEGAL_FOOTER}""")

# Everything the check must find, each once.
DIRTY = html(f"""<main><h1>Alles auf einmal</h1>
<script src="https://www.google-analytics.com/analytics.js"></script>
<iframe src="https://www.youtube.com/embed/abc123" title="Video"></iframe>
<script src="https://widget.unbekannt.example/widget.js"></script>
<form action="http://{PORTAL}/absenden" method="post"><label>Name <input name="n"></label><button>Senden</button></form>
<p>Angaben gemäß § 5 TMG.</p>
<script>sessionStorage.setItem('besuch', '1');</script></main>
<footer><a href="/datenschutz">Datenschutz</a></footer>""",
             head='<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">')

# A careful embed: YouTube without cookies, a script from a processor's CDN.
NOCOOKIE = html(f"""<main><h1>Video</h1>
<iframe src="https://www.youtube-nocookie.com/embed/abc123" title="Video"></iframe>
<script src="https://cdn.dienstleister.example/lib.js"></script></main>{LEGAL_FOOTER}""")

# Loads the tracker only once the consent cookie is there: the second pass shows it.
CONSENT = html(f"""<main><h1>Mit Einwilligung</h1><script>
if (document.cookie.split('; ').includes('einwilligung=alle')) {{
  const s = document.createElement('script'); s.src = 'https://www.google-analytics.com/analytics.js';
  document.head.appendChild(s);
}}</script></main>{LEGAL_FOOTER}""")

# Legal links in different places, for the detection tests.
LINKS_HEADER = html("""<header><nav><a href="/impressum">Impressum</a> | <a href="/datenschutz">Datenschutz</a></nav></header>
<main><h1>Kopf</h1></main>""")
LINKS_MENU = html("""<header><nav><button aria-expanded="false" aria-controls="m">Menü</button>
<ul id="m" hidden><li><a href="/rechtliches/anbieterkennzeichnung">Anbieterkennzeichnung</a></li>
<li><a href="/dsgvo-hinweise">Hinweise zur DSGVO</a></li></ul></nav></header><main><h1>Menü</h1></main>""")
LINKS_BY_URL = html("""<main><h1>Nur URL</h1></main><footer><a href="/impressum.html">Wer wir sind</a>
<a href="/datenschutzerklaerung">Rechtliches</a></footer>""")
LINKS_ABSENT = html("""<main><h1>Ohne</h1><a href="mailto:datenschutz@portal.example">datenschutz@portal.example</a>
<a href="/cookies">Datenschutzeinstellungen</a><a href="/kontakt">Kontakt</a></main>""")

# the legal links only inside the consent banner (gone after a choice), and inside a consent dialog
LINKS_BANNER = html("""<main><h1>Banner</h1><p>Willkommen.</p></main>
<div id="cookie-banner" style="position:fixed;bottom:0"><p>Wir verwenden Cookies.
<a href="/datenschutz">Datenschutzerklärung</a> <a href="/impressum">Impressum</a></p><button>Alle akzeptieren</button></div>""")
LINKS_DIALOG = html("""<main><h1>Dialog</h1><p>Willkommen.</p><footer><a href="/impressum">Impressum</a></footer></main>
<div role="dialog" aria-modal="true" aria-label="Einstellungen"><p>Mit Ihrer Einwilligung setzen wir Cookies.</p>
<a href="/datenschutz">Datenschutzhinweise</a><button>Ablehnen</button></div>""")

IMPRESSUM = html("<main><h1>Impressum</h1><p>Angaben gemäß § 5 DDG: Land Saarland.</p></main>")
IMPRESSUM_OLD = html("<main><h1>Impressum</h1><p>Angaben gemäß § 5 TMG. Cookies nach § 25 TTDSG.</p></main>")
PRIVACY = html("<main><h1>Datenschutzerklärung</h1><p>Nach Art. 13 DSGVO und § 25 TDDDG.</p></main>")

TRACKER_JS = (b"document.cookie = '_ga=GA1.2.1234.5678; max-age=63072000; path=/';"
              b"localStorage.setItem('_ga_ls', 'x');"
              b"new Image().src = 'https://www.google-analytics.com/collect?v=1&tid=UA-1';")
FONT_CSS = (b"@font-face { font-family: Roboto; src: url(https://fonts.gstatic.com/s/roboto/v1/roboto.woff2) format('woff2'); }"
            b" body { font-family: Roboto; }")
YOUTUBE_EMBED = html("""<main><p>Video</p><img src="https://www.youtube.com/generate_204" alt="">
<script>localStorage.setItem('yt-player', '1');</script></main>""", title="YouTube")
NOCOOKIE_EMBED = html("<main><p>Video ohne Cookies</p></main>", title="YouTube nocookie")


def first_party_routes() -> dict:
    return {
        "/": Page(body=CLEAN, headers=[("Set-Cookie", "PHPSESSID=abc123; Path=/; Secure; HttpOnly; SameSite=Lax")]),
        # plain HTTP redirects to HTTPS, as a careful site does (the DSGVO check's redirect probe)
        ("http", "/"): Page(301, [("Location", f"https://{PORTAL}/")], b""),
        ("http", "/nocookie"): Page(301, [("Location", f"https://{PORTAL}/nocookie")], b""),
        "/style.css": Page(body=b"body{margin:0}", content_type="text/css"),
        "/logo.svg": Page(body=b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>',
                          content_type="image/svg+xml"),
        "/suche": Page(body=html("<main><h1>Suche</h1></main>")),
        "/alles": Page(body=DIRTY, headers=[("Set-Cookie", "werbung_id=42; Path=/; Max-Age=31536000; Secure")]),
        "/nocookie": Page(body=NOCOOKIE),
        "/einwilligung": Page(body=CONSENT),
        "/kopf": Page(body=LINKS_HEADER), "/menue": Page(body=LINKS_MENU), "/url": Page(body=LINKS_BY_URL),
        "/ohne": Page(body=LINKS_ABSENT), "/banner": Page(body=LINKS_BANNER), "/dialog": Page(body=LINKS_DIALOG),
        "/impressum": Page(body=IMPRESSUM), "/datenschutz": Page(body=PRIVACY),
        "/alt": Page(body=html(f"<main><h1>Alt</h1></main>{LEGAL_FOOTER.replace('/impressum', '/impressum-alt')}")),
        "/impressum-alt": Page(body=IMPRESSUM_OLD),
        "/leer": Page(body=html("<main><h1>Leer</h1></main>")),
    }


def third_party_routes() -> dict:
    return {
        "/analytics.js": Page(body=TRACKER_JS, content_type="application/javascript", headers=[
            ("Set-Cookie", "_ga_tp=1; Domain=google-analytics.com; Path=/; Max-Age=63072000; Secure; SameSite=None")]),
        "/collect": Page(body=b"GIF89a", content_type="image/gif"),
        "/css": Page(body=FONT_CSS, content_type="text/css"),
        "/s/roboto/v1/roboto.woff2": Page(body=b"wOF2", content_type="font/woff2"),
        "/embed/abc123": Page(body=YOUTUBE_EMBED, headers=[
            ("Set-Cookie", "VISITOR_INFO1_LIVE=xyz; Domain=youtube.com; Path=/; Max-Age=15552000; Secure; SameSite=None")]),
        ("www.youtube-nocookie.com", "/embed/abc123"): Page(body=NOCOOKIE_EMBED),
        "/generate_204": Page(status=204, body=b"", content_type=None),
        "/lib.js": Page(body=b"window.lib = 1;", content_type="application/javascript"),
        "/widget.js": Page(body=b"window.widget = 1;", content_type="application/javascript"),
    }


@dataclasses.dataclass(frozen=True)
class Estate:
    portal: str  # https://www.portal.saarland (Chromium maps it to the local server)
    browser: BrowserSettings
    first_port: int
    third_port: int


def browser_settings(rules: list[str], extra: tuple[str, ...] = ()) -> BrowserSettings:
    args = ["--ignore-certificate-errors", *extra]
    if rules:
        args.insert(0, "--host-resolver-rules=" + ", ".join(rules))
    return BrowserSettings(arguments=args, accept_insecure_certs=True)


@contextlib.contextmanager
def estate(ca: TestCA) -> Iterator[Estate]:
    pair = ca.issue("gdpr", [PORTAL, STATIC, *THIRD_HOSTS, "localhost", "127.0.0.1"])
    tls = (pair.cert, pair.key)
    with site(first_party_routes(), tls=tls) as first, site(third_party_routes(), tls=tls) as third:
        # Third parties are addressed without a port (443), as on the web: the rules add it.
        rules = [f"MAP {PORTAL} 127.0.0.1:{first}", f"MAP {STATIC} 127.0.0.1:{first}"]
        rules += [f"MAP {h} 127.0.0.1:{third}" for h in THIRD_HOSTS]
        yield Estate(f"https://{PORTAL}", browser_settings(rules), first, third)
