"""A local stand-in for VNPay's sandbox, so demos and tests exercise the real wire format.

Mount the blueprint at ``/_sim/vnpay`` and point ``VnpayConfig.pay_url`` at
``<base>/_sim/vnpay/paymentv2/vpcpay.html`` and ``VnpayConfig.api_url`` at
``<base>/_sim/vnpay/merchant_webapi/api/transaction`` (the sandbox's own paths). It signs and
verifies with the functions of `adapters.vnpay`, which reproduce VNPay's demos bit for bit,
so a checksum mistake fails here as it would at VNPay:

* ``GET /paymentv2/vpcpay.html?…`` verifies ``vnp_SecureHash`` (an error page "Sai chữ ký"
  otherwise, HTTP 400), the terminal, the mandatory params and ``vnp_ExpireDate``, records the
  transaction as "not completed" (status 01) and shows the amount, the order info, a bank
  choice and three buttons: Pay, Fail (insufficient balance, code 51) and Cancel (code 24),
  plus a "do not send the IPN" box so a demo can show querydr rescuing a lost IPN.
* ``POST`` to the same path builds the return params exactly as VNPay does (``vnp_Amount,
  vnp_BankCode, vnp_BankTranNo, vnp_CardType, vnp_OrderInfo, vnp_PayDate`` (GMT+7)``,
  vnp_ResponseCode, vnp_TmnCode, vnp_TransactionNo, vnp_TransactionStatus, vnp_TxnRef,
  vnp_SecureHash``), calls the IPN with ``GET ipn_url?params`` (10 s timeout; failures are
  logged and tolerated), then redirects the browser (302) to ``vnp_ReturnUrl?params``.
  VNPay calls the IPN for failed and cancelled payments too, so this does as well.
* ``POST /merchant_webapi/api/transaction`` answers ``querydr`` and ``refund`` from the
  in-memory ledger with signed answers: 91 unknown order, 97 bad checksum, 02 other
  terminal, 03 bad data, 94 a vnp_RequestId already used, 95 refund of an unpaid
  transaction.

Simplifications (documented, deliberate): the ledger lives in one process's memory; every
API answer is signed (real VNPay may leave some error answers unsigned, which the adapter
treats as untrusted); querydr answers 91 when ``vnp_TransactionDate`` is not the pay URL's
``vnp_CreateDate`` (VNPay requires them equal; what it answers otherwise is not public); a
successful refund answers ``vnp_TransactionStatus`` 05 and a new ``vnp_TransactionNo`` of
its own. The IPN is sent from the request that handles "Pay": a single-worker server calling
itself will time the IPN out (tolerated), which is exactly the case querydr exists for.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from flask import Blueprint, Response, jsonify, redirect, render_template_string, request
from flask.typing import ResponseReturnValue

from adapters._crypto import hmac_sha512_hex, same_hex
from adapters.vnpay import (
    QUERYDR_MESSAGES,
    REFUND_MESSAGES,
    VnpayConfig,
    build_pay_url,
    format_vnpay_date,
    parse_vnpay_date,
    querydr_checksum_data,
    querydr_response_checksum_data,
    refund_checksum_data,
    refund_response_checksum_data,
    sign_params,
    verify_params,
)

logger = logging.getLogger(__name__)

IPN_TIMEOUT = 10.0
STATUS_PAID = "00"
STATUS_NOT_COMPLETED = "01"
STATUS_ERROR = "02"
STATUS_REFUND_PROCESSING = "05"

ACTIONS: Mapping[str, tuple[str, str]] = {
    "pay": ("00", STATUS_PAID),
    "fail": ("51", STATUS_ERROR),  # insufficient balance
    "cancel": ("24", STATUS_ERROR),  # the customer cancelled
}
"""Button → (vnp_ResponseCode, vnp_TransactionStatus)."""

BANKS: Mapping[str, str] = {
    "NCB": "Ngân hàng Quốc Dân (NCB)",
    "VIETCOMBANK": "Vietcombank",
    "VIETINBANK": "VietinBank",
    "BIDV": "BIDV",
    "AGRIBANK": "Agribank",
    "TECHCOMBANK": "Techcombank",
    "MBBANK": "MB Bank",
    "ACB": "ACB",
    "VPBANK": "VPBank",
    "TPBANK": "TPBank",
}
"""VNPay bank codes (vnp_BankCode) offered on the page; NCB is the sandbox's test bank."""

PAY_MANDATORY = (
    "vnp_Version",
    "vnp_Command",
    "vnp_TmnCode",
    "vnp_Amount",
    "vnp_CreateDate",
    "vnp_CurrCode",
    "vnp_IpAddr",
    "vnp_Locale",
    "vnp_OrderInfo",
    "vnp_OrderType",
    "vnp_ReturnUrl",
    "vnp_TxnRef",
)

