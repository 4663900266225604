"""The report's Antragsstrecken section from stored journey results: success per month, median
and p95, where journeys broke most, barriers per step; absent when no service has a journey."""

from __future__ import annotations

import csv
import json
import re
import textwrap
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from checks.journey import JourneySettings
from checks.result import CheckResult, Reason, State
from monitor import report
from monitor.config import load_config
from monitor.store import Store
from tests.helpers import KINDS

TZ = ZoneInfo("Europe/Berlin")
STEPS = ["start", "starten", "weiter-person", "weiter-adresse", "ende"]


def result(key: str, at: datetime, failed: str | None, seconds: float, barriers: int = 0) -> CheckResult:
    steps = []
    state = "pass"
    for name in STEPS:
        if failed is not None and state == "fail":
            steps.append({"name": name, "action": "click", "state": "skipped", "seconds": 0.0})
            continue
        row = {"name": name, "action": "stop" if name == "ende" else "click", "state": "pass",
               "seconds": seconds / 4, "description": name}
        if name == failed:
            row.update(state="fail", reason="element_not_found", found="<b>Fortfahren</b>")
            state = "fail"
        if name == "weiter-person" and barriers:
            row["accessibility"] = {"barriers": {"critical": barriers, "serious": 1, "moderate": 0, "minor": 0},
                                    "violations": [], "violations_total": 2}
        steps.append(row)
    ok = failed is None
    return CheckResult("wohngeld", key, "journey", State.UP if ok else State.DOWN,
                       Reason.OK if ok else Reason.ELEMENT_NOT_FOUND, at, seconds + 1,
                       {"success": 1.0 if ok else 0.0, "journey_seconds": seconds, "steps": 5.0,
                        "steps_passed": 5.0 if ok else 2.0, "blocked_requests": 0.0},
                       {"journey": "wohngeld", "title": "Wohngeld <beantragen>", "steps": steps,
                        "failed_step": failed})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("journey-report")
    (d / "testdaten.yaml").write_text("vorname: Erika\n", encoding="utf-8")
    (d / "catalog.yaml").write_text(textwrap.dedent("""\
        services:
          - id: wohngeld
            name: Wohngeld digital
            category: efa
            operator: Land Saarland
            contact: ops@example.invalid
            urls: ["https://wohngeld.example/"]
            checks:
              availability: {interval: 60s}
              journey:
                data_file: testdaten.yaml
                journeys:
                  - name: wohngeld
                    title: Wohngeld beantragen
                    steps:
                      - {name: start, open: /antrag}
                      - {name: starten, click: Antrag starten}
                      - {name: weiter-person, click: Weiter}
                      - {name: weiter-adresse, click: Weiter}
                      - {name: ende, stop: true}
          - id: ohne
            name: Ohne Strecke
            category: kommune
            operator: X
            contact: x@example.invalid
            urls: ["https://ohne.example/"]
            checks:
              availability: {interval: 60s}
        """), encoding="utf-8")
    (d / "settings.yaml").write_text(f'catalog: [catalog.yaml]\nstore: {{url: "sqlite:///{d / "store.db"}"}}\n'
                                     "timezone: Europe/Berlin\n", encoding="utf-8")
    config = load_config(d / "settings.yaml", KINDS)
    key = config.services["wohngeld"].checks["journey"].keys(config.services["wohngeld"].urls)[0]
    store = Store.open(config.store_url, config.kinds, tz=TZ)
    seconds: list[float] = []
    at = datetime(2026, 1, 10, 9, tzinfo=TZ)
    for i in range(30):  # January: 27 passed, 3 failed at weiter-adresse
        failed = "weiter-adresse" if i % 10 == 3 else None
        store.record(result(key, at + timedelta(hours=i), failed, 4.0 + i % 5))
        if failed is None:
            seconds.append(4.0 + i % 5)
    at = datetime(2026, 3, 2, 9, tzinfo=TZ)
    for i in range(10):  # March: 5 passed, 4 at weiter-adresse, 1 at start; the newest passes, with barriers
        failed = None if i % 2 == 1 else ("start" if i == 0 else "weiter-adresse")
        store.record(result(key, at + timedelta(hours=i), failed, 6.0, barriers=3))
        if failed is None:
            seconds.append(6.0)
    files = report.build(store, config, 2026, d / "out", now=datetime(2027, 1, 5, tzinfo=TZ))
    yield files, seconds, key
    store.close()


def test_the_section_shows_success_per_month_durations_breaks_and_barriers(built):
    files, seconds, _key = built
    html = files.html.read_text(encoding="utf-8")
    assert re.search(r'<h2 id="h-antragsstrecken">\d\. Antragsstrecken</h2>', html)
    assert "Wohngeld &lt;beantragen&gt;" in html and "<beantragen>" not in html  # from the stored digest, escaped
    assert "<td>40</td><td>80,0 %</td>" in html  # 32 of 40 runs reached the stop point
    assert "weiter-adresse (7), start (1)" in html
    assert "<td>90,0 %</td><td>–</td><td>50,0 %</td>" in html  # Jan, Feb (no run), Mar
    assert re.search(r"<td>\d,\d s</td><td>\d,\d s</td><td>weiter-adresse", html)  # median, p95 in seconds
    assert "Barrieren je Schritt" in html and "<td>weiter-person</td><td>3</td><td>1</td>" in html


