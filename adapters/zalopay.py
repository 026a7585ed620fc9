"""ZaloPay gateway v2: create an order, verify its callback and browser return, query, refund.

Everything signed here is `hex(HMAC-SHA256(key, fields joined by "|"))` (providers/README §3):

* create:        key1 over ``app_id|app_trans_id|app_user|amount|app_time|embed_data|item``
* callback:      key2 over the raw ``data`` string, exactly as received (trap 9: never re-serialise)
* redirect:      key2 over ``appid|apptransid|pmcid|bankcode|amount|discountamount|status``
* query:         key1 over ``app_id|app_trans_id|key1`` (the key itself ends the input)
* refund:        key1 over ``app_id|zp_trans_id|amount|description|timestamp``
                 (``refund_fee_amount`` goes after ``amount`` when sent; we never send it)
* query_refund:  key1 over ``app_id|m_refund_id|timestamp``

The pure functions below build those inputs so that the provider's published vectors can be
checked one by one; the adapter only wires them to HTTP.

Requests are sent ``application/x-www-form-urlencoded`` (ZaloPay accepts form or JSON; the
official quickstart sends form fields). A form has no number/string ambiguity: ``app_id`` is
"2553" on the wire and in the mac alike.

Codes, and why they map the way they do (ZaloPay docs "Status codes", the Node SDK's
``OrderQueryResponse`` model):

* ``return_code`` 1 SUCCESS, 2 FAIL, 3 PROCESSING (unpaid order or payment in progress).
* A ``sub_return_code`` of the request family (-401 illegal data, -402 illegal app/signature,
  -403, -405, -429 rate limit, -500 system error, -503/-999 maintenance), or a ``return_code``
  outside 1..3, means ZaloPay refused *the request*: it says nothing about the payment. A query
  answered that way raises `ProviderUnavailable` (never FAILED: a citizen who paid must not be
  failed because our mac or ZaloPay's rate limiter said no).
* ``/v2/query`` ``sub_return_code`` -101 is read as "order not found" → Outcome.UNKNOWN. ZaloPay
  documents -101 as *Order not found* for its query APIs (beta-docs disbursement query); the
  order-query page names no not-found code. UNKNOWN moves no money, so an imprecise reading is
  safe. -54 TIME_INVALID (the order expired unpaid) → FAILED; -329 "user cancelled" → CANCELLED.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from adapters._crypto import hmac_sha256_hex, same_hex
from adapters._http import post_form
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
    to_vietnam_time,
)
from adapters.errors import (
    InvalidSignature,
    MalformedMessage,
    ProviderRejected,
    ProviderUnavailable,
)

logger = logging.getLogger(__name__)

CREATE_PATH = "/v2/create"
QUERY_PATH = "/v2/query"
REFUND_PATH = "/v2/refund"
QUERY_REFUND_PATH = "/v2/query_refund"

MIN_AMOUNT = 1  # đồng; `amount` is an int64 of VND, any whole đồng above 0
MAX_AMOUNT = 50_000_000  # per order, as ZaloPay's acquirer documents it (docs/providers/zalopay.md)
MIN_EXPIRE_SECONDS = 300
MAX_EXPIRE_SECONDS = 2_592_000
MAX_APP_TRANS_ID = 40
MAX_DESCRIPTION = 256
CONNECT_TIMEOUT = 5.0

SUCCESS = 1
FAIL = 2
PROCESSING = 3

# sub_return_code values that describe the request, not the order (see module docstring).
REQUEST_AUTH_SUB_CODES = frozenset({-401, -402, -403, -405})
REQUEST_TRANSIENT_SUB_CODES = frozenset({-429, -500, -503, -999})
QUERY_NOT_FOUND_SUB_CODES = frozenset({-101})
QUERY_EXPIRED_SUB_CODES = frozenset({-54})
QUERY_CANCELLED_SUB_CODES = frozenset({-329})

ACK_SUCCESS: dict[str, Any] = {"return_code": 1, "return_message": "success"}
# ZaloPay's quickstart answers exactly this on a bad mac (vector zalopay.callback.sdk_*).
ACK_BAD_MAC: dict[str, Any] = {"return_code": -1, "return_message": "mac is not equal"}
# return_code 0: "ZaloPay server will callback (at most 3 times)" [ZLP-QS callback/index.js].
ACK_RETRY: dict[str, Any] = {"return_code": 0, "return_message": "retry"}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DIGITS = re.compile(r"-?[0-9]+")
_GROUPED_AMOUNT = re.compile(r"[0-9]{1,3}(?:[., ][0-9]{3})+")


@dataclass(frozen=True)
class ZalopayConfig:
    """One ZaloPay merchant app. `endpoint` is the base URL; the adapter appends /v2/…"""

    app_id: str
    key1: str
    key2: str
    endpoint: str  # e.g. https://sb-openapi.zalopay.vn, or a local simulator
    app_user: str = "feegate"
    timeout: float = 30.0

    def __post_init__(self) -> None:
        for name in ("app_id", "key1", "key2", "endpoint", "app_user"):
            if not getattr(self, name):
                raise ValueError(f"ZalopayConfig.{name} must not be empty")
        if not self.endpoint.startswith(("https://", "http://")):
            raise ValueError("ZalopayConfig.endpoint must be an http(s) base URL")
        if len(self.app_user) > 50:
            raise ValueError("ZaloPay limits app_user to 50 characters")


# ---------------------------------------------------------------------------------------------
# Pure functions: what is signed, and the identifiers ZaloPay wants. Checked against vectors.
# ---------------------------------------------------------------------------------------------


def sign(key: str, data: str) -> str:
    """Lowercase hex HMAC-SHA256, the only algorithm ZaloPay v2 uses by default."""
    return hmac_sha256_hex(key, data)


def epoch_ms(moment: datetime) -> int:
    """Unix time in milliseconds, exact integer arithmetic (no float rounding)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware datetime (UTC)")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_epoch_ms(ms: int) -> datetime:
    """The UTC moment of a ZaloPay millisecond timestamp (server_time, app_time)."""
    return _EPOCH + timedelta(milliseconds=ms)


