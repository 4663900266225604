"""Prometheus metrics.

Probe metrics come from a custom collector over the newest result of every target: in the
embedded daemon an in-memory copy of the store's `latest` rows, kept current as batches
commit (a scrape reads no store and still answers while the store is down); in the
distributed scheduler the store read at scrape time, since a fleet of workers writes it,
with the last good read kept when the store fails. The availability metrics keep
blackbox_exporter's names and meaning, so existing dashboards and alert rules work.

Label values are catalog data (service id, category, URL) or fixed enums (state, reason,
phase, TLS version). Nothing a scanned page sends ever becomes a label.
"""

from __future__ import annotations

import logging
import math
import operator
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from checks.browser import PoolHolder, PoolStats
from checks.result import CheckResult, State
from monitor import __version__
from monitor.config import Config, ResolvedService
from monitor.dependencies import Dependencies, failing_since, live_impairments
from monitor.kinds.base import TARGET_LABELS, Families, Kind
from monitor.store import LatestState

if TYPE_CHECKING:
    from monitor.runner import CanaryVerdict
    from monitor.store import Store

log = logging.getLogger(__name__)

# What every kind exports per target; each kind adds its own families (monitor/kinds/).
COMMON = (
    ("egov_check_state", "Current state of a check target, one series per state (1 = current)", ["kind", "state"]),
    ("egov_check_reason_info", "Reason of the current state of a check target", ["kind", "reason"]),
    ("egov_check_last_run_timestamp_seconds", "When the newest result of a check target started", ["kind"]),
    ("egov_check_state_since_timestamp_seconds", "Since when a check target has been in its current state", ["kind"]),
    ("egov_check_interval_seconds", "Configured interval of a check target, for staleness alerts", ["kind"]),
)
# Exported only while some target has no result at all yet (no empty family otherwise, so the
# exposition of a monitor whose every target has run is unchanged).
SCHEDULED = ("egov_check_scheduled_timestamp_seconds", ("When a check target without any result yet was scheduled "
             "(start or reload); exported only until its first result, for the never-ran alert"))


class LatestCache:
    """The `latest` rows of the store, in memory: read once, then updated with every committed
    batch (the same rules as the store: a late older result changes nothing, `since` moves
    only when the state changes)."""

    def __init__(self, store: Store) -> None:
        self._lock = threading.Lock()
        self._items = {(i.result.service_id, str(i.result.kind), i.result.url): i for i in store.latest()}

    def committed(self, items: Sequence[tuple[CheckResult, str | None]],
                  ids: Sequence[int | None]) -> list[LatestState]:
        """Apply a committed batch; returns the rows that changed."""
        changed = []
        with self._lock:
            for (result, _key), rid in zip(items, ids, strict=True):
                if rid is None:
                    continue
                key = (result.service_id, str(result.kind), result.url)
                cur = self._items.get(key)
                if cur is not None and cur.result.started_at > result.started_at:
                    continue
                since = cur.since if cur is not None and cur.result.state is result.state else result.started_at
                self._items[key] = row = LatestState(result, rid, since)
                changed.append(row)
        return changed

    def __call__(self) -> list[LatestState]:
        with self._lock:
            return list(self._items.values())


