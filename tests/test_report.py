"""The annual report end to end: store -> figures -> HTML, PDF/UA, CSV/JSON annex, CLI."""

from __future__ import annotations

import csv
import http.server
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.synthetic_year import TZ, generate, write_config
from checks.result import CheckResult, Reason, State
from monitor import report
from monitor.config import load_config
from monitor.rollup import fold_results
from monitor.store import Store
from tests.helpers import KINDS

ROOT = Path(__file__).resolve().parent.parent
HOSTILE_TITLE = '<script>alert("x")</script> Antrag & Co'
HOSTILE_URL = 'https://dienst-001.example/antrag?a=1&b="><img src=x onerror=alert(1)>'
NOW = datetime(2027, 1, 5, tzinfo=TZ)


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    """A small synthetic year (4 services) plus one catalog service that never ran."""
    d = tmp_path_factory.mktemp("year")
    settings = write_config(d, 4)
    config = load_config(settings, KINDS)
    store = Store.open(config.store_url, config.kinds, tz=TZ)
    until = datetime(2027, 1, 1, tzinfo=TZ) - timedelta(seconds=1)
    generate(store, config, 2026, until)
    with (d / "catalog.yaml").open("a") as fh:
        fh.write("  - {id: neu, name: Neuer Dienst ohne Ergebnisse, category: kommune, operator: X, "
                 "contact: x@example.invalid, urls: ['https://neu.example/'], checks: {availability: {interval: 60s}}}\n")
    config = load_config(settings, KINDS)
    # a scanned page whose title and URL try to inject markup
    hostile = CheckResult("dienst-001", "https://dienst-001.example/", "accessibility", State.DOWN,
                          Reason.NONCOMPLIANT, datetime(2026, 12, 31, 20, tzinfo=UTC), 3.0,
                          {"pages_scanned": 1.0, "rules_violated": 1.0, "rules_critical": 1.0, "violations_critical": 9.0},
                          {"pages": [{"url": HOSTILE_URL, "title": HOSTILE_TITLE, "violations": [
                              {"rule": "image-alt", "impact": "critical", "nodes": 9, "help": "<b>x</b>",
                               "help_url": "", "targets": []}]}], "markers": {}})
    store.record(hostile)
    files = report.build(store, config, 2026, d / "out", now=NOW)
    yield store, config, files, d


def test_report_files_and_the_html_shows_every_section_in_german(year):
    _store, _config, files, _d = year
    html = files.html.read_text(encoding="utf-8")
    assert '<html lang="de">' in html and "<title>Qualitätsbericht 2026" in html
    for heading in ("1. Zusammenfassung", "2. Verfügbarkeit und Zuverlässigkeit", "3. Barrierefreiheit",
                    "4. Datenschutz", "5. IT-Sicherheit", "6. Zufriedenheit", "7. Datenqualität", "8. Methode"):
        assert heading in html
    for group in ("Anlage 1: EfA-Leistungen", "Anlage 2: IT-Basisdienste", "Kommunale Dienste"):
        assert group in html
    assert "keine Befragungs- oder Feedbackdaten importiert" in html  # satisfaction: says so
    assert html.count('role="img"') == 4 and html.count("<figcaption") == 4  # charts with names and captions
    assert files.pdf.stat().st_size > 10_000


def test_text_from_scanned_pages_is_escaped(year):
    html = year[2].html.read_text(encoding="utf-8")
    assert "<script>alert" not in html and "onerror=alert(1)>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Antrag &amp; Co" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_service_without_results_says_so_instead_of_100_percent(year):
    store, config, files, _d = year
    from monitor.report.figures import collect

    data = collect(store, config, 2026, now=NOW)
    neu = next(s for s in data.services if s.id == "neu")
    assert not neu.has_data and neu.kinds["availability"].year.availability is None
    assert neu.lights["availability"].color == "grey" and neu.lights["availability"].label == "keine Daten"
    html = files.html.read_text(encoding="utf-8")
    row = html.split("<th scope=\"row\">Neuer Dienst ohne Ergebnisse</th>")[2].split("</tr>")[0]  # the month table
    assert "100,0" not in row and "keine Daten" in row


