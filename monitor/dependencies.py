"""Base services (Anlage 2) and the services that run on them: who depends on whom, which
hosts belong to which base service, and which failure a base service caused.

The rules (docs/report.md, "Zuordnung zu Basisdiensten"), the same live and in the report:

- A base service is **impaired** while its status kind (availability) says `down` on any of
  its URLs, or while one of its declared maintenance windows is active.
- A dependent's failure is **caused by** base service X when
  1. its failed part names X (a journey step with `base_service: X`), or a request of it that
     failed went to a host of X (X's own URLs, or `base_services:` in settings.yaml): basis
     `step` / `request`, whenever it happens; or
  2. the dependent declares `depends_on: [X]`, X was impaired when the failure began (with
     `attribution_tolerance` on either side, since the two are checked at different moments)
     and the kind cannot tell what its failure touched (one page's answer, which may come from
     X behind it): basis `overlap` (`maintenance` when X was in maintenance).
  A failure whose kind knows what it touched (a journey's failed step) and that touched no base
  service keeps its **own** cause even during X's outage; so does a failure that began before
  X's impairment (it was failing for its own reason already).
- Only direct dependencies count (one hop at a time): when X itself fails because of Y, X's
  dependents are attributed to X, X's outage to Y.
- In the report a dependent's outage that began inside an impairment of X has the seconds it
  shares with that impairment (widened by the tolerance) attributed to X, to the second; the
  rest of it is its own (a partial overlap is split): `monitor.report.timeline.attribute_outage`. Alerts: `egov_dependency_impaired` marks
  dependents whose alerts Alertmanager inhibits while X is impaired; a dependent already
  failing before X keeps its alerts (and its resolution notice).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from checks.kind import Implicated
from checks.result import CheckResult, Reason, State

if TYPE_CHECKING:
    from monitor.config import Config

log = logging.getLogger(__name__)
DEFAULT_PORTS = {"http": 80, "https": 443}
FAILING = ("down", "degraded")


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle of `graph` (service -> the services it depends on) as a path that ends where it
    begins, or None. Depth-first, in the order of the mapping."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def _host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url if "//" in url else "//" + url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None and parts.scheme in DEFAULT_PORTS:
        port = DEFAULT_PORTS[parts.scheme]
    return host, port


@dataclasses.dataclass(frozen=True, slots=True)
class Dependencies:
    """The catalog's dependency graph and the hosts of its base services."""

    bases: Mapping[str, tuple[str, ...]]  # dependent -> its base services (depends_on)
    hosts: tuple[tuple[str, int | None, str], ...]  # (host or *.suffix, port or any, base service)
    tolerance: float
    names: Mapping[str, str]  # service id -> name
    # the host:port of each service's own URLs: a base service's own URL host that a dependent
    # shares (one web server for both) says nothing about which of them failed
    own: Mapping[str, frozenset[tuple[str, int | None]]] = dataclasses.field(default_factory=dict)
    implicit: frozenset[tuple[str, int | None, str]] = frozenset()  # hosts taken from base services' URLs

    @classmethod
    def of(cls, config: Config) -> Dependencies:
        services = config.services
        bases = {sid: tuple(s.service.depends_on) for sid, s in services.items() if s.service.depends_on}
        named = {b for deps in bases.values() for b in deps} | set(config.settings.base_services)
        for svc in services.values():
            for settings in svc.checks.values():
                named |= {ref for _loc, ref in settings.service_refs()}
        hosts: list[tuple[str, int | None, str]] = []
        for base, entries in config.settings.base_services.items():
            for entry in entries:
                name, _, digits = entry.rpartition(":")
                if not (name and digits.isdigit()):
                    name, digits = entry, ""
                hosts.append((name.strip("[]"), int(digits) if digits else None, base))
        implicit = []
        for base in sorted(named):
            owner = services.get(base)
            for url in owner.urls if owner is not None else []:
                implicit.append((*_host_port(url), base))
        involved = set(bases) | named
        own = {sid: frozenset(_host_port(u) for u in services[sid].urls) for sid in involved if sid in services}
        return cls(bases, tuple(hosts + implicit), config.settings.attribution_tolerance,
                   {sid: s.service.name for sid, s in services.items()}, own, frozenset(implicit))

    def __bool__(self) -> bool:
        return bool(self.bases or self.hosts)

    @property
    def base_ids(self) -> set[str]:
        return {b for deps in self.bases.values() for b in deps} | {h[2] for h in self.hosts}

    def base_of_url(self, url: str, service: str | None = None) -> str | None:
        """The base service a URL's host belongs to, or None. For a request of `service`, a
        host of a base service's own URLs that is also one of the service's own says nothing
        (both on one web server); a host named in `base_services` always does."""
        host, port = _host_port(url)
        shared = service is not None and (host, port) in self.own.get(service, frozenset())
        for entry in self.hosts:
            pattern, want_port, base = entry
            if want_port is not None and port != want_port:
                continue
            if shared and entry in self.implicit:
                continue
            if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
                return base
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class Impairment:
    """A base service impaired now: down (since when) or in a maintenance window."""

    base: str
    state: str  # "down" or "maintenance"
    since: float | None


