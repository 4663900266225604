"""The built-in kinds: each kind's check paired with its presentation.

A process calls `builtin()` once at its start and hands the registry to configuration,
store, metrics, report, CLI and status page; nothing reads a registry from a module global.
Adding a kind: its package under `checks/` (exporting `CHECK`), its package here (a `Kind`
subclass exported as `KIND`, its report template beside it), and one line below. See
docs/architecture.md.
"""

from __future__ import annotations

from monitor.kinds import accessibility, ai_act, availability, domain, experience, gdpr, journey, security
from monitor.kinds.base import Family, Kind, Kinds


def builtin() -> Kinds:
    """A new registry of the shipped kinds, in the order of metrics and CLI views."""
    return Kinds([
        availability.KIND,
        security.KIND,
        accessibility.KIND,
        gdpr.KIND,
        journey.KIND,
        ai_act.KIND,
        experience.KIND,
        domain.KIND,
    ])


__all__ = ["Family", "Kind", "Kinds", "builtin"]
