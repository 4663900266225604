"""Runs one check and hands its result on: the only place between a check and the store.

It adds what a check cannot know on its own: whether the monitor's own network was
working (canaries), whether a maintenance window was declared, and it turns an exception
inside a check into an `unknown` result instead of a lost run.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from checks.availability import AvailabilitySettings
from checks.availability import run as probe_availability
from checks.context import CheckContext
from checks.kind import Registry
from checks.proxy import Proxy
from checks.result import CheckResult, Reason, State, Target
from checks.settings import CheckSettings
from monitor.config import CanarySettings, ResolvedService

log = logging.getLogger(__name__)

CANARY_SERVICE_ID = "_canary"  # catalog ids cannot start with "_", so this never collides


@dataclasses.dataclass(frozen=True, slots=True)
class CanaryVerdict:
    checked_at: float  # wall-clock start of the canary round
    results: tuple[CheckResult, ...]
    network_ok: bool


class CanaryGuard:
    """Tells a monitor-side network failure from a service outage.

    When a service fails, the guard makes sure the canaries were probed after that failure
    began; concurrent failures share one canary round. If enough canaries fail too, the
    monitor's network is blamed and the service result becomes `unknown`.
    """

    def __init__(self, settings: CanarySettings, proxy: Proxy | None = None) -> None:
        self.settings = settings
        self.proxy = proxy  # the canaries take the checks' way out: through the same proxy
        self._lock = threading.Lock()
        self._last: CanaryVerdict | None = None
        self._probe_settings = AvailabilitySettings(
            timeout=settings.timeout, retries=0, interval=max(settings.interval, settings.timeout + 1),
            valid_status_codes=["100-499"],  # any HTTP answer proves the network works
            ca_file=settings.ca_file, max_body_bytes=1024 * 1024,
        )

    @property
    def configured(self) -> bool:
        return bool(self.settings.urls)

    @property
    def last(self) -> CanaryVerdict | None:
        return self._last

    def probe(self) -> CanaryVerdict:
        """Probe every canary now, in parallel."""
        started = time.time()
        urls = [str(u) for u in self.settings.urls]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(urls)), thread_name_prefix="canary") as pool:
            ctx = CheckContext(proxy=self.proxy)
            results = tuple(pool.map(lambda u: probe_availability(Target(CANARY_SERVICE_ID, u), self._probe_settings, ctx),
                                     urls))
        failing = sum(1 for r in results if not r.ok)
        needed = self.settings.min_failing or len(results)
        verdict = CanaryVerdict(started, results, network_ok=not results or failing < needed)
        self._last = verdict
        return verdict

    def verdict_since(self, not_before: float) -> CanaryVerdict | None:
        """A canary verdict from a round started at or after `not_before` (probing if needed)."""
        if not self.configured:
            return None
        with self._lock:
            last = self._last
            if last is not None and last.checked_at >= not_before:
                return last
            return self.probe()


class RunnerStopped(Exception):
    """The runner's process stops (`cut_short` ran): no run starts any more."""


@dataclasses.dataclass(slots=True, eq=False)
class _OpenRun:
    """A run under way, for the watchdog: it ends with `unknown` if no result comes in time."""

    service: ResolvedService
    kind: str
    url: str
    started: datetime
    budget: float  # seconds the run may take before the watchdog ends it
    deadline: float  # monotonic
    conclude: Callable[[CheckResult], None] | None  # a run started without a waiting thread; None: `run`
    closed: bool = False


# The watchdog's margin beyond what a run may take (its worst case, retries and waits included):
# a run still open then is ended as unknown/internal_error, so every target keeps a current state.
WATCHDOG_MARGIN = 30.0


