"""DSGVO check against a local estate in a real Chromium: fake third parties that Chromium
resolves to local TLS servers, cookies, storage, legal links, consent, hostile pages."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from checks import gdpr
from checks.browser import BrowserPool
from checks.context import CheckContext
from checks.gdpr import GdprSettings, legal_link
from checks.result import Reason, State, Target
from monitor.config import ConfigError, load_config
from monitor.metrics import ResultCollector
from monitor.store import Store
from tests.a11y_site import hostile_routes, html
from tests.gdpr_site import PORTAL, browser_settings, estate
from tests.helpers import KINDS
from tests.servers import free_port
from tests.sites import Page, site

pytestmark = pytest.mark.slow
ALL_MARKERS = set(gdpr.MARKERS)


@pytest.fixture(scope="module")
def shop(ca):
    with estate(ca) as e:
        yield e


@pytest.fixture(scope="module")
def pool(shop):
    p = BrowserPool(shop.browser, 2)
    yield p
    p.close()


def run(pool, shop, *paths: str, **settings) -> dict:
    urls = tuple(shop.portal + p for p in paths)
    result = gdpr.run(Target("portal", urls[0], urls), GdprSettings(**settings), CheckContext(browser=pool))
    return result.to_dict() | {"result": result}


def states(out: dict) -> dict[str, str]:
    return {k: m["state"] for k, m in out["evidence"]["markers"].items()}


# --------------------------------------------------------------------------- findings with evidence


def test_every_finding_appears_with_its_evidence(pool, shop):
    out = run(pool, shop, "/alles", processors=["dienstleister.example"])
    ev, m = out["evidence"], out["measurements"]
    assert out["result"].state is State.DOWN and out["result"].reason is Reason.NONCOMPLIANT
    markers = ev["markers"]
    failing = {k for k, s in states(out).items() if s == "fail"}
    assert failing == {"no_trackers", "no_third_party_cookies", "no_nonessential_cookies", "no_storage",
                       "no_google_fonts", "youtube_nocookie", "processors_only", "impressum_link",
                       "current_legal_refs", "forms_https", "https_redirect"}
    # the redirect probe reaches the estate through the browser's host rules: plain HTTP answers 200
    (probe,) = markers["https_redirect"]["evidence"]
    assert probe["http_url"] == f"http://{PORTAL}/alles" and probe["status"] == 200
    assert probe["detail"] == "keine Umleitung auf HTTPS"
    assert states(out)["privacy_link"] == "pass"  # "Datenschutz" in the footer

    (tracker,) = markers["no_trackers"]["evidence"]
    assert tracker["host"] == "www.google-analytics.com" and tracker["category"] == "analytics"
    assert tracker["owner"] == "Google" and tracker["requests"] == 2  # the script and its /collect beacon
    assert tracker["example"] == "https://www.google-analytics.com/analytics.js"
    assert tracker["page"] == shop.portal + "/alles"

    third = {c["name"]: c for c in markers["no_third_party_cookies"]["evidence"]}
    assert set(third) == {"_ga_tp", "VISITOR_INFO1_LIVE"}
    assert third["_ga_tp"]["domain"] == ".google-analytics.com"
    assert third["_ga_tp"]["set_by"] == "https://www.google-analytics.com/analytics.js"
    assert third["VISITOR_INFO1_LIVE"]["domain"] == ".youtube.com"
    assert third["VISITOR_INFO1_LIVE"]["expires"][:4] in ("2027", "2028")  # 180 days from now, as an ISO date

    first = {c["name"]: c for c in markers["no_nonessential_cookies"]["evidence"]}
    assert set(first) == {"werbung_id", "_ga"}  # the tracker script's cookie on the portal's own domain
    assert first["_ga"]["set_by"] == "Skript in " + shop.portal + "/alles" and first["_ga"]["source"] == "script"
    assert first["werbung_id"]["set_by"] == shop.portal + "/alles" and first["werbung_id"]["source"] == "header"
    assert all(c["stored"] for c in [*third.values(), *first.values()])  # all of them stored by Chromium too

    storage = {(s["origin"], s["kind"], s["key"]) for s in markers["no_storage"]["evidence"]}
    assert storage == {(f"https://{PORTAL}", "local", "_ga_ls"), (f"https://{PORTAL}", "session", "besuch"),
                       ("https://www.youtube.com", "local", "yt-player")}  # the embed's own frame included

    fonts = {h["host"]: h["example"] for h in markers["no_google_fonts"]["evidence"]}
    assert fonts == {"fonts.googleapis.com": "https://fonts.googleapis.com/css?family=Roboto",
                     "fonts.gstatic.com": "https://fonts.gstatic.com/s/roboto/v1/roboto.woff2"}
    (yt,) = markers["youtube_nocookie"]["evidence"]
    assert yt["host"] == "www.youtube.com" and yt["example"] == "https://www.youtube.com/embed/abc123"
    assert yt["requests"] == 2  # the embed and the image it loads itself (a cross-site frame's own request)

    outside = {h["host"] for h in markers["processors_only"]["evidence"]}
    assert outside == {"www.google-analytics.com", "fonts.googleapis.com", "fonts.gstatic.com", "www.youtube.com",
                       "widget.unbekannt.example"}
    assert markers["impressum_link"]["evidence"] == [{"page": shop.portal + "/alles", "found": False}]
    (ref,) = markers["current_legal_refs"]["evidence"]
    assert ref["reference"] == "TMG" and "§ 5 TMG" in ref["context"] and ref["url"] == shop.portal + "/alles"
    (form,) = markers["forms_https"]["evidence"]
    assert form["action"] == f"http://{PORTAL}/absenden" and form["method"] == "post"

    assert m["trackers"] == 1 and m["third_party_cookies"] == 2 and m["nonessential_cookies"] == 2
    assert m["third_party_hosts"] == 5 and m["storage_keys"] == 3
    assert [f["severity"] for f in ev["findings"]][0] == "high"
    page = ev["pages"][0]
    assert page["third_party_requests_total"] == 7 and page["cookies_complete"] is True
    assert {r["url"] for r in page["third_party_requests"]} >= {"https://widget.unbekannt.example/widget.js"}


def test_clean_pages_give_no_findings(pool, shop):
    out = run(pool, shop, "/", "/nocookie", processors=["dienstleister.example", "youtube-nocookie.com"])
    ev = out["evidence"]
    assert ev["findings"] == [], ev["findings"]
    # everything passes; the HTTP-to-HTTPS probe reaches the fake name through the browser's host rules
    assert {k for k, s in states(out).items() if s != "pass"} == set()
    probe = ev["markers"]["https_redirect"]["evidence"][0]
    assert probe["status"] == 301 and probe["location"] == f"https://{PORTAL}/"
    hosts = {h["host"]: h["party"] for h in ev["summary"]["hosts"]}
    assert hosts["static.portal.saarland"] == "first"  # same registrable domain
    assert hosts["www.youtube-nocookie.com"] == "third" and hosts["cdn.dienstleister.example"] == "third"
    cookies = ev["summary"]["cookies"]
    assert [(c["name"], c["party"], c["necessary"]) for c in cookies] == [("PHPSESSID", "first", True)]
    assert out["measurements"]["marker_youtube_nocookie"] == 1 and out["measurements"]["trackers"] == 0
    assert out["result"].state is State.UP


def test_clean_service_with_https_redirect_is_up(pool, ca):
    pair = ca.issue("gdpr-localhost", ["localhost"])
    footer = '<footer><a href="/impressum">Impressum</a> <a href="/datenschutz">Datenschutz</a></footer>'
    routes = {"/": Page(body=html(f"<main><h1>Start</h1></main>{footer}")),
              ("http", "/"): Page(301, headers=[("Location", "https://localhost:{port}/")], body=b""),
              "/impressum": Page(body=html("<main><p>Angaben gemäß § 5 DDG</p></main>")),
              "/datenschutz": Page(body=html("<main><p>Hinweise nach Art. 13 DSGVO</p></main>"))}
    with site(routes, tls=(pair.cert, pair.key)) as port:
        url = f"https://localhost:{port}/"
        result = gdpr.run(Target("svc", url, (url,)), GdprSettings(processors=[]), CheckContext(browser=pool))
    assert result.state is State.UP and result.reason is Reason.OK, result.evidence["markers"]
    (row,) = result.evidence["markers"]["https_redirect"]["evidence"]
    assert row["http_url"] == f"http://localhost:{port}/" and row["status"] == 301
    assert row["location"] == f"https://localhost:{port}/"
    assert {p["url"] for p in result.evidence["legal_pages"]} == {f"https://localhost:{port}/impressum",
                                                                  f"https://localhost:{port}/datenschutz"}


def test_http_without_redirect_fails_and_refused_http_passes(ca):
    pair = ca.issue("gdpr-noredirect", ["127.0.0.1"])
    with site({"/": Page()}, tls=(pair.cert, pair.key)) as port:
        marker = gdpr.check_https_redirect([f"https://127.0.0.1:{port}/"], GdprSettings())
    assert marker.state == "fail"
    assert marker.evidence == [{"http_url": f"http://127.0.0.1:{port}/", "status": 200, "location": "",
                                "detail": "keine Umleitung auf HTTPS"}]
    closed = free_port()
    marker = gdpr.check_https_redirect([f"https://127.0.0.1:{closed}/"], GdprSettings())
    assert marker.state == "pass" and "nicht angeboten" in marker.evidence[0]["detail"]
    with site({"/": Page(301, headers=[("Location", "http://127.0.0.1:{port}/x")], body=b""), "/x": Page()}) as port:
        marker = gdpr.check_https_redirect([f"http://127.0.0.1:{port}/"], GdprSettings())
    assert marker.state == "fail" and marker.evidence[0]["detail"] == "Umleitung bleibt bei HTTP"


# --------------------------------------------------------------------------- legal links and references


@pytest.mark.parametrize(("path", "impressum", "privacy"), [
    ("/", "Impressum", "Datenschutzerklärung"),             # footer
    ("/kopf", "Impressum", "Datenschutz"),                  # header
    ("/menue", "Anbieterkennzeichnung", "Hinweise zur DSGVO"),  # a collapsed (hidden) menu
    ("/url", "Wer wir sind", "Rechtliches"),                # only the URL names them
    ("/ohne", None, None),  # a mailto address and a cookie-settings link are neither
])
def test_legal_links_found_by_text_and_url_in_header_footer_and_menu(pool, shop, path, impressum, privacy):
    out = run(pool, shop, path, markers=["impressum_link", "privacy_link"])
    markers = out["evidence"]["markers"]
    for name, expected in (("impressum_link", impressum), ("privacy_link", privacy)):
        (row,) = markers[name]["evidence"]
        if expected is None:
            assert markers[name]["state"] == "fail" and row == {"page": shop.portal + path, "found": False}
        else:
            assert markers[name]["state"] == "pass" and row["text"] == expected, row


@pytest.mark.parametrize(("path", "impressum"), [("/banner", "fail"), ("/dialog", "pass")])
def test_a_legal_link_only_in_the_consent_banner_does_not_count(pool, shop, path, impressum):
    """The banner disappears after a choice: its link is not reachable from every page."""
    out = run(pool, shop, path, markers=["impressum_link", "privacy_link"])
    markers = out["evidence"]["markers"]
    assert markers["privacy_link"]["state"] == "fail" and markers["impressum_link"]["state"] == impressum
    (row,) = markers["privacy_link"]["evidence"]
    assert row["found"] is False and row["where"] == "Cookie-Banner" and row["url"].endswith("/datenschutz")
    assert "nur im Cookie-Banner" in markers["privacy_link"]["detail"]


@pytest.mark.parametrize(("label", "href", "kind", "found"), [
    ("Impressum", "/x", "impressum", True),
    ("IMPRESSUM", "/x", "impressum", True),
    ("Imprint", "/x", "impressum", True),
    ("Rechtliches", "/de/impressum.html", "impressum", True),
    ("Kontakt", "/kontakt", "impressum", False),
    ("Datenschutzerklärung", "/x", "privacy", True),
    ("Datenschutzerklaerung", "/x", "privacy", True),
    ("Datenschutzhinweise", "/x", "privacy", True),
    ("Privacy", "/x", "privacy", True),
    ("Rechtliches", "/datenschutz/", "privacy", True),
    ("Datenschutzeinstellungen", "/cookie-settings", "privacy", False),
    ("datenschutz@land.example", "mailto:datenschutz@land.example", "privacy", False),
    ("Cookie-Einstellungen", "/datenschutzeinstellungen", "privacy", False),
])
def test_legal_link_table(label, href, kind, found):
    assert (legal_link([(label, "https://p.example" + href if href.startswith("/") else href)], kind) is not None) is found


def test_outdated_references_on_the_linked_legal_pages(pool, shop):
    out = run(pool, shop, "/alt", markers=["current_legal_refs", "impressum_link"])
    marker = out["evidence"]["markers"]["current_legal_refs"]
    assert marker["state"] == "fail"
    assert {(r["url"], r["reference"]) for r in marker["evidence"]} == {
        (shop.portal + "/impressum-alt", "TMG"), (shop.portal + "/impressum-alt", "TTDSG")}
    current = run(pool, shop, "/", markers=["current_legal_refs"])  # § 5 DDG and TDDDG are current
    assert states(current) == {"current_legal_refs": "pass"}
    assert len(current["evidence"]["legal_pages"]) == 2


# --------------------------------------------------------------------------- consent pass


def test_consent_cookie_pass_shows_what_changes(pool, shop):
    out = run(pool, shop, "/einwilligung", consent_cookies=[{"name": "einwilligung", "value": "alle"}],
              processors=[])
    ev, m = out["evidence"], out["measurements"]
    assert states(out)["no_trackers"] == "pass" and m["trackers"] == 0  # nothing before consent
    after = ev["after_consent"]
    assert after["cookies_set"] == ["einwilligung"]
    assert m["after_trackers"] == 1 and after["summary"]["counts"]["trackers"] == 1
    assert {h["host"] for h in after["summary"]["hosts"] if h["party"] == "third"} == {"www.google-analytics.com"}
    consent_cookie = next(c for c in after["summary"]["cookies"] if c["name"] == "einwilligung")
    assert consent_cookie["necessary"] is True  # the consent state itself is never a finding
    assert m["after_third_party_cookies"] == 1  # _ga_tp, set once the tracker ran


# --------------------------------------------------------------------------- the browser's own traffic


def _netlog_events(path: Path) -> list[tuple[str, dict]]:
    """(event type, params) from a Chromium NetLog, also when the browser was killed before closing it."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    constants = json.loads(lines[0][len('{"constants":'):].rstrip(","))
    names = {v: k for k, v in constants["logEventTypes"].items()}
    events = []
    for line in lines[1:]:
        line = line.strip().rstrip(",")
        if line.startswith("{") and line.endswith("}"):
            with contextlib.suppress(ValueError):
                e = json.loads(line)
                events.append((names.get(e.get("type"), "?"), e.get("params") or {}))
    return events


