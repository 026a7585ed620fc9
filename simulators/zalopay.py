"""A local stand-in for ZaloPay gateway v2, so demos and tests exercise the real wire format.

Mount the blueprint at ``/_sim/zalopay`` and point ``ZalopayConfig.endpoint`` at it
(e.g. ``http://127.0.0.1:8000/_sim/zalopay``). It signs and verifies exactly as ZaloPay does,
using the functions of `adapters.zalopay`, so a mac mistake fails here as it would there:

* ``POST /v2/create`` (form, JSON or query string, like the official quickstart) verifies the
  key1 mac and answers ``order_url`` (this simulator's own payment page), ``zp_trans_token``
  and ``qr_code`` (the same URL: scanned with a phone it opens the page).
* ``GET /pay/<token>`` is the citizen's page: Pay, Fail or Cancel, and a "never call back"
  box so a demo can show the query path rescuing a lost callback.
* Pay: ``data`` JSON string + key2 mac, POSTed as ``{"data", "mac", "type": 1}`` to the
  order's ``callback_url`` (10 s timeout, failures tolerated; an answer with
  ``return_code`` 0 is re-sent at most 3 times, as ZaloPay does), then a 302 to
  ``embed_data.redirecturl`` with ``appid, apptransid, pmcid, bankcode, amount,
  discountamount, status, checksum`` (key2).
* Fail and Cancel send no callback (ZaloPay calls back only on success) and redirect with
  ``status`` ``2`` (failed; ZaloPay's generic FAIL code) and ``-49`` (cancelled by the user,
  the value integrators report seeing). The adapter reads any status but 1 as "not paid".
* ``POST /v2/query``, ``/v2/refund``, ``/v2/query_refund`` answer from the in-memory ledger:
  query 1 paid / 3 unpaid / 2 with sub_return_code -54 expired, -329 cancelled, -1 failed,
  -101 unknown order; refunds answer 3 (processing) and become 1 on the first query_refund.
  Bad macs answer return_code 2 with sub_return_code -402, missing fields -401, a reused
  app_trans_id -68.

Simplifications (documented, deliberate): the ``yymmdd`` prefix of app_trans_id is checked
for shape, not against today's date, and ``app_time`` freshness is not enforced, so tests may
use fixed dates; the ledger lives in one process's memory. The callback is sent from the
request that handles "Pay": a single-worker server calling itself will time out the callback
(tolerated), which is exactly the case the query path exists for.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

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

from adapters.zalopay import (
    ZalopayConfig,
    callback_mac,
    create_mac_data,
    epoch_ms,
    query_mac_data,
    query_refund_mac_data,
    redirect_checksum_data,
    refund_mac_data,
    sign,
    vietnam_yymmdd,
)

logger = logging.getLogger(__name__)

CALLBACK_TIMEOUT = 10.0
CALLBACK_RETRIES = 3  # "ZaloPay server will callback (at most 3 times)"
DEFAULT_EXPIRE_SECONDS = 900  # ZaloPay's default order validity: 15 minutes
PMCID_WALLET = "38"  # the channel of ZaloPay's own callback sample
STATUS_PAID = "1"
STATUS_FAILED = "2"
STATUS_CANCELLED = "-49"

_APP_TRANS_ID = re.compile(r"[0-9]{6}_[A-Za-z0-9_\-]{1,33}")

CREATE_FIELDS = (
    "app_id",
    "app_user",
    "app_trans_id",
    "app_time",
    "amount",
    "item",
    "embed_data",
    "description",
    "callback_url",
    "mac",
)


@dataclass
class SimOrder:
    """One order as ZaloPay would hold it."""

    app_trans_id: str
    app_user: str
    amount: int
    app_time: int
    embed_data: str
    item: str
    description: str
    callback_url: str
    token: str
    expires_at: datetime
    state: str = "unpaid"  # unpaid | paid | failed | cancelled
    zp_trans_id: int | None = None
    server_time: int | None = None
    refunded: int = 0
    callback_attempts: int = 0


@dataclass
class SimRefund:
    m_refund_id: str
    zp_trans_id: int
    amount: int
    refund_id: int
    state: str = "processing"  # processing | done


class Ledger:
    """Orders and refunds of one simulator, safe across the server's threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.orders: dict[str, SimOrder] = {}
        self.by_token: dict[str, str] = {}
        self.refunds: dict[str, SimRefund] = {}
        self._sequence = 0

    def next_number(self) -> int:
        """A per-simulator counter (call with the lock held)."""
        self._sequence += 1
        return self._sequence

    def order_for_token(self, token: str) -> SimOrder | None:
        trans_id = self.by_token.get(token)
        return self.orders.get(trans_id) if trans_id else None

    def order_for_zp_trans_id(self, zp_trans_id: int) -> SimOrder | None:
        for order in self.orders.values():
            if order.zp_trans_id == zp_trans_id:
                return order
        return None


