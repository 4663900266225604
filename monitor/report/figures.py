"""Every figure of the annual report, computed from the store and the catalog.

The report (HTML, PDF) and its annex (CSV, JSON) are both rendered from one `ReportData`;
each figure is also an annex row, so the annex holds every number the report shows.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from checks import REGISTRY
from checks import security_headers as sh
from checks.accessibility import MARKER_NAMES_DE as BITV_NAMES
from checks.gdpr import MARKER_NAMES_DE as GDPR_NAMES
from checks.gdpr import SEVERITY as GDPR_SEVERITY
from checks.result import CheckKind
from monitor.config import Config, ResolvedService
from monitor.report.timeline import Change, ServiceAvailability, merge_spans, month_bounds, service_availability
from monitor.rollup import Bucket, percentile
from monitor.store import SatisfactionFigure, Store

GROUPS = (("basisdienst", "Anlage 2: IT-Basisdienste"), ("efa", "Anlage 1: EfA-Leistungen"),
          ("kommune", "Kommunale Dienste"))
CRITERIA = (("availability", "Verfügbarkeit"), ("accessibility", "Barrierefreiheit"), ("gdpr", "Datenschutz"),
            ("security", "IT-Sicherheit"), ("satisfaction", "Zufriedenheit"))
LIGHT_TEXT = {"green": "grün", "yellow": "gelb", "red": "rot", "grey": "keine Daten"}
MONTHS_DE = ("Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez")
AVAILABILITY_YELLOW_MARGIN = 0.5  # percentage points below target that are still yellow
SATISFACTION_SCALE = 5.0


@dataclasses.dataclass(frozen=True, slots=True)
class Light:
    color: str  # green, yellow, red, grey
    why: str

    @property
    def label(self) -> str:
        return LIGHT_TEXT[self.color]


@dataclasses.dataclass(slots=True)
class ServiceReport:
    id: str
    name: str
    category: str
    operator: str
    target: float
    availability: ServiceAvailability
    latency_months: list[tuple[float | None, float | None]]
    latency_year: tuple[float | None, float | None]
    accessibility: dict[str, Any] | None
    gdpr: dict[str, Any] | None
    security: dict[str, Any] | None
    satisfaction: list[SatisfactionFigure]
    quality: dict[str, dict[str, Any]]
    lights: dict[str, Light] = dataclasses.field(default_factory=dict)

    @property
    def has_data(self) -> bool:
        return self.availability.monitored_since is not None or any(
            x is not None for x in (self.accessibility, self.gdpr, self.security))


@dataclasses.dataclass(slots=True)
class ReportData:
    year: int
    tz: ZoneInfo
    generated_at: datetime
    period_start: float
    period_end: float
    services: list[ServiceReport]
    monitor_gaps: list[tuple[float, float]]
    top_findings: list[str]
    annex: list[dict[str, Any]]
    policy: dict[str, Any]
    # every violating element of each service's newest accessibility scan in the period (annex only)
    barriers: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return any(s.has_data for s in self.services)

    def groups(self) -> list[tuple[str, list[ServiceReport]]]:
        out = []
        for key, label in GROUPS:
            members = [s for s in self.services if s.category == key]
            if members:
                out.append((label, members))
        return out

    @property
    def monitor_downtime(self) -> float:
        return sum(e - s for s, e in self.monitor_gaps)


def _day(ts: float, tz: ZoneInfo) -> int:
    d = datetime.fromtimestamp(ts, tz)
    return d.year * 10000 + d.month * 100 + d.day


def _quarter(day: int) -> int:
    return (day // 100 % 100 - 1) // 3


def _merge(buckets: Iterable[Bucket]) -> Bucket:
    out = Bucket()
    for b in buckets:
        out.merge(b)
    return out


def _last_per_quarter(days: list[tuple[int, Bucket]]) -> list[Bucket | None]:
    out: list[Bucket | None] = [None, None, None, None]
    for day, bucket in days:  # sorted by day
        out[_quarter(day)] = bucket
    return out


def collect(store: Store, config: Config, year: int, *, services: list[str] | None = None,
            now: datetime | None = None, progress: Callable[[str], None] = lambda _s: None) -> ReportData:
    """All figures for `year` (local calendar year of the settings' timezone)."""
    tz = config.settings.tz
    now = now or datetime.now(UTC)
    bounds = month_bounds(year, tz)
    start, end = bounds[0], min(bounds[12], now.timestamp())
    chosen = [s for sid, s in config.services.items() if services is None or sid in services]
    wanted = {s.id for s in chosen}

    progress("Zeitleisten")
    changes: dict[str, list[Change]] = defaultdict(list)
    for c in store.timeline(kind=CheckKind.AVAILABILITY.value):
        if c.service_id in wanted and c.at.timestamp() < end:
            changes[c.service_id].append(Change(c.url, c.at.timestamp(), c.state, c.reason))
    gaps = [(g.start.timestamp(), g.end.timestamp()) for g in
            store.monitor_gaps(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))] if end > start else []

    progress("Tageswerte")
    rolled: dict[tuple[str, str], list[tuple[int, Bucket]]] = defaultdict(list)
    first_day, last_day = year * 10000 + 101, year * 10000 + 1231
    for r in store.day_rollups(first_day, last_day):
        if r.service_id in wanted:
            rolled[(r.service_id, r.kind)].append((r.day, r.bucket))
    figures = {(f.service_id, f.period): f for f in store.satisfaction_figures()}

    progress("Kennzahlen")
    reports: list[ServiceReport] = []
    annex: list[dict[str, Any]] = []

    def fig(service: str, section: str, period: str, name: str, value: Any, unit: str = "") -> None:
        if isinstance(value, float) and math.isfinite(value):
            value = round(value, 6)
        annex.append({"service_id": service, "section": section, "period": period, "figure": name,
                      "value": value, "unit": unit})

    for svc in chosen:
        maint = [(s.timestamp(), e.timestamp()) for w in svc.service.maintenance
                 for s, e in w.intervals(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(max(end, start), UTC), tz)]
        avail = service_availability(changes.get(svc.id, []), gaps, maint, year, tz, until=end)
        a_days = sorted(rolled.get((svc.id, "availability"), []), key=lambda x: x[0])
        by_month: list[list[Bucket]] = [[] for _ in range(12)]
        for day, bucket in a_days:
            by_month[day // 100 % 100 - 1].append(bucket)
        month_buckets = [_merge(b) for b in by_month]
        year_bucket = _merge(month_buckets)
        lat_months = [(percentile(b.hist, 0.5), percentile(b.hist, 0.95)) for b in month_buckets]
        lat_year = (percentile(year_bucket.hist, 0.5), percentile(year_bucket.hist, 0.95))

        report = ServiceReport(svc.id, svc.service.name, svc.service.category, svc.service.operator,
                               svc.service.availability_target, avail, lat_months, lat_year,
                               _accessibility(rolled.get((svc.id, "accessibility"))),
                               _gdpr(rolled.get((svc.id, "gdpr"))),
                               _security(rolled.get((svc.id, "security")), svc),
                               [f for (sid, period), f in sorted(figures.items())
                                if sid == svc.id and period.startswith(str(year))],
                               _quality(svc, rolled, avail, gaps, start, end))
        report.lights = _lights(report)
        reports.append(report)
        _annex_service(report, fig)

    data = ReportData(year, tz, now, start, end, reports, merge_spans(gaps), [], annex,
                      {"yellow_margin": AVAILABILITY_YELLOW_MARGIN},
                      barrier_rows(store, [s.id for s in chosen], start, end))
    data.top_findings = top_findings(data)
    for s, e in data.monitor_gaps:
        fig("", "datenqualitaet", f"{datetime.fromtimestamp(s, tz).isoformat()}/{datetime.fromtimestamp(e, tz).isoformat()}",
            "monitor_ausfall_sekunden", e - s, "s")
    return data


def barrier_rows(store: Store, service_ids: list[str], start: float, end: float) -> list[dict[str, Any]]:
    """One row per violating element of each service's newest stored accessibility result in the
    period: what an operator fixes and an auditor verifies. Elements the result itself could not
    keep (its size limit) appear as one row with their count."""
    rows: list[dict[str, Any]] = []
    since, until = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(max(end, start), UTC)
    for sid in service_ids:
        newest = store.newest_result(sid, CheckKind.ACCESSIBILITY.value, since, until)
        if newest is None:
            continue
        scanned_at = newest.started_at.isoformat()
        for page in newest.evidence.get("pages", ()):
            for v in page.get("violations", ()):
                base = {"service_id": sid, "scanned_at": scanned_at, "page": page.get("url", ""), "rule": v.get("rule"),
                        "impact": v.get("impact"), "help_url": v.get("help_url", "")}
                rows.extend({**base, "element": t} for t in v.get("targets") or ())
                if v.get("targets_cut"):
                    rows.append({**base, "element": f"(weitere {v['targets_cut']} Elemente über der Speichergrenze)"})
    return rows


def _scanned_days(days: list[tuple[int, Bucket]] | None) -> list[tuple[int, Bucket]]:
    """Day rollups, by day, whose last scan reached at least one page."""
    return [(d, b) for d, b in sorted(days or [], key=lambda x: x[0])
            if b.last_measurements and b.last_measurements.get("pages_scanned")]


def _accessibility(days: list[tuple[int, Bucket]] | None) -> dict[str, Any] | None:
    days = _scanned_days(days)
    if not days:
        return None
    last = days[-1][1]
    m, dg = last.last_measurements or {}, last.last_digest or {}
    quarters = [None if b is None else {
        "serious": int(b.last_measurements.get("rules_critical", 0) + b.last_measurements.get("rules_serious", 0)),
        "rules": int(b.last_measurements.get("rules_violated", 0))} for b in _last_per_quarter(days)]
    markers = {k: v for k, v in (dg.get("markers") or {}).items() if k in BITV_NAMES}
    return {"at": last.last_at, "scans": len(days), "pages": int(m.get("pages_scanned", 0)),
            "nodes": {i: int(m.get(f"violations_{i}", 0)) for i in ("critical", "serious", "moderate", "minor")},
            "rules": {i: int(m.get(f"rules_{i}", 0)) for i in ("critical", "serious", "moderate", "minor")},
            "rules_total": int(m.get("rules_violated", 0)), "score": m.get("score"), "quarters": quarters,
            "markers": markers, "rule_list": dg.get("rules") or {}, "worst_pages": dg.get("pages") or []}


def _gdpr(days: list[tuple[int, Bucket]] | None) -> dict[str, Any] | None:
    days = _scanned_days(days)
    if not days:
        return None
    last = days[-1][1]
    m, dg = last.last_measurements or {}, last.last_digest or {}
    markers = {k: v for k, v in (dg.get("markers") or {}).items() if k in GDPR_NAMES}
    failed = [k for k, v in markers.items() if v == "fail"]
    return {"at": last.last_at, "scans": len(days),
            "counts": {k: int(m.get(k, 0)) for k in ("trackers", "third_party_hosts", "third_party_cookies",
                                                    "nonessential_cookies", "storage_keys")},
            "markers": markers, "failed": failed, "findings": dg.get("findings") or [],
            "trackers": dg.get("trackers") or [],
            "days_with_trackers": sum(1 for _d, b in days if (b.last_measurements or {}).get("trackers", 0) > 0)}


def _security(days: list[tuple[int, Bucket]] | None, svc: ResolvedService) -> dict[str, Any] | None:
    days = sorted(days or [], key=lambda x: x[0])
    days = [(d, b) for d, b in days if (b.last_digest or {}).get("grade")]
    if not days:
        return None
    last = days[-1][1].last_digest or {}
    settings = svc.checks.get(CheckKind.SECURITY)
    min_grade = getattr(settings, "min_grade", "B")
    return {"at": days[-1][1].last_at, "grade": last.get("grade"), "score": last.get("score"),
            "min_grade": min_grade, "tls": last.get("tls"), "security_txt": last.get("security_txt"),
            "quarters": [None if b is None else (b.last_digest or {}).get("grade") for b in _last_per_quarter(days)],
            "findings": last.get("findings") or []}


def _quality(svc: ResolvedService, rolled: dict[tuple[str, str], list[tuple[int, Bucket]]],
             avail: ServiceAvailability, gaps: list[tuple[float, float]], start: float, end: float) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for kind, settings in svc.checks.items():
        days = rolled.get((svc.id, kind.value), [])
        ran = sum(b.total for _d, b in days)
        since = avail.monitored_since if kind is CheckKind.AVAILABILITY else (
            min(b.last_at for _d, b in days) if days else None)
        if since is None:
            out[kind.value] = {"ran": ran, "expected": None, "coverage": None, "hours_missing": None}
            continue
        span_start = max(start, since)
        running = max(0.0, end - span_start) - sum(max(0.0, min(e, end) - max(s, span_start)) for s, e in gaps)
        urls = len(svc.urls) if REGISTRY[kind].scope == "url" else 1
        expected = max(1, int(running // settings.interval)) * urls
        hours_missing = None
        if kind is CheckKind.AVAILABILITY and settings.interval <= 3600:
            hours_missing = max(0, int(running // 3600) * urls - sum(b.hours for _d, b in days))
        out[kind.value] = {"ran": ran, "expected": expected, "coverage": min(100.0, 100.0 * ran / expected),
                           "hours_missing": hours_missing}
    return out


def _lights(r: ServiceReport) -> dict[str, Light]:
    lights: dict[str, Light] = {}
    a = r.availability.year.availability
    if a is None:
        lights["availability"] = Light("grey", "keine Verfügbarkeitsdaten")
    elif a >= r.target:
        lights["availability"] = Light("green", f"{fmt_pct(a)} (Ziel {fmt_pct(r.target, 1)})")
    elif a >= r.target - AVAILABILITY_YELLOW_MARGIN:
        lights["availability"] = Light("yellow", f"{fmt_pct(a)} knapp unter dem Ziel {fmt_pct(r.target, 1)}")
    else:
        lights["availability"] = Light("red", f"{fmt_pct(a)} unter dem Ziel {fmt_pct(r.target, 1)}")
    acc = r.accessibility
    if acc is None:
        lights["accessibility"] = Light("grey", "keine Prüfung")
    else:
        serious = acc["rules"]["critical"] + acc["rules"]["serious"]
        failed = [k for k, v in acc["markers"].items() if v == "fail"]
        if serious:
            lights["accessibility"] = Light("red", f"{serious} kritische oder schwere Barrieren (Regeln)")
        elif acc["rules_total"] or failed:
            parts = ([f"{acc['rules_total']} leichtere Barrieren (Regeln)"] if acc["rules_total"] else []) + (
                [f"BITV-Merkmale nicht erfüllt: {len(failed)}"] if failed else [])
            lights["accessibility"] = Light("yellow", ", ".join(parts))
        else:
            lights["accessibility"] = Light("green", "keine Verstöße gefunden")
    g = r.gdpr
    if g is None:
        lights["gdpr"] = Light("grey", "keine Prüfung")
    else:
        high = [k for k in g["failed"] if GDPR_SEVERITY.get(k) == "high"]
        if high:
            lights["gdpr"] = Light("red", "; ".join(GDPR_NAMES[k] + ": nein" for k in high[:2]))
        elif g["failed"]:
            lights["gdpr"] = Light("yellow", f"{len(g['failed'])} Merkmale nicht erfüllt")
        else:
            lights["gdpr"] = Light("green", "alle geprüften Merkmale erfüllt")
    s = r.security
    if s is None:
        lights["security"] = Light("grey", "keine Prüfung")
    else:
        rank = sh.GRADES.index(s["grade"]) if s["grade"] in sh.GRADES else len(sh.GRADES)
        need = sh.GRADES.index(s["min_grade"]) if s["min_grade"] in sh.GRADES else 4
        if rank > need or s["tls"] is False:
            lights["security"] = Light("red", f"Note {s['grade']} (mindestens {s['min_grade']})"
                                       + ("; TLS nicht konform" if s["tls"] is False else ""))
        elif s["security_txt"] is False:
            lights["security"] = Light("yellow", f"Note {s['grade']}; security.txt fehlt oder ungültig")
        else:
            lights["security"] = Light("green", f"Note {s['grade']}")
    if not r.satisfaction:
        lights["satisfaction"] = Light("grey", "keine Befragungsdaten importiert")
    else:
        n = sum(f.respondents for f in r.satisfaction)
        mean = sum(f.mean_rating * f.respondents for f in r.satisfaction) / n if n else r.satisfaction[-1].mean_rating
        color = "green" if mean >= 4.0 else "yellow" if mean >= 3.0 else "red"
        lights["satisfaction"] = Light(color, f"Mittelwert {fmt_num(mean, 1)} von 5 ({n} Antworten)")
    return lights


def top_findings(data: ReportData) -> list[str]:
    """The three most important findings: red criteria first, by how many services they hit."""
    found: list[tuple[int, str]] = []
    svcs = data.services
    below = [s for s in svcs if s.lights["availability"].color == "red"]
    if below:
        worst = min(below, key=lambda s: (s.availability.year.availability or 0) - s.target)
        found.append((len(below) * 3, (f"{len(below)} Dienste verfehlen ihr Verfügbarkeitsziel deutlich; am weitesten "
                                      f"{worst.name} mit {fmt_pct(worst.availability.year.availability)} "
                                      f"(Ziel {fmt_pct(worst.target, 1)}).")))
    trackers = [s for s in svcs if s.gdpr and s.gdpr["counts"]["trackers"] > 0]
    if trackers:
        found.append((len(trackers) * 3, (f"{len(trackers)} Dienste binden vor der Einwilligung Tracker ein "
                                         f"(zuletzt geprüft), z. B. {trackers[0].name}.")))
    a11y = [s for s in svcs if s.lights["accessibility"].color == "red"]
    if a11y:
        found.append((len(a11y) * 2, f"{len(a11y)} Dienste haben kritische oder schwere Barrieren nach WCAG 2.1 AA."))
    sec = [s for s in svcs if s.lights["security"].color == "red"]
    if sec:
        found.append((len(sec) * 2, (f"{len(sec)} Dienste erreichen die geforderte Sicherheitsnote nicht oder "
                                    f"ihr TLS ist nicht konform.")))
    unknown = sum(s.availability.year.unknown for s in svcs)
    if data.monitor_downtime > 3600:
        found.append((1, (f"Die Überwachung selbst fiel insgesamt {fmt_duration(data.monitor_downtime)} aus; "
                         f"diese Zeit ist als unbekannt ausgewiesen.")))
    elif unknown > 0 and not found:
        found.append((0, f"Unbekannte Zeit über alle Dienste: {fmt_duration(unknown)}."))
    no_data = [s for s in svcs if not s.has_data]
    if no_data:
        found.append((len(no_data), f"Für {len(no_data)} Dienste liegen keine Prüfergebnisse vor."))
    no_survey = sum(1 for s in svcs if not s.satisfaction)
    if no_survey:
        found.append((0, f"Zufriedenheitswerte fehlen für {no_survey} Dienste; Sonden können sie nicht messen."))
    found.sort(key=lambda x: -x[0])
    return [text for _w, text in found[:3]]


def _annex_service(r: ServiceReport, fig: Callable[..., None]) -> None:
    y = r.availability.year
    fig(r.id, "verfuegbarkeit", "Jahr", "verfuegbarkeit_prozent", y.availability, "%")
    fig(r.id, "verfuegbarkeit", "Jahr", "ziel_prozent", r.target, "%")
    for name in ("up", "down", "unknown", "maintenance"):
        fig(r.id, "verfuegbarkeit", "Jahr", f"{name}_sekunden", getattr(y, name), "s")
    fig(r.id, "verfuegbarkeit", "Jahr", "ausfaelle", len(r.availability.outages))
    fig(r.id, "verfuegbarkeit", "Jahr", "mttr_sekunden", r.availability.mttr, "s")
    fig(r.id, "verfuegbarkeit", "Jahr", "mtbf_sekunden", r.availability.mtbf, "s")
    fig(r.id, "verfuegbarkeit", "Jahr", "antwortzeit_p50_sekunden", r.latency_year[0], "s")
    fig(r.id, "verfuegbarkeit", "Jahr", "antwortzeit_p95_sekunden", r.latency_year[1], "s")
    for i, m in enumerate(r.availability.months):
        period = f"{i + 1:02d}"
        fig(r.id, "verfuegbarkeit", period, "verfuegbarkeit_prozent", m.availability, "%")
        for name in ("up", "down", "unknown", "maintenance"):
            fig(r.id, "verfuegbarkeit", period, f"{name}_sekunden", getattr(m, name), "s")
        fig(r.id, "verfuegbarkeit", period, "antwortzeit_p50_sekunden", r.latency_months[i][0], "s")
        fig(r.id, "verfuegbarkeit", period, "antwortzeit_p95_sekunden", r.latency_months[i][1], "s")
    for o in r.availability.outages:
        fig(r.id, "ausfall", f"{o.start:.0f}/{o.end:.0f}", "ausfall_sekunden", o.down_seconds, "s")
    if r.accessibility:
        for impact, n in r.accessibility["rules"].items():
            fig(r.id, "barrierefreiheit", "zuletzt", f"regeln_{impact}", n)
            fig(r.id, "barrierefreiheit", "zuletzt", f"knoten_{impact}", r.accessibility["nodes"][impact])
        for q, v in enumerate(r.accessibility["quarters"]):
            if v is not None:
                fig(r.id, "barrierefreiheit", f"Q{q + 1}", "regeln_kritisch_schwer", v["serious"])
        for k, v in r.accessibility["markers"].items():
            fig(r.id, "barrierefreiheit", "zuletzt", f"bitv_{k}", v)
    if r.gdpr:
        for k, v in r.gdpr["counts"].items():
            fig(r.id, "datenschutz", "zuletzt", k, v)
        for k, v in r.gdpr["markers"].items():
            fig(r.id, "datenschutz", "zuletzt", f"merkmal_{k}", v)
    if r.security:
        fig(r.id, "sicherheit", "zuletzt", "note", r.security["grade"])
        fig(r.id, "sicherheit", "zuletzt", "punkte", r.security["score"])
        fig(r.id, "sicherheit", "zuletzt", "tls_konform", r.security["tls"])
        fig(r.id, "sicherheit", "zuletzt", "security_txt_gueltig", r.security["security_txt"])
        for q, g in enumerate(r.security["quarters"]):
            if g is not None:
                fig(r.id, "sicherheit", f"Q{q + 1}", "note", g)
    for f in r.satisfaction:
        fig(r.id, "zufriedenheit", f.period, "befragte", f.respondents)
        fig(r.id, "zufriedenheit", f.period, "mittelwert", f.mean_rating, "1-5")
        if f.staff_rating is not None:
            fig(r.id, "zufriedenheit", f.period, "mittelwert_beschaeftigte", f.staff_rating, "1-5")
    for kind, q in r.quality.items():
        fig(r.id, "datenqualitaet", kind, "pruefungen_gelaufen", q["ran"])
        fig(r.id, "datenqualitaet", kind, "pruefungen_geplant", q["expected"])
        fig(r.id, "datenqualitaet", kind, "abdeckung_prozent", q["coverage"], "%")
    for crit, light in r.lights.items():
        fig(r.id, "zusammenfassung", "Jahr", f"ampel_{crit}", light.color)


# --------------------------------------------------------------------------- German number formats


def fmt_num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\u202f").replace(".", ",")  # narrow no-break space groups thousands


def fmt_pct(value: float | None, digits: int = 3) -> str:
    """Percent with enough digits that 99.95 % and 100 % never look the same (truncated, not rounded up)."""
    if value is None:
        return "keine Daten"
    factor = 10 ** digits
    shown = math.floor(value * factor) / factor
    return f"{shown:.{digits}f}".replace(".", ",") + " %"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = round(seconds)
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return f"{d} d {h} h {m} min"
    if h:
        return f"{h} h {m} min {s} s"
    if m:
        return f"{m} min {s} s"
    return f"{s} s"


def fmt_ms(seconds: float | None) -> str:
    return "–" if seconds is None else fmt_num(seconds * 1000, 0) + " ms"


def fmt_time(ts: float | None, tz: ZoneInfo) -> str:
    return "–" if ts is None else datetime.fromtimestamp(ts, tz).strftime("%d.%m.%Y %H:%M:%S")


def fmt_date(ts: float | None, tz: ZoneInfo) -> str:
    return "–" if ts is None else datetime.fromtimestamp(ts, tz).strftime("%d.%m.%Y")
