"""The status page end to end: the daemon serves it from its own checks of a local estate,
the CLI's records appear, and a real Chromium finds it accessible (served and exported)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import feedparser
import pytest

from checks import browser
from checks.accessibility import AccessibilitySettings, scan_page
from tests.daemon import ROOT, running, service_yaml, write_daemon_config

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
INTERVAL = 6.0
HOSTILE = "<script>alert(1)</script> Neue Server & Kabel"


class Switch(http.server.BaseHTTPRequestHandler):
    healthy = True

    def do_GET(self) -> None:
        body = b"<html><title>ok</title></html>"
        self.send_response(200 if Switch.healthy else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@contextmanager
def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_args: object) -> None:
        pass


def keyboard_walk(pool: browser.BrowserPool, url: str, shot: Path | None = None) -> tuple[list[str], list[str], list[bool]]:
    """Every focusable element of the page, the elements TAB reaches in order, and whether
    each showed a focus outline."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    with pool.session(60) as session:
        driver = session.driver
        driver.get(url)
        focusable = driver.execute_script(
            "return [...document.querySelectorAll('a[href], button, input, select, textarea, summary, "
            "[tabindex]:not([tabindex=\"-1\"])')].map(e => e.outerHTML)")
        reached, outlined = [], []
        for _ in range(len(focusable) + 3):
            ActionChains(driver).send_keys(Keys.TAB).perform()
            html, visible = driver.execute_script(
                "const e = document.activeElement; const s = getComputedStyle(e);"
                "return [e === document.body ? '' : e.outerHTML, s.outlineStyle !== 'none' && s.outlineWidth !== '0px'];")
            if not html or (reached and html == reached[0]):
                break
            reached.append(html)
            outlined.append(visible)
        if shot is not None:
            driver.set_window_size(1100, 900)
            driver.get(url)
            driver.save_screenshot(str(shot))
        return focusable, reached, outlined


def check_accessible(pool: browser.BrowserPool, url: str) -> None:
    page = scan_page(pool, url, AccessibilitySettings(timeout=60))
    assert page.scanned, page.error
    assert page.status == 200 and page.lang == "de"
    assert page.violations == (), [(v.rule, v.impact, v.targets[:3]) for v in page.violations]


def test_the_daemon_shows_an_outage_and_an_incident_and_the_page_is_accessible(tmp_path):
    Switch.healthy = True
    with serve(Switch) as port:
        services = service_yaml("portal", [f"http://127.0.0.1:{port}/"], interval=f"{INTERVAL:g}s", timeout="2s")
        services += "  public: true\n" + service_yaml("intern", [f"http://127.0.0.1:{port}/intern"], interval="60s",
                                                         timeout="2s")
        settings = write_daemon_config(tmp_path, services)
        with settings.open("a") as fh:
            fh.write("status_page: {title: Status der Online-Dienste, cache_seconds: 300}\n")
        with running(settings) as daemon:
            def page() -> str:
                code, body = daemon.get("/status/")
                assert code == 200
                return body

            daemon.wait_for(lambda: "Alle 1 Dienste sind verfügbar" in page(), timeout=60, what="first results")
            Switch.healthy = False
            failed_at = time.monotonic()
            daemon.wait_for(lambda: "gestört" in page(), timeout=4 * INTERVAL, what="the outage on the page")
            shown_after = time.monotonic() - failed_at
            # the next check finds it (at most one interval away); the page, cached for 300 s,
            # is rendered again at once because a state changed
            assert shown_after < INTERVAL + 4.0, f"outage shown after {shown_after:.1f} s"
            opened = subprocess.run([sys.executable, "-m", "monitor.cli", "incident", "open", "--config", str(settings),
                                     "-s", "portal", "--title", "Rechenzentrum", "--text", HOSTILE,
                                     "--cause", "service_operator"], cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert opened.returncode == 0, opened.stderr
            body = daemon.wait_for(lambda: next((b for b in [page()] if "Neue Server" in b), None), timeout=30,
                                   what="the incident on the page")
            assert "&lt;script&gt;alert(1)&lt;/script&gt; Neue Server &amp; Kabel" in body and HOSTILE not in body
            assert "intern" not in body and "127.0.0.1" not in body  # the private service, the URLs
            code, atom = daemon.get("/status/feed.xml")
            feed = feedparser.parse(atom)
            assert code == 200 and not feed.bozo and feed.entries[0].title == "Störung: Rechenzentrum (wird untersucht)"
            assert HOSTILE in feed.entries[0].content[0].value  # as text: a feed reader shows it, never runs it

            # records kept in git: an invalid file is refused on reload, a valid one shows
            records = tmp_path / "incidents"
            records.mkdir()
            (records / "wartung.yaml").write_text("incidents:\n  - id: w1\n    kind: maintenance\n    title: Umzug\n"
                                                  "    services: [portal]\n    start: 2030-01-05T22:00:00+01:00\n")
            code, why = daemon.post("/-/reload")
            assert code == 400 and "wartung.yaml:2" in why and "end fehlt" in why, why
            assert "Umzug" not in page()
            with (records / "wartung.yaml").open("a") as fh:
                fh.write("    end: 2030-01-06T02:00:00+01:00\n")
            assert daemon.post("/-/reload")[0] == 200
            daemon.wait_for(lambda: "<strong>Umzug</strong>" in page(), timeout=30, what="the file's record on the page")
            # the page (and the reload) came from the status process beside the daemon
            assert "Statusseite läuft im eigenen Prozess" in daemon.log()

            pool = browser.BrowserPool(browser.BrowserSettings(), 1)
            try:
                check_accessible(pool, f"{daemon.base}/status/")
                check_accessible(pool, f"{daemon.base}/status/dienst/portal.html")
                focusable, reached, outlined = keyboard_walk(pool, f"{daemon.base}/status/")
                assert reached and "Zum Inhalt springen" in reached[0]
                assert sorted(reached) == sorted(focusable) and all(outlined), (focusable, reached, outlined)

                out = tmp_path / "export"
                done = subprocess.run([sys.executable, "-m", "monitor.cli", "statuspage", "--config", str(settings),
                                       "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=60)
                assert done.returncode == 0, done.stderr
                with serve(functools.partial(Quiet, directory=str(out))) as static:  # type: ignore[arg-type]
                    base = f"http://127.0.0.1:{static}"
                    check_accessible(pool, f"{base}/index.html")
                    check_accessible(pool, f"{base}/dienst/portal.html")
                    shot = tmp_path / "statusseite.png"
                    focusable, reached, outlined = keyboard_walk(pool, f"{base}/index.html", shot)
                    assert sorted(reached) == sorted(focusable) and all(outlined)
            finally:
                pool.close()
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000
    if os.environ.get("EGOV_DOCS_SCREENSHOTS"):  # refresh the README's picture: EGOV_DOCS_SCREENSHOTS=1 pytest ...
        shutil.copy(shot, ROOT / "docs" / "statusseite.png")
