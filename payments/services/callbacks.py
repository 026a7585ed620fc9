"""Storing what providers send (raw, before parsing) and confirming browser returns."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from adapters.base import InboundRequest, ProviderResult, QueryRequest
from adapters.errors import AdapterError, InvalidSignature, ProviderUnavailable
from payments.ids import provider_reference
from payments.models import Attempt, Payment, ProviderCallback
from payments.services.attempts import Applied, apply_result, find_attempt_id
from payments.services.gateway import Gateway
from payments.states import AttemptStatus

logger = logging.getLogger(__name__)

SENSITIVE_HEADERS = {"authorization", "cookie"}


def storable(text: str) -> str:
    """PostgreSQL text cannot hold NUL: keep everything else byte for byte, mark the NULs."""
    return text.replace("\x00", "\ufffd")


def store_callback(
    gw: Gateway, provider: str, kind: str, inbound: InboundRequest, query_string: str
) -> int:
    """Commit the raw callback first: nothing a provider sends is lost, valid or not."""
    with gw.sessions.begin() as session:
        row = ProviderCallback(
            provider=provider,
            kind=kind,
            method=inbound.method,
            query_string=storable(query_string),
            body=storable(inbound.body.decode("utf-8", errors="replace")),
            headers={
                storable(k): storable(v)
                for k, v in inbound.headers.items()
                if k.lower() not in SENSITIVE_HEADERS
            },
            remote_addr=inbound.remote_addr,
            received_at=gw.now(),
        )
        session.add(row)
        session.flush()
        return row.id


def finish_callback(
    gw: Gateway,
    callback_id: int,
    *,
    verified: bool | None,
    outcome: str,
    reference: str | None = None,
    attempt_id: str | None = None,
    error: str | None = None,
) -> None:
    with gw.sessions.begin() as session:
        row = session.get(ProviderCallback, callback_id)
        if row is None:
            return
        row.verified = verified
        row.outcome = outcome
        row.provider_reference = reference
        row.attempt_id = attempt_id
        row.error = error[:2000] if error else None


def query_request(gw: Gateway, attempt: Attempt, payment: Payment) -> QueryRequest:
    return QueryRequest(
        provider_reference=attempt.provider_reference,
        reference=attempt.reference,
        amount=attempt.amount,
        created_at=attempt.created_at,
        now=gw.now(),
        request_id=provider_reference("QR", 20),
        description=payment.description or payment.reference,
        provider_txn_id=attempt.provider_txn_id,
        extra=dict(attempt.provider_data or {}),
    )


def confirm_with_provider(gw: Gateway, attempt_id: str, *, source: str) -> Applied | None:
    """Ask the provider about a pending attempt and apply the answer (None: no answer)."""
    with gw.sessions() as session:
        attempt = session.get(Attempt, attempt_id)
        if attempt is None or attempt.status != AttemptStatus.PENDING.value:
            return None
        payment = attempt.payment
        request = query_request(gw, attempt, payment)
        provider = attempt.provider
        account_id = attempt.merchant_account_id
    adapter = gw.account_adapter(provider, account_id)  # the account the attempt used
    if adapter is None:
        return None
    try:
        result = adapter.query(request)
    except (ProviderUnavailable, AdapterError) as exc:
        logger.warning("%s query for %s failed: %s", provider, request.provider_reference, exc)
        return None
    with gw.sessions.begin() as session:
        return apply_result(session, gw, provider, result, source=source).applied


@dataclass(frozen=True)
class ReturnView:
    payment_id: str | None
    attempt_id: str | None
    confirming: bool


def handle_return(
    gw: Gateway, provider: str, inbound: InboundRequest, query_string: str
) -> ReturnView:
    """A browser return: stored, verified for display, but money is decided by a query.

    What the browser brings is never applied: a genuine return shows what the provider
    says when asked (querydr, /query); a forged one changes nothing.
    """
    callback_id = store_callback(gw, provider, "return", inbound, query_string)
    with gw.sessions() as session:
        adapter = gw.provider_adapter(session, provider)
        if adapter is None:
            claimed = None
        else:
            claimed = adapter.return_reference(inbound)
            if claimed and "\x00" in claimed:
                claimed = None  # no reference holds a NUL (PostgreSQL text cannot store one)
            # verified with the account the claimed attempt used; unknown: the default one
            claimed_id = find_attempt_id(session, provider, claimed) if claimed else None
            claimed_attempt = session.get(Attempt, claimed_id) if claimed_id else None
            if claimed_attempt is not None:
                adapter = gw.attempt_adapter(session, claimed_attempt)
            elif provider not in gw.adapters:
                adapter = None
    if adapter is None:
        finish_callback(gw, callback_id, verified=None, outcome="provider_off")
        return ReturnView(None, None, False)
    verified: bool | None
    shown: ProviderResult | None = None
    try:
        shown = adapter.parse_return(inbound)
        verified = True
    except InvalidSignature:
        verified = False
    except AdapterError:
        verified = None
    reference = shown.provider_reference if shown else claimed
    with gw.sessions() as session:
        attempt_id = find_attempt_id(session, provider, reference) if reference else None
        payment_id = _payment_of(session, attempt_id)
    finish_callback(
        gw,
        callback_id,
        verified=verified,
        outcome="return",
        reference=reference,
        attempt_id=attempt_id,
    )
    if attempt_id is None:
        return ReturnView(None, None, False)
    confirm_with_provider(gw, attempt_id, source="return")
    with gw.sessions() as session:
        attempt = session.get(Attempt, attempt_id)
        assert attempt is not None
        still_pending = attempt.status == AttemptStatus.PENDING.value
    return ReturnView(payment_id, attempt_id, confirming=still_pending)


def _payment_of(session: Session, attempt_id: str | None) -> str | None:
    if attempt_id is None:
        return None
    attempt = session.get(Attempt, attempt_id)
    return attempt.payment_id if attempt else None
