"""The sandbox provider's hosted page and API, served only when FEEGATE_SANDBOX=1.

It behaves like an external gateway: it checks the signed pay link, lets the citizen
pay, fail or cancel, records the outcome in its own ledger, sends the signed callback to
/webhooks/sandbox over real HTTP, and sends the browser back to /pay/return/sandbox.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Blueprint, Response, abort, redirect, render_template, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from adapters.sandbox import (
    MAGIC_AMOUNT_MISMATCH,
    MAGIC_DECLINE,
    MAGIC_DROP_CALLBACK,
    MAGIC_DUPLICATE_CALLBACK,
    MAGIC_QUERY_DOWN,
    SIGNATURE_HEADER,
    SandboxAdapter,
    magic,
)
from payments.db import lock_for_update
from payments.models import SandboxRefund, SandboxTransaction
from payments.web.context import gateway

logger = logging.getLogger(__name__)

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox", template_folder="templates")

CHOICES = {
    "pay": ("paid", "00", "Giao dịch thành công"),
    "fail": ("failed", "51", "Tài khoản không đủ số dư"),
    "cancel": ("cancelled", "24", "Khách hàng hủy giao dịch"),
}


def adapter() -> SandboxAdapter:
    found = gateway().adapters.get("sandbox")
    if not isinstance(found, SandboxAdapter):
        abort(404)
    return found


def signed_link_fields() -> dict[str, str]:
    fields = request.values.to_dict(flat=True)
    fields.pop("choice", None)
    if not adapter().verify(fields):
        abort(400, "Sai chữ ký liên kết thanh toán (invalid signature)")
    return fields


@bp.get("/pay")
def page() -> Response:
    fields = signed_link_fields()
    amount = int(fields["amount"])
    html = render_template(
        "sandbox/pay.html",
        fields=fields,
        amount=amount,
        magic=magic(amount),
        lang=fields.get("locale", "vi"),
    )
    return Response(html)


@bp.post("/pay")
def choose() -> Response:
    fields = signed_link_fields()
    choice = request.form.get("choice", "")
    if choice not in CHOICES:
        abort(400, "unknown choice")
    amount = int(fields["amount"])
    status, code, message = CHOICES[choice]
    if choice == "pay" and magic(amount) == MAGIC_DECLINE:
        status, code, message = CHOICES["fail"]
    reported = amount + 1000 if magic(amount) == MAGIC_AMOUNT_MISMATCH else amount
    now = gateway().now()
    txn = record(fields["reference"], reported, status, code, now)
    result = {
        "reference": fields["reference"],
        "amount": str(reported),
        "status": status,
        "code": code,
        "message": message,
        "transaction_id": txn.transaction_id,
        "paid_at": now.isoformat() if status == "paid" else "",
    }
    if magic(amount) != MAGIC_DROP_CALLBACK:
        times = 2 if magic(amount) == MAGIC_DUPLICATE_CALLBACK else 1
        for _ in range(times):
            send_callback(fields["notify_url"], result)
    back = {**result, "signature": adapter().sign(result)}
    return redirect(f"{fields['return_url']}?{urlencode(back)}", code=303)  # type: ignore[return-value]


def record(
    reference: str, amount: int, status: str, code: str, now: datetime
) -> SandboxTransaction:
    """Write the outcome to the sandbox's books; a double click lands on the same row."""
    for attempt in range(2):
        try:
            with gateway().sessions.begin() as session:
                stmt = select(SandboxTransaction).where(SandboxTransaction.reference == reference)
                if lock_for_update(session):
                    stmt = stmt.with_for_update()
                txn = session.scalars(stmt).one_or_none()
                if txn is None:
                    txn = SandboxTransaction(
                        reference=reference,
                        amount=amount,
                        status=status,
                        code=code,
                        transaction_id=f"SBX{secrets.randbelow(10**10):010d}",
                        created_at=now,
                    )
                    session.add(txn)
                elif txn.status != "paid":
                    txn.status, txn.code, txn.amount = status, code, amount
                txn.paid_at = now if txn.status == "paid" else None
                session.flush()
                session.expunge(txn)
                return txn
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def send_callback(url: str, result: dict[str, str]) -> None:
    body = json.dumps(result, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: adapter().sign_body(body)}
    try:
        answer = requests.post(url, data=body, headers=headers, timeout=10)
        logger.info("sandbox callback %s -> HTTP %s", result["reference"], answer.status_code)
    except requests.RequestException as exc:
        logger.warning("sandbox callback %s failed: %s", result["reference"], exc)


