"""Portals that call the API, what they may act for, and their idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from payments.db import Base, UTCDateTime, stamp_column


class Client(Base):
    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_prefix: Mapped[str] = mapped_column(String(16))
    webhook_secret: Mapped[str] = mapped_column(String(128))
    previous_webhook_secret: Mapped[str | None] = mapped_column(String(128))
    notify_url: Mapped[str | None] = mapped_column(String(1000))
    return_hosts: Mapped[list[str]] = mapped_column(JSON, default=list)
    payment_ttl_minutes: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = stamp_column()

    agencies: Mapped[list[ClientAgency]] = relationship(
        back_populates="client", cascade="all, delete-orphan"
    )

    @property
    def agency_codes(self) -> set[str]:
        return {link.agency_code for link in self.agencies}


class ClientAgency(Base):
    __tablename__ = "client_agencies"
    __table_args__ = (UniqueConstraint("client_id", "agency_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    agency_code: Mapped[str] = mapped_column(String(64))

    client: Mapped[Client] = relationship(back_populates="agencies")


class IdempotencyKey(Base):
    """One row per (client, key): claimed before the work, completed with the answer.

    An in-flight claim holds a lease: `lock_token` names the request that holds it and
    `locked_until` says until when. A retry may take over a claim whose lease ran out (its
    request crashed); every write of the holder is conditional on its token, so a holder
    that lost its lease cannot also complete (payments.services.idempotency).
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("client_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="in_flight")  # in_flight | done
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    payment_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = stamp_column()
    note: Mapped[str | None] = mapped_column(Text)
    response_content_type: Mapped[str | None] = mapped_column(String(100))
    refund_id: Mapped[str | None] = mapped_column(String(40))  # set with the pending refund
    lock_token: Mapped[str | None] = mapped_column(String(32))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
