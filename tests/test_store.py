"""The store: append-only results, a consistent timeline, idempotency, heartbeats and gaps."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from datetime import timedelta

import pytest
import sqlalchemy as sa

from checks.result import State
from monitor.store import Store, metadata
from tests.helpers import KINDS, T0, result

_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres_url():
    from tests.postgres import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """Every store test runs on SQLite and on a real PostgreSQL: the same code, only the URL differs."""
    return _new_database(request.param, request, tmp_path)


@pytest.fixture
def other_store_url(request, tmp_path, store_url) -> str:
    """A second, empty database of the same kind as `store_url`."""
    return _new_database("sqlite" if store_url.startswith("sqlite") else "postgresql", request, tmp_path)


def _new_database(kind: str, request, tmp_path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / f'store{next(_databases)}.db'}"
    server = request.getfixturevalue("postgres_url")
    name = f"t{next(_databases)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"create database {name}"))
    admin.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def open_store(store_url):
    stores = []

    def opener() -> Store:
        stores.append(Store.open(store_url, KINDS))
        return stores[-1]

    yield opener
    for store in stores:
        store.close()


def test_timeline_records_only_state_changes(open_store):
    store = open_store()
    states = [State.UP, State.UP, State.DOWN, State.DOWN, State.UP, State.DEGRADED, State.UP]
    for i, state in enumerate(states):
        store.record(result(state, offset=60 * i))
    changes = store.timeline("portal")
    assert [c.state for c in changes] == ["up", "down", "up", "degraded", "up"]
    assert [(c.at - T0).total_seconds() for c in changes] == [0, 120, 240, 300, 360]
    assert store.count_results() == len(states)
    (latest,) = store.latest()
    assert latest.result.state is State.UP and latest.since == T0 + timedelta(seconds=360)


def test_late_result_goes_to_history_but_not_the_timeline(open_store):
    store = open_store()
    store.record(result(State.UP, offset=120))
    store.record(result(State.DOWN, offset=60))  # delivered late by a slow worker
    assert [c.state for c in store.timeline()] == ["up"]
    assert store.latest()[0].result.state is State.UP
    assert store.count_results() == 2


def test_run_key_makes_a_redelivered_job_store_once(open_store):
    store = open_store()
    assert store.record(result(), run_key="portal|availability|x|1000") is not None
    assert store.record(result(), run_key="portal|availability|x|1000") is None
    assert store.count_results() == 1


def test_results_round_trip_with_measurements(open_store):
    store = open_store()
    original = result(State.DOWN, status_code=503.0, phase_connect_seconds=0.01)
    store.record(original)
    ((_, again),) = list(store.results("portal"))
    assert again == original


def test_monitor_gaps_from_heartbeats(open_store, monkeypatch):
    store = open_store()
    clock = [T0.timestamp()]
    monkeypatch.setattr("monitor.store.time.time", lambda: clock[0])
    first = store.start_run("test")
    clock[0] += 60
    store.beat(first)  # then the daemon dies without a clean stop
    clock[0] += 300
    second = store.start_run("test")
    clock[0] += 60
    store.beat(second, stopped=True)
    gaps = store.monitor_gaps(T0, T0 + timedelta(seconds=600))
    assert [(g.start - T0).total_seconds() for g in gaps] == [60, 420]
    assert [g.seconds for g in gaps] == [300, 180]


def test_purge_keeps_timeline_latest_and_the_evidence_of_each_state_change(open_store):
    store = open_store()
    store.record(result(State.DOWN, offset=0))
    store.record(result(State.DOWN, offset=60))  # no change: only a repeat
    store.record(result(State.UP, offset=86400 * 10))
    assert store.purge_raw(T0 + timedelta(days=5), kind="security") == 0  # another kind: nothing
    assert store.purge_raw(T0 + timedelta(days=5)) == 1
    kept = [r.started_at for _, r in store.results()]
    assert kept == [T0, T0 + timedelta(days=10)]  # the result that started the outage stays
    assert len(store.timeline()) == 2 and store.latest()[0].result.state is State.UP


def test_migrations_match_the_model(open_store):
    """The Alembic migrations create exactly the schema the code expects."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import monitor.incidents  # noqa: F401 - its tables (incident records) are part of the schema

    store = open_store()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
        version = conn.execute(sa.text("select version_num from alembic_version")).scalar_one()
    assert version == "0004"


def test_sqlite_runs_in_wal_mode(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}", KINDS)
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("pragma journal_mode")).scalar_one() == "wal"


def test_reopen_is_idempotent(open_store):
    store = open_store()
    store.record(result())
    store.close()
    again = open_store()
    assert again.count_results() == 1


