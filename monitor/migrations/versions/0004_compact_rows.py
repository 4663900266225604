"""Compact rows: evidence a result's other columns rebuild is not stored twice, JSON without
blanks, rollup histograms packed (monitor.rows, monitor.rollup.pack_hist).

Rewrites every raw result and rollup row in batches; what a row reads back is unchanged
(tests/test_previous_version.py reads a store of the previous version before and after).
SQLite keeps the freed pages for new rows; `VACUUM` gives them back to the file system.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import logging
import time

import sqlalchemy as sa
from alembic import op

from monitor import rollup
from monitor.rows import json_value, recompacted, row_result

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("monitor.store")

_results = sa.table(
    "results", sa.column("id", sa.BigInteger()), sa.column("service_id", sa.String()), sa.column("kind", sa.String()),
    sa.column("url", sa.Text()), sa.column("state", sa.String()), sa.column("reason", sa.String()),
    sa.column("started_at", sa.Float()), sa.column("duration_seconds", sa.Float()),
    sa.column("measurements", sa.JSON()), sa.column("evidence", sa.JSON()))
_rollups = sa.table(
    "rollups", sa.column("series_id", sa.BigInteger()), sa.column("resolution", sa.String()),
    sa.column("bucket", sa.BigInteger()), sa.column("hist", sa.JSON()), sa.column("last_measurements", sa.JSON()),
    sa.column("last_digest", sa.JSON()))
_series = sa.table("series", sa.column("id", sa.BigInteger()))

BATCH = 5000


def _kinds():
    """The registry of the process that migrates (Store.open hands it to Alembic)."""
    config = op.get_context().config
    assert config is not None, "run through monitor.store.upgrade_schema, which hands over the kinds"
    return config.attributes["kinds"]


def upgrade() -> None:
    kinds = _kinds()
    _rewrite(lambda r: recompacted(kinds, r), rollup.pack_hist, "verdichtet")


def downgrade() -> None:
    """Rows as revision 0003's code reads them: evidence in full, histograms as objects."""
    kinds = _kinds()

    def expanded(r):
        return {"measurements": json_value(r.measurements), "evidence": row_result(kinds, r).to_dict()["evidence"]}

    _rewrite(expanded, lambda hist: {str(k): v for k, v in sorted(hist.items())}, "in die alte Form gebracht")


def _rewrite(result_columns, hist_form, done_word: str) -> None:
    """Rewrite every raw result (`result_columns(row)`: its new measurements and evidence) and
    every rollup histogram (`hist_form(hist)`), in batches, logging progress for operators."""
    conn = op.get_bind()
    t0 = time.monotonic()
    total = conn.execute(sa.select(sa.func.count()).select_from(_results)).scalar_one()
    if total:
        log.info("Speicher wird umgeschrieben (einmalig): %d Rohergebnisse", total)
    done, after = 0, -1
    update = _results.update().where(_results.c.id == sa.bindparam("k_id"))
    while True:
        rows = conn.execute(sa.select(_results).where(_results.c.id > after).order_by(_results.c.id)
                            .limit(BATCH)).all()
        if not rows:
            break
        conn.execute(update, [{"k_id": r.id, **result_columns(r)} for r in rows])
        after, done = rows[-1].id, done + len(rows)
        if done % (BATCH * 40) < BATCH:
            log.info("Speicher wird umgeschrieben: %d von %d Rohergebnissen", done, total)
    series_ids = [r.id for r in conn.execute(sa.select(_series.c.id).order_by(_series.c.id))]
    update = _rollups.update().where(_rollups.c.series_id == sa.bindparam("k_sid"),
                                     _rollups.c.resolution == sa.bindparam("k_res"),
                                     _rollups.c.bucket == sa.bindparam("k_bucket"))
    for n, sid in enumerate(series_ids, 1):
        rows = conn.execute(sa.select(_rollups).where(_rollups.c.series_id == sid)).all()
        if rows:
            conn.execute(update, [{"k_sid": r.series_id, "k_res": r.resolution, "k_bucket": r.bucket,
                                   "hist": hist_form(rollup.unpack_hist(json_value(r.hist))),
                                   "last_measurements": json_value(r.last_measurements),
                                   "last_digest": json_value(r.last_digest)} for r in rows])
        if n % 200 == 0:
            log.info("Speicher wird umgeschrieben: Rollups von %d von %d Reihen", n, len(series_ids))
    if total or series_ids:
        log.info("Speicher %s in %.0f s", done_word, time.monotonic() - t0)
