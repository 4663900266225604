"""Distributed mode: one scheduler enqueues check jobs on Redis (Dramatiq), workers run them.

Chosen by settings: `queue.url` set switches `egov-monitor` from the embedded daemon to
`egov-monitor scheduler` plus any number of `egov-monitor worker` processes, all writing
to one PostgreSQL store. The checks are the same functions the embedded daemon runs
(the process's registry through `monitor.runner.CheckRunner`); only the transport differs.

- Two queues: `http` (availability, security) and `browser` (accessibility, DSGVO), so a
  slow browser fleet never delays an availability probe. A worker process runs a pool of
  threads per queue it consumes.
- A job carries everything needed to run it (the service, the check's resolved settings,
  the URL), so the scheduler alone decides what runs when and how.
- Each scheduled run has a run key: the target plus its slot number. Slots sit at a fixed,
  per-target phase (a hash of the target), so any scheduler computes the same keys; the
  store keeps one result per key (unique index), so a job delivered twice (a worker killed
  after storing, a standby scheduler taking over) stores one result.
- Dramatiq acknowledges a message only after the job returned. The unacknowledged jobs of
  a worker that died (SIGKILL, OOM, lost node) go back to the queue once it has been
  silent for `queue.redelivery_after`; the scheduler triggers that sweep every few seconds.
- Only one scheduler schedules: it holds a PostgreSQL advisory lock (session-level, on
  a connection of its own) as its lease. A second scheduler stands by and takes over
  when the lease holder's connection goes away.
- Locations (issue 39): a check whose settings name locations (and whose kind can combine
  their results) is enqueued as one job per location, all under the run's key. A `local` or
  `proxy` location's job goes to the pool's queue (any worker runs it, through the location's
  proxy); a `worker` location's to `<pool>.<location>`, which only workers started with
  `--location NAME` consume. Each job stores its location's result in Redis as the run's vote;
  the job that completes the set combines the votes by the profile's quorum and stores the one
  result. The run stays pending in Redis (`<ns>:located`, due times in `<ns>:located-due`):
  at its due time the scheduler combines what arrived, a missing vote counting as
  `location_unavailable` (no vote, never `down`). Location workers announce themselves every
  few seconds (`<ns>:location-workers:<name>`), so the scheduler can say when a location has
  none.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import socket
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dramatiq
import redis
import sqlalchemy as sa
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from dramatiq.middleware import AgeLimit, Retries, TimeLimit

from checks.kind import Registry
from checks.locations import Location, LocationUnavailable, location_queue
from checks.result import CheckResult
from monitor.config import Config, ConfigIssue, QueueSettings, ResolvedService, Service
from monitor.store import LOCK_SCHEDULER

log = logging.getLogger(__name__)

QUEUES = ("http", "browser")
PAYLOAD_VERSION = 1
VOTE_MARGIN = 15.0  # seconds after a located run's worst case before missing votes count as none
VOTE_TTL = 6 * 3600  # a run's votes and pending entry are dropped from Redis after this at the latest
ANNOUNCE_EVERY = 5.0  # a location worker's announcement period (seconds), at most


def announce_period(redelivery_after: float) -> float:
    """How often a location worker announces itself: the scheduler counts the workers that did
    within `redelivery_after`, so at least three times in that window (with a window shorter
    than a fixed period, a sweep in the wrong phase never saw a live worker)."""
    return min(ANNOUNCE_EVERY, redelivery_after / 3)


def actor_name(queue: str) -> str:
    return f"egov_check_{queue}"


def distributed_issues(config: Config) -> list[ConfigIssue]:
    """What keeps this configuration from running as scheduler and workers (empty: fine)."""
    file = str(config.settings_file)
    if config.settings.queue is None:
        return [ConfigIssue(file, None, None, "queue.url",
                            "der verteilte Betrieb braucht eine Warteschlange: queue.url auf einen Redis-Server setzen, "
                            "z. B. redis://redis:6379/0 (oder `egov-monitor run` für den Betrieb auf einem Rechner)")]
    if config.store_url.startswith("sqlite"):
        return [ConfigIssue(file, None, None, "store.url",
                            "mehrere Prozesse schreiben in den Speicher: store.url auf PostgreSQL setzen, "
                            "z. B. postgresql+psycopg://egov@postgres/egov (SQLite nur im Einzelbetrieb)")]
    return []


class EgovRedisBroker(RedisBroker):
    """Dramatiq's Redis broker plus a forced maintenance sweep (dead workers' jobs back to the queue)."""

    def sweep(self, queue: str) -> int:
        """Requeue the unacknowledged jobs of workers silent for `heartbeat_timeout`; return
        the number of messages waiting in `queue` (ready and retries)."""
        args = ["qsize", current_millis(), queue, self.broker_id, self.heartbeat_timeout, self.dead_message_ttl,
                1, self._max_unpack_size()]
        return int(self.scripts["dispatch"](args=args, keys=[self.namespace]))


def worker_locations(config: Config) -> list[str]:
    """settings.yaml's locations that only workers started with --location probe from."""
    return [name for name, loc in config.locations.items() if loc.worker]


