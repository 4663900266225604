"""Result store: append-only results, the per-target timeline, the latest state, heartbeats.

SQLAlchemy Core over SQLite (WAL) by default; a PostgreSQL URL works unchanged. One result
is written in one transaction together with its timeline entry and the `latest` row, so
a crash (even kill -9) loses at most the result being written and never leaves the
timeline out of step with the results. The schema is owned by Alembic migrations in
`monitor/migrations`; `Store.open()` upgrades to the newest revision.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from checks.result import CheckResult

log = logging.getLogger(__name__)

metadata = sa.MetaData()
_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only

results = sa.Table(
    "results", metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("run_key", sa.String(200), nullable=True, unique=True),
    sa.Column("service_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("started_at", sa.Float(), nullable=False),
    sa.Column("duration_seconds", sa.Float(), nullable=False),
    sa.Column("measurements", sa.JSON(), nullable=False),
    sa.Column("evidence", sa.JSON(), nullable=False),
    sa.Index("ix_results_service_kind_started", "service_id", "kind", "started_at"),
    sa.Index("ix_results_started", "started_at"),
)

state_changes = sa.Table(
    "state_changes", metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("service_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("at", sa.Float(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("result_id", sa.BigInteger(), nullable=False),
    sa.Index("ix_state_changes_key_at", "service_id", "kind", "url", "at"),
)

latest = sa.Table(
    "latest", metadata,
    sa.Column("service_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("url", sa.String(2048), primary_key=True),
    sa.Column("result_id", sa.BigInteger(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("since", sa.Float(), nullable=False),
    sa.Column("started_at", sa.Float(), nullable=False),
    sa.Column("result", sa.JSON(), nullable=False),
)

heartbeats = sa.Table(
    "heartbeats", metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("hostname", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("started_at", sa.Float(), nullable=False),
    sa.Column("last_beat_at", sa.Float(), nullable=False),
    sa.Column("stopped_at", sa.Float(), nullable=True),
)


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


def _ts(dt: datetime) -> float:
    return dt.timestamp()


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


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
        engine = sa.create_engine(url, connect_args={"timeout": 10, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def upgrade_schema(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Store:
    """All reads and writes of results. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        # SQLite has one writer at a time; queueing in Python beats busy-waiting in SQLite.
        self._write_lock = threading.Lock() if self._sqlite else None

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        engine = create_engine(url)
        if migrate:
            upgrade_schema(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ writes

    def _locked(self):
        return self._write_lock if self._write_lock is not None else _NullLock()

    def record(self, result: CheckResult, *, run_key: str | None = None) -> int | None:
        """Store one result and update the timeline. Returns the result id, or None when
        `run_key` was already stored (a job delivered twice stores one result)."""
        started = _ts(result.started_at)
        plain = result.to_dict()
        row = {
            "run_key": run_key,
            "service_id": result.service_id,
            "kind": result.kind.value,
            "url": result.url,
            "state": result.state.value,
            "reason": result.reason.value,
            "started_at": started,
            "duration_seconds": result.duration_seconds,
            "measurements": plain["measurements"],
            "evidence": plain["evidence"],
        }
        key = {"service_id": result.service_id, "kind": result.kind.value, "url": result.url}
        with self._locked():
            try:
                with self.engine.begin() as conn:
                    rid = conn.execute(results.insert().values(**row)).inserted_primary_key[0]
                    cur = conn.execute(
                        sa.select(latest.c.state, latest.c.since, latest.c.started_at).where(
                            *(getattr(latest.c, k) == v for k, v in key.items())
                        )
                    ).first()
                    if cur is not None and cur.started_at > started:
                        return rid  # an older result delivered late: history only
                    since = started
                    if cur is None or cur.state != result.state.value:
                        conn.execute(state_changes.insert().values(
                            **key, at=started, state=result.state.value, reason=result.reason.value, result_id=rid))
                    else:
                        since = cur.since
                    values = {"result_id": rid, "state": result.state.value, "since": since,
                              "started_at": started, "result": plain}
                    if cur is None:
                        conn.execute(latest.insert().values(**key, **values))
                    else:
                        conn.execute(latest.update().where(
                            *(getattr(latest.c, k) == v for k, v in key.items())).values(**values))
                    return rid
            except sa.exc.IntegrityError:
                if run_key is not None and self.has_run_key(run_key):
                    return None
                raise

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

    def purge_raw(self, older_than: datetime) -> int:
        """Delete raw results older than `older_than` (timeline and latest stay)."""
        with self._locked(), self.engine.begin() as conn:
            return conn.execute(results.delete().where(results.c.started_at < _ts(older_than))).rowcount or 0

    # ------------------------------------------------------------------ reads

    def latest(self, kind: str | None = None) -> list[LatestState]:
        query = sa.select(latest.c.result, latest.c.result_id, latest.c.since)
        if kind is not None:
            query = query.where(latest.c.kind == kind)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [LatestState(CheckResult.from_dict(_json(r.result)), r.result_id, _dt(r.since)) for r in rows]

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
                yield r.id, CheckResult.from_dict({
                    "service_id": r.service_id, "url": r.url, "kind": r.kind, "state": r.state, "reason": r.reason,
                    "started_at": _dt(r.started_at).isoformat(), "duration_seconds": r.duration_seconds,
                    "measurements": _json(r.measurements), "evidence": _json(r.evidence)})

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


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class _NullLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
