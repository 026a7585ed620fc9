"""The gateway's wiring, passed to every service: settings, sessions, adapters, clock.

An explicit object rather than globals, so tests build one with a frozen clock and
the worker and the web process share the exact same services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import Adapter
from payments.config import Settings
from payments.db import make_engine, make_sessionmaker, system_clock
from payments.errors import ProviderNotAvailable
from payments.merchant_accounts import AdapterCache, resolve_accounts
from payments.models import Attempt, MerchantAccount
from payments.providers import build_adapters


@dataclass
class Gateway:
    settings: Settings
    sessions: sessionmaker[Session]
    adapters: dict[str, Adapter]
    clock: Callable[[], datetime] = field(default=system_clock)
    account_adapters: AdapterCache = field(default_factory=AdapterCache)

    @classmethod
    def from_settings(cls, settings: Settings) -> Gateway:
        engine = make_engine(settings.database_url)
        return cls(
            settings=settings,
            sessions=make_sessionmaker(engine),
            adapters=build_adapters(settings),
        )

    def __post_init__(self) -> None:
        # Rows are stamped at flush from this gateway's clock (payments.db.stamp_column).
        self.sessions.configure(info={"clock": self.now})

    def now(self) -> datetime:
        """The service's one reading of the time: rows, expiry, reports, pages all ask here.

        `clock` may be swapped (tests freeze it, demo history replays the past), so
        sessions hold this bound method, never the clock itself.
        """
        return self.clock()

    def adapter(self, name: str) -> Adapter:
        try:
            return self.adapters[name]
        except KeyError:
            raise ProviderNotAvailable(f"provider '{name}' is not configured") from None

    def adapters_for(self, session: Session, agency_code: str
                     ) -> dict[str, tuple[Adapter, int | None]]:
        """Per provider, the adapter a payment of the agency uses and its account id.

        The agency's own account, else its nearest ancestor's, else the environment's
        default (account id None); a provider with none of these is left out."""
        found: dict[str, tuple[Adapter, int | None]] = {
            name: (adapter, None) for name, adapter in self.adapters.items()}
        for provider, account in resolve_accounts(session, agency_code).items():
            found[provider] = (self.account_adapters.adapter(self.settings, account), account.id)
        return found

    def attempt_adapter(self, session: Session, attempt: Attempt) -> Adapter | None:
        """The adapter of the account the attempt used (None: that account is gone)."""
        if attempt.merchant_account_id is None:
            return self.adapters.get(attempt.provider)
        account = session.get(MerchantAccount, attempt.merchant_account_id)
        if account is None or account.provider != attempt.provider:
            return None
        return self.account_adapters.adapter(self.settings, account)

    def account_adapter(self, provider: str, account_id: int | None) -> Adapter | None:
        """The adapter of an attempt's account, by id, in a short read of its own (call
        with no transaction open; None: the provider is off or the account is gone)."""
        if account_id is None:
            return self.adapters.get(provider)
        with self.sessions() as session:
            account = session.get(MerchantAccount, account_id)
            if account is None or account.provider != provider:
                return None
            return self.account_adapters.adapter(self.settings, account)

    def provider_adapter(self, session: Session, provider: str) -> Adapter | None:
        """Any adapter of the provider, to parse a message's claimed reference and to answer
        in the provider's format: the default one, else an agency account's."""
        if provider in self.adapters:
            return self.adapters[provider]
        account = session.scalar(select(MerchantAccount).where(
            MerchantAccount.provider == provider).order_by(MerchantAccount.id).limit(1))
        if account is None:
            return None
        return self.account_adapters.adapter(self.settings, account)

    def checkout_url(self, payment_id: str) -> str:
        return self.settings.url(f"/pay/{payment_id}")

    def return_url(self, provider: str) -> str:
        return self.settings.url(f"/pay/return/{provider}")

    def notify_url(self, provider: str) -> str:
        return self.settings.url(f"/webhooks/{provider}")
