"""Result store: results, the per-target timeline, the latest state, heartbeats, rollups.

SQLAlchemy Core over SQLite (WAL) by default; a PostgreSQL URL works unchanged. A batch of
results is written in one transaction together with their timeline entries and the
`latest` rows, so a crash (even kill -9) loses at most the batch being written and never
leaves the timeline out of step with the results. The schema is owned by Alembic migrations in
`monitor/migrations`; `Store.open()` upgrades to the newest revision.

Every result is also folded into hourly and daily rollups (`monitor.rollup`) in the same
transaction; the annual report reads those, so raw results can be deleted after a few
days. A raw result that began a down or unknown state is kept: it is the evidence of that change.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checks.kind import Registry
from checks.result import CheckResult
from monitor import rollup
from monitor.batchsql import CoreWrites, SqliteStatements, SqliteWrites
from monitor.rows import compact_json, json_value, load_json, result_row, rollup_mapping, row_result
from monitor.rows import dt as _dt
from monitor.rows import ts as _ts
from monitor.tables import (  # noqa: F401 - the tables are part of the store's API
    heartbeats,
    latest,
    metadata,
    results,
    rollups,
    satisfaction,
    series,
    state_changes,
)

log = logging.getLogger(__name__)

_LOCK_SERIES, _LOCK_MIGRATE, LOCK_SCHEDULER = 0x45470001, 0x45470002, 0x45470003

KEEP_EVIDENCE_OF = ("down", "unknown")  # raw results that began such a state are kept past retention


@dataclasses.dataclass(frozen=True, slots=True)
class DayRollup:
    """One series' results on one local day."""

    service_id: str
    kind: str
    url: str
    day: int  # yyyymmdd
    bucket: rollup.Bucket


@dataclasses.dataclass(frozen=True, slots=True)
class SatisfactionFigure:
    """Survey or feedback figures for one service and period, imported from CSV."""

    service_id: str
    period: str
    respondents: int
    mean_rating: float
    staff_rating: float | None
    source: str


@dataclasses.dataclass(frozen=True, slots=True)
class StateChange:
    service_id: str
    kind: str
    url: str
    at: datetime
    state: str
    reason: str
    result_id: int


@dataclasses.dataclass(frozen=True, slots=True)
class LatestState:
    result: CheckResult
    result_id: int
    since: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class MonitorGap:
    """A time span in which no egov-monitor daemon was running (unknown time)."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable against process crashes
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def create_engine(url: str) -> Engine:
    """Engine for `url`; SQLite gets WAL mode and its directory created."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 10, "check_same_thread": False},
                                  json_serializer=compact_json,
                                  json_deserializer=load_json)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, json_serializer=compact_json,
                            json_deserializer=load_json)


