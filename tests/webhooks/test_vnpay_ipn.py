"""VNPay's IPN checklist through the real route `GET /webhooks/vnpay`, over real HTTP.

Every IPN here is signed exactly as VNPay signs it: the simulator's `return_params` (which
signs with the adapter's `sign_params`, pinned to VNPay's own vectors) over the fields of
an attempt started through the API, and sent as VNPay sends it (GET, PHP `urlencode`d query).
Each answer code has its own test; each proves what changed in the database and what did not.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from adapters.base import InboundRequest, Outcome
from adapters.vnpay import (
    VnpayAdapter,
    VnpayConfig,
    format_vnpay_date,
    hash_data,
    outcome_of,
    parse_vnpay_date,
    sign_params,
)
from payments.config import VnpaySettings
from payments.models import Attempt, Outbox, Payment, PaymentEvent, ProviderCallback
from payments.services.gateway import Gateway
from simulators.vnpay import SimTransaction, return_params
from tests.factories import ApiClient, create_payment, make_api_client, start_attempt

TMN = "TESTTMN1"
SECRET = "FEEGATEVNPAYTESTHASHSECRET000001"
AMOUNT = 150_000
TRANSACTION_NO = "14422601"


def vnpay_settings(port: int) -> VnpaySettings:
    base = f"http://127.0.0.1:{port}/_sim/vnpay"
    return VnpaySettings(
        tmn_code=TMN,
        hash_secret=SECRET,
        pay_url=f"{base}/paymentv2/vpcpay.html",
        api_url=f"{base}/merchant_webapi/api/transaction",
    )


@pytest.fixture
def settings_overrides(port: int) -> dict[str, Any]:
    return {"simulators": True, "vnpay": vnpay_settings(port)}


# --- helpers (also used by test_vnpay_return.py and test_vnpay_flow.py) -------------------


def vnpay_config(gw: Gateway) -> VnpayConfig:
    account = gw.settings.vnpay
    assert account is not None
    return VnpayConfig(tmn_code=account.tmn_code, hash_secret=account.hash_secret,
                       pay_url=account.pay_url, api_url=account.api_url)


def query_params(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True))


@dataclass(frozen=True)
class Started:
    client: ApiClient
    payment_id: str
    attempt: dict[str, Any]

    @property
    def pay_params(self) -> dict[str, str]:
        """The signed params of the pay URL feegate sent the citizen to."""
        return query_params(self.attempt["redirect_url"])

    @property
    def txn_ref(self) -> str:
        return str(self.attempt["provider_reference"])


def start_vnpay(http: FlaskClient, gw: Gateway, *, client: ApiClient | None = None,
                reference: str = "000.00.01.H32-261126-0001") -> Started:
    """A payment created and a VNPay attempt started through the portal API."""
    client = client or make_api_client(gw)
    payment = create_payment(http, client, reference=reference, amount=AMOUNT)
    attempt = start_attempt(http, client, payment["id"], "vnpay")
    assert attempt["status"] == "pending"
    assert attempt["redirect_url"].startswith(vnpay_config(gw).pay_url + "?")
    return Started(client, payment["id"], attempt)


def vnpay_params(gw: Gateway, started: Started, *, code: str = "00", status: str = "00",
                 amount: int | None = None, txn_ref: str | None = None,
                 pay_date: datetime | None = None) -> dict[str, str]:
    """What VNPay appends to the IPN (and the return URL) for this attempt, signed as VNPay
    signs it: the simulator builds it from the pay URL's own fields."""
    pay = started.pay_params
    txn = SimTransaction(
        txn_ref=txn_ref or pay["vnp_TxnRef"],
        amount=int(pay["vnp_Amount"]) if amount is None else amount * 100,
        order_info=pay["vnp_OrderInfo"],
        create_date=pay["vnp_CreateDate"],
        return_url=pay["vnp_ReturnUrl"],
        status=status,
        response_code=code,
        transaction_no="0" if code == "24" else TRANSACTION_NO,
        bank_code="NCB",
        pay_date=format_vnpay_date(pay_date or gw.now()),
    )
    return return_params(vnpay_config(gw), txn)


