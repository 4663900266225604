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

from checks.availability import AvailabilitySettings
from checks.availability import run as probe_availability
from checks.kind import CheckContext
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


class CheckRunner:
    """Run a check, apply monitor-side policy, store the result, report it to metrics."""

    def __init__(self, store, canaries: CanaryGuard, tz, on_result: Callable[[CheckResult], None] | None = None,
                 on_error: Callable[[str, str], None] | None = None, context: CheckContext | None = None) -> None:
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

    def execute(self, service: ResolvedService, kind: str, url: str, settings: CheckSettings) -> CheckResult:
        """Run one check against one URL and apply canary and maintenance policy (no store)."""
        from monitor.kinds import REGISTRY

        impl = REGISTRY[kind].check
        started = datetime.now(UTC)
        try:
            result = impl.run(impl.target(service.id, url, service.urls), settings, self.context)
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
        from monitor.kinds import REGISTRY

        impl = REGISTRY[kind].check
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

        def ended(outcome: CheckResult | Exception) -> None:
            if isinstance(outcome, CheckResult) and outcome.state is State.DOWN and self.canaries.configured:
                self._slow.submit(conclude, outcome)  # the canary round may probe and wait
            else:
                conclude(outcome)

        try:
            impl.start(impl.target(service.id, url, service.urls), settings, self.context, ended)
        except Exception as exc:
            ended(exc)
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
        evidence = dict(result.to_dict()["evidence"])
        if any(w.active_at(result.started_at, self.tz) for w in service.service.maintenance):
            evidence["in_maintenance"] = True
        if result.state is State.DOWN:
            verdict = self.canaries.verdict_since(result.started_at.timestamp())
            if verdict is not None:
                evidence["canaries"] = [{"url": r.url, "state": r.state.value, "reason": r.reason.value}
                                        for r in verdict.results]
                if not verdict.network_ok:
                    evidence["service_reason"] = result.reason.value
                    result = result.replace(state=State.UNKNOWN, reason=Reason.MONITOR_NETWORK)
        return result.replace(evidence=evidence)

    def run(self, service: ResolvedService, kind: str, url: str, settings: CheckSettings,
            run_key: str | None = None) -> CheckResult:
        """`execute`, then store the result and hand it to the metrics."""
        result = self.execute(service, kind, url, settings)
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