def test_an_empty_year_is_reported_as_empty(year, tmp_path):
    store, config, _files, _d = year
    files = report.build(store, config, 2019, tmp_path, now=NOW)
    html = files.html.read_text(encoding="utf-8")
    assert "Für 2019 liegen keine Prüfergebnisse vor" in html
    assert "100,000 %" not in html and "grün</span>" not in html.split("<table class=\"ampel\"")[1]
    annex = list(csv.DictReader(files.csv.open(encoding="utf-8")))
    yearly = [r for r in annex if r["figure"] == "verfuegbarkeit_prozent" and r["period"] == "Jahr"]
    assert yearly and all(r["value"] == "" for r in yearly)


def test_the_annex_holds_the_reports_figures_and_they_add_up(year):
    _store, _config, files, _d = year
    rows = list(csv.DictReader(files.csv.open(encoding="utf-8")))
    doc = json.loads(files.json.read_text(encoding="utf-8"))
    assert len(doc["figures"]) == len(rows) and doc["year"] == 2026
    fig = {(r["service_id"], r["period"], r["figure"]): r["value"] for r in rows}
    for sid in ("dienst-000", "dienst-001"):
        up, down = float(fig[(sid, "Jahr", "up_sekunden")]), float(fig[(sid, "Jahr", "down_sekunden")])
        assert float(fig[(sid, "Jahr", "verfuegbarkeit_prozent")]) == pytest.approx(100 * up / (up + down), abs=5e-7)
        months = sum(float(fig[(sid, f"{m:02d}", "down_sekunden")]) for m in range(1, 13))
        assert months == pytest.approx(down, abs=1e-3)
    # the figures the HTML shows are the annex's
    html = files.html.read_text(encoding="utf-8")
    from monitor.report.figures import fmt_pct
    assert fmt_pct(float(fig[("dienst-000", "Jahr", "verfuegbarkeit_prozent")])) in html


def test_monitor_outages_are_unknown_time_in_every_service(year):
    store, config, _files, _d = year
    from monitor.report.figures import collect

    data = collect(store, config, 2026, now=NOW)
    assert data.monitor_downtime == pytest.approx(3 * 3600 + 25 * 60, abs=1)  # the generator's two gaps
    for s in data.services:
        if s.kinds["availability"].monitored_since is not None and s.id != "neu":
            # the network incident (40 min) plus the monitor outages after the service's first result
            assert s.kinds["availability"].year.unknown >= 25 * 60


def test_the_pdf_is_tagged_with_title_and_german_language(year):
    from pypdf import PdfReader

    reader = PdfReader(str(year[2].pdf))
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "de"
    assert bool(root["/MarkInfo"]["/Marked"])
    tree = root["/StructTreeRoot"].get_object()
    assert "/K" in tree  # the structure tree has content
    assert reader.metadata.title.startswith("Qualitätsbericht 2026")
    assert bool(root["/ViewerPreferences"]["/DisplayDocTitle"])
    xmp = reader.xmp_metadata
    assert xmp is not None and "pdfuaid" in xmp.stream.get_data().decode("utf-8", "replace")
    text = reader.pages[1].extract_text()
    assert "Zusammenfassung" in text and "Verfügbarkeit" in text


def test_report_pages_render_to_readable_png(year, tmp_path):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(year[2].pdf))
    try:
        image = pdf[1].render(scale=1.5).to_pil()
        assert image.width > 1200
        gray = image.convert("L")
        dark = sum(gray.histogram()[:100])
        assert dark > 2000  # text and tables, not a blank page
        image.save(tmp_path / "seite-2.png")
    finally:
        pdf.close()


@pytest.mark.slow
def test_our_accessibility_check_finds_no_wcag_violation_in_the_report(year):
    from checks import browser
    from checks.accessibility import AccessibilitySettings, scan_page

    html = year[2].html.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pool = browser.BrowserPool(browser.BrowserSettings(), 1)
    try:
        page = scan_page(pool, f"http://127.0.0.1:{server.server_address[1]}/", AccessibilitySettings(timeout=60))
    finally:
        pool.close()
        server.shutdown()
    assert page.scanned, page.error
    assert page.violations == (), [(v.rule, v.impact, v.targets[:3]) for v in page.violations]
    assert page.lang == "de" and page.title.startswith("Qualitätsbericht 2026")


