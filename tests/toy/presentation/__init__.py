"""The toy kind's presentation (would be monitor/kinds/toy/): its metric, CLI view, report
section with a summary, light, annex rows of the period and a month column."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from checks.result import CheckResult
from monitor.kinds.base import Families, Family, Kind
from monitor.report.format import Light
from monitor.report.model import Annex, ServiceInputs, ServiceReport
from tests.toy import check


class Toy(Kind):
    check = check.CHECK
    title = "Spielzeug"
    report_rank = 50
    finding_rank = 50
    report_template = "toy.html.j2"
    template_dir = Path(__file__).parent
    section_id = "spielzeug"
    section_title = "Spielzeugprüfung"
    light_rule = "Spielzeug: grün ab der Mindestgröße."
    families = (Family("egov_toy_bytes", "Bytes of the last answer (test kind)"),)

    def export(self, out: Families, base: list[str], result: CheckResult) -> None:
        if "bytes" in result.measurements:
            out["egov_toy_bytes"].add_metric(base, result.measurements["bytes"])

    def show(self, results: Sequence[CheckResult], console: Any) -> None:
        for r in results:
            console.print(f"Spielzeug {r.service_id}: {int(r.measurements.get('bytes', 0))} Bytes gezählt")

    def summarise(self, inputs: ServiceInputs) -> dict[str, Any] | None:
        if not inputs.days:
            return None
        last = inputs.days[-1][1]
        runs = [0] * 12
        for day, bucket in inputs.days:
            runs[day // 100 % 100 - 1] += bucket.total
        return {"bytes": int((last.last_digest or {}).get("bytes") or 0), "days": len(inputs.days), "runs": runs}

    def light(self, report: ServiceReport) -> Light:
        summary = report.kinds[self.name]
        if summary is None:
            return Light("grey", "keine Prüfung")
        return Light("green", f"{summary['bytes']} Bytes")

    def annex(self, report: ServiceReport, fig: Annex) -> None:
        summary = report.kinds[self.name]
        fig.latest(report.id, "spielzeug", "bytes", summary["bytes"])
        fig.total(report.id, "spielzeug", "laeufe", sum(summary["runs"]))
        for month, runs in enumerate(summary["runs"]):
            fig.month(report.id, "spielzeug", month, "laeufe", runs)


KIND = Toy()
