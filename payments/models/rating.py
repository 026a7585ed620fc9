"""Ratings: one answer of satisfaction per paid payment (the 4-level scale the province uses).

4 Rất hài lòng, 3 Hài lòng, 2 Bình thường, 1 Không hài lòng; the satisfaction report counts
3 and 4 as satisfied (payments/reports_satisfaction.py). One per payment: the unique
constraint on `payment_id` decides between two concurrent answers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from payments.db import Base, stamp_column

RATINGS = {4: "Rất hài lòng", 3: "Hài lòng", 2: "Bình thường", 1: "Không hài lòng"}
RATINGS_EN = {4: "Very satisfied", 3: "Satisfied", 2: "Neutral", 1: "Not satisfied"}
COMMENT_MAX = 1000


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 4", name="rating_range"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), unique=True)
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(String(COMMENT_MAX))
    created_at: Mapped[datetime] = stamp_column(index=True)