def impaired_bases(config: Config, deps: Dependencies, rows: Iterable[tuple[str, str, str, float]],
                   now: float) -> dict[str, Impairment]:
    """The base services impaired now, from the status kind's current rows (service id, URL,
    state, since) of the catalog's URLs."""
    kind = config.kinds.status_kind()
    wanted = deps.base_ids
    out: dict[str, Impairment] = {}
    moment = datetime.fromtimestamp(now, UTC)
    for base in wanted:
        svc = config.services.get(base)
        if svc is not None and any(w.active_at(moment, config.settings.tz) for w in svc.service.maintenance):
            out[base] = Impairment(base, "maintenance", None)
    for service_id, url, state, since in rows:
        if service_id not in wanted or service_id in out or state != "down":
            continue
        svc = config.services.get(service_id)
        if svc is None or kind not in svc.checks or url not in svc.urls:
            continue
        cur = out.get(service_id)
        out[service_id] = Impairment(service_id, "down", since if cur is None or cur.since is None else min(cur.since, since))
    return out


def failing_since(rows: Iterable[tuple[str, str, str, float]]) -> dict[str, float]:
    """Per service: since when its status kind has been failing (down or degraded) on some URL."""
    out: dict[str, float] = {}
    for service_id, _url, state, since in rows:
        if state in FAILING:
            out[service_id] = min(out.get(service_id, since), since)
    return out


def began_during(impairment: Impairment, began: float | None, tolerance: float) -> bool:
    """Whether a failure that began at `began` (None: not failing) falls in the impairment."""
    if began is None or impairment.since is None:
        return True
    return began >= impairment.since - tolerance


def live_impairments(config: Config, deps: Dependencies, rows: Sequence[tuple[str, str, str, float]],
                     now: float) -> list[tuple[str, Impairment, bool]]:
    """(dependent, impaired base, whether the dependent's alerts are to be inhibited): every
    declared dependency on a base service impaired now. A dependent already failing before the
    base's impairment began keeps its alerts."""
    impaired = impaired_bases(config, deps, rows, now)
    if not impaired:
        return []
    failing = failing_since(rows)
    out = []
    for dependent, bases in deps.bases.items():
        if dependent not in config.services:
            continue
        for base in bases:
            imp = impaired.get(base)
            if imp is not None:
                out.append((dependent, imp, began_during(imp, failing.get(dependent), deps.tolerance)))
    return out