def signed_json(fields: dict[str, Any], status: int = 200) -> Response:
    body = {k: str(v) for k, v in fields.items()}
    body["signature"] = adapter().sign(body)
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )


def api_request() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not adapter().verify(data):
        abort(401)
    return data


@bp.post("/api/query")
def api_query() -> Response:
    data = api_request()
    reference = str(data.get("reference", ""))
    with gateway().sessions() as session:
        txn = session.get(SandboxTransaction, reference)
        if txn is not None and magic(txn.amount) == MAGIC_QUERY_DOWN:
            return Response("sandbox query API is down (magic amount 04)", status=503)
        if txn is None:
            return signed_json(
                {
                    "reference": reference,
                    "status": "not_found",
                    "code": "91",
                    "amount": "",
                    "message": "Không tìm thấy giao dịch",
                }
            )
        return signed_json(
            {
                "reference": reference,
                "status": txn.status,
                "code": txn.code,
                "amount": txn.amount,
                "transaction_id": txn.transaction_id,
                "paid_at": txn.paid_at.isoformat() if txn.paid_at else "",
                "message": "",
            }
        )


@bp.post("/api/refund")
def api_refund() -> Response:
    """Refund by our refund reference: asked twice, it answers the first result again."""
    data = api_request()
    refund_reference = str(data.get("refund_reference", ""))
    try:
        amount = int(str(data.get("amount", "0")))
    except ValueError:
        abort(400, "amount must be an integer")
    with gateway().sessions.begin() as session:
        done = session.get(SandboxRefund, refund_reference)
        if done is not None:
            return refund_answer(done)
        # lock the ledger row: concurrent refunds must not lose an update (or over-refund)
        stmt = select(SandboxTransaction).where(
            SandboxTransaction.reference == str(data.get("reference", ""))
        )
        if lock_for_update(session):
            stmt = stmt.with_for_update()
        txn = session.scalars(stmt).one_or_none()
        if txn is None or txn.status != "paid":
            outcome = ("failed", "91", "Giao dịch không hợp lệ để hoàn")
        elif txn.refunded_amount + amount > txn.amount:
            outcome = ("failed", "94", "Số tiền hoàn vượt quá số đã thu")
        else:
            txn.refunded_amount += amount
            outcome = ("succeeded", "00", "Hoàn tiền thành công")
        row = SandboxRefund(
            refund_reference=refund_reference,
            reference=str(data.get("reference", "")),
            amount=amount,
            status=outcome[0],
            code=outcome[1],
            message=outcome[2],
            refund_id=f"SBR{secrets.randbelow(10**10):010d}" if outcome[0] == "succeeded" else "",
        )
        session.add(row)
        return refund_answer(row)


@bp.post("/api/refund-status")
def api_refund_status() -> Response:
    data = api_request()
    with gateway().sessions() as session:
        row = session.get(SandboxRefund, str(data.get("refund_reference", "")))
        if row is None:
            return signed_json(
                {"status": "not_found", "code": "91", "message": "Không có lệnh hoàn"}
            )
        return refund_answer(row)


def refund_answer(row: SandboxRefund) -> Response:
    return signed_json(
        {"status": row.status, "code": row.code, "message": row.message, "refund_id": row.refund_id}
    )