def resign(params: dict[str, str], secret: str = SECRET) -> dict[str, str]:
    unsigned = {key: value for key, value in params.items() if key != "vnp_SecureHash"}
    return {**unsigned, "vnp_SecureHash": sign_params(unsigned, secret)}


def wire_query(params: dict[str, str]) -> str:
    """The query string exactly as VNPay sends it: PHP-urlencoded, sorted, hash last."""
    query = hash_data(params)
    if "vnp_SecureHash" in params:
        query += "&vnp_SecureHash=" + urllib.parse.quote_plus(params["vnp_SecureHash"])
    return query


def send_ipn(gw: Gateway, params: dict[str, str]) -> requests.Response:
    return requests.get(gw.settings.url("/webhooks/vnpay") + "?" + wire_query(params),
                        timeout=30)


def rsp_code(response: requests.Response) -> str:
    """VNPay's answer: always HTTP 200, JSON with exactly RspCode and Message."""
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"RspCode", "Message"}
    assert isinstance(body["Message"], str) and body["Message"]
    return str(body["RspCode"])


def state(gw: Gateway, payment_id: str) -> dict[str, Any]:
    """Everything money-related about one payment, to compare before and after."""
    with gw.sessions() as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        attempts = session.scalars(
            select(Attempt).where(Attempt.payment_id == payment_id).order_by(Attempt.created_at)
        ).all()
        events = session.scalars(
            select(PaymentEvent).where(PaymentEvent.payment_id == payment_id)
            .order_by(PaymentEvent.id)
        ).all()
        outbox = session.scalars(
            select(Outbox).where(Outbox.payment_id == payment_id).order_by(Outbox.created_at)
        ).all()
        return {
            "status": payment.status,
            "paid_at": payment.paid_at,
            "paid_provider": payment.paid_provider,
            "flags": list(payment.flags or []),
            "needs_review": payment.needs_review,
            "updated_at": payment.updated_at,
            "attempts": [
                {"status": a.status, "result_code": a.result_code,
                 "result_message": a.result_message, "provider_txn_id": a.provider_txn_id,
                 "paid_at": a.paid_at, "completed_at": a.completed_at,
                 "updated_at": a.updated_at}
                for a in attempts
            ],
            "events": [(e.kind, e.from_status, e.to_status, e.source) for e in events],
            "outbox": [o.type for o in outbox],
        }


def callbacks(gw: Gateway, kind: str = "ipn") -> list[ProviderCallback]:
    with gw.sessions() as session:
        return list(session.scalars(
            select(ProviderCallback).where(ProviderCallback.provider == "vnpay",
                                           ProviderCallback.kind == kind)
            .order_by(ProviderCallback.id)
        ).all())


def transitions(snapshot: dict[str, Any]) -> list[tuple[str, str | None, str | None, str]]:
    return [event for event in snapshot["events"] if event[0] == "attempt.status"]


# --- 97: bad checksum -----------------------------------------------------------------------


def _tampered(gw: Gateway, started: Started, how: str) -> dict[str, str]:
    params = vnpay_params(gw, started)
    if how == "amount":
        params["vnp_Amount"] = str(int(params["vnp_Amount"]) - 100_00)
    elif how == "response_code":
        params = vnpay_params(gw, started, code="51", status="02")
        params["vnp_ResponseCode"] = "00"
        params["vnp_TransactionStatus"] = "00"
    elif how == "txn_ref":
        params["vnp_TxnRef"] = "FGOTHERORDER0001"
    elif how == "hash":
        params["vnp_SecureHash"] = params["vnp_SecureHash"][:-4] + "0000"
    elif how == "other_secret":
        params = resign(params, secret="NOT-THE-MERCHANT-SECRET")
    elif how == "no_hash":
        del params["vnp_SecureHash"]
    elif how == "bank_code":
        params["vnp_BankCode"] = "VIETCOMBANK"
    return params


