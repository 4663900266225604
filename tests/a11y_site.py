"""Local pages for the accessibility tests: known violations, frames, BITV markers, hostile pages."""

from __future__ import annotations

from tests.sites import Page, delayed, hang_after, huge


def html(body: str, *, lang: str | None = "de", title: str = "Serviceportal Saarland", head: str = "") -> bytes:
    lang_attr = f' lang="{lang}"' if lang else ""
    return (f'<!doctype html><html{lang_attr}><head><meta charset="utf-8"><title>{title}</title>{head}</head>'
            f"<body>{body}</body></html>").encode()


FOOTER = """<footer><ul>
<li><a href="/barrierefreiheit">Erklärung zur Barrierefreiheit</a></li>
<li><a href="/impressum">Impressum</a></li></ul></footer>"""

# A start page that satisfies every marker: the statement in the footer, Leichte Sprache in a
# collapsed menu, and Gebärdensprache as an image link (only the image's alt names it).
START = html(f"""<header><nav aria-label="Hauptmenü"><details><summary>Menü</summary><ul>
<li><a href="/leichte-sprache">Leichte Sprache</a></li><li><a href="/seite2">Anträge</a></li></ul></details>
<a href="/dgs"><img src="/dgs.svg" alt="Informationen in Deutscher Gebärdensprache" width="20" height="20"></a>
</nav></header><main><h1>Serviceportal Saarland</h1><p>Willkommen.</p></main>{FOOTER}""")
PAGE2 = html(f"<main><h1>Anträge</h1><p>Hier stellen Sie Anträge.</p></main>{FOOTER}", title="Anträge")
STATEMENT = html("""<main><h1>Erklärung zur Barrierefreiheit</h1>
<p>Das Land Saarland ist bemüht, seine Website im Einklang mit § 12a BGG und der BITV 2.0 barrierefrei zugänglich zu machen.</p>
<h2>Stand der Vereinbarkeit mit den Anforderungen</h2><p>Diese Website ist mit den Anforderungen der BITV 2.0 teilweise vereinbar.</p>
<h2>Nicht barrierefreie Inhalte</h2><ul><li>Einige PDF-Dokumente sind nicht barrierefrei.</li>
<li>Videos haben noch keine Untertitel.</li></ul>
<h2>Erstellung dieser Erklärung</h2><p>Diese Erklärung wurde am 01.10.2026 erstellt. Grundlage ist eine Selbstbewertung.
Stand: 1. Oktober 2026.</p>
<h2>Barriere melden</h2><p>Schreiben Sie uns: <a href="mailto:barrierefreiheit@example.invalid">barrierefreiheit@example.invalid</a></p>
<h2>Schlichtungsverfahren</h2><p>Sie können sich an die Schlichtungsstelle nach dem BGG wenden.</p></main>""",
                 title="Erklärung zur Barrierefreiheit")
# Old, claims full conformity, names neither method nor arbitration, offers a telephone only.
OLD_STATEMENT = html("""<main><h1>Erklärung zur Barrierefreiheit</h1>
<p>Diese Website ist mit der BITV 2.0 vollständig vereinbar.</p><p>Diese Erklärung wurde am 15.03.2024 erstellt.</p>
<h2>Feedback und Kontaktangaben</h2><p>Rathaus, Am Markt 1, 66111 Saarbrücken. Telefon 0681 000</p></main>""",
                     title="Erklärung")
# A page about the town hall's ramps behind a footer link "Barrierefreiheit": no statement.
RAMPS = html("""<main><h1>Barrierefreiheit im Rathaus</h1><p>Das Rathaus hat eine Rampe am Nebeneingang und einen
Aufzug in alle Etagen. Stand: 01.10.2026.</p><p>Fragen: <a href="mailto:rathaus@example.invalid">rathaus@example.invalid</a></p>
<p><a href="/gebaerden-dolmetsch">Gebärdensprachdolmetscher für Ihren Termin buchen</a></p></main>""",
             title="Barrierefreiheit im Rathaus")
SVG = Page(body=b'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"></svg>', content_type="image/svg+xml")

# Known violations, each counted: image-alt 3, link-name 2, label 1, button-name 1,
# color-contrast 1, html-has-lang 1.
KNOWN = {"image-alt": 3, "link-name": 2, "label": 1, "button-name": 1, "color-contrast": 1, "html-has-lang": 1}
VIOLATIONS = html("""<main><h1>Fehler</h1>
<img src="/a.svg"><img src="/b.svg"><img src="/c.svg">
<a href="/x"></a><a href="/y"></a>
<input type="text" id="q"><button></button>
<p style="color:#bbbbbb;background:#ffffff">Kaum lesbar</p></main>""", lang=None, title="Fehler")

# A violation two frames deep, and one in a frame from another origin.
FRAMES = html("""<main><h1>Rahmen</h1><iframe src="/frame1" title="Formular"></iframe>
<iframe src="http://127.0.0.1:{other}/foreign" title="Fremd"></iframe></main>""", title="Rahmen")
FRAME1 = html('<main><p>Äußerer Rahmen</p><iframe src="/frame2" title="Innen"></iframe></main>', title="Rahmen 1")
FRAME2 = html('<main><p>Innerer Rahmen</p><img src="/a.svg"></main>', title="Rahmen 2")
SHADOW = html("""<main><h1>Schatten</h1><amt-karte id="karte"></amt-karte></main><script>
const root = document.getElementById('karte').attachShadow({mode: 'open'});
root.innerHTML = '<p>Karte</p><img src="/a.svg"><img src="/b.svg" alt="Lageplan">';
</script>""", title="Schatten")
FOREIGN = html('<main><input type="text"></main>', title="Fremd")


def good_routes() -> dict:
    return {"/": Page(body=START), "/seite2": Page(body=PAGE2), "/barrierefreiheit": Page(body=STATEMENT),
            "/leichte-sprache": Page(body=html("<main><h1>Leichte Sprache</h1></main>")),
            "/dgs": Page(body=html("<main><h1>Gebärdensprache</h1></main>")), "/dgs.svg": SVG,
            "/a.svg": SVG, "/b.svg": SVG, "/c.svg": SVG,
            "/fehler": Page(body=VIOLATIONS), "/rahmen": Page(body=FRAMES), "/frame1": Page(body=FRAME1),
            "/frame2": Page(body=FRAME2), "/alt": Page(body=OLD_STATEMENT), "/schatten": Page(body=SHADOW),
            "/rathaus": Page(body=RAMPS)}


def hostile_routes() -> dict:
    return {
        "/clean": Page(body=html("<main><h1>Sauber</h1><p>Alles gut.</p></main>")),
        # never finishes loading: the body stops half way and the connection stays open
        "/endlos": Page(stream=hang_after(html("<main><h1>Laden</h1><p>Teil eins")[:-20])),
        "/schleife": Page(body=html("<main><h1>Schleife</h1></main><script>while (true) {}</script>")),
        "/alarm": Page(body=html("<main><h1>Alarm</h1><img src='/a.svg'></main><script>alert('Hallo');</script>")),
        "/riesig": Page(stream=huge(50 * 1024 * 1024)),
        "/rahmen-haengt": Page(body=html('<main><h1>Rahmen</h1><iframe src="/haengt" title="Hängt"></iframe></main>')),
        "/haengt": Page(stream=hang_after(b"")),
        "/langsam": Page(stream=delayed(2.0, html("<main><h1>Langsam</h1></main>"))),
        "/a.svg": SVG,
    }
