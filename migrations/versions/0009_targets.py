"""targets: a dated series of percents per metric (online share, satisfaction); dossiers

The target in force on a day is the one whose `effective_from` is the latest not after
it; before the first one the environment's default holds. A new, empty table: its
constraint is built with it.

A dossier is a distinct (agency_code, reference) (the national index, Decision 766): the
index on (agency_code, reference) finds every payment of a dossier. `payments` is a live,
big table: built CONCURRENTLY on PostgreSQL (migrations/ops.py), outside a transaction.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.ops import create_index_concurrently, drop_index_concurrently

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("percent", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("set_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_targets")),
        sa.UniqueConstraint("metric", "effective_from", name=op.f("uq_targets_metric")),
    )
    create_index_concurrently("ix_payments_agency_reference", "payments",
                              ["agency_code", "reference"])


def downgrade() -> None:
    drop_index_concurrently("ix_payments_agency_reference", "payments")
    op.drop_table("targets")
