"""The distributed mode's scheduler: schedules like the embedded daemon, but enqueues each due
run on the task queue (monitor.distributed) instead of running it. Several schedulers may
run; the one holding the lease schedules, the others stand by."""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.triggers.interval import IntervalTrigger

from checks.kind import Registry
from monitor import __version__
from monitor.config import Config, ConfigError
from monitor.daemon import JobSpec, Scheduling

log = logging.getLogger("egov_monitor")


class Scheduler(Scheduling):
    """Schedules and enqueues (distributed mode); workers run the checks."""

    distributed = True

    def __init__(self, settings_path: str | Path, kinds: Registry[Any]) -> None:
        from monitor import distributed as dist  # dramatiq is an optional extra

        self.dist = dist
        super().__init__(settings_path, kinds)
        assert self.config.settings.queue is not None  # check_config made sure
        self.broker = dist.make_broker(self.config.settings.queue, extra_queues=dist.location_queues(self.config),
                                       base=self.config.settings_file.parent)
        self.lease = dist.SchedulerLease(self.store.engine, self.config.settings.queue.namespace)
        self.metrics.leader.set(0)

    def check_config(self, config: Config) -> None:
        from monitor.distributed import distributed_issues

        issues = distributed_issues(config)
        if issues:
            raise ConfigError(issues)

    def executors(self) -> dict[str, ThreadPoolExecutor]:
        return {"dispatch": ThreadPoolExecutor(8), "internal": ThreadPoolExecutor(4)}

    def last_runs(self) -> dict[tuple[str, str, str], float]:
        return self.store.last_run_times()  # targets without a recent result get a first run now

    def schedule(self, spec: JobSpec, now: datetime, last_run: dict[tuple[str, str, str], float]) -> None:
        settings, job_id = spec.settings, spec.job_id
        # Fixed per-target phase instead of random jitter: every scheduler computes the same
        # slots, so the run keys of a takeover match and nothing runs twice.
        first = datetime.fromtimestamp(self.dist.first_run_after(job_id, settings.interval, now.timestamp()), UTC)
        trigger = IntervalTrigger(seconds=settings.interval, start_date=first, timezone=self.config.settings.tz)
        last = last_run.get((spec.service.id, str(spec.kind), spec.url))
        if last is None or now.timestamp() - last > settings.interval:
            # Its slot may be up to an interval away (a day for daily scans): run once now,
            # spread like the embedded daemon's first runs. The slot nearest to now names it.
            soon = now + timedelta(seconds=random.uniform(0, min(settings.interval, 10.0)))
            self.scheduler.add_job(self._enqueue, "date", run_date=soon, args=[job_id], id=job_id + "#first",
                                   replace_existing=True, executor="dispatch", misfire_grace_time=None)
        self.scheduler.add_job(self._enqueue, trigger, args=[job_id], id=job_id, name=job_id, replace_existing=True,
                               executor="dispatch", misfire_grace_time=max(1, int(settings.interval)))

    def internal_jobs(self) -> None:
        self.scheduler.add_job(self._queue_sweep, IntervalTrigger(seconds=5), id="_queue_sweep",
                               executor="internal", next_run_time=datetime.now(self.config.settings.tz))

    def _enqueue(self, job_id: str) -> None:
        """Put the run of the current slot on the queue (workers run it)."""
        dist = self.dist
        spec = self._specs.get(job_id)
        if spec is None or not self.leader:
            return
        self._started[job_id] = time.time()
        slot, scheduled_at = dist.slot_of(job_id, spec.settings.interval, time.time())
        key = dist.run_key(job_id, slot)
        try:
            dist.enqueue(self.broker, self.config.kinds, spec.service, spec.kind, spec.url, key, scheduled_at,
                         self.config.locations)
        except Exception as exc:
            log.error("Prüfauftrag %s konnte nicht eingereiht werden: %s", job_id, exc)
            self.metrics.error(str(spec.kind), "enqueue")
            return
        self.metrics.enqueued.labels(str(spec.kind)).inc()
        log.debug("enqueued run %s for %s", key, job_id)

    def _queue_sweep(self) -> None:
        """Return dead workers' jobs to the queues; export how many wait; combine the located
        runs that are due with the votes they have; count each worker location's workers."""
        dist, config = self.dist, self.config
        for queue in (*dist.QUEUES, *dist.location_queues(config)):
            self.metrics.queue_messages.labels(queue).set(self.broker.sweep(queue))
        assert config.settings.queue is not None
        within = config.settings.queue.redelivery_after
        for name in dist.worker_locations(config):
            self.metrics.location_workers.labels(name).set(dist.location_workers(self.broker, name, within))
        if self.leader:
            self._finish_located()

    def _finish_located(self) -> None:
        """Store the located runs past their due time from the votes that arrived (a missing one
        is no vote: `location_unavailable`, never `down`)."""
        dist = self.dist
        for run in dist.due_runs(self.broker):
            key = str(run["run_key"])
            try:
                result = dist.combined(self.config.kinds, run, self.config.locations)
                self.store.record(result, run_key=key)  # a worker's complete set stored first: kept
            except Exception as exc:
                log.error("Ergebnis des Laufs %s von mehreren Standorten nicht gespeichert: %s", key, exc)
                self.metrics.error(str(run.get("kind", "")), "store")
                continue
            for name in run["names"]:
                if name not in run["votes"]:
                    self.metrics.votes_missing.labels(name).inc()
            dist.finish(self.broker, key)

    def _heartbeat(self) -> None:
        if not self.lease.alive():
            self._lose_lead()
            return
        super()._heartbeat()

    def healthy(self) -> tuple[bool, str]:
        if not self.leader:
            return True, "standby: another scheduler holds the lease"
        return super().healthy()

    def start(self) -> None:
        host, port = self.config.settings.listen_host_port
        self.serve((host, port), self.reload)
        threading.Thread(target=self._lease_loop, name="lease", daemon=True).start()
        assert self.http is not None
        log.info("egov-monitor %s Scheduler gestartet, /metrics auf %s://%s:%d/metrics; bewirbt sich um das Lease",
                 __version__, self.scheme, host, self.http.server_address[1])

    def _lease_loop(self) -> None:
        """Stand by until the lease is ours, then schedule until it is lost."""
        assert self.config.settings.queue is not None
        retry = self.config.settings.queue.lease_retry
        announced = False
        while not self._stop.is_set():
            if not self.leader:
                try:
                    got = self.lease.try_acquire()
                except Exception as exc:
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

    def close_dispatch(self) -> None:
        self.lease.release()
        self.broker.close()
