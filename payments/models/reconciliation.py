"""Provider statements uploaded by finance staff and what matching them found.

Append-only like the rest of the money trail: a statement is never re-matched in place
(upload it again for a new run) and a difference is resolved by adding a note, never by
deleting the line.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from payments.db import Base, UTCDateTime, utcnow


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    items: Mapped[list[ReconciliationItem]] = relationship(
        back_populates="reconciliation", order_by="ReconciliationItem.id"
    )


class ReconciliationItem(Base):
    """One statement line, or one of our payments the statement lacks (`line_no` None)."""

    __tablename__ = "reconciliation_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reconciliation_id: Mapped[str] = mapped_column(
        ForeignKey("reconciliations.id"), index=True
    )
    line_no: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # payment | refund
    result: Mapped[str] = mapped_column(String(24), index=True)
    provider_reference: Mapped[str | None] = mapped_column(String(128))
    provider_txn_id: Mapped[str | None] = mapped_column(String(64))
    statement_amount: Mapped[int | None] = mapped_column(BigInteger)
    our_amount: Mapped[int | None] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempt_id: Mapped[str | None] = mapped_column(String(40))
    payment_id: Mapped[str | None] = mapped_column(String(40), index=True)
    message: Mapped[str] = mapped_column(String(500), default="")
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(String(1000))
    resolved_by: Mapped[str | None] = mapped_column(String(255))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    reconciliation: Mapped[Reconciliation] = relationship(back_populates="items")
