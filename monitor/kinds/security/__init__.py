"""Security: Observatory grade and tests, TLS after BSI TR-02102-2, security.txt."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks import security
from checks.result import CheckResult
from checks.security import evidence_of, measurements_of, tls_accepts_key
from checks.security import headers as sh
from checks.security.tls import VERSION_NAMES, VERSIONS
from monitor.kinds.base import Families, Family, Kind
from monitor.kinds.common import SEVERITY_DE, last_per_quarter
from monitor.report.charts import COLORS, Chart, figure, svg
from monitor.report.format import Light
from monitor.report.model import Annex, ReportData, ServiceInputs, ServiceReport

if TYPE_CHECKING:
    from rich.console import Console




@dataclasses.dataclass(frozen=True, slots=True)
class SecuritySummary:
    """The newest grade in the period, the grade of each quarter's last scan, TLS and security.txt."""

    at: float
    grade: str
    score: int | None
    min_grade: str
    tls: bool | None
    security_txt: bool | None
    quarters: list[str | None]
    findings: list[dict[str, Any]]


def _evidence_text(evidence: Any) -> str:
    """A finding's evidence as an operator reads it: `Server: BaseHTTP/0.6`, not a Python structure."""
    if isinstance(evidence, Mapping):
        return "; ".join(f"{k}: {_evidence_text(v)}" for k, v in evidence.items())
    if isinstance(evidence, list | tuple):
        return "; ".join(_evidence_text(v) for v in evidence)
    return str(evidence)


