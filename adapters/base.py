"""The adapter interface and the neutral messages that cross it.

An adapter is pure protocol code: it turns a neutral request into what the provider
wants, and what the provider sends back into a neutral result. It knows nothing of
Flask, the database or feegate's models, so a new provider is one module plus tests.

Which hooks may move money? None of them: adapters only *describe* what the provider
said. `payments` alone decides what a result does to a payment.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from adapters.errors import NotSupported

VIETNAM_TZ = timezone(timedelta(hours=7), "GMT+7")
"""Vietnam has had no DST since 1975; a fixed offset is exact and needs no tzdata."""


class Outcome(enum.StrEnum):
    """What the provider says happened to one attempt."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # declined, error, timeout at the provider
    CANCELLED = "cancelled"  # the citizen cancelled at the provider
    PENDING = "pending"  # still processing / waiting for the citizen
    UNKNOWN = "unknown"  # the provider does not know the order (not found)


class RefundOutcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PENDING = "pending"


class Ack(enum.StrEnum):
    """How feegate handled a callback; the adapter turns it into the provider's answer."""

    RECORDED = "recorded"  # applied (a paid or a failed transaction alike)
    ALREADY_CONFIRMED = "already_confirmed"  # duplicate: the attempt was already final
    UNKNOWN_ORDER = "unknown_order"
    AMOUNT_MISMATCH = "amount_mismatch"
    INVALID_SIGNATURE = "invalid_signature"
    MALFORMED = "malformed"
    RETRY = "retry"  # a transient fault of ours: ask the provider to send it again


@dataclass(frozen=True)
class InboundRequest:
    """An HTTP request from a provider or a browser, framework-free.

    `query` and `form` hold decoded values (as PHP's `$_GET` would); `body` the raw
    bytes exactly as received, for providers that sign the raw body.
    """

    method: str
    query: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    remote_addr: str = ""


@dataclass(frozen=True)
class StartRequest:
    """Everything an adapter needs to start one attempt at the provider."""

    reference: str  # our attempt reference: unique, [A-Za-z0-9], at most 32 chars
    request_id: str  # unique per request; reuse it when retrying the same request
    amount: int  # đồng
    description: str  # human text, may contain Vietnamese; adapters fold it if needed
    return_url: str  # feegate's /pay/return/<provider>
    notify_url: str  # feegate's /webhooks/<provider>
    client_ip: str
    now: datetime  # aware
    expires_at: datetime  # aware
    payment_id: str
    locale: str = "vi"  # "vi" | "en"
    items: tuple[
        tuple[str, int], ...
    ] = ()  # (name, amount) fee lines, for providers that show them


@dataclass(frozen=True)
class StartResult:
    """What the citizen is sent to, and what must be remembered for later calls."""

    provider_reference: str  # how the provider names this order (vnp_TxnRef, orderId, app_trans_id)
    redirect_url: str | None = None
    qr_payload: str | None = None
    deeplink: str | None = None
    qr_code_url: str | None = None
    provider_txn_id: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)  # e.g. vnp_CreateDate for querydr


@dataclass(frozen=True)
class ProviderResult:
    """A verified statement from the provider about one attempt."""

    provider_reference: str
    outcome: Outcome
    amount: int | None  # đồng, as the provider states it; None when it does not say
    result_code: str
    message: str = ""
    provider_txn_id: str | None = None
    paid_at: datetime | None = None


@dataclass(frozen=True)
class AckResponse:
    """The HTTP answer the provider expects."""

    status: int
    body: bytes = b""
    content_type: str | None = None


