"""idempotency lease: an in-flight claim holds a lease that a retry may take over

A claim whose request crashed (a SIGKILLed worker) stayed in flight for ever and every
retry answered 409. Now the claim names its holder (`lock_token`) and holds the key until
`locked_until`; once that has passed, a retry with the same body takes the claim over.
`refund_id` links a claim to the refund its request opened, so the retry answers that
refund instead of opening a second one. `response_content_type` keeps a stored answer's
media type (problem+json for problems) for its replays.

Only columns are added (nullable, no default: no table rewrite, no index build).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("response_content_type", sa.String(length=100),
                                      nullable=True))
        batch_op.add_column(sa.Column("refund_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("lock_token", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("lock_token")
        batch_op.drop_column("refund_id")
        batch_op.drop_column("response_content_type")
