"""Benchmark: a five-step Antragsstrecke with axe-core on every page, run by egov-monitor's
journey check and by a plain Selenium script that performs the same steps and the same axe
calls, side by side in one run.

Both start a fresh headless Chromium through the Debian chromedriver for every run (the
journey check always uses a fresh browser: an empty profile is part of its method), walk
the local application of the tests (tests/journey_app.py): open the start page, click
"Antrag starten", fill "Vorname", click "Weiter", expect the address step; and run axe-core
4.10.2 with the WCAG 2.1 AA tags on each page a step opened or clicked to (three pages).
The plain script is what a careful engineer writes: explicit waits, no guard, no evidence.
The rounds alternate; printed are the medians, the ratio (goal: at most 1.2), the time
of each of our steps, and what the lab measurement of each step (`experience`, on by default)
costs: our journey again with `experience: false` in each round (goal: at most 5 %).

    python -m bench.journey [--rounds 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from bench.peers import browser_tmp
from checks import journey as journey_check
from checks.accessibility.axe import axe_source
from checks.accessibility.settings import WCAG21_AA
from checks.browser import CHROMIUM_FLAGS, BrowserPool, BrowserSettings
from checks.context import CheckContext
from checks.journey import JourneySettings
from checks.result import Target
from tests import journey_app

STEPS = [
    {"name": "start", "open": "/v/gut/"},
    {"name": "starten", "click": "Antrag starten"},
    {"name": "vorname", "fill": "Vorname", "value": "vorname"},
    {"name": "weiter", "click": "Weiter"},
    {"name": "anschrift", "expect": {"text": "Schritt 2: Anschrift"}},
    {"name": "ende", "stop": True},
]
AXE_RUN = """
const done = arguments[arguments.length - 1];
window.axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})
  .then(r => done(r.violations.length), e => done(-1));
"""


def ours(pool: BrowserPool, settings: JourneySettings, base: str) -> tuple[float, dict[str, float]]:
    key = settings.keys([base])[0]
    t0 = time.perf_counter()
    result = journey_check.run(Target("bench", key), settings, CheckContext(browser=pool))
    seconds = time.perf_counter() - t0
    assert result.measurements["success"] == 1.0, result.evidence.get("detail")
    return seconds, {s["name"]: s["seconds"] for s in result.evidence["steps"]}


def plain(base: str) -> float:
    """The same journey as a plain Selenium script would do it."""
    t0 = time.perf_counter()
    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    if BrowserSettings().sandboxed()[0] is False:  # as our sessions do (root, no user namespaces)
        options.add_argument("--no-sandbox")
    options.binary_location = "/usr/bin/chromium"
    with browser_tmp() as env:
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver", env=env), options=options)
        return _steps(driver, base, t0)  # timed to its quit, as before; the directory goes after


def _steps(driver: webdriver.Chrome, base: str, t0: float) -> float:
    try:
        driver.set_script_timeout(30)
        wait = WebDriverWait(driver, 10)

        def axe() -> None:
            driver.execute_script(axe_source())
            assert driver.execute_async_script(AXE_RUN, list(WCAG21_AA)) >= 0

        driver.get(base + "v/gut/")
        axe()
        wait.until(expected_conditions.element_to_be_clickable((By.LINK_TEXT, "Antrag starten"))).click()
        wait.until(expected_conditions.title_is("Persönliche Angaben"))
        axe()
        field = wait.until(expected_conditions.element_to_be_clickable((By.ID, "vn")))
        field.clear()
        field.send_keys("Erika")
        driver.find_element(By.XPATH, "//button[normalize-space()='Weiter']").click()
        wait.until(expected_conditions.title_is("Anschrift"))
        axe()
        wait.until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Schritt 2: Anschrift"))
    finally:
        driver.quit()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with journey_app.serve() as app, tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "daten.yaml").write_text("vorname: Erika\n", encoding="utf-8")
        settings = JourneySettings.model_validate({
            "journeys": [{"name": "bench", "steps": STEPS}], "data_file": "daten.yaml", "accessibility": True,
            "screenshots": False}).bind_paths(Path(tmp))
        base = app.url + "/"
        pool = BrowserPool(BrowserSettings(), 1)
        try:
            ours(pool, settings, base), plain(base)  # warm the disk cache for both
            unmeasured = settings.model_copy(update={"experience": False})
            mine, theirs, steps, without = [], [], [], []
            for _ in range(args.rounds):
                seconds, per_step = ours(pool, settings, base)
                mine.append(seconds)
                steps.append(per_step)
                theirs.append(plain(base))
                without.append(ours(pool, unmeasured, base)[0])
        finally:
            pool.close()
    a, b = statistics.median(mine), statistics.median(theirs)
    print(f"""
Antragsstrecke, 5 Schritte, axe-core auf 3 Seiten, frischer Chromium je Lauf, {args.rounds} Runden abwechselnd
  egov-monitor journey      Median {a:6.2f} s   (min {min(mine):.2f}, max {max(mine):.2f})
  Selenium-Skript (gleich)  Median {b:6.2f} s   (min {min(theirs):.2f}, max {max(theirs):.2f})
  Verhältnis egov-monitor / Skript: {a / b:.2f}x (Ziel: höchstens 1,2x)
  ohne Laborwerte (experience: false) Median {statistics.median(without):6.2f} s: die Messung kostet
    {100 * (a / statistics.median(without) - 1):+.1f} % (Ziel: höchstens 5 %)
  Zeit je Schritt (Median, ohne axe):""")
    for name in steps[0]:
        print(f"    {name:<10} {statistics.median(s[name] for s in steps):6.3f} s")


if __name__ == "__main__":
    main()
