"""reconciliation jobs: a statement is matched in the background, with its progress

An upload too large to match inside the web request is stored in pieces
(`reconciliation_uploads`, deleted once read) and matched by `feegate worker`; the run
shows its state (`queued`, `parsing`, `flagging`, `done`, `failed` with `error`), how many
lines were read and matched, and holds a lease while a worker has it (a run whose worker
died is taken over once the lease has passed).

Only columns with constant defaults are added to `reconciliations` (PostgreSQL 11+ adds
them without rewriting the table) and one new, empty table. On `reconciliation_items`
(a big table: every statement line), the index on (reconciliation_id, payment_id)
replaces the one on reconciliation_id alone, a partial index on the same columns holds
the differing lines only (the flagging walk, the page of open differences), and the
indexes on `result` and on `payment_id` alone, which no query uses and every line written
paid for, are dropped; on PostgreSQL every build and drop runs CONCURRENTLY, outside a
transaction, so writes go on meanwhile (migrations/ops.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.ops import create_index_concurrently, drop_index_concurrently

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reconciliations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=False,
                                      server_default="done"))
        batch_op.add_column(sa.Column("error", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("file_bytes", sa.BigInteger(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("lines_read", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("lines_matched", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("flagged_through", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "reconciliation_uploads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reconciliation_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reconciliation_id"], ["reconciliations.id"],
            name=op.f("fk_reconciliation_uploads_reconciliation_id_reconciliations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_uploads")),
        sa.UniqueConstraint("reconciliation_id", "seq",
                            name=op.f("uq_reconciliation_uploads_reconciliation_id")),
    )

    _swap_index(new=True)


NEW_INDEX = "ix_reconciliation_items_run_payment"
OLD_INDEX = "ix_reconciliation_items_reconciliation_id"
DIFF_INDEX = "ix_reconciliation_items_differences"
DIFFERENCE = "result NOT IN ('matched', 'refund_matched')"
# each of these cost every statement line written and no query reads by it without the run
UNUSED = (("ix_reconciliation_items_result", ["result"]),
          ("ix_reconciliation_items_payment_id", ["payment_id"]))


def _swap_index(*, new: bool) -> None:
    """Build the new indexes before dropping the old ones (queries always have one)."""
    if new:
        create_index_concurrently(NEW_INDEX, "reconciliation_items",
                                  ["reconciliation_id", "payment_id"])
        create_index_concurrently(DIFF_INDEX, "reconciliation_items",
                                  ["reconciliation_id", "payment_id"],
                                  postgresql_where=sa.text(DIFFERENCE),
                                  sqlite_where=sa.text(DIFFERENCE))
        drop_index_concurrently(OLD_INDEX, "reconciliation_items")
        for name, _columns in UNUSED:
            drop_index_concurrently(name, "reconciliation_items")
    else:
        create_index_concurrently(OLD_INDEX, "reconciliation_items", ["reconciliation_id"])
        for name, columns in UNUSED:
            create_index_concurrently(name, "reconciliation_items", columns)
        drop_index_concurrently(DIFF_INDEX, "reconciliation_items")
        drop_index_concurrently(NEW_INDEX, "reconciliation_items")


def downgrade() -> None:
    _swap_index(new=False)
    op.drop_table("reconciliation_uploads")
    with op.batch_alter_table("reconciliations", schema=None) as batch_op:
        for column in ("finished_at", "lease_until", "flagged_through", "lines_matched",
                       "lines_read", "file_bytes", "error", "status"):
            batch_op.drop_column(column)
