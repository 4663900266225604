"""`egov-monitor worker`: runs the check jobs a scheduler put on the queue (distributed mode).

Per queue it consumes, a worker runs a Dramatiq thread pool as large as the embedded
daemon's pool for that kind of work (`pools.http`, `pools.browser`). A job is run through
the same `CheckRunner` as in the embedded daemon (canaries from this worker's network,
maintenance windows), then stored in PostgreSQL under its run key. A job whose run key is
already stored is not stored again (a browser job is not even run again). If the result cannot be stored, the
job fails and Dramatiq retries it with backoff; it is acknowledged only when stored.

Each worker serves its own /metrics (runs, errors, queue wait, jobs in progress, browser
pool) and /healthz; the fleet's probe results are exported once, by the scheduler.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Any

import dramatiq

from checks.kind import Registry
from checks.locations import location_queue
from checks.result import CheckResult
from monitor import __version__
from monitor import distributed as dist
from monitor.config import ConfigError, ResolvedService, load_config
from monitor.dependencies import Attributor, store_rows
from monitor.metrics import WorkerMetrics
from monitor.process import Process
from monitor.runner import CanaryGuard, CheckRunner
from monitor.writer import GroupCommit

log = logging.getLogger("egov_monitor.worker")


class Worker(Process):
    """Runs the jobs of its queues and stores their results; serves its own /metrics."""

    def __init__(self, settings_path: str | Path, kinds: Registry[Any], queues: list[str],
                 listen: str | None = None, location: str | None = None) -> None:
        config = load_config(settings_path, kinds)  # raises ConfigError: nothing started yet
        issues = dist.distributed_issues(config)
        if issues:
            raise ConfigError(issues)
        unknown = [q for q in queues if q not in dist.QUEUES]
        if unknown or not queues:
            raise ValueError(f"unbekannte Warteschlange {', '.join(unknown) or '(keine)'}; "
                             f"möglich: {', '.join(dist.QUEUES)}")
        if location is not None and location not in dist.worker_locations(config):
            offered = ", ".join(dist.worker_locations(config)) or "keiner"
            raise ValueError(f"--location {location}: kein Standort mit `worker: true` in settings.yaml `locations:` "
                             f"(vorhanden: {offered}); dort eintragen oder --location weglassen")
        self.location = location  # a location worker takes only its location's jobs
        self.pools = list(dict.fromkeys(queues))
        self.queues = [location_queue(q, location) for q in self.pools] if location else self.pools
        super().__init__(config, browser="browser" in self.pools)
        settings = self.config.settings
        assert settings.queue is not None  # distributed_issues made sure
        self.listen = listen
        self.identity = dist.worker_identity()
        self.metrics = WorkerMetrics(self.registry, config.kinds.names(), self.queues)
        self.canaries = CanaryGuard(settings.canaries, config.proxy)
        attribution = Attributor(lambda: self.config, store_rows(config.kinds.status_kind(), self.store))
        self.runner = CheckRunner(config.kinds, self.store, self.canaries, settings.tz, on_error=self.metrics.error,
                                  context=self.context, attribution=attribution)
        self.commits = GroupCommit(self.store)  # the worker threads' results share transactions
        self.broker = dist.make_broker(settings.queue, self.handle, dist.location_queues(config),
                                       config.settings_file.parent)
        threads = {"http": settings.pools.http, "browser": settings.pools.browser}
        self.workers = [dramatiq.Worker(self.broker, queues={q}, worker_threads=threads[p])
                        for p, q in zip(self.pools, self.queues, strict=True)]
        self._announcing = threading.Event()

    def handle(self, payload: dict[str, Any]) -> None:
        """Run one job; raising makes Dramatiq retry it later (store errors only)."""
        try:
            service, kind, url = dist.job_from_payload(self.config.kinds, payload)
        except (ValueError, KeyError, TypeError) as exc:  # not retried: it would fail again
            log.error("ungültiger Prüfauftrag verworfen: %s", exc)
            self.metrics.skipped.labels("invalid").inc()
            return
        key = str(payload["run_key"])
        queue = self.config.kinds[kind].check.pool
        self.metrics.wait.labels(kind).observe(max(0.0, time.time() - float(payload["scheduled_at"])))
        if "location" in payload:
            self._vote(service, kind, url, key, str(payload["location"]))
            return
        # A browser job takes seconds: look first whether it was stored already. An HTTP job
        # costs less than the look-up; the store's unique run key keeps its one result.
        if queue == "browser" and self.store.has_run_key(key):
            log.info("run %s already stored (delivered twice); not run again", key)
            self.metrics.skipped.labels("already_stored").inc()
            return
        self.metrics.in_progress.labels(queue).inc()
        # the watchdog (as in the daemon): a run still open after its worst case plus a margin is
        # stored as unknown under this job's run key, before Dramatiq's time limit interrupts it
        entry = self.runner.open(service, kind, url, service.checks[kind], lambda r: self._store(r, key, kind))
        try:
            log.debug("running %s: %s %s %s", key, service.id, kind, url)
            result = self.runner.execute(service, kind, url, service.checks[kind])
            if not self.runner.close(entry):
                log.warning("late result of %s dropped: the watchdog had ended the run", key)
                return
            self._store(result, key, kind)
        finally:
            self.runner.close(entry)  # an exception (a store error, the time limit): nothing left open
            self.metrics.in_progress.labels(queue).dec()

    def _vote(self, service: ResolvedService, kind: str, url: str, key: str, name: str) -> None:
        """Probe from one location (this worker's network, or the location's proxy) and record
        the result as the run's vote; the vote that completes the set combines and stores."""
        if dist.pending_run(self.broker, key) is None:  # combined already (a late or repeated job)
            self.metrics.skipped.labels("already_stored").inc()
            return
        location = self.config.locations.get(name)
        context = self.context
        if location is not None and location.proxy is not None:
            context = dataclasses.replace(self.context, proxy=location.proxy)
        queue = self.config.kinds[kind].check.pool
        log.debug("vote %s from %s: %s %s %s", key, name, service.id, kind, url)
        self.metrics.in_progress.labels(queue).inc()
        try:
            vote = self.runner.execute(service, kind, url, service.checks[kind].one_location(), context)
        finally:
            self.metrics.in_progress.labels(queue).dec()
        vote = vote.replace(evidence={**vote.evidence, "worker": self.identity})
        run = dist.record_vote(self.broker, key, name, vote)
        if run is None:
            return
        result = dist.combined(self.config.kinds, run, self.config.locations)
        self._store(result, key, kind)  # raises on a store error: the job is retried, the vote set again
        dist.finish(self.broker, key)

    def _store(self, result: CheckResult, key: str, kind: str) -> None:
        """Store a job's result under its run key (raises on a store error: Dramatiq retries the job)."""
        result = result.replace(evidence={**result.evidence, "worker": self.identity})
        try:
            stored = self.commits.record(result, run_key=key)
        except Exception as exc:
            log.error("Ergebnis von %s konnte nicht gespeichert werden (wird wiederholt): %s", key, exc)
            self.metrics.error(kind, "store")
            raise
        self.metrics.observe(result)
        if stored is None:
            self.metrics.skipped.labels("already_stored").inc()
            log.info("run %s was stored meanwhile by another delivery; kept the first result", key)
        else:
            log.debug("stored %s as result %s (%s)", key, stored, result.state.value)

    def healthy(self) -> tuple[bool, str]:
        try:
            self.broker.client.ping()
        except Exception as exc:
            return False, f"task queue not reachable: {exc}"
        dead = [q for q, w in zip(self.queues, self.workers, strict=True)
                if not any(t.is_alive() for t in w.workers)]
        if dead:
            return False, f"no worker threads alive for {', '.join(dead)}"
        return True, "ok"

    def start(self) -> None:
        if self.listen:
            host, _, port = self.listen.rpartition(":")
            self.serve((host or "0.0.0.0", int(port)))
        for worker in self.workers:
            worker.start()
        self.runner.watch()
        if self.location:
            threading.Thread(target=self._announce, name="announce", daemon=True).start()
        where = f", /metrics auf {self.scheme}://{self.listen}/metrics" if self.listen else ""
        log.info("egov-monitor %s Worker %s läuft: Warteschlangen %s%s", __version__, self.identity,
                 ", ".join(self.queues), where)

    def _announce(self) -> None:
        """Tell the scheduler every few seconds that this location has a worker."""
        assert self.location is not None
        while not self._announcing.is_set():
            try:
                dist.announce(self.broker, self.location, self.identity)
            except Exception as exc:
                log.warning("Standort %s: Anmeldung bei der Warteschlange fehlgeschlagen: %s", self.location, exc)
            queue = self.config.settings.queue  # read each time: a reload may change redelivery_after
            assert queue is not None  # distributed_issues made sure
            self._announcing.wait(dist.announce_period(queue.redelivery_after))

    def stop(self) -> None:
        """Let running jobs finish; jobs fetched but not started go back to the queue."""
        log.info("Worker wird beendet; laufende Prüfungen werden abgeschlossen")
        self._announcing.set()
        if self.location:
            try:
                dist.announce(self.broker, self.location, self.identity, gone=True)
            except Exception as exc:
                log.warning("Standort %s: Abmeldung fehlgeschlagen: %s", self.location, exc)
        for worker in self.workers:
            worker.stop(timeout=120_000)
        self.runner.unwatch()
        self.broker.close()
        super().stop()
