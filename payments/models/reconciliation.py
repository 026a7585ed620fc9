"""Provider statements uploaded by finance staff and what matching them found.

Append-only like the rest of the money trail: a statement is never re-matched in place
(upload it again for a new run) and a difference is resolved by adding a note, never by
deleting the line.

A run goes `queued` (an upload waiting for the worker, its bytes in
`reconciliation_uploads`) -> `parsing` (lines read and matched chunk by chunk, each chunk
its own short transaction; `lines_read` / `lines_matched` show the progress) -> `flagging`
(the payments a difference names are flagged, a chunk of payments per transaction,
`flagged_through` the last one done) -> `done`, or `failed` with `error` for the officer.
A run the CLI or a small upload matches at once goes through the same states.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from payments.db import Base, UTCDateTime, stamp_column

# the lines that disagree with our records (results other than the agreeing ones)
DIFFERENCE_PREDICATE = "result NOT IN ('matched', 'refund_matched')"


class Reconciliation(Base):
    __tablename__ = "reconciliations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    period_from: Mapped[date | None] = mapped_column(Date)
    period_to: Mapped[date | None] = mapped_column(Date)
    uploaded_by: Mapped[str] = mapped_column(String(255))
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = stamp_column(index=True)
    # 0008: the run in the background
    status: Mapped[str] = mapped_column(String(16), default="done", server_default="done")
    error: Mapped[str | None] = mapped_column(String(500))
    file_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    lines_read: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lines_matched: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    flagged_through: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    items: Mapped[list[ReconciliationItem]] = relationship(
        back_populates="reconciliation", order_by="ReconciliationItem.id"
    )


class ReconciliationItem(Base):
    """One statement line, or one of our payments the statement lacks (`line_no` None)."""

    __tablename__ = "reconciliation_items"
    # 0008: (run, payment) serves the run's lines and, on SQLite, the duplicate and
    # "missing" checks; it replaced the index on reconciliation_id alone. The partial index
    # holds the differences only (≈ 1 % of lines): the flagging walk in payment order and
    # the page of open differences read it. No index on `result` or `payment_id` alone: no
    # query reads by them without the run, and each cost every line written (1M a run).
    __table_args__ = (
        Index("ix_reconciliation_items_run_payment", "reconciliation_id", "payment_id"),
        Index("ix_reconciliation_items_differences", "reconciliation_id", "payment_id",
              postgresql_where=text(DIFFERENCE_PREDICATE),
              sqlite_where=text(DIFFERENCE_PREDICATE)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reconciliation_id: Mapped[str] = mapped_column(ForeignKey("reconciliations.id"))
    line_no: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # payment | refund
    result: Mapped[str] = mapped_column(String(24))
    provider_reference: Mapped[str | None] = mapped_column(String(128))
    provider_txn_id: Mapped[str | None] = mapped_column(String(64))
    statement_amount: Mapped[int | None] = mapped_column(BigInteger)
    our_amount: Mapped[int | None] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempt_id: Mapped[str | None] = mapped_column(String(40))
    payment_id: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(String(500), default="")
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(String(1000))
    resolved_by: Mapped[str | None] = mapped_column(String(255))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    reconciliation: Mapped[Reconciliation] = relationship(back_populates="items")


class ReconciliationUpload(Base):
    """The bytes of an uploaded statement, in pieces, until the worker has read them."""

    __tablename__ = "reconciliation_uploads"
    __table_args__ = (UniqueConstraint("reconciliation_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reconciliation_id: Mapped[str] = mapped_column(ForeignKey("reconciliations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
