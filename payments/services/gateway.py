"""The gateway's wiring, passed to every service: settings, sessions, adapters, clock.

An explicit object rather than globals, so tests build one with a frozen clock and
the worker and the web process share the exact same services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from adapters.base import Adapter
from payments.config import Settings
from payments.db import make_engine, make_sessionmaker, system_clock
from payments.errors import ProviderNotAvailable
from payments.providers import build_adapters


@dataclass
class Gateway:
    settings: Settings
    sessions: sessionmaker[Session]
    adapters: dict[str, Adapter]
    clock: Callable[[], datetime] = field(default=system_clock)

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

    def checkout_url(self, payment_id: str) -> str:
        return self.settings.url(f"/pay/{payment_id}")

    def return_url(self, provider: str) -> str:
        return self.settings.url(f"/pay/return/{provider}")

    def notify_url(self, provider: str) -> str:
        return self.settings.url(f"/webhooks/{provider}")
