"""The sandbox provider: a real provider protocol that feegate hosts itself.

It signs like a real gateway (HMAC-SHA256 over the raw callback body, and over the
sorted `k=v` pairs of a browser return) so tests and demos go through the real inbound
path. Magic amounts choose outcomes, by the last two digits of the amount in đồng:

| ends in | what the sandbox does |
|---|---|
| 01 | the card is declined when the citizen pays (code 51, insufficient funds) |
| 02 | the payment succeeds but the callback is never sent (only a query finds it) |
| 03 | the callback is sent twice |
| 04 | the query API is down (HTTP 503): the attempt stays pending |
| 05 | the provider refuses to start the payment |
| 06 | the callback reports 1.000 ₫ more than was asked (amount mismatch) |

Any other amount: the citizen chooses on the hosted page (pay, fail or cancel).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

from adapters._crypto import hmac_sha256_hex, same_hex
from adapters._http import post_json
from adapters.base import (
    Ack,
    AckResponse,
    Adapter,
    InboundRequest,
    Outcome,
    ProviderResult,
    QueryRequest,
    RefundOutcome,
    RefundRequest,
    RefundResult,
    StartRequest,
    StartResult,
    StatementLine,
)
from adapters.errors import (
    InvalidSignature,
    MalformedMessage,
    ProviderRejected,
    ProviderUnavailable,
)

SIGNATURE_HEADER = "Sandbox-Signature"

MAGIC_DECLINE = 1
MAGIC_DROP_CALLBACK = 2
MAGIC_DUPLICATE_CALLBACK = 3
MAGIC_QUERY_DOWN = 4
MAGIC_REFUSE_START = 5
MAGIC_AMOUNT_MISMATCH = 6

STATUS_TO_OUTCOME: dict[str, Outcome] = {
    "paid": Outcome.SUCCEEDED,
    "failed": Outcome.FAILED,
    "cancelled": Outcome.CANCELLED,
    "processing": Outcome.PENDING,
    "not_found": Outcome.UNKNOWN,
}

CODES: dict[str, str] = {
    "00": "Giao dịch thành công",
    "24": "Khách hàng hủy giao dịch",
    "51": "Tài khoản không đủ số dư",
    "91": "Không tìm thấy giao dịch",
}


def magic(amount: int) -> int:
    """The magic number an amount carries (its last two digits)."""
    return amount % 100


def canonical(fields: Mapping[str, Any]) -> str:
    """`k=v&…` sorted by key, values raw: what the sandbox signs for returns and answers."""
    return "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "signature")


@dataclass(frozen=True)
class SandboxConfig:
    secret: str
    pay_url: str  # the hosted page, e.g. http://127.0.0.1:8000/sandbox/pay
    api_url: str  # the query/refund API base, e.g. http://127.0.0.1:8000/sandbox/api
    timeout: float = 10.0


class SandboxAdapter(Adapter):
    name: ClassVar[str] = "sandbox"
    min_amount = 1  # the sandbox takes any whole đồng above 0, with no upper limit
    max_amount = None

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config

    # -- signing, used by the hosted sandbox site too -------------------------------
    def sign(self, fields: Mapping[str, Any]) -> str:
        return hmac_sha256_hex(self.config.secret, canonical(fields))

    def sign_body(self, body: bytes) -> str:
        return hmac_sha256_hex(self.config.secret, body)

    def verify(self, fields: Mapping[str, Any]) -> bool:
        return same_hex(self.sign(fields), str(fields.get("signature", "")))

    # -- the interface ---------------------------------------------------------------
    def start(self, request: StartRequest) -> StartResult:
        if magic(request.amount) == MAGIC_REFUSE_START:
            raise ProviderRejected("05", "Sandbox từ chối khởi tạo giao dịch (số tiền thử 05)")
        fields = {
            "reference": request.reference,
            "amount": str(request.amount),
            "description": request.description[:200],
            "return_url": request.return_url,
            "notify_url": request.notify_url,
            "expires": str(int(request.expires_at.timestamp())),
            "locale": request.locale,
        }
        query = urlencode({**fields, "signature": self.sign(fields)})
        return StartResult(
            provider_reference=request.reference,
            redirect_url=f"{self.config.pay_url}?{query}",
        )

    def parse_callback(self, request: InboundRequest) -> ProviderResult:
        received = _header(request.headers, SIGNATURE_HEADER)
        if not received:
            raise InvalidSignature("missing Sandbox-Signature header")
        if not same_hex(self.sign_body(request.body), received):
            raise InvalidSignature("Sandbox-Signature does not match the body")
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedMessage("callback body is not JSON") from exc
        if not isinstance(data, dict):
            raise MalformedMessage("callback body is not a JSON object")
        return self._result(data)

    def parse_return(self, request: InboundRequest) -> ProviderResult:
        fields = dict(request.query)
        if not self.verify(fields):
            raise InvalidSignature("return signature does not match")
        return self._result(fields)

    def return_reference(self, request: InboundRequest) -> str | None:
        return request.query.get("reference") or None

    def acknowledge(self, ack: Ack) -> AckResponse:
        status = {Ack.INVALID_SIGNATURE: 401, Ack.MALFORMED: 400, Ack.RETRY: 503}.get(ack, 200)
        body = json.dumps({"ok": status == 200, "result": ack.value}).encode()
        return AckResponse(status=status, body=body, content_type="application/json")

    def query(self, request: QueryRequest) -> ProviderResult:
        fields = {"reference": request.provider_reference, "request_id": request.request_id}
        answer = post_json(
            f"{self.config.api_url}/query",
            {**fields, "signature": self.sign(fields)},
            timeout=self.config.timeout,
        )
        if not self.verify(answer):
            raise ProviderUnavailable("sandbox query answer has a bad signature")
        return self._result(answer)

    def refund(self, request: RefundRequest) -> RefundResult:
        fields = {
            "reference": request.provider_reference,
            "refund_reference": request.refund_reference,
            "amount": str(request.amount),
            "reason": request.reason,
        }
        answer = post_json(
            f"{self.config.api_url}/refund",
            {**fields, "signature": self.sign(fields)},
            timeout=self.config.timeout,
        )
        if not self.verify(answer):
            raise ProviderUnavailable("sandbox refund answer has a bad signature")
        return self._refund_result(answer)

    def query_refund(self, request: RefundRequest, previous: RefundResult) -> RefundResult:
        """Ask the sandbox's books about a refund whose answer was lost (or still pending)."""
        fields = {"refund_reference": request.refund_reference, "request_id": request.request_id}
        answer = post_json(
            f"{self.config.api_url}/refund-status",
            {**fields, "signature": self.sign(fields)},
            timeout=self.config.timeout,
        )
        if not self.verify(answer):
            raise ProviderUnavailable("sandbox refund-status answer has a bad signature")
        if answer.get("status") == "not_found":
            # The refund never reached the sandbox: nothing was paid out, so it failed.
            return RefundResult(RefundOutcome.FAILED, "91", str(answer.get("message", "")))
        return self._refund_result(answer)

    @staticmethod
    def _refund_result(answer: Mapping[str, Any]) -> RefundResult:
        outcome = {
            "succeeded": RefundOutcome.SUCCEEDED,
            "pending": RefundOutcome.PENDING,
        }.get(str(answer.get("status")), RefundOutcome.FAILED)
        return RefundResult(
            outcome=outcome,
            result_code=str(answer.get("code", "")),
            message=str(answer.get("message", "")),
            provider_refund_id=str(answer.get("refund_id") or "") or None,
        )

    def parse_statement_line(self, row: Mapping[str, Any]) -> StatementLine:
        try:
            return StatementLine(
                provider_reference=str(row["reference"]),
                amount=int(str(row["amount"])),
                provider_txn_id=str(row.get("transaction_id") or "") or None,
            )
        except (KeyError, ValueError) as exc:
            raise MalformedMessage(f"bad sandbox statement row: {exc}") from exc

    # -- helpers -----------------------------------------------------------------------
    def _result(self, data: Mapping[str, Any]) -> ProviderResult:
        try:
            reference = str(data["reference"])
            status = str(data["status"])
            raw_amount = data.get("amount")
        except KeyError as exc:
            raise MalformedMessage(f"missing field {exc}") from exc
        if status not in STATUS_TO_OUTCOME:
            outcome = Outcome.FAILED  # an unknown status is never a success
        else:
            outcome = STATUS_TO_OUTCOME[status]
        amount: int | None = None
        if raw_amount not in (None, ""):
            text = str(raw_amount)
            if not text.isdigit():
                raise MalformedMessage("amount is not an integer")
            amount = int(text)
        code = str(data.get("code") or "")
        paid_at = _parse_time(data.get("paid_at"))
        return ProviderResult(
            provider_reference=reference,
            outcome=outcome,
            amount=amount,
            result_code=code,
            message=str(data.get("message") or CODES.get(code, "")),
            provider_txn_id=str(data.get("transaction_id") or "") or None,
            paid_at=paid_at,
        )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _parse_time(value: object) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