class CheckRunner:
    """Run a check, apply monitor-side policy, store the result, report it to metrics.

    Every run is registered until its result is in; `sweep()` (the process calls it every few
    seconds, see `watch`) ends a run still open after its worst case plus WATCHDOG_MARGIN with
    `unknown/internal_error`, and a result that arrives after that is dropped (logged): a
    target whose check hangs in a way nothing else catches still gets a current state.
    """

    def __init__(self, kinds: Registry[Any], store, canaries: CanaryGuard, tz, on_result: Callable[[CheckResult], None] | None = None,
                 on_error: Callable[[str, str], None] | None = None, context: CheckContext | None = None,
                 attribution: Callable[[CheckResult], dict[str, Any] | None] | None = None) -> None:
        self.kinds = kinds
        self.attribution = attribution  # a failed result's cause among the base services (monitor.dependencies)
        self.store = store
        self.context = context or CheckContext()
        self.canaries = canaries
        self.tz = tz
        self._on_result = on_result or (lambda _r: None)
        self._on_error = on_error or (lambda _kind, _what: None)
        self.max_in_flight = 64  # runs under way through `start` (the daemon sets its http pool's size)
        self._in_flight = 0
        self._idle = threading.Condition()
        self._slow = concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="runner-canary")
        self._open: set[_OpenRun] = set()
        self._open_lock = threading.Lock()
        self._stopped = False  # set by cut_short: the process stops, no run starts any more
        self._watching: threading.Event | None = None

    # ------------------------------------------------------------------ the watchdog

    def open(self, service: ResolvedService, kind: str, url: str, settings: CheckSettings,
             conclude: Callable[[CheckResult], None]) -> _OpenRun:
        """Register a run the caller executes and stores itself (a distributed worker: its result
        goes in under the job's run key); `conclude(result)` is how the watchdog's unknown result
        is stored if the run is still open at its deadline. `close(entry)` when it ended."""
        return self._register(service, kind, url, settings, datetime.now(UTC), conclude)

    def close(self, entry: _OpenRun) -> bool:
        """The run ended; False when the watchdog or the shutdown ended it first (drop its result)."""
        return self._close(entry)

    def _register(self, service: ResolvedService, kind: str, url: str, settings: CheckSettings, started: datetime,
                  conclude: Callable[[CheckResult], None] | None) -> _OpenRun:
        budget = settings.worst_case_seconds() + self.context_wait(settings) + WATCHDOG_MARGIN
        entry = _OpenRun(service, kind, url, started, budget, time.monotonic() + budget, conclude)
        with self._open_lock:
            if self._stopped:  # a job the scheduler handed over just before it stopped
                raise RunnerStopped
            self._open.add(entry)
        return entry

    @staticmethod
    def context_wait(settings: CheckSettings) -> float:
        """What a run may wait beyond its own worst case: a browser session from the pool (as long
        as its timeout again)."""
        return settings.timeout

    def _close(self, entry: _OpenRun) -> bool:
        """Mark the run finished; False if it was finished already (by the watchdog)."""
        with self._open_lock:
            if entry.closed:
                return False
            entry.closed = True
            self._open.discard(entry)
            return True

    def open_runs(self) -> int:
        with self._open_lock:
            return len(self._open)

    def sweep(self, now: float | None = None) -> list[CheckResult]:
        """End every run past its deadline as unknown/internal_error; returns the results recorded."""
        now = time.monotonic() if now is None else now
        with self._open_lock:
            overdue = [e for e in self._open if e.deadline <= now]
        ended = []
        for entry in overdue:
            if not self._close(entry):
                continue
            log.error("check %s for %s %s: no result after %.0f s, ended by the watchdog", entry.kind,
                      entry.service.id, entry.url[:200], entry.budget)
            self._on_error(str(entry.kind), "watchdog")
            result = CheckResult(
                entry.service.id, entry.url, entry.kind, State.UNKNOWN, Reason.INTERNAL_ERROR, entry.started,
                round((datetime.now(UTC) - entry.started).total_seconds(), 6),
                evidence={"detail": f"kein Ergebnis nach {entry.budget:.0f} s: Prüfung vom Wächter beendet "
                                    "(interner Fehler; der Lauf hing)", "watchdog": True})
            if entry.conclude is not None:
                entry.conclude(result)
            else:
                self.record(self._policy(entry.service, result))
            ended.append(result)
        return ended

    def cut_short(self) -> int:
        """End every open run as unknown/monitor_stopped (the process stops); returns how many."""
        with self._open_lock:
            self._stopped = True  # a run starting after this would end after the writer closed: none starts
            entries = list(self._open)
        n = 0
        for entry in entries:
            if not self._close(entry):
                continue
            n += 1
            result = CheckResult(
                entry.service.id, entry.url, entry.kind, State.UNKNOWN, Reason.MONITOR_STOPPED, entry.started,
                round((datetime.now(UTC) - entry.started).total_seconds(), 6),
                evidence={"detail": "der Monitor wurde während der Prüfung beendet; kein Ergebnis"})
            if entry.conclude is not None:
                entry.conclude(result)
            else:
                self.record(result)
        return n

    def watch(self, period: float = 5.0) -> None:
        """Sweep every `period` seconds on a thread of its own until `unwatch`."""
        if self._watching is not None:
            return
        stop = self._watching = threading.Event()

        def loop() -> None:
            while not stop.wait(period):
                try:
                    self.sweep()
                except Exception:
                    log.exception("watchdog sweep failed")

        threading.Thread(target=loop, name="runner-watchdog", daemon=True).start()

    def unwatch(self) -> None:
        if self._watching is not None:
            self._watching.set()
            self._watching = None

    def execute(self, service: ResolvedService, kind: str, url: str, settings: CheckSettings,
                context: CheckContext | None = None) -> CheckResult:
        """Run one check against one URL and apply canary and maintenance policy (no store);
        `context`: instead of the runner's (a location's proxy)."""
        impl = self.kinds[kind].check
        started = datetime.now(UTC)
        try:
            result = impl.run(impl.target(service.id, url, service.urls), settings, context or self.context)
        except Exception as exc:
            result = self._failed(service, kind, url, started, exc)
        return self._policy(service, result)

    def start(self, service: ResolvedService, kind: str, url: str, settings: CheckSettings,
              done: Callable[[CheckResult], None] = lambda _r: None) -> bool:
        """`run` without a waiting thread, for a kind that can (its `start`): returns False when
        it cannot or `max_in_flight` runs are under way (then call `run`). The result is stored
        and reported as `run` does, then `done(result)`, on the prober's thread: so only with a
        store whose `record` returns at once (the daemon's writer). A `down` result whose canary
        verdict may have to be probed takes a thread of the runner's own for that."""
        impl = self.kinds[kind].check
        if impl.start is None:
            return False
        with self._idle:
            if self._in_flight >= self.max_in_flight:
                return False
            self._in_flight += 1
        started = datetime.now(UTC)

        def conclude(outcome: CheckResult | Exception) -> None:
            try:
                result = outcome if isinstance(outcome, CheckResult) else self._failed(service, kind, url, started, outcome)
                result = self._policy(service, result)
                self.record(result)
                done(result)
            finally:
                with self._idle:
                    self._in_flight -= 1
                    self._idle.notify_all()

        try:
            entry = self._register(service, kind, url, settings, started, conclude)
        except RunnerStopped:  # not started: nothing was asked of the target, nothing is lost
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()
            return True

        def ended(outcome: CheckResult | Exception) -> None:
            if not self._close(entry):
                log.warning("late result of %s for %s dropped: the run had been ended (watchdog or shutdown)", kind,
                        service.id)
                return
            if isinstance(outcome, CheckResult) and outcome.state is State.DOWN and self.canaries.configured:
                self._slow.submit(conclude, outcome)  # the canary round may probe and wait
            else:
                conclude(outcome)

        try:
            impl.start(impl.target(service.id, url, service.urls), settings, self.context, ended)
        except Exception as exc:
            ended(exc)
        return True

    def wait_open(self, timeout: float) -> bool:
        """Wait until no run at all is open (those on pool threads too), at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.open_runs():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no run started with `start` is under way (at most `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)
            return not self._in_flight

    def _failed(self, service: ResolvedService, kind: str, url: str, started: datetime, exc: Exception) -> CheckResult:
        log.error("check %s failed internally for %s %s: %s", kind, service.id, url,
                  traceback.format_exception_only(exc)[-1].strip())
        self._on_error(str(kind), "check")
        return CheckResult(service.id, url, kind, State.UNKNOWN, Reason.INTERNAL_ERROR, started,
                           (datetime.now(UTC) - started).total_seconds(),
                           evidence={"detail": f"interner Fehler: {type(exc).__name__}"})

    def _policy(self, service: ResolvedService, result: CheckResult) -> CheckResult:
        """Maintenance and the canaries' verdict on a check's result."""
        original = result
        added: dict[str, Any] = {}  # facts for its evidence
        if any(w.active_at(result.started_at, self.tz) for w in service.service.maintenance):
            added["in_maintenance"] = True
        if result.state is State.DOWN:
            verdict = self.canaries.verdict_since(result.started_at.timestamp())
            if verdict is not None:
                added["canaries"] = [{"url": r.url, "state": r.state.value, "reason": r.reason.value}
                                     for r in verdict.results]
                if not verdict.network_ok:
                    added["service_reason"] = result.reason.value
                    result = result.replace(state=State.UNKNOWN, reason=Reason.MONITOR_NETWORK)
        if self.attribution is not None and result.state in (State.DOWN, State.DEGRADED):
            try:
                caused = self.attribution(result)
            except Exception as exc:  # the attribution adds a fact; it never costs the result
                log.error("attribution failed for %s %s: %s", result.kind, result.service_id,
                          traceback.format_exception_only(exc)[-1].strip())
                caused = None
            if caused is not None:
                added["caused_by"] = caused
        if result is original and not added:
            return result  # nothing to add (every probe that is up): no copy
        return result.replace(evidence={**result.evidence, **added})

    def run(self, service: ResolvedService, kind: str, url: str, settings: CheckSettings,
            run_key: str | None = None) -> CheckResult:
        """`execute`, then store the result and hand it to the metrics (unless the watchdog has
        ended the run meanwhile: then its result stands and this one is dropped)."""
        started = datetime.now(UTC)
        try:
            entry = self._register(service, kind, url, settings, started, None)
        except RunnerStopped:  # not started (the process stops): nothing to store
            return CheckResult(service.id, url, kind, State.UNKNOWN, Reason.MONITOR_STOPPED, started, 0.0,
                               evidence={"detail": "der Monitor wird beendet; die Prüfung wurde nicht mehr gestartet"})
        result = self.execute(service, kind, url, settings)
        if not self._close(entry):
            log.warning("late result of %s for %s dropped: the run had been ended (watchdog or shutdown)", kind,
                        service.id)
            return result
        self.record(result, run_key=run_key)
        return result

    def record(self, result: CheckResult, run_key: str | None = None) -> None:
        try:
            rid = self.store.record(result, run_key=run_key)
            log.debug("stored result id=%s service=%s kind=%s state=%s", rid, result.service_id, result.kind, result.state)
        except Exception as exc:
            log.error("could not store result for %s: %s", result.service_id, exc)
            self._on_error(str(result.kind), "store")
        self._on_result(result)
