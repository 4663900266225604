"""Availability: blackbox_exporter's probe metrics, the latency histogram, and the report's
availability arithmetic (monthly and yearly availability, outages, MTTR, MTBF, percentiles)."""

from __future__ import annotations

import dataclasses
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks import availability
from checks.httpprobe import PHASES
from checks.result import CheckResult, State
from checks.security.tls import VERSION_NAMES
from monitor.incidents import CAUSES, NO_CAUSE, Incident, IncidentBook, cause_of
from monitor.kinds.base import Families, Family, Kind
from monitor.report.charts import COLORS, Chart, figure, german_axis, svg
from monitor.report.format import MONTHS_DE, Light, fmt_num, fmt_pct
from monitor.report.model import Annex, Detail, ReportData, ServiceInputs, ServiceReport
from monitor.report.timeline import (
    Attribution,
    AvailabilityWindow,
    ServiceAvailability,
    attribute_outage,
    month_bounds,
    seconds_in,
    service_availability,
)
from monitor.rollup import Bucket, percentile

if TYPE_CHECKING:
    from monitor.store import Store

YELLOW_MARGIN = 0.5  # percentage points below target that are still yellow
Latency = tuple[float | None, float | None]  # median, 95th percentile


@dataclasses.dataclass(frozen=True, slots=True)
class AvailabilitySummary:
    """A service's availability in the report period and its response times (median, p95)."""

    timeline: ServiceAvailability
    latency_months: list[Latency]
    latency_year: Latency
    causes: tuple[Incident | None, ...] = ()  # per outage: the operators' record that overlaps it most
    attributions: tuple[Attribution, ...] = ()  # per outage: what of it a base service caused (depends_on)
    base_months: tuple[float, ...] = (0.0,) * 12  # down seconds caused by base services, per month
    depends_on: tuple[str, ...] = ()
    base_names: dict[str, str] = dataclasses.field(default_factory=dict)
    tolerance: float = 0.0
    locations: LocationShares | None = None  # probed from several locations in the period

    @property
    def base_seconds(self) -> float:
        return sum(self.base_months)

    @property
    def own_year(self) -> float | None:
        """Availability without the down time base services caused (neither up nor down then)."""
        return own_availability(self.timeline.year, self.base_seconds)

    @property
    def own_months(self) -> list[float | None]:
        return [own_availability(m, b) for m, b in zip(self.timeline.months, self.base_months, strict=True)]

    @property
    def months(self) -> Any:
        return self.timeline.months

    @property
    def year(self) -> Any:
        return self.timeline.year

    @property
    def outages(self) -> Any:
        return self.timeline.outages

    @property
    def monitored_since(self) -> float | None:
        return self.timeline.monitored_since

    @property
    def mttr(self) -> float | None:
        return self.timeline.mttr

    @property
    def mtbf(self) -> float | None:
        return self.timeline.mtbf


@dataclasses.dataclass(frozen=True, slots=True)
class LocationShares:
    """Availability by location as shares of the runs in the period (percent; None: no run that
    could tell): by the quorum's verdict, at least one location, every location, and each one."""

    quorum: float | None
    any: float | None
    all: float | None
    each: dict[str, float | None]
    runs: int  # runs with locations


def _share(tally: dict[str, int], key: str) -> float | None:
    up, down = tally.get(f"{key}:up", 0), tally.get(f"{key}:down", 0)
    return 100.0 * up / (up + down) if up + down else None


def location_shares(tally: dict[str, int]) -> LocationShares | None:
    """The three definitions and each location's share, from the period's summed tally."""
    names = sorted({k.split(":")[1] for k in tally if k.startswith("loc:")})
    if not names:
        return None
    runs = sum(n for k, n in tally.items() if k.startswith("loc:") and k.split(":")[1] == names[0])
    return LocationShares(_share(tally, "quorum"), _share(tally, "any"), _share(tally, "all"),
                          {n: _share(tally, f"loc:{n}") for n in names}, runs)


def own_availability(window: AvailabilityWindow, base_seconds: float) -> float | None:
    """up / (up + down - what base services caused), in percent."""
    known = window.up + window.down - base_seconds
    return None if known <= 0 else 100.0 * window.up / known


def _merge(buckets: list[Bucket]) -> Bucket:
    out = Bucket()
    for b in buckets:
        out.merge(b)
    return out