def test_the_annex_holds_each_journeys_figures(built):
    files, seconds, _key = built
    rows = [r for r in csv.DictReader(files.csv.open(encoding="utf-8")) if r["section"] == "antragsstrecke_wohngeld"]
    fig = {(r["period"], r["figure"]): r["value"] for r in rows}
    assert fig[("Jahr", "laeufe")] == "40" and float(fig[("Jahr", "erfolgsquote")]) == pytest.approx(80.0)
    assert fig[("Jahr", "abbrueche_weiter-adresse")] == "7" and fig[("Jahr", "abbrueche_start")] == "1"
    assert float(fig[("01", "erfolgsquote")]) == pytest.approx(90.0)
    # median and p95 of the passed runs, from the rollup histogram (5 % buckets: within 2.5 %)
    ordered = sorted(seconds)
    assert float(fig[("Jahr", "dauer_median")]) == pytest.approx(ordered[(len(ordered) + 1) // 2 - 1], rel=0.03)
    assert float(fig[("Jahr", "dauer_p95")]) == pytest.approx(ordered[int(0.95 * len(ordered) + 0.999) - 1], rel=0.03)
    doc = json.loads(files.json.read_text(encoding="utf-8"))
    assert any(f["section"] == "antragsstrecke_wohngeld" for f in doc["figures"])


def test_the_pdf_renders_and_the_summary_has_the_journey_light(built):
    files, _seconds, _key = built
    assert files.pdf is not None and files.pdf.stat().st_size > 10_000
    html = files.html.read_text(encoding="utf-8")
    assert "<th scope=\"col\">Antragsstrecken</th>" in html
    assert "Antragsstrecken: rot, wenn eine Strecke" in html  # its light rule in the method section


def test_the_report_with_its_journey_section_passes_our_own_accessibility_check(built):
    from checks.accessibility import AccessibilitySettings, scan_page
    from checks.browser import BrowserPool, BrowserSettings
    from tests.sites import Page, site

    files, _seconds, _key = built
    pool = BrowserPool(BrowserSettings(), 1)
    try:
        with site({"/": Page(body=files.html.read_bytes())}) as port:
            page = scan_page(pool, f"http://127.0.0.1:{port}/", AccessibilitySettings(timeout=60))
    finally:
        pool.close()
    assert page.scanned and page.violations == (), [(v.rule, v.targets[:3]) for v in page.violations]


def test_a_journeys_series_is_keyed_by_the_service_and_older_start_page_keys_merge_into_it():
    """A journey's result URL is the service's URL and the journey's name; a store written when
    the key was the journey's start page has that series for the older days: the report shows
    one journey with the runs of both (issue 35)."""
    from monitor.config import ResolvedService, Service
    from monitor.kinds import builtin
    from monitor.report.model import ServiceInputs
    from monitor.report.period import Period
    from monitor.rollup import fold_results

    kinds = builtin()
    settings = JourneySettings.model_validate({"journeys": [{"name": "wohngeld", "steps": [
        {"name": "start", "open": "/antrag"}, {"name": "ende", "stop": True}]}]})
    assert settings.keys(["https://wohngeld.example/"]) == ["https://wohngeld.example/#wohngeld"]
    old_key, new_key = "https://wohngeld.example/antrag#wohngeld", "https://wohngeld.example/#wohngeld"
    older = [result(old_key, datetime(2026, 1, 10, 9, tzinfo=TZ) + timedelta(hours=i), None, 4.0) for i in range(6)]
    newer = [result(new_key, datetime(2026, 3, 10, 9, tzinfo=TZ) + timedelta(hours=i), "start" if i == 0 else None, 5.0)
             for i in range(4)]
    by_url = {key: sorted(fold_results(kinds, rs, TZ)[1].items()) for key, rs in ((old_key, older), (new_key, newer))}
    service = ResolvedService(Service.model_validate({
        "id": "wohngeld", "name": "Wohngeld", "category": "efa", "operator": "Land", "contact": "x@example.invalid",
        "urls": ["https://wohngeld.example/"], "checks": {"journey": {}}}), {"journey": settings}, "test")
    period = Period.of_year(2026)
    start, end = period.bounds(TZ)
    summary = kinds["journey"].summarise(ServiceInputs(service, [d for days in by_url.values() for d in days], [], [],
                                                       period, start, end, TZ, by_url))
    (figures,) = summary.journeys
    assert (figures.name, figures.url, figures.runs, figures.successes) == ("wohngeld", new_key, 10, 9)
    assert figures.monthly[0] == 100.0 and figures.monthly[2] == 75.0