def attribute(deps: Dependencies, result: CheckResult, implicated: Implicated, impaired: Mapping[str, Impairment],
              began: float | None) -> dict[str, Any] | None:
    """Why a failed result failed, as the runner stores it in the evidence (`caused_by`):
    {"base": X, "basis": step | request | overlap | maintenance, "url": ...}, {"base": None,
    "basis": "own"} for a dependent failing for its own reason while a base service it depends
    on is impaired, or None when there is nothing to say (not failed; no base service involved).
    `began`: since when the service has been failing (None: this result begins it)."""
    if result.state not in (State.DOWN, State.DEGRADED) or result.reason in (Reason.FINDINGS, Reason.MONITOR_NETWORK):
        return None
    own = result.service_id
    for base in implicated.bases:
        if base != own:
            return {"base": base, "basis": "step"}
    for url in implicated.urls:
        found = deps.base_of_url(url, own)
        if found is not None and found != own:
            return {"base": found, "basis": "request", "url": url[:300]}
    bases = [b for b in deps.bases.get(own, ()) if b in impaired]
    if not bases:
        return None
    if not implicated.complete:
        for base in bases:
            imp = impaired[base]
            if began_during(imp, began, deps.tolerance):
                return {"base": base, "basis": "maintenance" if imp.state == "maintenance" else "overlap"}
    return {"base": None, "basis": "own"}


def caused_by_text(caused: Mapping[str, Any] | None, names: Mapping[str, str]) -> str:
    """The German line the CLI and the report show for a stored attribution."""
    if not caused:
        return ""
    base = caused.get("base")
    if base is None:
        return "eigene Ursache (Basisdienste nicht beteiligt)"
    name = names.get(str(base), str(base))
    return {"step": f"verursacht durch Basisdienst {name} (Schritt nutzt ihn)",
            "request": f"verursacht durch Basisdienst {name} (Anfrage an {caused.get('url', '')} gescheitert)",
            "maintenance": f"verursacht durch Wartung des Basisdienstes {name}",
            }.get(str(caused.get("basis")), f"verursacht durch Basisdienst {name} (gleichzeitig gestört)")


Row = tuple[str, str, str, float]  # the status kind's current state of a URL: service id, URL, state, since


class Attributor:
    """The runner's attribution of a failed result (`caused_by` in its evidence): the base
    services impaired now, from the status kind's current rows, read at most every `reread`
    seconds (`rows` reads them: the daemon's in-memory latest rows, or the store)."""

    def __init__(self, config: Callable[[], Config], rows: Callable[[], list[Row]], reread: float = 2.0) -> None:
        self._config, self._read, self._reread = config, rows, reread
        self._deps: tuple[Config, Dependencies] | None = None
        self._rows: tuple[float, list[Row]] = (-math.inf, [])
        self._lock = threading.Lock()

    def dependencies(self, config: Config) -> Dependencies:
        cached = self._deps
        if cached is None or cached[0] is not config:
            cached = self._deps = (config, Dependencies.of(config))
        return cached[1]

    def rows(self) -> list[Row]:
        now = time.monotonic()
        with self._lock:
            if now - self._rows[0] >= self._reread:
                try:
                    self._rows = (now, self._read())
                except Exception as exc:  # the store may be down: attribute from the last good read
                    log.warning("current states not readable for the attribution: %s", " ".join(str(exc).split())[:200])
                    self._rows = (now, self._rows[1])
            return self._rows[1]

    def __call__(self, result: CheckResult) -> dict[str, Any] | None:
        if result.state not in (State.DOWN, State.DEGRADED):
            return None
        config = self._config()
        deps = self.dependencies(config)
        if not deps:
            return None
        records = config.kinds.records(result.kind)
        implicated = records.implicated(result) if records is not None else Implicated(urls=(result.url,))
        rows = self.rows()
        impaired = impaired_bases(config, deps, rows, time.time())
        began = failing_since(r for r in rows if r[0] == result.service_id).get(result.service_id)
        return attribute(deps, result, implicated, impaired, began)


def latest_rows(kind: str | None, latest: Callable[[], Iterable[Any]]) -> Callable[[], list[Row]]:
    """`Attributor` rows from `LatestState` items (the daemon's in-memory copy of the store)."""
    def read() -> list[Row]:
        if kind is None:
            return []
        return [(i.result.service_id, i.result.url, i.result.state.value, i.since.timestamp())
                for i in latest() if i.result.kind == kind]
    return read


def store_rows(kind: str | None, store: Any) -> Callable[[], list[Row]]:
    """`Attributor` rows from the store (a distributed worker, the CLI)."""
    def read() -> list[Row]:
        return [] if kind is None else [(sid, url, state, since) for sid, url, state, _at, since in store.current(kind)]
    return read