def format_vnd(amount: int) -> str:
    """150000 → "150.000 ₫", the way Vietnamese pages write money."""
    return f"{amount:,}".replace(",", ".") + " ₫"


def callback_data(config: ZalopayConfig, order: SimOrder) -> str:
    """The callback's `data` string, compact and in the field order of ZaloPay's sample."""
    fields: dict[str, Any] = {
        "app_id": int(config.app_id) if config.app_id.isdigit() else config.app_id,
        "app_trans_id": order.app_trans_id,
        "app_time": order.app_time,
        "app_user": order.app_user,
        "amount": order.amount,
        "embed_data": order.embed_data,
        "item": order.item,
        "zp_trans_id": order.zp_trans_id,
        "server_time": order.server_time,
        "channel": int(PMCID_WALLET),
        "merchant_user_id": "sim_" + sign(config.key2, order.app_user)[:32],
        "user_fee_amount": 0,
        "discount_amount": 0,
    }
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def redirect_params(config: ZalopayConfig, order: SimOrder, status: str) -> dict[str, str]:
    """What ZaloPay appends to embed_data.redirecturl, with its key2 checksum."""
    params = {
        "appid": config.app_id,
        "apptransid": order.app_trans_id,
        "pmcid": PMCID_WALLET,
        "bankcode": "",
        "amount": str(order.amount),
        "discountamount": "0",
        "status": status,
    }
    params["checksum"] = sign(config.key2, redirect_checksum_data(*params.values()))
    return params


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _incoming_fields() -> dict[str, str]:
    """Form, JSON body or query string, as ZaloPay accepts all three; values as wire text."""
    fields: dict[str, str] = dict(request.args.items())
    fields.update(request.form.items())
    payload = request.get_json(silent=True) if request.is_json else None
    if isinstance(payload, dict):
        for key, value in payload.items():
            fields[str(key)] = value if isinstance(value, str) else json.dumps(value)
    return fields


def _refusal(sub_code: int, message: str, return_code: int = 2) -> Response:
    return jsonify(
        return_code=return_code,
        return_message="Giao dịch thất bại",
        sub_return_code=sub_code,
        sub_return_message=message,
    )


def _macs_match(expected: str, received: str) -> bool:
    return secrets.compare_digest(expected.encode(), received.strip().lower().encode())