class Security(Kind):
    check = security.CHECK
    title = "IT-Sicherheit"
    report_rank = 3
    finding_rank = 3
    section_id = "sicherheit"
    section_title = "IT-Sicherheit"
    short_title = "Sicherheit"
    report_template = "security.html.j2"
    template_dir = Path(__file__).parent
    light_rule = ("IT-Sicherheit: rot unter der Mindestnote oder bei nicht konformem TLS, gelb ohne gültige "
                  "security.txt.")
    families = (
        Family("egov_security_score", "Security header score (HTTP Observatory algorithm; 100 plus bonuses)"),
        Family("egov_security_grade_info", "Security header grade (A+ to F) and the scoring algorithm version",
               ("grade", "algorithm_version")),
        Family("egov_security_test_passed", "Whether a security header test passed (1) or failed (0)", ("test",)),
        Family("egov_security_findings", "Open security findings by severity", ("severity",)),
        Family("egov_security_txt_valid", "Whether /.well-known/security.txt is valid (RFC 9116)"),
        Family("egov_tls_version_accepted", "Whether the server accepts a TLS protocol version", ("version",)),
        Family("egov_tls_forward_secrecy", "Whether only forward-secret key exchange is accepted"),
        Family("egov_tls_compliant", "Whether the TLS configuration meets BSI TR-02102-2"),
        Family("egov_tls_certificate_expiry_timestamp_seconds", "When the server certificate expires, in unix seconds"),
    )

    # ----------------------------------------------------------- metrics and rollups

    def export(self, out: Families, base: list[str], result: CheckResult) -> None:
        # Only fixed vocabularies become labels: grades, test names, severities, versions.
        m, ev = measurements_of(result), evidence_of(result)
        obs = ev.get("observatory")
        if obs:
            out["egov_security_score"].add_metric(base, float(obs["score"]))
            out["egov_security_grade_info"].add_metric(base + [obs["grade"], str(obs["algorithm_version"])], 1.0)
            for test, outcome in obs["tests"].items():
                out["egov_security_test_passed"].add_metric(base + [test], 1.0 if outcome["pass"] else 0.0)
            for test, outcome in obs.get("extra", {}).items():
                out["egov_security_test_passed"].add_metric(base + [test], 1.0 if outcome["pass"] else 0.0)
            for severity, count in (("critical", m.get("findings_critical", 0.0)),
                                    ("warning", m.get("findings_warning", 0.0)),
                                    ("notice", m.get("findings_notice", 0.0))):
                out["egov_security_findings"].add_metric(base + [severity], count)
        if "security_txt_valid" in m:
            out["egov_security_txt_valid"].add_metric(base, m["security_txt_valid"])
            out["egov_security_test_passed"].add_metric(base + ["security-txt"], m["security_txt_valid"])
        for version in VERSIONS:  # the one family with a key per version
            key = tls_accepts_key(version)
            if key in result.measurements:
                out["egov_tls_version_accepted"].add_metric(base + [VERSION_NAMES[version]], result.measurements[key])
        if "tls_forward_secrecy" in m:
            out["egov_tls_forward_secrecy"].add_metric(base, m["tls_forward_secrecy"])
        if "tls_compliant" in m:
            out["egov_tls_compliant"].add_metric(base, m["tls_compliant"])
        if "tls_cert_expiry_timestamp" in m:
            out["egov_tls_certificate_expiry_timestamp_seconds"].add_metric(base, m["tls_cert_expiry_timestamp"])

    # ----------------------------------------------------------- CLI

    def show(self, results: Sequence[CheckResult], console: Console) -> None:
        """Per URL: grade, TLS and security.txt at a glance, then every finding with its fix."""
        from rich.markup import escape
        from rich.table import Table

        for r in results:
            ev = evidence_of(r)
            m = measurements_of(r)
            obs = ev.get("observatory")
            head = f"[bold]{escape(r.service_id)}[/] {escape(r.url)}: "
            if obs:
                head += (f"Note [bold]{obs['grade']}[/] ({obs['score']} Punkte, {obs['tests_passed']}/"
                         f"{obs['tests_passed'] + obs['tests_failed']} Tests bestanden; Bewertung nach "
                         f"{ev['algorithm']} Version {ev['algorithm_version']})")
            else:
                head += f"[bold red]keine Bewertung[/]: {escape(str(ev.get('detail', '')))}"
            console.print(head)
            t = ev.get("tls") or {}
            if t.get("accepted"):
                versions = ", ".join(f"{VERSION_NAMES[v].removeprefix('TLS ')} {'ja' if ok else 'nein'}"
                                     for v, ok in t["accepted"].items() if ok is not None)
                cert = t.get("certificate") or {}
                days = ""
                if "tls_cert_expiry_timestamp" in m:
                    left = (m["tls_cert_expiry_timestamp"] - time.time()) / 86400
                    days = f", Zertifikat noch {left:.0f} Tage gültig"
                console.print(f"  TLS: {versions}; Forward Secrecy {'ja' if t.get('forward_secrecy') else 'nein'}; "
                              f"{escape(cert.get('key_type', '?'))} {cert.get('key_bits', '?')} Bit{days}; "
                              f"BSI TR-02102-2: {'erfüllt' if t.get('compliant') else '[bold red]nicht erfüllt[/]'}")
            stxt = ev.get("security_txt")
            if stxt:
                console.print(f"  security.txt: {'gültig' if stxt.get('valid') else 'fehlt oder ungültig'}")
            findings = ev.get("findings") or []
            if not findings:
                continue
            table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
            for col in ("Schwere", "Prüfung", "Befund", "Abhilfe"):
                table.add_column(col, overflow="fold")
            order = {"critical": 0, "warning": 1, "notice": 2}
            for f in sorted(findings, key=lambda f: order.get(str(f.get("severity")), 3)):
                severity = str(f.get("severity"))
                label, style = SEVERITY_DE.get(severity, (severity, ""))
                message = str(f.get("message", ""))
                if f.get("evidence"):
                    message += " – " + _evidence_text(f["evidence"])[:200]
                table.add_row(f"[{style}]{label}[/]", escape(str(f.get("title", ""))), escape(message),
                              escape(str(f.get("fix", ""))))
            console.print(table)

    # ----------------------------------------------------------- report

    def summarise(self, inputs: ServiceInputs) -> SecuritySummary | None:
        days = [(d, b) for d, b in inputs.days if (b.last_digest or {}).get("grade")]
        if not days:
            return None
        last = days[-1][1].last_digest or {}
        settings = inputs.service.checks.get(self.name)
        return SecuritySummary(days[-1][1].last_at, last["grade"], last.get("score"),
                               getattr(settings, "min_grade", "B"), last.get("tls"), last.get("security_txt"),
                               [None if b is None else (b.last_digest or {}).get("grade")
                                for b in last_per_quarter(days)],
                               last.get("findings") or [])

    def light(self, report: ServiceReport) -> Light:

        s: SecuritySummary | None = report.kinds[self.name]
        if s is None:
            return Light("grey", "keine Prüfung")
        rank = sh.GRADES.index(s.grade) if s.grade in sh.GRADES else len(sh.GRADES)
        need = sh.GRADES.index(s.min_grade) if s.min_grade in sh.GRADES else 4
        if rank > need or s.tls is False:
            return Light("red", f"Note {s.grade} (mindestens {s.min_grade})"
                         + ("; TLS nicht konform" if s.tls is False else ""))
        if s.security_txt is False:
            return Light("yellow", f"Note {s.grade}; security.txt fehlt oder ungültig")
        return Light("green", f"Note {s.grade}")

    def annex(self, report: ServiceReport, fig: Annex) -> None:
        s: SecuritySummary = report.kinds[self.name]
        fig.latest(report.id, "sicherheit", "note", s.grade)
        fig.latest(report.id, "sicherheit", "punkte", s.score)
        fig.latest(report.id, "sicherheit", "tls_konform", s.tls)
        fig.latest(report.id, "sicherheit", "security_txt_gueltig", s.security_txt)
        for q, g in enumerate(s.quarters):
            if g is not None:
                fig.quarter(report.id, "sicherheit", q, "note", g)

    def findings(self, data: ReportData) -> list[tuple[int, str]]:
        sec = [s for s in data.services if s.lights[self.name].color == "red"]
        if not sec:
            return []
        return [(len(sec) * 2, (f"{len(sec)} Dienste erreichen die geforderte Sicherheitsnote nicht oder "
                                f"ihr TLS ist nicht konform."))]

    def charts(self, data: ReportData) -> list[Chart]:
        graded = [s.kinds[self.name].grade for s in data.services if s.kinds[self.name]]
        if not graded:
            return []
        c = Counter(graded)
        grades = [g for g in sh.GRADES if c.get(g)]
        fig, ax = figure(height=2.2)
        ax.bar(grades, [c[g] for g in grades], color=COLORS[2])
        ax.set_ylabel("Anzahl Dienste")
        return [Chart("chart-noten", "Sicherheitsnoten (HTTP Observatory), letzte Prüfung",
                      svg(fig, "chart-noten", "chart-noten-caption"), ("Note", "Dienste"),
                      tuple((g, str(c[g])) for g in grades))]


KIND = Security()