@pytest.mark.parametrize(
    "how",
    ["amount", "response_code", "txn_ref", "hash", "other_secret", "no_hash", "bank_code"],
)
def test_97_a_bad_checksum_touches_nothing_but_the_stored_raw_callback(
    http: FlaskClient, gw: Gateway, how: str
) -> None:
    started = start_vnpay(http, gw)
    before = state(gw, started.payment_id)
    params = _tampered(gw, started, how)

    response = send_ipn(gw, params)

    assert rsp_code(response) == "97"
    assert json.loads(response.content)["Message"] == "Invalid signature"
    assert state(gw, started.payment_id) == before
    [row] = callbacks(gw)
    assert row.method == "GET"
    assert row.query_string == wire_query(params)  # the raw message, byte for byte
    assert row.verified is False
    assert row.outcome == "invalid_signature"
    assert row.attempt_id is None


def test_97_an_empty_ipn_is_refused_and_stored(http: FlaskClient, gw: Gateway) -> None:
    response = requests.get(gw.settings.url("/webhooks/vnpay"), timeout=30)
    assert rsp_code(response) == "97"
    [row] = callbacks(gw)
    assert row.verified is False


# --- 01: unknown order ----------------------------------------------------------------------


def test_01_a_valid_ipn_for_an_order_we_never_made(http: FlaskClient, gw: Gateway) -> None:
    started = start_vnpay(http, gw)
    before = state(gw, started.payment_id)
    params = vnpay_params(gw, started, txn_ref="FGNOSUCHORDER0001")

    response = send_ipn(gw, params)

    assert rsp_code(response) == "01"
    assert json.loads(response.content)["Message"] == "Order not found"
    assert state(gw, started.payment_id) == before
    [row] = callbacks(gw)
    assert (row.verified, row.outcome, row.provider_reference) == (
        True, "unknown_order", "FGNOSUCHORDER0001")


# --- 04: amount differs ---------------------------------------------------------------------


def test_04_a_success_for_another_amount_is_never_paid(http: FlaskClient, gw: Gateway) -> None:
    started = start_vnpay(http, gw)
    params = vnpay_params(gw, started, amount=AMOUNT - 1_000)

    response = send_ipn(gw, params)

    assert rsp_code(response) == "04"
    assert json.loads(response.content)["Message"] == "invalid amount"
    after = state(gw, started.payment_id)
    assert after["status"] == "pending"
    assert after["paid_at"] is None
    assert after["attempts"][0]["status"] == "pending"
    assert transitions(after) == []
    assert after["outbox"] == []
    assert ("attempt.amount_mismatch", None, None, "ipn") in after["events"]
    assert "amount_mismatch" in after["flags"] and after["needs_review"]
    [row] = callbacks(gw)
    assert (row.verified, row.outcome) == (True, "amount_mismatch")


def test_04_then_the_right_amount_is_still_recorded(http: FlaskClient, gw: Gateway) -> None:
    started = start_vnpay(http, gw)
    assert rsp_code(send_ipn(gw, vnpay_params(gw, started, amount=AMOUNT * 10))) == "04"
    assert rsp_code(send_ipn(gw, vnpay_params(gw, started))) == "00"
    assert state(gw, started.payment_id)["status"] == "succeeded"


# --- 00: recorded, for a paid and for a failed transaction ----------------------------------


def test_00_a_paid_transaction_is_recorded(http: FlaskClient, gw: Gateway) -> None:
    started = start_vnpay(http, gw)
    pay_date = gw.now().replace(microsecond=0)
    params = vnpay_params(gw, started, pay_date=pay_date)

    response = send_ipn(gw, params)

    assert rsp_code(response) == "00"
    assert json.loads(response.content)["Message"] == "Confirm Success"
    after = state(gw, started.payment_id)
    assert after["status"] == "succeeded"
    assert after["paid_provider"] == "vnpay"
    assert after["paid_at"] == pay_date == parse_vnpay_date(params["vnp_PayDate"])
    [attempt] = after["attempts"]
    assert attempt["status"] == "succeeded"
    assert attempt["result_code"] == "00"
    assert attempt["provider_txn_id"] == TRANSACTION_NO
    assert transitions(after) == [("attempt.status", "pending", "succeeded", "ipn")]
    assert after["outbox"] == ["payment.succeeded"]
    [row] = callbacks(gw)
    assert (row.verified, row.outcome, row.provider_reference) == (
        True, "recorded", started.txn_ref)

    shown = http.get(f"/api/v1/payments/{started.payment_id}", headers=started.client.headers)
    assert shown.get_json()["status"] == "succeeded"
    assert shown.get_json()["attempts"][0]["provider_transaction_id"] == TRANSACTION_NO