def vietnam_yymmdd(now: datetime) -> str:
    """`yymmdd` of the Vietnam (GMT+7) calendar day, whatever the server's zone (trap 3)."""
    return to_vietnam_time(now).strftime("%y%m%d")


def app_trans_id(now: datetime, reference: str) -> str:
    """`yymmdd_reference`: ZaloPay requires the prefix to be today's date in Vietnam."""
    if not reference:
        raise ValueError("empty reference")
    value = f"{vietnam_yymmdd(now)}_{reference}"
    if len(value) > MAX_APP_TRANS_ID:
        raise ValueError(f"app_trans_id {value!r} is longer than {MAX_APP_TRANS_ID}")
    return value


def m_refund_id(now: datetime, app_id: str, refund_reference: str) -> str:
    """`yymmdd_appid_xxx` as ZaloPay documents it; yymmdd is the Vietnam date of `now`."""
    if not refund_reference:
        raise ValueError("empty refund reference")
    return f"{vietnam_yymmdd(now)}_{app_id}_{refund_reference}"


def item_json(items: Sequence[tuple[str, int]]) -> str:
    """The `item` field: a JSON array string, "[]" when there are no fee lines.

    ASCII-escaped on purpose: the string is signed, and `\\uXXXX` escapes leave no room for
    a UTF-8 versus Latin-1 disagreement between us and ZaloPay about which bytes were signed.
    """
    lines = [{"itemname": name, "itemprice": int(price)} for name, price in items]
    return json.dumps(lines, separators=(",", ":"), ensure_ascii=True)


def embed_data_json(return_url: str, payment_id: str = "") -> str:
    """The `embed_data` field: where ZaloPay sends the browser, plus our payment id.

    The payment id comes back inside the callback's `data`, which helps a human trace an
    order; it is never trusted for matching (app_trans_id is).
    """
    embed: dict[str, str] = {"redirecturl": return_url}
    if payment_id:
        embed["payment_id"] = payment_id
    return json.dumps(embed, separators=(",", ":"), ensure_ascii=True)


def expire_duration_seconds(now: datetime, expires_at: datetime) -> int:
    """Seconds until our expiry, clamped to what ZaloPay accepts (300 … 2,592,000)."""
    seconds = (expires_at - now) // timedelta(seconds=1)
    return max(MIN_EXPIRE_SECONDS, min(MAX_EXPIRE_SECONDS, seconds))


