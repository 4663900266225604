"""Accessibility check against pages served on 127.0.0.1, in a real Chromium."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from bench.peers import browser_tmp, wait_port
from checks import accessibility as a11y
from checks.accessibility import AccessibilitySettings, Link, PageScan, judge_markers
from checks.browser import BrowserPool, BrowserSettings
from checks.context import CheckContext
from checks.result import Reason, State, Target
from monitor.config import load_config
from monitor.metrics import ResultCollector
from monitor.store import Store
from tests.a11y_site import FOREIGN, KNOWN, good_routes, hostile_routes, html
from tests.helpers import KINDS
from tests.servers import free_port
from tests.sites import Page, site

pytestmark = pytest.mark.slow
TODAY = date(2026, 11, 21)


@pytest.fixture(scope="module")
def pool():
    p = BrowserPool(BrowserSettings(), 2)
    yield p
    p.close()


@pytest.fixture(scope="module")
def good():
    with site({"/foreign": Page(body=FOREIGN)}) as other:
        routes = good_routes()
        routes["/rahmen"] = Page(body=routes["/rahmen"].body.replace(b"{other}", str(other).encode()))
        with site(routes) as port:
            yield f"http://127.0.0.1:{port}"


def scan(pool, url, **settings):
    return a11y.scan_page(pool, url, AccessibilitySettings(**settings))


def counts(page: PageScan) -> dict[str, int]:
    return {v.rule: v.nodes for v in page.violations}


# --------------------------------------------------------------------------- axe results


def test_known_violations_with_rule_ids_and_node_counts(pool, good):
    page = scan(pool, good + "/fehler")
    assert page.error is None
    assert counts(page) == KNOWN
    impacts = {v.rule: v.impact for v in page.violations}
    assert impacts["image-alt"] == "critical" and impacts["color-contrast"] == "serious"
    image_alt = next(v for v in page.violations if v.rule == "image-alt")
    assert image_alt.targets == ('img[src="/a.svg"]', 'img[src="/b.svg"]', 'img[src="/c.svg"]')


def test_violation_in_iframe_nested_iframe_and_cross_origin_frame(pool, good):
    page = scan(pool, good + "/rahmen")
    assert page.error is None and page.frames == 4 and page.frames_failed == 0
    assert counts(page) == {"image-alt": 1, "label": 1}
    targets = {v.rule: v.targets for v in page.violations}
    assert targets["image-alt"] == ('iframe[src$="frame1"] >>> iframe >>> img',)  # two frames deep
    assert targets["label"][0].startswith("iframe:nth-child(3) >>> ") or targets["label"][0].count(">>>") == 1


def test_violation_inside_shadow_dom(pool, good):
    page = scan(pool, good + "/schatten")
    assert counts(page) == {"image-alt": 1}
    assert page.violations[0].targets == ('#karte >> img[src="/a.svg"]',)


def test_clean_site_has_no_violations_and_passes_every_marker(pool, good):
    target = Target("portal", good + "/", (good + "/", good + "/seite2"))
    result = a11y.run(target, AccessibilitySettings(), CheckContext(browser=pool, today=TODAY))
    pages = result.to_dict()["evidence"]["pages"]
    assert [p["violations"] for p in pages] == [[], []]
    assert result.state is State.UP and result.reason is Reason.OK, result.evidence
    assert result.measurements["pages_scanned"] == 2 and result.measurements["score"] == 100
    markers = result.evidence["markers"]
    assert {k: m["state"] for k, m in markers.items()} == dict.fromkeys(a11y.MARKERS, "pass")
    assert markers["statement_linked"]["link"] == {"text": "Erklärung zur Barrierefreiheit", "url": good + "/barrierefreiheit"}
    assert markers["statement_current"]["date"] == "2026-10-01"
    assert markers["easy_language"]["link"]["url"] == good + "/leichte-sprache"  # found inside a collapsed menu
    assert "Gebärdensprache" in markers["sign_language"]["link"]["text"]  # named only by an image's alt text
    assert markers["statement_feedback"]["found"]
    assert result.evidence["axe_version"] == "4.10.2"


def test_service_with_violations_is_noncompliant_and_scored(pool, good):
    target = Target("portal", good + "/", (good + "/", good + "/fehler"))
    result = a11y.run(target, AccessibilitySettings(markers=[]), CheckContext(browser=pool, today=TODAY))
    assert result.state is State.DOWN and result.reason is Reason.NONCOMPLIANT
    m = result.measurements
    assert m["violations_critical"] == 3 + 1 + 1 and m["violations_serious"] == 2 + 1 + 1
    assert m["rules_critical"] == 3 and m["rules_serious"] == 3 and m["rules_violated"] == 6
    assert m["pages_with_serious"] == 1
    assert m["score"] == 100 - (3 * 10 + 3 * 7) / 2  # documented weights, averaged over both pages
    rows = a11y.dedupe(result)
    assert rows[0]["impact"] == "critical" and {r["rule"] for r in rows} == set(KNOWN)


def test_only_minor_findings_below_threshold_are_degraded(pool, good):
    target = Target("portal", good + "/fehler")
    result = a11y.run(target, AccessibilitySettings(markers=[], fail_impact="critical",
                                                    exclude_rules=[{"rule": r, "reason": "Test"} for r in
                                                                   ("image-alt", "label", "button-name")]), CheckContext(browser=pool, today=TODAY))
    assert result.state is State.DEGRADED and result.reason is Reason.FINDINGS
    assert result.measurements["rules_critical"] == 0


def test_rule_exclusion_with_reason_and_options_as_json(pool, good):
    hostile_reason = "Dritt-Widget \"</script><script>alert(1)</script>' wird 2027 ersetzt"
    settings = AccessibilitySettings(exclude_rules=[{"rule": "color-contrast", "reason": hostile_reason}],
                                     axe_options={"rules": {"link-name": {"enabled": False}}}, markers=[])
    result = a11y.run(Target("portal", good + "/fehler"), settings, CheckContext(browser=pool))
    found = {v["rule"] for v in result.evidence["pages"][0]["violations"]}
    assert found == set(KNOWN) - {"color-contrast", "link-name"}
    assert result.to_dict()["evidence"]["excluded_rules"] == [{"rule": "color-contrast", "reason": hostile_reason}]


def test_tags_select_rules(pool, good):
    # 'region' (content outside landmarks) is best-practice, not WCAG: only reported when asked for.
    body = Page(body=b"<!doctype html><html lang=de><title>t</title><p>Text ohne Landmarke</p></html>")
    with site({"/": body}) as port:
        url = f"http://127.0.0.1:{port}/"
        assert "region" not in counts(scan(pool, url))
        assert "region" in counts(scan(pool, url, tags=["best-practice"]))
        assert counts(scan(pool, url, tags=["EN-301-549"])) == counts(scan(pool, url))


# --------------------------------------------------------------------------- BITV markers


def _page(url="https://a.example/", links=(), lang="de") -> PageScan:
    return PageScan(url=url, final_url=url, status=200, lang=lang, links=tuple(Link(*l) for l in links))


STATEMENT_LINK = ("Barrierefreiheit", "https://a.example/barrierefreiheit", "", "", "")
EASY = ("Leichte Sprache", "https://a.example/ls", "", "", "")
SIGN = ("", "https://a.example/video", "", "", "DGS")
STATUS = "Diese Website ist mit den Anforderungen der BITV 2.0 teilweise vereinbar.\n"
GOOD_TEXT = (STATUS + "Nicht barrierefreie Inhalte\n- PDF-Dokumente\nErstellung dieser Erklärung\n"
             "Diese Erklärung wurde am 01.09.2026 erstellt (Selbstbewertung).\n"
             "Barriere melden per E-Mail: barrierefreiheit@a.example\nSchlichtungsstelle nach § 16 BGG.")
RAMPS_TEXT = "Barrierefreiheit im Rathaus\nRampe und Aufzug. Stand: 01.10.2026. Fragen: rathaus@a.example"


@pytest.mark.parametrize(("marker", "pages", "text", "expected"), [
    ("statement_linked", [_page(links=[STATEMENT_LINK]), _page("https://a.example/2", [STATEMENT_LINK])], GOOD_TEXT, "pass"),
    ("statement_linked", [_page(links=[STATEMENT_LINK]), _page("https://a.example/2", [EASY])], GOOD_TEXT, "fail"),
    ("statement_linked", [PageScan(url="https://a.example/", error="x")], None, "unknown"),
    ("statement_feedback", [_page(links=[STATEMENT_LINK])], GOOD_TEXT, "pass"),
    ("statement_feedback", [_page(links=[STATEMENT_LINK])], STATUS + "Stand: 01.09.2026. Schlichtungsstelle.", "fail"),
    # the model heading alone is no feedback mechanism: an electronic contact is required
    ("statement_feedback", [_page(links=[STATEMENT_LINK])],
     STATUS + "Feedback und Kontaktangaben\nRathaus, Am Markt 1, 66111 Saarbrücken, Telefon 0681 000", "fail"),
    ("statement_feedback", [_page(links=[STATEMENT_LINK])], STATUS + "Feedback: über unser Kontaktformular", "fail"),
    # no statement at all: statement_linked fails, and so does every requirement of its content
    ("statement_linked", [_page(links=[EASY])], None, "fail"),
    ("statement_feedback", [_page(links=[EASY])], None, "fail"),
    ("statement_arbitration", [_page(links=[EASY])], None, "fail"),
    ("statement_current", [_page(links=[EASY])], None, "fail"),
    ("statement_complete", [_page(links=[EASY])], None, "fail"),
    ("statement_consistent", [_page(links=[EASY])], None, "unknown"),  # nothing to contradict the scan
    # a page about ramps behind the link is no statement: nothing on it passes a statement marker
    ("statement_linked", [_page(links=[STATEMENT_LINK])], RAMPS_TEXT, "fail"),
    ("statement_feedback", [_page(links=[STATEMENT_LINK])], RAMPS_TEXT, "fail"),
    ("statement_current", [_page(links=[STATEMENT_LINK])], RAMPS_TEXT, "fail"),
    ("statement_complete", [_page(links=[STATEMENT_LINK])], RAMPS_TEXT, "fail"),
    # the arbitration body's address is no feedback mechanism (BITV 2.0 § 7 (1) Nr. 3 and 4)
    ("statement_feedback", [_page(links=[STATEMENT_LINK])],
     STATUS + "Stand: 01.09.2026.\nSchlichtungsverfahren\nWenden Sie sich an die Schlichtungsstelle nach § 16 BGG: "
     "info@schlichtungsstelle-bgg.de", "fail"),
    ("statement_complete", [_page(links=[STATEMENT_LINK])],
     STATUS + "Nicht barrierefreie Inhalte\n- PDF\nErstellt am 01.09.2026 (Selbstbewertung).\nSchlichtungsverfahren\n"
     "Schlichtungsstelle: info@schlichtungsstelle-bgg.de", "fail"),
    ("statement_feedback", [_page(links=[STATEMENT_LINK])],
     STATUS + "Feedback\nBarrieren melden Sie an barrierefreiheit@a.example.\nSchlichtungsverfahren\n"
     "Schlichtungsstelle: info@schlichtungsstelle-bgg.de", "pass"),
    ("statement_arbitration", [_page(links=[STATEMENT_LINK])], GOOD_TEXT, "pass"),
    ("statement_arbitration", [_page(links=[STATEMENT_LINK])], STATUS + "Stand: 01.09.2026. Kontakt: info@a.example", "fail"),
    ("statement_current", [_page(links=[STATEMENT_LINK])], GOOD_TEXT, "pass"),
    ("statement_current", [_page(links=[STATEMENT_LINK])], STATUS + "Stand: 20. November 2025", "fail"),
    ("statement_current", [_page(links=[STATEMENT_LINK])], STATUS + "Diese Erklärung wurde im Oktober 2026 überprüft.", "pass"),
    ("statement_current", [_page(links=[STATEMENT_LINK])], STATUS + "Ohne Datum.", "unknown"),
    # free wording: no status sentence, but a legal basis and two of the model's sections
    ("statement_current", [_page(links=[STATEMENT_LINK])],
     "Wir erfüllen die BITV 2.0 noch nicht überall. Nicht barrierefreie Inhalte: alte PDF. Erstellt am 2. Juni 2026. "
     "Schlichtungsstelle: siehe BGG.", "pass"),
    ("statement_complete", [_page(links=[STATEMENT_LINK])], GOOD_TEXT, "pass"),
    ("statement_complete", [_page(links=[STATEMENT_LINK])], STATUS + "Stand: 01.09.2026. Schlichtungsstelle.", "fail"),
    ("statement_consistent", [_page(links=[STATEMENT_LINK])], GOOD_TEXT, "pass"),
    ("statement_consistent", [_page(links=[STATEMENT_LINK])], GOOD_TEXT.replace("teilweise", "vollständig"), "pass"),
    ("statement_consistent", [_page(links=[STATEMENT_LINK])], "Ohne Status, nach BITV 2.0. Erstellt am 1.9.2026. "
     "Schlichtungsstelle und Feedback.", "unknown"),
    ("easy_language", [_page(links=[EASY])], None, "pass"),
    ("easy_language", [_page(links=[("Einfach erklärt", "https://a.example/leichte-sprache/", "", "", "")])], None, "pass"),
    ("easy_language", [_page(links=[SIGN])], None, "fail"),
    ("sign_language", [_page(links=[SIGN])], None, "pass"),
    ("sign_language", [_page(links=[("Video", "https://a.example/v", "Gebärdensprache", "", "")])], None, "pass"),
    ("sign_language", [_page(links=[EASY])], None, "fail"),
    # a service about sign language is no content in it
    ("sign_language", [_page(links=[("Gebärdensprachdolmetscher für Ihren Termin buchen", "https://a.example/gd", "", "",
                                     "")])], None, "fail"),
    ("sign_language", [_page(links=[("Gebärden-Ecke", "https://a.example/ecke", "", "", "")])], None, "fail"),
    ("html_lang", [_page()], None, "pass"),
    ("html_lang", [_page(lang="de-DE"), _page("https://a.example/en", lang="en")], None, "pass"),
    ("html_lang", [_page(lang="en")], None, "fail"),
    ("html_lang", [_page(), _page("https://a.example/2", lang=None)], None, "fail"),
])
def test_each_marker_present_and_absent(marker, pages, text, expected):
    link = a11y.statement_link(pages[0].links) if pages[0].final_url else None
    statement = (text, None, ()) if link and text is not None else None
    got = judge_markers(pages, statement, link.href if link else None, [marker], TODAY, 365)
    assert got[marker].state == expected, got[marker]


@pytest.mark.parametrize(("status", "serious", "expected"), [
    ("vollständig", 2, "fail"), ("vollständig", 0, "pass"), ("teilweise", 2, "pass"), ("nicht", 5, "pass")])
def test_a_statement_claiming_full_conformity_next_to_serious_barriers_contradicts_the_scan(status, serious, expected):
    pages = [_page(links=[STATEMENT_LINK])]
    text = GOOD_TEXT.replace("teilweise", status)
    got = judge_markers(pages, (text, None, ()), STATEMENT_LINK[1], ["statement_consistent"], TODAY, 365, serious)
    assert got["statement_consistent"].state == expected
    if expected == "fail":
        assert "vollständig vereinbar" in got["statement_consistent"].facts["detail"]


def test_the_statement_audit_reads_status_dates_method_content_contact_and_arbitration():
    from checks.accessibility.statement import read

    st = read("https://a.example/barrierefreiheit", GOOD_TEXT + "\nZuletzt überprüft am 15.10.2026.",
              (Link("Kontaktformular", "https://a.example/kontakt", "", "", ""),), TODAY)
    assert st.is_statement and st.status == "partial"
    assert (st.created, st.reviewed) == (date(2026, 9, 1), date(2026, 10, 15)) and st.newest_date == date(2026, 10, 15)
    assert st.method == "Selbstbewertung" and st.non_accessible and st.non_accessible_items == 1
    assert st.emails == ("barrierefreiheit@a.example",) and st.forms == ("https://a.example/kontakt",)
    assert st.arbitration and st.missing() == []
    incomplete = read("https://a.example/b", STATUS + "Telefon 0681 000", (), TODAY)
    assert incomplete.missing() == ["non_accessible", "date", "method", "feedback", "arbitration"]
    bitv_test = read("https://a.example/b", STATUS.replace("teilweise", "nicht vollständig") + "Geprüft mit dem BITV-Test.",
                     (), TODAY)
    assert bitv_test.status == "partial" and bitv_test.method == "BITV-Test"
    assert not read("https://a.example/r", RAMPS_TEXT, (), TODAY).is_statement


def test_unreadable_statement_is_not_determinable():
    pages = [_page(links=[STATEMENT_LINK])]
    got = judge_markers(pages, (None, "HTTP-Status 404", ()), STATEMENT_LINK[1], ["statement_feedback", "statement_current"],
                        TODAY, 365)
    assert {k: m.state for k, m in got.items()} == {"statement_feedback": "unknown", "statement_current": "unknown"}


def test_markers_absent_on_a_real_site(pool, good):
    # A site whose statement is old and names neither feedback nor arbitration, with no
    # easy-language or sign-language links and an English start page.
    start = (b"<!doctype html><html lang=en><title>Portal</title><main><h1>Portal</h1>"
             b"<a href='/alt'>Barrierefreiheitserkl\xc3\xa4rung</a></main></html>")
    routes = {"/": Page(body=start), "/seite": Page(body=b"<!doctype html><html lang=de><title>x</title><p>x</p></html>"),
              "/alt": good_routes()["/alt"]}
    with site(routes) as port:
        base = f"http://127.0.0.1:{port}"
        result = a11y.run(Target("p", base + "/", (base + "/", base + "/seite")), AccessibilitySettings(), CheckContext(browser=pool, today=TODAY))
    states = {k: m["state"] for k, m in result.evidence["markers"].items()}
    assert states == {"statement_linked": "fail", "statement_feedback": "fail", "statement_arbitration": "fail",
                      "statement_current": "fail", "statement_consistent": "pass", "statement_complete": "fail",
                      "easy_language": "fail", "sign_language": "fail", "html_lang": "fail"}
    assert "nur Post oder Telefon" in result.evidence["markers"]["statement_feedback"]["detail"]
    assert result.evidence["markers"]["statement_complete"]["missing"] == ("method", "feedback", "arbitration")
    assert result.evidence["markers"]["statement_linked"]["missing_on"] == (base + "/seite",)
    assert result.evidence["markers"]["statement_current"]["date"] == "2024-03-15"
    assert result.state is State.DOWN and "BITV" in result.evidence["detail"]


def test_a_footer_link_to_a_page_about_ramps_is_not_taken_for_the_statement(pool, good):
    # The issue's municipal site: "Barrierefreiheit" in the footer leads to the town hall's
    # ramps and lifts, with a "Stand" date and an e-mail address; the start page's only
    # sign-language link books interpreters. Nothing of that may pass a marker.
    start = html(f"""<main><h1>Stadt</h1><p><a href="{good}/rathaus">Barrierefreiheit</a></p>
