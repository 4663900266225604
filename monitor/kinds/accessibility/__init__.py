"""Accessibility: axe-core violations by impact, the BITV markers, the barrier annex."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks import accessibility
from checks.accessibility import (
    IMPACTS,
    MARKER_NAMES_DE,
    MARKERS,
    dedupe,
    evidence_of,
    marker_key,
    measurements_of,
    rules_key,
    violations_key,
    wcag,
)
from checks.accessibility.settings import WCAG21_AA
from checks.result import CheckResult
from monitor.kinds.base import Families, Family, Kind
from monitor.kinds.common import MARKER_STATE_DE, last_per_quarter, scanned_days
from monitor.report.charts import COLORS, Chart, figure, svg
from monitor.report.format import Light
from monitor.report.model import Annex, Detail, ReportData, ServiceInputs, ServiceReport

if TYPE_CHECKING:
    from rich.console import Console

    from monitor.store import Store

IMPACT_DE = {"critical": ("kritisch", "bold red"), "serious": ("schwer", "red"), "moderate": ("mittel", "yellow"),
             "minor": ("gering", "cyan")}


@dataclasses.dataclass(frozen=True, slots=True)
class AccessibilitySummary:
    """The newest scan in the period (pages, rules and elements by impact, markers) and each quarter's."""

    at: float
    scans: int
    pages: int
    nodes: dict[str, int]
    rules: dict[str, int]
    rules_total: int
    score: float | None
    quarters: list[dict[str, int] | None]  # serious: critical + serious rules; rules: all violated rules
    markers: dict[str, str | None]
    rule_list: dict[str, dict[str, Any]]
    worst_pages: list[dict[str, Any]]


def _marker_detail(marker: dict) -> str:
    """The evidence of one BITV marker in a line: the link found, the date, where it is missing."""
    parts = []
    if marker.get("link"):
        parts.append(f"Link \"{marker['link']['text']}\" -> {marker['link']['url']}")
    if marker.get("date"):
        parts.append(f"Datum {marker['date']} ({marker['age_days']} Tage alt)")
    if marker.get("found"):
        parts.append(f"gefunden: \"{marker['found']}\"")
    if "start_page_lang" in marker:
        parts.append(f"lang der Startseite: {marker['start_page_lang'] or 'fehlt'}")
    if marker.get("missing_on"):
        parts.append("fehlt auf: " + ", ".join(marker["missing_on"][:5]))
    if marker.get("status") and "method" in marker:  # the statement audit's facts
        status = {"full": "vollständig vereinbar", "partial": "teilweise vereinbar", "none": "nicht vereinbar"}
        parts.append(f"Status: {status.get(marker['status'], marker['status'])}")
        parts.append(f"erstellt {marker.get('created') or '–'}, überprüft {marker.get('reviewed') or '–'}, "
                     f"Methode {marker.get('method') or '–'}, {marker.get('non_accessible_items', 0)} nicht "
                     "barrierefreie Inhalte genannt")
    if marker.get("detail"):
        parts.append(marker["detail"])
    return "; ".join(parts)[:400]


