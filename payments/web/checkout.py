"""The citizen's pages: checkout, choosing a provider, and the result page."""

from __future__ import annotations

import io
import json
from typing import Any

import segno
from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from sqlalchemy import select

from adapters.vietqr import bank_label
from payments.errors import DomainError, ProviderDown
from payments.models import Agency, Attempt, Payment, Procedure
from payments.providers import offered
from payments.services.attempts import start_attempt
from payments.services.callbacks import confirm_with_provider
from payments.states import PAYABLE, AttemptStatus, PaymentStatus
from payments.web.context import client_ip, db, gateway
from payments.web.i18n import TEXTS, pick_lang, provider_names, t

# static/poll.js: the waiting pages' quiet polling (a file of ours, no inline script, no CDN)
bp = Blueprint(
    "checkout",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/checkout",
)


@bp.url_value_preprocessor
def refuse_nul_in_ids(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    """No id holds a NUL (and PostgreSQL text cannot): answer 404, never a database error."""
    if values and any("\x00" in str(value) for value in values.values()):
        abort(404)


def page_context(default_lang: str | None = None, **extra: Any) -> dict[str, Any]:
    lang = pick_lang(request.args.get("lang") or default_lang)
    other = "vi" if lang == "en" else "en"
    args: dict[str, Any] = {**(request.view_args or {}), **request.args.to_dict(), "lang": other}
    lang_url = url_for(request.endpoint, **args) if request.endpoint else None
    return {
        "lang": lang,
        "t": lambda key: t(key, lang),
        "lang_url": lang_url,
        "provider_names": provider_names(lang),
        **extra,
    }


def render_message(heading_key: str, message: str, status: int) -> Response:
    ctx = page_context()
    html = render_template("message.html", heading=ctx["t"](heading_key), message=message, **ctx)
    return Response(html, status=status)


def render_result(payment: Payment, attempt: Attempt | None, *, confirming: bool) -> str:
    """The result page; while confirming, static/poll.js polls status.json?attempt=… (which
    asks the provider) and opens /pay/<id>/result/<attempt> once the attempt is settled.

    No page reloads itself (no meta refresh): without script, "Kiểm tra lại" links to
    /pay/<id>/result/<attempt>, which asks the provider again without storing the
    browser's return once more.
    """
    ctx = page_context(attempt.locale if attempt else None)
    poll = None
    if confirming and attempt is not None:
        poll = wait_poll(payment.id, ctx["lang"], attempt_id=attempt.id)
    return render_template(
        "checkout/result.html",
        payment=payment,
        attempt=attempt,
        confirming=confirming,
        poll=poll,
        **ctx,
    )


def wait_poll(payment_id: str, lang: str, *, attempt_id: str | None = None) -> dict[str, str]:
    """What a waiting page hands static/poll.js: the status URL to poll, where to go once
    it is final, and the "Kiểm tra lại" link (the same page) for a browser without script."""
    if attempt_id is None:
        page = url_for("checkout.pay", payment_id=payment_id, lang=lang)
        status = url_for("checkout.payment_status", payment_id=payment_id, lang=lang)
        return {"url": status, "next": page, "again": page + "#transfer"}
    page = url_for("checkout.result", payment_id=payment_id, attempt_id=attempt_id, lang=lang)
    status = url_for("checkout.payment_status", payment_id=payment_id, attempt=attempt_id,
                     lang=lang)
    return {"url": status, "next": page, "again": page}


@bp.get("/pay/<payment_id>/status.json")
def payment_status(payment_id: str) -> Response:
    """What a waiting page polls: `{id, status, attempt, final, message}`, nothing secret.

    With `attempt` (the result page), a pending attempt is asked about at its provider,
    as /pay/<id>/result/<attempt> does; `final` once the attempt is settled. Without it
    (the VietQR page, waiting for the bank's notification), nothing is asked; `final` once
    the checkout page would no longer show a transfer to wait for. Either way `final` is
    exactly "the page to open no longer waits", so a page never goes round in circles.
    Unknown ids, or an attempt of another payment: 404.
    """
    lang = pick_lang(request.args.get("lang"))
    attempt_id = request.args.get("attempt") or None
    session = db()
    payment = session.get(Payment, payment_id)
    if payment is None or (attempt_id is not None and "\x00" in attempt_id):
        return _status_json({"error": "not found"}, 404)
    if attempt_id is not None:
        attempt = session.get(Attempt, attempt_id)
        if attempt is None or attempt.payment_id != payment_id:
            return _status_json({"error": "not found"}, 404)
        pending = attempt.status == AttemptStatus.PENDING.value
        session.rollback()  # no transaction open during the provider call
        if pending:
            confirm_with_provider(gateway(), attempt_id, source="return")
        session.expire_all()
    payment = session.get(Payment, payment_id)
    assert payment is not None
    attempt = session.get(Attempt, attempt_id) if attempt_id else None
    if attempt is not None:
        final = attempt.status != AttemptStatus.PENDING.value
    else:
        payable = PaymentStatus(payment.status) in PAYABLE and gateway().now() < payment.expires_at
        final = not payable or _pending_transfer(payment) is None
    if final:
        message = f"{t('status_' + payment.status, lang)}. {t('poll_opening', lang)}"
    else:
        message = t("poll_still_waiting", lang)
    return _status_json({
        "id": payment.id,
        "status": payment.status,
        "attempt": {"id": attempt.id, "status": attempt.status} if attempt else None,
        "final": final,
        "message": message,
    })


def _status_json(body: dict[str, Any], code: int = 200) -> Response:
    response = Response(json.dumps(body, ensure_ascii=False), status=code,
                        mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/pay/<payment_id>/result/<attempt_id>")
def result(payment_id: str, attempt_id: str) -> Response:
    """A confirming page's "Kiểm tra lại" and where its polling ends: ask the provider (while
    the attempt is pending), show what we know."""
    session = db()
    attempt = session.get(Attempt, attempt_id)
    if attempt is None or attempt.payment_id != payment_id:
        abort(404)
    pending = attempt.status == AttemptStatus.PENDING.value
    session.rollback()  # no transaction open during the provider call
    if pending:
        confirm_with_provider(gateway(), attempt_id, source="return")
    session.expire_all()
    attempt = session.get(Attempt, attempt_id)
    payment = session.get(Payment, payment_id)
    assert attempt is not None and payment is not None
    confirming = attempt.status == AttemptStatus.PENDING.value
    return Response(render_result(payment, attempt, confirming=confirming))


def _labels(payment: Payment) -> tuple[str | None, str | None]:
    session = db()
    agency_name = session.scalar(select(Agency.name).where(Agency.code == payment.agency_code))
    procedure_name = None
    if payment.procedure_id:
        procedure_name = session.scalar(
            select(Procedure.name).where(Procedure.id == payment.procedure_id)
        )
    return agency_name or None, procedure_name or None


def explain(error: DomainError, lang: str) -> str:
    """The citizen's language first; a provider's own words (often Vietnamese) kept after."""
    key = "error_" + error.code
    if key not in TEXTS:
        return error.detail
    if error.code == "provider-refused":
        return f"{t(key, lang)} ({error.detail})"
    return t(key, lang)


@bp.get("/pay/<payment_id>")
def pay(payment_id: str, message: str | None = None, status: int = 200) -> Response:
    session = db()
    payment = session.get(Payment, payment_id)
    if payment is None:
        return render_message("error", t("not_found", pick_lang(request.args.get("lang"))), 404)
    gw = gateway()
    # the agency's own account, an ancestor's or the default one; and the amount fits
    usable = {name: adapter for name, (adapter, _) in
              gw.adapters_for(session, payment.agency_code).items()}
    providers = offered(usable, payment.amount)
    payable = PaymentStatus(payment.status) in PAYABLE and gw.now() < payment.expires_at
    agency_name, procedure_name = _labels(payment)
    transfer = _pending_transfer(payment) if payable else None
    if transfer:
        providers = [name for name in providers if name != "vietqr"]  # one QR at a time
    html = render_template(
        "checkout/pay.html",
        payment=payment,
        providers=providers,
        payable=payable,
        agency_name=agency_name,
        procedure_name=procedure_name,
        message=message,
        transfer=transfer,
        # the page waits for the bank's notification: static/poll.js looks quietly
        poll=wait_poll(payment.id, pick_lang(request.args.get("lang"))) if transfer else None,
        **page_context(),
    )
    return Response(html, status=status)


def _pending_transfer(payment: Payment) -> dict[str, Any] | None:
    """What the citizen needs to pay the newest pending VietQR attempt by bank transfer."""
    pending = [
        a
        for a in payment.attempts
        if a.provider == "vietqr" and a.status == AttemptStatus.PENDING.value and a.qr_payload
    ]
    if not pending:
        return None
    attempt = max(pending, key=lambda a: (a.created_at, a.id))
    data = dict(attempt.provider_data or {})
    bank_bin = data.get("bank_bin", "")
    return {
        "attempt": attempt,
        "qr_url": url_for("checkout.qr_image", payment_id=payment.id, attempt_id=attempt.id),
        "png_url": url_for("checkout.qr_png", payment_id=payment.id, attempt_id=attempt.id),
        "expires_at": payment.expires_at,
        "bank": bank_label(bank_bin) if bank_bin else "",
        "account_no": data.get("account_no", ""),
        "account_name": data.get("account_name", ""),
        "description": data.get("transfer_description") or attempt.provider_reference,
    }


@bp.get("/pay/<payment_id>/qr/<attempt_id>.svg")
def qr_image(payment_id: str, attempt_id: str) -> Response:
    """The attempt's VietQR payload as an SVG QR code (404 unless the pair matches)."""
    attempt = db().get(Attempt, attempt_id)
    if attempt is None or attempt.payment_id != payment_id or not attempt.qr_payload:
        abort(404)
    buffer = io.BytesIO()
    segno.make(attempt.qr_payload, error="m", micro=False).save(
        buffer,
        kind="svg",
        border=4,
        xmldecl=False,
        omitsize=True,  # a viewBox only: the page sizes it, and it scales down to a phone
        light="#fff",  # a white quiet zone, whatever the page's background
        title="VietQR",
    )
    response = Response(buffer.getvalue(), content_type="image/svg+xml")
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/pay/<payment_id>/qr/<attempt_id>.png")
def qr_png(payment_id: str, attempt_id: str) -> Response:
    """The same QR as a PNG download ("Lưu mã QR"): a banking app scans it from the photos."""
    attempt = db().get(Attempt, attempt_id)
    if attempt is None or attempt.payment_id != payment_id or not attempt.qr_payload:
        abort(404)
    buffer = io.BytesIO()
    segno.make(attempt.qr_payload, error="m", micro=False).save(
        buffer, kind="png", scale=10, border=4, light="#fff"
    )
    name = "".join(c for c in f"vietqr-{attempt.reference}" if c.isalnum() or c == "-")
    response = Response(buffer.getvalue(), content_type="image/png")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.png"'
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/pay/<payment_id>/start")
def start(payment_id: str) -> Response:
    provider = request.form.get("provider", "")
    lang = pick_lang(request.args.get("lang"))
    session = db()
    if session.get(Payment, payment_id) is None:
        abort(404)
    session.rollback()
    try:
        attempt_id = start_attempt(
            gateway(), payment_id, provider, client_ip=client_ip(), locale=lang, source="checkout"
        )
    except ProviderDown:
        return pay(payment_id, message=t("provider_down", lang), status=503)
    except DomainError as exc:
        return pay(payment_id, message=explain(exc, lang), status=exc.status)
    attempt = db().get(Attempt, attempt_id)
    assert attempt is not None
    if attempt.redirect_url:
        return redirect(attempt.redirect_url, code=303)  # type: ignore[return-value]
    # no provider page to go to (a VietQR transfer): the checkout page shows the QR
    anchor = "transfer" if attempt.qr_payload else None
    target = url_for("checkout.pay", payment_id=payment_id, lang=lang, _anchor=anchor)
    return redirect(target, code=303)  # type: ignore[return-value]