def test_00_a_declined_transaction_is_recorded_as_failed(
    http: FlaskClient, gw: Gateway
) -> None:
    started = start_vnpay(http, gw)

    response = send_ipn(gw, vnpay_params(gw, started, code="51", status="02"))

    assert rsp_code(response) == "00"
    after = state(gw, started.payment_id)
    [attempt] = after["attempts"]
    assert attempt["status"] == "failed"
    assert attempt["result_code"] == "51"
    assert attempt["result_message"] == "Giao dịch không thành công: tài khoản không đủ số dư"
    assert attempt["paid_at"] is None
    assert after["status"] == "failed"
    assert after["paid_at"] is None
    assert transitions(after) == [("attempt.status", "pending", "failed", "ipn")]
    assert after["outbox"] == ["payment.failed"]


def test_00_a_cancelled_transaction_cancels_the_attempt(http: FlaskClient, gw: Gateway) -> None:
    started = start_vnpay(http, gw)

    response = send_ipn(gw, vnpay_params(gw, started, code="24", status="02"))

    assert rsp_code(response) == "00"
    after = state(gw, started.payment_id)
    assert after["attempts"][0]["status"] == "cancelled"
    assert after["attempts"][0]["result_code"] == "24"
    assert after["attempts"][0]["provider_txn_id"] is None  # VNPay sends "0" for a cancel
    assert after["status"] == "failed"  # nothing paid, nothing pending: the portal hears it
    assert after["outbox"] == ["payment.failed"]


@pytest.mark.parametrize(("code", "status"), [("00", "02"), ("00", "01"), ("99", "00"),
                                              ("42", "02"), ("11", "02")])
def test_00_anything_but_00_00_is_recorded_as_a_failure_never_a_success(
    http: FlaskClient, gw: Gateway, code: str, status: str
) -> None:
    started = start_vnpay(http, gw)
    assert rsp_code(send_ipn(gw, vnpay_params(gw, started, code=code, status=status))) == "00"
    after = state(gw, started.payment_id)
    assert after["attempts"][0]["status"] == "failed"
    assert after["status"] == "failed"
    assert "payment.succeeded" not in after["outbox"]


def test_00_a_failed_payment_can_still_be_paid_with_a_new_attempt(
    http: FlaskClient, gw: Gateway
) -> None:
    first = start_vnpay(http, gw)
    assert rsp_code(send_ipn(gw, vnpay_params(gw, first, code="51", status="02"))) == "00"
    again = start_attempt(http, first.client, first.payment_id, "vnpay")
    second = Started(first.client, first.payment_id, again)
    assert second.txn_ref != first.txn_ref
    assert rsp_code(send_ipn(gw, vnpay_params(gw, second))) == "00"
    after = state(gw, first.payment_id)
    assert after["status"] == "succeeded"
    assert [a["status"] for a in after["attempts"]] == ["failed", "succeeded"]
    assert after["outbox"] == ["payment.failed", "payment.succeeded"]


# --- 02: already confirmed ------------------------------------------------------------------


def test_02_the_same_paid_ipn_again_is_already_confirmed(http: FlaskClient, gw: Gateway) -> None:
    started = start_vnpay(http, gw)
    params = vnpay_params(gw, started)
    assert rsp_code(send_ipn(gw, params)) == "00"
    once = state(gw, started.payment_id)

    response = send_ipn(gw, params)

    assert rsp_code(response) == "02"
    assert json.loads(response.content)["Message"] == "Order already confirmed"
    assert state(gw, started.payment_id) == once
    assert [row.outcome for row in callbacks(gw)] == ["recorded", "already_confirmed"]


