"""VNPay payment gateway API v2.1.0: pay URL, IPN/return, querydr, refund.

Protocol reference: shared/providers/README.md §1 (VNPAY) and §6 (traps). The pure
functions at module level (`php_urlencode`, `hash_data`, `sign_params`, `build_pay_url`,
`querydr_checksum_data`, `refund_checksum_data`, `querydr_response_checksum_data`,
`refund_response_checksum_data`) are exactly what VNPay's own sample code does; the
tests pin them to the byte-for-byte vectors produced by running that code.

Why some things are the way they are:

* The pay-URL/IPN checksum is computed over a *PHP `urlencode`* of the values, so the
  encoding function is part of the signature. Python's `quote_plus` differs from PHP on
  one character (`~`), which `php_urlencode` fixes. Verification re-encodes the decoded
  values, so the received wire encoding does not matter.
* VNPay and its demos disagree on `~ * ! ' ( )`, so `vnp_OrderInfo` is folded to plain
  ASCII in `[A-Za-z0-9 :._-]`, where every encoder agrees.
* Every VNPay date is `yyyyMMddHHmmss` in GMT+7 whatever the server's zone; the adapter
  only formats aware datetimes through `to_vietnam_time`, never the process clock/zone.
* Money is int đồng; VNPay's `vnp_Amount` is đồng × 100 and is checked to be a whole
  number of đồng before it is divided.
* A querydr/refund answer whose checksum is missing or wrong is never trusted: it is
  reported as `ProviderUnavailable`, so the caller asks again later and never fails a
  payment (or a refund) on the word of an unverified message.

Nothing here moves money: the adapter only describes what VNPay said.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from adapters._crypto import hmac_sha512_hex, same_hex
from adapters._http import post_json
from adapters.base import (
    VIETNAM_TZ,
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
    to_vietnam_time,
)
from adapters.errors import InvalidSignature, MalformedMessage, ProviderUnavailable

logger = logging.getLogger(__name__)

VERSION = "2.1.0"
CURRENCY = "VND"
ORDER_TYPE = "other"
DATE_FORMAT = "%Y%m%d%H%M%S"
HASH_FIELDS_EXCLUDED = frozenset({"vnp_SecureHash", "vnp_SecureHashType"})
ORDER_INFO_MAX = 255
MAX_AMOUNT_DONG = 9_999_999_999  # vnp_Amount is Numeric[1,12] after ×100
MIN_AMOUNT_DONG = 1  # vnp_Amount ≥ 100: the field allows any whole đồng above 0

_AMOUNT_RE = re.compile(r"[0-9]{1,15}")
_DATE_RE = re.compile(r"[0-9]{14}")
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9]{1,32}")
_ORDER_INFO_DROP_RE = re.compile(r"[^A-Za-z0-9 :._-]+")
_SPACES_RE = re.compile(r" {2,}")

# --- code tables (README §1.5), Vietnamese as the citizen and the staff read them -----

RESPONSE_MESSAGES: Mapping[str, str] = {
    "00": "Giao dịch thành công",
    "01": "Giao dịch đã tồn tại",
    "02": "Merchant không hợp lệ (kiểm tra lại vnp_TmnCode)",
    "03": "Dữ liệu gửi sang không đúng định dạng",
    "04": "Khởi tạo giao dịch không thành công do website đang bị tạm khoá",
    "05": "Giao dịch không thành công: nhập sai mật khẩu thanh toán quá số lần quy định",
    "06": "Giao dịch không thành công: nhập sai mật khẩu xác thực giao dịch (OTP)",
    "07": "Trừ tiền thành công nhưng giao dịch bị nghi ngờ (lừa đảo, bất thường); "
    "merchant cần xác nhận trên merchant admin",
    "08": "Giao dịch không thành công: hệ thống ngân hàng đang bảo trì",
    "09": "Giao dịch không thành công: thẻ/tài khoản chưa đăng ký dịch vụ Internet Banking",
    "10": "Giao dịch không thành công: xác thực thông tin thẻ/tài khoản sai quá 3 lần",
    "11": "Giao dịch không thành công: đã hết hạn chờ thanh toán",
    "12": "Giao dịch không thành công: thẻ/tài khoản bị khoá",
    "24": "Giao dịch không thành công: khách hàng huỷ giao dịch",
    "51": "Giao dịch không thành công: tài khoản không đủ số dư",
    "65": "Giao dịch không thành công: tài khoản đã vượt quá hạn mức giao dịch trong ngày",
    "75": "Ngân hàng thanh toán đang bảo trì",
}
"""`vnp_ResponseCode` of the return URL and IPN."""

TRANSACTION_STATUS_MESSAGES: Mapping[str, str] = {
    "00": "Giao dịch thanh toán thành công",
    "01": "Giao dịch chưa hoàn tất",
    "02": "Giao dịch bị lỗi",
    "04": "Giao dịch đảo (khách đã bị trừ tiền tại ngân hàng nhưng GD chưa thành công ở VNPAY)",
    "05": "VNPAY đang xử lý giao dịch này (GD hoàn tiền)",
    "06": "VNPAY đã gửi yêu cầu hoàn tiền sang ngân hàng (GD hoàn tiền)",
    "07": "Giao dịch bị nghi ngờ gian lận",
    "09": "Giao dịch hoàn trả bị từ chối",
}
"""`vnp_TransactionStatus`, in the IPN and in querydr answers."""

QUERYDR_MESSAGES: Mapping[str, str] = {
    "00": "Yêu cầu thành công",
    "02": "Mã định danh kết nối không hợp lệ (kiểm tra lại TmnCode)",
    "03": "Dữ liệu gửi sang không đúng định dạng",
    "91": "Không tìm thấy giao dịch yêu cầu",
    "94": "Yêu cầu trùng lặp trong thời gian giới hạn của API",
    "97": "Checksum không hợp lệ",
    "99": "Các lỗi khác",
}

REFUND_MESSAGES: Mapping[str, str] = {
    "00": "Yêu cầu thành công",
    "02": "Mã định danh kết nối không hợp lệ (kiểm tra lại TmnCode)",
    "03": "Dữ liệu gửi sang không đúng định dạng",
    "91": "Không tìm thấy giao dịch yêu cầu hoàn trả",
    "94": "Giao dịch đã được gửi yêu cầu hoàn tiền trước đó; VNPAY đang xử lý",
    "95": "Giao dịch này không thành công bên VNPAY; VNPAY từ chối xử lý yêu cầu",
    "97": "Checksum không hợp lệ",
    "99": "Các lỗi khác",
}

ACK_ANSWERS: Mapping[Ack, tuple[str, str]] = {
    Ack.RECORDED: ("00", "Confirm Success"),
    Ack.ALREADY_CONFIRMED: ("02", "Order already confirmed"),
    Ack.UNKNOWN_ORDER: ("01", "Order not found"),
    Ack.AMOUNT_MISMATCH: ("04", "invalid amount"),
    Ack.INVALID_SIGNATURE: ("97", "Invalid signature"),
    # A message we could not parse although its checksum verified (or that lacks a field
    # we need) is VNPay's "other error", not a checksum failure; a message without any
    # vnp_SecureHash is refused as INVALID_SIGNATURE by parse_callback and answered 97.
    Ack.MALFORMED: ("99", "Unknow error"),
    Ack.RETRY: ("99", "Unknow error"),
}
"""IPN answers exactly as VNPay's PHP demo words them (incl. its "Unknow" typo)."""

