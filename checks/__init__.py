"""Check kinds: one module each, registered explicitly below.

A check is a pure function of (target, settings) to a `CheckResult`. It never writes to
the store or to metrics, so the same code runs in the daemon's threads or in a worker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from checks import accessibility, availability, gdpr, security
from checks.result import CheckKind, CheckResult, Reason, State, Target
from checks.settings import CheckSettings


@dataclasses.dataclass(frozen=True, slots=True)
class CheckImplementation:
    kind: CheckKind
    settings_model: type[CheckSettings]
    run: Callable[[Target, CheckSettings], CheckResult]
    pool: str  # which executor runs it: "http" (cheap, many) or "browser" (few, heavy)
    scope: str = "url"  # "url": one run per URL; "service": one run covers all of a service's URLs


REGISTRY: dict[CheckKind, CheckImplementation] = {
    CheckKind.AVAILABILITY: CheckImplementation(
        CheckKind.AVAILABILITY, availability.AvailabilitySettings, availability.run, pool="http"
    ),
    CheckKind.SECURITY: CheckImplementation(CheckKind.SECURITY, security.SecuritySettings, security.run, pool="http"),
    CheckKind.ACCESSIBILITY: CheckImplementation(
        CheckKind.ACCESSIBILITY, accessibility.AccessibilitySettings, accessibility.run, pool="browser", scope="service"
    ),
    CheckKind.GDPR: CheckImplementation(CheckKind.GDPR, gdpr.GdprSettings, gdpr.run, pool="browser", scope="service"),
}

__all__ = ["REGISTRY", "CheckImplementation", "CheckKind", "CheckResult", "CheckSettings", "Reason", "State", "Target"]
