"""Scheduling: one run per (service, check kind, URL) at its interval, and the embedded daemon that runs them.

The embedded daemon keeps every target's next run in one heap (monitor.timetable) with the
check's interval and jitter, coalescing runs it fell behind on, and at most one run of a
target at a time. A run that needs no thread (a libcurl probe) is started on the
timetable's own thread; any other runs on a bounded pool of its kind (`http`, `browser`), so
a hanging target only ever holds one thread for at most its timeout, and checks holding the
pool's threads never delay the probes. APScheduler runs the daemon's own jobs (heartbeat,
canaries, retention) and the distributed scheduler's. SIGHUP or POST /-/reload re-reads the
configuration and keeps the running one if the new one is invalid. SIGTERM lets running
checks finish, writes a final heartbeat and exits.

`Scheduling` is what the embedded daemon and the distributed mode's scheduler
(monitor.scheduler) share; each says in its own hooks how a due run is dispatched.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from checks.kind import Registry
from checks.settings import CheckSettings
from monitor import __version__
from monitor.config import Config, ConfigError, ConfigIssue, ResolvedService, load_config
from monitor.dependencies import Attributor, latest_rows
from monitor.incidents import IncidentBook, IncidentError
from monitor.metrics import DaemonMetrics, LatestCache, ResultText, StoreSnapshot
from monitor.process import (
    Process,
    close_http,
    metrics_handler,
    run_until_signalled,
    serve_http,
    settle_heap,
    trust_of,
)
from monitor.runner import CanaryGuard, CheckRunner
from monitor.statuspage import StatusSite
from monitor.store import LatestState
from monitor.timetable import Timetable
from monitor.writer import Item, ResultWriter

log = logging.getLogger("egov_monitor")

# SIGTERM: how long runs under way may still finish, then how long the writer may take to commit
# what is buffered. Together well inside systemd's and Kubernetes' grace times, and within 5 s
# for a store that answers (tests/test_hostile.py).
STOP_GRACE = 2.0
STOP_WRITE_GRACE = 10.0

_INTERNAL_JOBS = {"_heartbeat", "_canaries", "_retention", "_queue_sweep"}

__all__ = ["Daemon", "JobSpec", "Scheduling", "close_http", "job_specs", "metrics_handler", "run_until_signalled",
           "serve_http"]


@dataclasses.dataclass(frozen=True, slots=True)
class JobSpec:
    job_id: str
    service: ResolvedService
    kind: str
    url: str
    settings: CheckSettings

    def same_run(self, other: JobSpec) -> bool:
        """Whether `other` runs the same check on the same schedule: nothing that affects the
        schedule or the check changed (the settings compared field by field)."""
        return (self.kind, self.url) == (other.kind, other.url) and self.settings == other.settings


def job_specs(config: Config) -> dict[str, JobSpec]:
    """One job per (service, kind, URL); a service-wide kind runs once, keyed by the start page."""
    specs = {}
    for service in config.services.values():
        for kind, settings in service.checks.items():
            for url in config.kinds[kind].check.urls(service.urls, settings):
                job_id = f"{service.id}|{kind}|{url}"
                specs[job_id] = JobSpec(job_id, service, kind, url, settings)
    return specs


# Due runs are started together on a grid of this many seconds: one wake-up of the timetable's
# thread and of the prober's loop for the runs due within it (10,000 targets a minute: about
# seven a tick), for at most this much more lag (docs/benchmarks.md, "seventh session" and
# "twelfth session": 20 ms before; a run's start 20 ms later is nothing to a check every minute,
# a wake-up per three runs was a tenth of the daemon's CPU).
TIMETABLE_TICK = 0.04


class Scheduling(Process):
    """Schedules every target of the catalog; subclasses dispatch a due run (run it, or enqueue it)."""

    distributed = False  # DaemonMetrics with the scheduler's queue metrics

    def __init__(self, settings_path: str | Path, kinds: Registry[Any]) -> None:
        self.settings_path = Path(settings_path)
        config = load_config(self.settings_path, kinds)  # raises ConfigError: nothing started yet
        self.check_config(config)
        super().__init__(config, browser=not self.distributed)
        self.metrics = DaemonMetrics(self.registry, config.kinds.names(), scheduler=self.distributed)
        self.leader = not self.distributed  # the embedded daemon is alone by definition
        self.latest = self.latest_source()
        self.results_text = ResultText(self.latest, lambda: self.config)
        self.status_site = StatusSite(lambda: self.config, self.store)
        problem = self.sync_incidents(self.config)
        if problem is not None:
            self.store.close()
            raise ConfigError([problem])
        self.writer = ResultWriter(self.store, capacity=self.config.settings.store.write_buffer, registry=self.registry,
                                   on_commit=self.committed)
        self.canaries = CanaryGuard(self.config.settings.canaries, self.config.proxy)
        attribution = Attributor(lambda: self.config, latest_rows(self.config.kinds.status_kind(), self.latest))
        self.runner = CheckRunner(self.config.kinds, self.writer, self.canaries, self.config.settings.tz,
                                  on_result=self.metrics.observe, on_error=self.metrics.error, context=self.context,
                                  attribution=attribution)
        self.runner.max_in_flight = self.config.settings.pools.http  # as many probes at once as pool threads did
        self.metrics.in_flight.set_function(self.runner.open_runs)
        self._async_jobs: set[str] = set()  # jobs whose run (started without a waiting thread) is under way
        self._async_lock = threading.Lock()
        self.scheduler = BackgroundScheduler(
            executors=self.executors(),
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=self.config.settings.tz,
        )
        self.scheduler.add_listener(self._on_job_event,
                                    EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self._specs: dict[str, JobSpec] = {}
        self._target_count = 0  # targets of the catalog being applied (spreads first runs)
        self._started: dict[str, float] = {}
        self._reload_lock = threading.Lock()
        self.run_id: str | None = None
        self._last_beat = 0.0  # when the store last accepted a heartbeat
        self.metrics.reload_ok.set(1)
        self.metrics.reload_ts.set(time.time())

    def sync_incidents(self, config: Config) -> ConfigIssue | None:
        """Store the incident records of `config`'s files (settings `incidents:`); the problem if refused."""
        try:
            n = IncidentBook(self.store).sync_files(config.incidents)
        except IncidentError as exc:
            return ConfigIssue(str(config.settings_file), None, None, "incidents", str(exc))
        if n:
            log.info("%d Störungs- und Wartungseinträge aus Dateien geladen", n)
        return None

    # ------------------------------------------------------------------ hooks

    def check_config(self, config: Config) -> None:
        """Raise ConfigError if `config` does not suit this process."""

    def executors(self) -> dict[str, ThreadPoolExecutor]:
        raise NotImplementedError

    def latest_source(self) -> Callable[[], list[LatestState]]:
        """What /metrics exports as each target's newest result."""
        return StoreSnapshot(self.store)

    def committed(self, items: Sequence[Item], ids: Sequence[int | None]) -> None:
        """Called after each batch of results this process wrote was committed."""

    def schedule(self, spec: JobSpec, now: datetime, last_run: dict[tuple[str, str, str], float]) -> None:
        """Add (or replace) the job of one target."""
        raise NotImplementedError

    def unschedule(self, job_id: str) -> None:
        """Remove the job(s) of one target."""
        self.scheduler.remove_job(job_id)
        if self.scheduler.get_job(job_id + "#first") is not None:
            self.scheduler.remove_job(job_id + "#first")

    def dispatching(self) -> bool:
        """Whether what fires the targets' runs (beyond APScheduler) is running."""
        return True

    def begin_dispatch(self) -> None:
        """Start what fires the targets' runs beyond APScheduler (called once the catalog is applied)."""

    def halt_dispatch(self) -> None:
        """Fire no more runs; must return at once (SIGTERM)."""

    def last_runs(self) -> dict[tuple[str, str, str], float]:
        """When each target last ran, where the first run depends on it."""
        return {}

    def internal_jobs(self) -> None:
        """Jobs beyond heartbeat, canaries and retention."""

    # ------------------------------------------------------------------ jobs

    def _on_job_event(self, event: JobExecutionEvent) -> None:
        # EVENT_JOB_MAX_INSTANCES arrives as a JobSubmissionEvent: handled before the fields it lacks
        job_id = event.job_id
        if job_id in _INTERNAL_JOBS:
            if getattr(event, "exception", None) is not None:
                log.error("internal job %s failed: %s", job_id, event.exception)
            return
        kind = job_id.split("|", 2)[1] if job_id.count("|") >= 2 else "unknown"
        if event.code in (EVENT_JOB_MISSED, EVENT_JOB_MAX_INSTANCES):
            self.metrics.missed.labels(kind).inc()
            return
        started = self._started.get(job_id)
        if started is not None and event.scheduled_run_time is not None:
            self.metrics.lag.labels(kind).observe(max(0.0, started - event.scheduled_run_time.timestamp()))
        if event.code == EVENT_JOB_ERROR:
            self.metrics.error(kind, "scheduler")

    def _apply(self, config: Config) -> None:
        """Make the scheduled jobs match `config`, keeping the rhythm of unchanged ones."""
        new = job_specs(config)
        self._target_count = len(new)
        now = datetime.now(self.config.settings.tz)
        last_run = self.last_runs()
        for job_id in set(self._specs) - set(new):
            del self._specs[job_id]  # first, so a run already queued finds nothing to do
            self.unschedule(job_id)
        for job_id, spec in new.items():
            old = self._specs.get(job_id)
            self._specs[job_id] = spec
            if old is not None and old.same_run(spec):
                continue
            self.schedule(spec, now, last_run)
        for name in self.config.kinds.names():
            self.metrics.targets.labels(name).set(sum(1 for s in new.values() if s.kind == name))

    def reload(self) -> list[str]:
        """Re-read the configuration. Returns the problems; on problems nothing changes."""
        with self._reload_lock:
            try:
                config = load_config(self.settings_path, self.config.kinds)
                self.check_config(config)
            except ConfigError as exc:
                self.metrics.reload_ok.set(0)
                for issue in exc.issues:
                    log.error("Neu laden abgelehnt, die laufende Konfiguration bleibt aktiv: %s", issue)
                return [str(i) for i in exc.issues]
            if config.store_url != self.config.store_url:
                log.warning("store.url wurde geändert: wirksam erst nach einem Neustart; bis dahin wird in den "
                            "bisherigen Ergebnisspeicher geschrieben")
            if config.settings.pools != self.config.settings.pools:
                log.warning("pools wurde geändert: die Thread-Pools der Prüfungen (und bei pools.http die Zahl "
                            "gleichzeitiger Proben) behalten ihre Größe bis zu einem Neustart")
            problem = self.sync_incidents(config)
            if problem is not None:
                self.metrics.reload_ok.set(0)
                log.error("Neu laden abgelehnt, die laufende Konfiguration bleibt aktiv: %s", problem)
                return [str(problem)]
            if self.leader:
                self._apply(config)
            self.config = config
            if self.status_process is not None:
                self.status_process.configure(config)
            if self.browsers is not None:
                self.browsers.configure(config.browser_settings, config.settings.pools.browser)
            self.runner.tz = config.settings.tz
            self.context = self.runner.context = dataclasses.replace(self.context, proxy=config.proxy,
                                                                     **trust_of(config))
            if (config.settings.canaries, config.proxy) != (self.canaries.settings, self.canaries.proxy):
                self._replace_canaries(config)
            settle_heap()
            self._prerender()
            self.metrics.reload_ok.set(1)
            self.metrics.reload_ts.set(time.time())
            log.info("Konfiguration neu geladen: %d Dienste, %d Prüfziele", len(config.services), len(self._specs))
            return []

    def _heartbeat(self) -> None:
        if self.run_id is not None:
            self.store.beat(self.run_id)
            self._last_beat = time.time()
            self.metrics.beat()

    def _replace_canaries(self, config: Config) -> None:
        """New canary settings or proxy take effect at once: a new guard, its round rescheduled,
        the old canaries' series gone."""
        self.canaries = self.runner.canaries = CanaryGuard(config.settings.canaries, config.proxy)
        self.metrics.canaries_removed()
        if self.leader and self.scheduler.get_job("_canaries") is not None:
            self.scheduler.remove_job("_canaries")
        if self.leader and self.canaries.configured:
            self.scheduler.add_job(self._canary_round, IntervalTrigger(seconds=config.settings.canaries.interval),
                                   id="_canaries", executor="internal", next_run_time=datetime.now(config.settings.tz))

    def _canary_round(self) -> None:
        verdict = self.canaries.probe()
        self.metrics.canary_round(verdict)
        for result in verdict.results:
            self.runner.record(result)

    def _retention(self) -> None:
        store_settings = self.config.settings.store
        for name in self.config.kinds.names():
            days = store_settings.retention_days(name, self.config.kinds.records(name))
            cutoff = datetime.now(UTC) - timedelta(days=days)
            removed = self.store.purge_raw(cutoff, kind=name)
            if removed:
                log.info("retention: %d raw %s results older than %s removed", removed, name, cutoff.date())

    # ------------------------------------------------------------------ HTTP and lifecycle

    def metrics_pieces(self) -> Sequence[str]:
        # Only the leader exports the fleet's results: a standby scheduler never doubles the series.
        return self.results_text.pieces() if self.leader else ()

    def _prerender(self) -> None:
        """Render every target's exposition for the catalog just applied, in the background,
        so the first scrape after a start or reload only joins what is rendered, as every
        other does (rendering 10,000 targets takes 2 s; a scrape meanwhile waits for it)."""
        if self.leader:
            threading.Thread(target=self.results_text.pieces, name="metrics-prerender", daemon=True).start()

    def healthy(self) -> tuple[bool, str]:
        if not self.scheduler.running or not self.dispatching():
            return False, "scheduler not running"
        writes_ok, why = self.writer.healthy()
        if not writes_ok:
            return False, why
        beat = self._last_beat
        max_age = 3 * self.config.settings.heartbeat_interval + 5
        if time.time() - beat > max_age:
            return False, f"no heartbeat for more than {max_age:.0f}s (store not writable?)"
        return True, "ok"

    def _lead(self) -> None:
        """Start scheduling: register a run, add every job."""
        settings = self.config.settings
        self.run_id = self.store.start_run(__version__)
        self._last_beat = time.time()
        self.metrics.beat()
        self._apply(self.config)
        self.scheduler.add_job(self._heartbeat, IntervalTrigger(seconds=settings.heartbeat_interval),
                               id="_heartbeat", executor="internal", misfire_grace_time=None)
        if self.canaries.configured:
            self.scheduler.add_job(self._canary_round, IntervalTrigger(seconds=settings.canaries.interval),
                                   id="_canaries", executor="internal", next_run_time=datetime.now(settings.tz))
        self.scheduler.add_job(self._retention, IntervalTrigger(hours=24), id="_retention", executor="internal",
                               next_run_time=datetime.now(settings.tz) + timedelta(minutes=1))
        self.internal_jobs()
        self.runner.watch()
        settle_heap()
        self._prerender()
        self.begin_dispatch()
        if not self.scheduler.running:
            self.scheduler.start()

    def stop(self) -> None:
        log.info("egov-monitor wird beendet; laufende Prüfungen werden abgeschlossen")
        self._stop.set()
        self.runner.unwatch()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)  # runs under way are waited for below, not here (a browser
            # check can take minutes; SIGTERM must end within a few seconds)
        self.halt_dispatch()
        if not self.runner.wait_open(timeout=STOP_GRACE):  # probes without a waiting thread and pool threads' runs
            log.warning("nicht alle laufenden Prüfungen wurden vor dem Ende abgeschlossen")
        cut = self.runner.cut_short()  # recorded as unknown/monitor_stopped; their late results are dropped
        if cut:
            log.warning("%d laufende Prüfungen beim Beenden abgebrochen (als „unbekannt“, monitor_stopped, gespeichert)",
                        cut)
        self.writer.close(timeout=STOP_WRITE_GRACE)  # inside the grace time of systemd and Kubernetes
        if self.run_id is not None:
            try:
                self.store.beat(self.run_id, stopped=True)
            except Exception as exc:
                log.error("Ende des Laufs nicht gespeichert (Ergebnisspeicher nicht erreichbar): %s", type(exc).__name__)
        self.close_dispatch()
        super().stop()
        gc.unfreeze()  # what settle_heap() froze is the collector's again (a caller that goes on)

    def close_dispatch(self) -> None:
        """Close what dispatches runs beyond this process (the scheduler's lease and queue)."""

    def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT; SIGHUP reloads the configuration."""
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=self.reload, name="reload").start())
        super().run_forever()


class Daemon(Scheduling):
    """The embedded daemon: schedules and runs every check in this process."""

    def check_config(self, config: Config) -> None:
        if config.settings.queue is not None:
            raise ConfigError([ConfigIssue(
                str(config.settings_file), None, None, "queue.url",
                "queue.url ist gesetzt (verteilter Betrieb): `egov-monitor scheduler` und `egov-monitor worker` "
                "starten, oder queue entfernen, um alles in einem Prozess zu prüfen")])
        used = {ref for service in config.services.values() for settings in service.checks.values()
                for _where, ref in settings.location_refs()}
        issues = [ConfigIssue(str(config.settings_file), None, None, f"locations.{i}.worker",
                              f"Standort {entry.name!r} wird von Workern mit --location {entry.name} geprüft; die gibt es "
                              "nur im verteilten Betrieb (queue.url): dort betreiben, oder den Standort als `local: true` "
                              "oder mit `proxy:` beschreiben")
                  for i, entry in enumerate(config.settings.locations) if entry.worker and entry.name in used]
        if issues:
            raise ConfigError(issues)

    def latest_source(self) -> Callable[[], list[LatestState]]:
        self._cache = LatestCache(self.store)  # this process writes every result: kept current on commit
        return self._cache

    def committed(self, items: Sequence[Item], ids: Sequence[int | None]) -> None:
        self.results_text.update(self._cache.committed(items, ids))  # a scrape then only joins

    def __init__(self, settings_path: str | Path, kinds: Registry[Any]) -> None:
        super().__init__(settings_path, kinds)
        pools = self.config.settings.pools
        self._pools = {"http": futures.ThreadPoolExecutor(pools.http, thread_name_prefix="http"),
                       "browser": futures.ThreadPoolExecutor(pools.browser, thread_name_prefix="browser")}
        self._pool_jobs: set[str] = set()  # jobs with a run on a pool thread, queued or running
        self.timetable = Timetable(self._fire, self._missed, tick=TIMETABLE_TICK)

    def executors(self) -> dict[str, ThreadPoolExecutor]:
        return {"internal": ThreadPoolExecutor(4)}

    def schedule(self, spec: JobSpec, now: datetime, last_run: dict[tuple[str, str, str], float]) -> None:
        settings = spec.settings
        # Spread first runs so a restart does not fire every probe at once: within 10 s for a
        # catalog of a few hundred targets (its first results are wanted soon), at about 100 a
        # second for a large one (10 000 targets: over 100 s, or the interval if shorter).
        window = min(settings.interval, max(10.0, self._target_count / 100))
        first = now.timestamp() + random.uniform(0, window)
        self.timetable.add(spec.job_id, first, settings.interval, settings.effective_jitter or 0.0,
                           grace=max(1, int(settings.interval)))

    def unschedule(self, job_id: str) -> None:
        self.timetable.remove(job_id)

    def dispatching(self) -> bool:
        return self.timetable.running

    def begin_dispatch(self) -> None:
        if not self.timetable.running:
            self.timetable.start()

    def halt_dispatch(self) -> None:
        self.timetable.stop()
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)  # runs under way end in Scheduling.stop's grace

    def _fire(self, job_id: str, due: float) -> None:
        """A due run, on the timetable's thread: started there if its kind runs without a waiting
        thread (a probe), else on a thread of its kind's pool. Must never wait."""
        spec = self._specs.get(job_id)
        if spec is None:
            return  # removed by a reload since
        check = self.config.kinds[spec.kind].check
        if check.start is not None:
            started = time.time()
            try:
                if self._start_async(job_id, spec):
                    self.metrics.lag.labels(spec.kind).observe(max(0.0, started - due))
                    return
            except Exception:
                log.exception("job %s failed", job_id)
                self.metrics.error(spec.kind, "scheduler")
                return
            # as many runs under way as allowed: a pool thread waits for one
        with self._async_lock:
            if job_id in self._pool_jobs:  # the last run still holds (or waits for) a thread
                self.metrics.missed.labels(spec.kind).inc()
                return
            self._pool_jobs.add(job_id)
        try:
            self._pools[check.pool].submit(self._run_on_pool, job_id, due)
        except RuntimeError:  # the pool was shut down: the daemon is stopping
            with self._async_lock:
                self._pool_jobs.discard(job_id)

    def _missed(self, job_id: str) -> None:
        spec = self._specs.get(job_id)
        if spec is not None:
            self.metrics.missed.labels(spec.kind).inc()

    def _run_on_pool(self, job_id: str, due: float) -> None:
        started = time.time()
        spec = self._specs.get(job_id)
        try:
            if spec is None:
                return
            self.metrics.lag.labels(spec.kind).observe(max(0.0, started - due))
            if not self._start_async(job_id, spec):
                self.runner.run(spec.service, spec.kind, spec.url, spec.settings)
        except Exception:
            log.exception("job %s failed", job_id)
            if spec is not None:
                self.metrics.error(spec.kind, "scheduler")
        finally:
            with self._async_lock:
                self._pool_jobs.discard(job_id)

    def _start_async(self, job_id: str, spec: JobSpec) -> bool:
        """Start the run without a waiting thread if its kind can (availability); True when it
        was started, or skipped because the last one is still under way: a missed run, as the
        scheduler counts one for a thread that has not returned yet (max_instances=1)."""
        log.debug("job %s started", job_id)
        with self._async_lock:
            if job_id in self._async_jobs:
                self.metrics.missed.labels(spec.kind).inc()
                return True
            self._async_jobs.add(job_id)
        try:
            started = self.runner.start(spec.service, spec.kind, spec.url, spec.settings,
                                        lambda _r: self._async_done(job_id))
        except BaseException:
            self._async_done(job_id)  # else every later run of the target would count as missed
            raise
        if not started:
            self._async_done(job_id)
        return started

    def _async_done(self, job_id: str) -> None:
        with self._async_lock:
            self._async_jobs.discard(job_id)

    def start(self) -> None:
        host, port = self.config.settings.listen_host_port
        self.serve((host, port), self.reload)
        self._lead()
        if self.config.example:
            log.warning("Der Beispielkatalog ist aktiv (example: true); vor dem Produktivbetrieb ersetzen.")
        assert self.http is not None
        log.info("egov-monitor %s läuft: %d Dienste, %d Prüfziele, /metrics auf %s://%s:%d/metrics",
                 __version__, len(self.config.services), len(self._specs), self.scheme, host,
                 self.http.server_address[1])




