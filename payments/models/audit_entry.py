"""The staff audit trail: who did what, when, with what detail (sign-ins, downloads, …).

Append-only, like payment_events; the payment trail stays in payment_events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from payments.db import Base, stamp_column


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(255), index=True)  # the email tried or signed in
    action: Mapped[str] = mapped_column(String(64))  # sign_in | sign_in_failed | download | …
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = stamp_column(index=True)