REFUND_OUTCOMES: Mapping[str, RefundOutcome] = {
    "00": RefundOutcome.SUCCEEDED,
    "94": RefundOutcome.PENDING,
    "91": RefundOutcome.FAILED,
    "95": RefundOutcome.FAILED,
    "02": RefundOutcome.FAILED,
    "03": RefundOutcome.FAILED,
    "97": RefundOutcome.FAILED,
}
"""Refund answer codes with a final meaning; anything else (99, unknown) is retried."""

SUSPECTED_FRAUD = "07"
"""`vnp_ResponseCode` 07 / `vnp_TransactionStatus` 07: the money *was debited*, but VNPay holds
the transaction as suspected fraud until the merchant approves or denies it in VNPay's
merchant admin. Money taken is never reported as failed: the attempt stays PENDING (open,
visible to staff, queried again by the status sync) until VNPay's status becomes final."""

QUERYDR_STATUS_OUTCOMES: Mapping[str, Outcome] = {
    "00": Outcome.SUCCEEDED,
    "01": Outcome.PENDING,
    SUSPECTED_FRAUD: Outcome.PENDING,
}
"""querydr `vnp_TransactionStatus` when `vnp_ResponseCode` is 00; any other status is FAILED."""


@dataclass(frozen=True)
class VnpayConfig:
    """One VNPay merchant terminal. `pay_url`/`api_url` are full URLs (sandbox or simulator)."""

    tmn_code: str
    hash_secret: str
    pay_url: str
    api_url: str
    timeout: float = 30.0

    def __repr__(self) -> str:  # never print the secret in logs or tracebacks
        return (
            f"VnpayConfig(tmn_code={self.tmn_code!r}, hash_secret='***', "
            f"pay_url={self.pay_url!r}, api_url={self.api_url!r}, timeout={self.timeout!r})"
        )


