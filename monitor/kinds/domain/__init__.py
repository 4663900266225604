"""IT-Sicherheit: Domain und E-Mail. DNSSEC, CAA, IPv6 and the e-mail authentication records of
each registrable domain a service uses (BSI TR-03182, TR-03108), with a grade per domain."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks import domain
from checks.domain import GRADES, MARKER_NAMES_DE, MARKERS, evidence_of
from checks.domain.settings import domain_of
from checks.page import marker_key
from checks.result import CheckResult
from monitor.kinds.base import Families, Family, Kind
from monitor.kinds.common import MARKER_STATE_DE
from monitor.report.format import Light
from monitor.report.model import Annex, ReportData, ServiceInputs, ServiceReport

if TYPE_CHECKING:
    from rich.console import Console

STATE_DE = {"pass": "erfüllt", "fail": "nicht erfüllt", "unknown": "nicht feststellbar"}
GRADE_STYLE = {"A": "green", "B": "green", "C": "yellow", "D": "bold red", "F": "bold red"}


@dataclasses.dataclass(frozen=True, slots=True)
class DomainSummary:
    """The newest run of each of the service's domains in the period."""

    domains: list[dict[str, Any]]  # domain, grade, markers {name: state}, at

    def worst(self) -> str | None:
        grades = [d["grade"] for d in self.domains if d.get("grade") in GRADES]
        return max(grades, key=GRADES.index) if grades else None