@pytest.mark.parametrize(("first", "then"), [
    (("00", "00"), ("51", "02")),  # a failure after the success changes nothing
    (("51", "02"), ("51", "02")),
    (("24", "02"), ("51", "02")),
])
def test_02_any_ipn_for_an_order_no_longer_pending(
    http: FlaskClient, gw: Gateway, first: tuple[str, str], then: tuple[str, str]
) -> None:
    started = start_vnpay(http, gw)
    assert rsp_code(send_ipn(gw, vnpay_params(gw, started, code=first[0], status=first[1]))) == "00"
    once = state(gw, started.payment_id)
    assert rsp_code(send_ipn(gw, vnpay_params(gw, started, code=then[0], status=then[1]))) == "02"
    assert state(gw, started.payment_id) == once


def test_a_success_after_a_recorded_failure_is_money_taken_so_it_is_recorded_and_flagged(
    http: FlaskClient, gw: Gateway
) -> None:
    """VNPay's own demo would answer 02 and drop it; feegate never refuses money taken."""
    started = start_vnpay(http, gw)
    assert rsp_code(send_ipn(gw, vnpay_params(gw, started, code="51", status="02"))) == "00"
    assert rsp_code(send_ipn(gw, vnpay_params(gw, started))) == "00"
    after = state(gw, started.payment_id)
    assert after["status"] == "succeeded"
    assert "success_after_failure" in after["flags"]


# --- 99: unexpected error -------------------------------------------------------------------


@pytest.mark.parametrize("fault", [RuntimeError("boom"),
                                   OperationalError("UPDATE", {}, Exception("db down"))])
def test_99_an_unexpected_error_asks_vnpay_to_send_again(
    http: FlaskClient, gw: Gateway, monkeypatch: pytest.MonkeyPatch, fault: Exception
) -> None:
    started = start_vnpay(http, gw)
    before = state(gw, started.payment_id)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise fault

    monkeypatch.setattr("webhooks.inbound.apply_result", broken)
    params = vnpay_params(gw, started)

    response = send_ipn(gw, params)

    assert rsp_code(response) == "99"
    assert json.loads(response.content)["Message"] == "Unknow error"  # VNPay's own wording
    assert state(gw, started.payment_id) == before
    [row] = callbacks(gw)
    assert row.query_string == wire_query(params)

    monkeypatch.undo()  # VNPay sends it again: now it is recorded
    assert rsp_code(send_ipn(gw, params)) == "00"
    assert state(gw, started.payment_id)["status"] == "succeeded"


@pytest.mark.parametrize("missing", ["vnp_TxnRef", "vnp_Amount", "vnp_ResponseCode"])
def test_99_a_verified_ipn_we_cannot_read(
    http: FlaskClient, gw: Gateway, missing: str
) -> None:
    started = start_vnpay(http, gw)
    before = state(gw, started.payment_id)
    params = vnpay_params(gw, started)
    del params[missing]

    response = send_ipn(gw, resign(params))

    assert rsp_code(response) == "99"
    assert state(gw, started.payment_id) == before
    [row] = callbacks(gw)
    assert (row.verified, row.outcome) == (None, "malformed")


