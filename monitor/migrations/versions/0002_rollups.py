"""Rollups for the annual report, series ids, imported satisfaction figures.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "series",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.UniqueConstraint("service_id", "kind", "url", name="uq_series_key"),
    )
    op.create_table(
        "rollups",
        sa.Column("series_id", sa.BigInteger(), nullable=False),
        sa.Column("resolution", sa.String(1), nullable=False),
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
    op.create_table(
        "satisfaction",
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("respondents", sa.Integer(), nullable=False),
        sa.Column("mean_rating", sa.Float(), nullable=False),
        sa.Column("staff_rating", sa.Float(), nullable=True),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("imported_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("service_id", "period", name="pk_satisfaction"),
    )
    op.create_index("ix_state_changes_result", "state_changes", ["result_id"])


def downgrade() -> None:
    op.drop_index("ix_state_changes_result", "state_changes")
    op.drop_table("satisfaction")
    op.drop_table("rollups")
    op.drop_table("series")