class StoreSnapshot:
    """The store's `latest` rows read at call time; the last good read while the store fails."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._last: list[LatestState] = []

    def __call__(self) -> list[LatestState]:
        try:
            self._last = self._store.latest()
        except Exception as exc:
            log.error("store not readable for /metrics, last read exported: %s", " ".join(str(exc).split())[:200])
        return self._last


def _service_families(config: Config, services: Iterable[ResolvedService] | None = None,
                      maintenance_only: bool = False) -> list[GaugeMetricFamily]:
    """Catalog data per service: name and operator, availability target, maintenance now."""
    now = datetime.now(UTC)
    info = GaugeMetricFamily("egov_service_info", "Name and operator of a catalog service (catalog data, for "
                             "dashboards and alerts)", labels=["service", "category", "name", "operator"])
    target = GaugeMetricFamily("egov_service_availability_target_ratio", "Availability target of the service as a "
                               "ratio", labels=["service", "category"])
    maintenance = GaugeMetricFamily("egov_service_maintenance", "Whether a declared maintenance window is active now",
                                    labels=["service", "category"])
    for svc in config.services.values() if services is None else services:
        labels = [svc.id, svc.service.category]
        if not maintenance_only:
            info.add_metric(labels + [svc.service.name, svc.service.operator], 1.0)
            target.add_metric(labels, svc.service.availability_target / 100)
        active = any(w.active_at(now, config.settings.tz) for w in svc.service.maintenance)
        maintenance.add_metric(labels, 1.0 if active else 0.0)
    return [maintenance] if maintenance_only else [info, target, maintenance]


def _dependency_families(config: Config, deps: Dependencies, items: Iterable[LatestState],
                         now: float) -> list[GaugeMetricFamily]:
    """Per declared dependency (service, base service): whether the base service is impaired now
    (down, or in a maintenance window), and whether the dependent's service alerts are to be
    inhibited (the base is impaired and the dependent was not failing before it: Alertmanager's
    inhibit rule reads it). Nothing when the catalog declares no dependency."""
    if not deps.bases:
        return []
    kind = config.kinds.status_kind()
    rows = [(i.result.service_id, i.result.url, i.result.state.value, i.since.timestamp()) for i in items
            if i.result.kind == kind]
    impaired = {(d, imp.base): inhibit for d, imp, inhibit in live_impairments(config, deps, rows, now)}
    # A dependent whose status kind answers `up` has no outage alert to hold back. Saying 1 for it
    # (as the status page's "eingeschränkt" does) raced its recovery: up again before the base's
    # recovery was seen, it got EgovDependencyImpaired, which keeps firing for 5 minutes, and
    # Alertmanager swallowed the resolution of the alert it had paged with (it failed first).
    # A dependent without a status-kind result (journeys only) keeps the inhibition.
    failing, reported = failing_since(rows), {row[0] for row in rows}
    labels = ["service", "category", "base"]
    gauge = GaugeMetricFamily("egov_dependency_impaired", "Whether a base service this service depends on is impaired "
                              "now (down, or in a maintenance window)", labels=labels)
    inhibit = GaugeMetricFamily("egov_dependency_inhibit", "Whether the service's outage alerts are inhibited because "
                                "of the impaired base service (it fails, and was not failing before the base service)",
                                labels=labels)
    for dependent, bases in deps.bases.items():
        svc = config.services.get(dependent)
        if svc is None:
            continue
        for base in bases:
            key = (dependent, base)
            gauge.add_metric([dependent, svc.service.category, base], 1.0 if key in impaired else 0.0)
            held = impaired.get(key) and (dependent in failing or dependent not in reported)
            inhibit.add_metric([dependent, svc.service.category, base], 1.0 if held else 0.0)
    return [gauge, inhibit]


def _sparse(kinds: Iterable[Kind]) -> set[str]:
    """The families exported only when they have samples (`Family.sparse`)."""
    return {f.name for k in kinds for f in k.families if f.sparse}


def _target_families[F](kinds: Iterable[Kind], make: Callable[..., F]) -> dict[str, F]:
    """Empty families of the common series and of `kinds`, in the order they are exported:
    the families of kinds that ask to lead (blackbox_exporter's names, as blackbox orders them),
    then the common ones, then the other kinds' own. `make(name, doc, labels=...)` makes each."""
    common = {name: make(name, doc, labels=TARGET_LABELS + extra) for name, doc, extra in COMMON}
    own = [(f.name, make(f.name, f.doc, labels=TARGET_LABELS + list(f.labels))) for k in kinds for f in k.families]
    first = {f.name for k in kinds if k.families_first for f in k.families}
    return ({name: f for name, f in own if name in first} | common | {name: f for name, f in own if name not in first})


# (family name, label names) -> how to pick the label values in the order they are written
# (sorted by name) and the line's text before the value with a %s per label value: made once
# per family, not once per sample
_TEMPLATES: dict[tuple[str, tuple[str, ...]], tuple[Callable[[Sequence[str]], tuple[str, ...]], str]] = {}

# The numbers most samples carry (state flags, counts, status codes), formatted once as
# floatToGoString formats them.
_NUMBERS = {float(n): floatToGoString(n) for n in range(1000)}


# kind name -> (the kind, its empty families in export order): made once per kind
_LAYOUTS: dict[str, tuple[Kind, list[tuple[str, _TargetLines]]]] = {}


def _picker(order: Sequence[int]) -> Callable[[Sequence[str]], tuple[str, ...]]:
    """The values at `order` as a tuple (itemgetter returns a bare value for one index)."""
    if len(order) > 1:
        return operator.itemgetter(*order)
    return lambda labels: tuple(labels[i] for i in order)


class _TargetLines:
    """One family of one target's exposition, for `ResultText`: takes `add_metric` as
    GaugeMetricFamily does and writes the lines `_samples` writes for it (label names sorted,
    values escaped, numbers as prometheus_client formats them), without a Sample object and a
    sort per sample: a fifth of the daemon's time went into rendering targets' lines."""

    __slots__ = ("_rows", "_template")

    def __init__(self, name: str, _doc: str, labels: Sequence[str]) -> None:
        key = (name, tuple(labels))
        template = _TEMPLATES.get(key)
        if template is None:
            order = sorted(range(len(labels)), key=labels.__getitem__)
            text = ",".join(f'{labels[i]}="%s"' for i in order)
            template = _TEMPLATES[key] = (_picker(order), f"{name}{{{text}}} " if labels else f"{name} ")
        self._template = template
        self._rows: list[tuple[Sequence[str], float]] = []

    def empty(self) -> _TargetLines:
        """A family like this one, without samples (the template shared)."""
        other = _TargetLines.__new__(_TargetLines)
        other._template, other._rows = self._template, []
        return other

    def add_metric(self, labels: Sequence[str], value: float) -> None:
        self._rows.append((labels, value))

    def lines(self) -> str:
        pick, text = self._template
        numbers = _NUMBERS
        out = []
        for labels, value in self._rows:
            values = pick(labels)
            joined = "".join(values)  # one test for all of them: most values need no escaping
            if "\\" in joined or "\n" in joined or '"' in joined:
                values = tuple(map(_label, values))
            number = numbers.get(value)
            if number is None or (not value and math.copysign(1.0, value) < 0):  # -0.0 is written "-0.0"
                number = floatToGoString(value)
            out.append(f"{text % values}{number}\n")
        return "".join(out)


def _export_target(out: Families, target: ResolvedService, kind: Kind, item: LatestState) -> None:
    result = item.result
    base = [target.id, target.service.category, result.url]
    name = kind.name
    for state in State:
        out["egov_check_state"].add_metric(base + [name, state.value], 1.0 if result.state is state else 0.0)
    out["egov_check_reason_info"].add_metric(base + [name, result.reason.value], 1.0)
    out["egov_check_last_run_timestamp_seconds"].add_metric(base + [name], result.started_at.timestamp())
    out["egov_check_state_since_timestamp_seconds"].add_metric(base + [name], item.since.timestamp())
    out["egov_check_interval_seconds"].add_metric(base + [name], target.checks[name].interval)
    kind.export(out, base, result)


class ResultCollector(Collector):
    """Exports the latest result of every catalog target."""

    def __init__(self, latest: Store | Callable[[], list[LatestState]], config: Callable[[], Config]) -> None:
        """`latest`: a LatestCache, or a store (read at each scrape)."""
        self._latest = latest if callable(latest) else StoreSnapshot(latest)
        self._config = config
        self._targets_for: Config | None = None
        self._targets: dict[tuple[str, str, str], tuple[ResolvedService, str, float]] = {}
        self._scheduled_at: dict[tuple[str, str, str], float] = {}
        self._deps: tuple[Config, Dependencies] | None = None

    def _configured(self, config: Config) -> dict[tuple[str, str, str], tuple[ResolvedService, str, float]]:
        """Every target the catalog schedules, and when each was first seen in a catalog (start, reload)."""
        if self._targets_for is not config:
            now = config.loaded_at
            targets = {}
            for svc in config.services.values():
                for name, settings in svc.checks.items():
                    kind = config.kinds.get(name)
                    if kind is None:
                        continue
                    for url in kind.check.urls(svc.urls, settings):
                        targets[(svc.id, name, url)] = (svc, name, settings.interval)
            self._scheduled_at = {key: self._scheduled_at.get(key, now) for key in targets}
            self._targets, self._targets_for = targets, config
        return self._targets

    def _missing(self, config: Config, seen: Iterable[tuple[str, str, str]]
                 ) -> list[tuple[tuple[str, str, str], list[str], float, float]]:
        """Targets the catalog schedules that have no result at all yet: labels, scheduled at, interval."""
        targets = self._configured(config)
        out = []
        for key in sorted(targets.keys() - set(seen)):
            svc, name, every = targets[key]
            out.append((key, [svc.id, svc.service.category, key[2], name], self._scheduled_at[key], every))
        return out

    def describe(self) -> Iterable[Metric]:
        return []  # collected dynamically; skip the registration-time collect

    def _current(self, config: Config) -> Iterator[tuple[ResolvedService, Kind, LatestState]]:
        """The newest result of each target the catalog runs now (a removed one is not exported)."""
        targets, kinds = self._configured(config), config.kinds
        for item in self._latest():
            result: CheckResult = item.result
            found = targets.get((result.service_id, str(result.kind), result.url))
            if found is not None:
                yield found[0], kinds[found[1]], item

    @staticmethod
    def _used(config: Config) -> list[Kind]:
        used = {k for svc in config.services.values() for k in svc.checks}  # a kind no service uses exports nothing
        return [kind for kind in config.kinds if kind.name in used]

    def collect(self) -> Iterable[Metric]:
        config = self._config()
        used = self._used(config)
        families, sparse = _target_families(used, GaugeMetricFamily), _sparse(used)
        seen = []
        for target, kind, item in self._current(config):
            _export_target(families, target, kind, item)
            seen.append((target.id, kind.name, item.result.url))
        scheduled = GaugeMetricFamily(*SCHEDULED, labels=[*TARGET_LABELS, "kind"])
        for _key, labels, at, every in self._missing(config, seen):
            scheduled.add_metric(labels, at)
            families["egov_check_interval_seconds"].add_metric(labels, every)
        yield from (f for name, f in families.items() if f.samples or name not in sparse)
        if scheduled.samples:
            yield scheduled
        yield from _service_families(config)
        yield from _dependency_families(config, self._dependencies(config), self._latest(), time.time())

    def _dependencies(self, config: Config) -> Dependencies:
        if self._deps is None or self._deps[0] is not config:
            self._deps = (config, Dependencies.of(config))
        return self._deps[1]


class ResultText(ResultCollector):
    """The same exposition as `ResultCollector`, rendered per target when its result changes
    (`update`, called as batches commit; or at the scrape for whatever is not rendered yet)
    and joined at scrape time: a scrape of 10 000 targets formats nothing but what a reload
    relabelled. The daemon serves `text()` beside its registry."""

    def __init__(self, latest: Callable[[], list[LatestState]], config: Callable[[], Config]) -> None:
        super().__init__(latest, config)
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str, str], _Rendered] = {}
        self._families_for: tuple[Config, dict[str, Metric], set[str]] | None = None
        self._catalog_for: Config | None = None
        self._catalog_static = ""
        self._catalog_windowed: list[ResolvedService] = []
    def _never_ran(self, config: Config, seen: Iterable[tuple[str, str, str]]) -> tuple[str, str]:
        """Lines for targets that have no result at all yet: when they were scheduled, their interval."""
        scheduled, interval = [], []
        for _key, labels, at, every in self._missing(config, seen):
            text = ",".join(f'{name}="{_label(value)}"' for name, value in
                            sorted(zip([*TARGET_LABELS, "kind"], labels, strict=True)))
            scheduled.append(f"egov_check_scheduled_timestamp_seconds{{{text}}} {floatToGoString(at)}\n")
            interval.append(f"egov_check_interval_seconds{{{text}}} {floatToGoString(every)}\n")
        return "".join(scheduled), "".join(interval)

    def update(self, items: Iterable[LatestState]) -> None:
        """Render these targets now (their results just committed)."""
        config = self._config()
        with self._lock:
            targets, kinds = self._configured(config), config.kinds
            for item in items:
                result = item.result
                key = (result.service_id, str(result.kind), result.url)
                found = targets.get(key)
                if found is not None:
                    self._cache[key] = _rendered(found[0], kinds[found[1]], item)

    def text(self) -> bytes:
        return "".join(self.pieces()).encode()

    def pieces(self) -> list[str]:
        """The exposition in pieces, in order: the rendered lines as cached, never joined here.
        A scrape writes them out a few hundred kilobytes at a time (`monitor.process`), so
        serving 10,000 targets (27 MB) no longer holds three more copies of it at once."""
        config = self._config()
        with self._lock:  # one scrape renders at a time; the others wait and find it cached
            if self._families_for is None or self._families_for[0] is not config:
                used = self._used(config)
                self._families_for = (config, _target_families(used, GaugeMetricFamily), _sparse(used))
            order, sparse = self._families_for[1], self._families_for[2]
            chunks: dict[str, list[str]] = {name: [] for name in order}
            targets, kinds, cache = self._configured(config), config.kinds, self._cache
            fresh: dict[tuple[str, str, str], _Rendered] = {}
            for item in self._latest():  # as `_current`, inlined: this loop runs for every target at every scrape
                result = item.result
                key = (result.service_id, result.kind, result.url)
                found = targets.get(key)
                if found is None:
                    continue  # not in the catalog now
                hit = cache.get(key)
                if hit is None or hit.item is not item or hit.target is not found[0]:
                    # a result not rendered yet, or a reload since: rendered again only if what
                    # the lines show changed (`_stamp`), else the lines kept for the new objects
                    target, kind = found[0], kinds[found[1]]
                    stamp = _stamp(target, kind, item)
                    hit = _rendered(target, kind, item) if hit is None or hit.stamp != stamp else \
                        _Rendered(stamp, hit.lines, item, target)
                fresh[key] = hit
                for name, lines in hit.lines:
                    chunks[name].append(lines)
            self._cache = fresh
            scheduled, intervals = self._never_ran(config, fresh)
            chunks["egov_check_interval_seconds"].append(intervals)
        out: list[str] = []
        for name, family in order.items():
            if name not in sparse or any(chunks[name]):
                out.append(_header(family))
                out.extend(chunks[name])
        if scheduled:
            out += [_header(GaugeMetricFamily(*SCHEDULED)), scheduled]
        out.append(self._catalog_text(config))
        deps = self._dependencies(config)
        if deps.bases:
            out.extend(_header(f) + _samples(f) for f in _dependency_families(config, deps, self._latest(), time.time()))
        return out

    def _catalog_text(self, config: Config) -> str:
        """The per-service families: rendered once per catalog, but the maintenance gauge of a
        service with windows, which depends on the time."""
        if self._catalog_for is not config:
            windowed = [svc for svc in config.services.values() if svc.service.maintenance]
            info, target, maintenance = _service_families(config)
            quiet = [svc for svc in config.services.values() if not svc.service.maintenance]
            static = _service_families(config, quiet, maintenance_only=True)[0]
            self._catalog_static = (_header(info) + _samples(info) + _header(target) + _samples(target)
                                    + _header(maintenance) + _samples(static))
            self._catalog_windowed, self._catalog_for = windowed, config
        live = _service_families(config, self._catalog_windowed, maintenance_only=True)[0]
        return self._catalog_static + _samples(live)