<p><a href="/dolmetsch">Gebärdensprachdolmetscher für Ihren Termin buchen</a></p></main>""")
    with site({"/": Page(body=start)}) as port:
        url = f"http://127.0.0.1:{port}/"
        result = a11y.run(Target("stadt", url, (url,)), AccessibilitySettings(), CheckContext(browser=pool, today=TODAY))
    markers = result.evidence["markers"]
    states = {k: m["state"] for k, m in markers.items()}
    assert states["statement_linked"] == "fail"
    assert "keine Erklärung zur Barrierefreiheit" in markers["statement_linked"]["detail"]
    assert [c["statement"] for c in markers["statement_linked"]["candidates"]] == [False]
    for name in ("statement_feedback", "statement_current", "statement_arbitration", "statement_complete"):
        assert states[name] == "fail", (name, markers[name])  # no statement: its required content is missing
        assert markers[name]["detail"].startswith("keine Erklärung gefunden: "), markers[name]
    assert states["statement_consistent"] == "unknown"  # nothing that could contradict the scan
    assert states["sign_language"] == "fail"


# --------------------------------------------------------------------------- sitemaps


def test_sitemap_index_gzip_same_host_and_stable_sample(pool):
    import gzip

    def urlset(*paths: str) -> bytes:
        locs = "".join(f"<url><loc>{p}</loc></url>" for p in paths)
        return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>'.encode()

    clean = Page(body=b"<!doctype html><html lang=de><title>s</title><main><p>s</p></main></html>")
    with site({}) as other:
        routes = {
            "/robots.txt": Page(body=b"User-agent: *\nSitemap: http://127.0.0.1:{port}/sitemap_index.xml\n",
                                content_type="text/plain"),
            "/sitemap_index.xml": Page(body=(
                b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                b"<sitemap><loc>http://127.0.0.1:{port}/a.xml</loc></sitemap>"
                b"<sitemap><loc>http://127.0.0.1:{port}/b.xml.gz</loc></sitemap>"
                b"<sitemap><loc>http://127.0.0.1:{port}/missing.xml</loc></sitemap></sitemapindex>"), content_type="application/xml"),
            "/a.xml": Page(body=urlset(*[f"http://127.0.0.1:{{port}}/p{i}" for i in range(6)],
                                       f"http://127.0.0.1:{other}/fremd"), content_type="application/xml"),
            "/b.xml.gz": Page(body=b"", content_type="application/gzip"),
            **{f"/p{i}": clean for i in range(12)},
        }
        with site(routes) as port:
            routes["/b.xml.gz"].body = gzip.compress(urlset(*[f"http://127.0.0.1:{port}/p{i}" for i in range(6, 12)]))
            base = f"http://127.0.0.1:{port}"
            settings = AccessibilitySettings(sitemap={"enabled": True, "max_pages": 4}, markers=[], timeout=15)
            urls, info = a11y.pages_for(Target("svc", base + "/p0"), settings)
            again, _ = a11y.pages_for(Target("svc", base + "/p0"), settings)
            assert urls == again and len(urls) == 5 and urls[0] == base + "/p0"
            assert info["urls_found"] == 12 and all(u.startswith(base) for u in urls)
            assert len(info["files"]) == 4 and any("missing.xml" in e for e in info["errors"])
            result = a11y.run(Target("svc", base + "/p0"), settings, CheckContext(browser=pool))
    assert result.measurements["pages_scanned"] == 5
    assert list(result.evidence["sitemap"]["sampled"]) == urls[1:]


def test_broken_sitemap_keeps_the_configured_pages(pool):
    with site({"/": Page(), "/sitemap.xml": Page(body=b"<urlset><url><loc>oops", content_type="application/xml")}) as port:
        base = f"http://127.0.0.1:{port}"
        urls, info = a11y.pages_for(Target("svc", base + "/"), AccessibilitySettings(sitemap={"enabled": True}))
    assert urls == [base + "/"] and "kein gültiges Sitemap-XML" in info["errors"][0]


# --------------------------------------------------------------------------- hostile pages


@pytest.fixture(scope="module")
def hostile():
    with site(hostile_routes()) as port:
        yield f"http://127.0.0.1:{port}"


def _wait_until(condition, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def _chromedrivers() -> set[int]:
    from tests.helpers import own_processes

    return own_processes("chromedriver --port")


TIMEOUT = 6.0
GRACE = 2.5  # killing the process group and the scan's own bookkeeping


@pytest.mark.parametrize(("path", "scanned"), [
    ("/endlos", True),          # never finishes loading: scanned as far as it came
    ("/schleife", False),       # while(true){} hangs the renderer: killed at the deadline
    ("/alarm", True),           # alert() on load is dismissed
    ("/riesig", None),          # 50 MB of HTML: scanned or cut off, never longer than the timeout
    ("/rahmen-haengt", True),   # a frame that never answers
])
def test_hostile_page_costs_at_most_its_timeout_and_leaves_the_pool_healthy(pool, hostile, path, scanned):
    before = _chromedrivers()
    started = time.monotonic()
    page = scan(pool, hostile + path, timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + GRACE + 1.5, elapsed  # + 1.5: starting a replacement session
    if scanned is not None:
        assert page.scanned is scanned, page
    if not page.scanned:  # at the deadline, or (50 MB of HTML) at the session's memory limit, whichever first
        assert (page.error_reason == "timeout" and "Zeitgrenze" in page.error) or \
            (page.error_reason == "memory_limit" and "Speichergrenze" in page.error), page
    if path == "/alarm":
        assert counts(page) == {"image-alt": 1}
    if path in ("/endlos", "/rahmen-haengt"):
        assert page.load_complete is False
    # The pool still works at full speed and no browser outlives its session.
    clean = scan(pool, hostile + "/clean", timeout=TIMEOUT)
    assert clean.scanned and clean.violations == ()
    assert len(pool.live_processes()) <= pool.size
    assert _chromedrivers() - before <= set(pool.live_processes())


@pytest.mark.alone
def test_hostile_page_does_not_stall_other_pages(pool, hostile):
    # Two hanging pages and eight clean ones share a pool of two: the clean ones still finish.
    urls = [hostile + "/schleife", hostile + "/schleife"] + [hostile + "/clean"] * 8
    settings = AccessibilitySettings(timeout=TIMEOUT, markers=[])
    started = time.monotonic()
    result = a11y.run(Target("svc", urls[0], tuple(f"{u}?{i}" for i, u in enumerate(urls))), settings, CheckContext(browser=pool))
    elapsed = time.monotonic() - started
    assert result.measurements["pages_scanned"] == 8 and result.measurements["pages_failed"] == 2
    assert elapsed < TIMEOUT + GRACE + 8 * 1.5, elapsed


def test_killed_chromedriver_is_replaced(hostile):
    pool = BrowserPool(BrowserSettings(), 1)
    try:
        assert scan(pool, hostile + "/clean").scanned
        (pid,) = pool.live_processes()
        os.killpg(pid, signal.SIGKILL)  # killed while idle
        page = scan(pool, hostile + "/clean")
        assert page.scanned and pool.live_processes() != [pid]
        # killed in the middle of a page: the page is retried on a fresh session
        (pid,) = pool.live_processes()
        threading.Timer(0.5, lambda: os.killpg(pid, signal.SIGKILL)).start()
        page = scan(pool, hostile + "/langsam")
        assert page.scanned, page
        assert pool.stats.killed >= 2 and len(pool.live_processes()) == 1
    finally:
        pool.close()
    assert pool.live_processes() == []


def test_killed_and_failed_sessions_leave_nothing_in_the_temporary_directory(hostile, tmp_path, monkeypatch):
    # Chromium keeps its singleton socket and scoped dirs in $TMPDIR and removes them only on a
    # polite quit: a daemon whose sessions are killed (timeouts, memory, hostile pages) left
    # hundreds of /tmp/org.chromium.Chromium.* an hour. They belong inside the session's profile.
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="egov-t-", dir="/tmp"))  # short: a socket's path has a limit
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    pool = BrowserPool(BrowserSettings(), 1)
    try:
        assert scan(pool, hostile + "/clean").scanned
        assert [p.name for p in tmp.iterdir()] and all(p.name.startswith("egov-monitor-chromium-") for p in tmp.iterdir())
        (pid,) = pool.live_processes()
        os.killpg(pid, signal.SIGKILL)
        assert scan(pool, hostile + "/clean").scanned
    finally:
        pool.close()
    assert pool.live_processes() == []
    # a chromedriver that exits at once: its profile goes too
    broken = tmp_path / "chromedriver"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    failing = BrowserPool(BrowserSettings(chromedriver=broken), 1)
    result = a11y.run(Target("svc", hostile + "/clean"), AccessibilitySettings(), CheckContext(browser=failing))
    failing.close()
    assert result.state is State.UNKNOWN and "beendete sich sofort" in result.evidence["detail"]
    assert sorted(p.name for p in tmp.iterdir()) == []
    # a $TMPDIR of 55 bytes: Chromium's socket fits in it, not inside the profile; Chromium still starts
    # and leaves nothing there
    deep = tmp / ("x" * (54 - len(str(tmp))))
    deep.mkdir()
    monkeypatch.setenv("TMPDIR", str(deep))
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    pool = BrowserPool(BrowserSettings(), 1)
    try:
        assert scan(pool, hostile + "/clean").scanned
        # a directory inside the profile would be too long for Chromium's socket, so the session's $TMPDIR
        # is a short one in /tmp: chromedriver's
        # profile and Chromium's directories go there, and go with the session, killed or not
        (pid,) = pool.live_processes()
        os.killpg(pid, signal.SIGKILL)
        assert scan(pool, hostile + "/clean").scanned
    finally:
        pool.close()
        left = sorted(p.name for p in deep.iterdir())
        shutil.rmtree(tmp)
    assert left == []


def test_sessions_are_reused_and_recycled_after_their_page_quota(hostile):
    pool = BrowserPool(BrowserSettings(recycle_after_pages=3), 1)
    try:
        for i in range(7):
            assert scan(pool, f"{hostile}/clean?{i}").scanned
        assert (pool.stats.started, pool.stats.recycled, pool.stats.killed, pool.stats.pages) == (3, 2, 0, 7)
    finally:
        pool.close()
    assert pool.live_processes() == []


def test_a_session_keeps_no_page_it_left_and_runs_no_browser_ui_renderer(pool):
    # What a session's Chromium keeps besides the page it shows costs memory in every pooled
    # browser: a page it navigated away from stays alive only with the back-forward cache
    # (so going back finds the page's own script state), and Chromium 156 builds the
    # address bar's popups as WebUI pages in a renderer of their own, headless too.
    with site({"/a": Page(), "/b": Page()}) as port, pool.session(deadline=30) as session:
        driver = session.driver
        driver.get(f"http://127.0.0.1:{port}/a")
        driver.execute_script("window.stateOfThisDocument = 'alive';")
        driver.get(f"http://127.0.0.1:{port}/b")
        driver.back()
        assert driver.current_url.endswith("/a")
        assert driver.execute_script("return window.stateOfThisDocument || 'reloaded';") == "reloaded"
        targets = session.cdp("Target.getTargets")["targetInfos"]
    assert any(t["type"] == "page" and t["url"].endswith("/a") for t in targets), targets
    assert [t["url"] for t in targets if t["type"] != "page"] == [], targets


@pytest.mark.parametrize("chromium", ["/usr/bin/chromium-headless-shell", "/usr/bin/chromium"])
def test_a_new_session_shows_an_empty_page_not_chromiums_new_tab_page(chromium):
    # The new-tab page is a WebUI page with a renderer of its own that a new session's first
    # command had to wait for; a monitor's browser starts on an empty document (chromedriver's
    # `data:,`), the headless shell (the default) and the full Chromium alike.
    fresh = BrowserPool(BrowserSettings(chromium=Path(chromium)), 1)
    try:
        with fresh.session(deadline=30) as session:
            assert session.driver.current_url == "data:,"
            assert [t["url"] for t in session.cdp("Target.getTargets")["targetInfos"]] == ["data:,"]
    finally:
        fresh.close()


def test_a_page_with_frames_stays_shown_while_it_is_scanned(pool):
    # axe's last step over a framed page's partial results runs beside the page, never in it.
    # The page must not see itself hidden meanwhile: pages react to that (pause a carousel,
    # start a session-timeout dialog) and axe would then judge another page than it loaded.
    from checks.accessibility import axe

    top = html("<main><h1>Rahmen</h1><iframe src='/inner' title='Innen'></iframe></main>"
               "<script>window.hiddenSeen = 0; document.addEventListener('visibilitychange', function () {"
               " if (document.visibilityState === 'hidden') window.hiddenSeen++; });</script>", title="Rahmen")
    with site({"/": Page(body=top), "/inner": Page(body=html("<main><img src='/x.png'></main>", title="Innen"))}) as port:
        settings = AccessibilitySettings()
        for _ in range(2):  # the first scan opens the blank window, the second reuses it
            with pool.session(deadline=30) as session:
                scanned = axe.scan_in_session(session, f"http://127.0.0.1:{port}/", settings)
                assert session.driver.execute_script("return window.hiddenSeen;") == 0
            assert scanned.frames == 2 and counts(scanned).get("image-alt") == 1, scanned


def test_missing_chromedriver_is_a_clear_error(tmp_path):
    pool = BrowserPool(BrowserSettings(chromedriver=tmp_path / "nope"), 1)
    result = a11y.run(Target("svc", "http://127.0.0.1:9/"), AccessibilitySettings(), CheckContext(browser=pool))
    assert result.state is State.UNKNOWN and result.reason is Reason.INTERNAL_ERROR
    assert "chromedriver nicht gefunden" in result.evidence["detail"] and "chromium-driver" in result.evidence["detail"]


def test_a_grid_password_in_remote_url_is_sent_as_basic_auth_and_stays_out_of_the_evidence():
    # Selenium Grid's basic authentication goes in remote_url: the Grid gets it as an
    # Authorization header; the failure every browser check then stores (and the report shows)
    # names the Grid without it.
    import base64
    import http.server

    seen: list[str | None] = []

    class Grid(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.headers.get("Authorization"))
            body = json.dumps({"value": {"error": "session not created", "message": "kein Knoten frei"}}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Grid)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        pool = BrowserPool(BrowserSettings(remote_url=f"http://grid:Grid%3AGeheimnis@127.0.0.1:{port}/"), 1)
        result = a11y.run(Target("svc", "http://127.0.0.1:9/"), AccessibilitySettings(), CheckContext(browser=pool))
        pool.close()
    finally:
        server.shutdown()
    assert seen and seen[0] == "Basic " + base64.b64encode(b"grid:Grid:Geheimnis").decode()
    assert result.state is State.UNKNOWN
    detail = json.dumps(result.to_dict())
    assert f"Browser-Sitzung nicht gestartet (http://127.0.0.1:{port})" in result.evidence["detail"], detail
    assert "Geheimnis" not in detail


# --------------------------------------------------------------------------- remote WebDriver


def test_remote_webdriver_gives_the_same_result(pool, good):
    # The remote end starts chromedriver's default browser, the full Chromium (/usr/bin/chromium);
    # the local pool the headless shell (the default `browser.chromium`): the same findings.
    port = free_port()
    with browser_tmp() as env:  # the remote end's Chromium leaves its directories in its TMPDIR when killed
        driver = subprocess.Popen(["/usr/bin/chromedriver", f"--port={port}", "--allowed-ips=127.0.0.1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
        try:
            wait_port(port)
            remote = BrowserPool(BrowserSettings(remote_url=f"http://127.0.0.1:{port}"), 1)
            try:
                target = Target("portal", good + "/", (good + "/", good + "/rahmen", good + "/fehler"))
                via_remote = a11y.run(target, AccessibilitySettings(), CheckContext(browser=remote, today=TODAY))
                assert remote.live_processes() == []  # nothing started locally
            finally:
                remote.close()
            local = a11y.run(target, AccessibilitySettings(), CheckContext(browser=pool, today=TODAY))
        finally:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()

    def essence(r):
        return [(p["url"], [(v["rule"], v["nodes"], v["targets"]) for v in p["violations"]]) for p in r.evidence["pages"]], \
            {k: m["state"] for k, m in r.evidence["markers"].items()}
    assert essence(via_remote) == essence(local)
    assert via_remote.measurements["pages_scanned"] == 3


# --------------------------------------------------------------------------- daemon side: config, metrics, CLI

CATALOG = """\
services:
  - id: portal
    name: Serviceportal
    category: basisdienst
    operator: Saarland
    contact: ops@example.invalid
    urls: ["{base}/", "{base}/fehler"]
    checks:
      accessibility:
        timeout: 20s
        exclude_rules: [{{rule: color-contrast, reason: "Farben werden im Relaunch 2027 angepasst"}}]
