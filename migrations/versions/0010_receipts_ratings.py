"""receipts and ratings: the citizen's proof of payment, and one satisfaction answer

`receipts`: one per succeeded payment, written the first time its receipt is shown, from
the ledger's facts; `verification_code` (random, unique) opens /verify/{code}; the
agency's e-receipt template, series and number stay empty until its system issued them.
`ratings`: one per payment (the unique `payment_id` decides between two concurrent
answers), 1–4. Two new, empty tables: their constraints are built with them, the index on
`ratings.created_at` through create_index_concurrently (the house rule from 0007 on).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.ops import create_index_concurrently

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("verification_code", sa.String(length=32), nullable=False),
        sa.Column("attempt_id", sa.String(length=40), nullable=True),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.Column("agency_name", sa.String(length=255), nullable=False),
        sa.Column("procedure_code", sa.String(length=64), nullable=False),
        sa.Column("procedure_name", sa.String(length=500), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee_lines", sa.JSON(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_txn_id", sa.String(length=64), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ereceipt_template", sa.String(length=16), nullable=True),
        sa.Column("ereceipt_series", sa.String(length=16), nullable=True),
        sa.Column("ereceipt_number", sa.String(length=16), nullable=True),
        sa.Column("ereceipt_issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_receipts_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_receipts_payment_id")),
        sa.UniqueConstraint("verification_code", name=op.f("uq_receipts_verification_code")),
        sa.UniqueConstraint("agency_code", "ereceipt_template", "ereceipt_series",
                            "ereceipt_number", name=op.f("uq_receipts_agency_code")),
    )
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 4", name=op.f("ck_ratings_rating_range")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_ratings_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ratings")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_ratings_payment_id")),
    )
    create_index_concurrently("ix_ratings_created_at", "ratings", ["created_at"])


def downgrade() -> None:
    op.drop_table("ratings")
    op.drop_table("receipts")