def upgrade_schema(engine: Engine, kinds: Registry[Any]) -> None:
    """Bring the schema to the newest Alembic revision (a data migration may ask the kinds
    how their rows are written)."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # scheduler and workers start together: one migrates
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:ns, 0)"), {"ns": _LOCK_MIGRATE})
        cfg.attributes["connection"] = conn
        cfg.attributes["kinds"] = kinds
        command.upgrade(cfg, "head")


class Store:
    """All reads and writes of results. Thread-safe."""

    def __init__(self, engine: Engine, kinds: Registry[Any], tz: ZoneInfo | None = None) -> None:
        self.engine = engine
        self.kinds = kinds  # the process's kinds: how each writes its rows and folds its rollups
        self.tz = tz or ZoneInfo("Europe/Berlin")  # day rollups are local calendar days
        self._series: dict[tuple[str, str, str], int] = {}
        self._sqlite = engine.dialect.name == "sqlite"
        # SQLite has one writer at a time; queueing in Python beats busy-waiting in SQLite.
        self._write_lock = threading.Lock() if self._sqlite else None
        self._statements = SqliteStatements(engine) if self._sqlite else None

    @classmethod
    def open(cls, url: str, kinds: Registry[Any], *, migrate: bool = True, tz: ZoneInfo | None = None) -> Store:
        engine = create_engine(url)
        if migrate:
            upgrade_schema(engine, kinds)
        return cls(engine, kinds, tz)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ writes

    def _locked(self):
        return self._write_lock if self._write_lock is not None else _NullLock()

    def record(self, result: CheckResult, *, run_key: str | None = None) -> int | None:
        """Store one result and update the timeline. Returns the result id, or None when
        `run_key` was already stored (a job delivered twice stores one result)."""
        return self.record_batch([(result, run_key)])[0]

    def record_batch(self, items: Sequence[tuple[CheckResult, str | None]]) -> list[int | None]:
        """Store results in one transaction, each with the meaning `record` gives it, in order:
        the raw rows, one fold per series into the rollups, the timeline and `latest`. Returns
        the ids (None for a `run_key` already stored). Nothing of the batch is stored if it fails."""
        if not items:
            return []
        try:
            with self._locked():
                return self._write_batch(items)
        except sa.exc.IntegrityError:
            if len(items) > 1:  # a run_key delivered twice: settle each on its own
                return [self.record(result, run_key=key) for result, key in items]
            if items[0][1] is not None and self.has_run_key(items[0][1]):
                return [None]
            raise

    def _write_batch(self, items: Sequence[tuple[CheckResult, str | None]]) -> list[int | None]:
        groups: dict[tuple[str, str, str], list[int]] = {}
        for i, (result, _key) in enumerate(items):
            groups.setdefault((result.service_id, str(result.kind), result.url), []).append(i)
        sids = {key: self._committed_series_id(*key) for key in groups}
        with self.engine.begin() as conn:
            if not self._sqlite:
                # Several workers write at once: one writer per series at a time (taken in one
                # order, so two batches never wait for each other), so the read-modify-write
                # of `latest` and the rollups never interleaves.
                for lock_key in sorted({sid & 0x7FFFFFFF for sid in sids.values()}):
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                                 {"ns": _LOCK_SERIES, "key": lock_key})
            writes = self._writes(conn)
            plains = [result.to_dict() for result, _key in items]  # the row's and `latest`'s (one thaw each)
            ids = writes.insert_results([result_row(self.kinds, result, key, plain)
                                         for (result, key), plain in zip(items, plains, strict=True)])
            current = writes.latest_of(list(groups))
            self._merge_rollups(writes, [(sids[key], *rollup.fold_results(self.kinds, [items[i][0] for i in idx], self.tz), key[1])
                                       for key, idx in groups.items()])
            changes, inserts, updates = [], [], []
            for key, idx in groups.items():
                cur = current.get(key)
                state, since, newest = (cur.state, cur.since, cur.started_at) if cur is not None else (None, 0.0, None)
                last = None
                for i in idx:
                    result = items[i][0]
                    started = _ts(result.started_at)
                    if newest is not None and newest > started:
                        continue  # an older result delivered late: history only
                    if state != result.state.value:
                        changes.append({"service_id": key[0], "kind": key[1], "url": key[2], "at": started,
                                        "state": result.state.value, "reason": result.reason.value,
                                        "result_id": ids[i]})
                        state, since = result.state.value, started
                    newest, last = started, i
                if last is None:
                    continue
                values = {"result_id": ids[last], "state": state, "since": since, "started_at": newest,
                          "result": plains[last]}
                if cur is None:
                    inserts.append({"service_id": key[0], "kind": key[1], "url": key[2], **values})
                else:
                    updates.append({"k_service": key[0], "k_kind": key[1], "k_url": key[2], **values})
            if changes:
                writes.insert_changes(changes)
            if inserts:
                writes.insert_latest(inserts)
            if updates:
                writes.update_latest(updates)
        return ids

    def _writes(self, conn: Connection) -> CoreWrites | SqliteWrites:
        """The batch's statements: on the driver's cursor for SQLite (compiled once), Core elsewhere."""
        if self._statements is None:
            return CoreWrites(conn)
        return SqliteWrites(conn, self._statements)

    # ------------------------------------------------------------------ rollups

    def _committed_series_id(self, service_id: str, kind: str, url: str) -> int:
        """The series id, created in a transaction of its own: a rolled-back result never
        leaves a cached id behind that the database does not have."""
        key = (service_id, kind, url)
        sid = self._series.get(key)
        if sid is not None:
            return sid
        with self.engine.begin() as conn:
            if not self._sqlite:  # concurrent writers may create the same series: first one wins
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                conn.execute(pg_insert(series).values(service_id=service_id, kind=kind, url=url)
                             .on_conflict_do_nothing(constraint="uq_series_key"))
            return self._series_id(conn, service_id, kind, url)

    def _series_id(self, conn: Connection, service_id: str, kind: str, url: str) -> int:
        key = (service_id, kind, url)
        sid = self._series.get(key)
        if sid is None:
            where = (series.c.service_id == service_id, series.c.kind == kind, series.c.url == url)
            sid = conn.execute(sa.select(series.c.id).where(*where)).scalar()
            if sid is None:
                sid = _new_id(conn.execute(series.insert().values(service_id=service_id, kind=kind, url=url)))
            self._series[key] = sid
        return sid

    def _merge_rollups(self, writes: CoreWrites | SqliteWrites,
                       batches: Sequence[tuple[int, dict[int, rollup.Bucket], dict[int, rollup.Bucket], str]]) -> None:
        """Merge folded buckets (series id, hours, days, kind) into the rollups: one read of
        the rows they touch, then bulk inserts and updates."""
        # Hour rows only where results come more often than hourly (availability); they keep
        # counts and latencies, the last result's measurements and digest live in day rows.
        wanted: list[tuple[int, str, int]] = []
        plan = []
        for sid, hours, days, kind in batches:
            for bucket in hours.values():
                bucket.last_measurements = bucket.last_digest = None
            records = self.kinds.records(kind)
            parts = (("h", hours if records is not None and records.hour_rollups else {}), ("d", days))
            plan.append((sid, parts))
            wanted += [(sid, resolution, key) for resolution, buckets in parts for key in buckets]
        existing: dict[tuple[int, str, int], rollup.Bucket] = {}
        for resolution in ("h", "d"):
            keys = {(sid, key) for sid, res, key in wanted if res == resolution}
            sids, wanted_buckets = sorted({sid for sid, _ in keys}), sorted({key for _, key in keys})
            for m in writes.rollup_rows(sids, resolution, wanted_buckets):
                if (m["series_id"], m["bucket"]) in keys:
                    existing[(m["series_id"], resolution, m["bucket"])] = rollup.Bucket.from_row(m)
        new_rows, changed = [], []
        for sid, parts in plan:
            seen_hours: list[int] = []  # hours that had results before: not new hours of their day
            for resolution, buckets in parts:
                for key, bucket in buckets.items():
                    old = existing.get((sid, resolution, key))
                    if old is None:
                        new_rows.append({"series_id": sid, "resolution": resolution, "bucket": key, **bucket.to_row()})
                        continue
                    if resolution == "h":
                        seen_hours.append(key)
                    else:
                        bucket.hours -= sum(1 for h in seen_hours if rollup.local_day(h, self.tz) == key)
                    old.merge(bucket)
                    changed.append({"k_sid": sid, "k_res": resolution, "k_bucket": key, **old.to_row()})
        if new_rows:
            writes.insert_rollups(new_rows)
        if changed:
            writes.update_rollups(changed)

    def ingest_series(self, service_id: str, kind: str, url: str, started: np.ndarray, states: np.ndarray,
                      reasons: Sequence[str], latency: np.ndarray, maintenance: np.ndarray,
                      make_result: Callable[[int], CheckResult], *, raw_since: float,
                      measurements: Sequence[dict[str, Any] | None] | None = None,
                      digests: Sequence[dict[str, Any] | None] | None = None) -> int:
        """Store many results of one series at once (imports, the synthetic year).

        The arrays are aligned and sorted by `started`, and newer than anything stored for
        the series. Rollups and the timeline get every result; raw rows are written for
        results at or after `raw_since` and for each result that changed the state (built
        by `make_result(i)`). Returns the number of raw rows written.
        """
        states = np.asarray(states)
        hours, days = rollup.fold(started, states, latency, maintenance, self.tz, measurements, digests)
        key = {"service_id": service_id, "kind": kind, "url": url}
        with self._locked(), self.engine.begin() as conn:
            sid = self._series_id(conn, service_id, kind, url)
            self._merge_rollups(self._writes(conn), [(sid, hours, days, kind)])
            cur = conn.execute(sa.select(latest.c.state, latest.c.since).where(
                *(getattr(latest.c, k) == v for k, v in key.items()))).first()
            previous = rollup.STATE_CODE[cur.state] if cur is not None else -1
            changed = np.flatnonzero(states != np.concatenate(([previous], states[:-1])))
            first_raw = int(np.searchsorted(started, raw_since))
            change_rows, ids = [], {}
            for i in changed.tolist():
                state = rollup.STATES[int(states[i])]
                result_id = 0  # 0: the raw result is past retention and was no failure worth keeping
                if state in KEEP_EVIDENCE_OF or i >= first_raw:
                    result_id = ids[i] = _new_id(conn.execute(results.insert().values(**result_row(self.kinds, make_result(i)))))
                change_rows.append({**key, "at": float(started[i]), "state": state, "reason": reasons[i],
                                    "result_id": result_id})
            if change_rows:
                conn.execute(state_changes.insert(), change_rows)
            written, batch = len(ids), []
            for i in range(first_raw, len(started)):
                if i not in ids:
                    batch.append(result_row(self.kinds, make_result(i)))
                if len(batch) >= 5000 or (batch and i == len(started) - 1):
                    conn.execute(results.insert(), batch)
                    written, batch = written + len(batch), []
            last = len(started) - 1
            if last >= 0:
                last_id = ids.get(last) or conn.execute(sa.select(sa.func.max(results.c.id)).where(
                    results.c.service_id == service_id, results.c.kind == kind, results.c.url == url)).scalar()
                if len(changed):
                    since = float(started[changed[-1]])
                else:
                    assert cur is not None  # no change in this batch: the series had a state before
                    since = cur.since
                values = {"result_id": last_id or 0, "state": rollup.STATES[int(states[last])], "since": since,
                          "started_at": float(started[last]), "result": make_result(last).to_dict()}
                if cur is None:
                    conn.execute(latest.insert().values(**key, **values))
                else:
                    conn.execute(latest.update().where(*(getattr(latest.c, k) == v for k, v in key.items()))
                                 .values(**values))
        return written

    def day_rollups(self, first_day: int, last_day: int, kind: str | None = None,
                    service_id: str | None = None) -> Iterator[DayRollup]:
        """Day rollups with first_day <= day <= last_day (yyyymmdd), by series and day."""
        r = rollups.c
        # the JSON columns as text, decoded here (SQLAlchemy's JSON processing per value cost
        # a third of a year's report); availability rows have no measurements ("null")
        query = (sa.select(series.c.service_id, series.c.kind, series.c.url, r.bucket, r.n_up, r.n_degraded, r.n_down,
                           r.n_unknown, r.n_maintenance, r.latency_n, r.latency_sum, *_as_text(r.hist), r.hours,
                           r.last_at, r.last_state, *_as_text(r.last_measurements, r.last_digest))
                 .join(series, series.c.id == r.series_id)
                 .where(r.resolution == "d", r.bucket >= first_day, r.bucket <= last_day)
                 .order_by(r.series_id, r.bucket))
        if kind is not None:
            query = query.where(series.c.kind == kind)
        if service_id is not None:
            query = query.where(series.c.service_id == service_id)
        loads, failed = orjson.loads, (orjson.JSONDecodeError, TypeError)
        with self.engine.connect() as conn:
            for (sid, kind_name, url, day, up, degraded, down, unknown, maint, lat_n, lat_sum, hist, hours, last_at,
                 last_state, measured, digest) in conn.execute(query):
                try:  # inline: 400,000 rows a year, three values each
                    hist = loads(hist)
                    measured = None if measured == "null" else loads(measured)
                    digest = None if digest == "null" else loads(digest)
                except failed:  # PostgreSQL's objects; NaN
                    hist, measured, digest = (json_value(v) for v in (hist, measured, digest))
                yield DayRollup(sid, kind_name, url, day, rollup.Bucket.from_columns(
                    up, degraded, down, unknown, maint, lat_n, lat_sum, hist, hours, last_at, last_state, measured, digest))

    def hour_rollups(self, service_id: str, kind: str, url: str, since: datetime, until: datetime) -> dict[int, rollup.Bucket]:
        """Hour rollups of one series in [since, until), keyed by the hour's UTC epoch."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(rollups).join(series, series.c.id == rollups.c.series_id).where(
                series.c.service_id == service_id, series.c.kind == kind, series.c.url == url,
                rollups.c.resolution == "h", rollups.c.bucket >= int(since.timestamp()),
                rollups.c.bucket < int(until.timestamp())))
            return {r.bucket: rollup.Bucket.from_row(rollup_mapping(r._mapping)) for r in rows}

    # ------------------------------------------------------------------ satisfaction

    def import_satisfaction(self, figures: Sequence[SatisfactionFigure]) -> int:
        """Store survey figures; a (service, period) imported again is replaced."""
        now = time.time()
        with self._locked(), self.engine.begin() as conn:
            for f in figures:
                conn.execute(satisfaction.delete().where(satisfaction.c.service_id == f.service_id,
                                                         satisfaction.c.period == f.period))
                conn.execute(satisfaction.insert().values(**dataclasses.asdict(f), imported_at=now))
        return len(figures)

    def satisfaction_figures(self) -> list[SatisfactionFigure]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(satisfaction).order_by(satisfaction.c.service_id, satisfaction.c.period))
            return [SatisfactionFigure(r.service_id, r.period, r.respondents, r.mean_rating, r.staff_rating, r.source)
                    for r in rows]

    def has_run_key(self, run_key: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(results.c.id).where(results.c.run_key == run_key)).first() is not None

    def start_run(self, version: str) -> str:
        """Register a daemon run; its heartbeats mark the time the monitor was watching."""
        run_id = str(uuid.uuid4())
        now = time.time()
        with self._locked(), self.engine.begin() as conn:
            conn.execute(heartbeats.insert().values(run_id=run_id, hostname=socket.gethostname()[:255], pid=os.getpid(),
                                                    version=version, started_at=now, last_beat_at=now))
        return run_id

    def beat(self, run_id: str, *, stopped: bool = False) -> None:
        now = time.time()
        values: dict[str, Any] = {"last_beat_at": now}
        if stopped:
            values["stopped_at"] = now
        with self._locked(), self.engine.begin() as conn:
            conn.execute(heartbeats.update().where(heartbeats.c.run_id == run_id).values(**values))

    def purge_raw(self, older_than: datetime, kind: str | None = None) -> int:
        """Delete raw results older than `older_than` (of one kind, or all). Rollups, the
        timeline, the latest state and the results that began a down or unknown state stay."""
        referenced = sa.select(state_changes.c.result_id).where(state_changes.c.state.in_(KEEP_EVIDENCE_OF))
        where = [results.c.started_at < _ts(older_than), results.c.id.not_in(referenced)]
        if kind is not None:
            where.append(results.c.kind == kind)
        with self._locked(), self.engine.begin() as conn:
            return conn.execute(results.delete().where(*where)).rowcount or 0

    # ------------------------------------------------------------------ reads

    def latest(self, kind: str | None = None) -> list[LatestState]:
        query = sa.select(latest.c.result, latest.c.result_id, latest.c.since)
        if kind is not None:
            query = query.where(latest.c.kind == kind)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [LatestState(CheckResult.from_dict(json_value(r.result)), r.result_id, _dt(r.since)) for r in rows]

    def current(self, kind: str) -> list[tuple[str, str, str, float, float]]:
        """(service, url, state, started_at, since) of every series of `kind`: its newest state
        without the stored result (the status page reads only this)."""
        query = (sa.select(latest.c.service_id, latest.c.url, latest.c.state, latest.c.started_at, latest.c.since)
                 .where(latest.c.kind == kind))
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]

    def latest_results(self, kind: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], CheckResult]:
        """The newest stored result of each (service, url) series of `kind` in `keys` (few: the
        status page reads those whose state it must explain)."""
        out: dict[tuple[str, str], CheckResult] = {}
        with self.engine.connect() as conn:
            for sid, url in keys:
                row = conn.execute(sa.select(latest.c.result).where(
                    latest.c.kind == kind, latest.c.service_id == sid, latest.c.url == url)).first()
                if row is not None:
                    out[(sid, url)] = CheckResult.from_dict(json_value(row.result))
        return out

    def day_counts(self, kind: str, service_ids: list[str], first: int, last: int) -> dict[tuple[str, int], list[int]]:
        """(service, yyyymmdd) -> [up or degraded, down, in maintenance], summed over the
        service's series of `kind`, for the days first..last (yyyymmdd)."""
        out: dict[tuple[str, int], list[int]] = {}
        query = (sa.select(series.c.service_id, rollups.c.bucket, rollups.c.n_up, rollups.c.n_degraded,
                           rollups.c.n_down, rollups.c.n_maintenance)
                 .join(series, series.c.id == rollups.c.series_id)
                 .where(series.c.kind == kind, rollups.c.resolution == "d", rollups.c.bucket >= first,
                        rollups.c.bucket <= last))
        with self.engine.connect() as conn:
            for i in range(0, len(service_ids), 500):
                chunk = query.where(series.c.service_id.in_(service_ids[i:i + 500]))
                for sid, bucket, up, degraded, down, maint in conn.execute(chunk):
                    acc = out.setdefault((sid, bucket), [0, 0, 0])
                    acc[0] += up + degraded
                    acc[1] += down
                    acc[2] += maint
        return out

    def last_run_times(self) -> dict[tuple[str, str, str], float]:
        """When the newest result of each (service, kind, URL) started; no result bodies read."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(latest.c.service_id, latest.c.kind, latest.c.url, latest.c.started_at))
            return {(r.service_id, r.kind, r.url): r.started_at for r in rows}

    def results(self, service_id: str | None = None, *, kind: str | None = None,
                since: datetime | None = None, until: datetime | None = None) -> Iterator[tuple[int, CheckResult]]:
        query = sa.select(results).order_by(results.c.started_at, results.c.id)
        if service_id is not None:
            query = query.where(results.c.service_id == service_id)
        if kind is not None:
            query = query.where(results.c.kind == kind)
        if since is not None:
            query = query.where(results.c.started_at >= _ts(since))
        if until is not None:
            query = query.where(results.c.started_at < _ts(until))
        with self.engine.connect() as conn:
            for r in conn.execute(query):
                yield r.id, row_result(self.kinds, r)

    def newest_result(self, service_id: str, kind: str, since: datetime, until: datetime) -> CheckResult | None:
        """The newest stored result of a service's kind that started in [since, until)."""
        query = (sa.select(results).where(results.c.service_id == service_id, results.c.kind == kind,
                                          results.c.started_at >= _ts(since), results.c.started_at < _ts(until))
                 .order_by(results.c.started_at.desc(), results.c.id.desc()).limit(1))
        with self.engine.connect() as conn:
            r = conn.execute(query).first()
        if r is None:
            return None
        return row_result(self.kinds, r)

    def count_results(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(results)).scalar_one()

    def timeline(self, service_id: str | None = None, kind: str | None = None, url: str | None = None) -> list[StateChange]:
        query = sa.select(state_changes).order_by(state_changes.c.at, state_changes.c.id)
        for col, value in (("service_id", service_id), ("kind", kind), ("url", url)):
            if value is not None:
                query = query.where(getattr(state_changes.c, col) == value)
        with self.engine.connect() as conn:
            return [StateChange(r.service_id, r.kind, r.url, _dt(r.at), r.state, r.reason, r.result_id)
                    for r in conn.execute(query)]

    def changes(self, kind: str, until: float) -> Iterator[tuple[str, str, float, str, str]]:
        """(service, URL, at, state, reason) of each state change of `kind` before `until`
        (epoch seconds), in order: the report's read of a year's timeline, as plain tuples."""
        c = state_changes.c
        query = (sa.select(c.service_id, c.url, c.at, c.state, c.reason).where(c.kind == kind, c.at < until)
                 .order_by(c.at, c.id))
        with self.engine.connect() as conn:
            yield from conn.execute(query)  # (rows unpack as tuples)

    def runs(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(heartbeats).order_by(heartbeats.c.started_at))]

    def monitor_gaps(self, start: datetime, end: datetime) -> list[MonitorGap]:
        """Spans inside [start, end) with no daemon alive: between one run's last heartbeat
        (or clean stop) and the next run's start. Time after the newest run's last beat
        counts as a gap only up to `end`."""
        gaps: list[MonitorGap] = []
        covered_until = start.timestamp()
        for run in self.runs():
            if run["started_at"] > covered_until:
                gaps.append(MonitorGap(_dt(covered_until), _dt(min(run["started_at"], end.timestamp()))))
            covered_until = max(covered_until, run["stopped_at"] or run["last_beat_at"])
        if covered_until < end.timestamp():
            gaps.append(MonitorGap(_dt(covered_until), end))
        return [g for g in gaps if g.end > g.start and g.start < end]


def _as_text(*columns: Any) -> list[Any]:
    """JSON columns read as their text (PostgreSQL's driver still decodes a json column)."""
    return [sa.type_coerce(c, sa.Text()) for c in columns]


def _new_id(cursor: Any) -> int:
    """The primary key an INSERT created."""
    key = cursor.inserted_primary_key
    assert key is not None
    return int(key[0])

class _NullLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