def location_queues(config: Config) -> list[str]:
    return [location_queue(pool, name) for name in worker_locations(config) for pool in QUEUES]


def make_broker(settings: QueueSettings, handler: Callable[[dict[str, Any]], None] | None = None,
                extra_queues: Iterable[str] = (), base: Path = Path()) -> EgovRedisBroker:
    """The broker with both queues (and the worker locations' queues) declared; with `handler`,
    the actors run it (workers). `base`: the settings directory (the password and TLS files)."""
    client = redis.Redis.from_url(settings.url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30,
                                  **settings.redis_options(base))
    broker = EgovRedisBroker(
        client=client, namespace=settings.namespace, heartbeat_timeout=int(settings.redelivery_after * 1000),
        middleware=[AgeLimit(), TimeLimit(), Retries(max_retries=settings.store_retries, min_backoff=1000,
                                                      max_backoff=60_000)],
    )
    fn = handler or _not_here
    for queue in (*QUEUES, *extra_queues):
        dramatiq.Actor(fn, broker=broker, actor_name=actor_name(queue), queue_name=queue, priority=0, options={})
    return broker


def _not_here(_payload: dict[str, Any]) -> None:  # pragma: no cover - the scheduler never consumes
    raise RuntimeError("the scheduler does not run checks")


# --------------------------------------------------------------------------- run keys and payloads


def phase(job_id: str, interval: float) -> float:
    """A fixed offset in [0, interval) per target: spreads the runs and makes slots deterministic."""
    return int(hashlib.sha1(job_id.encode()).hexdigest()[:8], 16) / 2**32 * interval


def slot_of(job_id: str, interval: float, at: float) -> tuple[int, float]:
    """The slot number nearest to `at` and its scheduled time."""
    ph = phase(job_id, interval)
    slot = math.floor((at - ph) / interval + 0.5)
    return slot, ph + slot * interval


def first_run_after(job_id: str, interval: float, now: float) -> float:
    ph = phase(job_id, interval)
    t = math.floor((now - ph) / interval) * interval + ph
    return t if t >= now else t + interval


def run_key(job_id: str, slot: int) -> str:
    """At most 60 characters whatever the URL's length (results.run_key is 200)."""
    return f"{hashlib.sha1(job_id.encode()).hexdigest()[:24]}:{slot}"


def job_payload(service: ResolvedService, kind: str, url: str, key: str, scheduled_at: float) -> dict[str, Any]:
    return {
        "v": PAYLOAD_VERSION, "run_key": key, "scheduled_at": scheduled_at, "kind": str(kind), "url": url,
        "source": service.source, "service": service.service.model_dump(mode="json"),
        "settings": service.checks[kind].model_dump(mode="json"),
    }


def job_from_payload(kinds: Registry[Any], payload: dict[str, Any]) -> tuple[ResolvedService, str, str]:
    """The service (with just this check), kind and URL; ValueError if the payload is not ours."""
    if payload.get("v") != PAYLOAD_VERSION:
        raise ValueError(f"payload version {payload.get('v')!r}, expected {PAYLOAD_VERSION}")
    impl = kinds.get(payload["kind"])
    if impl is None:
        raise ValueError(f"unknown check kind {payload['kind']!r}")
    kind = impl.name
    settings = impl.check.settings_model.model_validate(payload["settings"])
    service = Service.model_validate(payload["service"])
    return ResolvedService(service, {kind: settings}, str(payload.get("source", "queue"))), kind, str(payload["url"])


