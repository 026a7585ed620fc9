"""The citizen's receipt, its public check and the satisfaction answer (CONTRACT.md "Citizen").

- `GET /pay/{id}/receipt` (HTML) and `/pay/{id}/receipt.pdf`: after success only (409
  before, 404 for an unknown id). The first view writes the Receipt from the ledger's
  facts (payments.services.receipts).
- `GET /pay/{id}/receipt/qr.svg`: the QR of the verification link, a file of its own (no
  data: URI, no inline script: the pages' CSP stays strict).
- `GET /verify/{code}`: public; agency, procedure, amount, paid date, the dossier
  reference partly masked; 404 for an unknown code.
- `POST /pay/{id}/rating`: form or JSON `rating` 1–4, optional `comment`; 201 (JSON) or a
  303 back to the receipt (form); 409 before success or for a second answer.
- `GET /api/v1/payments/{id}/receipt-data` and `POST /api/v1/payments/{id}/receipt-number`
  (the portal's key): what the agency's e-receipt system needs, and the template, series
  and number it issued (shown on the receipt page once known).

CSRF: like the checkout's POSTs, the citizen pages have no login and no cookie that a
forged request could ride on; what authorises the rating is the unguessable payment id in
the URL, which only the citizen (and the portal) knows.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated, Any

import segno
from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from pydantic import Field, StrictStr
from sqlalchemy import select

from adapters.base import VIETNAM_TZ
from payments.errors import DomainError, InvalidState, NotFound, ValidationFailed
from payments.models import Payment, Receipt
from payments.models.rating import COMMENT_MAX
from payments.schemas import Rfc3339DateTime, Strict
from payments.services import ratings as rating_service
from payments.services.payments import get_payment
from payments.services.receipts import (
    NUMBER_PATTERN,
    SERIES_PATTERN,
    TEMPLATE_PATTERN,
    EReceipt,
    amount_words,
    display_code,
    mask_reference,
    receipt_by_code,
    receipt_for,
    record_ereceipt,
)
from payments.web import api
from payments.web.checkout import page_context, render_message
from payments.web.context import db, gateway
from payments.web.i18n import pick_lang, provider_names, t
from payments.web.problems import from_domain
from payments.web.receipt_pdf import receipt_pdf as build

# static/receipt.css: the receipt page's own styles (a file: no inline style to allow)
bp = Blueprint(
    "receipts",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/receipts",
)


@bp.url_value_preprocessor
def refuse_nul_in_ids(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and any("\x00" in str(value) for value in values.values()):
        abort(404)


def _private(response: Response) -> Response:
    """A receipt names a dossier and its payer's payment: never cached by others, and its
    URL (the payment id is what opens it) never sent on as a Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def verify_url(code: str) -> str:
    return gateway().settings.url(url_for("receipts.verify", code=code))


def _load(payment_id: str) -> Receipt | Response:
    """The receipt (written and committed on first view), or the 404/409 page."""
    lang = pick_lang(request.args.get("lang"))
    session = db()
    try:
        receipt = receipt_for(session, payment_id)
        session.commit()
    except NotFound:
        session.rollback()
        return render_message("error", t("not_found", lang), 404)
    except InvalidState:
        session.rollback()
        return render_message("receipt_title", t("receipt_not_paid", lang), 409)
    return receipt


@bp.get("/pay/<payment_id>/receipt")
def receipt(payment_id: str) -> Response:
    loaded = _load(payment_id)
    if isinstance(loaded, Response):
        return _private(loaded)
    rating = rating_service.rating_of(db(), payment_id)
    payment_return_url = _return_url(payment_id)
    html = render_template(
        "receipt/receipt.html",
        receipt=loaded,
        words=amount_words(loaded.amount),
        code=display_code(loaded.verification_code),
        verify_link=verify_url(loaded.verification_code),
        rating=rating,
        comment_max=COMMENT_MAX,
        return_url=payment_return_url,
        **page_context(),
    )
    db().rollback()  # a read from here on: end it (SQLite holds its lock for the transaction)
    return _private(Response(html))


def _return_url(payment_id: str) -> str | None:
    payment = db().get(Payment, payment_id)
    return payment.return_url if payment else None


@bp.get("/pay/<payment_id>/receipt.pdf")
def receipt_pdf(payment_id: str) -> Response:
    loaded = _load(payment_id)
    if isinstance(loaded, Response):
        return _private(loaded)
    body = build(
        loaded,
        verify_url=verify_url(loaded.verification_code),
        provider_label=provider_names("vi").get(loaded.provider, loaded.provider),
        made_at=gateway().now(),
    )
    filename = _safe_name(loaded.reference)
    db().rollback()
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'inline; filename="bien-nhan-{filename}.pdf"'
    )
    return _private(response)


def _safe_name(text: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in ".-_") else "-" for c in text)[:80]


@bp.get("/pay/<payment_id>/receipt/qr.svg")
def receipt_qr(payment_id: str) -> Response:
    """The QR of /verify/{code}; 404 until the receipt exists (its page writes it)."""
    code = db().scalar(select(Receipt.verification_code).where(Receipt.payment_id == payment_id))
    db().rollback()
    if code is None:
        abort(404)
    buffer = io.BytesIO()
    segno.make(verify_url(code), error="m", micro=False).save(
        buffer, kind="svg", border=4, xmldecl=False, omitsize=True, light="#fff",
        title="QR",
    )
    response = Response(buffer.getvalue(), content_type="image/svg+xml")
    return _private(response)


