"""/demo: a tiny portal page (sandbox only) that uses the real API like a portal would."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections import deque

import requests
from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from adapters.base import VIETNAM_TZ
from payments.models import Procedure
from payments.web.checkout import page_context
from payments.web.context import db, gateway

bp = Blueprint("demo", __name__)


RECEIVED: deque[dict[str, object]] = deque(maxlen=20)
"""The demo portal's inbox: `make run` serves from one process, so memory is enough."""


def verify_feegate_signature(
    secret: str, body: bytes, header: str, now: int, tolerance: int = 300
) -> bool:
    """What a portal does with Feegate-Signature (the snippet of docs/api.md); `now` is
    Unix seconds by the gateway's clock, which signed the header."""
    timestamp, candidates = None, []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance:
        return False
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates)


@bp.post("/demo/notify")
def notify() -> Response:
    """The demo portal's notify URL: verify, remember, answer 2xx."""
    secret = current_app.config.get("FEEGATE_DEMO_WEBHOOK_SECRET") or ""
    body = request.get_data()
    valid = bool(secret) and verify_feegate_signature(
        secret, body, request.headers.get("Feegate-Signature", ""),
        int(gateway().now().timestamp()),
    )
    if not valid:
        return Response("bad signature", status=400)
    event = json.loads(body)
    payment = event.get("data", {}).get("payment", {})
    RECEIVED.appendleft({
        "id": event.get("id"),
        "type": event.get("type"),
        "reference": payment.get("reference"),
        "status": payment.get("status"),
        "received_at": gateway().now(),
    })
    return Response(status=204)


def _api_key() -> str | None:
    key: str | None = current_app.config.get("FEEGATE_DEMO_API_KEY")
    return key


@bp.get("/demo")
def index() -> Response:
    payment = _lookup(request.args.get("reference"))  # before opening our own transaction
    procedures = list(
        db().scalars(
            select(Procedure)
            .where(Procedure.catalogued.is_(True))
            .options(selectinload(Procedure.fee_items))
            .order_by(Procedure.code)
        )
    )
    html = render_template(
        "demo.html",
        received=list(RECEIVED),
        procedures=procedures,
        payment=payment,
        has_key=bool(_api_key()),
        error=request.args.get("error"),
        **page_context(),
    )
    return Response(html)


def _lookup(reference: str | None) -> dict[str, object] | None:
    """Ask the API, as a portal would, for the payment of a dossier."""
    key = _api_key()
    if not reference or key is None:
        return None
    answer = requests.get(
        gateway().settings.url("/api/v1/payments"),
        params={"reference": reference},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    items = answer.json().get("items", []) if answer.ok else []
    return items[0] if items else None


@bp.post("/demo")
def create() -> Response:
    key = _api_key()
    gw = gateway()
    procedure = db().get(Procedure, int(request.form.get("procedure_id", "0") or 0))
    if key is None or procedure is None:
        return redirect(url_for("demo.index", error="no demo client or procedure"))  # type: ignore[return-value]
    raw_amount = request.form.get("amount", "").strip()
    if raw_amount and not raw_amount.isdigit():
        return redirect(url_for("demo.index", error="số tiền phải là số nguyên đồng"))  # type: ignore[return-value]
    amount = int(raw_amount or 0) or sum(i.amount for i in procedure.fee_items)
    agency_code, code, name = procedure.agency.code, procedure.code, procedure.name
    db().rollback()  # release SQLite's write lock before calling our own API
    today = gateway().now().astimezone(VIETNAM_TZ)
    reference = f"{agency_code}-{today:%y%m%d}-{secrets.randbelow(10_000):04d}"
    body = {
        "reference": reference,
        "procedure_code": code,
        "agency_code": agency_code,
        "amount": amount,
        "description": name[:200],
        "return_url": gw.settings.url(f"/demo?reference={reference}"),
        "payer": {"name": request.form.get("payer") or "Nguyễn Văn A"},
    }
    if raw_amount:
        body["fee_items"] = [{"name": name[:200] or "Phí", "kind": "fee", "amount": amount}]
    answer = requests.post(
        gw.settings.url("/api/v1/payments"),
        data=json.dumps(body),
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Idempotency-Key": secrets.token_hex(8),
        },
        timeout=10,
    )
    if answer.status_code != 201:
        return redirect(url_for("demo.index", error=answer.text[:300]))  # type: ignore[return-value]
    return redirect(answer.json()["checkout_url"], code=303)  # type: ignore[return-value]