def test_blank_page_shows_no_background_connections(tmp_path):
    # The browser's NetLog sees every DNS lookup and socket of every Chromium process, its own
    # background traffic included: on a blank page, nothing may leave 127.0.0.1.
    netlog = tmp_path / "netlog.json"
    pool = BrowserPool(browser_settings([], (f"--log-net-log={netlog}",)), 1)
    try:
        with site({"/": Page(body=html("<main><h1>Leer</h1></main>"))}) as port:
            url = f"http://127.0.0.1:{port}/"
            page = gdpr.capture_page(pool, url, GdprSettings(settle=3.0))
    finally:
        pool.close()
    assert page.scanned, page.error
    # the check's own record: the page and its favicon, nothing else
    assert [(r.url, r.type) for r in page.requests] == [(url, "Document"), (url + "favicon.ico", "Other")]
    assert page.cookies == [] and page.storage == []
    events = _netlog_events(netlog)
    # TCP: every connection of every Chromium process went to the local page.
    connects = {p["address"] for t, p in events if t == "TCP_CONNECT_ATTEMPT" and "address" in p}
    assert connects == {f"127.0.0.1:{port}"}, connects
    # DNS: only the local address; the start-up traffic Chromium would send on its own
    # (BACKGROUND_HOSTS) ends in the resolver rules as ~NOTFOUND, before any lookup.
    lookups = {p["host"] for t, p in events if t == "HOST_RESOLVER_MANAGER_REQUEST" and "host" in p}
    assert lookups <= {f"http://127.0.0.1:{port}", "https://~notfound"}, lookups
    # (UDP_CONNECT to 2001:4860:4860::8888 is Chromium's IPv6 reachability test: connect() on a
    # datagram socket only picks a route and sends nothing.)