# --- pure protocol functions ------------------------------------------------------------


def php_urlencode(value: str) -> str:
    """PHP `urlencode`: space → `+`, every byte but `A-Za-z0-9-_.` → `%XX` (UTF-8, upper hex).

    Python's `quote_plus(safe='')` is identical except that it leaves `~` alone.
    """
    return urllib.parse.quote_plus(value, safe="", encoding="utf-8").replace("~", "%7E")


def hash_data(params: Mapping[str, str]) -> str:
    """The string VNPay signs for the pay URL, the return URL and the IPN.

    Keeps `vnp_*` params with non-empty values, drops `vnp_SecureHash` and
    `vnp_SecureHashType`, sorts by key (byte order, like PHP `ksort`) and joins
    `urlencode(key)=urlencode(value)` with `&`. It is also the pay URL's query string.
    """
    kept = {
        key: value
        for key, value in params.items()
        if key.startswith("vnp_") and key not in HASH_FIELDS_EXCLUDED and value != ""
    }
    return "&".join(
        f"{php_urlencode(key)}={php_urlencode(kept[key])}"
        for key in sorted(kept, key=lambda k: k.encode("utf-8"))
    )


def sign_params(params: Mapping[str, str], secret: str) -> str:
    """`vnp_SecureHash`: lowercase hex HMAC-SHA512 of `hash_data(params)`."""
    return hmac_sha512_hex(secret, hash_data(params))


def verify_params(params: Mapping[str, str], secret: str) -> bool:
    """Whether decoded return/IPN params carry a valid `vnp_SecureHash` (constant time)."""
    return same_hex(sign_params(params, secret), params.get("vnp_SecureHash"))


def build_pay_url(pay_url: str, params: Mapping[str, str], secret: str) -> str:
    """`pay_url?<hash_data>&vnp_SecureHash=<hash>`, exactly as VNPay's demos build it."""
    data = hash_data(params)
    separator = "&" if "?" in pay_url else "?"
    return f"{pay_url}{separator}{data}&vnp_SecureHash={hmac_sha512_hex(secret, data)}"


def format_vnpay_date(moment: datetime) -> str:
    """`yyyyMMddHHmmss` in GMT+7 for an aware datetime, whatever the process TZ is."""
    return to_vietnam_time(moment).strftime(DATE_FORMAT)


def parse_vnpay_date(value: str) -> datetime:
    """The aware datetime of a VNPay `yyyyMMddHHmmss` (GMT+7) value; ValueError if bad."""
    if not _DATE_RE.fullmatch(value):
        raise ValueError(f"not a VNPay date: {value!r}")
    return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=VIETNAM_TZ)


def fold_order_info(text: str) -> str:
    """Vietnamese text → ASCII VNPay accepts and every encoder agrees on.

    Strips diacritics (đ/Đ → d/D), turns every other character outside
    `[A-Za-z0-9 :._-]` into a space, collapses spaces, trims, at most 255 characters.
    """
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    ascii_only = _ORDER_INFO_DROP_RE.sub(" ", stripped)
    collapsed = _SPACES_RE.sub(" ", ascii_only).strip()
    return collapsed[:ORDER_INFO_MAX].rstrip()


def vnpay_amount(dong: int) -> str:
    """đồng → `vnp_Amount` (× 100) as VNPay wants it; refuses what VNPay cannot carry."""
    if isinstance(dong, bool) or not isinstance(dong, int):
        raise TypeError("amount must be an int number of đồng")
    if not 0 < dong <= MAX_AMOUNT_DONG:
        raise ValueError(f"amount out of range for VNPay: {dong}")
    return str(dong * 100)


def dong_from_vnpay_amount(value: object) -> int:
    """`vnp_Amount` (× 100, str or int) → đồng; ValueError unless a whole number of đồng."""
    if isinstance(value, bool):
        raise ValueError("vnp_Amount is a boolean")
    text = str(value) if isinstance(value, int) else value
    if not isinstance(text, str) or not _AMOUNT_RE.fullmatch(text):
        raise ValueError(f"vnp_Amount is not a number: {value!r}")
    hundredths = int(text)
    if hundredths % 100:
        raise ValueError(f"vnp_Amount is not a whole number of đồng: {value!r}")
    return hundredths // 100


