"""The daemon: schedules every check of every service, serves /metrics, keeps a heartbeat.

APScheduler 3 runs one job per (service, check kind, URL) with the check's interval and
jitter, `max_instances=1` and coalescing, on bounded thread pools per kind of work, so a
hanging target only ever holds one thread for at most its timeout. SIGHUP or
POST /-/reload re-reads the configuration and keeps the running one if the new one is
invalid. SIGTERM lets running checks finish, writes a final heartbeat and exits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import logging
import random
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.registry import Collector

from checks import REGISTRY, browser
from checks.result import CheckKind
from checks.settings import CheckSettings
from monitor import __version__
from monitor.config import Config, ConfigError, ConfigIssue, ResolvedService, load_config
from monitor.metrics import BrowserPoolCollector, DaemonMetrics, ResultCollector
from monitor.runner import CanaryGuard, CheckRunner
from monitor.store import Store

log = logging.getLogger("egov_monitor")

_INTERNAL_JOBS = {"_heartbeat", "_canaries", "_retention", "_queue_sweep"}


@dataclasses.dataclass(frozen=True, slots=True)
class JobSpec:
    job_id: str
    service: ResolvedService
    kind: CheckKind
    url: str
    settings: CheckSettings

    @property
    def fingerprint(self) -> str:
        """Changes when anything that affects the schedule or the check changes."""
        blob = json.dumps([self.settings.model_dump(mode="json"), self.kind.value, self.url], sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()


def job_specs(config: Config) -> dict[str, JobSpec]:
    specs = {}
    for service in config.services.values():
        for kind, settings in service.checks.items():
            # A service-wide check runs once, keyed by the start page; it scans the other URLs itself.
            urls = service.urls[:1] if REGISTRY[kind].scope == "service" else service.urls
            for url in urls:
                job_id = f"{service.id}|{kind.value}|{url}"
                specs[job_id] = JobSpec(job_id, service, kind, url, settings)
    return specs


def metrics_handler(registry: CollectorRegistry, healthy: Callable[[], tuple[bool, str]],
                    reload: Callable[[], list[str]] | None = None) -> type[http.server.BaseHTTPRequestHandler]:
    """GET /metrics and /healthz, and POST /-/reload when `reload` is given."""

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = f"egov-monitor/{__version__}"

        def log_message(self, fmt, *args):  # requests are not worth a log line each
            log.debug("http %s", fmt % args)

        def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                try:
                    self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                except Exception as exc:  # noqa: BLE001 - a broken store must not kill the server
                    log.error("metrics collection failed: %s", exc)
                    self._send(500, b"metrics collection failed\n")
            elif path == "/healthz":
                ok, why = healthy()
                self._send(200 if ok else 503, (why + "\n").encode())
            elif path == "/":
                self._send(200, b"egov-monitor: /metrics /healthz" + (b" POST /-/reload\n" if reload else b"\n"))
            else:
                self._send(404, b"not found\n")

        def do_POST(self):
            if reload is None or self.path.split("?", 1)[0] != "/-/reload":
                self._send(404, b"not found\n")
                return
            problems = reload()
            if problems:
                self._send(400, ("Konfiguration ungültig, die laufende bleibt aktiv:\n" + "\n".join(problems) + "\n").encode())
            else:
                self._send(200, b"Konfiguration neu geladen\n")

    return Handler


def serve_http(listen: tuple[str, int], handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(listen, handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


def close_http(server: http.server.ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def run_until_signalled(start: Callable[[], None], stop: Callable[[], None], stopped: threading.Event) -> None:
    """start(), wait for SIGTERM or SIGINT, then stop() (also after an error)."""
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    start()
    try:
        while not stopped.wait(1.0):
            pass
    finally:
        stop()


class _LeaderOnly(Collector):
    """Exports the wrapped collector only while this process holds the scheduling lease, so
    a standby scheduler never doubles the fleet's series."""

    def __init__(self, inner: Collector, is_leader: Callable[[], bool]) -> None:
        self.inner, self.is_leader = inner, is_leader

    def describe(self):
        return []

    def collect(self):
        if self.is_leader():
            yield from self.inner.collect()


