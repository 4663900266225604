"""The toy kind's check (would be checks/toy/): it fetches the target URL and counts the
bytes of the answer; its records keep that count in the rollups' digest."""

from __future__ import annotations

import time
import urllib.request
from datetime import UTC, datetime
from typing import TypedDict

from pydantic import Field

from checks.context import CheckContext
from checks.kind import CheckImplementation, Records
from checks.result import CheckResult, Reason, State, Target
from checks.settings import CheckSettings

NAME = "toy"


class ToySettings(CheckSettings):
    min_bytes: int = Field(1, ge=0, description="Fewer bytes than this is a finding.")


def run(target: Target, settings: ToySettings, ctx: CheckContext | None = None) -> CheckResult:
    started, t0 = datetime.now(UTC), time.monotonic()
    try:
        with urllib.request.urlopen(target.url, timeout=settings.timeout) as response:  # noqa: S310 - local test server
            size = len(response.read())
    except OSError as exc:
        return CheckResult(target.service_id, target.url, NAME, State.DOWN, Reason.CONNECT_ERROR, started,
                           time.monotonic() - t0, evidence={"detail": type(exc).__name__})
    state, reason = (State.UP, Reason.OK) if size >= settings.min_bytes else (State.DEGRADED, Reason.FINDINGS)
    return CheckResult(target.service_id, target.url, NAME, state, reason, started, time.monotonic() - t0,
                       measurements={"bytes": float(size)}, evidence={"detail": f"{size} Bytes"})


class ToyDigest(TypedDict):
    bytes: float | None


class ToyRecords(Records):
    def digest(self, result: CheckResult) -> ToyDigest:
        return {"bytes": result.measurements.get("bytes")}


CHECK = CheckImplementation(NAME, ToySettings, run, pool="http", records=ToyRecords())
