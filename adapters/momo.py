"""MoMo payment gateway v2 (`/v2/gateway/api/{create,query,refund}`, IPN, browser redirect).

Protocol facts come from /work/shared/providers/README.md §2 and the vectors MoMo's own
sample code produced (tests/adapters/vectors/momo.json). The choices that are ours:

Signatures
    Every MoMo v2 signature is `hex(HMAC-SHA256(secretKey, raw))` where `raw` is
    `key=value` pairs joined by `&` in a fixed (alphabetical) key order, with `accessKey`
    signed but taken from our config. Values are *not* URL-encoded and are hashed as UTF-8,
    so Vietnamese text is fine. Numbers are rendered the way they arrived (a JSON 150000 is
    "150000"; a query-string value is used verbatim), because MoMo signed its own rendering.

Idempotency
    `requestId` is MoMo's idempotency key. `start()` sends `StartRequest.request_id`, and
    the caller must reuse the same request_id when it retries the *same* attempt after a
    timeout: MoMo then answers the stored final result instead of creating a second order.
    A fresh request_id is needed for every other call (each query, each refund), since
    MoMo answers 40 "Duplicated requestId" to a reused id whose first answer was not final.

resultCode → Outcome (IPN, redirect and query)
    0                              SUCCEEDED
    1000, 7000, 7002, 8000, 9000   PENDING (initiated / processing / awaiting re-confirmation
                                   / authorized; 9000 only happens with autoCapture=false,
                                   which we never send, so it is not yet money)
    1006 (user declined)           CANCELLED: the citizen said no in the MoMo app
    1017 (cancelled by merchant)   CANCELLED: not a decline, the order was withdrawn
    42 (orderId not found)         UNKNOWN, query only
    anything else                  FAILED (1001 insufficient funds, 1002 issuer refused,
                                   1003 cancelled after authorization / timeout, 1004 limit,
                                   1005 link or QR expired, 1007, 1026, 4001, 4002, 4100, ...)
    A query answer whose code is about the *query* rather than the order (10-99 except 42:
    maintenance, access denied, bad format, duplicated requestId...) is not a statement about
    the payment, so it never becomes FAILED: 10, 43, 47, 98, 99 raise ProviderUnavailable
    (ask again later), the others ProviderRejected (our configuration or request is wrong).

Refund resultCode
    0 SUCCEEDED; 1000/7000/7002/8000/9000 PENDING; 40 (duplicated requestId: an earlier
    try with this id is still unresolved), 41 (duplicated orderId: a refund with this
    reference already exists) and 99 (unknown error) are PENDING too, because money may
    have moved and a FAILED would invite a second refund; every other code is FAILED.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from adapters._crypto import hmac_sha256_hex, same_hex
from adapters._http import post_json
from adapters._json import as_int, reject_duplicate_keys
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

logger = logging.getLogger(__name__)

CREATE_PATH = "/v2/gateway/api/create"
QUERY_PATH = "/v2/gateway/api/query"
REFUND_PATH = "/v2/gateway/api/refund"

CREATE_SIGNATURE_KEYS: tuple[str, ...] = (
    "accessKey", "amount", "extraData", "ipnUrl", "orderId", "orderInfo", "partnerCode",
    "redirectUrl", "requestId", "requestType",
)
IPN_SIGNATURE_KEYS: tuple[str, ...] = (
    "accessKey", "amount", "extraData", "message", "orderId", "orderInfo", "orderType",
    "partnerCode", "payType", "requestId", "responseTime", "resultCode", "transId",
)
QUERY_SIGNATURE_KEYS: tuple[str, ...] = ("accessKey", "orderId", "partnerCode", "requestId")
REFUND_SIGNATURE_KEYS: tuple[str, ...] = (
    "accessKey", "amount", "description", "orderId", "partnerCode", "requestId", "transId",
)

SUCCESS_CODE = 0
PENDING_CODES: frozenset[int] = frozenset({1000, 7000, 7002, 8000, 9000})
CANCELLED_CODES: frozenset[int] = frozenset({1006, 1017})
ORDER_NOT_FOUND_CODES: frozenset[int] = frozenset({42})
TRANSIENT_REQUEST_CODES: frozenset[int] = frozenset({10, 43, 47, 98, 99})
"""Codes that say MoMo could not answer now (maintenance, busy, unknown error)."""
REFUND_UNRESOLVED_CODES: frozenset[int] = frozenset({40, 41, 99})
"""Refund answers after which money may or may not have moved: never FAILED."""

ORDER_INFO_MAX = 255  # String(255) in MoMo's create table
MAX_CALLBACK_BYTES = 64 * 1024  # an IPN is ~600 bytes; refuse to parse megabytes
_ORDER_ID_RE = re.compile(r"[0-9a-zA-Z]([-_.]*[0-9a-zA-Z]+)*")  # MoMo's own orderId regex

_ACK_MESSAGES: dict[Ack, str] = {
    Ack.INVALID_SIGNATURE: "invalid signature",
    Ack.MALFORMED: "malformed notification",
    Ack.RETRY: "temporary error, please retry",
}


WALLET_MIN_AMOUNT = 1_000  # create table: captureWallet takes 1,000 to 50,000,000 đồng
WALLET_MAX_AMOUNT = 50_000_000
ATM_MIN_AMOUNT = 10_000  # payWithATM (domestic ATM card) takes at least 10,000 đồng
MIN_AMOUNT_BY_REQUEST_TYPE: Mapping[str, int] = {"payWithATM": ATM_MIN_AMOUNT}


@dataclass(frozen=True)
class MomoConfig:
    """One MoMo merchant account (M4B portal: partnerCode, accessKey, secretKey)."""

    partner_code: str
    access_key: str
    secret_key: str
    endpoint: str  # base URL, e.g. https://test-payment.momo.vn; paths are appended
    request_type: str = "captureWallet"  # | payWithATM | payWithCC | payWithMethod
    partner_name: str = "feegate"
    store_id: str = "feegate"
    timeout: float = 30.0  # MoMo asks for at least 30 s on create

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return (
            f"MomoConfig(partner_code={self.partner_code!r}, endpoint={self.endpoint!r}, "
            f"request_type={self.request_type!r})"
        )


# -- pure signing functions (checked against MoMo's own vectors) --------------------------


def _render(value: object) -> str:
    """A value as it appears in MoMo's raw signature string.

    Only text and integers exist in MoMo's signed fields. A float or a bool would be
    rendered differently by Java, PHP and Python, so it is refused rather than guessed.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"MoMo signs text and integers only, got {type(value).__name__}")


