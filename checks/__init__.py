"""Check kinds: one module or package each, free of Prometheus, rich and Jinja.

A kind exports `CHECK` (a `checks.kind.CheckImplementation`: settings model, `run(target,
settings, ctx)`, executor pool, scope). A check is a pure function of (target, settings,
context) to a `CheckResult`; it never writes to the store or to metrics, so the same code
runs in the daemon's threads or in a worker. The registry of kinds, each paired with its
presentation (metrics, CLI view, rollup digest, report section), is `monitor.kinds.REGISTRY`.
"""

from __future__ import annotations

from checks.context import CheckContext
from checks.kind import CheckImplementation
from checks.result import CheckResult, Reason, State, Target
from checks.settings import CheckSettings

__all__ = ["CheckContext", "CheckImplementation", "CheckKind", "CheckResult", "CheckSettings", "Reason", "State",
           "Target"]