class Accessibility(Kind):
    check = accessibility.CHECK
    title = "Barrierefreiheit"
    report_rank = 1
    finding_rank = 2
    section_id = "barrierefreiheit"
    section_title = "Barrierefreiheit"
    report_template = "accessibility.html.j2"
    template_dir = Path(__file__).parent
    light_rule = ("Barrierefreiheit: rot bei kritischen oder schweren Verstößen, gelb bei leichteren oder nicht "
                  "erfüllten BITV-Merkmalen.")
    families = (
        Family("egov_accessibility_violations", "Elements violating axe rules, summed over the scanned pages, by impact",
               ("impact",)),
        Family("egov_accessibility_rules_violated", "Distinct axe rules violated on any scanned page, by impact",
               ("impact",)),
        Family("egov_accessibility_pages_scanned", "Pages axe-core ran on in the last scan"),
        Family("egov_accessibility_pages_failed", "Pages that could not be scanned (timeout, error status, browser)"),
        Family("egov_accessibility_pages_with_serious_violations", "Scanned pages with a critical or serious violation"),
        Family("egov_accessibility_incomplete_rules", "Distinct rules axe could not decide (needs review)"),
        Family("egov_accessibility_score", "Weighted accessibility score 0-100 for trends (see README)"),
        Family("egov_bitv_marker_passed", "Whether a BITV 2.0 marker passed (1) or failed (0); absent if not determinable",
               ("marker",)),
        Family("egov_accessibility_axe_info", "axe-core version of the last scan", ("axe_version",)),
    )

    # ----------------------------------------------------------- metrics and rollups

    def export(self, out: Families, base: list[str], result: CheckResult) -> None:
        # Labels are fixed vocabularies only (impact, marker name); rule help texts and
        # selectors stay in the stored evidence.
        m, by_key = measurements_of(result), result.measurements
        if "pages_scanned" not in m:
            return
        for impact in IMPACTS:
            out["egov_accessibility_violations"].add_metric(base + [impact], by_key.get(violations_key(impact), 0.0))
            out["egov_accessibility_rules_violated"].add_metric(base + [impact], by_key.get(rules_key(impact), 0.0))
        out["egov_accessibility_pages_scanned"].add_metric(base, m["pages_scanned"])
        out["egov_accessibility_pages_failed"].add_metric(base, m.get("pages_failed", 0.0))
        out["egov_accessibility_pages_with_serious_violations"].add_metric(base, m.get("pages_with_serious", 0.0))
        out["egov_accessibility_incomplete_rules"].add_metric(base, m.get("incomplete", 0.0))
        if "score" in m:
            out["egov_accessibility_score"].add_metric(base, m["score"])
        for marker in MARKERS:
            if marker_key(marker) in by_key:
                out["egov_bitv_marker_passed"].add_metric(base + [marker], by_key[marker_key(marker)])
        version = str(evidence_of(result).get("axe_version", ""))
        if version.replace(".", "").isdigit():
            out["egov_accessibility_axe_info"].add_metric(base + [version], 1.0)

    # ----------------------------------------------------------- CLI

    def show(self, results: Sequence[CheckResult], console: Console) -> None:
        """Per service: pages, violations deduplicated across pages, then the BITV markers."""
        from rich.markup import escape
        from rich.table import Table

        for r in results:
            ev, m = evidence_of(r), measurements_of(r)
            pages = ev.get("pages") or []
            head = (f"[bold]{escape(r.service_id)}[/]: {int(m.get('pages_scanned', 0))} von {len(pages)} Seiten "
                    f"geprüft (axe-core {escape(str(ev.get('axe_version', '?')))}, Regeln: "
                    f"{escape(', '.join(ev.get('tags', [])))})")
            if "score" in m:
                head += f"; Punktzahl {m['score']:.0f}/100"
            console.print(head)
            for page in pages:
                if page.get("error"):
                    console.print(f"  [magenta]nicht geprüft[/]: {escape(page['url'])}: {escape(str(page['error']))}")
            rows = dedupe(r)
            if rows:
                table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
                for col in ("Auswirkung", "Regel", "Seiten", "Elemente", "Beispiel"):
                    table.add_column(col, overflow="fold")
                for row in rows:
                    label, style = IMPACT_DE.get(row["impact"], (row["impact"], ""))
                    table.add_row(f"[{style}]{label}[/]", escape(f"{row['rule']}: {row['help']}"), str(row["pages"]),
                                  str(row["nodes"]), escape(f"{row['example_url']} {row['example_target']}"))
                console.print(table)
            elif m.get("pages_scanned"):
                console.print("  keine Verstöße gefunden")
            for ex in ev.get("excluded_rules") or []:
                console.print(f"  Regel ausgenommen: {escape(ex['rule'])} ({escape(ex['reason'])})")
            for name, marker in (r.to_dict()["evidence"].get("markers") or {}).items():
                console.print(f"  BITV: {MARKER_NAMES_DE.get(name, name)}: "
                              f"{MARKER_STATE_DE.get(marker['state'], marker['state'])} "
                              f"{escape(_marker_detail(marker))}")

    # ----------------------------------------------------------- report

    def summarise(self, inputs: ServiceInputs) -> AccessibilitySummary | None:
        days = scanned_days(inputs.days)
        if not days:
            return None
        last = days[-1][1]
        m, dg = last.last_measurements or {}, last.last_digest or {}
        quarters = [None if b is None else {
            "serious": int((b.last_measurements or {}).get(rules_key("critical"), 0)
                           + (b.last_measurements or {}).get(rules_key("serious"), 0)),
            "rules": int((b.last_measurements or {}).get("rules_violated", 0))} for b in last_per_quarter(days)]
        markers = {k: v for k, v in (dg.get("markers") or {}).items() if k in MARKER_NAMES_DE}
        return AccessibilitySummary(
            last.last_at, len(days), int(m.get("pages_scanned", 0)),
            {i: int(m.get(violations_key(i), 0)) for i in IMPACTS}, {i: int(m.get(rules_key(i), 0)) for i in IMPACTS},
            int(m.get("rules_violated", 0)), m.get("score"), quarters, markers, dg.get("rules") or {},
            dg.get("pages") or [])

    def light(self, report: ServiceReport) -> Light:
        acc: AccessibilitySummary | None = report.kinds[self.name]
        if acc is None:
            return Light("grey", "keine Prüfung")
        serious = acc.rules["critical"] + acc.rules["serious"]
        failed = [k for k, v in acc.markers.items() if v == "fail"]
        if serious:
            return Light("red", f"{serious} kritische oder schwere Barrieren (Regeln)")
        if acc.rules_total or failed:
            parts = ([f"{acc.rules_total} leichtere Barrieren (Regeln)"] if acc.rules_total else []) + (
                [f"BITV-Merkmale nicht erfüllt: {len(failed)}"] if failed else [])
            return Light("yellow", ", ".join(parts))
        return Light("green", "keine Verstöße gefunden")

    def annex(self, report: ServiceReport, fig: Annex) -> None:
        acc: AccessibilitySummary = report.kinds[self.name]
        for impact, n in acc.rules.items():
            fig.latest(report.id, "barrierefreiheit", f"regeln_{impact}", n)
            fig.latest(report.id, "barrierefreiheit", f"knoten_{impact}", acc.nodes[impact])
        for q, v in enumerate(acc.quarters):
            if v is not None:
                fig.quarter(report.id, "barrierefreiheit", q, "regeln_kritisch_schwer", v["serious"])
        for k, state in acc.markers.items():
            fig.latest(report.id, "barrierefreiheit", f"bitv_{k}", state)

    def findings(self, data: ReportData) -> list[tuple[int, str]]:
        red = [s for s in data.services if s.lights[self.name].color == "red"]
        if not red:
            return []
        return [(len(red) * 2, f"{len(red)} Dienste haben kritische oder schwere Barrieren nach WCAG 2.1 AA.")]

    def charts(self, data: ReportData) -> list[Chart]:
        scanned = [s.kinds[self.name] for s in data.services if s.kinds[self.name]]
        if not scanned:
            return []
        per_q = []
        for q in range(4):
            vals = [a.quarters[q] for a in scanned if a.quarters[q] is not None]
            per_q.append((sum(1 for v in vals if v["serious"] > 0), sum(v["serious"] for v in vals), len(vals)))
        fig, ax = figure(height=2.2)
        ax.bar([f"Q{q + 1}" for q in range(4)], [p[1] for p in per_q], color=COLORS[1])
        ax.set_ylabel("kritische + schwere Regeln")
        return [Chart("chart-barrieren", "Kritische und schwere Barrieren je Quartal (Summe der verletzten Regeln, "
                                         "letzte Prüfung im Quartal)",
                      svg(fig, "chart-barrieren", "chart-barrieren-caption"),
                      ("Quartal", "geprüfte Dienste", "Dienste mit Befund", "Regeln kritisch + schwer"),
                      tuple((f"Q{q + 1}", str(p[2]), str(p[0]), str(p[1])) for q, p in enumerate(per_q)))]

    def details(self, store: Store, service_ids: list[str], start: float, end: float) -> list[Detail]:
        """One row per violating element of each service's newest stored scan in the period: what an
        operator fixes and an auditor verifies. Elements the result itself could not keep (its size
        limit) appear as one row with their count."""
        rows: list[dict[str, Any]] = []
        since, until = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(max(end, start), UTC)
        for sid in service_ids:
            newest = store.newest_result(sid, self.name, since, until)
            if newest is None:
                continue
            scanned_at = newest.started_at.isoformat()
            for page in newest.evidence.get("pages", ()):
                for v in page.get("violations", ()):
                    base = {"service_id": sid, "scanned_at": scanned_at, "page": page.get("url", ""),
                            "rule": v.get("rule"), "impact": v.get("impact"), "help_url": v.get("help_url", "")}
                    rows.extend({**base, "element": t} for t in v.get("targets") or ())
                    if v.get("targets_cut"):
                        rows.append({**base, "element": f"(weitere {v['targets_cut']} Elemente über der "
                                                        "Speichergrenze)"})
        return [Detail("barriers", "barrieren", ("service_id", "scanned_at", "page", "rule", "impact", "element",
                                                 "help_url"), rows),
                Detail("wcag", "wcag", MONITORING_COLUMNS, monitoring_rows(store, self.name, service_ids, since, until))]

    def section_context(self, data: ReportData) -> dict[str, Any]:
        return {"bitv_names": MARKER_NAMES_DE, "impacts": IMPACTS,
                "impact_de": {k: v[0] for k, v in IMPACT_DE.items()}, **criteria_table(data, self.name)}


