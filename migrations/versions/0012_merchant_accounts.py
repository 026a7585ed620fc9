"""per-agency merchant accounts

`merchant_accounts` holds an agency's own account at a provider (non-secret keys in
clear JSON, secret keys as one Fernet token); `attempts.merchant_account_id` records
which account an attempt used (nullable: null is the environment's default account, so
no table rewrite and every existing attempt keeps meaning what it meant). The new table
is empty; its index goes through create_index_concurrently anyway.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.ops import create_index_concurrently, drop_index_concurrently

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "merchant_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_accounts")),
        sa.UniqueConstraint("agency_code", "provider",
                            name=op.f("uq_merchant_accounts_agency_code")),
    )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merchant_account_id", sa.Integer(), nullable=True))
    create_index_concurrently(op.f("ix_merchant_accounts_agency_code"), "merchant_accounts",
                              ["agency_code"])


def downgrade() -> None:
    drop_index_concurrently(op.f("ix_merchant_accounts_agency_code"), "merchant_accounts")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_column("merchant_account_id")
    op.drop_table("merchant_accounts")