def test_every_visit_starts_from_an_empty_profile(pool, shop):
    first = gdpr.capture_page(pool, shop.portal + "/alles", GdprSettings())
    assert {c.name for c in first.cookies} >= {"_ga", "werbung_id"}
    again = gdpr.capture_page(pool, shop.portal + "/leer", GdprSettings())
    assert again.cookies == [] and again.storage == []  # nothing carried over from the visit before
    assert {r.host for r in again.requests} == {PORTAL}


# --------------------------------------------------------------------------- hostile pages

TIMEOUT = 6.0
GRACE = 3.5  # killing the process group, starting the next browser


@pytest.fixture(scope="module")
def hostile():
    with site(hostile_routes()) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(("path", "scanned"), [
    ("/endlos", True), ("/schleife", False), ("/alarm", True), ("/riesig", None), ("/rahmen-haengt", True)])
def test_hostile_page_costs_at_most_its_timeout(pool, hostile, path, scanned):
    started = time.monotonic()
    page = gdpr.capture_page(pool, hostile + path, GdprSettings(timeout=TIMEOUT))
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + GRACE, elapsed
    if scanned is not None:
        assert page.scanned is scanned, page.error
    if not page.scanned:
        assert page.error_reason == "timeout"
    if path in ("/endlos", "/rahmen-haengt"):
        assert page.load_complete is False
    if page.scanned:  # what a page loaded before it stopped loading is kept
        assert page.requests and page.requests[0].url == hostile + path
    clean = gdpr.capture_page(pool, hostile + "/clean", GdprSettings(timeout=TIMEOUT))
    assert clean.scanned and len(pool.live_processes()) <= pool.size


