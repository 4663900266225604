"""Availability arithmetic of the annual report on constructed timelines, exact to the second."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from monitor.config import MaintenanceWindow
from monitor.report.timeline import Change, month_bounds, service_availability

BERLIN = ZoneInfo("Europe/Berlin")
URL = "https://dienst.example/"
DAY = 86400


def at(*args: int) -> float:
    """Local Berlin wall-clock time as an epoch."""
    return datetime(*args, tzinfo=BERLIN).timestamp()


def up(t: float, url: str = URL) -> Change:
    return Change(url, t, "up", "ok")


def down(t: float, reason: str = "connect_refused", url: str = URL) -> Change:
    return Change(url, t, "down", reason)


YEAR_START, YEAR_END = at(2026, 1, 1), at(2027, 1, 1)


def test_months_are_local_calendar_months_with_the_daylight_saving_hours():
    bounds = month_bounds(2026, BERLIN)
    lengths = [b - a for a, b in itertools.pairwise(bounds)]
    assert lengths[2] == 31 * DAY - 3600   # March: 29.3. 02:00 -> 03:00
    assert lengths[9] == 31 * DAY + 3600   # October: 25.10. 03:00 -> 02:00
    assert lengths[1] == 28 * DAY and sum(lengths) == 365 * DAY
    result = service_availability([up(YEAR_START)], [], [], 2026, BERLIN)
    assert [m.up for m in result.months] == lengths
    assert result.year.availability == 100.0 and result.outages == () and result.mttr is None


def test_an_outage_across_midnight_and_the_month_end_is_split_by_month_and_listed_once():
    changes = [up(YEAR_START), down(at(2026, 1, 31, 23, 50), "http_status"), up(at(2026, 2, 1, 0, 20))]
    result = service_availability(changes, [], [], 2026, BERLIN)
    assert result.months[0].down == 600 and result.months[1].down == 1200
    assert result.year.down == 1800 and result.year.up == 365 * DAY - 1800
    (outage,) = result.outages
    assert (outage.start, outage.end, outage.down_seconds, outage.reason) == (
        at(2026, 1, 31, 23, 50), at(2026, 2, 1, 0, 20), 1800, "http_status")
    assert result.year.availability == pytest.approx(100 * (365 * DAY - 1800) / (365 * DAY), abs=1e-12)
    assert result.mttr == 1800 and result.mtbf == 365 * DAY - 1800


def test_an_outage_over_the_spring_daylight_saving_change_lasts_one_real_hour():
    # 01:30 CET to 03:30 CEST is one hour of real time, not two
    changes = [up(YEAR_START), down(at(2026, 3, 29, 1, 30)), up(at(2026, 3, 29, 3, 30))]
    result = service_availability(changes, [], [], 2026, BERLIN)
    assert result.months[2].down == 3600 and result.outages[0].down_seconds == 3600


def test_an_outage_in_the_repeated_autumn_hour_counts_real_seconds():
    start = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN)             # first 02:30 (CEST)
    end = datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=BERLIN)       # second 02:15 (CET)
    result = service_availability([up(YEAR_START), down(start.timestamp()), up(end.timestamp())], [], [], 2026, BERLIN)
    assert result.year.down == 45 * 60


def test_overlapping_maintenance_counts_once_and_is_never_down():
    day = (2026, 5, 12)
    windows = [(at(*day, 10), at(*day, 11)), (at(*day, 10, 30), at(*day, 12))]
    changes = [up(YEAR_START), down(at(*day, 10, 45)), up(at(*day, 12, 30))]
    result = service_availability(changes, [], windows, 2026, BERLIN)
    assert result.year.maintenance == 7200          # 10:00-12:00, the overlap once
    assert result.year.down == 1800                 # 12:00-12:30 only
    assert result.months[4].maintenance == 7200 and result.months[4].down == 1800
    (outage,) = result.outages
    assert outage.start == at(*day, 10, 45) and outage.down_seconds == 1800
    assert result.year.up + result.year.down + result.year.maintenance == 365 * DAY


def test_an_outage_entirely_inside_maintenance_is_no_outage():
    windows = [(at(2026, 6, 7, 2), at(2026, 6, 7, 4))]
    changes = [up(YEAR_START), down(at(2026, 6, 7, 2, 10)), up(at(2026, 6, 7, 3, 50))]
    result = service_availability(changes, [], windows, 2026, BERLIN)
    assert result.outages == () and result.year.down == 0 and result.year.availability == 100.0


def test_weekly_maintenance_is_a_wall_clock_window_and_counts_its_real_seconds():
    window = MaintenanceWindow(reason="Wartung", every="week", days=["sun"], at="02:00", duration=7200)
    spring = window.intervals(datetime(2026, 3, 29, tzinfo=BERLIN), datetime(2026, 3, 30, tzinfo=BERLIN), BERLIN)
    autumn = window.intervals(datetime(2026, 10, 25, tzinfo=BERLIN), datetime(2026, 10, 26, tzinfo=BERLIN), BERLIN)
    # 02:00-04:00 local: one real hour in spring, three in autumn
    assert [e.timestamp() - s.timestamp() for s, e in spring + autumn] == [3600, 10800]
    spans = [(s.timestamp(), e.timestamp()) for s, e in
             window.intervals(datetime(2026, 1, 1, tzinfo=BERLIN), datetime(2027, 1, 1, tzinfo=BERLIN), BERLIN)]
    result = service_availability([up(YEAR_START)], [], spans, 2026, BERLIN)
    assert len(spans) == 52 and result.year.maintenance == 50 * 7200 + 3600 + 10800  # 52 Sundays in 2026


def test_monitor_downtime_is_unknown_and_leaves_availability_alone():
    gap = (at(2026, 8, 3, 9), at(2026, 8, 3, 11))
    changes = [up(YEAR_START), down(at(2026, 8, 3, 10)), up(at(2026, 8, 3, 10, 30))]  # seen down inside the gap
    result = service_availability(changes, [gap], [], 2026, BERLIN)
    assert result.year.unknown == 7200 and result.year.down == 0 and result.outages == ()
    assert result.months[7].unknown == 7200 and result.year.availability == 100.0
    # the gap ends while the service is still down: the rest counts
    changes = [up(YEAR_START), down(at(2026, 8, 3, 10)), up(at(2026, 8, 3, 11, 15))]
    result = service_availability(changes, [gap], [], 2026, BERLIN)
    assert result.year.unknown == 7200 and result.year.down == 900
    assert result.outages[0].start == at(2026, 8, 3, 10) and result.outages[0].down_seconds == 900


def test_a_monitor_network_failure_stored_as_unknown_is_unknown_time():
    changes = [up(YEAR_START), Change(URL, at(2026, 9, 1, 8), "unknown", "monitor_network"), up(at(2026, 9, 1, 8, 5))]
    result = service_availability(changes, [], [], 2026, BERLIN)
    assert result.year.unknown == 300 and result.year.down == 0


def test_a_service_added_mid_year_counts_only_from_its_first_result():
    first = at(2026, 7, 1, 12)
    result = service_availability([up(first), down(at(2026, 7, 2)), up(at(2026, 7, 2, 1))], [], [], 2026, BERLIN)
    assert all(m.monitored == 0 and m.availability is None for m in result.months[:6])
    assert result.months[6].monitored == 31 * DAY - 12 * 3600
    assert result.year.monitored == YEAR_END - first and result.year.down == 3600
    assert result.monitored_since == first


def test_a_service_without_results_has_no_figures_instead_of_100_percent():
    result = service_availability([], [], [], 2026, BERLIN)
    assert result.year.availability is None and result.monitored_since is None
    assert all(m.availability is None for m in result.months)


def test_the_report_period_ends_now_when_the_year_is_not_over():
    now = at(2026, 11, 21, 12)
    result = service_availability([up(YEAR_START)], [], [], 2026, BERLIN, until=now)
    assert result.year.up == now - YEAR_START and result.months[11].monitored == 0


def test_an_outage_carried_in_from_the_previous_year_and_one_still_ongoing():
    changes = [down(at(2025, 12, 31, 23)), up(at(2026, 1, 1, 2)), down(at(2026, 12, 31, 22))]
    result = service_availability(changes, [], [], 2026, BERLIN)
    first, last = result.outages
    assert first.began_before and first.start == YEAR_START and first.down_seconds == 7200
    assert last.ongoing and last.end == YEAR_END and last.down_seconds == 7200
    assert result.year.down == 14400


def test_a_service_is_down_while_any_of_its_urls_is_down():
    other = "https://dienst.example/antrag"
    changes = [up(YEAR_START), up(YEAR_START, other), down(at(2026, 4, 1, 12), url=other),
               down(at(2026, 4, 1, 12, 10)), up(at(2026, 4, 1, 12, 20), url=other), up(at(2026, 4, 1, 12, 40))]
    result = service_availability(changes, [], [], 2026, BERLIN)
    assert result.year.down == 40 * 60 and len(result.outages) == 1
