"""The store's tables (SQLAlchemy Core): raw results, the timeline, the newest state per
series, heartbeats, series and their rollups, survey figures. Migrations in
`monitor/migrations` create them; `monitor.store.Store` reads and writes them."""

from __future__ import annotations

import sqlalchemy as sa

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
    sa.Index("ix_state_changes_result", "result_id"),
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


series = sa.Table(
    "series", metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("service_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("url", sa.Text(), nullable=False),
    sa.UniqueConstraint("service_id", "kind", "url", name="uq_series_key"),
)

rollups = sa.Table(
    "rollups", metadata,
    sa.Column("series_id", sa.BigInteger(), nullable=False),
    sa.Column("resolution", sa.String(1), nullable=False),  # "h": UTC hour epoch, "d": local day yyyymmdd
    sa.Column("bucket", sa.BigInteger(), nullable=False),
    sa.Column("n_up", sa.Integer(), nullable=False),
    sa.Column("n_degraded", sa.Integer(), nullable=False),
    sa.Column("n_down", sa.Integer(), nullable=False),
    sa.Column("n_unknown", sa.Integer(), nullable=False),
    sa.Column("n_maintenance", sa.Integer(), nullable=False),
    sa.Column("latency_n", sa.Integer(), nullable=False),
    sa.Column("latency_sum", sa.Float(), nullable=False),
    sa.Column("hist", sa.JSON(), nullable=False),
    sa.Column("hours", sa.Integer(), nullable=False),
    sa.Column("last_at", sa.Float(), nullable=False),
    sa.Column("last_state", sa.String(16), nullable=False),
    sa.Column("last_measurements", sa.JSON(), nullable=True),
    sa.Column("last_digest", sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint("series_id", "resolution", "bucket", name="pk_rollups"),
    sqlite_with_rowid=False,
)

satisfaction = sa.Table(
    "satisfaction", metadata,
    sa.Column("service_id", sa.String(64), nullable=False),
    sa.Column("period", sa.String(16), nullable=False),
    sa.Column("respondents", sa.Integer(), nullable=False),
    sa.Column("mean_rating", sa.Float(), nullable=False),
    sa.Column("staff_rating", sa.Float(), nullable=True),
    sa.Column("source", sa.String(300), nullable=False),
    sa.Column("imported_at", sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint("service_id", "period", name="pk_satisfaction"),
)


# PostgreSQL advisory lock namespaces (the two-int key space): per-series writes, migrations.
# monitor.distributed uses LOCK_SCHEDULER for the scheduling lease.
