"""A local stand-in for MoMo's payment gateway v2, so demos and tests use the real wire format.

Mount the blueprint at ``/_sim/momo`` and point ``MomoConfig.endpoint`` at it (e.g.
``http://127.0.0.1:8000/_sim/momo``). It signs and verifies with the functions of
`adapters.momo`, which are checked against MoMo's own sample code, so a signing mistake
fails here the way it would at MoMo:

* ``POST /v2/gateway/api/create`` checks the fields, the partnerCode (11 Access denied) and
  the signature (13 Merchant authentication failed), then answers resultCode 0 with
  ``payUrl`` (this simulator's page), ``deeplink`` and ``qrCodeUrl`` (``momo://app?...``
  links, as MoMo sends). The same requestId is idempotent (the stored answer again); a
  reused requestId for another order is 40, a reused orderId 41, an amount outside
  1,000-50,000,000 đồng 22.
* ``GET /pay/<token>`` is the citizen's page (Vietnamese, phone-sized, no CDN): Pay, Fail
  (1001 insufficient funds) or Cancel (1006 declined), and a "don't send the IPN" box so a
  demo can show the query path rescuing a lost notification.
* The button signs the IPN body exactly as MoMo (IPN key order), POSTs it as UTF-8 JSON to
  the order's ``ipnUrl`` (10 s timeout; failures are logged and tolerated, MoMo does not
  hold the citizen hostage to our webhook), then 302-redirects the browser to
  ``redirectUrl`` with the same fields and signature as query parameters.
* ``POST /v2/gateway/api/query`` answers from the ledger (1000 until the citizen acts, 42
  for an unknown orderId); ``POST /v2/gateway/api/refund`` refunds a paid transId up to its
  amount (1080 unknown transId, 1088 not paid, 1081 more than is left, 41 reused refund
  orderId), idempotent per requestId. Both answers are signed the way
  `adapters.momo.response_signature_raw` checks them.

Simplifications (deliberate): one process's memory is the ledger; orders never expire; the
IPN is sent from the request that handles the button, so a single-worker server calling
itself times out the IPN (tolerated), which is exactly the case the query path exists for.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    redirect,
    render_template_string,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from adapters._crypto import same_hex
from adapters.momo import (
    CREATE_PATH,
    QUERY_PATH,
    REFUND_PATH,
    MomoConfig,
    create_signature_raw,
    ipn_signature_raw,
    query_signature_raw,
    refund_signature_raw,
    response_signature_raw,
    sign,
)

logger = logging.getLogger(__name__)

IPN_TIMEOUT = 10.0
MIN_AMOUNT = 1_000  # wallet limits from MoMo's create table
MAX_AMOUNT = 50_000_000
REQUEST_TYPES = frozenset({"captureWallet", "payWithATM", "payWithCC", "payWithMethod"})
PENDING = 1000
PAID = 0
INSUFFICIENT_FUNDS = 1001
DECLINED = 1006
_ORDER_ID_RE = re.compile(r"[0-9a-zA-Z]([-_.]*[0-9a-zA-Z]+)*")
_DIGITS_RE = re.compile(r"[0-9]{1,19}")

MESSAGES: dict[int, tuple[str, str]] = {
    0: ("Thành công.", "Successful."),
    11: ("Truy cập bị từ chối.", "Access denied."),
    13: ("Xác thực doanh nghiệp thất bại.", "Merchant authentication failed."),
    20: ("Yêu cầu sai định dạng.", "Bad format request."),
    22: (
        "Số tiền giao dịch nằm ngoài phạm vi cho phép.",
        "The transaction amount is out of range.",
    ),
    40: ("RequestId bị trùng.", "Duplicated requestId."),
    41: ("OrderId bị trùng.", "Duplicated orderId."),
    42: (
        "OrderId không hợp lệ hoặc không được tìm thấy.",
        "Invalid orderId or orderId is not found.",
    ),
    1000: (
        "Giao dịch đã được khởi tạo, chờ người dùng xác nhận thanh toán.",
        "Transaction is initiated, waiting for user confirmation.",
    ),
    1001: (
        "Giao dịch thanh toán thất bại do tài khoản người dùng không đủ tiền.",
        "Transaction failed due to insufficient funds.",
    ),
    1006: (
        "Giao dịch thất bại do người dùng đã từ chối xác nhận thanh toán.",
        "Transaction failed because user has denied to confirm the payment.",
    ),
    1080: (
        "Giao dịch hoàn tiền thất bại trong quá trình xử lý.",
        "Refund attempt failed during the processing.",
    ),
    1081: (
        "Giao dịch hoàn tiền bị từ chối. Giao dịch thanh toán ban đầu có thể đã được hoàn.",
        "Refund rejected. The original transaction might have been refunded.",
    ),
    1088: (
        "Giao dịch hoàn tiền bị từ chối. Giao dịch thanh toán ban đầu không được phép hoàn tiền.",
        "Refund rejected. The original payment transaction is ineligible to be refunded.",
    ),
}


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def message_for(code: int, lang: str) -> str:
    vi, en = MESSAGES.get(code, ("Lỗi không xác định.", "Unknown error."))
    return en if lang == "en" else vi


def epoch_ms(when: datetime) -> int:
    """A moment as MoMo's Unix milliseconds, exactly (no float)."""
    delta = when - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_vnd(amount: int) -> str:
    """150000 → "150.000 ₫", the way Vietnamese pages write money."""
    return f"{amount:,}".replace(",", ".") + " ₫"