def located_names(kinds: Registry[Any], kind: str, settings: Any) -> list[str]:
    """The locations a run is made from, one job each (empty: one job, as ever)."""
    if kinds[kind].check.combine is None:
        return []
    return [name for _where, name in settings.location_refs()]


def enqueue(broker: RedisBroker, kinds: Registry[Any], service: ResolvedService, kind: str, url: str, key: str,
            scheduled_at: float, locations: Mapping[str, Location] | None = None) -> None:
    """Put a run on its queue; a run from several locations as one job per location, the run
    pending in Redis until its votes are combined (`record_vote`, `finish_due`)."""
    payload = job_payload(service, kind, url, key, scheduled_at)
    queue = kinds[kind].check.pool
    names = located_names(kinds, kind, service.checks[kind])
    if not names:
        _put(broker, service.checks[kind], queue, payload)
        return
    known = locations or {}
    due = scheduled_at + service.checks[kind].worst_case_seconds() + VOTE_MARGIN
    ns = broker.namespace
    pipe = broker.client.pipeline(transaction=True)
    pipe.hset(f"{ns}:located", key, json.dumps({**payload, "names": names, "due": due}))
    pipe.zadd(f"{ns}:located-due", {key: due})
    pipe.execute()
    for name in names:
        loc = known.get(name)
        _put(broker, service.checks[kind], location_queue(queue, name) if loc is not None and loc.worker else queue,
             {**payload, "location": name})


def _put(broker: RedisBroker, settings: Any, queue: str, payload: dict[str, Any]) -> None:
    if queue not in broker.queues:  # a worker location added by a reload
        broker.declare_queue(queue)
    message: dramatiq.Message = dramatiq.Message(
        queue_name=queue, actor_name=actor_name(queue), args=(payload,),
        kwargs={}, options={
            # A job older than its interval plus a redelivery is stale: the next slot is due.
            "max_age": int((settings.interval + 2 * broker.heartbeat_timeout / 1000 + 60) * 1000),
            # The check bounds itself; this only catches a check that does not.
            "time_limit": int((settings.worst_case_seconds() * 2 + 60) * 1000),
        })
    broker.enqueue(message)


# --------------------------------------------------------------------------- votes of located runs


def pending_run(broker: RedisBroker, key: str) -> dict[str, Any] | None:
    """The located run still waiting for votes (None: combined already, or not a located run)."""
    raw = broker.client.hget(f"{broker.namespace}:located", key)
    return None if raw is None else json.loads(raw)


