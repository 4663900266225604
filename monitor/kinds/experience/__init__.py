"""Nutzerfreundlichkeit: the lab page experience of a service's pages (LCP, CLS, TBT; FCP, TTFB,
size and requests beside them), each page judged good, needs improvement or poor."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks import experience
from checks.experience import (
    METRICS,
    THRESHOLDS,
    VERDICT_DE,
    VERDICTS,
    evidence_of,
    format_value,
    measurements_of,
    pages_key,
    value_key,
)
from checks.result import CheckResult
from monitor.kinds.base import Families, Family, Kind
from monitor.report.format import Light
from monitor.report.model import Annex, ReportData, ServiceInputs, ServiceReport

if TYPE_CHECKING:
    from rich.console import Console

PAGE_METRICS = tuple(m for m in METRICS if m != "inp")  # INP needs interactions: a journey's
VERDICT_STYLE = {"good": "green", "needs_improvement": "yellow", "poor": "bold red", None: "magenta"}


@dataclasses.dataclass(frozen=True, slots=True)
class ExperienceSummary:
    """The newest run in the period, and the medians of each day's worst page over the period."""

    at: float
    lab: str
    days: int
    pages: list[dict[str, Any]]  # the digest's pages: url, verdict, values, transfer_bytes, requests, lcp_element
    medians: dict[str, float | None]  # per metric, over the period's days
    months: list[float | None]  # the median of each month's worst LCP (seconds)

    def verdict(self) -> str | None:
        order = ("good", "needs_improvement", "poor")
        got = [p["verdict"] for p in self.pages if p.get("verdict")]
        return max(got, key=order.index) if got else None


def _family_name(metric: str) -> str:
    return f"egov_experience_{value_key(metric)}"


