"""A toy check kind that lives only in the test tree, added through the documented steps
(docs/architecture.md): its check, its presentation, one registry line.

It fetches the target URL and counts the bytes of the answer. Importing this module
registers it; `tests/test_toy_kind.py` runs the real CLI and daemon with it.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from checks.kind import CheckContext, CheckImplementation
from checks.result import CheckResult, Reason, State, Target
from checks.settings import CheckSettings
from monitor.kinds import REGISTRY
from monitor.kinds.base import Families, Family, Figure, Kind, ServiceInputs
from monitor.report.format import Light

# 1. the check (would be checks/toy.py)


class ToySettings(CheckSettings):
    min_bytes: int = Field(1, ge=0, description="Fewer bytes than this is a finding.")


def run(target: Target, settings: ToySettings, ctx: CheckContext | None = None) -> CheckResult:
    started, t0 = datetime.now(UTC), time.monotonic()
    try:
        with urllib.request.urlopen(target.url, timeout=settings.timeout) as response:  # noqa: S310 - local test server
            size = len(response.read())
    except OSError as exc:
        return CheckResult(target.service_id, target.url, "toy", State.DOWN, Reason.CONNECT_ERROR, started,
                           time.monotonic() - t0, evidence={"detail": type(exc).__name__})
    state, reason = (State.UP, Reason.OK) if size >= settings.min_bytes else (State.DEGRADED, Reason.FINDINGS)
    return CheckResult(target.service_id, target.url, "toy", state, reason, started, time.monotonic() - t0,
                       measurements={"bytes": float(size)}, evidence={"detail": f"{size} Bytes"})


CHECK = CheckImplementation("toy", ToySettings, run, pool="http")

# 2. its presentation (would be monitor/kinds/toy.py)


class Toy(Kind):
    check = CHECK
    title = "Spielzeug"
    report_rank = 50
    finding_rank = 50
    report_template = "toy.html.j2"
    template_dir = Path(__file__).parent / "toy_templates"
    section_id = "spielzeug"
    section_title = "Spielzeugprüfung"
    light_rule = "Spielzeug: grün ab der Mindestgröße."
    families = (Family("egov_toy_bytes", "Bytes of the last answer (test kind)"),)

    def export(self, out: Families, base: list[str], result: CheckResult) -> None:
        if "bytes" in result.measurements:
            out["egov_toy_bytes"].add_metric(base, result.measurements["bytes"])

    def digest(self, result: CheckResult) -> dict[str, Any] | None:
        return {"bytes": result.measurements.get("bytes")}

    def show(self, results: Sequence[CheckResult], console: Any) -> None:
        for r in results:
            console.print(f"Spielzeug {r.service_id}: {int(r.measurements.get('bytes', 0))} Bytes gezählt")

    def summarise(self, inputs: ServiceInputs) -> dict[str, Any] | None:
        if not inputs.days:
            return None
        last = inputs.days[-1][1]
        return {"bytes": int((last.last_digest or {}).get("bytes") or 0), "days": len(inputs.days)}

    def light(self, report: Any) -> Light:
        summary = report.kinds[self.name]
        if summary is None:
            return Light("grey", "keine Prüfung")
        return Light("green", f"{summary['bytes']} Bytes")

    def annex(self, report: Any, fig: Figure) -> None:
        fig(report.id, "spielzeug", "zuletzt", "bytes", report.kinds[self.name]["bytes"])


KIND = Toy()

# 3. the one registry line (would be in monitor/kinds/__init__.py)
if "toy" not in REGISTRY:
    REGISTRY.add(KIND)