def _raw(keys: tuple[str, ...], access_key: str, fields: Mapping[str, object]) -> str:
    values = {**fields, "accessKey": access_key}
    return "&".join(f"{key}={_render(values[key])}" for key in keys)


def create_signature_raw(access_key: str, fields: Mapping[str, object]) -> str:
    """Raw string of a create request; `fields` is the request body (camelCase keys)."""
    return _raw(CREATE_SIGNATURE_KEYS, access_key, fields)


def ipn_signature_raw(access_key: str, fields: Mapping[str, object]) -> str:
    """Raw string of an IPN body or of the redirect's query parameters."""
    return _raw(IPN_SIGNATURE_KEYS, access_key, fields)


def query_signature_raw(access_key: str, fields: Mapping[str, object]) -> str:
    """Raw string of a query request: accessKey&orderId&partnerCode&requestId."""
    return _raw(QUERY_SIGNATURE_KEYS, access_key, fields)


def refund_signature_raw(access_key: str, fields: Mapping[str, object]) -> str:
    """Raw string of a refund request (orderId is the refund's own new id)."""
    return _raw(REFUND_SIGNATURE_KEYS, access_key, fields)


def response_signature_raw(access_key: str, fields: Mapping[str, object]) -> str:
    """Raw string we check a *signed* query answer against (an assumption, see below).

    MoMo's published sources do not give the layout of a query answer's signature (its
    samples show `"signature": null`). We follow MoMo's one convention: accessKey plus the
    answer's own IPN-style fields, alphabetically, taking only the fields present.
    """
    keys = tuple(k for k in IPN_SIGNATURE_KEYS if k == "accessKey" or k in fields)
    return _raw(keys, access_key, fields)