class Experience(Kind):
    check = experience.CHECK
    title = "Nutzerfreundlichkeit"
    short_title = "Nutzerfr."
    report_rank = 6
    finding_rank = 8
    section_id = "nutzerfreundlichkeit"
    section_title = "Nutzerfreundlichkeit (Laborwerte)"
    report_template = "experience.html.j2"
    template_dir = Path(__file__).parent
    light_rule = ("Nutzerfreundlichkeit (Laborwerte der Core Web Vitals: LCP, CLS, TBT): grün, wenn jede gemessene "
                  "Seite gut ist; gelb, wenn eine verbesserungswürdig oder nicht messbar ist; rot, wenn eine schlecht "
                  "ist.")
    families = (
        *(Family(_family_name(m), f"{THRESHOLDS[m].title_de}: the slowest measured page's lab value (median of the "
                                  "runs)" + (" in seconds" if THRESHOLDS[m].unit == "s" else ""))
          for m in PAGE_METRICS),
        Family("egov_experience_pages", "Measured pages by lab verdict (good, needs_improvement, poor)", ("verdict",)),
        Family("egov_experience_pages_failed", "Pages that could not be measured"),
        Family("egov_experience_transfer_bytes", "Bytes transferred by the heaviest measured page"),
        Family("egov_experience_requests", "Requests of the measured page with the most requests"),
    )

    def export(self, out: Families, base: list[str], result: CheckResult) -> None:
        m = measurements_of(result)
        if "pages_measured" not in m:
            return
        values = result.measurements
        for metric in PAGE_METRICS:
            if value_key(metric) in values:
                out[_family_name(metric)].add_metric(base, values[value_key(metric)])
        if m.get("pages_measured"):
            for verdict in VERDICTS:
                out["egov_experience_pages"].add_metric(base + [verdict], values.get(pages_key(verdict), 0.0))
        out["egov_experience_pages_failed"].add_metric(base, m.get("pages_failed", 0.0))
        if "transfer_bytes" in m:
            out["egov_experience_transfer_bytes"].add_metric(base, m["transfer_bytes"])
            out["egov_experience_requests"].add_metric(base, m.get("requests", 0.0))

    def show(self, results: Sequence[CheckResult], console: Console) -> None:
        from rich.markup import escape

        for r in results:
            ev = evidence_of(r)
            lab = ev.get("lab") or {}
            console.print(f"[bold]{escape(r.service_id)}[/] Nutzerfreundlichkeit (Laborwerte, Profil "
                          f"{escape(str(lab.get('preset') or 'eigenes'))}, {lab.get('width')}x{lab.get('height')}, "
                          f"CPU {lab.get('cpu_slowdown')}x, Median aus {lab.get('runs')} Messungen):")
            for p in ev.get("pages") or []:
                if "error" in p:
                    console.print(f"  {escape(p['url'])}: [magenta]nicht gemessen[/]: {escape(p['error'])}")
                    continue
                verdict = p.get("verdict")
                figures = ", ".join(f"{m.upper()} {format_value(m, p['values'].get(m))}" for m in PAGE_METRICS)
                console.print(f"  {escape(p['url'])}: [{VERDICT_STYLE[verdict]}]{VERDICT_DE[verdict]}[/] {figures}, "
                              f"{p.get('transfer_bytes', 0) / 1024:.0f} KiB in {p.get('requests', 0)} Anfragen")
                if p.get("lcp_element"):
                    console.print(f"    LCP-Element: {escape(p['lcp_element'].get('element') or '')} "
                                  f"{escape(p['lcp_element'].get('url') or '')}")
                for s in p.get("shifts") or []:
                    console.print(f"    Verschiebung {s['value']:.3f} bei {s['start_s']:.2f} s: "
                                  f"{escape(', '.join(s.get('elements') or []) or '–')}")
                for t in (p.get("long_tasks") or [])[:3]:
                    scripts = ", ".join(f"{s['script']} ({s['seconds'] * 1000:.0f} ms)" for s in t.get("scripts") or [])
                    console.print(f"    lange Aufgabe {t['seconds'] * 1000:.0f} ms bei {t['start_s']:.2f} s: "
                                  f"{escape(scripts or 'Skript nicht zugeordnet')}")

    def summarise(self, inputs: ServiceInputs) -> ExperienceSummary | None:
        days = [(d, b) for d, b in inputs.days if b.last_measurements and b.last_measurements.get("pages_measured")]
        if not days:
            return None
        last = days[-1][1]
        dg = last.last_digest or {}
        medians: dict[str, float | None] = {}
        for metric in PAGE_METRICS:
            got = [float(b.last_measurements[value_key(metric)]) for _d, b in days
                   if b.last_measurements and value_key(metric) in b.last_measurements]
            medians[metric] = statistics.median(got) if got else None
        months: list[float | None] = []
        for month in range(12):
            got = [float(b.last_measurements["lcp_seconds"]) for d, b in days
                   if d // 100 % 100 - 1 == month and b.last_measurements and "lcp_seconds" in b.last_measurements]
            months.append(statistics.median(got) if got else None)
        return ExperienceSummary(last.last_at, str(dg.get("lab") or ""), len(days), list(dg.get("pages") or []),
                                 medians, months)

    def light(self, report: ServiceReport) -> Light:
        s: ExperienceSummary | None = report.kinds[self.name]
        if s is None:
            return Light("grey", "keine Prüfung")
        bad = {v: [p for p in s.pages if p.get("verdict") == v] for v in ("poor", "needs_improvement")}
        if bad["poor"]:
            return Light("red", f"{len(bad['poor'])} Seiten schlecht (Laborwerte): {_why(bad['poor'][0])}")
        if bad["needs_improvement"]:
            return Light("yellow", f"{len(bad['needs_improvement'])} Seiten verbesserungswürdig (Laborwerte): "
                                   f"{_why(bad['needs_improvement'][0])}")
        if not s.pages:
            return Light("yellow", "keine Seite messbar")
        return Light("green", f"alle {len(s.pages)} Seiten gut (Laborwerte)")

    def annex(self, report: ServiceReport, fig: Annex) -> None:
        s: ExperienceSummary = report.kinds[self.name]
        fig.latest(report.id, "nutzerfreundlichkeit", "bewertung", VERDICT_DE[s.verdict()])
        for metric, value in s.medians.items():
            if value is not None:
                fig.total(report.id, "nutzerfreundlichkeit", f"median_{metric}", round(value, 3),
                          THRESHOLDS[metric].unit)
        for month, value in enumerate(s.months):
            if value is not None:
                fig.month(report.id, "nutzerfreundlichkeit", month, "median_lcp", round(value, 3), "s")

    def findings(self, data: ReportData) -> list[tuple[int, str]]:
        poor = [s for s in data.services if s.kinds.get(self.name) and s.kinds[self.name].verdict() == "poor"]
        if not poor:
            return []
        first = next(p for p in poor[0].kinds[self.name].pages if p.get("verdict") == "poor")
        return [(len(poor) * 2, (f"{len(poor)} Dienste haben Seiten mit schlechter Nutzererfahrung im Labor (Core "
                                 f"Web Vitals), z. B. {poor[0].name}: {_why(first)}."))]

    def section_context(self, data: ReportData) -> dict[str, Any]:
        return {"xp_metrics": PAGE_METRICS, "xp_titles": {m: THRESHOLDS[m].title_de for m in PAGE_METRICS},
                "xp_thresholds": THRESHOLDS, "xp_verdict_de": VERDICT_DE, "xp_format": format_value}


def _why(page: dict[str, Any]) -> str:
    values = page.get("values") or {}
    bad = [f"{m.upper()} {format_value(m, values.get(m))}" for m in PAGE_METRICS
           if THRESHOLDS[m].verdict and THRESHOLDS[m].judge(values.get(m)) not in (None, "good")]
    return f"{page.get('url', '')} ({', '.join(bad)})"


KIND = Experience()
