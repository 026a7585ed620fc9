"""Agencies (cơ quan), procedures (thủ tục hành chính) and their fee items."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from payments.db import Base, stamp_column


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    parent_code: Mapped[str | None] = mapped_column(String(64), index=True)
    level: Mapped[str | None] = mapped_column(String(32))  # province | department | commune …
    catalogued: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = stamp_column()

    procedures: Mapped[list[Procedure]] = relationship(back_populates="agency")


class Procedure(Base):
    __tablename__ = "procedures"
    __table_args__ = (UniqueConstraint("agency_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    code: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(500), default="")
    online_payment_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    catalogued: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = stamp_column()

    agency: Mapped[Agency] = relationship(back_populates="procedures")
    fee_items: Mapped[list[FeeItem]] = relationship(
        back_populates="procedure", order_by="FeeItem.id", cascade="all, delete-orphan"
    )


class FeeItem(Base):
    """A fee line of a procedure as the catalog prices it, valid over a date range."""

    __tablename__ = "fee_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # fee (phí) | charge (lệ phí)
    amount: Mapped[int] = mapped_column(BigInteger)
    effective_from: Mapped[date | None] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)

    procedure: Mapped[Procedure] = relationship(back_populates="fee_items")