def create_blueprint(
    config: ZalopayConfig, *, clock: Callable[[], datetime]
) -> Blueprint:
    """A fresh simulator (its own ledger) for one ZaloPay app;
    `clock` is the gateway's (tests freeze it)."""
    ledger = Ledger()
    now = clock
    bp = Blueprint("sim_zalopay", __name__)
    bp.ledger = ledger  # type: ignore[attr-defined]  # for tests and demos to inspect

    @bp.post("/v2/create")
    def create() -> Response:
        fields = _incoming_fields()
        missing = [name for name in CREATE_FIELDS if name not in fields]
        if missing or not fields["app_user"]:
            return _refusal(-401, f"thiếu tham số: {', '.join(missing) or 'app_user'}")
        if fields["app_id"] != config.app_id:
            return _refusal(-402, "app_id không hợp lệ")
        expected = sign(
            config.key1,
            create_mac_data(
                fields["app_id"],
                fields["app_trans_id"],
                fields["app_user"],
                fields["amount"],  # signed as received, as text, like ZaloPay
                fields["app_time"],
                fields["embed_data"],
                fields["item"],
            ),
        )
        if not _macs_match(expected, fields["mac"]):
            return _refusal(-402, "mac không hợp lệ")
        if not fields["amount"].isdigit() or int(fields["amount"]) <= 0:
            return _refusal(-401, "amount không hợp lệ")
        if not fields["app_time"].isdigit():
            return _refusal(-401, "app_time không hợp lệ")
        if not _APP_TRANS_ID.fullmatch(fields["app_trans_id"]):
            return _refusal(-401, "app_trans_id phải có dạng yymmdd_xxx")
        try:
            embed = json.loads(fields["embed_data"])
            items = json.loads(fields["item"])
        except ValueError:
            return _refusal(-401, "embed_data/item không phải JSON")
        if not isinstance(embed, dict) or not isinstance(items, list):
            return _refusal(-401, "embed_data phải là object, item phải là mảng")
        expire = fields.get("expire_duration_seconds", "") or str(DEFAULT_EXPIRE_SECONDS)
        if not expire.isdigit() or not 300 <= int(expire) <= 2_592_000:
            return _refusal(-401, "expire_duration_seconds ngoài khoảng 300..2592000")
        token = secrets.token_urlsafe(16)
        with ledger.lock:
            if fields["app_trans_id"] in ledger.orders:
                return _refusal(-68, "app_trans_id đã tồn tại")
            ledger.orders[fields["app_trans_id"]] = SimOrder(
                app_trans_id=fields["app_trans_id"],
                app_user=fields["app_user"],
                amount=int(fields["amount"]),
                app_time=int(fields["app_time"]),
                embed_data=fields["embed_data"],
                item=fields["item"],
                description=fields["description"],
                callback_url=fields["callback_url"],
                token=token,
                expires_at=now() + timedelta(seconds=int(expire)),
            )
            ledger.by_token[token] = fields["app_trans_id"]
        order_url = url_for(".pay_page", token=token, _external=True)
        logger.info("sim zalopay: order %s created", fields["app_trans_id"])
        return jsonify(
            return_code=1,
            return_message="Giao dịch thành công",
            sub_return_code=1,
            sub_return_message="Giao dịch thành công",
            zp_trans_token=token,
            order_url=order_url,
            order_token=token,
            qr_code=order_url,
        )

    @bp.get("/pay/<token>")
    def pay_page(token: str) -> str:
        with ledger.lock:
            order = ledger.order_for_token(token)
            if order is None:
                abort(404)
            expired = order.state == "unpaid" and now() >= order.expires_at
            view = {
                "order": order,
                "amount": format_vnd(order.amount),
                "expired": expired,
                "app_id": config.app_id,
            }
        return render_template_string(PAY_PAGE, **view)

    @bp.post("/pay/<token>")
    def pay_action(token: str) -> ResponseReturnValue:
        action = request.form.get("action", "")
        silent = request.form.get("no_callback") == "1"
        if action not in ("pay", "fail", "cancel"):
            abort(400)
        with ledger.lock:
            order = ledger.order_for_token(token)
            if order is None:
                abort(404)
            if order.state == "unpaid" and now() >= order.expires_at:
                return render_template_string(DONE_PAGE, message="Đơn hàng đã hết hạn."), 410
            just_paid = False
            if order.state == "unpaid":
                if action == "pay":
                    just_paid = True
                    order.state = "paid"
                    order.zp_trans_id = int(vietnam_yymmdd(now()) + f"{ledger.next_number():09d}")
                    order.server_time = epoch_ms(now())
                else:
                    order.state = "failed" if action == "fail" else "cancelled"
            state = order.state
            status = {
                "paid": STATUS_PAID,
                "failed": STATUS_FAILED,
                "cancelled": STATUS_CANCELLED,
            }[state]
            data = callback_data(config, order) if state == "paid" else None
            try:
                redirect_url = json.loads(order.embed_data).get("redirecturl")
            except (ValueError, AttributeError):
                redirect_url = None
            params = redirect_params(config, order, status)
        if data is not None and just_paid and not silent:
            _deliver_callback(config, ledger, order.app_trans_id, order.callback_url, data)
        if isinstance(redirect_url, str) and redirect_url:
            return redirect(_with_query(redirect_url, params), code=302)
        message = "Thanh toán thành công." if state == "paid" else "Giao dịch không thành công."
        return render_template_string(DONE_PAGE, message=message), 200

    @bp.post("/v2/query")
    def query() -> Response:
        fields = _incoming_fields()
        trans_id = fields.get("app_trans_id", "")
        if not trans_id or "mac" not in fields or fields.get("app_id") != config.app_id:
            return _refusal(-401, "thiếu tham số")
        expected = sign(config.key1, query_mac_data(config.app_id, trans_id, config.key1))
        if not _macs_match(expected, fields["mac"]):
            return _refusal(-402, "mac không hợp lệ")
        with ledger.lock:
            order = ledger.orders.get(trans_id)
            if order is None:
                return _refusal(-101, "không tìm thấy đơn hàng")
            if order.state == "paid":
                return jsonify(
                    return_code=1,
                    return_message="Giao dịch thành công",
                    sub_return_code=1,
                    sub_return_message="Giao dịch thành công",
                    is_processing=False,
                    amount=order.amount,
                    discount_amount=0,
                    zp_trans_id=order.zp_trans_id,
                    server_time=order.server_time,
                )
            if order.state == "cancelled":
                return _refusal(-329, "Người dùng huỷ giao dịch thanh toán")
            if order.state == "failed":
                return _refusal(-1, "Giao dịch thất bại (giả lập)")
            if now() >= order.expires_at:
                return _refusal(-54, "Giao dịch đã hết hạn")
        return jsonify(
            return_code=3,
            return_message="Giao dịch chưa thanh toán hoặc đang xử lý",
            sub_return_code=3,
            sub_return_message="Giao dịch chưa thanh toán hoặc đang xử lý",
            is_processing=False,
            amount=0,
            zp_trans_id=0,
        )

    @bp.post("/v2/refund")
    def refund() -> Response:
        fields = _incoming_fields()
        needed = ("app_id", "m_refund_id", "zp_trans_id", "amount", "timestamp", "mac")
        if any(not fields.get(name) for name in needed) or "description" not in fields:
            return _refusal(-401, "thiếu tham số")
        if fields["app_id"] != config.app_id:
            return _refusal(-402, "app_id không hợp lệ")
        fee = fields.get("refund_fee_amount")
        if not (fields["amount"].isdigit() and fields["timestamp"].isdigit()):
            return _refusal(-401, "amount/timestamp không hợp lệ")
        if fee is not None and not fee.isdigit():
            return _refusal(-401, "refund_fee_amount không hợp lệ")
        expected = sign(
            config.key1,
            refund_mac_data(
                config.app_id,
                fields["zp_trans_id"],
                int(fields["amount"]),
                fields["description"],
                int(fields["timestamp"]),
                int(fee) if fee is not None else None,
            ),
        )
        if not _macs_match(expected, fields["mac"]):
            return _refusal(-402, "mac không hợp lệ")
        refund_id_text = fields["m_refund_id"]
        if not re.fullmatch(rf"[0-9]{{6}}_{re.escape(config.app_id)}_.+", refund_id_text):
            return _refusal(-401, "m_refund_id phải có dạng yymmdd_appid_xxx")
        amount = int(fields["amount"])
        with ledger.lock:
            existing = ledger.refunds.get(refund_id_text)
            if existing is not None:
                return _refund_answer(existing)
            order = (
                ledger.order_for_zp_trans_id(int(fields["zp_trans_id"]))
                if fields["zp_trans_id"].isdigit()
                else None
            )
            if order is None or order.state != "paid":
                return _refusal(-101, "không tìm thấy giao dịch đã thanh toán")
            if amount <= 0 or order.refunded + amount > order.amount:
                return _refusal(-401, "số tiền hoàn vượt quá số tiền còn lại")
            order.refunded += amount
            record = SimRefund(
                m_refund_id=refund_id_text,
                zp_trans_id=int(fields["zp_trans_id"]),
                amount=amount,
                refund_id=ledger.next_number(),
            )
            ledger.refunds[refund_id_text] = record
            return _refund_answer(record)

    @bp.post("/v2/query_refund")
    def query_refund() -> Response:
        fields = _incoming_fields()
        refund_id_text = fields.get("m_refund_id", "")
        timestamp = fields.get("timestamp", "")
        if not refund_id_text or not timestamp.isdigit() or "mac" not in fields:
            return _refusal(-401, "thiếu tham số")
        if fields.get("app_id") != config.app_id:
            return _refusal(-402, "app_id không hợp lệ")
        expected = sign(
            config.key1, query_refund_mac_data(config.app_id, refund_id_text, int(timestamp))
        )
        if not _macs_match(expected, fields["mac"]):
            return _refusal(-402, "mac không hợp lệ")
        with ledger.lock:
            record = ledger.refunds.get(refund_id_text)
            if record is None:
                return _refusal(-101, "không tìm thấy yêu cầu hoàn tiền")
            record.state = "done"
            return _refund_answer(record)

    return bp