@dataclass(frozen=True)
class QueryRequest:
    provider_reference: str
    reference: str
    amount: int
    created_at: datetime  # when the attempt was started (aware)
    now: datetime
    request_id: str
    description: str = ""
    server_ip: str = "127.0.0.1"
    provider_txn_id: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundRequest:
    refund_reference: str  # our refund reference: unique, [A-Za-z0-9]
    request_id: str
    provider_reference: str  # the paid attempt's provider reference
    provider_txn_id: str | None
    amount: int  # đồng to refund
    original_amount: int  # đồng of the paid attempt
    reason: str
    attempt_created_at: datetime
    now: datetime
    actor: str = "feegate"
    server_ip: str = "127.0.0.1"
    extra: Mapping[str, str] = field(default_factory=dict)
    requested_at: datetime | None = None  # when the refund was first asked: stable across retries

    @property
    def is_full(self) -> bool:
        return self.amount == self.original_amount


@dataclass(frozen=True)
class RefundResult:
    outcome: RefundOutcome
    result_code: str
    message: str = ""
    provider_refund_id: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)  # e.g. m_refund_id for query_refund


@dataclass(frozen=True)
class StatementLine:
    """One line of a provider's settlement statement, neutral."""

    provider_reference: str
    amount: int
    provider_txn_id: str | None = None
    occurred_at: datetime | None = None
    kind: str = "payment"  # "payment" | "refund"


class Adapter(abc.ABC):
    """One provider's protocol. Subclasses declare `name` and implement the hooks."""

    name: ClassVar[str]
    supports_refund: ClassVar[bool] = True
    min_amount: int = 1
    """The smallest amount in đồng the provider takes for one payment (its documented limit)."""
    max_amount: int | None = None
    """The largest amount in đồng it takes for one payment; None: no limit of its own."""

    def accepts(self, amount: int) -> bool:
        """Whether the provider can take a payment of `amount` đồng (checked before start)."""
        if isinstance(amount, bool) or not isinstance(amount, int):
            return False
        if amount < self.min_amount:
            return False
        return self.max_amount is None or amount <= self.max_amount

    @abc.abstractmethod
    def start(self, request: StartRequest) -> StartResult:
        """Build the redirect/QR for an attempt (may call the provider's create API).

        Raises ProviderUnavailable (retry, nothing charged) or ProviderRejected (final).
        """

    @abc.abstractmethod
    def parse_callback(self, request: InboundRequest) -> ProviderResult:
        """Verify and parse a server-to-server notification.

        Raises InvalidSignature or MalformedMessage; never returns an unverified result.
        """

    @abc.abstractmethod
    def parse_return(self, request: InboundRequest) -> ProviderResult:
        """Verify and parse the browser return. Display only: never decides money alone."""

    @abc.abstractmethod
    def return_reference(self, request: InboundRequest) -> str | None:
        """The provider reference a browser return *claims*, unverified, to find the attempt."""

    def callback_reference(self, request: InboundRequest) -> str | None:
        """The provider reference a notification *claims*, unverified: it finds the attempt
        whose merchant account then verifies the message (None: not found in it)."""
        return self.return_reference(request)

    @abc.abstractmethod
    def acknowledge(self, ack: Ack) -> AckResponse:
        """Answer a callback in the provider's own format."""

    @abc.abstractmethod
    def query(self, request: QueryRequest) -> ProviderResult:
        """Ask the provider for an attempt's status (Outcome.UNKNOWN when not found)."""

    def refund(self, request: RefundRequest) -> RefundResult:
        """Ask the provider to refund (part of) a paid attempt."""
        raise NotSupported(f"{self.name} does not support refunds")

    def query_refund(self, request: RefundRequest, previous: RefundResult) -> RefundResult:
        """Ask for the final state of an asynchronous refund."""
        return previous

    def parse_statement_line(self, row: Mapping[str, Any]) -> StatementLine:
        """Map one row of the provider's statement file to a neutral line."""
        raise NotSupported(f"{self.name} statements are not supported yet")


def to_vietnam_time(moment: datetime) -> datetime:
    """Providers that want GMT+7 get it from here, whatever the server's zone."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware datetime (UTC)")
    return moment.astimezone(VIETNAM_TZ)