def querydr_checksum_data(
    *,
    request_id: str,
    tmn_code: str,
    txn_ref: str,
    transaction_date: str,
    create_date: str,
    ip_addr: str,
    order_info: str,
    version: str = VERSION,
    command: str = "querydr",
) -> str:
    """`RequestId|Version|Command|TmnCode|TxnRef|TransactionDate|CreateDate|IpAddr|OrderInfo`."""
    return "|".join(
        [request_id, version, command, tmn_code, txn_ref, transaction_date, create_date]
        + [ip_addr, order_info]
    )


def refund_checksum_data(
    *,
    request_id: str,
    tmn_code: str,
    transaction_type: str,
    txn_ref: str,
    amount: str,
    transaction_no: str,
    transaction_date: str,
    create_by: str,
    create_date: str,
    ip_addr: str,
    order_info: str,
    version: str = VERSION,
    command: str = "refund",
) -> str:
    """`RequestId|Version|Command|TmnCode|TransactionType|TxnRef|Amount|TransactionNo|
    TransactionDate|CreateBy|CreateDate|IpAddr|OrderInfo` (amount already × 100)."""
    return "|".join(
        [request_id, version, command, tmn_code, transaction_type, txn_ref, amount]
        + [transaction_no, transaction_date, create_by, create_date, ip_addr, order_info]
    )


_RESPONSE_FIELDS_REFUND = (
    "vnp_ResponseId",
    "vnp_Command",
    "vnp_ResponseCode",
    "vnp_Message",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_Amount",
    "vnp_BankCode",
    "vnp_PayDate",
    "vnp_TransactionNo",
    "vnp_TransactionType",
    "vnp_TransactionStatus",
    "vnp_OrderInfo",
)
_RESPONSE_FIELDS_QUERYDR = (*_RESPONSE_FIELDS_REFUND, "vnp_PromotionCode", "vnp_PromotionAmount")


def _response_text(value: object) -> str:
    """A response field as VNPay signs it: absent/null → "", numbers as their digits."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"unexpected value type in VNPay answer: {type(value).__name__}")
    return str(value)


def _code(value: object) -> str:
    """A VNPay code from a JSON answer. Codes are strings ("00"), but npm `vnpay` also
    accepts the number 0, so a number is read as its two digits; any other type is ""
    (an unknown code, never a success)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 100:
        return f"{value:02d}"
    return value if isinstance(value, str) else ""


def _response_checksum_data(
    response: Mapping[str, Any], fields: Iterable[str], tmn_code: str
) -> str:
    values = {name: _response_text(response.get(name)) for name in fields}
    values["vnp_TmnCode"] = tmn_code  # we check below that the answer is for our terminal
    return "|".join(values.values())


def querydr_response_checksum_data(response: Mapping[str, Any], tmn_code: str) -> str:
    """`ResponseId|Command|ResponseCode|Message|TmnCode|TxnRef|Amount|BankCode|PayDate|
    TransactionNo|TransactionType|TransactionStatus|OrderInfo|PromotionCode|PromotionAmount`.

    `TmnCode` is our own terminal code (as npm `vnpay` does), so an answer signed for
    another terminal does not verify. Absent values are empty strings.
    """
    return _response_checksum_data(response, _RESPONSE_FIELDS_QUERYDR, tmn_code)


def refund_response_checksum_data(response: Mapping[str, Any], tmn_code: str) -> str:
    """The querydr answer's checksum data without the two Promotion fields."""
    return _response_checksum_data(response, _RESPONSE_FIELDS_REFUND, tmn_code)


def vnpay_request_id(raw: str) -> str:
    """`vnp_RequestId` is Alphanumeric[1,32]: pass a fitting id through unchanged, map any
    other deterministically (so a retry of the same request reuses the same id)."""
    if _REQUEST_ID_RE.fullmatch(raw):
        return raw
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def response_message(code: str) -> str:
    """Readable text of a `vnp_ResponseCode` of the return/IPN."""
    return RESPONSE_MESSAGES.get(code, f"Giao dịch không thành công (mã lỗi {code})")


def outcome_of(response_code: str, transaction_status: str | None) -> Outcome:
    """IPN/return outcome: success for 00/00, 24 is a cancel, everything else failed, except
    suspected fraud (07).

    07 means the money was debited and the merchant must approve or deny: it is PENDING
    (never FAILED), unless `transaction_status` is 00, VNPay's word that the transaction
    succeeded (the same status querydr would answer, which reads as SUCCEEDED there too).
    Unknown codes are failures and never success; `response_code` 00 without a
    `transaction_status` is refused by the caller (it cannot be decided).
    """
    if transaction_status == "00" and response_code in ("00", SUSPECTED_FRAUD):
        return Outcome.SUCCEEDED
    if SUSPECTED_FRAUD in (response_code, transaction_status):
        return Outcome.PENDING
    if response_code == "24":
        return Outcome.CANCELLED
    return Outcome.FAILED


