"""The typed hand-over between a check and the rest of egov-monitor.

A check returns one `CheckResult`. It is frozen and carries only JSON-friendly data, so
the same result can come from an in-process thread or a distributed worker.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any


class State(enum.StrEnum):
    """Outcome of one check run.

    `unknown` means the monitor could not tell (its own network failed, or an internal
    error); it is never counted as `down`.
    """

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"


class Reason(enum.StrEnum):
    """Why a check ended in its state. A fixed set, so it can be a metric label."""

    OK = "ok"
    SLOW = "slow"  # answered correctly, but slower than the profile's threshold
    RECOVERED_ON_RETRY = "recovered_on_retry"  # first attempt failed, a retry passed
    DNS = "dns"
    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    CONNECT_ERROR = "connect_error"  # unreachable network/host, reset during connect
    TLS_INVALID_CERTIFICATE = "tls_invalid_certificate"  # untrusted, self-signed
    TLS_EXPIRED = "tls_expired"
    TLS_HOSTNAME = "tls_hostname"
    TLS_ERROR = "tls_error"  # handshake failed for another reason (protocol, cipher)
    HTTP_STATUS = "http_status"
    READ_TIMEOUT = "read_timeout"  # the server accepted but did not answer in time
    PROTOCOL_ERROR = "protocol_error"  # not HTTP, connection closed mid-response
    CONTENT_MISMATCH = "content_mismatch"
    TOO_LARGE = "too_large"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    NOT_HTTPS = "not_https"  # profile demands HTTPS but the final URL is plain HTTP
    NONCOMPLIANT = "noncompliant"  # scanned: a binding requirement is not met (security grade, TLS, ...)
    FINDINGS = "findings"  # scanned: only warnings, nothing binding violated
    ELEMENT_NOT_FOUND = "element_not_found"  # a journey step: no element with that name, label or selector
    EXPECTATION_FAILED = "expectation_failed"  # a journey step: the page did not show what was expected
    STEP_TIMEOUT = "step_timeout"  # a journey step did not finish within its time limit
    BLOCKED_REQUEST = "blocked_request"  # a journey step tried to reach an address the browser blocks
    VALUE_MISMATCH = "value_mismatch"  # a journey step: the field holds another value than the one entered
    FORM_INVALID = "form_invalid"  # a journey step: the form was not submitted (invalid or missing required fields)
    MONITOR_NETWORK = "monitor_network"  # the canaries failed too: not the service's fault
    PROXY_ERROR = "proxy_error"  # the monitor's HTTP proxy failed or refused: the monitor's own network
    INTERNAL_ERROR = "internal_error"  # a bug or resource problem in the monitor
    MONITOR_STOPPED = "monitor_stopped"  # the monitor was stopped while the run was under way
    PARTIAL_OUTAGE = "partial_outage"  # down from some locations, fewer than the profile's quorum
    LOCATION_UNAVAILABLE = "location_unavailable"  # no worker of the location took the run in time (no vote)
    NOT_A_PAGE = "not_a_page"  # the address answers with a file download (or other non-page), not a web page


_SCALARS = (str, int, float, bool, type(None))


# the exact types met in nearly every result, tested before the isinstance checks (an ABC's
# check costs a Python call each; a probe's result passes through these a few dozen times)
_PLAIN = frozenset({str, int, float, bool, type(None), MappingProxyType})


def _freeze(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value  # scalars, and mappings frozen before (replace() passes them again)
    if kind is dict:
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if kind is list or kind is tuple:
        return tuple([_freeze(v) for v in value])
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple([_freeze(v) for v in value])
    return value


def thaw(value: Any) -> Any:
    """A frozen mapping or sequence (a result's measurements, evidence) as plain dicts and lists."""
    kind = type(value)
    if kind is MappingProxyType or kind is dict:
        return {k: thaw(v) for k, v in value.items()}
    if kind is tuple or kind is list:
        return [thaw(v) for v in value]
    if kind in _PLAIN:
        return value
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One thing a compliance check found: a stable id, a severity and a German message."""

    id: str
    severity: str  # "critical", "warning" or "notice"
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "severity": self.severity, "message": self.message}


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """What a check looks at: one URL of one service.

    Checks that judge a whole service (accessibility) also get all its configured URLs in
    `urls`, the start page first; per-URL checks leave it empty.
    """

    service_id: str
    url: str
    urls: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class CheckResult:
    """One run of one check against one URL.

    measurements: numbers (seconds, bytes, counts) with stable keys per kind.
    evidence: small JSON-able facts that explain the result (final URL, attempts, ...).
    """

    service_id: str
    url: str
    kind: str  # a registered kind name (checks.kind.Registry)
    state: State
    reason: Reason
    started_at: datetime
    duration_seconds: float
    measurements: Mapping[str, float] = dataclasses.field(default_factory=dict)
    evidence: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None:
            raise ValueError("started_at must be timezone-aware")
        object.__setattr__(self, "kind", str(self.kind))
        object.__setattr__(self, "state", State(self.state))
        object.__setattr__(self, "reason", Reason(self.reason))
        object.__setattr__(self, "measurements", _freeze(self.measurements))
        object.__setattr__(self, "evidence", _freeze(self.evidence))

    @property
    def ok(self) -> bool:
        """True when the service answered acceptably (up or degraded)."""
        return self.state in (State.UP, State.DEGRADED)

    def replace(self, **changes: Any) -> CheckResult:
        """A copy with some fields changed (results are frozen)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form, the one the store and the CLI's --json use."""
        return {
            "service_id": self.service_id,
            "url": self.url,
            "kind": str(self.kind),
            "state": self.state.value,
            "reason": self.reason.value,
            "started_at": self.started_at.astimezone(UTC).isoformat(),
            "duration_seconds": self.duration_seconds,
            "measurements": thaw(self.measurements),
            "evidence": thaw(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        """Inverse of `to_dict`."""
        return cls(
            service_id=data["service_id"],
            url=data["url"],
            kind=data["kind"],
            state=State(data["state"]),
            reason=Reason(data["reason"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            duration_seconds=float(data["duration_seconds"]),
            measurements=data.get("measurements") or {},
            evidence=data.get("evidence") or {},
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)
