"""Every figure of the annual report, computed from the store and the catalog.

The report (HTML, PDF) and its annex (CSV, JSON) are both rendered from one `ReportData`;
each figure is also an annex row, so the annex holds every number the report shows.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from monitor.config import Config, ResolvedService
from monitor.dependencies import Dependencies
from monitor.incidents import IncidentBook
from monitor.kinds.base import Kinds
from monitor.report.format import (  # noqa: F401 - the report's formats, also used from here by render
    LIGHT_TEXT,
    MONTHS_DE,
    Light,
    fmt_date,
    fmt_duration,
    fmt_ms,
    fmt_num,
    fmt_pct,
    fmt_seconds,
    fmt_time,
)
from monitor.report.model import GROUPS, Annex, ReportData, ServiceInputs, ServiceReport  # noqa: F401 - also the API here
from monitor.report.period import Period
from monitor.report.timeline import BaseSpan, Change, merge_spans, service_availability
from monitor.rollup import Bucket
from monitor.store import SatisfactionFigure, Store

SATISFACTION = ("satisfaction", "Zufriedenheit")  # imported survey figures: a criterion, not a check kind
SATISFACTION_RULE = "Zufriedenheit: grün ab 4,0, gelb ab 3,0."
SATISFACTION_SCALE = 5.0


def criteria(kinds: Kinds, shown: Collection[str] | None = None) -> list[tuple[str, str]]:
    """The summary's columns: every kind the catalog uses (`shown`; default: every registered
    one), in report order, then satisfaction."""
    return [(k.name, k.title) for k in kinds.in_report_order() if shown is None or k.name in shown] + [SATISFACTION]


def collect(store: Store, config: Config, period: int | Period, *, services: list[str] | None = None,
            now: datetime | None = None, progress: Callable[[str], None] = lambda _s: None) -> ReportData:
    """All figures for `period` (a year: the local calendar year of the settings' timezone)."""
    # Without the cycle collector: a year's timeline (half a million changes) stays alive while
    # 400,000 day rollups are read, and each full collection walked all of it again (6 of
    # 16 s for 300 services). The figures make no reference cycles; counting frees them.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _collect(store, config, period, services, now, progress)
    finally:
        if enabled:
            gc.enable()


def _collect(store: Store, config: Config, period: int | Period, services: list[str] | None, now: datetime | None,
             progress: Callable[[str], None]) -> ReportData:
    tz = config.settings.tz
    now = now or datetime.now(UTC)
    period = period if isinstance(period, Period) else Period.of_year(period)
    year = period.year
    start, end = period.bounds(tz)
    end = min(end, now.timestamp())
    chosen = [s for sid, s in config.services.items() if services is None or sid in services]
    wanted = {s.id for s in chosen}
    registry = cast(Kinds, config.kinds)  # the presentation registry the process built
    kinds = registry.ranked()
    configured = {k for svc in chosen for k in svc.checks}  # a kind no service uses is not reported

    progress("Zeitleisten")
    deps = Dependencies.of(config)
    status = registry.status_kind()
    bases = {b for s in chosen for b in deps.bases.get(s.id, ()) if b in config.services}  # read even when not chosen
    changes: dict[tuple[str, str], list[Change]] = defaultdict(list)
    for kind in kinds:
        if kind.uses_timeline:
            for service_id, url, at, state, reason in store.changes(kind.name, until=end):
                if service_id in wanted or (kind.name == status and service_id in bases):
                    changes[(service_id, kind.name)].append(Change(url, at, state, reason))
    gaps = [(g.start.timestamp(), g.end.timestamp()) for g in
            store.monitor_gaps(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))] if end > start else []
    impairments = {b: base_spans(config.services[b], changes.get((b, status or ""), []), gaps, period, start, end, tz)
                   for b in sorted(bases)}

    progress("Tageswerte")
    # the days of the period only: a store that holds newer results (a report for a period
    # that has ended, a `now` before the newest result) must not count them
    last = datetime.fromtimestamp(max(start, end - 1e-6), tz)
    first_day, last_day = period.day_range()
    last_day = min(last_day, last.year * 10000 + last.month * 100 + last.day)

    def day_values(service_id: str) -> tuple[dict[tuple[str, str], list[tuple[int, Bucket]]],
                                             dict[tuple[str, str], dict[str, list[tuple[int, Bucket]]]]]:
        """One service's day rollups, by kind and by kind and URL. Read service by service:
        a year of every service's rollups with their evidence digests held at once took a GB."""
        rolled: dict[tuple[str, str], list[tuple[int, Bucket]]] = defaultdict(list)
        by_url: dict[tuple[str, str], dict[str, list[tuple[int, Bucket]]]] = defaultdict(lambda: defaultdict(list))
        for r in store.day_rollups(first_day, last_day, service_id=service_id):
            rolled[(r.service_id, r.kind)].append((r.day, r.bucket))
            by_url[(r.service_id, r.kind)][r.url].append((r.day, r.bucket))
        return rolled, by_url

    figures = {(f.service_id, f.period): f for f in store.satisfaction_figures()}
    records = IncidentBook(store).all(since=start, until=end)

    progress("Kennzahlen")
    reports: list[ServiceReport] = []
    fig = Annex(period)

    for svc in chosen:
        rolled, by_url = day_values(svc.id)
        summaries = {}
        for kind in kinds:
            days = sorted(rolled.get((svc.id, kind.name), []), key=lambda x: x[0])
            summaries[kind.name] = kind.summarise(ServiceInputs(svc, days, changes.get((svc.id, kind.name), []), gaps,
                                                                period, start, end, tz,
                                                                dict(by_url.get((svc.id, kind.name), {})),
                                                                [r for r in records if svc.id in r.services],
                                                                {b: impairments[b] for b in deps.bases.get(svc.id, ())
                                                                 if b in impairments}, deps.tolerance,
                                                                {b: deps.names.get(b, b) for b in deps.bases.get(svc.id, ())}))
        report = ServiceReport(svc.id, svc.service.name, svc.service.category, svc.service.operator,
                               svc.service.availability_target, summaries,
                               [f for (sid, when), f in sorted(figures.items())
                                if sid == svc.id and when.startswith(str(year))],
                               _quality(registry, svc, summaries, rolled, gaps, start, end),
                               has_data=any(k.has_data(summaries.get(k.name)) for k in kinds))
        report.lights = {kind.name: kind.light(report) for kind in kinds if kind.name in configured}
        report.lights[SATISFACTION[0]] = _satisfaction_light(report.satisfaction)
        reports.append(report)
        _annex_service(registry, report, fig)

    shown = [k.name for k in registry if k.name in configured]
    policy = {"rules": [k.light_rule for k in kinds if k.light_rule and k.name in configured] + [SATISFACTION_RULE]}
    details = [d for kind in kinds if kind.name in configured
               for d in kind.details(store, [s.id for s in chosen], start, end)]
    data = ReportData(period, tz, now, start, end, reports, merge_spans(gaps), [], fig.rows, policy, details, shown,
                      registry, dependencies=any(deps.bases.get(s.id) for s in chosen))
    data.top_findings = top_findings(data)
    for s, e in data.monitor_gaps:
        fig("", "datenqualitaet", f"{datetime.fromtimestamp(s, tz).isoformat()}/{datetime.fromtimestamp(e, tz).isoformat()}",
            "monitor_ausfall_sekunden", e - s, "s")
    return data