_DIGITS = re.compile(r"[0-9]{1,15}")
_DATE = re.compile(r"[0-9]{14}")


@dataclass
class SimTransaction:
    """One payment as VNPay would hold it (amounts as vnp_Amount: đồng × 100)."""

    txn_ref: str
    amount: int
    order_info: str
    create_date: str
    return_url: str
    status: str = STATUS_NOT_COMPLETED  # vnp_TransactionStatus
    response_code: str = ""
    transaction_no: str = "0"
    bank_code: str = ""
    pay_date: str = ""
    refunded: int = 0

    @property
    def final(self) -> bool:
        return self.status != STATUS_NOT_COMPLETED


class Ledger:
    """Transactions of one simulator, safe across the server's threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.transactions: dict[str, SimTransaction] = {}
        self.request_ids: set[str] = set()
        self._sequence = 14_422_600

    def next_transaction_no(self) -> str:
        """VNPay-like 8-digit transaction numbers (call with the lock held)."""
        self._sequence += 1
        return str(self._sequence)


def format_vnd(amount: int) -> str:
    """150000 → "150.000 ₫", the way Vietnamese pages write money."""
    return f"{amount:,}".replace(",", ".") + " ₫"


def _vnp_fields(source: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in source.items() if key.startswith("vnp_")}


def _pay_problem(params: Mapping[str, str], config: VnpayConfig, now: datetime) -> str | None:
    """Why VNPay would refuse this pay request, or None. The checksum comes first."""
    if not params.get("vnp_SecureHash") or not verify_params(params, config.hash_secret):
        return "Sai chữ ký"
    missing = [name for name in PAY_MANDATORY if not params.get(name)]
    if missing:
        return "Dữ liệu gửi sang không đúng định dạng (thiếu " + ", ".join(missing) + ")"
    if params["vnp_TmnCode"] != config.tmn_code:
        return "Website này chưa được phê duyệt (vnp_TmnCode không hợp lệ)"
    if params["vnp_Version"] != "2.1.0" or params["vnp_Command"] != "pay":
        return "Phiên bản hoặc lệnh không được hỗ trợ"
    if params["vnp_CurrCode"] != "VND":
        return "Loại tiền tệ không được hỗ trợ"
    amount = params["vnp_Amount"]
    if not _DIGITS.fullmatch(amount) or int(amount) <= 0 or int(amount) % 100:
        return "Số tiền không hợp lệ"
    if not _DATE.fullmatch(params["vnp_CreateDate"]):
        return "vnp_CreateDate không hợp lệ"
    expire = params.get("vnp_ExpireDate", "")
    if expire:
        try:
            if parse_vnpay_date(expire) <= now:
                return "Giao dịch đã quá thời gian chờ thanh toán"
        except ValueError:
            return "vnp_ExpireDate không hợp lệ"
    return None


def _error_page(message: str, status: int) -> tuple[str, int]:
    return render_template_string(ERROR_PAGE, message=message), status


def create_blueprint(
    config: VnpayConfig,
    *,
    ipn_url: str,
    clock: Callable[[], datetime],
) -> Blueprint:
    """A fresh simulator (its own ledger) for one VNPay terminal;
    `clock` is the gateway's (tests freeze it)."""
    ledger = Ledger()
    now = clock
    bp = Blueprint("sim_vnpay", __name__)
    bp.ledger = ledger  # type: ignore[attr-defined]  # for tests and demos to inspect

    @bp.get("/paymentv2/vpcpay.html")
    def pay_page() -> ResponseReturnValue:
        params = _vnp_fields(request.args.to_dict())
        problem = _pay_problem(params, config, now())
        if problem:
            logger.info("sim vnpay: pay page refused %s: %s", params.get("vnp_TxnRef"), problem)
            return _error_page(problem, 400)
        with ledger.lock:
            txn = ledger.transactions.get(params["vnp_TxnRef"])
            if txn is None:
                txn = SimTransaction(
                    txn_ref=params["vnp_TxnRef"],
                    amount=int(params["vnp_Amount"]),
                    order_info=params["vnp_OrderInfo"],
                    create_date=params["vnp_CreateDate"],
                    return_url=params["vnp_ReturnUrl"],
                )
                ledger.transactions[txn.txn_ref] = txn
            elif txn.amount != int(params["vnp_Amount"]):
                return _error_page("Giao dịch đã tồn tại", 409)
            view = {
                "params": params,
                "amount": format_vnd(int(params["vnp_Amount"]) // 100),
                "expire": _display_date(params.get("vnp_ExpireDate", "")),
                "banks": BANKS,
                "final": txn.final,
            }
        return render_template_string(PAY_PAGE, **view)

    @bp.post("/paymentv2/vpcpay.html")
    def pay_action() -> ResponseReturnValue:
        params = _vnp_fields(request.form.to_dict())
        problem = _pay_problem(params, config, now())
        if problem:
            return _error_page(problem, 400)
        action = request.form.get("action", "")
        bank = request.form.get("bank", "NCB")
        if action not in ACTIONS or bank not in BANKS:
            return _error_page("Yêu cầu không hợp lệ", 400)
        code, status = ACTIONS[action]
        with ledger.lock:
            txn = ledger.transactions.get(params["vnp_TxnRef"])
            if txn is None or txn.amount != int(params["vnp_Amount"]):
                return _error_page("Không tìm thấy giao dịch", 404)
            if txn.final:
                return _error_page("Giao dịch đã được xử lý", 409)
            txn.status = status
            txn.response_code = code
            txn.bank_code = bank
            txn.pay_date = format_vnpay_date(now())
            txn.transaction_no = "0" if action == "cancel" else ledger.next_transaction_no()
            answer = return_params(config, txn)
        logger.info("sim vnpay: %s %s -> %s", action, txn.txn_ref, code)
        if request.form.get("no_ipn") != "1":
            _send_ipn(ipn_url, answer)
        return redirect(build_pay_url(txn.return_url, answer, config.hash_secret), code=302)

    @bp.post("/merchant_webapi/api/transaction")
    def transaction_api() -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _api_answer(config, "querydr", {}, "03", QUERYDR_MESSAGES["03"])
        fields = {key: _text(value) for key, value in body.items()}
        command = fields.get("vnp_Command", "")
        if command == "querydr":
            return _querydr(config, ledger, fields)
        if command == "refund":
            return _refund(config, ledger, fields, now())
        return _api_answer(config, "querydr", fields, "03", QUERYDR_MESSAGES["03"])

    return bp


def return_params(config: VnpayConfig, txn: SimTransaction) -> dict[str, str]:
    """The params VNPay appends to the return URL and sends to the IPN, signed."""
    params = {
        "vnp_Amount": str(txn.amount),
        "vnp_BankCode": txn.bank_code,
        "vnp_BankTranNo": f"VNP{txn.transaction_no}" if txn.status == STATUS_PAID else "",
        "vnp_CardType": "ATM",
        "vnp_OrderInfo": txn.order_info,
        "vnp_PayDate": txn.pay_date,
        "vnp_ResponseCode": txn.response_code,
        "vnp_TmnCode": config.tmn_code,
        "vnp_TransactionNo": txn.transaction_no,
        "vnp_TransactionStatus": txn.status,
        "vnp_TxnRef": txn.txn_ref,
    }
    params = {key: value for key, value in params.items() if value}  # VNPay omits empties
    params["vnp_SecureHash"] = sign_params(params, config.hash_secret)
    return params


def _send_ipn(ipn_url: str, params: Mapping[str, str]) -> None:
    """GET the IPN once; failures are logged and tolerated (the merchant must query)."""
    try:
        response = requests.get(ipn_url, params=dict(params), timeout=IPN_TIMEOUT)
        answer = response.json()
    except (requests.RequestException, ValueError) as exc:
        logger.warning("sim vnpay: IPN %s failed: %s", params["vnp_TxnRef"], type(exc).__name__)
        return
    code = answer.get("RspCode") if isinstance(answer, dict) else None
    logger.info("sim vnpay: IPN %s -> RspCode %r", params["vnp_TxnRef"], code)


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _querydr(config: VnpayConfig, ledger: Ledger, fields: dict[str, str]) -> Response:
    expected = hmac_sha512_hex(
        config.hash_secret,
        querydr_checksum_data(
            request_id=fields.get("vnp_RequestId", ""),
            tmn_code=fields.get("vnp_TmnCode", ""),
            txn_ref=fields.get("vnp_TxnRef", ""),
            transaction_date=fields.get("vnp_TransactionDate", ""),
            create_date=fields.get("vnp_CreateDate", ""),
            ip_addr=fields.get("vnp_IpAddr", ""),
            order_info=fields.get("vnp_OrderInfo", ""),
            version=fields.get("vnp_Version", ""),
        ),
    )
    code = _api_precheck(config, ledger, fields, expected)
    if code:
        return _api_answer(config, "querydr", fields, code, QUERYDR_MESSAGES[code])
    with ledger.lock:
        txn = ledger.transactions.get(fields["vnp_TxnRef"])
        if txn is None or txn.create_date != fields["vnp_TransactionDate"]:
            return _api_answer(config, "querydr", fields, "91", QUERYDR_MESSAGES["91"])
        extra = {
            "vnp_Amount": str(txn.amount),
            "vnp_OrderInfo": txn.order_info,
            "vnp_BankCode": txn.bank_code,
            "vnp_PayDate": txn.pay_date,
            "vnp_TransactionNo": txn.transaction_no,
            "vnp_TransactionType": "01",
            "vnp_TransactionStatus": txn.status,
        }
    return _api_answer(config, "querydr", fields, "00", "QueryDR Success", extra)


def _refund(config: VnpayConfig, ledger: Ledger, fields: dict[str, str], now: datetime) -> Response:
    expected = hmac_sha512_hex(
        config.hash_secret,
        refund_checksum_data(
            request_id=fields.get("vnp_RequestId", ""),
            tmn_code=fields.get("vnp_TmnCode", ""),
            transaction_type=fields.get("vnp_TransactionType", ""),
            txn_ref=fields.get("vnp_TxnRef", ""),
            amount=fields.get("vnp_Amount", ""),
            transaction_no=fields.get("vnp_TransactionNo", ""),
            transaction_date=fields.get("vnp_TransactionDate", ""),
            create_by=fields.get("vnp_CreateBy", ""),
            create_date=fields.get("vnp_CreateDate", ""),
            ip_addr=fields.get("vnp_IpAddr", ""),
            order_info=fields.get("vnp_OrderInfo", ""),
            version=fields.get("vnp_Version", ""),
        ),
    )
    code = _api_precheck(config, ledger, fields, expected)
    if code:
        return _api_answer(config, "refund", fields, code, REFUND_MESSAGES[code])
    amount_text = fields.get("vnp_Amount", "")
    kind = fields.get("vnp_TransactionType", "")
    if not _DIGITS.fullmatch(amount_text) or int(amount_text) <= 0 or kind not in ("02", "03"):
        return _api_answer(config, "refund", fields, "03", REFUND_MESSAGES["03"])
    amount = int(amount_text)
    with ledger.lock:
        txn = ledger.transactions.get(fields["vnp_TxnRef"])
        if txn is None or txn.create_date != fields.get("vnp_TransactionDate"):
            return _api_answer(config, "refund", fields, "91", REFUND_MESSAGES["91"])
        if txn.status != STATUS_PAID:
            return _api_answer(config, "refund", fields, "95", REFUND_MESSAGES["95"])
        remaining = txn.amount - txn.refunded
        if (kind == "02" and amount != txn.amount) or amount > remaining:
            message = "Số tiền hoàn không hợp lệ (vượt quá số tiền có thể hoàn)"
            return _api_answer(config, "refund", fields, "03", message)
        txn.refunded += amount
        extra = {
            "vnp_Amount": str(amount),
            "vnp_OrderInfo": fields.get("vnp_OrderInfo", ""),
            "vnp_BankCode": txn.bank_code,
            "vnp_PayDate": format_vnpay_date(now),
            "vnp_TransactionNo": ledger.next_transaction_no(),
            "vnp_TransactionType": kind,
            "vnp_TransactionStatus": STATUS_REFUND_PROCESSING,
        }
    return _api_answer(config, "refund", fields, "00", "Refund success", extra)


def _api_precheck(
    config: VnpayConfig, ledger: Ledger, fields: Mapping[str, str], expected_hash: str
) -> str | None:
    """The error code VNPay answers before looking the order up, or None."""
    if not same_hex(expected_hash, fields.get("vnp_SecureHash")):
        return "97"
    if fields.get("vnp_TmnCode") != config.tmn_code:
        return "02"
    needed = ("vnp_RequestId", "vnp_TxnRef", "vnp_TransactionDate", "vnp_CreateDate")
    if any(not fields.get(name) for name in needed) or fields.get("vnp_Version") != "2.1.0":
        return "03"
    with ledger.lock:
        if fields["vnp_RequestId"] in ledger.request_ids:
            return "94"
        ledger.request_ids.add(fields["vnp_RequestId"])
    return None


def _api_answer(
    config: VnpayConfig,
    command: str,
    fields: Mapping[str, str],
    code: str,
    message: str,
    extra: Mapping[str, str] | None = None,
) -> Response:
    """A signed querydr/refund answer, checksum fields as in README §1.6."""
    answer: dict[str, Any] = {
        "vnp_ResponseId": secrets.token_hex(16),
        "vnp_Command": command,
        "vnp_ResponseCode": code,
        "vnp_Message": message,
        "vnp_TmnCode": config.tmn_code,
        "vnp_TxnRef": fields.get("vnp_TxnRef", ""),
    }
    answer.update(extra or {})
    checksum = (
        querydr_response_checksum_data if command == "querydr" else refund_response_checksum_data
    )
    answer["vnp_SecureHash"] = hmac_sha512_hex(
        config.hash_secret, checksum(answer, config.tmn_code)
    )
    return jsonify(answer)


def _display_date(value: str) -> str:
    try:
        return parse_vnpay_date(value).strftime("%H:%M:%S %d/%m/%Y")
    except ValueError:
        return ""


_STYLE = """
  body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
       background:#f1f6fd;color:#1b1f24}
  main{max-width:26rem;margin:0 auto;padding:1.25rem}
  .card{background:#fff;border-radius:1rem;padding:1.25rem;box-shadow:0 2px 8px #0002}
  .brand{color:#005baa;font-weight:700;font-size:1.1rem}.brand b{color:#ed1c24}
  .amount{font-size:2rem;font-weight:700;margin:.5rem 0}
  dl{margin:0}dt{color:#5a6372;font-size:.85rem;margin-top:.6rem}dd{margin:0;word-break:break-all}
  fieldset{border:1px solid #d6dde8;border-radius:.6rem;margin-top:1rem;padding:.5rem .75rem}
  legend{font-size:.85rem;color:#5a6372}
  .bank{display:flex;gap:.5rem;align-items:center;padding:.3rem 0}
  button{display:block;width:100%;padding:.9rem;margin-top:.75rem;border:0;border-radius:.6rem;
         font-size:1rem;font-weight:600;cursor:pointer}
  .pay{background:#005baa;color:#fff}.fail{background:#ffe1e1;color:#a40000}
  .cancel{background:#eceff3;color:#1b1f24}
  label.box{display:flex;gap:.5rem;align-items:flex-start;margin-top:1rem;font-size:.9rem}
  .note{color:#5a6372;font-size:.8rem;margin-top:1rem}
  .error{color:#a40000;font-weight:700}
"""

PAY_PAGE = (
    """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>VNPAY (giả lập) – Thanh toán</title><style>"""
    + _STYLE
    + """</style></head>
<body><main><div class="card">
  <div class="brand">VN<b>PAY</b> · cổng thanh toán giả lập</div>
  <div class="amount">{{ amount }}</div>
  <dl>
    <dt>Nội dung thanh toán</dt><dd>{{ params.vnp_OrderInfo }}</dd>
    <dt>Mã đơn hàng (vnp_TxnRef)</dt><dd>{{ params.vnp_TxnRef }}</dd>
    <dt>Đơn vị chấp nhận thanh toán (vnp_TmnCode)</dt><dd>{{ params.vnp_TmnCode }}</dd>
    {% if expire %}<dt>Hết hạn thanh toán</dt><dd>{{ expire }} (GMT+7)</dd>{% endif %}
  </dl>
  {% if final %}
    <p><strong>Giao dịch đã được xử lý.</strong></p>
  {% else %}
  <form method="post">
    {% for key, value in params.items() %}
    <input type="hidden" name="{{ key }}" value="{{ value }}">
    {% endfor %}
    <fieldset><legend>Chọn ngân hàng</legend>
    {% for code, label in banks.items() %}
      <label class="bank"><input type="radio" name="bank" value="{{ code }}"
        {% if loop.first %}checked{% endif %}> {{ label }}</label>
    {% endfor %}
    </fieldset>
    <button class="pay" name="action" value="pay">Thanh toán</button>
    <button class="fail" name="action" value="fail">Thất bại: tài khoản không đủ số dư (51)</button>
    <button class="cancel" name="action" value="cancel">Huỷ giao dịch (24)</button>
    <label class="box"><input type="checkbox" name="no_ipn" value="1">
      <span>Không gửi IPN (mô phỏng IPN bị mất, để thấy đường truy vấn querydr)</span></label>
  </form>
  {% endif %}
  <p class="note">Trang giả lập dùng cho thử nghiệm: không có tiền thật được chuyển.</p>
</div></main></body></html>"""
)

ERROR_PAGE = (
    """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>VNPAY (giả lập) – Thông báo</title><style>"""
    + _STYLE
    + """</style></head>
<body><main><div class="card"><div class="brand">VN<b>PAY</b> · giả lập</div>
<p>Giao dịch không thành công.</p>
<p class="error">{{ message }}</p></div></main></body></html>"""
)