@dataclass
class SimOrder:
    token: str
    order_id: str
    request_id: str
    amount: int
    order_info: str
    ipn_url: str
    redirect_url: str
    extra_data: str
    request_type: str
    lang: str
    created_ms: int
    result_code: int = PENDING
    trans_id: int = 0
    pay_type: str = ""
    response_ms: int = 0
    refunded: int = 0
    refunds: list[dict[str, Any]] = field(default_factory=list)
    ipn_deliveries: list[str] = field(default_factory=list)  # for demos: what happened

    @property
    def final(self) -> bool:
        return self.result_code != PENDING


class Ledger:
    """Orders and refunds of one simulator, safe across the server's threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.orders: dict[str, SimOrder] = {}  # by orderId
        self.tokens: dict[str, str] = {}  # pay-page token -> orderId
        self.create_answers: dict[str, tuple[str, dict[str, Any]]] = {}  # requestId
        self.refund_answers: dict[str, tuple[str, dict[str, Any]]] = {}  # requestId
        self.refund_order_ids: set[str] = set()
        self.trans_ids: set[int] = set()

    def new_trans_id(self) -> int:
        """A 10-digit MoMo-like transId, unique in this ledger (call with the lock held)."""
        while True:
            candidate = 1_000_000_000 + secrets.randbelow(9_000_000_000)
            if candidate not in self.trans_ids:
                self.trans_ids.add(candidate)
                return candidate

    def order_for_token(self, token: str) -> SimOrder | None:
        order_id = self.tokens.get(token)
        return self.orders.get(order_id) if order_id else None

    def order_for_trans_id(self, trans_id: int) -> SimOrder | None:
        return next((o for o in self.orders.values() if o.trans_id == trans_id), None)


def notification_fields(config: MomoConfig, order: SimOrder) -> dict[str, Any]:
    """The IPN body MoMo sends for a final order, signed in IPN key order."""
    body: dict[str, Any] = {
        "partnerCode": config.partner_code,
        "orderId": order.order_id,
        "requestId": order.request_id,
        "amount": order.amount,
        "orderInfo": order.order_info,
        "orderType": "momo_wallet",
        "transId": order.trans_id,
        "resultCode": order.result_code,
        "message": message_for(order.result_code, order.lang),
        "payType": order.pay_type,
        "responseTime": order.response_ms,
        "extraData": order.extra_data,
    }
    body["signature"] = sign(config.secret_key, ipn_signature_raw(config.access_key, body))
    return body


def _signed_answer(config: MomoConfig, answer: dict[str, Any]) -> dict[str, Any]:
    answer["signature"] = sign(config.secret_key, response_signature_raw(config.access_key, answer))
    return answer


def _with_query(url: str, params: Mapping[str, object]) -> str:
    """Append params to a URL that may already carry a query string."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend((key, str(value)) for key, value in params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _number(value: object) -> int | None:
    """MoMo takes amount/transId as a JSON Long; its Node sample sends "150000" text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS_RE.fullmatch(value):
        return int(value)
    return None


def _is_scalar(value: object) -> bool:
    """MoMo's signed fields are text or integers (a bool is an int to Python, not to MoMo)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _scalars(body: Mapping[str, Any], keys: tuple[str, ...]) -> bool:
    return all(key in body and _is_scalar(body[key]) for key in keys)


