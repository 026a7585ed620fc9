"""The payment object portals see, in the API and in notifications alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from payments.models import Attempt, Payment, Refund


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def payment_to_dict(payment: Payment, checkout_url: str) -> dict[str, Any]:
    return {
        "id": payment.id,
        "object": "payment",
        "reference": payment.reference,
        "agency_code": payment.agency_code,
        "procedure_code": payment.procedure_code,
        "amount": payment.amount,
        "currency": payment.currency,
        "description": payment.description,
        "status": payment.status,
        "refunded_amount": payment.refunded_amount,
        "return_url": payment.return_url,
        "checkout_url": checkout_url,
        "payer": payment.payer or {},
        "fee_items": [
            {"name": item.name, "kind": item.kind, "amount": item.amount}
            for item in payment.fee_items
        ],
        "metadata": payment.meta or {},
        "dossier_received_at": (
            payment.dossier_received_at.isoformat() if payment.dossier_received_at else None
        ),
        "paid_at": rfc3339(payment.paid_at),
        "paid_provider": payment.paid_provider,
        "flags": list(payment.flags or []),
        "expires_at": rfc3339(payment.expires_at),
        "created_at": rfc3339(payment.created_at),
        "updated_at": rfc3339(payment.updated_at),
        "attempts": [attempt_to_dict(a) for a in payment.attempts],
        "refunds": [refund_to_dict(r) for r in payment.refunds],
    }


def attempt_to_dict(attempt: Attempt) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": attempt.id,
        "object": "attempt",
        "provider": attempt.provider,
        "channel": attempt.channel,
        "status": attempt.status,
        "amount": attempt.amount,
        "reference": attempt.reference,
        "provider_reference": attempt.provider_reference,
        "provider_transaction_id": attempt.provider_txn_id,
        "result_code": attempt.result_code,
        "result_message": attempt.result_message,
        "redirect_url": attempt.redirect_url,
        "created_at": rfc3339(attempt.created_at),
        "completed_at": rfc3339(attempt.completed_at),
        "paid_at": rfc3339(attempt.paid_at),
    }
    if attempt.qr_payload:
        data["qr_payload"] = attempt.qr_payload
    if attempt.deeplink:
        data["deeplink"] = attempt.deeplink
    if attempt.qr_code_url:
        data["qr_code_url"] = attempt.qr_code_url
    if attempt.channel == "counter":
        data["counter"] = {
            "method": attempt.counter_method,
            "receipt_no": attempt.receipt_no,
            "officer": attempt.officer,
        }
    return data


def refund_to_dict(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "object": "refund",
        "amount": refund.amount,
        "reason": refund.reason,
        "status": refund.status,
        "result_code": refund.result_code,
        "result_message": refund.result_message,
        "created_at": rfc3339(refund.created_at),
    }