def _refund_answer(record: SimRefund) -> Response:
    if record.state == "done":
        return jsonify(
            return_code=1,
            return_message="Hoàn tiền thành công",
            sub_return_code=1,
            sub_return_message="Hoàn tiền thành công",
            refund_id=record.refund_id,
        )
    return jsonify(
        return_code=3,
        return_message="Giao dịch hoàn tiền đang xử lý",
        sub_return_code=3,
        sub_return_message="Giao dịch hoàn tiền đang xử lý",
        refund_id=record.refund_id,
    )


def _deliver_callback(
    config: ZalopayConfig, ledger: Ledger, trans_id: str, callback_url: str, data: str
) -> None:
    """POST the signed callback; re-send only when the merchant answers return_code 0.

    Failures (timeouts, refused connections, non-JSON answers) are logged and tolerated:
    the merchant is expected to query, as it must with the real ZaloPay.
    """
    body = {"data": data, "mac": callback_mac(config.key2, data), "type": 1}
    for attempt in range(1 + CALLBACK_RETRIES):
        with ledger.lock:
            ledger.orders[trans_id].callback_attempts += 1
        try:
            response = requests.post(callback_url, json=body, timeout=CALLBACK_TIMEOUT)
            answer = response.json()
        except (requests.RequestException, ValueError) as exc:
            logger.warning("sim zalopay: callback %s failed: %s", trans_id, type(exc).__name__)
            return
        code = answer.get("return_code") if isinstance(answer, dict) else None
        logger.info("sim zalopay: callback %s try %d -> %r", trans_id, attempt + 1, code)
        if code != 0:
            return


