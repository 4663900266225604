"""Small builders shared by tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from checks.result import CheckResult, Reason, State
from monitor.kinds import builtin

KINDS = builtin()  # the registry the tests run with, built once as a process does

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def result(state: State = State.UP, *, at: datetime | None = None, offset: float = 0.0, service: str = "portal",
           url: str = "https://portal.example.invalid/", reason: Reason | None = None, **measurements) -> CheckResult:
    reason = reason or {State.UP: Reason.OK, State.DOWN: Reason.HTTP_STATUS, State.DEGRADED: Reason.SLOW,
                        State.UNKNOWN: Reason.MONITOR_NETWORK}[state]
    return CheckResult(service, url, "availability", state, reason, (at or T0) + timedelta(seconds=offset),
                       0.1, measurements or {"status_code": 200.0}, {"detail": "test"})
