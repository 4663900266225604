"""The statements of a batch write (`Store.record_batch`), in two forms with one meaning.

`CoreWrites` builds them with SQLAlchemy Core on any engine (PostgreSQL: several writers,
advisory locks, RETURNING). `SqliteWrites` runs the same statements, compiled once by
SQLAlchemy for SQLite, on the driver's cursor: the embedded daemon's writer spent about 4/5
of its time in SQLAlchemy's per-statement work (compiling, cache keys, bind processing) for
a few hundred rows a batch (docs/benchmarks.md, "sixth session"). Both write the same bytes
(tests/test_store.py compares every table after the same batches through either).
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from monitor.rows import compact_json, rollup_mapping
from monitor.tables import latest, results, rollups, state_changes

RESULT_COLUMNS = ("run_key", "service_id", "kind", "url", "state", "reason", "started_at", "duration_seconds",
                  "measurements", "evidence")
CHANGE_COLUMNS = ("service_id", "kind", "url", "at", "state", "reason", "result_id")
LATEST_VALUES = ("result_id", "state", "since", "started_at", "result")
ROLLUP_VALUES = ("n_up", "n_degraded", "n_down", "n_unknown", "n_maintenance", "latency_n", "latency_sum", "hist",
                 "hours", "last_at", "last_state", "last_measurements", "last_digest")
_JSON = {"measurements", "evidence", "result", "hist", "last_measurements", "last_digest"}
_CHUNK = 300  # values in one IN list: well below SQLite's and PostgreSQL's parameter limits


class LatestRow(NamedTuple):
    state: str
    since: float
    started_at: float


def _latest_update() -> Any:
    return latest.update().where(latest.c.service_id == sa.bindparam("k_service"), latest.c.kind == sa.bindparam("k_kind"),
                                 latest.c.url == sa.bindparam("k_url"))


def _rollup_update() -> Any:
    return rollups.update().where(rollups.c.series_id == sa.bindparam("k_sid"),
                                  rollups.c.resolution == sa.bindparam("k_res"),
                                  rollups.c.bucket == sa.bindparam("k_bucket"))


class _Reads:
    """The two reads of a batch, in chunks; each form says how one chunk is read."""

    def latest_of(self, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], LatestRow]:
        """The `latest` rows (state, since, started_at) of these series: read by service (the
        key's first column, an index lookup; a row-value IN would scan the table on SQLite)."""
        wanted, found = set(keys), {}
        services = sorted({key[0] for key in keys})
        for at in range(0, len(services), _CHUNK):
            for service_id, kind, url, state, since, started_at in self._latest_chunk(services[at:at + _CHUNK]):
                if (service_id, kind, url) in wanted:
                    found[(service_id, kind, url)] = LatestRow(state, since, started_at)
        return found

    def rollup_rows(self, sids: Sequence[int], resolution: str, buckets: Sequence[int]) -> Iterator[dict[str, Any]]:
        """Rollup rows of these series and buckets (and maybe others), JSON columns decoded."""
        for at in range(0, len(sids), _CHUNK):
            yield from self._rollup_chunk(list(sids[at:at + _CHUNK]), resolution, list(buckets))

    def _latest_chunk(self, services: list[str]) -> Iterable[Sequence[Any]]:
        raise NotImplementedError

    def _rollup_chunk(self, sids: list[int], resolution: str, buckets: list[int]) -> Iterable[dict[str, Any]]:
        raise NotImplementedError


class CoreWrites(_Reads):
    """The batch's statements through SQLAlchemy Core on `conn` (any engine)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def insert_results(self, rows: list[dict[str, Any]]) -> list[int | None]:
        inserted = self.conn.execute(results.insert().returning(results.c.id, sort_by_parameter_order=True), rows)
        return [int(row.id) for row in inserted]

    def _latest_chunk(self, services: list[str]) -> Iterable[Sequence[Any]]:
        return self.conn.execute(sa.select(latest.c.service_id, latest.c.kind, latest.c.url, latest.c.state,
                                           latest.c.since, latest.c.started_at)
                                 .where(latest.c.service_id.in_(services)))

    def _rollup_chunk(self, sids: list[int], resolution: str, buckets: list[int]) -> Iterable[dict[str, Any]]:
        # IN on the first and last key column: index lookups on SQLite and PostgreSQL alike
        query = sa.select(rollups).where(rollups.c.series_id.in_(sids), rollups.c.resolution == resolution,
                                         rollups.c.bucket.in_(buckets))
        return (rollup_mapping(r._mapping) for r in self.conn.execute(query))

    def insert_changes(self, rows: list[dict[str, Any]]) -> None:
        self.conn.execute(state_changes.insert(), rows)

    def insert_latest(self, rows: list[dict[str, Any]]) -> None:
        self.conn.execute(latest.insert(), rows)

    def update_latest(self, rows: list[dict[str, Any]]) -> None:
        self.conn.execute(_latest_update(), rows)

    def insert_rollups(self, rows: list[dict[str, Any]]) -> None:
        self.conn.execute(rollups.insert(), rows)

    def update_rollups(self, rows: list[dict[str, Any]]) -> None:
        self.conn.execute(_rollup_update(), rows)


class _Compiled:
    """One statement compiled for SQLite: its SQL and the order of its parameters."""

    __slots__ = ("_json_at", "_pick", "names", "sql")

    def __init__(self, statement: Any, dialect: Any, keys: Sequence[str] | None = None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        self.sql: str = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        names = self.names  # itemgetter gives a bare value for one name: a tuple always here
        self._pick = operator.itemgetter(*names) if len(names) > 1 else lambda row: tuple(row[n] for n in names)
        # the JSON columns' places: written as sa.JSON writes them (None as 'null')
        self._json_at = tuple(i for i, name in enumerate(self.names) if name in _JSON)

    def params(self, row: dict[str, Any]) -> Sequence[Any]:
        values = self._pick(row)
        if not self._json_at:
            return values
        out = list(values)
        for i in self._json_at:
            out[i] = compact_json(out[i])
        return out


class SqliteStatements:
    """The batch's statements compiled once for an SQLite engine."""

    def __init__(self, engine: Engine) -> None:
        d = engine.dialect
        self.results = _Compiled(results.insert(), d, RESULT_COLUMNS)
        self.changes = _Compiled(state_changes.insert(), d, CHANGE_COLUMNS)
        self.latest_insert = _Compiled(latest.insert(), d, ("service_id", "kind", "url", *LATEST_VALUES))
        self.latest_update = _Compiled(_latest_update(), d, LATEST_VALUES)
        self.rollup_insert = _Compiled(rollups.insert(), d, ("series_id", "resolution", "bucket", *ROLLUP_VALUES))
        self.rollup_update = _Compiled(_rollup_update(), d, ROLLUP_VALUES)
        self.rollup_columns = [c.name for c in rollups.columns]
        cols = ", ".join(self.rollup_columns)
        self.rollup_select = f"SELECT {cols} FROM rollups WHERE series_id IN ({{}}) AND resolution = ? AND bucket IN ({{}})"
        self.latest_select = ("SELECT service_id, kind, url, state, since, started_at FROM latest "
                              "WHERE service_id IN ({})")


class _Cursor:
    """The driver's cursor, its errors raised as SQLAlchemy raises them (sa.exc.OperationalError,
    IntegrityError, ...): what the writer, the store's retries and the logs expect from any engine."""

    __slots__ = ("_cur",)

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    @property
    def lastrowid(self) -> int:
        return int(self._cur.lastrowid)

    def execute(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        try:
            return self._cur.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc

    def executemany(self, sql: str, rows: list[Sequence[Any]]) -> None:
        try:
            self._cur.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(sql, rows[:1], exc, sqlite3.Error) from exc


class SqliteWrites(_Reads):
    """The batch's statements on the SQLite driver's cursor, inside `conn`'s transaction."""

    def __init__(self, conn: Connection, statements: SqliteStatements) -> None:
        self.s = statements
        self.cur = _Cursor(conn.connection.cursor())

    def insert_results(self, rows: list[dict[str, Any]]) -> list[int | None]:
        ids: list[int | None] = []
        sql, params, cur = self.s.results.sql, self.s.results.params, self.cur
        for row in rows:
            cur.execute(sql, params(row))
            ids.append(cur.lastrowid)
        return ids

    def _latest_chunk(self, services: list[str]) -> Iterable[Sequence[Any]]:
        return self.cur.execute(self.s.latest_select.format(", ".join("?" * len(services))), services)

    def _rollup_chunk(self, sids: list[int], resolution: str, buckets: list[int]) -> Iterable[dict[str, Any]]:
        sql = self.s.rollup_select.format(", ".join("?" * len(sids)), ", ".join("?" * len(buckets)))
        columns = self.s.rollup_columns
        return (rollup_mapping(zip(columns, values, strict=True))
                for values in self.cur.execute(sql, [*sids, resolution, *buckets]))

    def _many(self, statement: _Compiled, rows: list[dict[str, Any]]) -> None:
        self.cur.executemany(statement.sql, [statement.params(row) for row in rows])

    def insert_changes(self, rows: list[dict[str, Any]]) -> None:
        self._many(self.s.changes, rows)

    def insert_latest(self, rows: list[dict[str, Any]]) -> None:
        self._many(self.s.latest_insert, rows)

    def update_latest(self, rows: list[dict[str, Any]]) -> None:
        self._many(self.s.latest_update, rows)

    def insert_rollups(self, rows: list[dict[str, Any]]) -> None:
        self._many(self.s.rollup_insert, rows)

    def update_rollups(self, rows: list[dict[str, Any]]) -> None:
        self._many(self.s.rollup_update, rows)