def _stamp(target: ResolvedService, kind: Kind, item: LatestState) -> tuple[Any, ...]:
    """What a target's exposition lines depend on (`_export_target`): its result, and of the
    catalog its category and interval. Rendered lines stay valid across a reload while this
    does not change, so a reload re-renders only the targets it changed."""
    return item.result_id, item.result.started_at, item.since, target.service.category, target.checks[kind.name].interval


class _Rendered(NamedTuple):
    """A target's exposition lines (family name, lines) as of `stamp`; `item` and `target`: the
    objects rendered (or last found to show the same): while both are the ones a scrape finds,
    the lines are current without computing the stamp again."""

    stamp: tuple[Any, ...]
    lines: tuple[tuple[str, str], ...]
    item: LatestState
    target: ResolvedService


def _rendered(target: ResolvedService, kind: Kind, item: LatestState) -> _Rendered:
    """One target's exposition lines by family, stamped with what they show."""
    layout = _LAYOUTS.get(kind.name)
    if layout is None or layout[0] is not kind:
        layout = _LAYOUTS[kind.name] = (kind, list(_target_families([kind], _TargetLines).items()))
    families = {name: f.empty() for name, f in layout[1]}
    _export_target(families, target, kind, item)
    return _Rendered(_stamp(target, kind, item), tuple((name, f.lines()) for name, f in families.items() if f._rows),
                     item, target)