@pytest.mark.alone
def test_hanging_pages_do_not_stall_the_others(pool, hostile):
    urls = [hostile + "/schleife?1", hostile + "/schleife?2"] + [f"{hostile}/clean?{i}" for i in range(6)]
    started = time.monotonic()
    result = gdpr.run(Target("svc", urls[0], tuple(urls)),
                      GdprSettings(timeout=TIMEOUT, markers=["no_trackers"], settle=0.5), CheckContext(browser=pool))
    elapsed = time.monotonic() - started
    assert result.measurements["pages_scanned"] == 6 and result.measurements["pages_failed"] == 2
    assert elapsed < TIMEOUT + GRACE + 6 * 2.0, elapsed


# --------------------------------------------------------------------------- config, metrics, CLI

CATALOG = """
profiles:
  dsgvo:
    kind: gdpr
    timeout: 20s
    processors: [dienstleister.example]
services:
  - id: portal
    name: Portal
    category: basisdienst
    operator: Land Saarland
    contact: betrieb@example.invalid
    urls: [{urls}]
    checks:
      gdpr:
        profile: dsgvo
        tracker_files: [{trackers}]
"""


def _config(tmp_path: Path, shop, urls: list[str], trackers: str = "eigene-tracker.yaml") -> Path:
    (tmp_path / "eigene-tracker.yaml").write_text(
        "trackers:\n  - {domain: widget.unbekannt.example, category: social, owner: Unbekannt GmbH}\n")
    (tmp_path / "catalog.yaml").write_text(CATALOG.format(urls=", ".join(f'"{u}"' for u in urls), trackers=trackers))
    settings = tmp_path / "settings.yaml"
    args = json.dumps(list(shop.browser.arguments))
    settings.write_text(f"catalog: [catalog.yaml]\nstore: {{url: \"sqlite:///{tmp_path / 's.db'}\"}}\n"
                        f"browser: {{accept_insecure_certs: true, arguments: {args}}}\n")
    return settings