_STYLE = """
  body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
       background:#eef4ff;color:#1b1f24}
  main{max-width:26rem;margin:0 auto;padding:1.25rem}
  .card{background:#fff;border-radius:1rem;padding:1.25rem;box-shadow:0 2px 8px #0002}
  .brand{color:#0068ff;font-weight:700;font-size:1.1rem}
  .amount{font-size:2rem;font-weight:700;margin:.5rem 0}
  dl{margin:0}dt{color:#5a6372;font-size:.85rem;margin-top:.6rem}dd{margin:0;word-break:break-all}
  button{display:block;width:100%;padding:.9rem;margin-top:.75rem;border:0;border-radius:.6rem;
         font-size:1rem;font-weight:600;cursor:pointer}
  .pay{background:#0068ff;color:#fff}.fail{background:#ffe1e1;color:#a40000}
  .cancel{background:#eceff3;color:#1b1f24}
  label{display:flex;gap:.5rem;align-items:flex-start;margin-top:1rem;font-size:.9rem}
  .note{color:#5a6372;font-size:.8rem;margin-top:1rem}
"""

PAY_PAGE = (
    """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>ZaloPay (giả lập) – Thanh toán</title><style>"""
    + _STYLE
    + """</style></head>
<body><main><div class="card">
  <div class="brand">ZaloPay · cổng thanh toán giả lập</div>
  <div class="amount">{{ amount }}</div>
  <dl>
    <dt>Nội dung</dt><dd>{{ order.description }}</dd>
    <dt>Mã giao dịch (app_trans_id)</dt><dd>{{ order.app_trans_id }}</dd>
    <dt>Ứng dụng (app_id)</dt><dd>{{ app_id }}</dd>
  </dl>
  {% if expired %}
    <p><strong>Đơn hàng đã hết hạn.</strong></p>
  {% elif order.state != "unpaid" %}
    <p><strong>Đơn hàng đã được xử lý ({{ order.state }}).</strong></p>
  {% else %}
  <form method="post">
    <button class="pay" name="action" value="pay">Thanh toán</button>
    <button class="fail" name="action" value="fail">Giao dịch thất bại</button>
    <button class="cancel" name="action" value="cancel">Huỷ giao dịch</button>
    <label><input type="checkbox" name="no_callback" value="1">
      <span>Không gọi callback (mô phỏng callback bị mất, để thấy đường truy vấn
      <code>/v2/query</code>)</span></label>
  </form>
  {% endif %}
  <p class="note">Trang giả lập dùng cho thử nghiệm: không có tiền thật được chuyển.</p>
</div></main></body></html>"""
)

DONE_PAGE = (
    """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>ZaloPay (giả lập)</title><style>"""
    + _STYLE
    + """</style></head>
<body><main><div class="card"><div class="brand">ZaloPay · giả lập</div>
<p>{{ message }}</p></div></main></body></html>"""
)