def _header(family: Metric) -> str:
    doc = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {family.name} {doc}\n# TYPE {family.name} {family.type}\n"


def _label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')


def _samples(family: Metric) -> str:
    """The samples as prometheus_client writes them (label names sorted)."""
    return "".join(
        f"{s.name}{{{','.join(f'{k}=\"{_label(v)}\"' for k, v in sorted(s.labels.items()))}}} "
        f"{floatToGoString(s.value)}\n" if s.labels else f"{s.name} {floatToGoString(s.value)}\n"
        for s in family.samples)


class BrowserPoolCollector(Collector):
    """Health of this process's browser pool: sessions started, recycled, killed, pages."""

    def __init__(self, holder: PoolHolder) -> None:
        self._holder = holder

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        pool = self._holder.current()
        stats = pool.stats if pool is not None else PoolStats()
        for name, doc, value in (
            ("egov_browser_sessions_started", "Browser sessions started", stats.started),
            ("egov_browser_sessions_recycled", "Browser sessions retired after their page quota or a reload",
             stats.recycled),
            ("egov_browser_sessions_killed", "Browser sessions killed by the watchdog or after an error", stats.killed),
            ("egov_browser_session_start_failures", "Browser sessions that could not be started", stats.start_failures),
            ("egov_browser_pages", "Pages handed to browser sessions", stats.pages),
        ):
            family = CounterMetricFamily(name, doc)
            family.add_metric([], float(value))
            yield family
        live = GaugeMetricFamily("egov_browser_sessions", "Browser sessions alive now (idle or in use)")
        live.add_metric([], float(pool.live_sessions() if pool is not None else 0))
        yield live
        sandboxed, _why = self._holder.settings().sandboxed()
        if sandboxed is not None:  # a remote end's sandbox is the grid's business
            gauge = GaugeMetricFamily("egov_browser_sandboxed", "Whether this process's Chromium runs with its sandbox")
            gauge.add_metric([], 1.0 if sandboxed else 0.0)
            yield gauge


