"""Results per WCAG success criterion and EN 301 549 clause: the rule map against axe-core's own
rule list, and the report's table and monitoring annex from a real scan with known violations."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import textwrap
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from checks import accessibility as a11y
from checks.accessibility import AccessibilitySettings, wcag
from checks.accessibility.settings import WCAG21_AA
from checks.browser import BrowserPool, BrowserSettings
from checks.context import CheckContext
from checks.result import Target
from monitor import report
from monitor.config import load_config
from monitor.store import Store
from tests.a11y_site import KNOWN, good_routes
from tests.sites import site

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import axe_rules  # noqa: E402

from tests.helpers import KINDS

sys.path.remove(str(ROOT / "scripts"))
TZ = ZoneInfo("Europe/Berlin")


def test_every_rule_axe_runs_under_the_wcag_21_aa_tags_is_mapped_to_its_criteria():
    version, rules = axe_rules.axe_rules(list(WCAG21_AA))  # axe-core's own list, read with Node
    assert version == "4.10.2" and len(rules) > 60
    mapping = wcag.rule_map()
    for rule in rules:
        named = wcag.criteria_of_tags(rule["tags"])
        assert named, f"{rule['id']} names no success criterion"
        assert mapping[rule["id"]] == tuple(named), rule["id"]
        assert all(c in wcag.CRITERIA or c.startswith("2.1.3") for c in named), (rule["id"], named)  # 2.1.3 is AAA
    assert wcag.rule_map()["image-alt"] == ("1.1.1",) and "1.4.3" in wcag.rule_map()["color-contrast"]
    assert wcag.en_clause("1.4.3") == "9.1.4.3" and len(wcag.CRITERIA) == 50
    assert sum(1 for level, _ in wcag.CRITERIA.values() if level == "A") == 30


def test_the_shipped_rule_list_is_current():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "axe_rules.py"), "--check"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """One service whose only page has the known violations, scanned for real, stored, reported."""
    d = tmp_path_factory.mktemp("wcag")
    with site(good_routes()) as port:
        url = f"http://127.0.0.1:{port}/fehler"
        pool = BrowserPool(BrowserSettings(), 1)
        try:
            result = a11y.run(Target("amt", url, (url,)), AccessibilitySettings(markers=[]),
                              CheckContext(browser=pool, today=date(2026, 6, 1)))
        finally:
            pool.close()
    result = result.replace(started_at=datetime(2026, 6, 1, 10, tzinfo=TZ))
    (d / "catalog.yaml").write_text(textwrap.dedent(f"""\
        services:
          - {{id: amt, name: Bürgeramt, category: kommune, operator: Stadt, contact: x@example.invalid,
             urls: ["{url}"], checks: {{accessibility: {{markers: []}}}}}}
        """), encoding="utf-8")
    (d / "settings.yaml").write_text(f'catalog: [catalog.yaml]\nstore: {{url: "sqlite:///{d / "s.db"}"}}\n',
                                     encoding="utf-8")
    config = load_config(d / "settings.yaml", KINDS)
    store = Store.open(config.store_url, config.kinds, tz=TZ)
    store.record(result)
    files = report.build(store, config, 2026, d / "out", now=datetime(2027, 1, 5, tzinfo=TZ))
    store.close()
    return result, files, d


def test_known_violations_land_on_their_criteria_in_the_monitoring_annex(scanned):
    result, files, d = scanned
    assert {v["rule"] for v in result.evidence["pages"][0]["violations"]} == set(KNOWN)
    rows = list(csv.DictReader((d / "out" / "qualitaetsbericht-2026-wcag.csv").open(encoding="utf-8")))
    by = {r["criterion"]: r for r in rows}
    assert len(rows) == 50 and all(r["service_id"] == "amt" for r in rows)
    expected_failed = {"1.1.1": "image-alt", "1.4.3": "color-contrast", "2.4.4": "link-name", "3.1.1": "html-has-lang",
                       "4.1.2": "button-name"}
    for criterion, rule in expected_failed.items():
        assert by[criterion]["result"] == "failed" and rule in by[criterion]["rules"].split(), by[criterion]
        assert by[criterion]["en_301_549"] == "9." + criterion and by[criterion]["pages_failed"] == "1"
    assert by["2.4.2"]["result"] == "no_violation"  # the page has a title: the rule found nothing
    assert by["2.1.2"]["result"] == "not_automated" and by["2.1.2"]["result_de"] == "nicht automatisch prüfbar"
    assert by["1.2.4"]["result"] == "not_automated"
    assert by["1.1.1"]["pages_sampled"].endswith("/fehler")
    failed = {c for c, r in by.items() if r["result"] == "failed"}
    mapped = {c for rule in KNOWN for c in wcag.rule_map()[rule] if c in wcag.CRITERIA}
    assert failed == mapped
    doc = json.loads(files.json.read_text(encoding="utf-8"))
    assert len(doc["wcag"]) == 50


def test_the_report_shows_the_failing_criteria_and_names_what_automation_cannot_test(scanned):
    _result, files, _d = scanned
    html = files.html.read_text(encoding="utf-8")
    assert "Ergebnisse je Erfolgskriterium (WCAG 2.1, EN 301 549)" in html
    assert re.search(r"<th scope=\"row\">1\.1\.1 Nicht-Text-Inhalt</th><td>9\.1\.1\.1</td><td>A</td><td>1</td><td>1</td>", html)
    assert "<th scope=\"row\">1.4.3 Kontrast (Minimum)</th><td>9.1.4.3</td><td>AA</td>" in html
    manual = 50 - len(wcag.automated(WCAG21_AA))
    assert f"{manual} Kriterien kann keine Automatik prüfen" in html and "2.1.2 Keine Tastaturfalle" in html
