"""DSGVO: what a page does before consent (requests, trackers, cookies, storage) and the markers."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks import gdpr
from checks.gdpr import MARKER_NAMES_DE, MARKERS, SEVERITY, after_key, marker_key, measurements_of
from checks.result import CheckResult
from monitor.kinds.base import Families, Family, Kind
from monitor.kinds.common import MARKER_STATE_DE, scanned_days
from monitor.report.format import Light
from monitor.report.model import Annex, ReportData, ServiceInputs, ServiceReport

if TYPE_CHECKING:
    from rich.console import Console


COUNTS = ("requests", "third_party_hosts", "trackers", "third_party_cookies", "nonessential_cookies", "storage_keys")
REPORT_COUNTS = ("trackers", "third_party_hosts", "third_party_cookies", "nonessential_cookies", "storage_keys")
_SEVERITY_DE = {"high": "[bold red]hoch[/]", "medium": "[yellow]mittel[/]", "low": "[cyan]gering[/]"}
_COUNTS_DE = (("third_party_hosts", "Drittanbieter-Hosts"), ("trackers", "Tracker"),
              ("third_party_cookies", "Drittanbieter-Cookies"), ("nonessential_cookies", "nicht notwendige eigene Cookies"),
              ("storage_keys", "Storage-Einträge (nicht notwendig)"), ("requests", "Anfragen"))


@dataclasses.dataclass(frozen=True, slots=True)
class GdprSummary:
    """The newest recording in the period: counts before consent, markers, findings, trackers."""

    at: float
    scans: int
    counts: dict[str, int]
    markers: dict[str, str | None]
    failed: list[str]
    findings: list[dict[str, Any]]
    trackers: list[dict[str, Any]]
    days_with_trackers: int


def evidence_line(item: dict) -> str:
    """One piece of DSGVO evidence in a line: host, cookie, storage key, form, link or reference."""
    if "name" in item and "domain" in item:
        text = (f"Cookie {item['name']} ({item['domain']}, bis {item.get('expires', '?')}, "
                f"gesetzt von {item.get('set_by', '?')})")
        if item.get("stored") is False:
            why = "; ".join(item.get("refused") or []) or "Grund unbekannt"
            text += f" – versucht, vom Browser abgelehnt: {why}{' (gefolgert)' if item.get('reason_inferred') else ''}"
    elif "key" in item:
        text = f"{'Local' if item.get('kind') == 'local' else 'Session'} Storage {item['origin']}: {item['key']}"
    elif "host" in item:
        cat = f" [{item['category']}, {item.get('owner', '')}]" if item.get("category") else ""
        text = f"{item['host']}{cat}: {item.get('requests', '?')} Anfragen, z. B. {item.get('example', '')}"
    elif "action" in item:
        text = f"Formular {item.get('name') or ''} sendet an {item['action']} ({item.get('method', '').upper()})"
    elif "reference" in item:
        text = f"\"{item['reference']}\" in {item['url']}: …{item.get('context', '')}…"
    elif "http_url" in item:
        text = f"{item['http_url']} -> {item.get('status') or '-'} {item.get('location') or item.get('detail', '')}"
    elif "found" in item:
        text = (f"fehlt auf {item['page']}" if not item["found"]
                else f"{item['page']}: \"{item.get('text', '')}\" -> {item.get('url', '')}")
    else:
        text = ", ".join(f"{k}={v}" for k, v in item.items())
    page = item.get("page")
    if page and "found" not in item:
        text += f" (Seite {page})"
    return text[:500]


class Gdpr(Kind):
    check = gdpr.CHECK
    title = "Datenschutz"
    report_rank = 2
    finding_rank = 1
    section_id = "datenschutz"
    section_title = "Datenschutz"
    report_template = "gdpr.html.j2"
    template_dir = Path(__file__).parent
    light_rule = ("Datenschutz: rot bei einem schwerwiegenden Merkmal (z. B. Tracker vor Einwilligung), gelb bei "
                  "anderen.")
    families = (
        Family("egov_gdpr_pages_scanned", "Pages recorded in a fresh browser in the last DSGVO scan"),
        Family("egov_gdpr_pages_failed", "Pages the last DSGVO scan could not record (timeout, error status, browser)"),
        Family("egov_gdpr_requests", "Network requests the service's pages made, by consent state", ("consent",)),
        Family("egov_gdpr_third_party_hosts", "Distinct third-party hosts contacted, by consent state", ("consent",)),
        Family("egov_gdpr_trackers", "Distinct tracker hosts (config/trackers.yaml) contacted, by consent state",
               ("consent",)),
        Family("egov_gdpr_third_party_cookies", "Distinct third-party cookies stored, by consent state", ("consent",)),
        Family("egov_gdpr_nonessential_cookies", "Distinct first-party cookies not on the necessary list, by consent state",
               ("consent",)),
        Family("egov_gdpr_storage_keys", "Local and session storage keys not on the necessary list, by consent state",
               ("consent",)),
        Family("egov_gdpr_marker_passed", "Whether a DSGVO marker passed (1) or failed (0); absent if not determinable",
               ("marker",)),
    )

    # ----------------------------------------------------------- metrics and rollups

    def export(self, out: Families, base: list[str], result: CheckResult) -> None:
        # Host names, cookie names and URLs stay in the stored evidence: a label is never page data.
        m, by_key = measurements_of(result), result.measurements
        if "pages_scanned" not in m:
            return
        out["egov_gdpr_pages_scanned"].add_metric(base, m["pages_scanned"])
        out["egov_gdpr_pages_failed"].add_metric(base, m.get("pages_failed", 0.0))
        for name in COUNTS:
            for consent, key in (("before", name), ("after", after_key(name))):
                if key in by_key:
                    out[f"egov_gdpr_{name}"].add_metric(base + [consent], by_key[key])
        for marker in MARKERS:
            if marker_key(marker) in by_key:
                out["egov_gdpr_marker_passed"].add_metric(base + [marker], by_key[marker_key(marker)])

    # ----------------------------------------------------------- CLI

    def show(self, results: Sequence[CheckResult], console: Console) -> None:
        """Per service: counts before (and after) consent side by side, the findings with evidence, every marker."""
        from rich.markup import escape
        from rich.table import Table

        for r in results:
            ev = r.to_dict()["evidence"]
            m = measurements_of(r)
            pages = ev.get("pages") or []
            console.print(f"[bold]{escape(r.service_id)}[/]: {int(m.get('pages_scanned', 0))} von {len(pages)} "
                          "Seiten in frischem Browser vor jeder Einwilligung aufgezeichnet")
            for page in pages:
                if page.get("error"):
                    console.print(f"  [magenta]nicht aufgezeichnet[/]: {escape(page['url'])}: "
                                  f"{escape(str(page['error']))}")
            after = ev.get("after_consent")
            table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
            table.add_column("")
            table.add_column("vor Einwilligung", justify="right")
            if after:
                table.add_column("nach Einwilligung (" + escape(", ".join(after.get("cookies_set", []))) + ")",
                                 justify="right")
            before_counts = (ev.get("summary") or {}).get("counts") or {}
            after_counts = ((after or {}).get("summary") or {}).get("counts") or {}
            for key, label in _COUNTS_DE:
                row = [label, str(before_counts.get(key, "-"))]
                if after:
                    row.append(str(after_counts.get(key, "-")))
                table.add_row(*row)
            console.print(table)
            findings = ev.get("findings") or []
            if not findings and m.get("pages_scanned"):
                console.print("  keine DSGVO-Befunde")
            for f in findings:
                console.print(f"  {_SEVERITY_DE.get(f['severity'], f['severity'])}: "
                              f"{escape(MARKER_NAMES_DE.get(f['marker'], f['marker']))} – {escape(f.get('detail', ''))}")
                for item in f.get("evidence", [])[:10]:
                    if item.get("found") is True:
                        continue
                    console.print(f"      {escape(evidence_line(item))}")
            for name, marker in (ev.get("markers") or {}).items():
                extra = f" ({escape(marker['detail'])})" if marker.get("detail") and marker["state"] != "fail" else ""
                console.print(f"  DSGVO: {MARKER_NAMES_DE.get(name, name)}: "
                              f"{MARKER_STATE_DE.get(marker['state'], marker['state'])}{extra}")
            if after:
                new_hosts = sorted({h["host"] for h in after["summary"]["hosts"]}
                                   - {h["host"] for h in ev["summary"]["hosts"]})
                if new_hosts:
                    console.print("  nach Einwilligung zusätzlich kontaktiert: " + escape(", ".join(new_hosts[:20])))

    # ----------------------------------------------------------- report

    def summarise(self, inputs: ServiceInputs) -> GdprSummary | None:
        days = scanned_days(inputs.days)
        if not days:
            return None
        last = days[-1][1]
        m, dg = last.last_measurements or {}, last.last_digest or {}
        markers = {k: v for k, v in (dg.get("markers") or {}).items() if k in MARKER_NAMES_DE}
        return GdprSummary(last.last_at, len(days), {k: int(m.get(k, 0)) for k in REPORT_COUNTS}, markers,
                           [k for k, v in markers.items() if v == "fail"], dg.get("findings") or [],
                           dg.get("trackers") or [],
                           sum(1 for _d, b in days if (b.last_measurements or {}).get("trackers", 0) > 0))

    def light(self, report: ServiceReport) -> Light:
        g: GdprSummary | None = report.kinds[self.name]
        if g is None:
            return Light("grey", "keine Prüfung")
        high = [k for k in g.failed if SEVERITY.get(k) == "high"]
        if high:
            return Light("red", "; ".join(MARKER_NAMES_DE[k] + ": nein" for k in high[:2]))
        if g.failed:
            return Light("yellow", f"{len(g.failed)} Merkmale nicht erfüllt")
        return Light("green", "alle geprüften Merkmale erfüllt")

    def annex(self, report: ServiceReport, fig: Annex) -> None:
        g: GdprSummary = report.kinds[self.name]
        for k, v in g.counts.items():
            fig.latest(report.id, "datenschutz", k, v)
        for k, state in g.markers.items():
            fig.latest(report.id, "datenschutz", f"merkmal_{k}", state)

    def findings(self, data: ReportData) -> list[tuple[int, str]]:
        trackers = [s for s in data.services if s.kinds[self.name] and s.kinds[self.name].counts["trackers"] > 0]
        if not trackers:
            return []
        return [(len(trackers) * 3, (f"{len(trackers)} Dienste binden vor der Einwilligung Tracker ein "
                                     f"(zuletzt geprüft), z. B. {trackers[0].name}."))]

    def section_context(self, data: ReportData) -> dict[str, Any]:
        return {"gdpr_names": MARKER_NAMES_DE}


KIND = Gdpr()
