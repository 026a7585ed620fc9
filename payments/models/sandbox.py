"""The sandbox provider's own books: what the hosted sandbox page recorded.

It stands in for a provider's ledger, so the sandbox query API can answer from it
whichever web process served the citizen's click.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from payments.db import Base, UTCDateTime, stamp_column


class SandboxTransaction(Base):
    __tablename__ = "sandbox_transactions"

    reference: Mapped[str] = mapped_column(String(64), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # paid | failed | cancelled
    code: Mapped[str] = mapped_column(String(8))
    transaction_id: Mapped[str] = mapped_column(String(40))
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = stamp_column()


class SandboxRefund(Base):
    """A refund the sandbox took, by our refund reference: retries never refund twice."""

    __tablename__ = "sandbox_refunds"

    refund_reference: Mapped[str] = mapped_column(String(64), primary_key=True)
    reference: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # succeeded | failed
    code: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(String(255), default="")
    refund_id: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = stamp_column()
