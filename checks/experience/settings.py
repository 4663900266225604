"""The page-experience kind's vocabulary (metrics, thresholds, lab profiles) and settings.

Thresholds are the documented ones: Core Web Vitals (web.dev: LCP, CLS, INP), Lighthouse's
lab proxy TBT and the supporting FCP and TTFB. A value at or under `good` is good, over
`poor` is poor, between needs improvement. Lab profiles follow Lighthouse's presets with
DevTools throttling (`--preset=desktop|...`, `--throttling-method=devtools`), so the same
page measured by both runs under the same conditions.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from checks.settings import CheckSettings, PositiveDuration

VERDICTS = ("good", "needs_improvement", "poor")
VERDICT_DE = {"good": "gut", "needs_improvement": "verbesserungswürdig", "poor": "schlecht", None: "nicht gemessen"}


@dataclasses.dataclass(frozen=True, slots=True)
class Threshold:
    metric: str
    title_de: str
    good: float
    poor: float
    unit: str  # "s" (seconds), "" (a score), "B" (bytes)
    verdict: bool  # part of the page's verdict (the lab Core Web Vitals); otherwise shown only

    def judge(self, value: float | None) -> str | None:
        if value is None:
            return None
        if value <= self.good:
            return "good"
        return "poor" if value > self.poor else "needs_improvement"


# seconds for times; CLS is unitless. INP is measured on a journey's interactions only.
THRESHOLDS = {t.metric: t for t in (
    Threshold("lcp", "Largest Contentful Paint (LCP)", 2.5, 4.0, "s", True),
    Threshold("cls", "Cumulative Layout Shift (CLS)", 0.1, 0.25, "", True),
    Threshold("tbt", "Total Blocking Time (TBT)", 0.2, 0.6, "s", True),
    Threshold("inp", "Interaction to Next Paint (INP)", 0.2, 0.5, "s", True),
    Threshold("fcp", "First Contentful Paint (FCP)", 1.8, 3.0, "s", False),
    Threshold("ttfb", "Time to First Byte (TTFB)", 0.8, 1.8, "s", False),
)}
METRICS = tuple(THRESHOLDS)


class LabProfile(BaseModel):
    """The fixed lab conditions of a measurement: viewport, CPU and network throttling."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    width: int = Field(1350, ge=200, le=4000, description="Viewport width in CSS pixels.")
    height: int = Field(940, ge=200, le=4000, description="Viewport height in CSS pixels.")
    device_scale_factor: float = Field(1.0, gt=0, le=4, description="Device pixel ratio.")
    mobile: bool = Field(False, description="Emulate a mobile device (meta viewport, touch).")
    cpu_slowdown: float = Field(1.0, ge=1, le=20, description="CPU throttling factor (DevTools setCPUThrottlingRate).")
    latency_ms: float = Field(0.0, ge=0, le=10_000, description="Added round-trip latency per request (DevTools).")
    download_kbps: float = Field(0.0, ge=0, description="Download throughput in Kbit/s; 0: not throttled.")
    upload_kbps: float = Field(0.0, ge=0, description="Upload throughput in Kbit/s; 0: not throttled.")


# Lighthouse 12's presets with --throttling-method=devtools (constants.js: desktopDense4G with
# the DevTools adjustment factors; mobileSlow4G: rtt 150 ms x 3.75, 1.6 Mbit/s x 0.9, CPU 4x).
PROFILES = {
    "desktop": LabProfile(),
    "mobile": LabProfile(width=412, height=823, device_scale_factor=1.75, mobile=True, cpu_slowdown=4.0,
                         latency_ms=562.5, download_kbps=1474.56, upload_kbps=675.0),
}


class ExperienceSettings(CheckSettings):
    """Page experience in the lab: every configured URL of the service loaded in Chromium under
    fixed conditions, cold cache, and judged by the Core Web Vitals thresholds."""

    interval: PositiveDuration = Field(86400.0, description="Time between two runs (default: once a day).")
    timeout: PositiveDuration = Field(30.0, description="Upper bound for one page load and its measurement.")
    lab: Literal["desktop", "mobile"] = Field(
        "desktop", description="The lab conditions: Lighthouse's desktop preset (1350x940, no throttling) or its "
                               "mobile one (412x823, CPU 4x, 562.5 ms latency, 1.47 Mbit/s).")
    profile: LabProfile | None = Field(None, description="Own lab conditions instead of `lab`.")
    runs: int = Field(3, ge=1, le=9, description="Loads per page; each figure is the median of the runs.")
    max_pages: int = Field(10, ge=1, le=100, description="The service's configured URLs measured, at most.")
    quiet: PositiveDuration = Field(
        1.0, description="After the load event, the measurement ends once the page was this long without a long "
                         "task and without a finished request (Lighthouse: 1 s network and CPU quiet).")

    def conditions(self) -> LabProfile:
        return self.profile or PROFILES[self.lab]

    def worst_case_seconds(self) -> float:
        return self.timeout * self.max_pages * self.runs + 10
