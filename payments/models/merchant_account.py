"""MerchantAccount: an agency's own account at a provider (DESIGN.md, "New nouns").

`config` holds the non-secret keys (tmn_code, pay_url, …) in clear; `secrets` holds the
secret keys (hash_secret, secret_key, key1, …) as one Fernet token encrypted with
`FEEGATE_ENCRYPTION_KEY` (payments/merchant_accounts.py). An attempt records the account
it used (`Attempt.merchant_account_id`; null: the environment's default account).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from payments.db import Base, stamp_column


class MerchantAccount(Base):
    __tablename__ = "merchant_accounts"
    __table_args__ = (UniqueConstraint("agency_code", "provider"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_code: Mapped[str] = mapped_column(String(64), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    secrets: Mapped[str] = mapped_column(Text)  # a Fernet token, never plaintext
    created_at: Mapped[datetime] = stamp_column()
    updated_at: Mapped[datetime] = stamp_column(on="write")