class Availability(Kind):
    check = availability.CHECK
    title = "Verfügbarkeit"
    uses_timeline = True
    families_first = True  # blackbox_exporter's probe_* series lead, as blackbox orders them
    counts_hours = True
    report_rank = 0
    finding_rank = 0
    section_id = "verfuegbarkeit"
    section_title = "Verfügbarkeit und Zuverlässigkeit"
    report_template = "availability.html.j2"
    template_dir = Path(__file__).parent
    light_rule = (f"Verfügbarkeit: grün ab Ziel, gelb bis {fmt_num(YELLOW_MARGIN, 1)} Prozentpunkte darunter, "
                  "sonst rot.")
    families = (
        Family("probe_success", "Whether the probe succeeded (1) or failed (0); absent while the result is unknown"),
        Family("probe_duration_seconds", "How long the last probe attempt took in seconds"),
        Family("probe_http_duration_seconds", "Duration of the HTTP request by phase, summed over all redirects",
               ("phase",)),
        Family("probe_dns_lookup_time_seconds", "Time taken for the DNS lookup in seconds"),
        Family("probe_http_status_code", "HTTP status code of the final response, 0 when there was none"),
        Family("probe_http_redirects", "Number of redirects followed"),
        Family("probe_http_ssl", "Whether TLS was used for the final request"),
        Family("probe_http_content_length", "Length of the response body in bytes"),
        Family("probe_http_version", "HTTP version of the final response"),
        Family("probe_ip_protocol", "IP protocol used by the probe (4 or 6)"),
        Family("probe_ssl_earliest_cert_expiry", "Earliest expiry of the certificates in the chain, in unix seconds"),
        Family("probe_tls_version_info", "TLS version used by the final request", ("version",)),
        Family("egov_location_probe_success", "Whether the probe from this location succeeded (profiles with "
               "locations); absent when the location could not probe", ("location",), sparse=True),
        Family("egov_location_probe_duration_seconds", "How long the probe from this location took in seconds",
               ("location",), sparse=True),
    )

    # ----------------------------------------------------------- metrics and rollups

    def export(self, out: Families, base: list[str], result: CheckResult) -> None:
        m = availability.measurements_of(result)
        if result.state is not State.UNKNOWN:
            out["probe_success"].add_metric(base, 1.0 if result.ok else 0.0)
        out["probe_duration_seconds"].add_metric(base, m.get("duration_seconds", result.duration_seconds))
        for phase in PHASES:
            out["probe_http_duration_seconds"].add_metric(base + [phase],
                                                          result.measurements.get(availability.phase_key(phase), 0.0))
        out["probe_dns_lookup_time_seconds"].add_metric(base, m.get("phase_resolve_seconds", 0.0))
        out["probe_http_status_code"].add_metric(base, m.get("status_code", 0.0))
        out["probe_http_redirects"].add_metric(base, m.get("redirects", 0.0))
        out["probe_http_ssl"].add_metric(base, m.get("ssl", 0.0))
        out["probe_http_content_length"].add_metric(base, m.get("content_length_bytes", 0.0))
        out["probe_http_version"].add_metric(base, m.get("http_version", 0.0))
        out["probe_ip_protocol"].add_metric(base, m.get("ip_protocol", 0.0))
        if "ssl_earliest_cert_expiry" in m:
            out["probe_ssl_earliest_cert_expiry"].add_metric(base, m["ssl_earliest_cert_expiry"])
        tls = availability.evidence_of(result).get("tls")
        if tls and tls.get("version") in VERSION_NAMES:  # spelt as blackbox_exporter does, for its dashboards
            out["probe_tls_version_info"].add_metric(base + [VERSION_NAMES[tls["version"]]], 1.0)
        for row in availability.evidence_of(result).get("locations") or ():  # names from settings.yaml
            if row["state"] != "unknown":
                out["egov_location_probe_success"].add_metric(base + [row["name"]],
                                                              0.0 if row["state"] == "down" else 1.0)
            if row.get("duration_seconds") is not None:
                out["egov_location_probe_duration_seconds"].add_metric(base + [row["name"]], row["duration_seconds"])

    # ----------------------------------------------------------- report

    def summarise(self, inputs: ServiceInputs) -> AvailabilitySummary:
        svc, start, end, tz = inputs.service, inputs.start, inputs.end, inputs.tz
        maint = [(s.timestamp(), e.timestamp()) for w in svc.service.maintenance
                 for s, e in w.intervals(datetime.fromtimestamp(start, UTC),
                                         datetime.fromtimestamp(max(end, start), UTC), tz)]
        timeline = service_availability(inputs.changes, inputs.gaps, maint, inputs.period.year, tz, until=end,
                                        since=start)
        by_month: list[list[Bucket]] = [[] for _ in range(12)]
        for day, bucket in inputs.days:
            by_month[day // 100 % 100 - 1].append(bucket)
        month_buckets = [_merge(b) for b in by_month]
        year_bucket = _merge(month_buckets)
        causes = tuple(cause_of(inputs.records, svc.id, o.start, o.end) for o in timeline.outages)
        depends_on = tuple(svc.service.depends_on)
        attributions = tuple(attribute_outage(o.spans, depends_on, inputs.bases, inputs.tolerance)
                             for o in timeline.outages)
        bounds = month_bounds(inputs.period.year, tz)
        base_months = tuple(sum(seconds_in(a.spans, bounds[m], bounds[m + 1]) for a in attributions if a.base)
                            for m in range(12))
        return AvailabilitySummary(timeline, [(percentile(b.hist, 0.5), percentile(b.hist, 0.95)) for b in month_buckets],
                                   (percentile(year_bucket.hist, 0.5), percentile(year_bucket.hist, 0.95)), causes,
                                   attributions, base_months, depends_on, dict(inputs.base_names), inputs.tolerance,
                                   location_shares(year_bucket.tally))

    def has_data(self, summary: Any | None) -> bool:
        return summary is not None and summary.monitored_since is not None

    def monitored_since(self, summary: Any | None, days: list[tuple[int, Bucket]]) -> float | None:
        return None if summary is None else summary.monitored_since

    def unknown_seconds(self, summary: Any | None) -> float:
        return 0.0 if summary is None else summary.year.unknown

    def status_color(self, share: float, target: float) -> str:
        return "green" if share >= target else "yellow" if share >= target - YELLOW_MARGIN else "red"

    def light(self, report: ServiceReport) -> Light:
        a = report.kinds[self.name].year.availability
        target = report.target
        if a is None:
            return Light("grey", "keine Verfügbarkeitsdaten")
        if a >= target:
            return Light("green", f"{fmt_pct(a)} (Ziel {fmt_pct(target, 1)})")
        if a >= target - YELLOW_MARGIN:
            return Light("yellow", f"{fmt_pct(a)} knapp unter dem Ziel {fmt_pct(target, 1)}")
        return Light("red", f"{fmt_pct(a)} unter dem Ziel {fmt_pct(target, 1)}")

    def annex(self, report: ServiceReport, fig: Annex) -> None:
        r, a = report, report.kinds[self.name]
        y, section = a.year, "verfuegbarkeit"
        fig.total(r.id, section, "verfuegbarkeit_prozent", y.availability, "%")
        fig.total(r.id, section, "ziel_prozent", r.target, "%")
        for name in ("up", "down", "unknown", "maintenance"):
            fig.total(r.id, section, f"{name}_sekunden", getattr(y, name), "s")
        fig.total(r.id, section, "ausfaelle", len(a.outages))
        fig.total(r.id, section, "mttr_sekunden", a.mttr, "s")
        fig.total(r.id, section, "mtbf_sekunden", a.mtbf, "s")
        fig.total(r.id, section, "antwortzeit_p50_sekunden", a.latency_year[0], "s")
        fig.total(r.id, section, "antwortzeit_p95_sekunden", a.latency_year[1], "s")
        for i, m in enumerate(a.months):
            fig.month(r.id, section, i, "verfuegbarkeit_prozent", m.availability, "%")
            for name in ("up", "down", "unknown", "maintenance"):
                fig.month(r.id, section, i, f"{name}_sekunden", getattr(m, name), "s")
            fig.month(r.id, section, i, "antwortzeit_p50_sekunden", a.latency_months[i][0], "s")
            fig.month(r.id, section, i, "antwortzeit_p95_sekunden", a.latency_months[i][1], "s")
        if a.depends_on:  # availability with and without what base services caused (depends_on)
            fig.total(r.id, section, "verfuegbarkeit_ohne_basisdienste_prozent", a.own_year, "%")
            fig.total(r.id, section, "basisdienst_ausfall_sekunden", a.base_seconds, "s")
            for i in range(12):
                fig.month(r.id, section, i, "verfuegbarkeit_ohne_basisdienste_prozent", a.own_months[i], "%")
                fig.month(r.id, section, i, "basisdienst_ausfall_sekunden", a.base_months[i], "s")
        if a.locations is not None:  # the three definitions and each location (shares of runs)
            fig.total(r.id, section, "standorte_pruefungen", a.locations.runs)
            fig.total(r.id, section, "standorte_quorum_prozent", a.locations.quorum, "%")
            fig.total(r.id, section, "standorte_mindestens_einer_prozent", a.locations.any, "%")
            fig.total(r.id, section, "standorte_alle_prozent", a.locations.all, "%")
            for name, share in a.locations.each.items():
                fig.total(r.id, section, f"standort_{name}_prozent", share, "%")
        attributions = a.attributions or [None] * len(a.outages)
        for o, record, by in zip(a.outages, a.causes or [None] * len(a.outages), attributions, strict=True):
            fig(r.id, "ausfall", f"{o.start:.0f}/{o.end:.0f}", "ausfall_sekunden", o.down_seconds, "s")
            if record is not None:
                fig(r.id, "ausfall", f"{o.start:.0f}/{o.end:.0f}", "ursache", record.cause)
                fig(r.id, "ausfall", f"{o.start:.0f}/{o.end:.0f}", "vorfall", record.key)
            if a.depends_on and by is not None:
                fig(r.id, "ausfall", f"{o.start:.0f}/{o.end:.0f}", "zuordnung", by.base or "eigene")
                fig(r.id, "ausfall", f"{o.start:.0f}/{o.end:.0f}", "basisdienst_sekunden", by.seconds, "s")

    def findings(self, data: ReportData) -> list[tuple[int, str]]:
        below = [s for s in data.services if s.lights[self.name].color == "red"]
        if not below:
            return []
        worst = min(below, key=lambda s: (s.kinds[self.name].year.availability or 0) - s.target)
        return [(len(below) * 3, (f"{len(below)} Dienste verfehlen ihr Verfügbarkeitsziel deutlich; am weitesten "
                                  f"{worst.name} mit {fmt_pct(worst.kinds[self.name].year.availability)} "
                                  f"(Ziel {fmt_pct(worst.target, 1)})."))]

    def charts(self, data: ReportData) -> list[Chart]:
        out: list[Chart] = []
        groups = data.groups()
        if groups and data.has_data:  # availability per month and group: the median service
            fig, ax = figure()
            medians: dict[str, list[float | None]] = {}
            for label, members in groups:
                series: list[float | None] = [None] * 12
                for m in data.period.months:
                    values = [v for v in (s.kinds[self.name].months[m].availability for s in members) if v is not None]
                    series[m] = statistics.median(values) if values else None
                medians[label] = series
            for i, (label, series) in enumerate(medians.items()):
                xs = [m for m in range(12) if series[m] is not None]
                ax.plot(xs, [series[m] for m in xs], marker="os^d"[i % 4], color=COLORS[i % 4], label=label)
            ax.set_xticks(data.period.months, [MONTHS_DE[m] for m in data.period.months])
            ax.set_ylabel("Verfügbarkeit in %")
            german_axis(ax)
            ax.legend(loc="lower left", frameon=False)
            ax.grid(axis="y", color="#cccccc", linewidth=0.5)
            rows = [(MONTHS_DE[m], *(fmt_pct(medians[label][m]) for label, _ in groups)) for m in data.period.months]
            out.append(Chart("chart-monate", "Verfügbarkeit je Monat: Median der Dienste je Gruppe",
                             svg(fig, "chart-monate", "chart-monate-caption"),
                             ("Monat", *(label for label, _ in groups)), tuple(rows)))
        # the distribution of the year's availability
        bands = (("≥ 99,9 %", 99.9, 101), ("99,5 bis 99,9 %", 99.5, 99.9), ("99 bis 99,5 %", 99.0, 99.5),
                 ("95 bis 99 %", 95.0, 99.0), ("< 95 %", -1, 95.0))
        years = [s.kinds[self.name].year.availability for s in data.services]
        counts = [sum(1 for a in years if a is not None and lo <= a < hi) for _label, lo, hi in bands]
        labels = [b[0] for b in bands] + ["keine Daten"]
        values = counts + [sum(1 for a in years if a is None)]
        fig, ax = figure(height=2.2)
        ax.barh(range(len(labels)), values, color=COLORS[0])
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_xlabel("Anzahl Dienste")
        for i, v in enumerate(values):
            ax.text(v, i, f" {v}", va="center")
        out.append(Chart("chart-verteilung", f"Verteilung der Jahresverfügbarkeit ({len(data.services)} Dienste)",
                         svg(fig, "chart-verteilung", "chart-verteilung-caption"), ("Band", "Dienste"),
                         tuple((lab, str(v)) for lab, v in zip(labels, values, strict=True))))
        return out

    def section_context(self, data: ReportData) -> dict[str, Any]:
        def rows(s: ServiceReport) -> list[tuple[Any, Incident | None, Attribution | None]]:
            a = s.kinds[self.name]
            n = len(a.outages)
            return list(zip(a.outages, a.causes or [None] * n, a.attributions or [None] * n, strict=True))

        outages = sorted(((s, o, c, by) for s in data.services for o, c, by in rows(s)), key=lambda x: x[1].start)
        by_cause: dict[str, list[float]] = {}
        for _s, o, c, _by in outages:
            by_cause.setdefault(c.cause_label if c is not None else NO_CAUSE, []).append(o.down_seconds)
        order = [*CAUSES.values(), NO_CAUSE]
        causes = [(label, len(v), sum(v), sum(v) / len(v)) for label in order if (v := by_cause.get(label))]
        dependent = [s for s in data.services if s.kinds[self.name].depends_on]
        base_names = {b: n for s in dependent for b, n in s.kinds[self.name].base_names.items()}
        tolerance = max((s.kinds[self.name].tolerance for s in dependent), default=0.0)
        return {"outages": outages, "outage_causes": causes, "dependencies": bool(dependent),
                "base_names": base_names, "tolerance": tolerance,
                "attributed": self._attributed(data, outages), "base_services": self._base_table(data, dependent)}

    def _attributed(self, data: ReportData, outages: list[Any]) -> list[tuple[str, int, float]]:
        """Down time by its attribution: own, each base service (its maintenance apart), and
        the time the monitor could not see (unknown, monitor-side)."""
        names = {b: n for s in data.services for b, n in s.kinds[self.name].base_names.items()}
        own_n, own_s = 0, 0.0
        by_base: dict[tuple[str, bool], list[float]] = {}
        for _s, o, _c, by in outages:
            if by is not None and by.base is not None:
                by_base.setdefault((by.base, by.maintenance), []).append(by.seconds)
                own_s += o.down_seconds - by.seconds
            else:
                own_n, own_s = own_n + 1, own_s + o.down_seconds
        out = [("eigene Ursache des Dienstes", own_n, own_s)]
        for (base, maint), seconds in sorted(by_base.items(), key=lambda x: -sum(x[1])):
            label = f"Basisdienst {names.get(base, base)}" + (" (Wartung)" if maint else "")
            out.append((label, len(seconds), sum(seconds)))
        unknown = sum(s.kinds[self.name].year.unknown for s in data.services if s.kinds.get(self.name))
        out.append(("Überwachung (unbekannte Zeit, nicht als Ausfall gezählt)", 0, unknown))
        return out

    def _base_table(self, data: ReportData, dependent: list[ServiceReport]) -> list[dict[str, Any]]:
        """Per base service: its own down time (when it is in the report) and what it caused across its dependents."""
        reports = {s.id: s for s in data.services}
        bases = sorted({b for s in dependent for b in s.kinds[self.name].depends_on})
        table = []
        for base in bases:
            caused = [(s, by) for s in dependent for by in s.kinds[self.name].attributions if by.base == base]
            own = reports.get(base)
            name = next((s.kinds[self.name].base_names[base] for s in dependent
                         if base in s.kinds[self.name].base_names), base)
            table.append({"id": base, "name": name,
                          "own_down": own.kinds[self.name].year.down if own is not None and own.kinds.get(self.name)
                          else None,
                          "dependents": len([s for s in dependent if base in s.kinds[self.name].depends_on]),
                          "affected": len({s.id for s, _by in caused}), "outages": len(caused),
                          "seconds": sum(by.seconds for _s, by in caused)})
        return table

    def details(self, store: Store, service_ids: list[str], start: float, end: float) -> list[Detail]:
        wanted = set(service_ids)
        rows = [{"key": r.key, "art": r.record_type, "titel": r.title, "ursache": r.cause or "", "ticket": r.ticket or "",
                 "dienste": " ".join(s for s in r.services if s in wanted), "beginn": r.starts_at,
                 "ende": "" if r.ends_at is None else r.ends_at,
                 "meldungen": "\n".join(f"{u.at:.0f} {u.status}: {u.text}" for u in r.updates)}
                for r in IncidentBook(store).all(since=start, until=end) if wanted.intersection(r.services)]
        return [Detail("vorfaelle", "vorfaelle", ("key", "art", "titel", "ursache", "ticket", "dienste", "beginn", "ende",
                                                  "meldungen"), rows)]


KIND = Availability()
