"""The audit trail: every transition (append-only) and every inbound callback, raw."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from payments.db import Base, stamp_column


class PaymentEvent(Base):
    """Never updated, never deleted: what happened, from what to what, caused by whom."""

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    attempt_id: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))  # payment.status | attempt.status | flag | …
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # api | return | ipn | sync | staff | system
    actor: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = stamp_column()


class ProviderCallback(Base):
    """Everything a provider sends, stored before it is parsed, valid or not."""

    __tablename__ = "provider_callbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # ipn | return
    method: Mapped[str] = mapped_column(String(8))
    query_string: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    verified: Mapped[bool | None] = mapped_column(Boolean)
    provider_reference: Mapped[str | None] = mapped_column(String(64), index=True)
    attempt_id: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = stamp_column()
