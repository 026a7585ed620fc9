"""staff agencies, sign-in throttle, two-factor, audit trail

Staff users belong to agencies (`staff_user_agencies`; each means its subtree of the
catalog's tree) and may enrol a TOTP secret (two nullable columns on `staff_users`: no
table rewrite). `sign_in_attempts` counts sign-ins per email and per IP, so every web
process applies the same throttle; `audit_entries` is the staff trail (sign-ins,
downloads). New, empty tables; their indexes go through create_index_concurrently anyway.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.ops import create_index_concurrently, drop_index_concurrently

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_enabled_at", sa.DateTime(timezone=True),
                                      nullable=True))

    op.create_table(
        "staff_user_agencies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("agency_code", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["staff_users.id"],
                                name=op.f("fk_staff_user_agencies_user_id_staff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_user_agencies")),
        sa.UniqueConstraint("user_id", "agency_code",
                            name=op.f("uq_staff_user_agencies_user_id")),
    )
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_attempts")),
    )
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    create_index_concurrently(op.f("ix_staff_user_agencies_user_id"), "staff_user_agencies",
                              ["user_id"])
    create_index_concurrently(op.f("ix_sign_in_attempts_email"), "sign_in_attempts", ["email"])
    create_index_concurrently(op.f("ix_sign_in_attempts_ip"), "sign_in_attempts", ["ip"])
    create_index_concurrently(op.f("ix_sign_in_attempts_created_at"), "sign_in_attempts",
                              ["created_at"])
    create_index_concurrently(op.f("ix_audit_entries_actor"), "audit_entries", ["actor"])
    create_index_concurrently(op.f("ix_audit_entries_created_at"), "audit_entries",
                              ["created_at"])


def downgrade() -> None:
    drop_index_concurrently(op.f("ix_audit_entries_created_at"), "audit_entries")
    drop_index_concurrently(op.f("ix_audit_entries_actor"), "audit_entries")
    drop_index_concurrently(op.f("ix_sign_in_attempts_created_at"), "sign_in_attempts")
    drop_index_concurrently(op.f("ix_sign_in_attempts_ip"), "sign_in_attempts")
    drop_index_concurrently(op.f("ix_sign_in_attempts_email"), "sign_in_attempts")
    drop_index_concurrently(op.f("ix_staff_user_agencies_user_id"), "staff_user_agencies")
    op.drop_table("audit_entries")
    op.drop_table("sign_in_attempts")
    op.drop_table("staff_user_agencies")
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("totp_enabled_at")
        batch_op.drop_column("totp_secret")
