"""Payments, their fee lines, attempts at providers, and refunds."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from payments.db import Base, UTCDateTime, stamp_column


class Payment(Base):
    """One fee obligation for one dossier (`reference`). Amount in đồng."""

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_client_created", "client_id", "created_at", "id"),
        Index("ix_payments_agency_paid", "agency_code", "paid_at"),
        Index("ix_payments_agency_received", "agency_code", "dossier_received_at"),  # 0002
        Index("ix_payments_agency_created", "agency_code", "created_at"),  # 0002
        Index("ix_payments_agency_reference", "agency_code", "reference"),  # 0009: dossiers
        Index("ix_payments_status_expires", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    agency_code: Mapped[str] = mapped_column(String(64))
    procedure_code: Mapped[str] = mapped_column(String(64), index=True)
    procedure_id: Mapped[int | None] = mapped_column(ForeignKey("procedures.id"))
    reference: Mapped[str] = mapped_column(String(128), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="VND")
    description: Mapped[str] = mapped_column(String(500), default="")
    return_url: Mapped[str] = mapped_column(String(2000))
    payer: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    meta: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    dossier_received_at: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="created")
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_provider: Mapped[str | None] = mapped_column(String(32))
    paid_channel: Mapped[str | None] = mapped_column(String(16))  # online | counter
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = stamp_column()
    updated_at: Mapped[datetime] = stamp_column(on="write")

    fee_items: Mapped[list[PaymentFeeItem]] = relationship(
        back_populates="payment", order_by="PaymentFeeItem.position", cascade="all, delete-orphan"
    )
    attempts: Mapped[list[Attempt]] = relationship(
        back_populates="payment", order_by="Attempt.created_at"
    )
    refunds: Mapped[list[Refund]] = relationship(
        back_populates="payment", order_by="Refund.created_at"
    )

    def add_flag(self, flag: str) -> None:
        if flag not in (self.flags or []):
            self.flags = [*(self.flags or []), flag]
        self.needs_review = True


class PaymentFeeItem(Base):
    __tablename__ = "payment_fee_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # fee | charge
    amount: Mapped[int] = mapped_column(BigInteger)

    payment: Mapped[Payment] = relationship(back_populates="fee_items")


class Attempt(Base):
    """One try at one provider (or at the counter) for a payment."""

    __tablename__ = "attempts"
    __table_args__ = (
        UniqueConstraint("provider", "provider_reference"),
        Index("ix_attempts_status_next_query", "status", "next_query_at"),
        Index("ix_attempts_receipt_no", "receipt_no"),  # 0002: counter receipt look-up
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16), default="online")  # online | counter
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    request_id: Mapped[str] = mapped_column(String(50))
    provider_reference: Mapped[str] = mapped_column(String(64))
    provider_txn_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    amount: Mapped[int] = mapped_column(BigInteger)
    result_code: Mapped[str | None] = mapped_column(String(32))
    result_message: Mapped[str | None] = mapped_column(String(500))
    redirect_url: Mapped[str | None] = mapped_column(Text)
    qr_payload: Mapped[str | None] = mapped_column(Text)
    deeplink: Mapped[str | None] = mapped_column(Text)
    qr_code_url: Mapped[str | None] = mapped_column(Text)
    provider_data: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(5))  # the citizen's page language
    counter_method: Mapped[str | None] = mapped_column(String(16))
    receipt_no: Mapped[str | None] = mapped_column(String(64))
    officer: Mapped[str | None] = mapped_column(String(255))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_query_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    query_count: Mapped[int] = mapped_column(Integer, default=0)
    # 0012: the MerchantAccount it used (null = the environment's default account). No
    # foreign key: a removed account leaves its attempts unverifiable, never re-verified
    # with another account's secrets.
    merchant_account_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = stamp_column()
    updated_at: Mapped[datetime] = stamp_column(on="write")

    payment: Mapped[Payment] = relationship(back_populates="attempts")


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (Index("ix_refunds_status_next_query", "status", "next_query_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    attempt_id: Mapped[str] = mapped_column(ForeignKey("attempts.id"))
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    result_code: Mapped[str | None] = mapped_column(String(32))
    result_message: Mapped[str | None] = mapped_column(String(500))
    provider_refund_id: Mapped[str | None] = mapped_column(String(64))
    provider_data: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(255), default="api")
    next_query_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the worker asks then
    created_at: Mapped[datetime] = stamp_column()
    updated_at: Mapped[datetime] = stamp_column(on="write")

    payment: Mapped[Payment] = relationship(back_populates="refunds")