def test_cli_report_and_satisfaction_import(year, tmp_path):
    _store, _config, _files, d = year
    good = tmp_path / "umfrage.csv"
    good.write_text("service;period;respondents;mean_rating;staff_rating\n"
                    "dienst-000;2026;412;4,3;3,9\ndienst-001;2026-Q2;57;2,6;\n", encoding="utf-8")
    bad = tmp_path / "kaputt.csv"
    bad.write_text("service,period,respondents,mean_rating\ndienst-000,2026,zwölf,4.0\nunbekannt,2026,3,4\n"
                   "dienst-001,letztes Jahr,3,4\ndienst-002,2026,3,7\n", encoding="utf-8")
    run = lambda *a: subprocess.run([sys.executable, "-m", "monitor.cli", *a], capture_output=True, text=True,
                                    cwd=ROOT, timeout=300)
    out = run("import-satisfaction", "--config", str(d / "settings.yaml"), str(bad))
    assert out.returncode == 1 and "nichts gespeichert" in out.stderr
    for expected in (f"{bad}:2: Spalte 'respondents'", f"{bad}:3: Spalte 'service'", f"{bad}:4: Spalte 'period'",
                     f"{bad}:5: Spalte 'mean_rating'"):
        assert expected in out.stderr, out.stderr
    out = run("import-satisfaction", "--config", str(d / "settings.yaml"), str(good))
    assert out.returncode == 0 and "2 Zufriedenheitswerte importiert" in out.stdout, out.stderr
    out = run("report", "--config", str(d / "settings.yaml"), "--year", "2026", "--services", "dienst-000,dienst-001",
              "--out", str(tmp_path / "b"), "--no-pdf")
    assert out.returncode == 0, out.stderr
    html = (tmp_path / "b" / "qualitaetsbericht-2026.html").read_text(encoding="utf-8")
    assert "Dienst 000" in html and "Dienst 002" not in html
    assert "412" in html and "4,30" in html and "Mittelwert 4,3 von 5" in html
    assert "rot</span><span class=\"why\"> Mittelwert 2,6 von 5" in html
    out = run("report", "--config", str(d / "settings.yaml"), "--services", "gibtsnicht", "--out", str(tmp_path / "c"))
    assert out.returncode == 2 and "Unbekannte Dienste: gibtsnicht" in out.stderr


def test_daemon_path_and_bulk_path_write_the_same_rollups(tmp_path):
    """Store.record (one result at a time) and ingest_series (a batch) fold identically."""
    import numpy as np

    from bench.synthetic_year import _availability_result
    from monitor.rollup import STATE_CODE

    base = datetime(2026, 3, 28, 22, tzinfo=TZ).timestamp()  # over the DST night
    times = base + np.arange(0, 6 * 3600, 60.0)
    states = np.where((np.arange(len(times)) % 37) == 0, STATE_CODE["down"], STATE_CODE["up"])
    latency = np.where(states == 0, 0.05 + (np.arange(len(times)) % 13) / 100, np.nan)
    maint = (np.arange(len(times)) % 50) < 3
    make = lambda i: _availability_result("s", "https://s.example/", float(times[i]),
                                          "down" if states[i] else "up", "http_status" if states[i] else "ok",
                                          0.0 if np.isnan(latency[i]) else float(latency[i]), bool(maint[i]))
    one = Store.open(f"sqlite:///{tmp_path / 'one.db'}", KINDS, tz=TZ)
    for i in range(len(times)):
        one.record(make(i))
    bulk = Store.open(f"sqlite:///{tmp_path / 'bulk.db'}", KINDS, tz=TZ)
    reasons = ["http_status" if s else "ok" for s in states.tolist()]
    bulk.ingest_series("s", "availability", "https://s.example/", times, states, reasons, latency, maint, make,
                       raw_since=0)
    rows = lambda st: sorted((r.day, r.bucket.to_row()["hist"], r.bucket.counts, r.bucket.hours,
                              r.bucket.maintenance, round(r.bucket.latency_sum, 9)) for r in st.day_rollups(0, 99999999))
    assert rows(one) == rows(bulk) and len(rows(one)) == 2  # two local days
    assert [(c.at, c.state) for c in one.timeline()] == [(c.at, c.state) for c in bulk.timeline()]
    assert one.count_results() == bulk.count_results() == len(times)
    hours = fold_results(KINDS, [make(i) for i in range(len(times))], TZ)[0]
    assert sum(b.total for b in hours.values()) == len(times) and len(hours) == 6
    day_hours = sum(r.bucket.hours for r in one.day_rollups(0, 99999999))
    assert day_hours == 6  # hours with results, not results