class Daemon:
    """The embedded daemon (role "daemon": schedules and runs every check), or the
    distributed mode's scheduler (role "scheduler": schedules and enqueues, see
    monitor.distributed)."""

    def __init__(self, settings_path: str | Path, *, role: str = "daemon") -> None:
        self.settings_path = Path(settings_path)
        self.role = role
        self.config: Config = load_config(self.settings_path)  # raises ConfigError: nothing started yet
        self._check_role(self.config)
        self.store = Store.open(self.config.store_url, tz=self.config.settings.tz)
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        distributed = role == "scheduler"
        self.metrics = DaemonMetrics(self.registry, scheduler=distributed)
        self.leader = not distributed  # the embedded daemon is alone by definition
        self.registry.register(_LeaderOnly(ResultCollector(self.store, lambda: self.config), lambda: self.leader))
        self.canaries = CanaryGuard(self.config.settings.canaries)
        self.runner = CheckRunner(self.store, self.canaries, self.config.settings.tz,
                                  on_result=self.metrics.observe, on_error=self.metrics.error)
        pools = self.config.settings.pools
        if distributed:
            from monitor import distributed as dist  # dramatiq is an optional extra

            self.dist = dist
            self.broker = dist.make_broker(self.config.settings.queue)
            self.lease = dist.SchedulerLease(self.store.engine, self.config.settings.queue.namespace)
            self.metrics.leader.set(0)
            executors = {"dispatch": ThreadPoolExecutor(8), "internal": ThreadPoolExecutor(4)}
        else:
            self.registry.register(BrowserPoolCollector())
            browser.configure(self.config.settings.browser, self.config.settings.pools.browser)
            executors = {"http": ThreadPoolExecutor(pools.http), "browser": ThreadPoolExecutor(pools.browser),
                         "internal": ThreadPoolExecutor(4)}
        self.scheduler = BackgroundScheduler(
            executors=executors,
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=self.config.settings.tz,
        )
        self.scheduler.add_listener(self._on_job_event,
                                    EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        self._specs: dict[str, JobSpec] = {}
        self._started: dict[str, float] = {}
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self.run_id: str | None = None
        self._last_beat = 0.0  # when the store last accepted a heartbeat
        self.http: http.server.ThreadingHTTPServer | None = None
        self.metrics.reload_ok.set(1)
        self.metrics.reload_ts.set(time.time())

    # ------------------------------------------------------------------ jobs

    def _run_check(self, job_id: str) -> None:
        self._started[job_id] = time.time()
        spec = self._specs.get(job_id)
        if spec is None:
            return
        log.debug("job %s started", job_id)
        self.runner.run(spec.service, spec.kind, spec.url, spec.settings)

    def _check_role(self, config: Config) -> None:
        if self.role == "scheduler":
            from monitor.distributed import distributed_issues

            issues = distributed_issues(config)
            if issues:
                raise ConfigError(issues)
        elif config.settings.queue is not None:
            raise ConfigError([ConfigIssue(
                str(config.settings_file), None, None, "queue.url",
                "queue.url ist gesetzt (verteilter Betrieb): `egov-monitor scheduler` und `egov-monitor worker` "
                "starten, oder queue entfernen, um alles in einem Prozess zu prüfen")])

    def _enqueue(self, job_id: str) -> None:
        """Distributed mode: put the run of the current slot on the queue (workers run it)."""
        dist = self.dist
        spec = self._specs.get(job_id)
        if spec is None or not self.leader:
            return
        self._started[job_id] = time.time()
        slot, scheduled_at = dist.slot_of(job_id, spec.settings.interval, time.time())
        key = dist.run_key(job_id, slot)
        try:
            dist.enqueue(self.broker, spec.service, spec.kind, spec.url, key, scheduled_at)
        except Exception as exc:  # noqa: BLE001 - Redis down: count it, the next slot tries again
            log.error("Prüfauftrag %s konnte nicht eingereiht werden: %s", job_id, exc)
            self.metrics.error(spec.kind.value, "enqueue")
            return
        self.metrics.enqueued.labels(spec.kind.value).inc()
        log.debug("enqueued run %s for %s", key, job_id)

    def _queue_sweep(self) -> None:
        """Return dead workers' jobs to the queues; export how many wait."""
        for queue in self.dist.QUEUES:
            self.metrics.queue_messages.labels(queue).set(self.broker.sweep(queue))

    def _on_job_event(self, event) -> None:
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
        now = datetime.now(self.config.settings.tz)
        last_run: dict[tuple[str, str, str], float] = {}
        if self.role == "scheduler":  # targets without a recent result get a first run now
            last_run = self.store.last_run_times()
        for job_id in set(self._specs) - set(new):
            del self._specs[job_id]  # first, so a run already queued finds nothing to do
            self.scheduler.remove_job(job_id)
            if self.scheduler.get_job(job_id + "#first") is not None:
                self.scheduler.remove_job(job_id + "#first")
        for job_id, spec in new.items():
            old = self._specs.get(job_id)
            self._specs[job_id] = spec
            if old is not None and old.fingerprint == spec.fingerprint:
                continue
            settings = spec.settings
            if self.role == "scheduler":
                # Fixed per-target phase instead of random jitter: every scheduler computes the
                # same slots, so the run keys of a takeover match and nothing runs twice.
                first = datetime.fromtimestamp(self.dist.first_run_after(job_id, settings.interval, now.timestamp()), UTC)
                trigger = IntervalTrigger(seconds=settings.interval, start_date=first, timezone=self.config.settings.tz)
                func, executor = self._enqueue, "dispatch"
                last = last_run.get((spec.service.id, spec.kind.value, spec.url))
                if last is None or now.timestamp() - last > settings.interval:
                    # Its slot may be up to an interval away (a day for daily scans): run once now,
                    # spread like the embedded daemon's first runs. The slot nearest to now names it.
                    soon = now + timedelta(seconds=random.uniform(0, min(settings.interval, 10.0)))
                    self.scheduler.add_job(func, "date", run_date=soon, args=[job_id], id=job_id + "#first",
                                           replace_existing=True, executor=executor, misfire_grace_time=None)
            else:
                # Spread first runs so a restart does not fire every probe in the same second.
                first = now + timedelta(seconds=random.uniform(0, min(settings.interval, 10.0)))
                trigger = IntervalTrigger(seconds=settings.interval, jitter=settings.effective_jitter or None,
                                          start_date=first, timezone=self.config.settings.tz)
                func, executor = self._run_check, REGISTRY[spec.kind].pool
            self.scheduler.add_job(
                func, trigger, args=[job_id], id=job_id, name=job_id, replace_existing=True,
                executor=executor, misfire_grace_time=max(1, int(settings.interval)),
            )
        for kind in CheckKind:
            self.metrics.targets.labels(kind.value).set(sum(1 for s in new.values() if s.kind is kind))

    def reload(self) -> list[str]:
        """Re-read the configuration. Returns the problems; on problems nothing changes."""
        with self._reload_lock:
            try:
                config = load_config(self.settings_path)
            except ConfigError as exc:
                self.metrics.reload_ok.set(0)
                for issue in exc.issues:
                    log.error("Neu laden abgelehnt, die laufende Konfiguration bleibt aktiv: %s", issue)
                return [str(i) for i in exc.issues]
            try:
                self._check_role(config)
            except ConfigError as exc:
                self.metrics.reload_ok.set(0)
                for issue in exc.issues:
                    log.error("Neu laden abgelehnt, die laufende Konfiguration bleibt aktiv: %s", issue)
                return [str(i) for i in exc.issues]
            if config.store_url != self.config.store_url:
                log.warning("store.url changed; a restart is needed for that part to take effect")
            if self.leader:
                self._apply(config)
            self.config = config
            if self.role == "daemon":
                browser.configure(config.settings.browser, config.settings.pools.browser)
            self.runner.tz = config.settings.tz
            self.metrics.reload_ok.set(1)
            self.metrics.reload_ts.set(time.time())
            log.info("Konfiguration neu geladen: %d Dienste, %d Prüfziele", len(config.services), len(self._specs))
            return []

    def _heartbeat(self) -> None:
        if self.role == "scheduler" and not self.lease.alive():
            self._lose_lead()
            return
        if self.run_id is not None:
            self.store.beat(self.run_id)
            self._last_beat = time.time()
            self.metrics.beat()

    def _canary_round(self) -> None:
        verdict = self.canaries.probe()
        self.metrics.canary_round(verdict)
        for result in verdict.results:
            self.runner.record(result)

    def _retention(self) -> None:
        store_settings = self.config.settings.store
        for kind in CheckKind:
            cutoff = datetime.now(UTC) - timedelta(days=store_settings.retention_days(kind))
            removed = self.store.purge_raw(cutoff, kind=kind.value)
            if removed:
                log.info("retention: %d raw %s results older than %s removed", removed, kind.value, cutoff.date())

    # ------------------------------------------------------------------ HTTP

    def healthy(self) -> tuple[bool, str]:
        if self.role == "scheduler" and not self.leader:
            return True, "standby: another scheduler holds the lease"
        if not self.scheduler.running:
            return False, "scheduler not running"
        beat = self._last_beat
        max_age = 3 * self.config.settings.heartbeat_interval + 5
        if time.time() - beat > max_age:
            return False, f"no heartbeat for more than {max_age:.0f}s (store not writable?)"
        return True, "ok"

    def _make_handler(self):
        return metrics_handler(self.registry, self.healthy, self.reload)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        settings = self.config.settings
        host, port = settings.listen_host_port
        self.http = serve_http((host, port), self._make_handler())
        if self.role == "scheduler":
            threading.Thread(target=self._lease_loop, name="lease", daemon=True).start()
            log.info("egov-monitor %s Scheduler gestartet, /metrics auf http://%s:%d/metrics; bewirbt sich um das Lease",
                     __version__, host, self.http.server_address[1])
            return
        self._lead()
        if self.config.example:
            log.warning("Der Beispielkatalog ist aktiv (example: true); vor dem Produktivbetrieb ersetzen.")
        log.info("egov-monitor %s läuft: %d Dienste, %d Prüfziele, /metrics auf http://%s:%d/metrics",
                 __version__, len(self.config.services), len(self._specs), host, self.http.server_address[1])

    def _lead(self) -> None:
        """Start scheduling: register a run, add every job (embedded: at start; scheduler: with the lease)."""
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
        if self.role == "scheduler":
            self.scheduler.add_job(self._queue_sweep, IntervalTrigger(seconds=5), id="_queue_sweep",
                                   executor="internal", next_run_time=datetime.now(settings.tz))
        if not self.scheduler.running:
            self.scheduler.start()

    def _lease_loop(self) -> None:
        """Scheduler role: stand by until the lease is ours, then schedule until it is lost."""
        retry = self.config.settings.queue.lease_retry
        announced = False
        while not self._stop.is_set():
            if not self.leader:
                try:
                    got = self.lease.try_acquire()
                except Exception as exc:  # noqa: BLE001 - database away: keep trying
                    log.error("Lease konnte nicht geprüft werden: %s", exc)
                    got = False
                if got:
                    with self._reload_lock:
                        self.leader = True
                        self.metrics.leader.set(1)
                        self._lead()
                    log.info("Scheduler hält das Lease und plant %d Prüfziele", len(self._specs))
                    announced = False
                elif not announced:
                    log.info("Ein anderer Scheduler hält das Lease; dieser wartet in Bereitschaft")
                    announced = True
            self._stop.wait(retry)

    def _lose_lead(self) -> None:
        with self._reload_lock:
            if not self.leader:
                return
            self.leader = False
            self.metrics.leader.set(0)
            self.scheduler.remove_all_jobs()
            self._specs.clear()
            self.run_id = None
        log.error("Lease verloren: dieser Scheduler plant nicht mehr und wartet in Bereitschaft")

    def stop(self) -> None:
        log.info("egov-monitor wird beendet; laufende Prüfungen werden abgeschlossen")
        self._stop.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.role == "daemon":
            browser.shutdown()
        if self.run_id is not None:
            self.store.beat(self.run_id, stopped=True)
        if self.role == "scheduler":
            self.lease.release()
            self.broker.close()
        close_http(self.http)
        self.store.close()

    def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT; SIGHUP reloads the configuration."""
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=self.reload, name="reload").start())
        run_until_signalled(self.start, self.stop, self._stop)