class CheckRunMetrics:
    """What every process that runs checks exports: runs by state, internal errors."""

    def __init__(self, registry: CollectorRegistry, kinds: Sequence[str]) -> None:
        self.registry = registry
        self.kinds = list(kinds)  # the process's kind names: their series exist from the start
        self.runs = Counter("egov_check_runs", "Check runs finished, by kind and resulting state",
                            ["kind", "state"], registry=registry)
        self.errors = Counter("egov_check_errors", "Internal errors while running, storing or scheduling a check",
                              ["kind", "stage"], registry=registry)
        Info("egov_build", "Version of egov-monitor", registry=registry).info({"version": __version__})
        for kind in self.kinds:
            self.runs.labels(kind, "up")  # export zeros from the start so rate() works at once
            self.errors.labels(kind, "check")
            self.errors.labels(kind, "store")

    def observe(self, result: CheckResult) -> None:
        if result.service_id.startswith("_"):
            return
        self.runs.labels(str(result.kind), result.state.value).inc()

    def error(self, kind: str, stage: str) -> None:
        self.errors.labels(kind, stage).inc()


class _OptionalGauge(Collector):
    """A gauge that is absent until it is first set (an unset 0 would look like an ancient timestamp)."""

    def __init__(self, name: str, doc: str, registry: CollectorRegistry) -> None:
        self.name, self.doc = name, doc
        self.value: float | None = None
        registry.register(self)

    def set(self, value: float | None) -> None:
        self.value = value

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        if self.value is not None:
            family = GaugeMetricFamily(self.name, self.doc)
            family.add_metric([], self.value)
            yield family


