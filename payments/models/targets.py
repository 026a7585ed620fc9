"""Targets: a dated series of percents per metric (DESIGN.md, "New nouns").

A target is in force from its `effective_from` (a Vietnam date) until the next one of the
same metric; before the first one, the environment's default holds
(`FEEGATE_ONLINE_SHARE_TARGET`, `FEEGATE_SATISFACTION_TARGET`). Rows are never edited in
place by the CLI except to replace the percent of the same metric and date.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from payments.db import Base, stamp_column

METRICS = ("online_share", "satisfaction")


class Target(Base):
    __tablename__ = "targets"
    __table_args__ = (UniqueConstraint("metric", "effective_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(String(32))  # online_share | satisfaction
    effective_from: Mapped[date] = mapped_column(Date)
    percent: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    set_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = stamp_column()
    updated_at: Mapped[datetime] = stamp_column(on="write")
