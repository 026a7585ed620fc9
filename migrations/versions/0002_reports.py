"""report indexes

The online-share and coverage reports are SQL aggregations over payments of a set of
agencies in a period; the counter route looks receipt numbers up. See docs/decisions.md,
"Report indexes".

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 12:00:00
"""
from __future__ import annotations

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        # basis=received_at: the dossier's receipt date, or the creation time when none was sent
        batch_op.create_index('ix_payments_agency_received', ['agency_code', 'dossier_received_at'],
                              unique=False)
        batch_op.create_index('ix_payments_agency_created', ['agency_code', 'created_at'],
                              unique=False)
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        # counter receipts: one receipt number is recorded once per agency
        batch_op.create_index('ix_attempts_receipt_no', ['receipt_no'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_attempts_receipt_no')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_agency_created')
        batch_op.drop_index('ix_payments_agency_received')
