"""Page experience in the lab: local pages with known behaviour (tests/experience_site.py) give
known figures (LCP element and time, CLS of a known shift, TBT of a busy script, INP of a slow
click handler in a journey), verdicts by the documented thresholds, the median of runs, no
throttling or removed scripts left behind in a pooled browser, metrics, CLI and report."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from checks import experience
from checks import journey as journey_check
from checks.accessibility import AccessibilitySettings, scan_page
from checks.browser import BrowserPool, BrowserSettings
from checks.context import CheckContext
from checks.experience import ExperienceSettings
from checks.experience.measure import cls_of, inp_of, median_of, tbt_of
from checks.journey import JourneySettings
from checks.result import Reason, State, Target
from monitor import report
from monitor.config import load_config
from monitor.metrics import ResultCollector
from monitor.store import Store
from tests.experience_site import BUSY_MS, CLICK_MS, IMAGE_DELAY, SHIFT_CLS, routes
from tests.helpers import KINDS
from tests.sites import site

TZ = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def estate():
    with site(routes()) as port:
        pool = BrowserPool(BrowserSettings(), 1)  # one browser: every test reuses the same session
        try:
            yield f"http://127.0.0.1:{port}", pool
        finally:
            pool.close()


def measure(estate, *paths: str, **settings):
    base, pool = estate
    urls = tuple(base + p for p in paths)
    s = ExperienceSettings.model_validate({"runs": 1, **settings})
    return experience.run(Target("dienst", urls[0], urls), s, CheckContext(browser=pool))


def page_of(result, i: int = 0) -> dict:
    return result.evidence["pages"][i]


def test_a_late_large_image_is_the_lcp_element_at_the_servers_delay(estate):
    result = measure(estate, "/spaetes-bild")
    page = page_of(result)
    assert page["lcp_element"]["element"] == "html > body > main > img"
    assert page["lcp_element"]["url"].endswith("/gross.png") and page["lcp_element"]["size"] == 400 * 300
    assert IMAGE_DELAY <= page["values"]["lcp"] <= IMAGE_DELAY + 1.5
    assert page["values"]["fcp"] < 1.0  # the text painted long before
    assert page["verdicts"]["lcp"] == "needs_improvement" and page["verdict"] == "needs_improvement"
    assert result.state == State.DEGRADED and result.reason == Reason.FINDINGS
    assert "LCP 3," in result.evidence["detail"]
    assert page["transfer_bytes"] > 300_000 and page["requests"] == 3  # the page, the image, the favicon


def test_a_layout_shift_of_known_size_gives_its_cls_and_names_the_element(estate):
    page = page_of(measure(estate, "/verschiebung"))
    assert page["values"]["cls"] == pytest.approx(SHIFT_CLS, abs=0.005)
    assert list(page["shifts"][0]["elements"]) == ["div#kasten"]
    assert page["verdicts"]["cls"] == "needs_improvement"


def test_a_busy_script_after_the_first_paint_is_total_blocking_time_by_its_script_url(estate):
    page = page_of(measure(estate, "/beschaeftigt"))
    assert page["values"]["tbt"] == pytest.approx((BUSY_MS - 50) / 1000, abs=0.08)
    task = page["long_tasks"][0]
    assert task["seconds"] == pytest.approx(BUSY_MS / 1000, abs=0.08) and task["after_fcp"]
    assert task["scripts"][0]["script"].split(" ")[0].endswith("/rechnen.js")
    assert page["verdicts"]["tbt"] == "needs_improvement"


def test_a_fast_page_is_good_and_the_check_up(estate):
    result = measure(estate, "/schnell", runs=3)
    page = page_of(result)
    assert result.state == State.UP and page["verdict"] == "good"
    assert len(page["runs"]) == 3 and page["runs_failed"] == 0
    assert result.measurements["pages_good"] == 1 and result.measurements["lcp_seconds"] < 1.0
    assert result.evidence["lab"]["preset"] == "desktop" and result.evidence["lab"]["width"] == 1350


def test_a_page_that_does_not_load_is_unknown_with_its_reason(estate):
    result = measure(estate, "/gibt-es-nicht")
    assert result.state == State.UNKNOWN and result.reason == Reason.HTTP_STATUS
    assert "HTTP-Status 404" in page_of(result)["error"]


def test_a_pooled_browser_is_left_unthrottled_and_other_checks_scripts_come_back(estate):
    base, pool = estate
    # axe first: its script is in every document of the session, then removed for the measurement
    assert scan_page(pool, base + "/schnell", AccessibilitySettings(timeout=30)).scanned
    mobile = page_of(measure(estate, "/schnell", lab="mobile"))
    assert "error" not in mobile and mobile["verdict"] == "good"
    with pool.session(deadline=30) as session:
        session.driver.get(base + "/schnell")
        width, rate = session.driver.execute_script(
            "var t = performance.now(), n = 0; while (performance.now() - t < 100) { n++; }"
            "return [window.innerWidth, n];")
        assert width > 1000  # not the mobile profile's 412 px
        assert "axe" not in session.driver.execute_script("return Object.keys(window).join(' ')").split()
    assert scan_page(pool, base + "/schnell", AccessibilitySettings(timeout=30)).scanned  # axe comes back
    assert rate > 0


def test_the_figures_follow_lighthouses_definitions():
    # CLS: the largest session window (gap < 1 s, window <= 5 s)
    shifts = [{"t": 0, "v": 0.05}, {"t": 500, "v": 0.05}, {"t": 2000, "v": 0.08}, {"t": 2100, "v": 0.01}]
    assert cls_of(shifts)[0] == pytest.approx(0.10)
    steady = [{"t": i * 900, "v": 0.01} for i in range(10)]  # one shift every 0.9 s: windows cut at 5 s
    assert cls_of(steady)[0] == pytest.approx(0.06)
    # TBT: only the part after FCP, only over 50 ms
    tasks = [{"t": 0, "d": 300}, {"t": 100, "d": 120}, {"t": 500, "d": 40}, {"t": 1000, "d": 250}]
    assert tbt_of(tasks, 200) == pytest.approx((300 - 200 - 50) + 0 + 0 + (250 - 50))
    # INP: the worst interaction; with 50 or more, one per 50 is ignored
    events = [{"id": i, "d": d} for i, d in enumerate([40, 250, 90])] + [{"id": 1, "d": 260}]
    assert inp_of(events)[0] == 260
    many = [{"id": i, "d": 10 + i} for i in range(120)]
    assert inp_of(many)[0] == 127  # the third worst of 120
    assert inp_of(events, seen={0, 1})[0] == 90
    runs = [{"values": {"lcp": v, "cls": 0.0, "tbt": 0.0}, "transfer_bytes": 1, "requests": 1} for v in (3.0, 1.0, 2.0)]
    assert median_of(runs)["values"]["lcp"] == 2.0


def test_a_journey_measures_each_step_and_the_inp_of_a_slow_click(estate, tmp_path):
    base, pool = estate
    (tmp_path / "daten.yaml").write_text("x: y\n", encoding="utf-8")
    s = JourneySettings.model_validate({
        "journeys": [{"name": "pruefen", "title": "Angaben prüfen", "steps": [
            {"name": "start", "open": "/klick"}, {"name": "pruefen", "click": "Prüfen"},
            {"name": "geprueft", "expect": {"text": "Angaben geprüft"}},
            {"name": "ende", "stop": "vor dem Absenden"}]}],
        "data_file": "daten.yaml", "step_timeout": "20s", "timeout": "120s"}).bind_paths(tmp_path)
    key = s.keys([base + "/"])[0]
    result = journey_check.run(Target("dienst", key), s, CheckContext(browser=pool))
    assert result.state == State.UP, result.evidence.get("detail")
    steps = {st["name"]: st for st in result.evidence["steps"]}
    opened = steps["start"]["experience"]
    assert opened["new_page"] and opened["values"]["lcp"] < 2.0 and opened["values"]["inp"] is None
    clicked = steps["pruefen"]["experience"]
    assert not clicked["new_page"] and set(clicked["values"]) == {"inp"}
    assert CLICK_MS / 1000 <= clicked["values"]["inp"] <= CLICK_MS / 1000 + 0.3
    assert clicked["verdicts"]["inp"] == "needs_improvement" and clicked["inp_interaction"]["element"] == "button#pruefen"
    assert result.measurements["experience_inp_seconds"] == clicked["values"]["inp"]
    assert result.evidence["experience"]["steps_of"]["inp"] == "pruefen"
    assert result.evidence["experience"]["verdict"] == "needs_improvement"
    off = journey_check.run(Target("dienst", key), s.model_copy(update={"experience": False}), CheckContext(browser=pool))
    assert off.state == State.UP and all("experience" not in st for st in off.evidence["steps"])


def test_metrics_cli_and_report_show_the_lab_values(estate, tmp_path):
    base, pool = estate
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent(f"""\
        services:
          - {{id: schnell, name: Schneller Dienst, category: kommune, operator: X, contact: x@example.invalid,
             urls: ["{base}/schnell"], checks: {{experience: {{runs: 1}}}}}}
          - {{id: langsam, name: Langsamer Dienst, category: kommune, operator: X, contact: x@example.invalid,
             urls: ["{base}/spaetes-bild", "{base}/verschiebung"], checks: {{experience: {{runs: 1}}}}}}
        """), encoding="utf-8")
    (tmp_path / "settings.yaml").write_text(f'catalog: [catalog.yaml]\nstore: {{url: "sqlite:///{tmp_path / "s.db"}"}}\n',
                                            encoding="utf-8")
    config = load_config(tmp_path / "settings.yaml", KINDS)
    store = Store.open(config.store_url, config.kinds, tz=TZ)
    at = datetime(2026, 6, 1, 10, tzinfo=TZ)
    store.record(measure(estate, "/schnell").replace(service_id="schnell", started_at=at))
    slow = measure(estate, "/spaetes-bild", "/verschiebung")
    store.record(slow.replace(service_id="langsam", started_at=at))
    files = report.build(store, config, 2026, tmp_path / "out", now=datetime(2027, 1, 5, tzinfo=TZ))
    store.close()
    shown = subprocess.run([sys.executable, "-m", "monitor.cli", "results", "langsam", "--config",
                            str(tmp_path / "settings.yaml"), "--kind", "experience"], check=False, capture_output=True,
                           text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert "Nutzerfreundlichkeit (Laborwerte, Profil desktop, 1350x940" in shown.stdout, shown.stdout + shown.stderr
    assert "verbesserungswürdig" in shown.stdout and "LCP-Element: html > body > main > img" in shown.stdout
    assert "Verschiebung 0.166" in shown.stdout and "div#kasten" in shown.stdout
    store = Store.open(config.store_url, config.kinds, tz=TZ)
    registry = CollectorRegistry()
    registry.register(ResultCollector(store, lambda: config))
    metrics = generate_latest(registry).decode()
    store.close()
    assert 'egov_experience_pages{category="kommune",service="langsam"' in metrics
    assert 'verdict="needs_improvement"} 2.0' in metrics
    assert "egov_experience_lcp_seconds{" in metrics and "egov_experience_cls{" in metrics
    assert "kasten" not in metrics  # element names stay in the evidence, never in a label
    promtool = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True)
    assert promtool.returncode == 0, promtool.stdout + promtool.stderr
    html_text = files.html.read_text(encoding="utf-8")
    assert "Nutzerfreundlichkeit (Laborwerte)" in html_text and "Es sind Laborwerte" in html_text
    assert f"{base}/spaetes-bild" in html_text and "LCP-Element: html &gt; body &gt; main &gt; img" in html_text
    assert '<span class="light light-yellow">gelb</span>' in html_text
    assert "verbesserungswürdig" in html_text and "gut" in html_text
    with site({"/": routes()["/schnell"].__class__(body=files.html.read_bytes())}) as port:
        scanned = scan_page(pool, f"http://127.0.0.1:{port}/", AccessibilitySettings(timeout=60))
    assert scanned.scanned and scanned.violations == (), [(v.rule, v.targets[:3]) for v in scanned.violations]