# --- 07: money debited, suspected fraud -----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "outcome"),
    [
        ("07", "07", Outcome.PENDING),  # debited, held for the merchant's approval
        ("07", "01", Outcome.PENDING),
        ("07", "02", Outcome.PENDING),  # still money taken: never reported as failed
        ("07", "00", Outcome.SUCCEEDED),  # VNPay says the transaction succeeded
        ("00", "07", Outcome.PENDING),
        ("00", "00", Outcome.SUCCEEDED),
        ("24", "02", Outcome.CANCELLED),
        ("51", "02", Outcome.FAILED),
        ("00", "04", Outcome.FAILED),  # reversed: VNPay gives the money back
    ],
)
def test_the_adapter_maps_07_to_pending_unless_the_transaction_succeeded(
    code: str, status: str, outcome: Outcome
) -> None:
    assert outcome_of(code, status) is outcome
    config = VnpayConfig(tmn_code=TMN, hash_secret=SECRET, pay_url="http://x/pay",
                         api_url="http://x/api")
    params = {"vnp_Amount": "15000000", "vnp_ResponseCode": code, "vnp_TmnCode": TMN,
              "vnp_TransactionNo": TRANSACTION_NO, "vnp_TransactionStatus": status,
              "vnp_TxnRef": "FGREF0001", "vnp_PayDate": "20261126100000"}
    result = VnpayAdapter(config).parse_callback(
        InboundRequest(method="GET", query=resign(params)))
    assert result.outcome is outcome
    assert result.result_code == code
    assert result.message


def test_07_suspected_fraud_keeps_the_attempt_open_and_is_never_reported_failed(
    http: FlaskClient, gw: Gateway
) -> None:
    started = start_vnpay(http, gw)
    before = state(gw, started.payment_id)

    response = send_ipn(gw, vnpay_params(gw, started, code="07", status="07"))

    assert rsp_code(response) == "00"  # received; the merchant decides at VNPay
    after = state(gw, started.payment_id)
    assert after["status"] == "pending"
    assert after["attempts"][0]["status"] == "pending"
    assert transitions(after) == []
    assert after["outbox"] == [] == before["outbox"]
    [row] = callbacks(gw)
    assert (row.verified, row.outcome, row.attempt_id) == (True, "recorded",
                                                          started.attempt["id"])
    assert "vnp_ResponseCode=07" in row.query_string  # what staff see for the open attempt

    # The merchant approves at VNPay: the paid IPN that follows is recorded.
    assert rsp_code(send_ipn(gw, vnpay_params(gw, started))) == "00"
    assert state(gw, started.payment_id)["status"] == "succeeded"


def test_07_with_transaction_status_00_is_paid(http: FlaskClient, gw: Gateway) -> None:
    started = start_vnpay(http, gw)
    assert rsp_code(send_ipn(gw, vnpay_params(gw, started, code="07", status="00"))) == "00"
    after = state(gw, started.payment_id)
    assert after["status"] == "succeeded"
    assert after["outbox"] == ["payment.succeeded"]


# --- fifty identical IPNs at once -----------------------------------------------------------

RACERS = 50


def test_fifty_identical_ipns_at_once_give_one_00_and_forty_nine_02(
    http: FlaskClient, gw: Gateway, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("needs PostgreSQL: SQLite serializes every writer (BEGIN IMMEDIATE), so "
                    "the row-lock race this proves cannot happen there; set "
                    "FEEGATE_TEST_DATABASE_URL to run it")
    started = start_vnpay(http, gw)
    url = gw.settings.url("/webhooks/vnpay") + "?" + wire_query(vnpay_params(gw, started))
    barrier = threading.Barrier(RACERS)
    codes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def race() -> None:
        try:
            with requests.Session() as session:
                barrier.wait(timeout=30)
                response = session.get(url, timeout=60)
            code = rsp_code(response)
            with lock:
                codes.append(code)
        except BaseException as exc:  # reported below, not lost in the thread
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert Counter(codes) == {"00": 1, "02": RACERS - 1}
    after = state(gw, started.payment_id)
    assert transitions(after) == [("attempt.status", "pending", "succeeded", "ipn")]
    assert [e for e in after["events"] if e[0] == "payment.status" and e[2] == "succeeded"] == [
        ("payment.status", "pending", "succeeded", "ipn")]
    assert after["outbox"] == ["payment.succeeded"]
    assert after["status"] == "succeeded"
    with gw.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(ProviderCallback))
    assert stored == RACERS
    assert Counter(row.outcome for row in callbacks(gw)) == {"recorded": 1,
                                                             "already_confirmed": RACERS - 1}