def create_mac_data(
    app_id: str | int,
    app_trans_id: str,
    app_user: str,
    amount: int | str,
    app_time: int | str,
    embed_data: str,
    item: str,
) -> str:
    """`app_id|app_trans_id|app_user|amount|app_time|embed_data|item` (signed with key1).

    Numbers may be given as the text that travelled on the wire: a verifier (the simulator)
    must sign exactly what it received, as ZaloPay does.
    """
    return "|".join(
        [str(app_id), app_trans_id, app_user, str(amount), str(app_time), embed_data, item]
    )


def callback_mac(key2: str, data: str) -> str:
    """The callback mac: key2 over the raw `data` string exactly as ZaloPay sent it."""
    return sign(key2, data)


def redirect_checksum_data(
    appid: str,
    apptransid: str,
    pmcid: str,
    bankcode: str,
    amount: str,
    discountamount: str,
    status: str,
) -> str:
    """`appid|apptransid|pmcid|bankcode|amount|discountamount|status` (signed with key2)."""
    return "|".join([appid, apptransid, pmcid, bankcode, amount, discountamount, status])


def query_mac_data(app_id: str | int, app_trans_id: str, key1: str) -> str:
    """`app_id|app_trans_id|key1`: the query input ends with the key itself (trap 9)."""
    return "|".join([str(app_id), app_trans_id, key1])


def refund_mac_data(
    app_id: str | int,
    zp_trans_id: str,
    amount: int,
    description: str,
    timestamp: int,
    refund_fee_amount: int | None = None,
) -> str:
    """`app_id|zp_trans_id|amount[|refund_fee_amount]|description|timestamp` (key1)."""
    parts = [str(app_id), zp_trans_id, str(amount)]
    if refund_fee_amount is not None:
        parts.append(str(refund_fee_amount))
    parts += [description, str(timestamp)]
    return "|".join(parts)


def query_refund_mac_data(app_id: str | int, m_refund_id: str, timestamp: int) -> str:
    """`app_id|m_refund_id|timestamp` (signed with key1)."""
    return "|".join([str(app_id), m_refund_id, str(timestamp)])


# ---------------------------------------------------------------------------------------------
# Small readers of ZaloPay answers: JSON numbers may also arrive as strings.
# ---------------------------------------------------------------------------------------------