class DaemonMetrics(CheckRunMetrics):
    """The daemon's (or scheduler's) own health, in its own registry (never the global one)."""

    def __init__(self, registry: CollectorRegistry, kinds: Sequence[str], *, scheduler: bool = False) -> None:
        super().__init__(registry, kinds)
        self.missed = Counter("egov_scheduler_missed_runs", "Scheduled runs skipped because the previous one "
                              "was still running or the run was too late", ["kind"], registry=registry)
        self.lag = Histogram("egov_scheduler_lag_seconds", "Delay between a run's scheduled time and its start",
                             ["kind"], registry=registry,
                             buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300))
        self.heartbeat = _OptionalGauge("egov_monitor_heartbeat_timestamp_seconds",
                                        "Last heartbeat the daemon wrote to the store", registry)
        self.reload_ok = Gauge("egov_config_last_reload_successful", "Whether the last configuration (re)load succeeded",
                               registry=registry)
        self.reload_ts = Gauge("egov_config_last_reload_success_timestamp_seconds",
                               "When the configuration was last loaded successfully", registry=registry)
        self.targets = Gauge("egov_scheduled_targets", "Check targets currently scheduled", ["kind"], registry=registry)
        self.in_flight = Gauge("egov_checks_in_flight", "Check runs under way in this process (the watchdog ends "
                               "any still open after its worst case plus a margin)", registry=registry)
        # Absent until a canary round: a plain gauge said 0 (network down) from the start on a
        # monitor without canaries, and EgovMonitorNetworkDown paged five minutes later.
        self.network = _OptionalGauge("egov_monitor_network_up", "Whether the last canary round found the monitor's "
                                      "network working (1), failing (0); absent without canaries", registry)
        self.canary = Gauge("egov_canary_up", "Whether a canary answered in the last round", ["url"], registry=registry)
        self.canary_ts = _OptionalGauge("egov_canary_last_round_timestamp_seconds", "When the last canary round started",
                                        registry)
        for kind in self.kinds:
            self.missed.labels(kind)
        if scheduler:
            self.leader = Gauge("egov_scheduler_leader", "Whether this scheduler holds the scheduling lease (1) "
                                "or stands by (0)", registry=registry)
            self.enqueued = Counter("egov_scheduler_enqueued", "Check jobs put on the task queue, by kind", ["kind"],
                                    registry=registry)
            self.queue_messages = Gauge("egov_queue_messages", "Messages waiting in the task queue (incl. retries)",
                                        ["queue"], registry=registry)
            self.location_workers = Gauge(
                "egov_location_workers", "Workers of a worker location (started with --location) that announced "
                "themselves within the redelivery time; 0: its runs get no vote from there", ["location"],
                registry=registry)
            self.votes_missing = Counter(
                "egov_location_votes_missing", "Located runs combined at their due time without this location's "
                "vote (no worker of it took the job in time)", ["location"], registry=registry)
            for kind in self.kinds:
                self.enqueued.labels(kind)
                self.errors.labels(kind, "enqueue")

    def canaries_removed(self) -> None:
        """The canaries' series end with them (a reload replaced or removed the canaries)."""
        self.network.set(None)
        self.canary_ts.set(None)
        self.canary.clear()

    def canary_round(self, verdict: CanaryVerdict) -> None:
        self.network.set(1.0 if verdict.network_ok else 0.0)
        self.canary_ts.set(verdict.checked_at)
        for r in verdict.results:
            self.canary.labels(r.url).set(1.0 if r.ok else 0.0)

    def beat(self) -> None:
        self.heartbeat.set(time.time())


class WorkerMetrics(CheckRunMetrics):
    """A worker's own health: what it ran, how long jobs waited, what it skipped."""

    def __init__(self, registry: CollectorRegistry, kinds: Sequence[str], queues: Iterable[str]) -> None:
        super().__init__(registry, kinds)
        self.in_progress = Gauge("egov_worker_jobs_in_progress", "Check jobs running now", ["queue"], registry=registry)
        self.wait = Histogram("egov_queue_wait_seconds", "Delay between a job's scheduled time and its start on a worker",
                              ["kind"], registry=registry, buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900))
        self.skipped = Counter("egov_worker_jobs_skipped", "Jobs not run: already stored (delivered twice) or invalid",
                               ["reason"], registry=registry)
        for queue in queues:
            self.in_progress.labels(queue)
        for reason in ("already_stored", "invalid"):
            self.skipped.labels(reason)