def test_the_availability_chart_axis_has_plain_german_numbers():
    """Values between 99.99 and 100 %: matplotlib would write an offset (+9.999e1) over ticks
    0.006 ... 0.010; a board member reads 99,995 %."""
    import re
    from types import SimpleNamespace

    from monitor.kinds.availability import KIND
    from monitor.report.period import Period

    def service(i: int) -> SimpleNamespace:
        months = [SimpleNamespace(availability=99.99 + 0.001 * ((m * 7 + i) % 10)) for m in range(12)]
        return SimpleNamespace(category="efa", kinds={"availability": SimpleNamespace(
            months=months, year=SimpleNamespace(availability=99.995))})

    services = [service(i) for i in range(3)]
    data = SimpleNamespace(services=services, has_data=True, period=Period.of_year(2026), groups=lambda: [("Anlage 1: EfA-Leistungen", services)])
    chart = next(c for c in KIND.charts(data) if c.id == "chart-monate")
    labels = [t.strip() for t in re.findall(r">([^<>]+)</text>", chart.svg) if t.strip()]
    ticks = [t for t in labels if t.endswith(" %")]
    assert len(ticks) >= 3, labels
    ticks = [t for t in ticks if t != "Verfügbarkeit in %"]  # the axis' title
    assert all(re.fullmatch(r"(99,99\d*|100,0*) %", t) for t in ticks), ticks
    assert not [t for t in labels if re.search(r"\de[+-]?\d|^[+−-]\d|×", t)], labels  # no offset, no exponent


def test_data_quality_counts_only_the_period(tmp_path):
    """A store with results after the period end (a report as of 1 July over a full year of
    data) counts the period only; more results than planned show above 100 % and are marked."""
    settings = write_config(tmp_path, 2)
    config = load_config(settings, KINDS)
    store = Store.open(config.store_url, config.kinds, tz=TZ)
    generate(store, config, 2026, datetime(2027, 1, 1, tzinfo=TZ) - timedelta(seconds=1))
    mid = datetime(2026, 7, 1, tzinfo=TZ)
    half = report.build(store, config, 2026, tmp_path / "halb", pdf=False, now=mid)
    full = report.build(store, config, 2026, tmp_path / "voll", pdf=False, now=NOW)

    def quality(files) -> dict[tuple[str, str, str], float]:
        return {(f["service_id"], f["period"], f["figure"]): f["value"] for f in json.loads(files.json.read_text())["figures"]
                if f["section"] == "datenqualitaet" and f["service_id"]}

    h, f = quality(half), quality(full)
    with_data = [sid for sid in config.services if h[(sid, "availability", "pruefungen_geplant")] is not None]
    assert with_data  # (the first service of the synthetic year starts in July)
    for sid in with_data:
        for kind in ("availability", "security"):
            ran, planned = h[(sid, kind, "pruefungen_gelaufen")], h[(sid, kind, "pruefungen_geplant")]
            assert ran <= planned * 1.001 + 2 and h[(sid, kind, "abdeckung_prozent")] <= 100.1, (sid, kind, ran, planned)
            assert ran < 0.6 * f[(sid, kind, "pruefungen_gelaufen")]  # half a year, not the whole store
    assert "mehr als geplant" not in half.html.read_text()
    # the catalog's interval doubled after the fact: twice the planned results, shown and marked
    text = (tmp_path / "catalog.yaml").read_text().replace("availability: {interval: 60s", "availability: {interval: 120s")
    (tmp_path / "catalog.yaml").write_text(text)
    doubled = report.build(store, load_config(settings, KINDS), 2026, tmp_path / "doppelt", pdf=False, now=mid)
    d = quality(doubled)
    sid = with_data[0]
    assert d[(sid, "availability", "abdeckung_prozent")] > 190
    html = doubled.html.read_text()
    assert "mehr als geplant*" in html and "* Mehr Ergebnisse als nach dem Prüfintervall geplant" in html


