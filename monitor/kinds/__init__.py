"""The registry of check kinds: each kind's check paired with its presentation.

Adding a kind: its package under `checks/` (exporting `CHECK`), its presentation module
here (a `Kind` subclass, exported as `KIND`), and one line below. See docs/architecture.md.
"""

from __future__ import annotations

from monitor.kinds import accessibility, ai_act, availability, gdpr, journey, security
from monitor.kinds.base import Family, Kind, Registry, ServiceInputs

REGISTRY = Registry([
    availability.KIND,
    security.KIND,
    accessibility.KIND,
    gdpr.KIND,
    journey.KIND,
    ai_act.KIND,
])

__all__ = ["REGISTRY", "Family", "Kind", "Registry", "ServiceInputs"]