def _contents(store: Store) -> tuple:
    """Everything the report and /metrics read, without row ids."""
    timeline = [(c.service_id, c.url, c.at, c.state, c.reason) for c in store.timeline()]
    latest = sorted((i.result.service_id, i.result.url, i.result.started_at, i.result.state.value, i.since)
                    for i in store.latest())
    days = sorted((d.service_id, d.url, d.day, tuple(d.bucket.counts), d.bucket.hours, d.bucket.latency_n,
                   round(d.bucket.latency_sum, 9), d.bucket.last_state) for d in store.day_rollups(0, 99999999))
    hours = {url: store.hour_rollups("portal", "availability", url, T0 - timedelta(days=1), T0 + timedelta(days=2))
             for url in ("https://a.example.invalid/", "https://b.example.invalid/")}
    hour_rows = {url: sorted((k, tuple(b.counts), b.latency_n) for k, b in rows.items()) for url, rows in hours.items()}
    raw = sorted((r.service_id, r.url, r.started_at, r.state.value) for _id, r in store.results())
    return timeline, latest, days, hour_rows, raw


def test_a_batch_stores_what_the_same_results_stored_one_by_one_store(store_url, other_store_url):
    """The daemon's writer commits batches; the timeline, `latest`, rollups and raw rows equal
    those of recording each result alone, also with a late result and several series mixed."""
    urls = ("https://a.example.invalid/", "https://b.example.invalid/")
    pattern = [State.UP, State.UP, State.DOWN, State.DOWN, State.UP, State.DEGRADED, State.UP, State.UP]
    results = [result(state, offset=1800 * i + 7 * j, url=url)
               for i, state in enumerate(pattern) for j, url in enumerate(urls)]
    results.insert(9, result(State.DOWN, offset=30, url=urls[0]))  # late: older than what the series has
    one_by_one, batched = Store.open(store_url, KINDS), Store.open(other_store_url, KINDS)
    try:
        for r in results:
            one_by_one.record(r)
        batched.record_batch([(r, None) for r in results[:5]])  # the rows exist before the next batch
        ids = batched.record_batch([(r, None) for r in results[5:]])
        assert len(set(ids)) == len(results) - 5 and None not in ids
        assert _contents(batched) == _contents(one_by_one)
        assert [c.state for c in batched.timeline(url=urls[0])] == ["up", "down", "up", "degraded", "up"]
    finally:
        one_by_one.close()
        batched.close()


def test_group_commit_gives_each_worker_thread_its_own_result_in_shared_batches(tmp_path):
    """The distributed worker's threads wait for their own result to be committed, in
    batches they share; a duplicate run key gives None, a failing store raises in every thread."""
    from concurrent.futures import ThreadPoolExecutor

    from monitor.writer import GroupCommit

    store = Store.open(f"sqlite:///{tmp_path / 'g.db'}", KINDS)
    batches = []
    write = store.record_batch
    store.record_batch = lambda items: batches.append(len(items)) or write(items)  # type: ignore[method-assign]
    commits = GroupCommit(store, batch_size=7)
    results = [result(State.UP, offset=i, url=f"https://x{i % 5}.example.invalid/") for i in range(200)]
    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(lambda pair: commits.record(pair[1], run_key=f"k{pair[0]}"), enumerate(results)))
    assert len(set(ids)) == 200 and None not in ids and store.count_results() == 200
    assert sum(batches) == 200 and max(batches) > 1 and max(batches) <= 7  # shared, and bounded
    assert commits.record(results[0], run_key="k0") is None  # delivered twice: stored once
    assert store.count_results() == 200
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE latest"))
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(commits.record, result(State.DOWN, offset=1000 + i)) for i in range(8)]
    assert all(isinstance(f.exception(), sa.exc.OperationalError) for f in futures)
    store.close()