def base_spans(base: ResolvedService, changes: list[Change], gaps: list[tuple[float, float]], period: Period,
               start: float, end: float, tz: ZoneInfo) -> list[BaseSpan]:
    """When a base service was impaired in the period: the seconds its own timeline counted
    down (its outages' spans), and its declared maintenance windows."""
    maint = [(s.timestamp(), e.timestamp()) for w in base.service.maintenance
             for s, e in w.intervals(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(max(end, start), UTC), tz)]
    timeline = service_availability(changes, gaps, maint, period.year, tz, until=end, since=start)
    down = [BaseSpan(base.id, s, e, False) for o in timeline.outages for s, e in o.spans]
    return sorted(down + [BaseSpan(base.id, max(s, start), min(e, end), True) for s, e in maint if min(e, end) > max(s, start)],
                  key=lambda b: b.start)


def _quality(kinds: Kinds, svc: ResolvedService, summaries: dict[str, Any], rolled: dict[tuple[str, str], list[tuple[int, Bucket]]],
             gaps: list[tuple[float, float]], start: float, end: float) -> dict[str, dict]:
    """Per configured kind: runs stored against runs planned since the kind's first result."""
    out: dict[str, dict] = {}
    for name, settings in svc.checks.items():
        kind = kinds[name]
        days = rolled.get((svc.id, kind.name), [])
        ran = sum(b.total for _d, b in days)
        since = kind.monitored_since(summaries.get(kind.name), days)
        if since is None:
            out[kind.name] = {"ran": ran, "expected": None, "coverage": None, "hours_missing": None}
            continue
        urls = len(kind.check.urls(svc.urls, settings))
        if not kind.uses_timeline:
            # a day rollup knows its last result only: count back from it to the day's first
            first_day = min(d for d, _b in days)
            firsts = [b for d, b in days if d == first_day]
            per_url = sum(b.total for b in firsts) / urls
            since = min(since, max(b.last_at for b in firsts) - max(0.0, per_url - 1) * settings.interval)
        span_start = max(start, since)
        running = max(0.0, end - span_start) - sum(max(0.0, min(e, end) - max(s, span_start)) for s, e in gaps)
        expected = (int(running // settings.interval) + 1) * urls  # one at the start, then one per interval
        hours_missing = None
        if kind.counts_hours and settings.interval <= 3600:
            hours_missing = max(0, int(running // 3600) * urls - sum(b.hours for _d, b in days))
        # more results than planned (manual `check --store`, an interval shortened during the
        # period) is shown as it is, above 100 %, and marked: never cut silently
        out[kind.name] = {"ran": ran, "expected": expected, "coverage": 100.0 * ran / expected,
                          "hours_missing": hours_missing}
    return out


def _satisfaction_light(figures: list[SatisfactionFigure]) -> Light:
    if not figures:
        return Light("grey", "keine Befragungsdaten importiert")
    n = sum(f.respondents for f in figures)
    mean = sum(f.mean_rating * f.respondents for f in figures) / n if n else figures[-1].mean_rating
    color = "green" if mean >= 4.0 else "yellow" if mean >= 3.0 else "red"
    return Light(color, f"Mittelwert {fmt_num(mean, 1)} von 5 ({n} Antworten)")


def top_findings(data: ReportData) -> list[str]:
    """The three most important findings: red criteria first, by how many services they hit."""
    found: list[tuple[int, int, str]] = []
    for kind in sorted(data.kinds_shown(), key=lambda k: k.finding_rank):
        found.extend((weight, kind.finding_rank, text) for weight, text in kind.findings(data))
    svcs = data.services
    unknown = sum(data.kinds[k].unknown_seconds(v) for s in svcs for k, v in s.kinds.items() if k in data.kinds)
    if data.monitor_downtime > 3600:
        found.append((1, 1000, (f"Die Überwachung selbst fiel insgesamt {fmt_duration(data.monitor_downtime)} aus; "
                                f"diese Zeit ist als unbekannt ausgewiesen.")))
    elif unknown > 0 and not found:
        found.append((0, 1000, f"Unbekannte Zeit über alle Dienste: {fmt_duration(unknown)}."))
    no_data = [s for s in svcs if not s.has_data]
    if no_data:
        found.append((len(no_data), 1001, f"Für {len(no_data)} Dienste liegen keine Prüfergebnisse vor."))
    no_survey = sum(1 for s in svcs if not s.satisfaction)
    if no_survey:
        found.append((0, 1002, f"Zufriedenheitswerte fehlen für {no_survey} Dienste; Sonden können sie nicht messen."))
    found.sort(key=lambda x: (-x[0], x[1]))
    return [text for _w, _r, text in found[:3]]


def _annex_service(kinds: Kinds, r: ServiceReport, fig: Annex) -> None:
    for kind in kinds.ranked():
        if r.kinds.get(kind.name) is not None:
            kind.annex(r, fig)
    for f in r.satisfaction:
        fig(r.id, "zufriedenheit", f.period, "befragte", f.respondents)
        fig(r.id, "zufriedenheit", f.period, "mittelwert", f.mean_rating, "1-5")
        if f.staff_rating is not None:
            fig(r.id, "zufriedenheit", f.period, "mittelwert_beschaeftigte", f.staff_rating, "1-5")
    for name, q in r.quality.items():
        fig(r.id, "datenqualitaet", name, "pruefungen_gelaufen", q["ran"])
        fig(r.id, "datenqualitaet", name, "pruefungen_geplant", q["expected"])
        fig(r.id, "datenqualitaet", name, "abdeckung_prozent", q["coverage"], "%")
    for crit, light in r.lights.items():
        fig.total(r.id, "zusammenfassung", f"ampel_{crit}", light.color)