def record_vote(broker: RedisBroker, key: str, location: str, result: CheckResult) -> dict[str, Any] | None:
    """Store `location`'s result as its vote on run `key`. Returns the pending run with every
    vote (`votes`: {name: result}) when this vote completed the set: the caller combines and
    stores it (`combined`). None otherwise, or when the run was combined already."""
    ns = broker.namespace
    votes_key = f"{ns}:votes:{key}"
    pipe = broker.client.pipeline(transaction=True)
    pipe.hget(f"{ns}:located", key)
    pipe.hset(votes_key, location, result.to_json())
    pipe.expire(votes_key, int(VOTE_TTL))
    pipe.hgetall(votes_key)
    pending, _set, _expire, votes = pipe.execute()
    if pending is None:
        return None
    run = json.loads(pending)
    got = {_text(k): CheckResult.from_dict(json.loads(v)) for k, v in votes.items()}
    if not set(run["names"]) <= set(got):
        return None
    return {**run, "votes": got}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def due_runs(broker: RedisBroker, now: float | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Located runs past their due time, each with the votes that arrived (`votes`)."""
    ns = broker.namespace
    keys: list[Any] = list(broker.client.zrangebyscore(f"{ns}:located-due", "-inf", now or time.time(), start=0,
                                                       num=limit))
    out = []
    for raw_key in keys:
        key = _text(raw_key)
        run = pending_run(broker, key)
        if run is None:
            broker.client.zrem(f"{ns}:located-due", key)
            continue
        votes = broker.client.hgetall(f"{ns}:votes:{key}")
        out.append({**run, "votes": {_text(k): CheckResult.from_dict(json.loads(v)) for k, v in votes.items()}})
    return out


def combined(kinds: Registry[Any], run: dict[str, Any], locations: Mapping[str, Location]) -> CheckResult:
    """The one result of a located run from its votes; a location without one has no vote
    (`location_unavailable`). Starts when the first location's probe started and lasts until
    the last one's ended."""
    service, kind, url = job_from_payload(kinds, run)
    impl = kinds[kind].check
    assert impl.combine is not None
    votes: dict[str, CheckResult] = run["votes"]
    names = list(run["names"])
    results: dict[str, CheckResult | Exception] = {
        name: votes[name] if name in votes else LocationUnavailable(
            f"kein Worker des Standorts {name} hat die Prüfung rechtzeitig übernommen") for name in names}
    started = min((v.started_at for v in votes.values()), default=datetime.fromtimestamp(run["scheduled_at"], UTC))
    ended = max((v.started_at.timestamp() + v.duration_seconds for v in votes.values()), default=started.timestamp())
    result = impl.combine(impl.target(service.id, url, service.urls), service.checks[kind], names, results,
                          locations, started, time.monotonic())
    return result.replace(duration_seconds=round(max(0.0, ended - started.timestamp()), 6))


def finish(broker: RedisBroker, key: str) -> None:
    """Drop a located run's pending entry and votes (it is stored)."""
    ns = broker.namespace
    pipe = broker.client.pipeline(transaction=True)
    pipe.hdel(f"{ns}:located", key)
    pipe.zrem(f"{ns}:located-due", key)
    pipe.delete(f"{ns}:votes:{key}")
    pipe.execute()


def location_workers_key(namespace: str, location: str) -> str:
    """The Redis hash of a location's workers: identity -> when it last announced itself."""
    return f"{namespace}:location-workers:{location}"


def announce(broker: RedisBroker, location: str, identity: str, gone: bool = False) -> None:
    """A location worker says it is alive (or, at its stop, that it is gone)."""
    key = location_workers_key(broker.namespace, location)
    if gone:
        broker.client.hdel(key, identity)
        return
    pipe = broker.client.pipeline(transaction=True)
    pipe.hset(key, identity, str(time.time()))
    pipe.expire(key, int(VOTE_TTL))
    pipe.execute()


def location_workers(broker: RedisBroker, location: str, within: float, now: float | None = None) -> int:
    """How many workers of `location` announced themselves in the last `within` seconds."""
    now = now or time.time()
    seen = broker.client.hgetall(location_workers_key(broker.namespace, location))
    return sum(1 for at in seen.values() if now - float(_text(at)) <= within)


# --------------------------------------------------------------------------- lease


class SchedulerLease:
    """A PostgreSQL session-level advisory lock held on a connection of its own.

    PostgreSQL releases it when the holder's session ends (process killed, network gone),
    so a standby can take over without a timeout of ours.
    """

    def __init__(self, engine: sa.Engine, namespace: str) -> None:
        self.engine = engine
        self.key = zlib.crc32(namespace.encode()) & 0x7FFFFFFF
        self._conn: sa.Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:ns, :key)"),
                               {"ns": LOCK_SCHEDULER, "key": self.key}).scalar()
        except Exception:
            conn.invalidate()
            conn.close()
            raise
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def alive(self) -> bool:
        """Whether the lock's session still exists (a query on it succeeds)."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(sa.text("SELECT 1")).scalar()
            return True
        except Exception as exc:
            log.error("Verbindung des Scheduler-Leases verloren: %s", exc)
            self._drop()
            return False

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(sa.text("SELECT pg_advisory_unlock(:ns, :key)"), {"ns": LOCK_SCHEDULER, "key": self.key})
            self._conn.close()
        except Exception:
            self._drop()
        self._conn = None

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception as exc:
                log.debug("closing the lease connection: %s", exc)
        self._conn = None


def worker_identity() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"
