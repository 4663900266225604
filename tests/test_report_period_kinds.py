"""Every kind's report section and annex rows take the shape of the chosen period (issue 37):
a quarter's and a month's report of a store holding results of every kind show only the
period's months and quarters and call their totals "Zeitraum", never "Jahr"."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from checks.result import CheckResult, Reason, State
from monitor import report
from monitor.config import load_config
from monitor.report.period import Period
from monitor.store import Store, heartbeats
from tests.helpers import KINDS

TZ = ZoneInfo("Europe/Berlin")
URL = "https://portal.example/"
MONTH_NAMES = ("Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez")


def results_for(kind: str, url: str, at: datetime, ok: bool) -> CheckResult:
    """A plausible result of each kind (the fields its summary, digest and light read)."""
    state, reason = (State.UP, Reason.OK) if ok else (State.DOWN, Reason.HTTP_STATUS)
    m: dict[str, float] = {}
    ev: dict = {"detail": "ok" if ok else "HTTP 503"}
    if kind == "availability":
        m = {"duration_seconds": 0.2, "status_code": 200.0 if ok else 503.0}
    elif kind == "security":
        state, reason = State.UP, Reason.OK
        m = {"observatory_score": 90.0, "tls_compliant": 1.0, "security_txt_valid": 1.0}
        ev = {"observatory": {"grade": "A", "score": 90}, "findings": []}
    elif kind == "accessibility":
        state, reason = (State.UP, Reason.OK) if ok else (State.DEGRADED, Reason.FINDINGS)
        m = {"pages_scanned": 2.0, "violations_critical": 0.0 if ok else 1.0}
        ev = {"pages": [{"url": url, "title": "Start", "violations": [] if ok else [
            {"rule": "image-alt", "impact": "critical", "nodes": 2, "help": "Bilder brauchen Alternativtext"}]}],
              "markers": {"statement_linked": {"state": "pass"}}}
    elif kind == "gdpr":
        state, reason = State.UP, Reason.OK
        m = {"pages_scanned": 2.0, "trackers": 0.0}
        ev = {"markers": {"no_trackers": {"state": "pass"}}, "findings": [], "summary": {"hosts": []}}
    elif kind == "journey":
        m = {"success": 1.0 if ok else 0.0, "journey_seconds": 5.0, "steps": 2.0, "steps_passed": 2.0 if ok else 1.0}
        ev = {"journey": "antrag", "title": "Antrag stellen", "failed_step": None if ok else "weiter",
              "steps": [{"name": "start", "state": "pass", "seconds": 1.0},
                        {"name": "weiter", "state": "pass" if ok else "fail", "seconds": 4.0}]}
    elif kind == "ai_act":
        state, reason = State.UP, Reason.OK
        m = {"widgets": 0.0, "ai_apis": 0.0}
        ev = {"affected": False, "widgets": [], "apis": [], "markers": {}}
    elif kind == "experience":
        state, reason = (State.UP, Reason.OK) if ok else (State.DEGRADED, Reason.FINDINGS)
        lcp = 1.2 if ok else 4.6
        m = {"pages_measured": 1.0, "pages_failed": 0.0, "lcp_seconds": lcp, "cls": 0.02, "tbt_seconds": 0.05,
             "pages_good": 1.0 if ok else 0.0, "pages_poor": 0.0 if ok else 1.0}
        ev = {"lab": {"preset": "desktop"}, "pages": [
            {"url": url, "verdict": "good" if ok else "poor", "values": {"lcp": lcp, "cls": 0.02, "tbt": 0.05},
             "transfer_bytes": 50_000, "requests": 4, "lcp_element": {"element": "main > img"}}]}
    elif kind == "domain":
        state, reason = (State.UP, Reason.OK) if ok else (State.DEGRADED, Reason.NONCOMPLIANT)
        m = {"grade": 0.0 if ok else 3.0, "markers_failed": 0.0 if ok else 3.0, "marker_dmarc": 1.0 if ok else 0.0}
        ev = {"domain": "example.de", "grade": "A" if ok else "D", "markers": {
            "dnssec_signed": {"state": "pass"}, "dmarc": {"state": "pass" if ok else "fail"}}}
        url = "dns:example.de"
    return CheckResult("portal", url, kind, state, reason, at, 1.0, m, ev)


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    d = tmp_path_factory.mktemp("every-kind")
    (d / "catalog.yaml").write_text(textwrap.dedent(f"""\
        services:
          - id: portal
            name: Serviceportal
            category: efa
            operator: Land
            contact: ops@example.invalid
            urls: ["{URL}"]
            checks:
              availability: {{interval: 1d}}
              security: {{interval: 1d}}
              accessibility: {{interval: 1d}}
              gdpr: {{interval: 1d}}
              ai_act: {{interval: 1d}}
              experience: {{interval: 1d}}
              domain: {{interval: 1d}}
              journey:
                interval: 1d
                journeys:
                  - name: antrag
                    title: Antrag stellen
                    steps:
                      - {{name: start, open: /antrag}}
                      - {{name: weiter, click: Weiter}}
                      - {{name: ende, stop: true}}
        """), encoding="utf-8")
    (d / "settings.yaml").write_text(f'catalog: [catalog.yaml]\nstore: {{url: "sqlite:///{d / "store.db"}"}}\n',
                                     encoding="utf-8")
    config = load_config(d / "settings.yaml", KINDS)
    assert set(config.services["portal"].checks) == set(KINDS.names())  # every kind the process knows
    store = Store.open(config.store_url, config.kinds, tz=TZ)
    start = datetime(2026, 1, 1, 6, tzinfo=TZ)
    with store.engine.begin() as conn:
        conn.execute(heartbeats.insert().values(run_id="r", hostname="h", pid=1, version="t",
                                                started_at=(start - timedelta(days=1)).timestamp(),
                                                last_beat_at=datetime(2027, 1, 1, tzinfo=TZ).timestamp(),
                                                stopped_at=datetime(2027, 1, 1, tzinfo=TZ).timestamp()))
    journey_key = config.services["portal"].checks["journey"].keys([URL])[0]
    batch = []
    for day in range(365):  # one result of every kind a day; every 9th a failure
        at = start + timedelta(days=day)
        for kind in KINDS.names():
            batch.append((results_for(kind, journey_key if kind == "journey" else URL, at, day % 9 != 4), None))
    store.record_batch(batch)
    yield config, store, d
    store.close()


@pytest.mark.parametrize("period", [Period.of_quarter("2026Q2"), Period.of_month("2026-03")], ids=["quarter", "month"])
def test_each_kinds_section_and_annex_rows_have_the_periods_shape(estate, period):
    config, store, d = estate
    files = report.build(store, config, period, d / period.slug, pdf=False, now=datetime(2027, 1, 5, tzinfo=TZ))
    doc = json.loads(files.json.read_text(encoding="utf-8"))
    months = {f"{m + 1:02d}" for m in period.months}
    quarters = {f"Q{q + 1}" for q in range(4) if {3 * q, 3 * q + 1, 3 * q + 2} & set(period.months)}
    by_section: dict[str, set[str]] = {}
    for f in doc["figures"]:
        by_section.setdefault(f["section"], set()).add(f["period"])
    sections = {"verfuegbarkeit", "sicherheit", "barrierefreiheit", "datenschutz", "antragsstrecke_antrag",
                "ki_verordnung", "nutzerfreundlichkeit"}  # one annex section per kind
    assert sections <= set(by_section), sorted(by_section)
    for section in sections | {"zusammenfassung"}:
        wrong = by_section[section] - months - quarters - {"Zeitraum", "zuletzt"}
        assert wrong == set(), (section, wrong)
    assert months <= by_section["verfuegbarkeit"] and months <= by_section["antragsstrecke_antrag"]
    assert months <= by_section["nutzerfreundlichkeit"]  # the median LCP of each month
    assert "Zeitraum" in by_section["antragsstrecke_antrag"] and "Zeitraum" in by_section["verfuegbarkeit"]
    html = files.html.read_text(encoding="utf-8")
    headers = set(re.findall(r'<th scope="col">([^<]+)</th>', html))
    shown = {MONTH_NAMES[m] for m in period.months}
    assert shown <= headers and not (set(MONTH_NAMES) - shown) & headers  # no column of another month
    assert "Jahr" not in headers and "Zeitraum" in headers
    for kind in KINDS.in_report_order():  # every kind has its section
        assert f'id="{kind.section_id}"' in html