def test_operator_tracker_list_and_metrics_pass_promtool(tmp_path, pool, shop):
    from monitor.daemon import job_specs

    config = load_config(_config(tmp_path, shop, [shop.portal + "/alles", shop.portal + "/"]), KINDS)
    specs = [s for s in job_specs(config).values() if s.kind == "gdpr"]
    assert len(specs) == 1  # one run covers the service's pages
    settings = config.services["portal"].checks["gdpr"]
    result = gdpr.run(Target("portal", shop.portal + "/alles", tuple(config.services["portal"].urls)), settings, CheckContext(browser=pool))
    trackers = {t["host"]: t["category"] for t in result.evidence["markers"]["no_trackers"]["evidence"]}
    assert trackers == {"www.google-analytics.com": "analytics", "widget.unbekannt.example": "social"}
    store = Store.open(config.store_url, config.kinds)
    store.record(result)
    registry = CollectorRegistry()
    registry.register(ResultCollector(store, lambda: config))
    labels = {"service": "portal", "category": "basisdienst", "url": shop.portal + "/alles"}
    assert registry.get_sample_value("egov_gdpr_trackers", {**labels, "consent": "before"}) == 2
    assert registry.get_sample_value("egov_gdpr_third_party_hosts", {**labels, "consent": "before"}) == 5
    assert registry.get_sample_value("egov_gdpr_third_party_cookies", {**labels, "consent": "before"}) == 2
    assert registry.get_sample_value("egov_gdpr_marker_passed", {**labels, "marker": "no_google_fonts"}) == 0
    assert registry.get_sample_value("egov_gdpr_marker_passed", {**labels, "marker": "privacy_link"}) == 1
    assert registry.get_sample_value("egov_gdpr_marker_passed", {**labels, "marker": "https_redirect"}) == 0
    assert registry.get_sample_value("egov_gdpr_pages_scanned", labels) == 2
    text = generate_latest(registry).decode()
    assert "google-analytics" not in text and "_ga" not in text  # hosts and cookie names never become labels
    out = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    stored = store.latest()[0].result
    assert stored.evidence["markers"]["no_third_party_cookies"]["evidence"][0]["name"] in ("_ga_tp", "VISITOR_INFO1_LIVE")


