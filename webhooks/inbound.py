"""Provider callbacks: store raw -> adapter verifies and parses -> payments applies -> ack.

Thin and distrustful: an invalid signature touches nothing but the stored raw callback;
an ignored event still gets the provider's "received" answer so it stops retrying;
only a transient fault of ours asks for a retry.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import RequestEntityTooLarge

from adapters.base import Ack, Adapter, InboundRequest
from adapters.errors import InvalidSignature, MalformedMessage
from payments.models import Attempt, Payment
from payments.services.attempts import Applied, apply_result, find_attempt_id
from payments.services.callbacks import finish_callback, handle_return, store_callback
from payments.services.gateway import Gateway
from payments.web.checkout import render_message, render_result
from payments.web.context import db, gateway

logger = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)

ACK_FOR: dict[Applied, Ack] = {
    Applied.APPLIED: Ack.RECORDED,
    Applied.UNCHANGED: Ack.RECORDED,
    Applied.DUPLICATE: Ack.ALREADY_CONFIRMED,
    Applied.UNKNOWN_ATTEMPT: Ack.UNKNOWN_ORDER,
    Applied.AMOUNT_MISMATCH: Ack.AMOUNT_MISMATCH,
}


def inbound_from_flask() -> InboundRequest:
    return InboundRequest(
        method=request.method,
        query=request.args.to_dict(flat=True),
        form=request.form.to_dict(flat=True)
        if request.mimetype == "application/x-www-form-urlencoded"
        else {},
        body=request.get_data(cache=True),
        headers=dict(request.headers.items()),
        remote_addr=request.remote_addr or "",
    )


def answer(adapter: Adapter, ack: Ack) -> Response:
    reply = adapter.acknowledge(ack)
    return Response(reply.body, status=reply.status, content_type=reply.content_type)


def verifying_adapter(gw: Gateway, provider: str, inbound: InboundRequest) -> Adapter | None:
    """The adapter of the account the claimed attempt used; an unknown reference: the
    environment's default one (None: no account can verify this message)."""
    with gw.sessions() as session:
        any_adapter = gw.provider_adapter(session, provider)
        if any_adapter is None:
            return None
        claimed = any_adapter.callback_reference(inbound)
        if claimed and "\x00" not in claimed:
            attempt_id = find_attempt_id(session, provider, claimed)
            attempt = session.get(Attempt, attempt_id) if attempt_id else None
            if attempt is not None:
                return gw.attempt_adapter(session, attempt)
        return gw.adapters.get(provider)


def receive(gw: Gateway, provider: str, inbound: InboundRequest) -> tuple[Ack, str | None]:
    """Process one callback end to end; return the ack and the provider reference."""
    callback_id = store_callback(
        gw, provider, "ipn", inbound, request.query_string.decode("latin-1")
    )
    adapter = verifying_adapter(gw, provider, inbound)
    if adapter is None:
        logger.warning("%s callback %s: no merchant account can verify it", provider, callback_id)
        finish_callback(gw, callback_id, verified=False, outcome=Ack.INVALID_SIGNATURE,
                        error="no merchant account for this reference")
        return Ack.INVALID_SIGNATURE, None
    try:
        result = adapter.parse_callback(inbound)
    except InvalidSignature as exc:
        logger.warning("%s callback %s: invalid signature (%s)", provider, callback_id, exc)
        finish_callback(
            gw, callback_id, verified=False, outcome=Ack.INVALID_SIGNATURE, error=str(exc)
        )
        return Ack.INVALID_SIGNATURE, None
    except MalformedMessage as exc:
        logger.warning("%s callback %s: malformed (%s)", provider, callback_id, exc)
        finish_callback(gw, callback_id, verified=None, outcome=Ack.MALFORMED, error=str(exc))
        return Ack.MALFORMED, None
    try:
        with gw.sessions.begin() as session:
            report = apply_result(session, gw, provider, result, source="ipn")
    except OperationalError as exc:
        logger.exception("%s callback %s: database fault", provider, callback_id)
        finish_callback(
            gw,
            callback_id,
            verified=True,
            outcome=Ack.RETRY,
            reference=result.provider_reference,
            error=type(exc).__name__,
        )
        return Ack.RETRY, result.provider_reference
    ack = ACK_FOR[report.applied]
    finish_callback(
        gw,
        callback_id,
        verified=True,
        outcome=ack,
        reference=result.provider_reference,
        attempt_id=report.attempt_id,
    )
    return ack, result.provider_reference


@bp.route("/webhooks/<provider>", methods=["GET", "POST"])
def callback(provider: str) -> Response:
    gw = gateway()
    adapter = gw.provider_adapter(db(), provider)  # its answers' format; not the verifier
    db().rollback()  # end the read before the services open their own transactions
    if adapter is None:
        abort(404)
    try:
        inbound = inbound_from_flask()
    except RequestEntityTooLarge:
        logger.warning("%s callback: body over the size limit, refused", provider)
        return answer(adapter, Ack.MALFORMED)  # resending the same body can never succeed
    try:
        ack, _ = receive(gw, provider, inbound)
    except Exception:
        logger.exception("%s callback: unexpected error", provider)
        ack = Ack.RETRY
    return answer(adapter, ack)


@bp.get("/pay/return/<provider>")
def browser_return(provider: str) -> Response:
    gw = gateway()
    known = gw.provider_adapter(db(), provider) is not None
    db().rollback()  # end the read before the services open their own transactions
    if not known:
        abort(404)
    view = handle_return(gw, provider, inbound_from_flask(), request.query_string.decode("latin-1"))
    if view.payment_id is None:
        return render_message("error", "Không tìm thấy giao dịch. / Transaction not found.", 404)
    session = db()
    payment = session.get(Payment, view.payment_id)
    attempt = session.get(Attempt, view.attempt_id) if view.attempt_id else None
    assert payment is not None
    return Response(render_result(payment, attempt, confirming=view.confirming))
