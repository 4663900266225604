"""The core every layer shares: what a check kind is, what a run gets, the registry type.

A kind's package under `checks/` exports one `CheckImplementation`: its settings, its `run`
and its `Records` (what the store and the rollups need of its results: the evidence codec,
the digest, the tally, the latency). `monitor/kinds/<kind>/` pairs it with the kind's
presentation (a `KindSpec`); the process builds one `Registry` at start and hands it to
configuration, store, rollups, metrics, report, CLI and status page. A run gets everything
it needs from the process (browser pool, today's date) in a `checks.context.CheckContext`,
never from a module global.

This module and `checks.result` / `checks.settings` import nothing else of ours
(tests/test_architecture.py).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from checks.result import CheckResult, Target
from checks.settings import CheckSettings

Digest = Mapping[str, Any]  # a kind's digest: its own TypedDict, JSON-friendly


def cut(text: Any, n: int = 300) -> str:
    """Evidence text for a rollup digest: at most `n` characters."""
    return str(text or "")[:n]


@dataclasses.dataclass(frozen=True, slots=True)
class Implicated:
    """What a failed result touched: the URLs whose requests failed (or the page it failed on)
    and the base services its settings say the failed part exercises. `complete`: the kind
    knows what its failure touched (a journey's failed step), so a failure that touched no base
    service has its own cause even while one is down; otherwise (one page's answer, which may
    come from a base service behind it) overlap in time decides."""

    urls: tuple[str, ...] = ()
    bases: tuple[str, ...] = ()
    complete: bool = False


class Records:
    """What the store and the rollups need of a kind's results: the layer below presentation.

    A kind's package subclasses it beside its `run` and hands an instance to its
    `CheckImplementation`; the defaults store the evidence as it is and keep no digest."""

    keep_measurements = True  # rollups keep the last result's measurements (not for per-minute kinds)
    raw_retention_days: int | None = None  # its raw results' default retention (store.raw_retention_days otherwise)
    hour_rollups = False  # results come more often than hourly: the store keeps hour rollups too
    # the kind's results decide the service's current state on the status page (one kind does)
    status_light = False

    def latency(self, result: CheckResult) -> float:
        """The response time this result adds to the latency histogram; NaN: none."""
        return math.nan

    def digest(self, result: CheckResult) -> Digest | None:
        """The few evidence facts a rollup keeps for the report (small enough for a year)."""
        return None

    def implicated(self, result: CheckResult) -> Implicated:
        """What this failed result touched (for the attribution to base services): by default
        the URL it checked."""
        return Implicated(urls=(result.url,))

    def tally(self, result: CheckResult) -> dict[str, int] | None:
        """Counters this result adds to its hour and day rollups (summed, unlike the digest,
        which keeps only the last result's); None: nothing to count."""
        return None

    def compact_evidence(self, plain: dict[str, Any]) -> dict[str, Any]:
        """The evidence as a raw row stores it (`plain`: the result's `to_dict()`, its
        `started_at` as the row gives it back). It may leave out what the row's other columns
        rebuild, nothing else: `expand_evidence` must give back exactly `plain["evidence"]`."""
        return dict(plain["evidence"])

    def expand_evidence(self, plain: dict[str, Any]) -> None:
        """Rebuild in `plain["evidence"]` what `compact_evidence` left out (a row read back)."""


@dataclasses.dataclass(frozen=True, slots=True)
class CheckImplementation:
    """One check kind as the scheduler, runner and config see it."""

    kind: str
    settings_model: type[CheckSettings]
    run: Callable[[Target, Any, Any], CheckResult]  # (target, its settings, a checks.context.CheckContext)
    pool: str  # which executor runs it: "http" (cheap, many) or "browser" (few, heavy)
    scope: str = "url"  # "url": one run per URL; "service": one run covers all of a service's URLs
    # "keyed": the settings name the runs (`settings.keys(service_urls)`, e.g. one per journey)
    # `run` without a waiting thread, where the kind can: start(target, settings, ctx, done)
    # calls done(result), or done(exception), when the run ends (checks.availability.start)
    start: Callable[[Target, Any, Any, Callable[[CheckResult | Exception], None]], None] | None = None
    records: Records = dataclasses.field(default_factory=Records)  # the store's and the rollups' hooks
    # Where the settings name locations (`settings.location_refs()`) and the probes of a run are
    # made apart (distributed mode: one job per location), the run's one result from the
    # locations' results: combine(target, settings, names, {name: result or exception}, {name:
    # checks.locations.Location}, started, t0); a location with no result gets an exception.
    combine: Callable[..., CheckResult] | None = None

    def urls(self, service_urls: Sequence[str], settings: Any = None) -> list[str]:
        """The URLs a run is keyed by: each URL, the start page for a service-wide kind, or what
        the settings name for a keyed kind."""
        if self.scope == "keyed":
            return list(settings.keys(service_urls)) if settings is not None else []
        return list(service_urls[:1]) if self.scope == "service" else list(service_urls)

    def target(self, service_id: str, url: str, service_urls: Sequence[str]) -> Target:
        """What one run looks at: a service-wide kind also gets every URL of the service."""
        return Target(service_id, url, tuple(service_urls) if self.scope == "service" else ())


class KindSpec(Protocol):
    """A registered kind as every layer sees it: its name and its check (with its records).
    The presentation (`monitor.kinds.base.Kind`) adds the rest; the store, rows, rollups and
    configuration use nothing more than this."""

    @property
    def name(self) -> str: ...

    @property
    def check(self) -> CheckImplementation: ...


class Registry[K: KindSpec]:
    """The kinds this process knows, in registration order (the order of metrics and CLI
    views). Built once at process start and passed to whoever needs it: no module global."""

    def __init__(self, kinds: Sequence[K] = ()) -> None:
        self._kinds: dict[str, K] = {}
        for kind in kinds:
            self.add(kind)

    def add(self, kind: K) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"check kind {kind.name!r} is registered twice")
        if kind.check.kind != kind.name:
            raise ValueError(f"check kind {kind.name!r} is paired with the check of {kind.check.kind!r}")
        self._kinds[kind.name] = kind

    def __getitem__(self, name: str) -> K:
        return self._kinds[str(name)]

    def get(self, name: str) -> K | None:
        return self._kinds.get(str(name))

    def __contains__(self, name: object) -> bool:
        return str(name) in self._kinds

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._kinds.values()))

    def __len__(self) -> int:
        return len(self._kinds)

    def names(self) -> list[str]:
        return list(self._kinds)

    def records(self, name: str) -> Records | None:
        """The store's hooks of a kind; None for a kind this process does not know (its rows
        are kept as they are)."""
        kind = self._kinds.get(str(name))
        return kind.check.records if kind is not None else None

    def status_kind(self) -> str | None:
        """The kind whose results decide a service's current state (the status page's light)."""
        return next((k.name for k in self if k.check.records.status_light), None)