def test_cli_prints_findings_with_evidence(tmp_path, shop):
    settings = _config(tmp_path, shop, [shop.portal + "/alles", shop.portal + "/"])
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "check", "--config", str(settings), "--kind", "gdpr",
                          "portal"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr  # findings: noncompliant
    text = out.stdout
    assert "2 von 2 Seiten in frischem Browser vor jeder Einwilligung aufgezeichnet" in text
    assert "Keine Tracker vor der Einwilligung – 2 Tracker-Hosts" in text
    assert "www.google-analytics.com [analytics, Google]: 2 Anfragen" in text
    assert "Cookie VISITOR_INFO1_LIVE (.youtube.com" in text
    assert "Formular  sendet an http://www.portal.saarland/absenden (POST)" in text
    assert "fehlt auf " + shop.portal + "/alles" in text
    assert '"TMG" in ' + shop.portal + "/alles" in text
    assert "HTTP leitet auf HTTPS um: nicht erfüllt" in text


def test_bad_tracker_file_and_processor_name_the_file_line_and_field(tmp_path, shop):
    settings = _config(tmp_path, shop, ["https://p.example/"], trackers="kaputt.yaml")
    (tmp_path / "kaputt.yaml").write_text("trackers:\n  - {domain: ok.example, category: analytics}\n"
                                          "  - {domain: 'https://x.example/pfad', category: analytics}\n")
    with pytest.raises(ConfigError) as err:
        load_config(settings, KINDS)
    text = str(err.value)
    assert "kaputt.yaml:3" in text and "trackers.1.domain" in text and "ohne Pfad" in text
    assert "checks.gdpr.tracker_files" in text and "Dienst 'portal'" in text
    (tmp_path / "kaputt.yaml").write_text("trackers:\n  - {domain: ok.example, category: werbung}\n")
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "validate", "--config", str(settings)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "kaputt.yaml:2" in out.stderr and "trackers.0.category" in out.stderr
    catalog = (tmp_path / "catalog.yaml").read_text()
    (tmp_path / "catalog.yaml").write_text(catalog.replace("kaputt.yaml", "fehlt.yaml"))
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "validate", "--config", str(settings)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "fehlt.yaml: Tracker-Liste nicht gefunden" in out.stderr
    (tmp_path / "catalog.yaml").write_text(catalog.replace("[dienstleister.example]", "['https://cdn.example/']"))
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "validate", "--config", str(settings)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "profiles.dsgvo.processors" in out.stderr and "kein Domainname" in out.stderr  # once, at the profile


def test_without_a_processor_list_third_parties_are_named_for_review(pool, shop):
    out = run(pool, shop, "/nocookie", markers=["processors_only"])
    marker = out["evidence"]["markers"]["processors_only"]
    assert marker["state"] == "fail" and "zu prüfen" in marker["detail"]
    assert {h["host"] for h in marker["evidence"]} == {"www.youtube-nocookie.com", "cdn.dienstleister.example"}
    # the page's own site (static.portal.saarland shares its registrable domain) is never a finding
    clean = run(pool, shop, "/", markers=["processors_only"])
    assert clean["evidence"]["markers"]["processors_only"]["state"] == "pass"
    assert clean["result"].state is State.UP
