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


OWNER_ENV = "EGOV_TEST_OWNER"  # set by tests/conftest.py to each test process's pid; children inherit it


def own_processes(cmdline_part: str) -> set[int]:
    """Processes whose command line contains `cmdline_part` and that this test process started
    (directly or not): they carry its EGOV_TEST_OWNER in their environment, even when their
    parent died and they were re-parented. Other xdist workers' browsers are not counted."""
    import os
    from pathlib import Path

    mark = f"{OWNER_ENV}={os.environ[OWNER_ENV]}".encode()
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            if cmdline_part.encode() not in cmdline or int(pid) == os.getpid():
                continue
            if mark in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.add(int(pid))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found