def _extra_data_ok(value: str) -> bool:
    if value == "":
        return True
    try:
        decoded = json.loads(base64.b64decode(value, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    return isinstance(decoded, dict)


def _json_body() -> dict[str, Any] | None:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else None


def create_blueprint(config: MomoConfig, *, clock: Callable[[], datetime]) -> Blueprint:
    """A fresh simulator (its own ledger) for one MoMo partner account; `clock` is the
    gateway's (tests freeze it)."""
    ledger = Ledger()
    bp = Blueprint("sim_momo", __name__)
    bp.ledger = ledger  # type: ignore[attr-defined]  # for tests and demos to inspect

    def refusal(code: int, body: Mapping[str, Any] | None, status: int = 400) -> Response:
        data = body or {}
        lang = data.get("lang") if data.get("lang") in ("vi", "en") else "vi"
        answer: dict[str, Any] = {
            "partnerCode": config.partner_code,
            "orderId": data.get("orderId", ""),
            "requestId": data.get("requestId", ""),
            "responseTime": epoch_ms(clock()),
            "message": message_for(code, str(lang)),
            "resultCode": code,
        }
        response = jsonify(answer)
        response.status_code = status
        return response

    def authenticate(body: dict[str, Any], raw: str) -> Response | None:
        """11 for a partnerCode that is not ours, 13 for a signature that does not verify."""
        if body.get("partnerCode") != config.partner_code:
            return refusal(11, body)
        expected = sign(config.secret_key, raw)
        signature = body.get("signature")
        if not isinstance(signature, str) or not same_hex(expected, signature):
            return refusal(13, body)
        return None

    @bp.post(CREATE_PATH)
    def create() -> Response:
        body = _json_body()
        required = (
            "partnerCode",
            "requestId",
            "amount",
            "orderId",
            "orderInfo",
            "redirectUrl",
            "ipnUrl",
            "requestType",
            "extraData",
            "signature",
        )
        if body is None or not _scalars(body, required):
            return refusal(20, body)
        denied = authenticate(body, create_signature_raw(config.access_key, body))
        if denied is not None:
            return denied
        amount = _number(body["amount"])
        order_id = str(body["orderId"])
        request_id = str(body["requestId"])
        lang = body.get("lang") if body.get("lang") in ("vi", "en") else "vi"
        if (
            amount is None
            or not _ORDER_ID_RE.fullmatch(order_id)
            or len(order_id) > 200
            or body["requestType"] not in REQUEST_TYPES
            or not _extra_data_ok(str(body["extraData"]))
        ):
            return refusal(20, body)
        if not MIN_AMOUNT <= amount <= MAX_AMOUNT:
            return refusal(22, body)
        with ledger.lock:
            earlier = ledger.create_answers.get(request_id)
            if earlier is not None:
                if earlier[0] == order_id:
                    return jsonify(earlier[1])  # idempotent: the same final answer again
                return refusal(40, body)
            if order_id in ledger.orders:
                return refusal(41, body)
            token = secrets.token_urlsafe(16)
            order = SimOrder(
                token=token,
                order_id=order_id,
                request_id=request_id,
                amount=amount,
                order_info=str(body["orderInfo"]),
                ipn_url=str(body["ipnUrl"]),
                redirect_url=str(body["redirectUrl"]),
                extra_data=str(body["extraData"]),
                request_type=str(body["requestType"]),
                lang=str(lang),
                created_ms=epoch_ms(clock()),
            )
            app_link = f"momo://app?action=payWithApp&isScanQR=false&serviceType=app&sid={token}"
            qr_link = f"momo://app?action=payWithApp&isScanQR=true&serviceType=qr&sid={token}"
            answer: dict[str, Any] = {
                "partnerCode": config.partner_code,
                "orderId": order_id,
                "requestId": request_id,
                "amount": amount,
                "responseTime": order.created_ms,
                "message": message_for(0, order.lang),
                "resultCode": 0,
                "payUrl": url_for(".pay_page", token=token, _external=True),
                "deeplink": app_link + "&v=3.0",
                "qrCodeUrl": qr_link + "&v=3.0",
            }
            ledger.orders[order_id] = order
            ledger.tokens[token] = order_id
            ledger.create_answers[request_id] = (order_id, answer)
        logger.info("MoMo simulator: order %s created for %s đồng", order_id, amount)
        return jsonify(answer)

    @bp.get("/pay/<token>")
    def pay_page(token: str) -> ResponseReturnValue:
        with ledger.lock:
            order = ledger.order_for_token(token)
            if order is None:
                abort(404)
            view = {
                "order": order,
                "amount": format_vnd(order.amount),
                "partner_name": config.partner_name,
                "final": order.final,
                "result": message_for(order.result_code, "vi"),
                "back_url": _with_query(order.redirect_url, notification_fields(config, order))
                if order.final
                else None,
            }
        return render_template_string(PAY_PAGE, **view)

    @bp.post("/pay/<token>")
    def pay_action(token: str) -> ResponseReturnValue:
        action = request.form.get("action")
        codes = {"pay": PAID, "fail": INSUFFICIENT_FUNDS, "cancel": DECLINED}
        if action not in codes:
            abort(400)
        send_ipn = request.form.get("no_ipn") != "1"
        with ledger.lock:
            order = ledger.order_for_token(token)
            if order is None:
                abort(404)
            already_final = order.final
            if not already_final:
                order.result_code = codes[action]
                order.trans_id = ledger.new_trans_id()
                order.pay_type = "qr" if order.result_code == PAID else ""
                order.response_ms = epoch_ms(clock())
            fields = notification_fields(config, order)
            ipn_url, redirect_url = order.ipn_url, order.redirect_url
        if not already_final:
            outcome = _deliver_ipn(ipn_url, fields) if send_ipn else "not sent (by request)"
            with ledger.lock:
                order.ipn_deliveries.append(outcome)
        return redirect(_with_query(redirect_url, fields), code=302)

    @bp.post(QUERY_PATH)
    def query() -> Response:
        body = _json_body()
        if body is None or not _scalars(body, ("partnerCode", "requestId", "orderId", "signature")):
            return refusal(20, body)
        denied = authenticate(body, query_signature_raw(config.access_key, body))
        if denied is not None:
            return denied
        lang = "en" if body.get("lang") == "en" else "vi"
        with ledger.lock:
            order = ledger.orders.get(str(body["orderId"]))
            if order is None:
                answer: dict[str, Any] = {
                    "partnerCode": config.partner_code,
                    "orderId": str(body["orderId"]),
                    "requestId": str(body["requestId"]),
                    "resultCode": 42,
                    "message": message_for(42, lang),
                    "responseTime": epoch_ms(clock()),
                }
                return jsonify(_signed_answer(config, answer))
            answer = {
                "partnerCode": config.partner_code,
                "orderId": order.order_id,
                "requestId": str(body["requestId"]),
                "extraData": order.extra_data,
                "amount": order.amount,
                "transId": order.trans_id,
                "payType": order.pay_type,
                "resultCode": order.result_code,
                "refundTrans": list(order.refunds),
                "message": message_for(order.result_code, lang),
                "responseTime": epoch_ms(clock()),
                "lastUpdated": order.response_ms or order.created_ms,
            }
        return jsonify(_signed_answer(config, answer))

    @bp.post(REFUND_PATH)
    def refund() -> Response:
        body = _json_body()
        required = (
            "partnerCode",
            "orderId",
            "requestId",
            "amount",
            "transId",
            "description",
            "signature",
        )
        if body is None or not _scalars(body, required):
            return refusal(20, body)
        denied = authenticate(body, refund_signature_raw(config.access_key, body))
        if denied is not None:
            return denied
        amount = _number(body["amount"])
        trans_id = _number(body["transId"])
        refund_order_id = str(body["orderId"])
        request_id = str(body["requestId"])
        lang = "en" if body.get("lang") == "en" else "vi"
        if amount is None or amount <= 0 or trans_id is None:
            return refusal(20, body)
        if not _ORDER_ID_RE.fullmatch(refund_order_id):
            return refusal(20, body)
        with ledger.lock:
            earlier = ledger.refund_answers.get(request_id)
            if earlier is not None:
                if earlier[0] == refund_order_id:
                    return jsonify(earlier[1])
                return refusal(40, body)
            if refund_order_id in ledger.refund_order_ids:
                return refusal(41, body)
            order = ledger.order_for_trans_id(trans_id)
            code = 0
            if order is None:
                code = 1080
            elif order.result_code != PAID:
                code = 1088
            elif amount > order.amount - order.refunded:
                code = 1081
            answer: dict[str, Any] = {
                "partnerCode": config.partner_code,
                "orderId": refund_order_id,
                "requestId": request_id,
                "amount": amount,
                "transId": 0,
                "resultCode": code,
                "message": message_for(code, lang),
                "responseTime": epoch_ms(clock()),
            }
            if code == 0 and order is not None:
                answer["transId"] = ledger.new_trans_id()
                order.refunded += amount
                order.refunds.append(
                    {
                        "orderId": refund_order_id,
                        "amount": amount,
                        "resultCode": 0,
                        "transId": answer["transId"],
                        "createdTime": answer["responseTime"],
                    }
                )
                ledger.refund_order_ids.add(refund_order_id)
            # final codes are idempotent at MoMo: the same requestId gets the same answer
            ledger.refund_answers[request_id] = (refund_order_id, _signed_answer(config, answer))
        return jsonify(answer)

    return bp


def _deliver_ipn(url: str, body: Mapping[str, Any]) -> str:
    """POST the IPN once, as raw UTF-8 JSON; whatever happens, the citizen goes on."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    try:
        response = requests.post(
            url,
            data=data,
            headers={"Content-Type": "application/json; charset=UTF-8"},
            timeout=IPN_TIMEOUT,
        )
    except requests.RequestException as exc:
        logger.warning("MoMo simulator: IPN to %s failed: %s", url, type(exc).__name__)
        return f"failed: {type(exc).__name__}"
    if response.status_code != 204:
        logger.warning("MoMo simulator: IPN to %s answered HTTP %s", url, response.status_code)
    return f"HTTP {response.status_code}"


PAY_PAGE = """<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>MoMo (giả lập) – Thanh toán</title>
<style>
  * { box-sizing: border-box; }
  body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
         background: #fdf2f8; color: #1f2937; }
  header { background: #a50064; color: #fff; padding: 14px 16px; font-weight: 600; }
  header small { display: block; font-weight: 400; opacity: .85; }
  main { max-width: 28rem; margin: 0 auto; padding: 16px; }
  .card { background: #fff; border-radius: 12px; padding: 16px;
          box-shadow: 0 1px 4px rgba(0,0,0,.08); }
  .amount { font-size: 2rem; font-weight: 700; color: #a50064; margin: 4px 0 12px; }
  dl { margin: 0; } dt { font-size: .85rem; color: #6b7280; margin-top: 10px; }
  dd { margin: 2px 0 0; word-break: break-word; }
  button { display: block; width: 100%; min-height: 48px; margin-top: 12px; border: 0;
           border-radius: 10px; font-size: 1.05rem; font-weight: 600; cursor: pointer; }
  .pay { background: #a50064; color: #fff; }
  .fail { background: #fee2e2; color: #991b1b; }
  .cancel { background: #e5e7eb; color: #111827; }
  label { display: flex; gap: 8px; align-items: center; margin-top: 16px; font-size: .95rem; }
  .note { font-size: .8rem; color: #6b7280; margin-top: 16px; }
  a.back { display: block; text-align: center; margin-top: 16px; color: #a50064; }
</style>
</head>
<body>
<header>Ví MoMo<small>Môi trường giả lập – không có tiền thật</small></header>
<main>
  <div class="card">
    <div>Số tiền thanh toán</div>
    <div class="amount">{{ amount }}</div>
    <dl>
      <dt>Đơn vị thụ hưởng</dt><dd>{{ partner_name }}</dd>
      <dt>Nội dung</dt><dd>{{ order.order_info }}</dd>
      <dt>Mã đơn hàng</dt><dd>{{ order.order_id }}</dd>
    </dl>
    {% if final %}
      <p><strong>Giao dịch đã được xử lý:</strong> {{ result }}</p>
      <a class="back" href="{{ back_url }}">Quay lại trang dịch vụ</a>
    {% else %}
    <form method="post">
      <button class="pay" name="action" value="pay">Xác nhận thanh toán</button>
      <button class="fail" name="action" value="fail">Thất bại – không đủ số dư (1001)</button>
      <button class="cancel" name="action" value="cancel">Hủy giao dịch (1006)</button>
      <label><input type="checkbox" name="no_ipn" value="1">
        Không gửi IPN (mô phỏng mất thông báo)</label>
    </form>
    {% endif %}
  </div>
  <p class="note">Trang này giả lập cổng thanh toán MoMo để thử nghiệm;
    không dùng trong môi trường thật.</p>
</main>
</body>
</html>
"""
