"""KI-Verordnung: chatbot and AI-assistant widgets, whether they disclose the AI, whether the
privacy policy names the provider, AI APIs contacted before consent. A service without any is
"nicht betroffen", shown as such and never green."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks import ai_act
from checks.ai_act import MARKER_NAMES_DE, MARKERS, evidence_of, measurements_of
from checks.page import marker_key
from checks.result import CheckResult
from monitor.kinds.base import Families, Family, Kind
from monitor.kinds.common import MARKER_STATE_DE
from monitor.report.format import Light
from monitor.report.model import Annex, ReportData, ServiceInputs, ServiceReport

if TYPE_CHECKING:
    from rich.console import Console


WHERE_DE = {"launcher": "im Startknopf", "message": "in der ersten Nachricht"}


@dataclasses.dataclass(frozen=True, slots=True)
class AiSummary:
    """The newest scan in the period."""

    at: float
    affected: bool
    widgets: list[dict[str, Any]]  # vendor, where (launcher, message or None)
    apis: list[str]
    markers: dict[str, str | None]


class AiAct(Kind):
    check = ai_act.CHECK
    title = "KI-Verordnung"
    short_title = "KI-VO"
    report_rank = 5
    finding_rank = 5
    section_id = "ki-verordnung"
    section_title = "KI-Verordnung"
    report_template = "ai_act.html.j2"
    template_dir = Path(__file__).parent
    light_rule = ("KI-Verordnung: „nicht betroffen“ ohne KI-Widget und KI-Dienst; rot, wenn ein Widget sich nicht als KI "
                  "zu erkennen gibt oder ein KI-Dienst vor der Einwilligung kontaktiert wird; gelb, wenn die "
                  "Datenschutzerklärung den Anbieter nicht nennt oder der Hinweis nicht feststellbar war.")
    families = (
        Family("egov_ai_widgets", "Distinct chatbot or AI-assistant widgets (config/ai.yaml) found on the service's pages"),
        Family("egov_ai_apis_before_consent", "Distinct AI API hosts the pages contacted before consent"),
        Family("egov_ai_marker_passed", "Whether an AI-Act marker passed (1) or failed (0); absent if not determinable "
               "or not applicable", ("marker",)),
    )

    def export(self, out: Families, base: list[str], result: CheckResult) -> None:
        m = measurements_of(result)
        if "widgets" not in m:
            return
        out["egov_ai_widgets"].add_metric(base, m["widgets"])
        out["egov_ai_apis_before_consent"].add_metric(base, m.get("ai_apis", 0.0))
        for marker in MARKERS:
            if marker_key(marker) in result.measurements:
                out["egov_ai_marker_passed"].add_metric(base + [marker], result.measurements[marker_key(marker)])

    def show(self, results: Sequence[CheckResult], console: Console) -> None:
        from rich.markup import escape

        for r in results:
            ev = evidence_of(r)
            if "affected" not in ev:
                console.print(f"[bold]{escape(r.service_id)}[/] KI-Verordnung: [magenta]nicht feststellbar[/]: "
                              f"{escape(ev.get('detail', ''))}")
                continue
            if not ev["affected"]:
                console.print(f"[bold]{escape(r.service_id)}[/] KI-Verordnung: nicht betroffen (kein KI-Widget, kein "
                              "KI-Dienst gefunden)")
                continue
            console.print(f"[bold]{escape(r.service_id)}[/] KI-Verordnung:")
            for w in ev.get("widgets") or []:
                where = WHERE_DE.get(w.get("where") or "", "[bold red]kein Hinweis auf KI[/]")
                console.print(f"  KI-Widget {escape(w['vendor'])}: Hinweis {where}; Startknopf: "
                              f"„{escape(str(w.get('launcher_text', ''))[:80])}“")
            for a in ev.get("apis") or []:
                console.print(f"  [bold red]KI-Dienst vor Einwilligung[/]: {escape(a['host'])} ({escape(a['vendor'])}), "
                              f"Seite {escape(a['page'])}")
            for name, marker in (ev.get("markers") or {}).items():
                extra = f" ({escape(marker['detail'])})" if marker.get("detail") else ""
                console.print(f"  KI-VO: {MARKER_NAMES_DE.get(name, name)}: "
                              f"{MARKER_STATE_DE.get(marker['state'], marker['state'])}{extra}")

    def summarise(self, inputs: ServiceInputs) -> AiSummary | None:
        days = [(d, b) for d, b in inputs.days if b.last_measurements and "widgets" in b.last_measurements]
        if not days:
            return None
        last = days[-1][1]
        dg = last.last_digest or {}
        return AiSummary(last.last_at, bool(dg.get("affected")), list(dg.get("widgets") or []),
                         list(dg.get("apis") or []),
                         {k: v for k, v in (dg.get("markers") or {}).items() if k in MARKER_NAMES_DE})

    def light(self, report: ServiceReport) -> Light:
        s: AiSummary | None = report.kinds[self.name]
        if s is None:
            return Light("grey", "keine Prüfung")
        if not s.affected:
            return Light("none", "kein KI-Widget, kein KI-Dienst gefunden")
        if s.markers.get("ai_disclosed") == "fail":
            hidden = [w["vendor"] for w in s.widgets if not w.get("where")]
            return Light("red", "KI-Widget ohne Hinweis: " + ", ".join(hidden[:2]))
        if s.markers.get("no_ai_api") == "fail":
            return Light("red", "KI-Dienst vor Einwilligung: " + ", ".join(s.apis[:2]))
        if any(v in ("fail", "unknown") for v in s.markers.values()):
            return Light("yellow", "; ".join(f"{MARKER_NAMES_DE[k]}: {'nein' if v == 'fail' else 'nicht feststellbar'}"
                                             for k, v in s.markers.items() if v in ("fail", "unknown"))[:200])
        return Light("green", "KI-Widgets geben sich als KI zu erkennen")

    def annex(self, report: ServiceReport, fig: Annex) -> None:
        s: AiSummary = report.kinds[self.name]
        fig.latest(report.id, "ki_verordnung", "betroffen", "ja" if s.affected else "nein")
        fig.latest(report.id, "ki_verordnung", "widgets", len(s.widgets))
        for k, state in s.markers.items():
            fig.latest(report.id, "ki_verordnung", f"merkmal_{k}", state)

    def findings(self, data: ReportData) -> list[tuple[int, str]]:
        hidden = [s for s in data.services if s.kinds.get(self.name) and
                  s.kinds[self.name].markers.get("ai_disclosed") == "fail"]
        if not hidden:
            return []
        return [(len(hidden) * 3, (f"{len(hidden)} Dienste setzen KI-Chatbots ein, die sich nicht als KI zu erkennen "
                                  f"geben (Art. 50 KI-VO), z. B. {hidden[0].name}."))]

    def section_context(self, data: ReportData) -> dict[str, Any]:
        return {"ai_names": MARKER_NAMES_DE, "ai_where": WHERE_DE}


KIND = AiAct()