def _as_int(value: object) -> int | None:
    """An integer from a JSON number or a string of digits; None for anything else.

    Floats are refused: money is whole đồng and a float in an amount field is a defect.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _as_text(value: object) -> str:
    return "" if value is None else str(value)


def _result_code(answer: Mapping[str, Any]) -> str:
    """`return_code` or `return_code/sub_return_code`: both matter to a human reading logs."""
    code = _as_int(answer.get("return_code"))
    sub = _as_int(answer.get("sub_return_code"))
    head = _as_text(answer.get("return_code")) if code is None else str(code)
    return head if sub is None else f"{head}/{sub}"


def _message(answer: Mapping[str, Any]) -> str:
    main = _as_text(answer.get("return_message"))
    sub = _as_text(answer.get("sub_return_message"))
    if sub and sub != main:
        return f"{main}: {sub}" if main else sub
    return main


def _is_request_error(answer: Mapping[str, Any]) -> bool:
    """True when ZaloPay refused the request itself, so the answer says nothing of the order."""
    code = _as_int(answer.get("return_code"))
    sub = _as_int(answer.get("sub_return_code"))
    if code not in (SUCCESS, FAIL, PROCESSING):
        return True
    return code == FAIL and sub in REQUEST_AUTH_SUB_CODES | REQUEST_TRANSIENT_SUB_CODES


def _is_transient(answer: Mapping[str, Any]) -> bool:
    codes = {_as_int(answer.get("return_code")), _as_int(answer.get("sub_return_code"))}
    return bool(codes & REQUEST_TRANSIENT_SUB_CODES)


# ---------------------------------------------------------------------------------------------
# The adapter
# ---------------------------------------------------------------------------------------------


class ZalopayAdapter(Adapter):
    """ZaloPay gateway v2 (order_url / QR, callback on success only, async refunds)."""

    name = "zalopay"
    min_amount = MIN_AMOUNT
    max_amount = MAX_AMOUNT

    def __init__(self, config: ZalopayConfig, *, session: requests.Session | None = None) -> None:
        self.config = config
        self._session = session

    # -- outbound -----------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.config.endpoint.rstrip("/") + path

    def _post(self, path: str, fields: Mapping[str, str]) -> dict[str, Any]:
        """POST a form; timeouts, refused connections, 5xx and non-JSON are ProviderUnavailable."""
        return post_form(
            self._url(path),
            fields,
            timeout=(min(CONNECT_TIMEOUT, self.config.timeout), self.config.timeout),
            session=self._session,
        )

    def create_fields(self, request: StartRequest) -> dict[str, str]:
        """The signed `/v2/create` form for one attempt (pure: no I/O)."""
        cfg = self.config
        if request.amount <= 0:
            raise ValueError("amount must be a positive number of đồng")
        trans_id = app_trans_id(request.now, request.reference)
        app_time = epoch_ms(request.now)
        embed = embed_data_json(request.return_url, request.payment_id)
        item = item_json(request.items)
        mac_data = create_mac_data(
            cfg.app_id, trans_id, cfg.app_user, request.amount, app_time, embed, item
        )
        mac = sign(cfg.key1, mac_data)
        return {
            "app_id": cfg.app_id,
            "app_user": cfg.app_user,
            "app_trans_id": trans_id,
            "app_time": str(app_time),
            "expire_duration_seconds": str(
                expire_duration_seconds(request.now, request.expires_at)
            ),
            "amount": str(request.amount),
            "item": item,
            "description": request.description[:MAX_DESCRIPTION],
            "embed_data": embed,
            "bank_code": "",
            "callback_url": request.notify_url,
            "mac": mac,
        }

    def start(self, request: StartRequest) -> StartResult:
        """Create the order at ZaloPay and send the citizen to its `order_url`.

        Transient refusals (-429 rate limit, -500/-503/-999) are ProviderUnavailable; every
        other refusal is final ProviderRejected, including -68 (app_trans_id already used:
        a retry of a create whose first answer was lost; its order_url cannot be recovered,
        so the caller starts a new attempt with a new reference).
        """
        fields = self.create_fields(request)
        trans_id = fields["app_trans_id"]
        answer = self._post(CREATE_PATH, fields)
        code = _as_int(answer.get("return_code"))
        if code != SUCCESS:
            logger.warning("zalopay create %s refused: %s", trans_id, _result_code(answer))
            if _is_transient(answer):
                raise ProviderUnavailable(f"zalopay create {_result_code(answer)}")
            sub = _as_int(answer.get("sub_return_code"))
            raise ProviderRejected(
                str(sub if sub is not None else answer.get("return_code")), _message(answer)
            )
        order_url = answer.get("order_url")
        if not isinstance(order_url, str) or not order_url:
            raise ProviderUnavailable("zalopay create answered success without order_url")
        qr_code = answer.get("qr_code")
        extra = {"app_trans_id": trans_id, "zp_trans_token": _as_text(answer.get("zp_trans_token"))}
        logger.info("zalopay create %s -> order_url", trans_id)
        return StartResult(
            provider_reference=trans_id,
            redirect_url=order_url,
            qr_payload=qr_code if isinstance(qr_code, str) and qr_code else None,
            extra=extra,
        )

    def query_fields(self, app_trans_id_: str) -> dict[str, str]:
        cfg = self.config
        return {
            "app_id": cfg.app_id,
            "app_trans_id": app_trans_id_,
            "mac": sign(cfg.key1, query_mac_data(cfg.app_id, app_trans_id_, cfg.key1)),
        }

    def query(self, request: QueryRequest) -> ProviderResult:
        """Ask `/v2/query`: 1 paid, 2 failed, 3 (or is_processing) pending; see module docs.

        The answer carries no signature: it is trusted as an answer to our own TLS request.
        """
        reference = request.provider_reference
        answer = self._post(QUERY_PATH, self.query_fields(reference))
        result_code = _result_code(answer)
        if _is_request_error(answer):
            logger.warning("zalopay query %s refused: %s", reference, result_code)
            raise ProviderUnavailable(f"zalopay query {reference} refused: {result_code}")
        code = _as_int(answer.get("return_code"))
        sub = _as_int(answer.get("sub_return_code"))
        if code == SUCCESS:
            outcome = Outcome.SUCCEEDED
        elif code == PROCESSING or answer.get("is_processing") is True:
            outcome = Outcome.PENDING
        elif sub in QUERY_NOT_FOUND_SUB_CODES:
            outcome = Outcome.UNKNOWN
        elif sub in QUERY_CANCELLED_SUB_CODES:
            outcome = Outcome.CANCELLED
        else:
            # QUERY_EXPIRED_SUB_CODES (-54, expired unpaid) land here, with every other decline.
            outcome = Outcome.FAILED
        zp_trans_id = _as_int(answer.get("zp_trans_id"))
        server_time = _as_int(answer.get("server_time"))
        amount = _as_int(answer.get("amount"))
        if outcome is not Outcome.SUCCEEDED and not amount:
            amount = None  # an unpaid order answers amount 0: that states nothing
        logger.info("zalopay query %s -> %s (%s)", reference, outcome, result_code)
        return ProviderResult(
            provider_reference=reference,
            outcome=outcome,
            amount=amount,
            result_code=result_code,
            message=_message(answer),
            provider_txn_id=str(zp_trans_id) if zp_trans_id else None,
            paid_at=(
                from_epoch_ms(server_time) if server_time and outcome is Outcome.SUCCEEDED else None
            ),
        )

    def refund_fields(self, request: RefundRequest) -> dict[str, str]:
        """The signed `/v2/refund` form.

        `m_refund_id` is reused from `request.extra["m_refund_id"]` when the caller retries a
        refund whose first answer was lost: ZaloPay deduplicates by m_refund_id, and a fresh
        one (a new Vietnam day) would refund twice.
        """
        cfg = self.config
        zp_trans_id = request.provider_txn_id or request.extra.get("zp_trans_id")
        if not zp_trans_id:
            raise ProviderRejected(
                "missing_zp_trans_id", "ZaloPay refunds need the paid order's zp_trans_id"
            )
        if request.amount <= 0:
            raise ValueError("refund amount must be a positive number of đồng")
        refund_id = request.extra.get("m_refund_id") or m_refund_id(
            request.requested_at or request.now, cfg.app_id, request.refund_reference
        )
        timestamp = epoch_ms(request.now)
        description = request.reason or f"Hoan tien {request.refund_reference}"
        mac = sign(
            cfg.key1,
            refund_mac_data(cfg.app_id, zp_trans_id, request.amount, description, timestamp),
        )
        return {
            "app_id": cfg.app_id,
            "m_refund_id": refund_id,
            "zp_trans_id": zp_trans_id,
            "amount": str(request.amount),
            "timestamp": str(timestamp),
            "description": description,
            "mac": mac,
        }

    def refund(self, request: RefundRequest) -> RefundResult:
        """Ask `/v2/refund`. Asynchronous: 1 done, 3 processing (follow with query_refund).

        A transient refusal (-429/-500/-503/-999) is PENDING, not FAILED: ZaloPay may have
        registered the refund, and query_refund on the same m_refund_id tells. Refusals of
        the request itself (-401 bad data, -402 bad mac, …) are FAILED: nothing was refunded.
        """
        fields = self.refund_fields(request)
        refund_id = fields["m_refund_id"]
        answer = self._post(REFUND_PATH, fields)
        outcome = self._refund_outcome(answer, transient=RefundOutcome.PENDING)
        if outcome is None:
            outcome = RefundOutcome.FAILED
        zp_refund_id = _as_int(answer.get("refund_id"))
        logger.info("zalopay refund %s -> %s (%s)", refund_id, outcome, _result_code(answer))
        return RefundResult(
            outcome=outcome,
            result_code=_result_code(answer),
            message=_message(answer),
            provider_refund_id=str(zp_refund_id) if zp_refund_id else None,
            extra={"m_refund_id": refund_id},
        )

    def query_refund_fields(self, refund_id: str, now: datetime) -> dict[str, str]:
        cfg = self.config
        timestamp = epoch_ms(now)
        return {
            "app_id": cfg.app_id,
            "m_refund_id": refund_id,
            "timestamp": str(timestamp),
            "mac": sign(cfg.key1, query_refund_mac_data(cfg.app_id, refund_id, timestamp)),
        }

    def query_refund(self, request: RefundRequest, previous: RefundResult) -> RefundResult:
        """Ask `/v2/query_refund` for the m_refund_id the refund call used.

        A refused query (bad mac, rate limit, maintenance) raises ProviderUnavailable: it
        must never turn a refund that may have been paid out into FAILED.
        """
        refund_id = previous.extra.get("m_refund_id") or request.extra.get("m_refund_id")
        if not refund_id and request.requested_at is not None:
            # The refund call's answer was lost: its id is derived from when it was asked.
            refund_id = m_refund_id(
                request.requested_at, self.config.app_id, request.refund_reference
            )
        if not refund_id:
            raise MalformedMessage("no m_refund_id to query: pass the refund result's extra")
        answer = self._post(QUERY_REFUND_PATH, self.query_refund_fields(refund_id, request.now))
        outcome = self._refund_outcome(answer, transient=None)
        if outcome is None:
            logger.warning("zalopay query_refund %s refused: %s", refund_id, _result_code(answer))
            raise ProviderUnavailable(
                f"zalopay query_refund {refund_id} refused: {_result_code(answer)}"
            )
        logger.info("zalopay query_refund %s -> %s", refund_id, outcome)
        return RefundResult(
            outcome=outcome,
            result_code=_result_code(answer),
            message=_message(answer),
            provider_refund_id=previous.provider_refund_id,
            extra={"m_refund_id": refund_id},
        )

    @staticmethod
    def _refund_outcome(
        answer: Mapping[str, Any], *, transient: RefundOutcome | None
    ) -> RefundOutcome | None:
        """1/2/3 → SUCCEEDED/FAILED/PENDING; a refused request → `transient` or None."""
        if _is_request_error(answer):
            return transient if _is_transient(answer) else None
        code = _as_int(answer.get("return_code"))
        if code == SUCCESS:
            return RefundOutcome.SUCCEEDED
        if code == PROCESSING:
            return RefundOutcome.PENDING
        return RefundOutcome.FAILED

    # -- inbound ------------------------------------------------------------------------------

    def parse_callback(self, request: InboundRequest) -> ProviderResult:
        """Verify ZaloPay's `{"data": "<json string>", "mac": "...", "type": 1}` callback.

        The mac is checked over the `data` string exactly as received: JSON-decoding the
        outer body yields the very characters ZaloPay signed, while re-serialising the parsed
        `data` would change spacing and key order (trap 9). ZaloPay calls back only for
        successful payments, so a verified callback is SUCCEEDED.
        """
        data, received_mac, kind = self._callback_envelope(request)
        if not same_hex(callback_mac(self.config.key2, data), received_mac):
            raise InvalidSignature("zalopay callback mac does not verify")
        if kind is not None and _as_int(kind) != 1:
            raise MalformedMessage(f"zalopay callback type {kind!r} is not an order payment")
        try:
            fields = json.loads(data)
        except ValueError as exc:
            raise MalformedMessage("zalopay callback data is not JSON") from exc
        if not isinstance(fields, dict):
            raise MalformedMessage("zalopay callback data is not a JSON object")
        if _as_text(fields.get("app_id")) != self.config.app_id:
            raise MalformedMessage(f"zalopay callback for app_id {fields.get('app_id')!r}")
        trans_id = fields.get("app_trans_id")
        amount = _as_int(fields.get("amount"))
        zp_trans_id = _as_int(fields.get("zp_trans_id"))
        server_time = _as_int(fields.get("server_time"))
        if not isinstance(trans_id, str) or not trans_id or amount is None or zp_trans_id is None:
            raise MalformedMessage("zalopay callback lacks app_trans_id, amount or zp_trans_id")
        logger.info("zalopay callback %s verified, amount %s", trans_id, amount)
        return ProviderResult(
            provider_reference=trans_id,
            outcome=Outcome.SUCCEEDED,
            amount=amount,
            result_code="1",
            message="callback",
            provider_txn_id=str(zp_trans_id),
            paid_at=from_epoch_ms(server_time) if server_time is not None else None,
        )

    @staticmethod
    def _callback_envelope(request: InboundRequest) -> tuple[str, str, object]:
        """(data, mac, type) from a JSON body, or from form fields as a fallback."""
        envelope: Mapping[str, Any]
        if request.body.strip():
            try:
                decoded = json.loads(request.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                if "data" not in request.form:
                    raise MalformedMessage("zalopay callback body is not JSON") from exc
                decoded = request.form
            if not isinstance(decoded, Mapping):
                raise MalformedMessage("zalopay callback body is not a JSON object")
            envelope = decoded
        else:
            envelope = request.form
        data = envelope.get("data")
        received_mac = envelope.get("mac")
        if not isinstance(data, str) or not isinstance(received_mac, str) or not received_mac:
            raise MalformedMessage("zalopay callback without data or mac")
        return data, received_mac, envelope.get("type")

    def parse_return(self, request: InboundRequest) -> ProviderResult:
        """Verify the browser redirect's checksum; status 1 → SUCCEEDED, anything else FAILED.

        Display only: ZaloPay's callback or a query decides money.
        """
        q = request.query
        names = ("appid", "apptransid", "pmcid", "bankcode", "amount", "discountamount", "status")
        if "checksum" not in q or "apptransid" not in q or "status" not in q:
            raise MalformedMessage("zalopay return without apptransid, status or checksum")
        values = [q.get(name, "") for name in names]
        expected = sign(self.config.key2, redirect_checksum_data(*values))
        if not same_hex(expected, q.get("checksum")):
            raise InvalidSignature("zalopay return checksum does not verify")
        if q.get("appid", "") != self.config.app_id:
            raise MalformedMessage(f"zalopay return for appid {q.get('appid')!r}")
        status = q["status"]
        return ProviderResult(
            provider_reference=q["apptransid"],
            outcome=Outcome.SUCCEEDED if status.strip() == "1" else Outcome.FAILED,
            amount=_as_int(q.get("amount")),
            result_code=status,
            message="browser return",
        )

    def return_reference(self, request: InboundRequest) -> str | None:
        return request.query.get("apptransid") or None

    def callback_reference(self, request: InboundRequest) -> str | None:
        """The callback data's `app_trans_id`, unverified (it only finds the attempt's account)."""
        try:
            data, _, _ = self._callback_envelope(request)
            fields = json.loads(data)
        except (MalformedMessage, ValueError):
            return None
        ref = fields.get("app_trans_id") if isinstance(fields, dict) else None
        return ref if isinstance(ref, str) and ref else None

    def acknowledge(self, ack: Ack) -> AckResponse:
        """ZaloPay reads the JSON `return_code`: 1 received, 0 send again, -1 bad mac.

        Every authentic callback gets 1, even for an unknown order or a wrong amount: a
        resend cannot fix those, and staff see them flagged. Only a fault of ours asks for
        a resend (ZaloPay retries at most 3 times).
        """
        if ack in (Ack.INVALID_SIGNATURE, Ack.MALFORMED):
            body = ACK_BAD_MAC
        elif ack is Ack.RETRY:
            body = ACK_RETRY
        else:
            body = ACK_SUCCESS
        return AckResponse(
            status=200,
            body=json.dumps(body, separators=(",", ":")).encode("utf-8"),
            content_type="application/json",
        )

    # -- statements ---------------------------------------------------------------------------

    def parse_statement_line(self, row: Mapping[str, Any]) -> StatementLine:
        """Map one row of a ZaloPay transaction export.

        Assumed columns (ZaloPay's merchant-tool export was not available to check; rename
        at import if it differs): `app_trans_id`, `zp_trans_id`, `amount` (đồng: an integer,
        a whole-number spreadsheet float, or digits grouped as "150.000"), `server_time`
        (unix ms, or an aware datetime / ISO 8601 text), optional `kind` ("payment" |
        "refund"; a negative amount also means refund).
        """
        reference = _as_text(row.get("app_trans_id")).strip()
        if not reference:
            raise MalformedMessage("statement row without app_trans_id")
        amount = _statement_amount(row.get("amount"))
        kind = _as_text(row.get("kind")).strip().lower() or "payment"
        if amount < 0:
            kind, amount = "refund", -amount
        if kind not in ("payment", "refund"):
            raise MalformedMessage(f"statement row kind {kind!r}")
        txn = _as_text(row.get("zp_trans_id")).strip()
        return StatementLine(
            provider_reference=reference,
            amount=amount,
            provider_txn_id=txn or None,
            occurred_at=_statement_time(row.get("server_time")),
            kind=kind,
        )


def _statement_amount(value: object) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    number = _as_int(value)
    if number is not None:
        return number
    if isinstance(value, str) and _GROUPED_AMOUNT.fullmatch(value.strip()):
        return int(re.sub(r"[., ]", "", value.strip()))
    raise MalformedMessage(f"statement amount {value!r} is not whole đồng")


def _statement_time(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise MalformedMessage("statement time without a zone")
        return value.astimezone(UTC)
    ms = _as_int(value)
    if ms is not None:
        return from_epoch_ms(ms)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise MalformedMessage(f"statement time {value!r}") from exc
        if moment.tzinfo is None:
            raise MalformedMessage("statement time without a zone")
        return moment.astimezone(UTC)
    raise MalformedMessage(f"statement time {value!r}")
