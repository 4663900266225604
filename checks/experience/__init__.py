"""Page experience ("nutzerfreundlich", E-Government-Pakt § 7): the lab Core Web Vitals of a
service's pages.

Each configured URL of the service is loaded `runs` times in a pooled Chromium under fixed lab
conditions (the settings' profile: viewport, CPU and network throttling; cache cleared before
each load; no other check's init scripts in the document) and measured with the page's own
Performance APIs (`measure`). Each figure is the median of the runs; each page is judged by
the documented thresholds (`settings.THRESHOLDS`): good, needs improvement, poor. Lab values
are not field data: they show what a page does under stated conditions, comparable from run
to run and with Lighthouse under the same preset (docs/checks.md).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, TypedDict, cast

from checks.context import CheckContext
from checks.experience.measure import measure_page
from checks.experience.settings import METRICS, PROFILES, THRESHOLDS, VERDICT_DE, VERDICTS, ExperienceSettings
from checks.kind import CheckImplementation, Records, cut
from checks.page import failure_reason
from checks.result import CheckResult, Reason, State, Target

NAME = "experience"


class ExperienceMeasurements(TypedDict, total=False):
    pages_measured: float
    pages_failed: float
    # the worst page's value per metric (METRICS): <metric>_seconds, cls; and per verdict
    # (VERDICTS): pages_<verdict>
    transfer_bytes: float  # the heaviest page
    requests: float  # the page with most requests


class ExperienceEvidence(TypedDict, total=False):
    lab: dict[str, Any]
    pages: list[dict[str, Any]]
    detail: str


def value_key(metric: str) -> str:
    """The measurement key of a metric's worst page value: seconds for times, CLS as it is."""
    return metric if THRESHOLDS[metric].unit == "" else f"{metric}_seconds"


def pages_key(verdict: str) -> str:
    return f"pages_{verdict}"


def measurements_of(result: CheckResult) -> ExperienceMeasurements:
    return cast(ExperienceMeasurements, result.measurements)


def evidence_of(result: CheckResult) -> ExperienceEvidence:
    return cast(ExperienceEvidence, result.evidence)


def run(target: Target, settings: ExperienceSettings, ctx: CheckContext) -> CheckResult:
    """Measure the service's pages one after another (parallel loads would share the CPU and
    distort each other's figures)."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    pool = ctx.pool()
    urls = list(dict.fromkeys(target.urls or (target.url,)))[:settings.max_pages]
    pages = [measure_page(pool, url, settings, wait=settings.worst_case_seconds()) for url in urls]
    return _result(target, settings, started, time.monotonic() - t0, pages)


def _result(target: Target, settings: ExperienceSettings, started: datetime, seconds: float,
            pages: list[dict[str, Any]]) -> CheckResult:
    measured = [p for p in pages if "error" not in p]
    failed = [p for p in pages if "error" in p]
    m: dict[str, float] = {"pages_measured": float(len(measured)), "pages_failed": float(len(failed))}
    for metric in METRICS:
        got = [p["values"][metric] for p in measured if p["values"].get(metric) is not None]
        if got:
            m[value_key(metric)] = max(got)
    for verdict in VERDICTS:
        m[pages_key(verdict)] = float(sum(1 for p in measured if p.get("verdict") == verdict))
    if measured:
        m["transfer_bytes"] = float(max(p["transfer_bytes"] for p in measured))
        m["requests"] = float(max(p["requests"] for p in measured))
    profile = settings.conditions()
    evidence: ExperienceEvidence = {
        "lab": {"preset": None if settings.profile else settings.lab, **profile.model_dump(), "runs": settings.runs,
                "cache": "kalt (vor jeder Messung geleert)", "quiet_seconds": settings.quiet},
        "pages": pages}
    poor = [p for p in measured if p.get("verdict") == "poor"]
    middling = [p for p in measured if p.get("verdict") == "needs_improvement"]
    if not measured:
        first = failed[0] if failed else {}
        state = State.UNKNOWN
        reason = failure_reason(first.get("error_reason"), first.get("error")) if failed else Reason.INTERNAL_ERROR
        evidence["detail"] = f"keine Seite gemessen: {first.get('error', 'keine Seiten')}"
    elif poor or middling or failed:
        state, reason = State.DEGRADED, Reason.FINDINGS
        parts = [f"{len(group)} Seiten {VERDICT_DE[v]}: " + "; ".join(_worst(p) for p in group[:3])
                 for v, group in (("poor", poor), ("needs_improvement", middling)) if group]
        if failed:
            parts.append(f"{len(failed)} Seiten nicht messbar")
        evidence["detail"] = " | ".join(parts)[:500]
    else:
        state, reason = State.UP, Reason.OK
        evidence["detail"] = f"alle {len(measured)} Seiten gut (Laborwerte, Profil {settings.lab})"
    return CheckResult(target.service_id, target.url, NAME, state, reason, started, seconds,
                       measurements=m, evidence=cast(dict[str, Any], evidence))


def _worst(page: dict[str, Any]) -> str:
    """'<url>: LCP 4.2 s' — the page's metrics that are not good."""
    bad = [f"{m.upper()} {format_value(m, page['values'][m])}" for m, v in (page.get("verdicts") or {}).items()
           if v != "good" and THRESHOLDS[m].verdict]
    return f"{page['url']}: {', '.join(bad)}"


def format_value(metric: str, value: float | None) -> str:
    """German display of a figure: '2,4 s', '120 ms', '0,08'."""
    if value is None:
        return "–"
    if THRESHOLDS[metric].unit == "":
        return f"{value:.2f}".replace(".", ",")
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1f} s".replace(".", ",")


class PageDigest(TypedDict):
    url: str
    verdict: str | None
    values: dict[str, float | None]
    transfer_bytes: int
    requests: int
    lcp_element: str


class ExperienceDigest(TypedDict):
    """What a rollup keeps of the last run: each page's figures and verdict, the lab."""

    lab: str
    pages: list[PageDigest]


class ExperienceRecords(Records):
    def digest(self, result: CheckResult) -> ExperienceDigest:
        ev = result.to_dict()["evidence"]
        pages: list[PageDigest] = []
        for p in (ev.get("pages") or [])[:20]:
            if "error" in p:
                continue
            pages.append({"url": cut(p.get("url"), 500), "verdict": p.get("verdict"),
                          "values": {m: (p.get("values") or {}).get(m) for m in METRICS},
                          "transfer_bytes": int(p.get("transfer_bytes") or 0), "requests": int(p.get("requests") or 0),
                          "lcp_element": cut((p.get("lcp_element") or {}).get("element"), 200)})
        return {"lab": cut((ev.get("lab") or {}).get("preset") or "eigenes Profil", 40), "pages": pages}


CHECK = CheckImplementation(NAME, ExperienceSettings, run, pool="browser", scope="service",
                            records=ExperienceRecords())

__all__ = ["CHECK", "METRICS", "PROFILES", "THRESHOLDS", "VERDICTS", "VERDICT_DE", "ExperienceSettings",
           "evidence_of", "format_value", "measurements_of", "pages_key", "run", "value_key"]