@bp.get("/verify/<code>")
def verify(code: str) -> Response:
    lang = pick_lang(request.args.get("lang"))
    session = db()
    found = receipt_by_code(session, code)
    if found is None:
        session.rollback()
        response = render_message("verify_title", t("verify_unknown", lang), 404)
        response.headers["Cache-Control"] = "no-store"
        return response
    html = render_template(
        "receipt/verify.html",
        receipt=found,
        masked=mask_reference(found.reference),
        code=display_code(found.verification_code),
        **page_context(),
    )
    session.rollback()
    response = Response(html)
    response.headers["Cache-Control"] = "no-store"
    return response


def _wants_json() -> bool:
    return request.mimetype == "application/json" or request.mimetype.endswith("+json")


@bp.post("/pay/<payment_id>/rating")
def rate(payment_id: str) -> Response:
    as_json = _wants_json()
    lang = pick_lang(request.args.get("lang"))
    data: Any
    if as_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return from_domain(ValidationFailed("the body must be a JSON object"))
    else:
        data = request.form.to_dict()
    session = db()
    try:
        value, comment = rating_service.parse_rating(data)
        row = rating_service.record_rating(session, payment_id, value, comment)
        session.commit()
    except DomainError as exc:
        session.rollback()
        if as_json:
            return from_domain(exc)
        if isinstance(exc, NotFound):
            return render_message("error", t("not_found", lang), 404)
        if isinstance(exc, rating_service.AlreadyRated):
            return render_message("rating_title", t("rating_already", lang), exc.status)
        if isinstance(exc, InvalidState):
            return render_message("rating_title", t("receipt_not_paid", lang), exc.status)
        return render_message("rating_title", t("rating_invalid", lang), exc.status)
    if as_json:
        body = {
            "payment_id": payment_id,
            "rating": row.rating,
            "comment": row.comment,
            "created_at": row.created_at.isoformat(),
        }
        return api.json_response(body, 201)
    target = url_for("receipts.receipt", payment_id=payment_id, lang=lang, _anchor="rating")
    return redirect(target, code=303)  # type: ignore[return-value]


# -- the portal's side: what the agency's e-receipt system needs, and what it issued ------------

api_bp = Blueprint("receipts_api", __name__, url_prefix="/api/v1")
api_bp.before_request(api.require_client)


class EReceiptIn(Strict):
    """The e-receipt the collecting agency issued for the payment (Decree 254/2026 Art. 23)."""

    template: Annotated[StrictStr, Field(pattern=TEMPLATE_PATTERN, examples=["EBL01"])]
    series: Annotated[StrictStr, Field(pattern=SERIES_PATTERN, examples=["26TAB"])]
    number: Annotated[StrictStr, Field(pattern=NUMBER_PATTERN, examples=["0000123"],
                                       description="1 to 99999999, leading zeros allowed")]
    issued_at: Rfc3339DateTime | None = Field(
        default=None, description="when the agency issued it; defaults to now"
    )


def receipt_data(receipt: Receipt) -> dict[str, Any]:
    """What an e-receipt needs (issuer, fee lines, amount in figures and words, collection
    time) and the payment evidence (provider, its transaction id)."""
    payment = db().get(Payment, receipt.payment_id)
    payer = dict(payment.payer or {}) if payment else {}
    settings = gateway().settings
    issued = None
    if receipt.ereceipt_number:
        issued = {
            "template": receipt.ereceipt_template,
            "series": receipt.ereceipt_series,
            "number": receipt.ereceipt_number,
            "issued_at": rfc3339(receipt.ereceipt_issued_at),
        }
    return {
        "payment_id": receipt.payment_id,
        "verification_code": receipt.verification_code,
        "verify_url": verify_url(receipt.verification_code),
        "receipt_url": settings.url(url_for("receipts.receipt", payment_id=receipt.payment_id)),
        "pdf_url": settings.url(url_for("receipts.receipt_pdf", payment_id=receipt.payment_id)),
        "agency_code": receipt.agency_code,
        "agency_name": receipt.agency_name,
        "procedure_code": receipt.procedure_code,
        "procedure_name": receipt.procedure_name,
        "reference": receipt.reference,
        "payer_name": payer.get("name"),
        "fee_items": [
            {"name": str(item.get("name", "")), "kind": str(item.get("kind", "")),
             "amount": int(item.get("amount", 0))}
            for item in receipt.fee_lines or []
        ],
        "amount": receipt.amount,
        "amount_in_words": amount_words(receipt.amount),
        "currency": "VND",
        "provider": receipt.provider,
        "provider_txn_id": receipt.provider_txn_id,
        "paid_at": rfc3339(receipt.paid_at),
        "ereceipt": issued,
    }


def rfc3339(moment: datetime | None) -> str | None:
    """Vietnam time with its offset: 2026-11-26T10:00:00+07:00."""
    return None if moment is None else moment.astimezone(VIETNAM_TZ).isoformat()


def _client_receipt(payment_id: str) -> Receipt:
    session = db()
    get_payment(session, api.current_client(), payment_id)  # 404 for another client's
    return receipt_for(session, payment_id)


@api_bp.get("/payments/<payment_id>/receipt-data")
def api_receipt_data(payment_id: str) -> Response:
    session = db()
    receipt = _client_receipt(payment_id)
    session.commit()
    body = receipt_data(receipt)
    session.rollback()
    return api.json_response(body)


@api_bp.post("/payments/<payment_id>/receipt-number")
def api_receipt_number(payment_id: str) -> Response:
    """Record the e-receipt the agency issued; the same numbers again answer the same
    (a retry), other numbers for a numbered receipt or numbers another payment of the
    agency holds answer 409."""
    data = api.parse(EReceiptIn, api.raw_json())
    session = db()
    _client_receipt(payment_id)
    number = str(int(data.number))
    receipt = record_ereceipt(
        session, payment_id, EReceipt(data.template, data.series, number, data.issued_at),
        gateway().now(),
    )
    session.commit()
    body = receipt_data(receipt)
    session.rollback()
    return api.json_response(body)
