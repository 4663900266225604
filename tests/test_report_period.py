"""Reports for a quarter, a month or any span of days: the annual arithmetic (exact to the
second, local months, DST) restricted to the period, on constructed timelines, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from checks.result import State
from monitor import report
from monitor.config import load_config
from monitor.report.period import Period, PeriodError
from monitor.report.timeline import service_availability
from monitor.store import Store, heartbeats
from tests.helpers import KINDS, result
from tests.test_report_timeline import BERLIN, DAY, at, down, up

ROOT = Path(__file__).resolve().parent.parent
URL = "https://portal.example.invalid/"


def sweep(period: Period, changes, maintenance=()):
    start, end = period.bounds(BERLIN)
    return service_availability(changes, [], list(maintenance), period.year, BERLIN, until=end, since=start)


def test_periods_and_their_bounds():
    q1 = Period.of_quarter("2026Q1")
    assert (q1.first, q1.last, q1.label, q1.slug, q1.months) == (date(2026, 1, 1), date(2026, 3, 31), "1. Quartal 2026",
                                                                 "2026-Q1", [0, 1, 2])
    start, end = q1.bounds(BERLIN)
    assert (start, end) == (at(2026, 1, 1), at(2026, 4, 1)) and end - start == 90 * DAY - 3600  # 29.3.: one hour less
    march = Period.of_month("2026-03")
    assert (march.label, march.slug, march.months, march.day_range()) == ("März 2026", "2026-03", [2], (20260301, 20260331))
    assert Period.of_month("2026-02").last == date(2026, 2, 28) and Period.of_month("2028-02").last == date(2028, 2, 29)
    days = Period.of_days("2026-02-10", "2026-04-05")
    assert (days.label, days.slug, days.months) == ("10.02.2026 bis 05.04.2026", "2026-02-10_2026-04-05", [1, 2, 3])
    assert Period.of_days("2026-01-01", "2026-12-31") == Period.of_year(2026) and Period.of_year(2026).annual
    for bad, option in ((lambda: Period.of_quarter("2026Q5"), "--quarter"), (lambda: Period.of_month("2026-13"), "--month"),
                        (lambda: Period.of_days("2026-03-01", "2026-02-01"), "--to"),
                        (lambda: Period.of_days("2025-12-01", "2026-01-31"), "Kalenderjahr"),
                        (lambda: Period.of_days("2026-02-30", "2026-03-01"), "--from")):
        with pytest.raises(PeriodError, match=option):
            bad()


def test_a_quarter_across_the_spring_dst_change_counts_real_seconds_like_the_year():
    q1 = Period.of_quarter("2026Q1")
    start, end = q1.bounds(BERLIN)
    changes = [up(at(2025, 12, 1)), down(at(2026, 3, 29, 1, 30)), up(at(2026, 3, 29, 3, 30)), down(at(2026, 5, 2))]
    quarter = sweep(q1, changes)
    assert quarter.year.down == 3600 and quarter.year.up == end - start - 3600  # 01:30 CET to 03:30 CEST: one hour
    assert quarter.year.availability == pytest.approx(100 * (1 - 3600 / (90 * DAY - 3600)), abs=1e-12)
    assert [o.down_seconds for o in quarter.outages] == [3600]  # May's outage is not in the quarter
    assert all(m.monitored == 0 for m in quarter.months[3:])
    year = service_availability(changes, [], [], 2026, BERLIN)
    assert quarter.months[:3] == year.months[:3]  # the quarter's months are the year's months


def test_a_month_with_maintenance_windows_at_both_edges():
    march = Period.of_month("2026-03")
    maintenance = [(at(2026, 2, 28, 23), at(2026, 3, 1, 1)), (at(2026, 3, 31, 23), at(2026, 4, 1, 1))]
    changes = [up(at(2026, 2, 1)),
               down(at(2026, 2, 28, 23, 30)), up(at(2026, 3, 1, 0, 30)),   # inside the first window: no outage
               down(at(2026, 3, 31, 22, 30)), up(at(2026, 4, 1, 0, 30))]  # 30 min down, then the window
    result = sweep(march, changes, maintenance)
    assert result.year.maintenance == 2 * 3600  # one hour of each window lies in March
    assert result.year.down == 1800
    (outage,) = result.outages
    assert (outage.start, outage.end, outage.down_seconds, outage.ongoing) == (
        at(2026, 3, 31, 22, 30), at(2026, 4, 1), 1800, True)  # still down when the month ended
    assert result.year.up == 31 * DAY - 3600 - 2 * 3600 - 1800  # March has 31 days less the DST hour


def test_a_period_starting_in_the_middle_of_an_outage():
    march = Period.of_month("2026-03")
    changes = [up(at(2026, 2, 1)), down(at(2026, 2, 27, 12), "http_status"), up(at(2026, 3, 2, 10))]
    result = sweep(march, changes)
    (outage,) = result.outages
    assert outage.began_before and outage.start == at(2026, 3, 1) and outage.down_seconds == 34 * 3600
    assert outage.reason == "http_status" and result.year.down == 34 * 3600
    february = sweep(Period.of_month("2026-02"), changes)
    assert february.outages[0].ongoing and february.outages[0].down_seconds == (24 + 12) * 3600


@pytest.fixture
def estate(tmp_path):
    """One service, monitored all of 2026; down over the spring DST change and from
    27 February 12:00 to 2 March 10:00."""
    (tmp_path / "settings.yaml").write_text(f'catalog: [catalog.yaml]\nstore: {{url: "sqlite:///{tmp_path / "store.db"}"}}\n')
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent(f"""\
        services:
          - id: portal
            name: Serviceportal
            category: efa
            operator: Land
            contact: ops@example.invalid
            urls: ["{URL}"]
            checks: {{availability: {{interval: 60s}}}}
        """))
    config = load_config(tmp_path / "settings.yaml", KINDS)
    store = Store.open(config.store_url, config.kinds, tz=config.settings.tz)
    with store.engine.begin() as conn:
        conn.execute(heartbeats.insert().values(run_id="r", hostname="h", pid=1, version="t", started_at=at(2025, 12, 1),
                                                last_beat_at=at(2027, 1, 1), stopped_at=at(2027, 1, 1)))
    when = [(at(2025, 12, 1), State.UP), (at(2026, 2, 27, 12), State.DOWN), (at(2026, 3, 2, 10), State.UP),
            (at(2026, 3, 29, 1, 30), State.DOWN), (at(2026, 3, 29, 3, 30), State.UP), (at(2026, 12, 31, 23), State.UP)]
    store.record_batch([(result(state, at=datetime.fromtimestamp(t, UTC), service="portal", url=URL), None)
                        for t, state in when])
    return config, store, tmp_path


def figures(path: Path, section: str = "verfuegbarkeit") -> dict[tuple[str, str], object]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {(f["period"], f["figure"]): f["value"] for f in doc["figures"] if f["section"] == section}


def test_the_cli_writes_a_quarter_report_whose_months_are_the_annual_reports(estate):
    config, store, d = estate
    annual = report.build(store, config, 2026, d / "jahr", pdf=False, now=datetime(2027, 1, 5, tzinfo=UTC))
    done = subprocess.run([sys.executable, "-m", "monitor.cli", "report", "--config", str(d / "settings.yaml"),
                           "--quarter", "2026Q1", "--no-pdf", "--quiet", "--out", str(d / "q1")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Bericht 1. Quartal 2026 geschrieben" in done.stdout
    html = (d / "q1" / "qualitaetsbericht-2026-Q1.html").read_text(encoding="utf-8")
    assert "<h1>Qualitätsbericht 1. Quartal 2026</h1>" in html and ">Zeitraum</th>" in html
    assert ">Jan</th><th scope=\"col\">Feb</th><th scope=\"col\">Mär</th><th scope=\"col\">Zeitraum" in html
    assert ">Apr</th>" not in html
    quarter, year = figures(d / "q1" / "qualitaetsbericht-2026-Q1.json"), figures(annual.json)
    for month in ("01", "02", "03"):
        for name in ("up_sekunden", "down_sekunden", "verfuegbarkeit_prozent"):
            assert quarter[(month, name)] == year[(month, name)], (month, name)
    assert ("04", "up_sekunden") not in quarter and ("Jahr", "up_sekunden") not in quarter
    outage_down = (2 * 24 + 12) * 3600 + 10 * 3600  # 27.2. 12:00 to 2.3. 10:00 (before the DST change)
    assert quarter[("Zeitraum", "down_sekunden")] == outage_down + 3600
    assert quarter[("Zeitraum", "up_sekunden")] == 90 * DAY - 3600 - outage_down - 3600
    doc = json.loads((d / "q1" / "qualitaetsbericht-2026-Q1.json").read_text(encoding="utf-8"))
    assert doc["period"]["first_day"] == "2026-01-01" and doc["period"]["last_day"] == "2026-03-31"


def test_a_month_report_starting_mid_outage_and_bad_periods_refused(estate):
    config, store, d = estate
    files = report.build(store, config, Period.of_month("2026-03"), d / "m", pdf=False,
                         now=datetime(2027, 1, 5, tzinfo=UTC))
    assert files.html.name == "qualitaetsbericht-2026-03.html"
    html = files.html.read_text(encoding="utf-8")
    assert "(Beginn vor dem Zeitraum)" in html and "<h1>Qualitätsbericht März 2026</h1>" in html
    march = figures(files.json)
    assert march[("Zeitraum", "down_sekunden")] == 34 * 3600 + 3600 and march[("Zeitraum", "ausfaelle")] == 2
    for args, words in ((["--quarter", "2026Q5"], "--quarter"), (["--from", "2026-01-01"], "--from und --to"),
                        (["--year", "2026", "--month", "2026-03"], "zugleich"),
                        (["--from", "2025-12-01", "--to", "2026-01-31"], "Kalenderjahr")):
        done = subprocess.run([sys.executable, "-m", "monitor.cli", "report", "--config", str(d / "settings.yaml"),
                               "--no-pdf", "--quiet", "--out", str(d / "x"), *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and words in done.stderr, (args, done.stderr)
    assert not (d / "x").exists()  # nothing written