def sign(secret_key: str, raw: str) -> str:
    """Lowercase hex HMAC-SHA256 over the UTF-8 bytes of `raw`."""
    return hmac_sha256_hex(secret_key, raw)


def encode_extra_data(data: Mapping[str, str]) -> str:
    """extraData is "" or standard base64 (with padding) of a JSON object."""
    text = json.dumps(dict(data), separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def outcome_for(result_code: int) -> Outcome:
    """What an IPN or redirect resultCode says happened to the payment (see module doc)."""
    if result_code == SUCCESS_CODE:
        return Outcome.SUCCEEDED
    if result_code in PENDING_CODES:
        return Outcome.PENDING
    if result_code in CANCELLED_CODES:
        return Outcome.CANCELLED
    return Outcome.FAILED


def millis_to_datetime(millis: int) -> datetime:
    """MoMo's responseTime (Unix ms) as an aware UTC datetime, without float rounding."""
    seconds, rest = divmod(millis, 1000)
    return datetime.fromtimestamp(seconds, tz=UTC) + timedelta(milliseconds=rest)


# -- the adapter --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Notification:
    """A verified IPN / redirect, with its signed fields already typed."""

    order_id: str
    amount: int
    trans_id: int
    result_code: int
    message: str
    response_time: int


class MomoAdapter(Adapter):
    """MoMo gateway v2. Holds no state besides its config, so one instance serves all."""

    name: ClassVar[str] = "momo"
    supports_refund: ClassVar[bool] = True

    _REQUIRED: ClassVar[tuple[str, ...]] = (
        "partnerCode", "orderId", "requestId", "amount", "transId", "resultCode",
        "responseTime",
    )
    _TEXT_DEFAULTS: ClassVar[tuple[str, ...]] = (
        "orderInfo", "orderType", "message", "payType", "extraData",
    )

    min_amount = WALLET_MIN_AMOUNT
    max_amount = WALLET_MAX_AMOUNT

    def __init__(self, config: MomoConfig) -> None:
        self.config = config
        self.min_amount = MIN_AMOUNT_BY_REQUEST_TYPE.get(config.request_type, WALLET_MIN_AMOUNT)

    # -- create -------------------------------------------------------------------------

    def start(self, request: StartRequest) -> StartResult:
        """Create the order at MoMo and hand back its payUrl / deeplink / QR.

        orderId is our attempt reference, so the IPN names the attempt directly.
        requestId is the caller's request_id: reuse it to retry *this* attempt safely.
        """
        amount = request.amount
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError("amount must be a positive int of đồng")
        order_info = (request.description or f"Thanh toan {request.reference}")[:ORDER_INFO_MAX]
        body: dict[str, Any] = {
            "partnerCode": self.config.partner_code,
            "partnerName": self.config.partner_name,
            "storeId": self.config.store_id,
            "requestType": self.config.request_type,
            "ipnUrl": request.notify_url,
            "redirectUrl": request.return_url,
            "orderId": request.reference,
            "amount": amount,
            "lang": _lang(request.locale),
            "orderInfo": order_info,
            "requestId": request.request_id,
            "extraData": encode_extra_data({"payment_id": request.payment_id}),
        }
        body["signature"] = sign(
            self.config.secret_key, create_signature_raw(self.config.access_key, body)
        )
        answer = self._post(CREATE_PATH, body)
        code = self._result_code(answer, CREATE_PATH)
        if code != SUCCESS_CODE:
            raise ProviderRejected(str(code), _text(answer.get("message")))
        self._expect_echo(answer, "orderId", request.reference, CREATE_PATH)
        self._expect_echo(answer, "requestId", request.request_id, CREATE_PATH, optional=True)
        self._expect_amount(answer, amount, CREATE_PATH)
        pay_url = answer.get("payUrl")
        if not isinstance(pay_url, str) or not pay_url:
            raise ProviderUnavailable("MoMo create answered resultCode 0 without a payUrl")
        return StartResult(
            provider_reference=request.reference,
            redirect_url=pay_url,
            deeplink=_optional_text(answer.get("deeplink")),
            qr_code_url=_optional_text(answer.get("qrCodeUrl")),
            extra={"requestId": request.request_id},
        )

    # -- IPN and browser redirect -------------------------------------------------------

    def parse_callback(self, request: InboundRequest) -> ProviderResult:
        """Verify and parse an IPN: `POST ipnUrl`, JSON body, signed in IPN key order."""
        if request.method.upper() != "POST":
            raise MalformedMessage("MoMo IPN must be a POST")
        if len(request.body) > MAX_CALLBACK_BYTES:
            raise MalformedMessage("IPN body too large")
        try:
            data = json.loads(
                request.body.decode("utf-8-sig"), object_pairs_hook=reject_duplicate_keys
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedMessage(f"IPN body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise MalformedMessage("IPN body is not a JSON object")
        return self._verified_result(data)

    def parse_return(self, request: InboundRequest) -> ProviderResult:
        """The redirect carries the IPN's fields and signature as query parameters.

        Display only: the payment is decided by the IPN or a query.
        """
        return self._verified_result(dict(request.query))

    def return_reference(self, request: InboundRequest) -> str | None:
        order_id = request.query.get("orderId")
        return order_id or None

    def callback_reference(self, request: InboundRequest) -> str | None:
        """The IPN body's `orderId`, unverified (it only finds the attempt's account)."""
        if len(request.body) > MAX_CALLBACK_BYTES:
            return None
        try:
            data = json.loads(request.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            return None
        order_id = data.get("orderId") if isinstance(data, dict) else None
        return order_id if isinstance(order_id, str) and order_id else None

    def _verified_result(self, fields: Mapping[str, object]) -> ProviderResult:
        note = self._verify_notification(fields)
        outcome = outcome_for(note.result_code)
        return ProviderResult(
            provider_reference=note.order_id,
            outcome=outcome,
            amount=note.amount,
            result_code=str(note.result_code),
            message=note.message,
            provider_txn_id=str(note.trans_id),
            # responseTime is when MoMo settled the result; only a success has a paid time
            paid_at=millis_to_datetime(note.response_time)
            if outcome is Outcome.SUCCEEDED
            else None,
        )

    def _verify_notification(self, fields: Mapping[str, object]) -> _Notification:
        """Check shape, then signature (constant time), then that it is our account.

        Missing descriptive text (orderInfo, payType, ...) is signed as "", which cannot
        help a forger: the signature still has to match. Fields we act on must have
        MoMo's format, so no field can smuggle a `&key=` into the raw string.
        """
        missing = [key for key in self._REQUIRED if key not in fields]
        if missing:
            raise MalformedMessage("IPN lacks " + ", ".join(missing))
        signature = fields.get("signature")
        if not isinstance(signature, str) or not signature:
            raise InvalidSignature("IPN has no signature")
        signed: dict[str, object] = {key: fields[key] for key in self._REQUIRED}
        for key in self._TEXT_DEFAULTS:
            signed[key] = fields.get(key, "")
        for key, value in signed.items():
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise MalformedMessage(f"IPN field {key} must be text or an integer")
        order_id = signed["orderId"]
        partner_code = signed["partnerCode"]
        if not isinstance(order_id, str) or not _ORDER_ID_RE.fullmatch(order_id):
            raise MalformedMessage("IPN orderId is not a MoMo orderId")
        if not isinstance(partner_code, str):
            raise MalformedMessage("IPN partnerCode must be text")
        try:
            amount = as_int(signed["amount"])
            trans_id = as_int(signed["transId"])
            result_code = as_int(signed["resultCode"])
            response_time = as_int(signed["responseTime"])
        except ValueError as exc:
            raise MalformedMessage(f"IPN number field: {exc}") from None
        if amount < 0 or trans_id < 0 or response_time < 0:
            raise MalformedMessage("IPN amount, transId and responseTime are never negative")

        expected = sign(self.config.secret_key, ipn_signature_raw(self.config.access_key, signed))
        if not same_hex(expected, signature):
            raise InvalidSignature("MoMo signature does not verify")
        if partner_code != self.config.partner_code:
            # Signed with our key but for another partner code: not ours to record.
            raise InvalidSignature("IPN is for another MoMo partnerCode")
        return _Notification(
            order_id=order_id,
            amount=amount,
            trans_id=trans_id,
            result_code=result_code,
            message=_text(signed["message"]),
            response_time=response_time,
        )

    def acknowledge(self, ack: Ack) -> AckResponse:
        """MoMo wants 204 No Content for every authentic IPN, whatever we did with it.

        Unknown order or amount mismatch are our problems to flag, not MoMo's to retry.
        A bad signature or a malformed body gets 400; a fault of ours 500 so MoMo sends
        the IPN again.
        """
        if ack in (Ack.RECORDED, Ack.ALREADY_CONFIRMED, Ack.UNKNOWN_ORDER, Ack.AMOUNT_MISMATCH):
            return AckResponse(status=204)
        status = 500 if ack is Ack.RETRY else 400
        body = json.dumps({"message": _ACK_MESSAGES[ack]}).encode("utf-8")
        return AckResponse(status=status, body=body, content_type="application/json")

    # -- query --------------------------------------------------------------------------

    def query(self, request: QueryRequest) -> ProviderResult:
        """Ask MoMo for an order's status.

        Trusted because it is MoMo's TLS answer to our request, and checked: the answer
        must name our orderId, and if it carries a non-empty signature that signature
        must verify (`response_signature_raw`); otherwise ProviderUnavailable, so nothing
        is decided on an answer we cannot vouch for.
        """
        order_id = request.provider_reference
        body: dict[str, Any] = {
            "partnerCode": self.config.partner_code,
            "requestId": request.request_id,
            "orderId": order_id,
            "lang": "vi",
        }
        body["signature"] = sign(
            self.config.secret_key, query_signature_raw(self.config.access_key, body)
        )
        answer = self._post(QUERY_PATH, body)
        code = self._result_code(answer, QUERY_PATH)
        message = _text(answer.get("message"))
        if code not in ORDER_NOT_FOUND_CODES and (code < 0 or 0 < code < 1000):
            # A code about our request, not about the order: never a payment result.
            if code in TRANSIENT_REQUEST_CODES or code < 0:
                raise ProviderUnavailable(f"MoMo query answered {code}: {message}")
            raise ProviderRejected(str(code), message)
        self._expect_echo(answer, "orderId", order_id, QUERY_PATH)
        self._check_answer_signature(answer)
        if code in ORDER_NOT_FOUND_CODES:
            return ProviderResult(order_id, Outcome.UNKNOWN, None, str(code), message)
        outcome = outcome_for(code)
        try:
            amount = as_int(answer["amount"]) if "amount" in answer else None
            trans_id = as_int(answer.get("transId", 0))
            last_updated = as_int(answer["lastUpdated"]) if "lastUpdated" in answer else None
        except ValueError as exc:
            raise ProviderUnavailable(f"MoMo query answer unreadable: {exc}") from None
        return ProviderResult(
            provider_reference=order_id,
            outcome=outcome,
            amount=amount,
            result_code=str(code),
            message=message,
            provider_txn_id=str(trans_id) if trans_id else None,  # 0 until paid
            # responseTime is when MoMo answered the *query*; lastUpdated is the order's
            paid_at=millis_to_datetime(last_updated)
            if outcome is Outcome.SUCCEEDED and last_updated
            else None,
        )

    def _check_answer_signature(self, answer: Mapping[str, Any]) -> None:
        signature = answer.get("signature")
        if signature is None or signature == "":
            return  # MoMo's samples answer "signature": null
        if not isinstance(signature, str):
            raise ProviderUnavailable("MoMo answer signature is not text")
        try:
            raw = response_signature_raw(self.config.access_key, answer)
        except TypeError as exc:
            raise ProviderUnavailable(f"MoMo answer unreadable: {exc}") from None
        if not same_hex(sign(self.config.secret_key, raw), signature):
            logger.warning("MoMo query answer signature does not verify")
            raise ProviderUnavailable("MoMo query answer signature does not verify")

    # -- refund -------------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> RefundResult:
        """Refund (part of) a paid order. orderId is the refund's own new reference;
        transId is MoMo's id of the payment being refunded."""
        txn = request.provider_txn_id or ""
        if not txn.isascii() or not txn.isdigit() or int(txn) <= 0:
            raise ValueError("a MoMo refund needs the payment's numeric transId")
        amount = request.amount
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError("refund amount must be a positive int of đồng")
        body: dict[str, Any] = {
            "partnerCode": self.config.partner_code,
            "orderId": request.refund_reference,
            "requestId": request.request_id,
            "amount": amount,
            "transId": int(txn),
            "lang": "vi",
            "description": request.reason,
        }
        body["signature"] = sign(
            self.config.secret_key, refund_signature_raw(self.config.access_key, body)
        )
        answer = self._post(REFUND_PATH, body)
        code = self._result_code(answer, REFUND_PATH)
        message = _text(answer.get("message"))
        if code == SUCCESS_CODE:
            self._expect_echo(answer, "orderId", request.refund_reference, REFUND_PATH)
            self._expect_amount(answer, amount, REFUND_PATH, optional=True)
            try:
                refund_id: str | None = str(as_int(answer.get("transId")))
            except ValueError:
                refund_id = None  # the refund happened; its MoMo id is only a convenience
            return RefundResult(
                outcome=RefundOutcome.SUCCEEDED,
                result_code="0",
                message=message,
                provider_refund_id=refund_id,
            )
        if code in PENDING_CODES or code in REFUND_UNRESOLVED_CODES:
            return RefundResult(RefundOutcome.PENDING, str(code), message)
        return RefundResult(RefundOutcome.FAILED, str(code), message)

    # -- statements ---------------------------------------------------------------------

    def parse_statement_line(self, row: Mapping[str, Any]) -> StatementLine:
        """Map one row of a MoMo statement export.

        Assumed columns (MoMo's statement format is not in our sources): `orderId` (our
        attempt reference), `transId`, `amount` (int đồng) and `responseTime` (Unix ms,
        optional). Rows are payments; refunds are reconciled from the refund results.
        """
        order_id = row.get("orderId")
        if not isinstance(order_id, str) or not order_id.strip():
            raise MalformedMessage("statement row has no orderId")
        try:
            amount = as_int(_strip(row.get("amount")))
            trans = row.get("transId")
            trans_id = str(as_int(_strip(trans))) if trans not in (None, "") else None
            when = row.get("responseTime")
            occurred_at = (
                millis_to_datetime(as_int(_strip(when))) if when not in (None, "") else None
            )
        except ValueError as exc:
            raise MalformedMessage(f"statement row {order_id}: {exc}") from None
        if amount <= 0:
            raise MalformedMessage(f"statement row {order_id}: amount must be positive")
        return StatementLine(
            provider_reference=order_id.strip(),
            amount=amount,
            provider_txn_id=trans_id,
            occurred_at=occurred_at,
        )

    # -- helpers ------------------------------------------------------------------------

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Connect fast (nothing was sent yet), then wait as long as MoMo asks."""
        url = self.config.endpoint.rstrip("/") + path
        return post_json(url, body, timeout=(5.0, self.config.timeout))

    @staticmethod
    def _result_code(answer: Mapping[str, Any], path: str) -> int:
        try:
            return as_int(answer.get("resultCode"))
        except ValueError:
            raise ProviderUnavailable(f"MoMo {path} answered without a resultCode") from None

    @staticmethod
    def _expect_echo(
        answer: Mapping[str, Any], key: str, sent: str, path: str, *, optional: bool = False
    ) -> None:
        """An answer about another order than the one we asked about is unreadable."""
        if optional and key not in answer:
            return
        if answer.get(key) != sent:
            raise ProviderUnavailable(f"MoMo {path} answered for another {key}")

    @staticmethod
    def _expect_amount(
        answer: Mapping[str, Any], sent: int, path: str, *, optional: bool = False
    ) -> None:
        if optional and "amount" not in answer:
            return
        try:
            echoed = as_int(answer.get("amount"))
        except ValueError:
            raise ProviderUnavailable(f"MoMo {path} answered without a readable amount") from None
        if echoed != sent:
            raise ProviderUnavailable(f"MoMo {path} answered amount {echoed}, we sent {sent}")


def _lang(locale: str) -> str:
    return locale if locale in ("vi", "en") else "vi"


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value