# --- the adapter ------------------------------------------------------------------------


class VnpayAdapter(Adapter):
    """VNPay through the pay URL (redirect), the IPN (GET), querydr and refund (JSON POST)."""

    name: ClassVar[str] = "vnpay"
    supports_refund: ClassVar[bool] = True
    min_amount = MIN_AMOUNT_DONG
    max_amount = MAX_AMOUNT_DONG

    def __init__(self, config: VnpayConfig) -> None:
        self.config = config

    # start ---------------------------------------------------------------------------

    def pay_params(self, request: StartRequest) -> dict[str, str]:
        """The signed params of the pay URL (without `vnp_SecureHash`); no vnp_BankCode, so
        the citizen chooses the bank on VNPay's page; never `vnp_SecureHashType` (2.1.0)."""
        order_info = fold_order_info(request.description) or f"Thanh toan {request.reference}"
        return {
            "vnp_Version": VERSION,
            "vnp_Command": "pay",
            "vnp_TmnCode": self.config.tmn_code,
            "vnp_Amount": vnpay_amount(request.amount),
            "vnp_CreateDate": format_vnpay_date(request.now),
            "vnp_CurrCode": CURRENCY,
            "vnp_IpAddr": request.client_ip,
            "vnp_Locale": "en" if request.locale == "en" else "vn",
            "vnp_OrderInfo": order_info,
            "vnp_OrderType": ORDER_TYPE,
            "vnp_ReturnUrl": request.return_url,
            "vnp_TxnRef": request.reference,
            "vnp_ExpireDate": format_vnpay_date(request.expires_at),
        }

    def start(self, request: StartRequest) -> StartResult:
        """Build the signed pay URL; no network call. The CreateDate is kept for querydr."""
        params = self.pay_params(request)
        url = build_pay_url(self.config.pay_url, params, self.config.hash_secret)
        logger.info("vnpay start %s amount=%s", request.reference, request.amount)
        return StartResult(
            provider_reference=request.reference,
            redirect_url=url,
            extra={"vnp_CreateDate": params["vnp_CreateDate"]},
        )

    # IPN and return ----------------------------------------------------------------------

    def parse_callback(self, request: InboundRequest) -> ProviderResult:
        """Verify and read an IPN (GET, decoded values in `request.query`).

        The checksum is checked before anything else is read; a message without
        `vnp_SecureHash` is an InvalidSignature (answered 97), a verified one missing a
        field we need is a MalformedMessage (answered 99).
        """
        return self._verified_result(request.query)

    def parse_return(self, request: InboundRequest) -> ProviderResult:
        """The browser return carries the same signed params as the IPN; display only."""
        return self._verified_result(request.query)

    def return_reference(self, request: InboundRequest) -> str | None:
        """The `vnp_TxnRef` the browser return claims, unverified (to find the attempt)."""
        return request.query.get("vnp_TxnRef") or None

    def _verified_result(self, params: Mapping[str, str]) -> ProviderResult:
        if not params.get("vnp_SecureHash"):
            raise InvalidSignature("vnpay: no vnp_SecureHash")
        if not verify_params(params, self.config.hash_secret):
            logger.warning("vnpay bad checksum for %s", params.get("vnp_TxnRef", "?"))
            raise InvalidSignature("vnpay: vnp_SecureHash does not verify")

        missing = [
            key
            for key in ("vnp_TxnRef", "vnp_Amount", "vnp_ResponseCode", "vnp_TmnCode")
            if not params.get(key)
        ]
        if missing:
            raise MalformedMessage(f"vnpay: missing {', '.join(missing)}")
        if params["vnp_TmnCode"] != self.config.tmn_code:
            raise MalformedMessage(f"vnpay: message for terminal {params['vnp_TmnCode']!r}")
        try:
            amount = dong_from_vnpay_amount(params["vnp_Amount"])
        except ValueError as exc:
            raise MalformedMessage(f"vnpay: {exc}") from exc

        code = params["vnp_ResponseCode"]
        status = params.get("vnp_TransactionStatus") or None
        if code == "00" and status is None:
            # "00" alone cannot tell paid from not: refuse rather than guess either way.
            raise MalformedMessage("vnpay: vnp_ResponseCode 00 without vnp_TransactionStatus")
        outcome = outcome_of(code, status)

        paid_at: datetime | None = None
        if outcome is Outcome.SUCCEEDED and params.get("vnp_PayDate"):
            try:
                paid_at = parse_vnpay_date(params["vnp_PayDate"])
            except ValueError:
                logger.warning("vnpay %s: unreadable vnp_PayDate", params["vnp_TxnRef"])
        transaction_no = params.get("vnp_TransactionNo", "")
        return ProviderResult(
            provider_reference=params["vnp_TxnRef"],
            outcome=outcome,
            amount=amount,
            result_code=code,
            message=response_message(code),
            provider_txn_id=transaction_no if transaction_no not in ("", "0") else None,
            paid_at=paid_at,
        )

    def acknowledge(self, ack: Ack) -> AckResponse:
        """VNPay's IPN answer: HTTP 200 and `{"RspCode", "Message"}` (00 for a recorded failed
        payment too: it acknowledges the message, not the payment). No BOM."""
        code, message = ACK_ANSWERS[ack]
        body = json.dumps({"RspCode": code, "Message": message}).encode("utf-8")
        return AckResponse(status=200, body=body, content_type="application/json")

    # querydr -----------------------------------------------------------------------------

    def querydr_body(self, request: QueryRequest) -> dict[str, str]:
        """The signed querydr JSON body (same field order as VNPay's PHP demo)."""
        transaction_date = request.extra.get("vnp_CreateDate", "")
        if not _DATE_RE.fullmatch(transaction_date):
            transaction_date = format_vnpay_date(request.created_at)
        order_info = (
            fold_order_info(request.description) or f"Truy van GD {request.provider_reference}"
        )
        body = {
            "vnp_RequestId": vnpay_request_id(request.request_id),
            "vnp_Version": VERSION,
            "vnp_Command": "querydr",
            "vnp_TmnCode": self.config.tmn_code,
            "vnp_TxnRef": request.provider_reference,
            "vnp_OrderInfo": order_info,
            "vnp_TransactionDate": transaction_date,
            "vnp_CreateDate": format_vnpay_date(request.now),
            "vnp_IpAddr": request.server_ip,
        }
        if request.provider_txn_id:
            body["vnp_TransactionNo"] = request.provider_txn_id
        body["vnp_SecureHash"] = hmac_sha512_hex(
            self.config.hash_secret,
            querydr_checksum_data(
                request_id=body["vnp_RequestId"],
                tmn_code=body["vnp_TmnCode"],
                txn_ref=body["vnp_TxnRef"],
                transaction_date=body["vnp_TransactionDate"],
                create_date=body["vnp_CreateDate"],
                ip_addr=body["vnp_IpAddr"],
                order_info=body["vnp_OrderInfo"],
            ),
        )
        return body

    def query(self, request: QueryRequest) -> ProviderResult:
        """querydr. 00 + status 00 → SUCCEEDED, 01 and 07 (suspected fraud, money debited) →
        PENDING, other status → FAILED;
        91 → UNKNOWN; 94/99/anything else, timeouts, 5xx and unverified answers →
        ProviderUnavailable (ask again later)."""
        answer = post_json(self.config.api_url, self.querydr_body(request), timeout=self._timeout)
        self.verify_querydr_response(answer, request.provider_reference)
        code = _code(answer.get("vnp_ResponseCode"))
        ref = request.provider_reference
        logger.info("vnpay querydr %s -> %s/%s", ref, code, answer.get("vnp_TransactionStatus"))
        if code == "91":
            return ProviderResult(
                provider_reference=ref,
                outcome=Outcome.UNKNOWN,
                amount=None,
                result_code=code,
                message=QUERYDR_MESSAGES[code],
            )
        if code != "00":
            message = QUERYDR_MESSAGES.get(code, "mã lạ")
            raise ProviderUnavailable(f"vnpay querydr {ref}: {code} {message}")

        status = _code(answer.get("vnp_TransactionStatus"))
        outcome = QUERYDR_STATUS_OUTCOMES.get(status, Outcome.FAILED)
        amount: int | None = None
        if answer.get("vnp_Amount") not in (None, ""):
            try:
                amount = dong_from_vnpay_amount(answer["vnp_Amount"])
            except ValueError as exc:
                raise ProviderUnavailable(f"vnpay querydr {ref}: {exc}") from exc
        if outcome is Outcome.SUCCEEDED and amount is None:
            raise ProviderUnavailable(f"vnpay querydr {ref}: success without vnp_Amount")
        paid_at: datetime | None = None
        if outcome is Outcome.SUCCEEDED and answer.get("vnp_PayDate"):
            try:
                paid_at = parse_vnpay_date(_response_text(answer["vnp_PayDate"]))
            except ValueError:
                logger.warning("vnpay querydr %s: unreadable vnp_PayDate", ref)
        transaction_no = _response_text(answer.get("vnp_TransactionNo"))
        return ProviderResult(
            provider_reference=ref,
            outcome=outcome,
            amount=amount,
            result_code=status,
            message=TRANSACTION_STATUS_MESSAGES.get(status, f"Trạng thái lạ ({status})"),
            provider_txn_id=transaction_no if transaction_no not in ("", "0") else None,
            paid_at=paid_at,
        )

    def verify_querydr_response(self, answer: Mapping[str, Any], txn_ref: str) -> None:
        """Raise ProviderUnavailable unless the querydr answer is signed by VNPay for this
        terminal and this order; an unverified answer is never acted upon."""
        self._verify_answer(answer, txn_ref, querydr_response_checksum_data, "querydr")

    def verify_refund_response(self, answer: Mapping[str, Any], txn_ref: str) -> None:
        """Same as `verify_querydr_response` for a refund answer."""
        self._verify_answer(answer, txn_ref, refund_response_checksum_data, "refund")

    def _verify_answer(
        self,
        answer: Mapping[str, Any],
        txn_ref: str,
        checksum_data: Callable[[Mapping[str, Any], str], str],
        command: str,
    ) -> None:
        code = answer.get("vnp_ResponseCode")
        received = answer.get("vnp_SecureHash")
        try:
            data = checksum_data(answer, self.config.tmn_code)
        except ValueError as exc:
            raise ProviderUnavailable(f"vnpay {command} {txn_ref}: {exc}") from exc
        expected = hmac_sha512_hex(self.config.hash_secret, data)
        if not isinstance(received, str) or not same_hex(expected, received):
            logger.warning("vnpay %s %s: answer (code %s) not verified", command, txn_ref, code)
            raise ProviderUnavailable(
                f"vnpay {command} {txn_ref}: answer with code {code!r} has a missing or bad "
                "checksum; not trusted"
            )
        tmn_code = answer.get("vnp_TmnCode")
        if tmn_code not in (None, "", self.config.tmn_code):
            raise ProviderUnavailable(
                f"vnpay {command} {txn_ref}: answer for terminal {tmn_code!r}"
            )
        answered_ref = answer.get("vnp_TxnRef")
        if answered_ref not in (None, "") and str(answered_ref) != txn_ref:
            raise ProviderUnavailable(
                f"vnpay {command} {txn_ref}: answer about another order {answered_ref!r}"
            )

    # refund ------------------------------------------------------------------------------

    def refund_body(self, request: RefundRequest) -> dict[str, str | int]:
        """The signed refund JSON body (field order and int vnp_Amount as in the PHP demo)."""
        if request.amount > request.original_amount:
            raise ValueError("refund larger than the paid amount")
        amount = vnpay_amount(request.amount)
        transaction_date = request.extra.get("vnp_CreateDate", "")
        if not _DATE_RE.fullmatch(transaction_date):
            transaction_date = format_vnpay_date(request.attempt_created_at)
        order_info = fold_order_info(request.reason) or f"Hoan tien GD {request.provider_reference}"
        fields = {
            "vnp_RequestId": vnpay_request_id(request.request_id),
            "vnp_Version": VERSION,
            "vnp_Command": "refund",
            "vnp_TmnCode": self.config.tmn_code,
            "vnp_TransactionType": "02" if request.is_full else "03",
            "vnp_TxnRef": request.provider_reference,
            "vnp_Amount": amount,
            "vnp_OrderInfo": order_info,
            "vnp_TransactionNo": request.provider_txn_id or "0",
            "vnp_TransactionDate": transaction_date,
            "vnp_CreateDate": format_vnpay_date(request.now),
            "vnp_CreateBy": request.actor,
            "vnp_IpAddr": request.server_ip,
        }
        secure_hash = hmac_sha512_hex(
            self.config.hash_secret,
            refund_checksum_data(
                request_id=fields["vnp_RequestId"],
                tmn_code=fields["vnp_TmnCode"],
                transaction_type=fields["vnp_TransactionType"],
                txn_ref=fields["vnp_TxnRef"],
                amount=amount,
                transaction_no=fields["vnp_TransactionNo"],
                transaction_date=fields["vnp_TransactionDate"],
                create_by=fields["vnp_CreateBy"],
                create_date=fields["vnp_CreateDate"],
                ip_addr=fields["vnp_IpAddr"],
                order_info=fields["vnp_OrderInfo"],
            ),
        )
        body: dict[str, str | int] = dict(fields)
        body["vnp_Amount"] = int(amount)
        body["vnp_SecureHash"] = secure_hash
        return body

    def refund(self, request: RefundRequest) -> RefundResult:
        """Full (02) or partial (03) refund. 00 → SUCCEEDED, 94 → PENDING,
        91/95/02/03/97 → FAILED; 99, unknown codes, timeouts, 5xx and unverified answers →
        ProviderUnavailable."""
        body = self.refund_body(request)
        ref = request.provider_reference
        answer = post_json(self.config.api_url, body, timeout=self._timeout)
        self.verify_refund_response(answer, ref)
        code = _code(answer.get("vnp_ResponseCode"))
        logger.info("vnpay refund %s (%s) -> %s", ref, request.refund_reference, code)
        outcome = REFUND_OUTCOMES.get(code)
        if outcome is None:
            raise ProviderUnavailable(
                f"vnpay refund {ref}: {code} {REFUND_MESSAGES.get(code, 'mã lạ')}"
            )
        transaction_no = _response_text(answer.get("vnp_TransactionNo"))
        return RefundResult(
            outcome=outcome,
            result_code=code,
            message=REFUND_MESSAGES[code],
            provider_refund_id=transaction_no if transaction_no not in ("", "0") else None,
            extra={
                "vnp_RequestId": str(body["vnp_RequestId"]),
                "vnp_CreateDate": str(body["vnp_CreateDate"]),
            },
        )

    # statements --------------------------------------------------------------------------

    def parse_statement_line(self, row: Mapping[str, Any]) -> StatementLine:
        """One row of a VNPay statement export, by column name.

        Assumed columns (VNPay's statement layout is not public; these are the names of
        the API fields): `vnp_TxnRef` or `TxnRef` (our reference, required); `Amount` in
        đồng (int or digits, `.`/`,` thousands separators allowed) or else `vnp_Amount`
        (× 100); `TransactionNo`/`vnp_TransactionNo`; `PayDate`/`vnp_PayDate`
        (`yyyyMMddHHmmss` GMT+7, or an aware datetime); `TransactionType`/
        `vnp_TransactionType` (`02`/`03` = refund, else payment).
        """
        reference = _first(row, "vnp_TxnRef", "TxnRef")
        if not reference:
            raise MalformedMessage("vnpay statement: no TxnRef")
        try:
            if _first(row, "Amount"):
                amount = _statement_dong(row["Amount"])
            elif _first(row, "vnp_Amount"):
                amount = dong_from_vnpay_amount(_statement_text(row["vnp_Amount"]))
            else:
                raise ValueError("no Amount")
        except (TypeError, ValueError) as exc:
            raise MalformedMessage(f"vnpay statement {reference}: {exc}") from exc

        occurred_at: datetime | None = None
        pay_date = row.get("PayDate", row.get("vnp_PayDate"))
        if isinstance(pay_date, datetime):
            if pay_date.tzinfo is None:
                raise MalformedMessage(f"vnpay statement {reference}: naive PayDate")
            occurred_at = pay_date
        elif pay_date not in (None, ""):
            try:
                occurred_at = parse_vnpay_date(_statement_text(pay_date))
            except (TypeError, ValueError) as exc:
                raise MalformedMessage(f"vnpay statement {reference}: {exc}") from exc

        transaction_no = _first(row, "TransactionNo", "vnp_TransactionNo")
        # Excel keeps `02` as the number 2: the code is two digits either way
        transaction_type = _first(row, "TransactionType", "vnp_TransactionType").zfill(2)
        kind = "refund" if transaction_type in ("02", "03") else "payment"
        return StatementLine(
            provider_reference=reference,
            amount=amount,
            provider_txn_id=transaction_no or None,
            occurred_at=occurred_at,
            kind=kind,
        )

    @property
    def _timeout(self) -> tuple[float, float]:
        return (min(5.0, self.config.timeout), self.config.timeout)


def _statement_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"unexpected cell {value!r}")
    return str(value).strip()


def _first(row: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = row.get(key)
        if value not in (None, ""):
            return _statement_text(value)
    return ""


_THOUSANDS_RE = re.compile(r"[0-9]{1,3}([.,][0-9]{3})+")


def _statement_dong(value: object) -> int:
    """đồng from a statement cell: an int, or digits with optional thousands separators."""
    text = _statement_text(value)
    if _THOUSANDS_RE.fullmatch(text):
        text = text.replace(".", "").replace(",", "")
    if not _AMOUNT_RE.fullmatch(text):
        raise ValueError(f"Amount is not a whole number of đồng: {value!r}")
    return int(text)
