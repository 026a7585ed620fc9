"""Receipts: the proof of payment that feegate shows, and the agency's e-receipt number.

A Receipt is written once per succeeded payment, the first time its receipt is shown
(page, PDF or `receipt-data`), from the facts the ledger recorded (payments and the
attempt that paid): amounts, provider, provider transaction id, paid time; the agency and
procedure names are copied as the catalog had them then, so a later rename does not
change a proof already given. `verification_code` is random (80 bits), opens
`/verify/{code}`, and is unique.

The legal e-receipt (biên lai điện tử, Decree 254/2026 Art. 23, Circular 91/2026) is
issued by the collecting agency: its template (`EBL01`), series (`26TAB`) and number stay
empty until the agency's system reports them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from payments.db import Base, UTCDateTime, stamp_column


class Receipt(Base):
    __tablename__ = "receipts"
    __table_args__ = (
        # an e-receipt number is used once per issuer, template and series (the series
        # holds the year: 26TAB); NULLs (not numbered yet) never collide
        UniqueConstraint("agency_code", "ereceipt_template", "ereceipt_series",
                         "ereceipt_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), unique=True)
    verification_code: Mapped[str] = mapped_column(String(32), unique=True)
    attempt_id: Mapped[str | None] = mapped_column(String(40))
    agency_code: Mapped[str] = mapped_column(String(64))
    agency_name: Mapped[str] = mapped_column(String(255), default="")
    procedure_code: Mapped[str] = mapped_column(String(64))
    procedure_name: Mapped[str] = mapped_column(String(500), default="")
    reference: Mapped[str] = mapped_column(String(128))
    amount: Mapped[int] = mapped_column(BigInteger)
    fee_lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    provider: Mapped[str] = mapped_column(String(32))
    provider_txn_id: Mapped[str | None] = mapped_column(String(64))
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # the agency's own e-receipt, once its system issued it (all nullable until then)
    ereceipt_template: Mapped[str | None] = mapped_column(String(16))
    ereceipt_series: Mapped[str | None] = mapped_column(String(16))
    ereceipt_number: Mapped[str | None] = mapped_column(String(16))
    ereceipt_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = stamp_column()
    updated_at: Mapped[datetime] = stamp_column(on="write")