def test_raw_rows_are_compact_and_read_back_exactly_in_both_schema_forms(open_store):
    """A result of one attempt does not store that attempt's state, reason and figures again
    (issue 21: a year of `up` rows); every result reads back exactly as it was checked, in its
    key order, before and after migration 0004 is undone and redone (a store of either form)."""
    import json

    from alembic import command
    from alembic.config import Config as AlembicConfig

    from checks.availability import AvailabilitySettings
    from checks.availability import run as availability
    from checks.result import Target
    from monitor import store as store_module
    from tests.sites import Page, site

    store = open_store()
    routes = {"/": Page(), "/weiter": Page(302, [("Location", "/")]), "/kaputt": Page(500, body=b"kaputt")}
    with site(routes) as port:
        base = f"http://127.0.0.1:{port}"
        checked = [availability(Target("portal", f"{base}{path}"), AvailabilitySettings(retries=retries, retry_delay=0))
                   for path, retries in (("/", 0), ("/", 0), ("/weiter", 0), ("/kaputt", 1), ("/kaputt", 0))]
    odd = checked[0].replace(evidence={**checked[0].evidence, "attempts": [{**checked[0].evidence["attempts"][0],
                                                                             "status_code": 201}]})
    extra = checked[0].replace(evidence={**checked[0].evidence, "attempts": [{**checked[0].evidence["attempts"][0],
                                                                               "proxy": "x"}]})
    results = [*checked, odd, extra, result(State.UP)]  # and one without attempts at all
    assert len(checked[3].evidence["attempts"]) == 2  # the retried one keeps both
    for r in results:
        store.record(r)

    def read() -> list[str]:
        return [json.dumps(r.to_dict()) for _id, r in store.results()]

    expected = [json.dumps(r.to_dict()) for r in sorted(results, key=lambda r: r.started_at)]  # (read in time order)
    assert read() == expected

    def stored() -> list[tuple[str, str]]:
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(store_module.results.c.evidence).order_by(store_module.results.c.id))
            return [json.dumps(json.loads(v) if isinstance(v, str) else v) for (v,) in rows]

    compact = stored()
    assert all('"attempts": {' in compact[i] for i in (0, 1, 2, 4, 5))  # one attempt: the compact form
    assert '"attempts": [' in compact[3] and '"attempts": [' in compact[6]  # retried; a key of its own
    assert '"status_code": 201' in compact[5] and '"at"' not in compact[0]  # only what differs
    with store.engine.connect() as conn:
        text = conn.execute(sa.text("select evidence from results order by id")).scalars().first()
    text = text if isinstance(text, str) else json.dumps(text)
    assert ", " not in text or store.engine.dialect.name == "postgresql"  # no blanks (PostgreSQL's json keeps text)

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(store_module.Path(store_module.__file__).parent / "migrations"))
    for target, form in (("0003", '"attempts": ['), ("head", '"attempts": {')):
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            cfg.attributes["kinds"] = KINDS  # what Store.open hands a data migration
            (command.downgrade if target == "0003" else command.upgrade)(cfg, target)
        assert all(form in stored()[i] for i in (0, 1, 2, 4, 5)), target
        assert read() == expected, target


def test_the_sqlite_writes_on_the_drivers_cursor_store_the_same_bytes_as_sqlalchemy_core(tmp_path):
    """The embedded store writes its batches on the SQLite driver's cursor with statements
    compiled once (monitor.batchsql); every table holds byte for byte what SQLAlchemy Core
    writes for the same batches: mixed kinds and series, state changes, a late result, a
    series new in a later batch, a run key delivered twice, hours and days rolled over."""
    import sqlite3

    kinds = ("availability", "security", "tls", "accessibility")
    batches: list[list[tuple]] = []
    states = itertools.cycle([State.UP, State.UP, State.DOWN, State.DEGRADED, State.UP, State.UNKNOWN])
    for b in range(6):
        batch = []
        for j in range(7):
            kind = kinds[(b + j) % len(kinds)] if j < 5 else "availability"
            r = result(next(states), offset=20000 * b + 11 * j, url=f"https://s{j % (3 + b // 2)}.example.invalid/",
                       duration=0.2 + j / 10, status_code=200.0 + j)
            r = dataclasses.replace(r, kind=kind, evidence={"detail": f"Befund {b}/{j} – ü", "n": [b, j, None]})
            batch.append((r, f"run-{b}-{j}" if j % 2 else None))
        batches.append(batch)
    batches[3].append((result(State.DOWN, offset=10, url="https://s0.example.invalid/"), None))  # late
    batches[4].append(batches[1][1])  # the same run key again: stored once

    def dump(path) -> dict[str, list[tuple]]:
        with contextlib.closing(sqlite3.connect(path)) as db:
            names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                              "AND name NOT IN ('heartbeats', 'alembic_version') ORDER BY name")]
            return {n: db.execute(f"SELECT * FROM {n} ORDER BY 1, 2, 3").fetchall() for n in names}

    stores = {}
    for name in ("core", "driver"):
        store = Store.open(f"sqlite:///{tmp_path / name}.db", KINDS)
        if name == "core":
            store._statements = None  # SQLAlchemy Core, as on PostgreSQL
        ids = [store.record_batch(batch) for batch in batches]
        assert ids[4][-1] is None and all(i is not None for batch in ids[:4] for i in batch)
        store.close()
        stores[name] = dump(tmp_path / f"{name}.db")
    assert stores["driver"]["rollups"] and stores["driver"]["state_changes"] and len(stores["driver"]["results"]) == 43
    assert stores["driver"] == stores["core"]


def test_json_columns_are_written_as_json_dumps_writes_them():
    """The columns' serializer shares one encoder (cheaper per call) and writes the very text
    `json.dumps(value, separators=(",", ":"))` writes: non-ASCII escaped, NaN and infinities as
    Python writes them (read back by `load_json`), keys in their order."""
    import json
    import math

    from monitor.rows import compact_json, load_json

    values = [None, [], {}, "Prüfung\u2028", {"b": 1, "a": [1.5, None, True, "ü"]}, 1e300, -0.0,
              {"x": float("nan"), "y": float("inf"), "z": -float("inf")}, {"n": {"m": [{"k": "\"'<>"}]}}]
    for value in values:
        assert compact_json(value) == json.dumps(value, separators=(",", ":"))
    back = load_json(compact_json(values[7]))
    assert math.isnan(back["x"]) and back["y"] == math.inf and back["z"] == -math.inf
