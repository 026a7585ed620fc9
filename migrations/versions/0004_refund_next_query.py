"""refund next_query_at: when the worker next asks the provider about a pending refund

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("next_query_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_refunds_status_next_query", ["status", "next_query_at"])


def downgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.drop_index("ix_refunds_status_next_query")
        batch.drop_column("next_query_at")