class Domain(Kind):
    check = domain.CHECK
    title = "IT-Sicherheit: Domain und E-Mail"
    short_title = "Domain/E-Mail"
    report_rank = 7
    finding_rank = 6
    section_id = "domain-und-e-mail"
    section_title = "IT-Sicherheit: Domain und E-Mail"
    report_template = "domain.html.j2"
    template_dir = Path(__file__).parent
    light_rule = ("Domain und E-Mail (DNSSEC, CAA, IPv6, MX, SPF, DMARC nach BSI TR-03182 und TR-03108): grün mit Note A "
                  "oder B für jede Domain des Dienstes; gelb mit C; rot mit D oder F (F auch bei ungültiger "
                  "DNSSEC-Signatur: validierende Resolver erreichen die Domain dann nicht).")
    families = (
        Family("egov_domain_grade", "The domain's grade: 0 A, 1 B, 2 C, 3 D, 4 F (failing markers; a broken DNSSEC "
               "chain is F)"),
        Family("egov_domain_marker_passed", "Whether a domain and e-mail marker passed (1) or failed (0); absent if "
               "not determinable", ("marker",)),
    )

    def export(self, out: Families, base: list[str], result: CheckResult) -> None:
        m = result.measurements
        if "grade" not in m:
            return
        out["egov_domain_grade"].add_metric(base, m["grade"])
        for marker in MARKERS:
            if marker_key(marker) in m:
                out["egov_domain_marker_passed"].add_metric(base + [marker], m[marker_key(marker)])

    def show(self, results: Sequence[CheckResult], console: Console) -> None:
        from rich.markup import escape

        for r in results:
            ev = evidence_of(r)
            name = ev.get("domain") or domain_of(r.url)
            if "grade" not in ev:
                console.print(f"[bold]{escape(r.service_id)}[/] Domain {escape(name)}: [magenta]nicht feststellbar[/]: "
                              f"{escape(ev.get('detail', ''))}")
                continue
            grade = ev["grade"]
            shared = ev.get("shared_from")
            console.print(f"[bold]{escape(r.service_id)}[/] Domain {escape(name)}: Note [{GRADE_STYLE[grade]}]{grade}[/] "
                          + (f"(Lauf von Dienst {escape(str(shared))} geteilt)" if shared else
                             f"({ev.get('queries', 0)} DNS-Abfragen)"))
            for key, marker in (ev.get("markers") or {}).items():
                extra = f" ({escape(str(marker.get('detail')))})" if marker.get("detail") else ""
                console.print(f"  {MARKER_NAMES_DE.get(key, key)}: "
                              f"{MARKER_STATE_DE.get(marker['state'], marker['state'])}{extra}")
                if marker.get("fix"):
                    console.print(f"    Abhilfe: {escape(marker['fix'])}")
            records = ev.get("records") or {}
            policy = records.get("mta_sts_policy")
            if policy is not None:  # reported, not judged (RFC 8461)
                told = "; ".join(policy.get("problems") or []) or (
                    f"mode={policy.get('mode')}, max_age={policy.get('max_age')}, mx={', '.join(policy.get('mx') or [])}")
                console.print(f"  MTA-STS-Richtlinie ({escape(str(policy.get('url', '')))}): {escape(told)}")
            elif "mta_sts" in records:
                console.print("  MTA-STS: kein Eintrag (_mta-sts)")
            if "tls_rpt" in records:
                console.print(f"  TLS-RPT: {escape(', '.join(records['tls_rpt'])) or 'kein Eintrag (_smtp._tls)'}")

    def summarise(self, inputs: ServiceInputs) -> DomainSummary | None:
        domains = []
        for url, days in sorted(inputs.by_url.items()):
            days = [(d, b) for d, b in days if b.last_digest and b.last_digest.get("grade")]
            if not days:
                continue
            last = max(days, key=lambda x: x[1].last_at)[1]
            dg = last.last_digest or {}
            domains.append({"domain": dg.get("domain") or domain_of(url), "grade": dg.get("grade"),
                            "markers": {k: v for k, v in (dg.get("markers") or {}).items() if k in MARKER_NAMES_DE},
                            "at": last.last_at})
        return DomainSummary(domains) if domains else None

    def light(self, report: ServiceReport) -> Light:
        s: DomainSummary | None = report.kinds[self.name]
        if s is None:
            return Light("grey", "keine Prüfung")
        worst = s.worst()
        failing = sorted({MARKER_NAMES_DE[k] for d in s.domains for k, v in d["markers"].items() if v == "fail"})
        why = f"Note {worst}" + (f": {'; '.join(failing[:3])}" if failing else "")
        if worst in ("D", "F"):
            return Light("red", why)
        if worst == "C":
            return Light("yellow", why)
        return Light("green", why)

    def annex(self, report: ServiceReport, fig: Annex) -> None:
        s: DomainSummary = report.kinds[self.name]
        for d in s.domains:
            fig.latest(report.id, "domain_und_e_mail", f"note_{d['domain']}", d["grade"])
            for k, state in d["markers"].items():
                fig.latest(report.id, "domain_und_e_mail", f"merkmal_{d['domain']}_{k}", state)

    def findings(self, data: ReportData) -> list[tuple[int, str]]:
        broken = [s for s in data.services if s.kinds.get(self.name) and
                  any(d["markers"].get("dnssec_valid") == "fail" and d["markers"].get("dnssec_signed") == "pass"
                      for d in s.kinds[self.name].domains)]
        spoofable = [s for s in data.services if s.kinds.get(self.name) and
                     any(d["markers"].get("dmarc") == "fail" for d in s.kinds[self.name].domains)]
        out = []
        if broken:
            out.append((len(broken) * 3, (f"{len(broken)} Dienste haben Domains mit ungültiger DNSSEC-Signatur "
                                         f"(für validierende Resolver nicht erreichbar), z. B. {broken[0].name}.")))
        if spoofable:
            out.append((len(spoofable), (f"{len(spoofable)} Dienste haben Domains ohne wirksame DMARC-Richtlinie "
                                        f"(Absender fälschbar, BSI TR-03182), z. B. {spoofable[0].name}.")))
        return out

    def section_context(self, data: ReportData) -> dict[str, Any]:
        return {"dm_names": MARKER_NAMES_DE, "dm_markers": MARKERS, "dm_state": STATE_DE}


KIND = Domain()