# --------------------------------------------------------------------------- per WCAG criterion

MONITORING_COLUMNS = ("service_id", "scanned_at", "pages_sampled", "criterion", "en_301_549", "level", "name",
                      "result", "result_de", "rules", "pages_failed", "failed_pages")


def criteria_of(rules: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """criterion -> {rules, pages} for a scan's violated rules (pages: the most any of its rules hit)."""
    mapping = wcag.rule_map()
    out: dict[str, dict[str, Any]] = {}
    for rule, entry in rules.items():
        for criterion in mapping.get(rule, ()):
            if criterion in wcag.CRITERIA:
                row = out.setdefault(criterion, {"rules": [], "pages": 0})
                row["rules"].append(rule)
                row["pages"] = max(row["pages"], int((entry or {}).get("pages") or 0))
    return out


def criteria_table(data: ReportData, name: str) -> dict[str, Any]:
    """The report's table: per failed criterion, how many services and pages fail it (newest scans)."""
    failing: dict[str, dict[str, int]] = {}
    for s in data.services:
        summary: AccessibilitySummary | None = s.kinds.get(name)
        if summary is None:
            continue
        for criterion, row in criteria_of(summary.rule_list).items():
            entry = failing.setdefault(criterion, {"services": 0, "pages": 0})
            entry["services"] += 1
            entry["pages"] += row["pages"]
    automated = wcag.automated(WCAG21_AA)
    rows = [{"criterion": c, "en": wcag.en_clause(c), "level": wcag.CRITERIA[c][0], "name": wcag.CRITERIA[c][1],
             **failing[c]} for c in wcag.ordered(set(failing))]
    return {"wcag_failing": rows, "wcag_total": len(wcag.CRITERIA), "wcag_automated": len(automated),
            "wcag_manual": [f"{c} {wcag.CRITERIA[c][1]}" for c in wcag.ordered(set(wcag.CRITERIA) - automated)]}


def monitoring_rows(store: Store, kind: str, service_ids: list[str], since: datetime,
                    until: datetime) -> list[dict[str, Any]]:
    """Per service and WCAG 2.1 A/AA criterion (EN 301 549 9.x), for the simplified monitoring
    method of Implementing Decision (EU) 2018/1524: the sample of pages of the newest scan and
    the result: failed, no violation found by the automated rules, or not testable by automation."""
    rows: list[dict[str, Any]] = []
    for sid in service_ids:
        newest = store.newest_result(sid, kind, since, until)
        if newest is None:
            continue
        ev = newest.to_dict()["evidence"]
        pages = [p for p in ev.get("pages") or [] if not p.get("error")]
        tags = ev.get("tags") or list(WCAG21_AA)
        automated = wcag.automated(tags)
        failed: dict[str, dict[str, Any]] = {}
        for page in pages:
            for v in page.get("violations") or []:
                for criterion in wcag.rule_map().get(str(v.get("rule")), ()):
                    if criterion in wcag.CRITERIA:
                        row = failed.setdefault(criterion, {"rules": set(), "pages": set()})
                        row["rules"].add(str(v.get("rule")))
                        row["pages"].add(str(page.get("url")))
        base = {"service_id": sid, "scanned_at": newest.started_at.isoformat(),
                "pages_sampled": " ".join(str(p.get("url")) for p in pages)}
        for criterion in wcag.ordered(set(wcag.CRITERIA)):
            level, title = wcag.CRITERIA[criterion]
            result = ("failed" if criterion in failed else "no_violation" if criterion in automated
                      else "not_automated")
            hit = failed.get(criterion, {"rules": set(), "pages": set()})
            rows.append({**base, "criterion": criterion, "en_301_549": wcag.en_clause(criterion), "level": level,
                         "name": title, "result": result, "result_de": wcag.RESULT_DE[result],
                         "rules": " ".join(sorted(hit["rules"])), "pages_failed": len(hit["pages"]),
                         "failed_pages": " ".join(sorted(hit["pages"]))})
    return rows


KIND = Accessibility()
