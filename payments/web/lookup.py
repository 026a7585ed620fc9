"""`/pay/lookup`: a citizen finds their payment again by dossier reference and phone.

The citizen types the dossier reference and the last 4 digits of the phone number the
portal gave (`payer.phone`). A match links to the payment (`/pay/{id}`), or to its receipt
once it is paid. No match and a wrong phone give the same neutral message, so the page never
tells which part was wrong.

Against guessing (10⁴ possible endings): the POST is limited per client IP
(`FEEGATE_RATE_LIMIT_LOOKUP`, default `10/minute`) and per dossier reference
(`FEEGATE_RATE_LIMIT_LOOKUP_REFERENCE`, default `30/hour`, counted under the reference's
SHA-256, so many addresses cannot share out the guesses of one dossier), on the app's
Flask-Limiter storage (Redis when configured; process memory should it fail). The form
carries a CSRF token (Flask-WTF), although the other citizen POSTs need none.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_wtf.csrf import CSRFError, generate_csrf
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import select

from payments.models import Payment
from payments.states import PAYABLE, PaymentStatus
from payments.web.checkout import page_context
from payments.web.context import client_ip, db, gateway
from payments.web.i18n import t
from payments.web.ratelimit import EXTENSION as LIMITER
from payments.web.staff_auth import csrf

logger = logging.getLogger(__name__)

bp = Blueprint("lookup", __name__, template_folder="templates")

MAX_REFERENCE = 128  # Payment.reference's length
MAX_MATCHES = 20
_fallback = MovingWindowRateLimiter(MemoryStorage())


def last_four(phone: Any) -> str:
    digits = re.sub(r"\D", "", str(phone or ""))
    return digits[-4:] if len(digits) >= 4 else ""


def _allowed(rate: str, *keys: str) -> tuple[bool, int]:
    """Count one hit on the bucket; (allowed, seconds to wait when refused)."""
    item = parse(rate)
    prefix = gateway().settings.rate_limit_prefix
    extension = current_app.extensions.get(LIMITER)
    try:
        strategy = extension.limiter if extension is not None else _fallback
        allowed = strategy.hit(item, prefix, "lookup", *keys)
    except Exception:  # storage down: this process's memory, never all or nothing
        logger.warning("rate-limit storage failed for the lookup; counting in memory")
        allowed = _fallback.hit(item, prefix, "lookup", *keys)
    return allowed, item.get_expiry()


def _render(status: int = 200, **values: Any) -> Response:
    values.setdefault("reference", "")
    html = render_template("checkout/lookup.html", csrf_token=generate_csrf(), **values,
                           **page_context())
    response = Response(html, status=status)
    response.headers["Cache-Control"] = "no-store"  # it may hold links to someone's payment
    return response


@bp.get("/pay/lookup")
def form() -> Response:
    return _render()


@bp.post("/pay/lookup")
def find() -> Response:
    lang = page_context()["lang"]
    try:
        csrf.protect()
    except CSRFError:
        return _render(400, message=t("error_http", lang))
    settings = gateway().settings
    allowed, wait = _allowed(settings.rate_limit_lookup, "ip", client_ip())
    reference = (request.form.get("reference") or "").strip()[:MAX_REFERENCE]
    phone = (request.form.get("phone") or "").strip()
    if allowed and reference:
        digest = hashlib.sha256(reference.encode()).hexdigest()
        allowed, wait = _allowed(settings.rate_limit_lookup_reference, "reference", digest)
    if not allowed:
        from payments.web.metrics import RATE_LIMITED  # noqa: PLC0415

        RATE_LIMITED.labels(scope="checkout").inc()
        response = _render(429, reference=reference, message=t("too_many", lang))
        response.headers["Retry-After"] = str(max(1, wait))
        return response
    if not reference or not re.fullmatch(r"[0-9]{4}", phone):
        return _render(422, reference=reference, message=t("lookup_invalid", lang))
    session = db()
    try:
        payments = session.scalars(
            select(Payment)
            .where(Payment.reference == reference)
            .order_by(Payment.created_at.desc(), Payment.id)
            .limit(MAX_MATCHES)
        ).all()
        matches = [
            _found(p, lang)
            for p in payments
            if hmac.compare_digest(last_four((p.payer or {}).get("phone")) or "-", phone)
        ]
    finally:
        session.rollback()  # a read only
    if not matches:
        return _render(reference=reference, message=t("lookup_none", lang))
    return _render(reference=reference, matches=matches)


def _found(payment: Payment, lang: str) -> dict[str, Any]:
    paid = payment.status == PaymentStatus.SUCCEEDED.value and payment.amount > 0
    if paid:
        url = url_for("receipts.receipt", payment_id=payment.id, lang=lang)
        label = t("view_receipt", lang)
    else:
        url = url_for("checkout.pay", payment_id=payment.id, lang=lang)
        payable = (PaymentStatus(payment.status) in PAYABLE
                   and gateway().now() < payment.expires_at)
        label = t("lookup_resume" if payable else "lookup_expired", lang)
    return {
        "url": url,
        "label": label,
        "status": t("status_" + payment.status, lang),
        "amount": payment.amount,
        "description": payment.description,
        "agency_code": payment.agency_code,
    }