@pytest.mark.slow
def test_an_independent_pdf_ua_checker_finds_nothing_in_a_20_service_year(tmp_path):
    """pdfua (PyPI) checks the machine-checkable part of PDF/UA-1: every chart a /Figure with
    /Alt, every table header cell with /Scope, no table that is only a caption."""
    from pdfua import validate
    from pypdf import PdfReader

    settings = write_config(tmp_path, 20)
    config = load_config(settings, KINDS)
    store = Store.open(config.store_url, config.kinds, tz=TZ)
    generate(store, config, 2026, datetime(2027, 1, 1, tzinfo=TZ) - timedelta(seconds=1))
    files = report.build(store, config, 2026, tmp_path / "out", now=NOW)
    found = validate(str(files.pdf))
    assert not found.findings and found.exit_code == 0, [(f.rule_id, f.severity.name, f.message) for f in found.findings[:10]]
    reader = PdfReader(str(files.pdf))
    assert reader.metadata.title.startswith("Qualitätsbericht 2026") and reader.trailer["/Root"]["/Lang"] == "de"
    assert reader.trailer["/Root"]["/MarkInfo"]["/Marked"]
    # each header cell heads what it heads: its row beside data cells, its column in a header row
    scopes = []
    stack = [reader.trailer["/Root"]["/StructTreeRoot"].get_object()]
    while stack:
        node = stack.pop()
        kids = node.get("/K")
        kids = [k.get_object() for k in (kids if isinstance(kids, list) else [kids]) if hasattr(k, "get_object")]
        kids = [k for k in kids if hasattr(k, "get") and "/S" in k]
        if node.get("/S") == "/TR":
            has_data = any(k["/S"] == "/TD" for k in kids)
            scopes += [(has_data, k["/A"].get_object()["/Scope"]) for k in kids if k["/S"] == "/TH"]
        stack.extend(kids)
    assert {(True, "/Row"), (False, "/Column")} == set(scopes), set(scopes)


def test_the_pdf_lists_the_deviations_and_the_html_every_service(year, monkeypatch):
    """The board reads the PDF: its per-service tables list the services that deviate, with a
    note on where all of them are; the HTML (and the annex) keep every service and outage."""
    import re

    from monitor.report import figures, render

    store, config, _files, _d = year
    data = figures.collect(store, config, 2026, now=NOW)
    monkeypatch.setattr(render, "BOARD_OUTAGES", 2)
    full, board = render.render_html(data, []), render.render_html(data, [], board=True)

    def rows(html: str, caption: str) -> list[str]:
        tables = [t for t in html.split("<table")[1:] if caption in t.split("</caption>")[0]]
        return [name for t in tables for name in re.findall(r'<th scope="row">([^<]*)</th>', t.split("</table>")[0])]

    deviating = sorted(s.name for s in data.services if s.lights["availability"].color != "green")
    everyone = sorted(s.name for s in data.services)
    assert deviating != everyone and deviating  # the fixture has both kinds
    assert sorted(rows(full, "Verfügbarkeit je Monat")) == everyone
    assert sorted(rows(board, "Verfügbarkeit je Monat")) == deviating
    assert "stehen in der HTML-Fassung und im Anhang" in board and "stehen in der HTML-Fassung" not in full
    outages = sum(len(s.kinds["availability"].outages) for s in data.services)
    assert outages > 2 and len(rows(full, "Ausfälle im Berichtszeitraum")) == outages
    assert len(rows(board, "Ausfällen im Berichtszeitraum")) == 2
    assert f"Die 2 längsten von {outages} Ausfällen" in board
