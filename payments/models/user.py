"""Staff accounts (finance officers, administrators), the agencies they work for, and
their sign-in attempts (the throttle reads them, so every web process agrees)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from payments.db import Base, UTCDateTime, stamp_column

ROLES = ("viewer", "finance", "admin")
ROLE_RANK = {"viewer": 1, "finance": 2, "admin": 3}


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = stamp_column()
    # TOTP (RFC 6238): the base32 secret once enrolment started; on once confirmed
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    agencies: Mapped[list[StaffUserAgency]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def agency_codes(self) -> set[str]:
        return {link.agency_code for link in self.agencies}


class StaffUserAgency(Base):
    """An agency a staff user works for: the user sees it and every agency below it."""

    __tablename__ = "staff_user_agencies"
    __table_args__ = (UniqueConstraint("user_id", "agency_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    agency_code: Mapped[str] = mapped_column(String(64))

    user: Mapped[StaffUser] = relationship(back_populates="agencies")


class SignInAttempt(Base):
    """One sign-in tried at /staff/login: by email (lower case, known or not) and IP."""

    __tablename__ = "sign_in_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(255), index=True)
    ip: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = stamp_column(index=True)