"""


def _settings(tmp_path: Path, base: str) -> Path:
    (tmp_path / "catalog.yaml").write_text(CATALOG.format(base=base))
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"catalog: [catalog.yaml]\nstore: {{url: \"sqlite:///{tmp_path / 's.db'}\"}}\n"
                        "pools: {browser: 2}\nbrowser: {recycle_after_pages: 20}\n")
    return settings


def test_one_job_per_service_and_metrics_pass_promtool(tmp_path, pool, good):
    from monitor.daemon import job_specs

    config = load_config(_settings(tmp_path, good), KINDS)
    specs = [s for s in job_specs(config).values() if s.kind == "accessibility"]
    assert [s.url for s in specs] == [good + "/"]  # one run covers both URLs
    settings = config.services["portal"].checks["accessibility"]
    result = a11y.run(Target("portal", good + "/", tuple(config.services["portal"].urls)), settings, CheckContext(browser=pool))
    store = Store.open(config.store_url, config.kinds)
    store.record(result)
    registry = CollectorRegistry()
    registry.register(ResultCollector(store, lambda: config))
    labels = {"service": "portal", "category": "basisdienst", "url": good + "/"}
    assert registry.get_sample_value("egov_accessibility_violations", {**labels, "impact": "critical"}) == 5
    assert registry.get_sample_value("egov_accessibility_rules_violated", {**labels, "impact": "serious"}) == 2
    assert registry.get_sample_value("egov_accessibility_pages_scanned", labels) == 2
    assert registry.get_sample_value("egov_bitv_marker_passed", {**labels, "marker": "statement_linked"}) == 0
    assert registry.get_sample_value("egov_bitv_marker_passed", {**labels, "marker": "html_lang"}) == 0
    assert registry.get_sample_value("egov_accessibility_axe_info", {**labels, "axe_version": "4.10.2"}) == 1
    text = generate_latest(registry).decode()
    assert "img[src" not in text and "Images must have" not in text  # no selector or help text in a label
    out = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    stored = store.latest()[0].result
    assert stored.evidence["pages"][1]["violations"][0]["targets"]  # node targets kept as evidence


def test_cli_prints_violations_deduplicated_across_pages(tmp_path, good):
    settings = _settings(tmp_path, good)
    (tmp_path / "catalog.yaml").write_text(CATALOG.format(base=good).replace(
        '"{0}/", "{0}/fehler"'.format(good), '"{0}/fehler", "{0}/fehler?2", "{0}/"'.format(good)))
    before = _chromedrivers()
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "check", "--config", str(settings), "--kind",
                          "accessibility", "portal"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    # the CLI's own browsers are gone once it has exited (a leaked chromedriver would stay for good)
    assert _wait_until(lambda: _chromedrivers() <= before, 20), (_chromedrivers(), before)
    text = out.stdout
    assert "3 von 3 Seiten geprüft" in text
    row = next(line for line in text.splitlines() if "image-alt" in line)
    assert "kritisch" in row and " 2 " in row and " 6 " in row  # on 2 pages, 6 elements in all
    assert "color-contrast" not in text.split("Regel ausgenommen")[0]
    assert "Regel ausgenommen: color-contrast (Farben werden im Relaunch 2027 angepasst)" in text
    assert "Erklärung zur Barrierefreiheit von jeder Seite verlinkt: nicht erfüllt" in text


def test_bad_accessibility_settings_name_the_field(tmp_path):
    (tmp_path / "catalog.yaml").write_text(CATALOG.format(base="http://127.0.0.1:1").replace(
        "timeout: 20s", "timeout: 20s\n        tags: ['wcag2a aa']\n        axe_options: {runOnly: [x]}"))
    settings = tmp_path / "settings.yaml"
    settings.write_text("catalog: [catalog.yaml]\nbrowser: {window_size: huge}\n")
    out = _validate(settings)
    assert out.returncode == 1
    assert "browser.window_size" in out.stderr
    settings.write_text("catalog: [catalog.yaml]\n")
    out = _validate(settings)
    assert out.returncode == 1
    assert "checks.accessibility.tags" in out.stderr and "kein axe-Tag" in out.stderr
    assert "checks.accessibility.axe_options" in out.stderr and "runOnly" in out.stderr


def test_unreachable_page_is_not_scanned_as_chromiums_error_page(pool):
    port = free_port()  # nothing listens here
    page = scan(pool, f"http://127.0.0.1:{port}/")
    assert not page.scanned and page.error_reason == "load_failed"
    assert "ERR_CONNECTION_REFUSED" in page.error and page.violations == ()
    result = a11y.run(Target("svc", f"http://127.0.0.1:{port}/"), AccessibilitySettings(), CheckContext(browser=pool))
    assert result.state is State.UNKNOWN and result.reason is Reason.CONNECT_REFUSED
    assert all(m["state"] == "unknown" for m in result.evidence["markers"].values())


def test_invalid_certificate_is_not_scanned_and_named(pool, ca):
    pair = ca.issue("a11y-wrong-host", ["www.example.invalid"])
    with site({"/": Page()}, tls=(pair.cert, pair.key)) as port:
        result = a11y.run(Target("svc", f"https://127.0.0.1:{port}/"), AccessibilitySettings(markers=[]), CheckContext(browser=pool))
    assert result.state is State.UNKNOWN and result.reason is Reason.TLS_INVALID_CERTIFICATE, result.evidence
    assert "ERR_CERT_" in result.evidence["pages"][0]["error"]


def test_error_status_page_is_reported_not_scanned(pool):
    with site({"/": Page(status=503, body=b"<html><title>Wartung</title><img src=x></html>")}) as port:
        page = scan(pool, f"http://127.0.0.1:{port}/")
    assert page.error_reason == "http_status" and page.status == 503 and page.violations == ()


@pytest.mark.alone
@pytest.mark.e2e
def test_daemon_scans_exports_and_a_hanging_page_never_delays_availability(tmp_path, hostile):
    from tests.daemon import running, service_yaml, write_daemon_config

    a11y_service = service_yaml("portal", [hostile + "/clean", hostile + "/schleife"]).replace(
        "availability: {interval: 1s, timeout: 0.5s, retries: 0, jitter: 0.05s}",
        "availability: {interval: 1s, timeout: 0.5s, retries: 0, jitter: 0.05s}\n"
        "    accessibility: {interval: 1h, jitter: 0s, timeout: 4s, markers: [html_lang]}")  # no 30 s default jitter before the first scan
    settings = write_daemon_config(tmp_path, a11y_service)
    before = _chromedrivers()
    with running(settings) as daemon:
        def scanned():
            text = daemon.get("/metrics")[1]
            return "egov_accessibility_pages_scanned{" in text and text
        text = daemon.wait_for(scanned, timeout=40, what="accessibility metrics")
        line = next(l for l in text.splitlines() if l.startswith("egov_accessibility_pages_scanned{"))
        assert line.endswith(" 1.0") and 'url="' + hostile + '/clean"' in line
        assert 'egov_accessibility_pages_failed{category="efa",service="portal",url="' + hostile + '/clean"} 1.0' in text
        assert 'egov_bitv_marker_passed{category="efa",marker="html_lang",service="portal"' in text
        # the pool's own health: the hung page's session was killed by the watchdog
        assert "egov_browser_sessions_killed_total 1.0" in text and "egov_browser_sessions_started_total" in text
        out = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        from monitor.store import Store
        store = Store.open(f"sqlite:///{settings.parent / 'store.db'}", KINDS)
        runs = [r for _, r in store.results("portal") if r.kind == "availability" and r.url.endswith("/clean")]
        gaps = [(b.started_at - a.started_at).total_seconds() for a, b in zip(runs, runs[1:], strict=False)]
        assert len(runs) >= 3 and max(gaps) < 1.6, gaps  # probes kept their rhythm during the hung scan
    assert daemon.proc.returncode == 0
    assert _chromedrivers() <= before, "the daemon's browsers are gone after it stopped"


def _validate(settings: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor.cli", "validate", "--config", str(settings)],
                          capture_output=True, text=True, timeout=60)


def test_missing_chromedriver_is_a_config_error_only_when_a_browser_check_needs_it(tmp_path):
    (tmp_path / "catalog.yaml").write_text(CATALOG.format(base="http://127.0.0.1:1"))
    settings = tmp_path / "settings.yaml"
    settings.write_text("catalog: [catalog.yaml]\nbrowser:\n  chromedriver: /nirgends/chromedriver\n")
    out = _validate(settings)
    assert out.returncode == 1
    assert f"{settings}:3:" in out.stderr and "browser.chromedriver" in out.stderr and "chromium-driver" in out.stderr
    settings.write_text("catalog: [catalog.yaml]\nbrowser: {chromedriver: /nirgends/chromedriver, "
                        "remote_url: 'http://127.0.0.1:4444'}\n")
    out = _validate(settings)
    assert out.returncode == 0, out.stderr  # a grid is used instead
    (tmp_path / "catalog.yaml").write_text(CATALOG.format(base="http://127.0.0.1:1").replace(
        "      accessibility:\n        timeout: 20s\n", "      availability: {timeout: 2s}\n").split("        exclude_rules")[0])
    settings.write_text("catalog: [catalog.yaml]\nbrowser:\n  chromedriver: /nirgends/chromedriver\n")
    out = _validate(settings)
    assert out.returncode == 0, out.stderr  # no browser check configured: no browser needed


def test_a_missing_chromium_is_a_config_error_that_names_the_package(tmp_path):
    # A monitor upgraded onto a machine without a package must say so at validation, not fail
    # each check with a session error. The headless shell is needed only when named: without
    # it the full Chromium runs every session.
    from monitor.config import ConfigError

    (tmp_path / "catalog.yaml").write_text(CATALOG.format(base="http://127.0.0.1:1"))
    settings = tmp_path / "settings.yaml"
    settings.write_text("catalog: [catalog.yaml]\nbrowser:\n  headless_shell: /nirgends/chromium-headless-shell\n")
    out = _validate(settings)
    assert out.returncode == 1
    assert f"{settings}:3:" in out.stderr and "browser.headless_shell" in out.stderr
    assert "Debian-Paket chromium-headless-shell installieren" in out.stderr and "leer lassen" in out.stderr

    def problems(text: str) -> str:
        settings.write_text(text)
        try:
            load_config(settings, KINDS)
        except ConfigError as exc:
            return str(exc)
        return ""

    found = problems("catalog: [catalog.yaml]\nbrowser:\n  recycle_after_pages: 40\n  chromium: /nirgends/chromium\n")
    assert f"{settings}:4:" in found and "browser.chromium" in found and "Debian-Paket chromium installieren" in found
    # a grid brings its own browser; an empty headless_shell means the full Chromium everywhere
    assert problems("catalog: [catalog.yaml]\nbrowser: {chromium: /nirgends/chromium, "
                    "remote_url: 'http://127.0.0.1:4444'}\n") == ""
    assert problems("catalog: [catalog.yaml]\nbrowser:\n  headless_shell: \n") == ""


def test_pooled_scans_run_the_headless_shell_and_recording_and_experience_the_full_chromium(good):
    from checks.browser import BrowserSettings as Settings

    def binaries(pool):  # the browsers the pool's chromedrivers started (Debian starts them through a script)
        children: dict[int, list[int]] = {}
        for entry in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError):
                children.setdefault(int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]),
                                    []).append(int(entry))
        out, stack = set(), [c for pid in pool.live_processes() for c in children.get(pid, ())]
        while stack:
            pid = stack.pop()
            stack.extend(children.get(pid, ()))
            with contextlib.suppress(OSError):
                out.add(Path(os.readlink(f"/proc/{pid}/exe")).name)
                flags.update(Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").split())
        return out - {"sh", "dash", "bash"}

    flags: set[str] = set()

    shell = BrowserPool(Settings(), 1)
    try:
        with shell.session(deadline=30) as session:
            assert session.binary == Path("/usr/bin/chromium-headless-shell")
            assert binaries(shell) == {"chromium-headless-shell"}
            assert "--max-semi-space-size=2" in flags  # V8's young generation bounded for the scans
        flags.clear()
        with shell.session(deadline=30, full=True) as session:  # the idle shell made room: still one browser
            assert session.binary == Path("/usr/bin/chromium") and binaries(shell) == {"chromium"}
            assert shell.live_sessions() == 1
            assert "--max-semi-space-size=2" not in flags and "--js-flags=--max-old-space-size=512" in flags
        with shell.session(deadline=30, fresh=True) as session:
            assert session.record and binaries(shell) == {"chromium"}
    finally:
        shell.close()
    without = BrowserPool(Settings(headless_shell=None), 1)  # empty: the full Chromium for every session
    try:
        assert scan(without, good + "/fehler").violations and binaries(without) == {"chromium"}
    finally:
        without.close()


# --------------------------------------------------------------------------- complete evidence


def test_every_violating_element_is_stored_and_in_the_report_annex(tmp_path, pool):

    def barrier_rows(store, services, start, end):
        return KINDS["accessibility"].details(store, services, start, end)[0].rows

    images = "".join(f'<img src="/b{i}.png" class="bild-{i}">' for i in range(40))
    body = f"<!doctype html><html lang=de><title>Galerie</title><main><h1>Galerie</h1>{images}</main></html>".encode()
    with site({"/galerie": Page(body=body)}) as port:
        url = f"http://127.0.0.1:{port}/galerie"
        statement = ["statement_linked", "statement_feedback", "statement_arbitration", "statement_current"]
        result = a11y.run(Target("portal", url, (url,)), AccessibilitySettings(markers=statement), CheckContext(browser=pool))
    # no statement on the page: linked fails, and so does every requirement of its content
    assert {k: m["state"] for k, m in result.evidence["markers"].items()} == {
        "statement_linked": "fail", "statement_feedback": "fail", "statement_arbitration": "fail",
        "statement_current": "fail"}
    (violation,) = [v for v in result.evidence["pages"][0]["violations"] if v["rule"] == "image-alt"]
    assert violation["nodes"] == 40 and len(violation["targets"]) == 40  # not the first ten: all of them
    assert {t for t in violation["targets"]} == {f".bild-{i}" for i in range(40)}
    assert "targets_cut" not in violation
    assert result.evidence["targets"]["cut"] == 0 and result.evidence["targets"]["kept"] >= 40
    # stored, then read back by `results --json` and the report's annex
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}", KINDS)
    store.record(result)
    stored = store.latest()[0].result
    assert len(next(v for v in stored.evidence["pages"][0]["violations"] if v["rule"] == "image-alt")["targets"]) == 40
    start = result.started_at.timestamp() - 60
    rows = [r for r in barrier_rows(store, ["portal"], start, start + 3600) if r["rule"] == "image-alt"]
    assert sorted(r["element"] for r in rows) == sorted(f".bild-{i}" for i in range(40))
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "results", "--config", str(_settings(tmp_path, url)),
                          "--json"], check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr  # 1: the stored result is down (noncompliant)
    printed = json.loads(out.stdout)
    assert len([t for p in printed[0]["evidence"]["pages"] for v in p["violations"] if v["rule"] == "image-alt"
                for t in v["targets"]]) == 40


def test_evidence_beyond_the_size_limit_is_counted_not_dropped(monkeypatch):
    monkeypatch.setattr(a11y, "MAX_TARGET_CHARS", 100)
    pages = [{"url": "u", "violations": [{"rule": "image-alt", "nodes": 30, "targets": [f"#bild-{i:04d}" for i in range(30)]},
                                         {"rule": "label", "nodes": 2, "targets": ["#a", "#b"]}]}]
    summary = a11y._bound_targets(pages)
    first, second = pages[0]["violations"]
    assert len(first["targets"]) == 10 and first["targets_cut"] == 20  # 10 selectors of 10 characters fit in 100
    assert second["targets"] == [] and second["targets_cut"] == 2
    assert summary == {"total": 32, "kept": 10, "cut": 22, "limit_chars": 100}
