"""Antragsstrecken: each journey's success, its time per step, where it breaks, and the
barriers and trackers met on the way."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks import journey
from checks.accessibility.settings import IMPACTS
from checks.experience import format_value
from checks.experience.settings import THRESHOLDS, VERDICT_DE
from checks.journey import FAIL_PREFIX, barriers_key, evidence_of, experience_key, journey_name, measurements_of
from checks.result import CheckResult
from monitor import rollup
from monitor.kinds.base import Families, Family, Kind
from monitor.report.format import MONTHS_DE, Light
from monitor.report.model import Annex, ReportData, ServiceInputs, ServiceReport

if TYPE_CHECKING:
    from rich.console import Console


REASONS_DE = {
    "element_not_found": "Element nicht gefunden", "expectation_failed": "Erwartung nicht erfüllt",
    "step_timeout": "Zeitgrenze überschritten", "blocked_request": "gesperrte Anfrage versucht",
    "http_status": "Fehlerstatus der Seite", "dns": "Name nicht auflösbar", "connect_refused": "Verbindung abgelehnt",
    "connect_timeout": "Verbindungsaufbau zu langsam", "connect_error": "Navigationsfehler",
    "tls_invalid_certificate": "Zertifikat ungültig", "tls_expired": "Zertifikat abgelaufen",
    "tls_hostname": "Zertifikat für anderen Namen", "tls_error": "TLS-Fehler", "read_timeout": "Zeitgrenze überschritten",
    "too_many_redirects": "zu viele Weiterleitungen", "internal_error": "interner Fehler des Monitors",
    "value_mismatch": "Feld enthält einen anderen Wert", "form_invalid": "Formular nicht abgeschickt",
}
XP_METRICS = ("lcp", "cls", "tbt", "inp")  # a step's lab values shown beside its time
_STATE_MARK = {"pass": "[green]✓[/]", "fail": "[bold red]✗[/]", "skipped": "[dim]–[/]"}


@dataclasses.dataclass(frozen=True, slots=True)
class JourneyFigures:
    """One journey in the period."""

    name: str
    title: str
    url: str
    runs: int  # runs whose outcome the monitor could tell
    successes: int
    monthly: list[float | None]  # success rate per month (percent), None: no run
    median: float | None
    p95: float | None
    failed_steps: list[tuple[str, int]]  # most failures first
    barriers: dict[str, dict[str, int]]  # newest run: per step, elements per impact
    trackers: list[dict[str, str]]  # newest run: tracker hosts and the step that loaded them
    last_state: str
    last_failed_step: str | None
    steps: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # newest run: name, seconds, experience

    @property
    def rate(self) -> float | None:
        return 100.0 * self.successes / self.runs if self.runs else None


@dataclasses.dataclass(frozen=True, slots=True)
class JourneySummary:
    journeys: list[JourneyFigures]


def _merge(days: list[tuple[int, rollup.Bucket]]) -> rollup.Bucket:
    total = rollup.Bucket()
    for _d, b in days:
        total.merge(b)
    return total


class Journey(Kind):
    check = journey.CHECK
    title = "Antragsstrecken"
    short_title = "Strecken"
    report_rank = 4
    finding_rank = 2
    section_id = "antragsstrecken"
    section_title = "Antragsstrecken"
    report_template = "journey.html.j2"
    template_dir = Path(__file__).parent
    light_rule = ("Antragsstrecken: rot, wenn eine Strecke in weniger als 95 % der Läufe bis zum Haltepunkt kam "
                  "oder der letzte Lauf scheiterte; gelb unter dem Verfügbarkeitsziel des Dienstes oder bei Barrieren "
                  "und Trackern auf der Strecke.")
    families = (
        Family("egov_journey_success", "Whether the journey's last run passed every step up to its stop point",
               ("journey",)),
        Family("egov_journey_duration_seconds", "Time of the journey's last run, its steps together (scans excluded)",
               ("journey",)),
        Family("egov_journey_step_duration_seconds", "Time of one step in the journey's last run", ("journey", "step")),
        Family("egov_journey_step_failed", "1 for the step the journey's last run failed at, 0 for steps that passed",
               ("journey", "step")),
        Family("egov_journey_blocked_requests", "Requests the browser blocked in the journey's last run "
               "(never_request, submissions on the last step)", ("journey",)),
        Family("egov_journey_barriers", "axe-core violations (elements) on the journey's pages in its last run, by impact",
               ("journey", "impact")),
        Family("egov_journey_trackers", "Tracker hosts contacted before consent along the journey's last run",
               ("journey",)),
        *(Family(f"egov_journey_{experience_key(m)}", f"{THRESHOLDS[m].title_de}: the worst step's lab value in the "
                 "journey's last run" + (" in seconds" if THRESHOLDS[m].unit == "s" else ""), ("journey",),
                 sparse=True)
          for m in XP_METRICS),
        Family("egov_journey_experience_poor_steps", "Steps of the journey's last run whose page or interaction "
               "was judged poor (lab values)", ("journey",), sparse=True),
    )

    # ----------------------------------------------------------- metrics and rollups

    def export(self, out: Families, base: list[str], result: CheckResult) -> None:
        # Journey and step names are catalog data; nothing from a page becomes a label.
        m, ev = measurements_of(result), evidence_of(result)
        name = ev.get("journey") or journey_name(result.url)
        if "success" not in m:
            return
        out["egov_journey_success"].add_metric(base + [name], m["success"])
        out["egov_journey_duration_seconds"].add_metric(base + [name], m.get("journey_seconds", 0.0))
        out["egov_journey_blocked_requests"].add_metric(base + [name], m.get("blocked_requests", 0.0))
        for step in ev.get("steps") or ():
            if step.get("state") in ("pass", "fail") and step.get("action") != "stop":
                out["egov_journey_step_duration_seconds"].add_metric(base + [name, step["name"]], step["seconds"])
                out["egov_journey_step_failed"].add_metric(base + [name, step["name"]],
                                                           1.0 if step["state"] == "fail" else 0.0)
        for impact in IMPACTS:
            if barriers_key(impact) in result.measurements:
                out["egov_journey_barriers"].add_metric(base + [name, impact], result.measurements[barriers_key(impact)])
        if "trackers" in result.measurements:
            out["egov_journey_trackers"].add_metric(base + [name], result.measurements["trackers"])
        for metric in XP_METRICS:
            if experience_key(metric) in result.measurements:
                out[f"egov_journey_{experience_key(metric)}"].add_metric(
                    base + [name], result.measurements[experience_key(metric)])
        if "experience_poor_steps" in result.measurements:
            out["egov_journey_experience_poor_steps"].add_metric(base + [name],
                                                                 result.measurements["experience_poor_steps"])

    # ----------------------------------------------------------- CLI

    def show(self, results: Sequence[CheckResult], console: Console) -> None:
        """Each step in German with its time; on failure what was expected and what was found."""
        from rich.markup import escape

        for r in results:
            ev = evidence_of(r)
            name = ev.get("journey") or journey_name(r.url)
            title = ev.get("title") or name
            failed = ev.get("failed_step")
            verdict = (f"[bold red]gescheitert an Schritt {escape(str(failed))}[/]" if failed
                       else f"[green]bis zum Haltepunkt durchlaufen[/] in {measurements_of(r).get('journey_seconds', 0):.1f} s"
                       if "success" in measurements_of(r) else f"[magenta]nicht feststellbar[/]: {escape(ev.get('detail', ''))}")
            console.print(f"[bold]{escape(r.service_id)}[/] – Strecke {escape(name)} ({escape(title)}): {verdict}")
            for step in ev.get("steps") or ():
                state = step.get("state", "skipped")
                seconds = f"{step.get('seconds', 0):6.2f} s" if state != "skipped" else "nicht ausgeführt"
                line = f"  {_STATE_MARK.get(state, state)} {escape(step['name']):<16} {escape(step.get('description', ''))[:70]:<70} {seconds}"
                console.print(line)
                if state == "fail":
                    reason = step.get("reason", "")
                    console.print(f"      Grund: {REASONS_DE.get(reason, reason)}")
                    if step.get("expected"):
                        console.print(f"      erwartet: {escape(step['expected'])}")
                    if step.get("found"):
                        console.print(f"      gefunden: {escape(step['found'])}")
                    console.print(f"      Seite: {escape(step.get('url', ''))}")
                    shot = step.get("screenshot") or {}
                    if shot.get("data"):
                        console.print(f"      Bildschirmfoto: {shot.get('width')}×{shot.get('height')} px, "
                                      f"{shot.get('bytes', 0) // 1024} KiB (mit --anhaenge VERZEICHNIS speichern)")
                    elif shot.get("omitted"):
                        console.print(f"      Bildschirmfoto: {escape(shot['omitted'])}")
                xp = step.get("experience") or {}
                if xp:
                    shown = ", ".join(f"{m.upper()} {format_value(m, v)}" for m in XP_METRICS
                                      if (v := (xp.get("values") or {}).get(m)) is not None)
                    console.print(f"      Laborwerte: {shown} ({VERDICT_DE.get(xp.get('verdict'), '–')})")
                a11y = step.get("accessibility") or {}
                if a11y.get("error"):
                    console.print(f"      axe nicht gelaufen: {escape(a11y['error'])}")
                elif a11y.get("violations_total"):
                    counts = ", ".join(f"{n} {i}" for i, n in a11y["barriers"].items() if n)
                    rules = ", ".join(v["rule"] for v in a11y["violations"][:6])
                    console.print(f"      Barrieren auf dieser Seite: {counts} ({escape(rules)})")
            gdpr = ev.get("gdpr") or {}
            for t in gdpr.get("trackers") or ():
                console.print(f"  [bold red]Tracker vor Einwilligung[/]: {escape(t['host'])} "
                              f"({escape(t.get('category', ''))}), geladen in Schritt {escape(t.get('step', '?'))}")

    def attachments(self, result: CheckResult) -> list[tuple[str, bytes]]:
        name = evidence_of(result).get("journey") or journey_name(result.url)
        out = []
        for step in evidence_of(result).get("steps") or ():
            data = (step.get("screenshot") or {}).get("data")
            if data:
                out.append((f"{result.service_id}-{name}-{step['name']}.jpg", base64.b64decode(data)))
        return out

    # ----------------------------------------------------------- report

    def summarise(self, inputs: ServiceInputs) -> JourneySummary | None:
        # one journey, one row: a journey's series are keyed by its name (a store written before
        # the key named the service's URL has the start page's URL for the older days)
        by_name: dict[str, list[tuple[int, rollup.Bucket]]] = {}
        newest: dict[str, tuple[float, str]] = {}
        for series_url, series_days in inputs.by_url.items():
            name = journey_name(series_url)
            by_name.setdefault(name, []).extend(series_days)
            last_at = max((b.last_at for _d, b in series_days), default=0.0)
            if name not in newest or last_at > newest[name][0]:
                newest[name] = (last_at, series_url)
        figures = []
        for name, days in sorted(by_name.items()):
            url = newest[name][1]
            days = sorted(days, key=lambda x: (x[0], x[1].last_at))
            if not days:
                continue
            total = _merge(days)
            up, degraded, down, _unknown = total.counts
            monthly: list[float | None] = []
            for month in range(1, 13):
                part = _merge([(d, b) for d, b in days if d // 100 % 100 == month])
                told = part.counts[0] + part.counts[1] + part.counts[2]
                monthly.append(100.0 * (part.counts[0] + part.counts[1]) / told if told else None)
            fails = sorted(((k[len(FAIL_PREFIX):], n) for k, n in total.tally.items() if k.startswith(FAIL_PREFIX)),
                           key=lambda x: (-x[1], x[0]))
            last = days[-1][1]
            dg = last.last_digest or {}
            figures.append(JourneyFigures(
                journey_name(url), str(dg.get("title") or journey_name(url)), url, up + degraded + down, up + degraded,
                monthly, rollup.percentile(total.hist, 0.5), rollup.percentile(total.hist, 0.95), fails,
                {k: {i: int(n) for i, n in v.items()} for k, v in (dg.get("barriers") or {}).items()},
                list(dg.get("trackers") or []), last.last_state, dg.get("failed_step"),
                [s for s in dg.get("steps") or [] if s.get("state") in ("pass", "fail")]))
        return JourneySummary(figures) if figures else None

    def light(self, report: ServiceReport) -> Light:
        s: JourneySummary | None = report.kinds[self.name]
        if s is None:
            return Light("grey", "keine Prüfung")
        worst = min(s.journeys, key=lambda j: j.rate if j.rate is not None else 101.0)
        if any(j.last_state == "down" for j in s.journeys):
            j = next(j for j in s.journeys if j.last_state == "down")
            return Light("red", f"{j.title}: letzter Lauf scheiterte an {j.last_failed_step or '?'}")
        if worst.rate is not None and worst.rate < 95.0:
            return Light("red", f"{worst.title}: {worst.rate:.1f} % erfolgreich".replace(".", ","))
        barriers = sum(n for j in s.journeys for step in j.barriers.values() for n in step.values())
        trackers = sum(len(j.trackers) for j in s.journeys)
        if worst.rate is not None and worst.rate < report.target:
            return Light("yellow", f"{worst.title}: {worst.rate:.1f} % erfolgreich".replace(".", ","))
        if barriers or trackers:
            return Light("yellow", f"{barriers} Barrieren, {trackers} Tracker auf den Strecken")
        return Light("green", f"{len(s.journeys)} Strecken durchgängig bedienbar")

    def annex(self, report: ServiceReport, fig: Annex) -> None:
        s: JourneySummary = report.kinds[self.name]
        for j in s.journeys:
            section = f"antragsstrecke_{j.name}"
            fig.total(report.id, section, "laeufe", j.runs)
            fig.total(report.id, section, "erfolgsquote", j.rate, "%")
            fig.total(report.id, section, "dauer_median", j.median, "s")
            fig.total(report.id, section, "dauer_p95", j.p95, "s")
            for month, rate in enumerate(j.monthly):
                fig.month(report.id, section, month, "erfolgsquote", rate, "%")
            for step, n in j.failed_steps:
                fig.total(report.id, section, f"abbrueche_{step}", n)
            for step, counts in j.barriers.items():
                fig.latest(report.id, section, f"barrieren_{step}", sum(counts.values()))

    def findings(self, data: ReportData) -> list[tuple[int, str]]:
        weak = [(s, j) for s in data.services if s.kinds.get(self.name) for j in s.kinds[self.name].journeys
                if j.rate is not None and j.rate < 95.0]
        if not weak:
            return []
        s, j = min(weak, key=lambda x: x[1].rate or 0.0)
        where = f", meist an Schritt {j.failed_steps[0][0]}" if j.failed_steps else ""
        return [(len(weak) * 3, f"{len(weak)} Antragsstrecken kamen in weniger als 95 % der Läufe bis zum Haltepunkt, "
                                f"z. B. {s.name}: {j.title} ({j.rate:.1f} %{where}).".replace(".0 %", " %"))]

    def section_context(self, data: ReportData) -> dict[str, Any]:
        return {"journey_months": MONTHS_DE, "journey_impacts": IMPACTS, "journey_xp": XP_METRICS,
                "journey_xp_format": format_value, "journey_xp_verdict": VERDICT_DE}


KIND = Journey()
