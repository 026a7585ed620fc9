"""ZaloPay's callback through the real HTTP route `POST /webhooks/zalopay`.

Every attempt here is created through the API, which calls the ZaloPay simulator's
`/v2/create` over HTTP; the callbacks are then built and signed by the test exactly as
ZaloPay signs them (key2 over the raw `data` string) and POSTed to the running server.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from adapters.zalopay import callback_mac, epoch_ms, vietnam_yymmdd
from payments.config import ZalopaySettings
from payments.models import Attempt, Outbox, Payment, PaymentEvent, ProviderCallback
from payments.services.gateway import Gateway
from tests.factories import ApiClient, make_api_client, payment_body

APP_ID = "2553"
KEY1 = "TESTKEY1zalopay00000000000000001"
KEY2 = "TESTKEY2zalopay00000000000000002"
AMOUNT = 150_000
CONCURRENT = 50

BAD_MAC = {"return_code": -1, "return_message": "mac is not equal"}
SUCCESS = {"return_code": 1, "return_message": "success"}


@pytest.fixture
def settings_overrides(port: int) -> dict[str, Any]:
    return {
        "simulators": True,
        "zalopay": ZalopaySettings(
            app_id=APP_ID, key1=KEY1, key2=KEY2, endpoint=f"http://127.0.0.1:{port}/_sim/zalopay"
        ),
    }


@pytest.fixture
def base(app: object, gw: Gateway) -> str:
    """The running server's base URL (depends on `app` so the server is up)."""
    return gw.settings.public_url


@pytest.fixture
def client(gw: Gateway) -> ApiClient:
    return make_api_client(gw)


@pytest.fixture
def started(base: str, client: ApiClient) -> dict[str, Any]:
    """A payment with one pending ZaloPay attempt, created through the API over HTTP."""
    created = requests.post(
        f"{base}/api/v1/payments", json=payment_body(amount=AMOUNT), headers=client.headers,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    payment = created.json()
    answer = requests.post(
        f"{base}/api/v1/payments/{payment['id']}/attempts", json={"provider": "zalopay"},
        headers=client.headers, timeout=10,
    )
    assert answer.status_code == 201, answer.text
    attempt = answer.json()
    return {"payment": payment, "attempt": attempt, "app_trans_id": attempt["provider_reference"]}


# -- helpers ------------------------------------------------------------------------------------


def callback_data(gw: Gateway, app_trans_id: str, *, amount: int = AMOUNT,
                  zp_trans_id: int = 240_000_000_123) -> str:
    """The `data` string as ZaloPay sends it: compact JSON, its sample's field order."""
    fields = {
        "app_id": int(APP_ID),
        "app_trans_id": app_trans_id,
        "app_time": epoch_ms(gw.now()),
        "app_user": "feegate",
        "amount": amount,
        "embed_data": json.dumps({"redirecturl": gw.return_url("zalopay")}),
        "item": json.dumps([{"itemname": "Lệ phí cấp phiếu", "itemprice": amount}],
                           ensure_ascii=False),
        "zp_trans_id": zp_trans_id,
        "server_time": epoch_ms(gw.now()),
        "channel": 38,
        "merchant_user_id": "Nguyễn Văn A",
        "user_fee_amount": 0,
        "discount_amount": 0,
    }
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def post_callback(base: str, data: str, mac: str, *, ascii_envelope: bool = False) -> Any:
    """POST `{"data", "mac", "type": 1}` as ZaloPay does; answer the decoded JSON reply."""
    body = json.dumps({"data": data, "mac": mac, "type": 1}, ensure_ascii=ascii_envelope)
    response = requests.post(
        f"{base}/webhooks/zalopay", data=body.encode("utf-8"),
        headers={"Content-Type": "application/json"}, timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def snapshot(gw: Gateway, payment_id: str) -> dict[str, Any]:
    with gw.sessions() as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        attempts = [(a.id, a.status, a.provider_txn_id) for a in payment.attempts]
        events = session.scalars(
            select(PaymentEvent.kind).where(PaymentEvent.payment_id == payment_id)
            .order_by(PaymentEvent.id)
        ).all()
        outbox = session.scalars(select(Outbox.type).where(Outbox.payment_id == payment_id)).all()
        return {
            "status": payment.status,
            "paid_at": payment.paid_at,
            "flags": list(payment.flags or []),
            "attempts": attempts,
            "events": list(events),
            "outbox": list(outbox),
        }


def callbacks(gw: Gateway) -> list[ProviderCallback]:
    with gw.sessions() as session:
        rows = session.scalars(
            select(ProviderCallback).where(ProviderCallback.kind == "ipn")
            .order_by(ProviderCallback.id)
        ).all()
        session.expunge_all()
        return list(rows)


def count(gw: Gateway, stmt: Any) -> int:
    with gw.sessions() as session:
        return int(session.scalar(stmt) or 0)


# -- the tests ----------------------------------------------------------------------------------


def test_attempt_reference_is_the_vietnam_dated_app_trans_id(
    gw: Gateway, started: dict[str, Any]
) -> None:
    with gw.sessions() as session:
        attempt = session.get(Attempt, started["attempt"]["id"])
        assert attempt is not None
        assert attempt.provider_reference == f"{vietnam_yymmdd(gw.now())}_{attempt.reference}"


def test_valid_callback_pays_and_answers_return_code_1(gw: Gateway, base: str,
                                                       started: dict[str, Any]) -> None:
    data = callback_data(gw, started["app_trans_id"])
    assert post_callback(base, data, callback_mac(KEY2, data)) == SUCCESS

    state = snapshot(gw, started["payment"]["id"])
    assert state["status"] == "succeeded"
    assert state["attempts"] == [(started["attempt"]["id"], "succeeded", "240000000123")]
    assert state["events"].count("attempt.status") == 1
    assert state["outbox"] == ["payment.succeeded"]
    [row] = callbacks(gw)
    assert row.verified is True
    assert row.outcome == "recorded"
    assert row.provider_reference == started["app_trans_id"]
    assert row.attempt_id == started["attempt"]["id"]
    assert json.loads(row.body)["data"] == data  # stored raw, exactly as received


def test_envelope_encoding_does_not_matter_only_the_data_string(
    gw: Gateway, base: str, started: dict[str, Any]
) -> None:
    """`\\uXXXX` escapes in the outer JSON decode to the very characters ZaloPay signed."""
    data = callback_data(gw, started["app_trans_id"])
    assert "ễ" in data
    answer = post_callback(base, data, callback_mac(KEY2, data).upper(), ascii_envelope=True)
    assert answer == SUCCESS
    assert snapshot(gw, started["payment"]["id"])["status"] == "succeeded"


def test_tampered_mac_is_refused_and_touches_nothing_but_the_raw_row(
    gw: Gateway, base: str, started: dict[str, Any]
) -> None:
    before = snapshot(gw, started["payment"]["id"])
    data = callback_data(gw, started["app_trans_id"])
    mac = callback_mac(KEY2, data)
    forged = ("0" if mac[0] != "0" else "1") + mac[1:]
    wrong_key = callback_mac(KEY1, data)  # signed with key1 instead of key2

    assert post_callback(base, data, forged) == BAD_MAC
    assert post_callback(base, data, wrong_key) == BAD_MAC

    assert snapshot(gw, started["payment"]["id"]) == before
    assert before["status"] == "pending"
    rows = callbacks(gw)
    assert len(rows) == 2
    assert all(r.verified is False and r.outcome == "invalid_signature" for r in rows)
    assert all(r.attempt_id is None for r in rows)


def test_reserialised_data_with_the_original_mac_is_refused(
    gw: Gateway, base: str, started: dict[str, Any]
) -> None:
    """Trap 9: the mac covers the raw string; `json.dumps(json.loads(data))` is another one."""
    before = snapshot(gw, started["payment"]["id"])
    data = callback_data(gw, started["app_trans_id"])
    mac = callback_mac(KEY2, data)
    for reserialised in (
        json.dumps(json.loads(data)),  # ", " and ": " separators, ASCII escapes
        json.dumps(json.loads(data), separators=(",", ":"), ensure_ascii=False, sort_keys=True),
        json.dumps(json.loads(data), indent=1, ensure_ascii=False),
    ):
        assert reserialised != data
        assert json.loads(reserialised) == json.loads(data)
        assert post_callback(base, reserialised, mac) == BAD_MAC

    assert snapshot(gw, started["payment"]["id"]) == before
    assert [r.verified for r in callbacks(gw)] == [False, False, False]


def test_validly_signed_wrong_amount_is_acknowledged_flagged_and_never_paid(
    gw: Gateway, base: str, started: dict[str, Any]
) -> None:
    data = callback_data(gw, started["app_trans_id"], amount=1_000)
    assert post_callback(base, data, callback_mac(KEY2, data)) == SUCCESS

    state = snapshot(gw, started["payment"]["id"])
    assert state["status"] == "pending"
    assert state["paid_at"] is None
    assert state["flags"] == ["amount_mismatch"]
    assert state["attempts"][0][1] == "pending"
    assert "attempt.amount_mismatch" in state["events"]
    assert "attempt.status" not in state["events"]
    assert state["outbox"] == []
    [row] = callbacks(gw)
    assert (row.verified, row.outcome) == (True, "amount_mismatch")


def test_unknown_order_is_acknowledged_and_changes_nothing(
    gw: Gateway, base: str, started: dict[str, Any]
) -> None:
    before = snapshot(gw, started["payment"]["id"])
    data = callback_data(gw, f"{vietnam_yymmdd(gw.now())}_NOSUCHORDER42")
    assert post_callback(base, data, callback_mac(KEY2, data)) == SUCCESS

    assert snapshot(gw, started["payment"]["id"]) == before
    [row] = callbacks(gw)
    assert (row.verified, row.outcome, row.attempt_id) == (True, "unknown_order", None)


def test_duplicate_callback_is_acknowledged_with_one_transition(
    gw: Gateway, base: str, started: dict[str, Any]
) -> None:
    data = callback_data(gw, started["app_trans_id"])
    mac = callback_mac(KEY2, data)
    assert post_callback(base, data, mac) == SUCCESS
    first = snapshot(gw, started["payment"]["id"])
    assert post_callback(base, data, mac) == SUCCESS
    assert post_callback(base, data, mac) == SUCCESS

    assert snapshot(gw, started["payment"]["id"]) == first
    assert first["events"].count("attempt.status") == 1
    assert first["outbox"] == ["payment.succeeded"]
    outcomes = [r.outcome for r in callbacks(gw)]
    assert outcomes == ["recorded", "already_confirmed", "already_confirmed"]


def test_malformed_body_is_refused(gw: Gateway, base: str, started: dict[str, Any]) -> None:
    before = snapshot(gw, started["payment"]["id"])
    for body in (b"not json", b"{}", b'{"data": {"a": 1}, "mac": "00"}', b""):
        response = requests.post(f"{base}/webhooks/zalopay", data=body,
                                 headers={"Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 200
        assert response.json()["return_code"] == -1
    assert snapshot(gw, started["payment"]["id"]) == before
    assert len(callbacks(gw)) == 4  # every one stored raw


def test_a_fault_of_ours_asks_zalopay_to_send_again(
    gw: Gateway, base: str, started: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """return_code 0 only for a transient fault: ZaloPay re-sends, and the resend pays."""
    def database_down(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("UPDATE payments", {}, Exception("connection reset"))

    data = callback_data(gw, started["app_trans_id"])
    mac = callback_mac(KEY2, data)
    monkeypatch.setattr("webhooks.inbound.apply_result", database_down)
    assert post_callback(base, data, mac) == {"return_code": 0, "return_message": "retry"}
    assert snapshot(gw, started["payment"]["id"])["status"] == "pending"

    monkeypatch.undo()
    assert post_callback(base, data, mac) == SUCCESS
    assert snapshot(gw, started["payment"]["id"])["status"] == "succeeded"
    assert [r.outcome for r in callbacks(gw)] == ["retry", "recorded"]


def test_fifty_identical_callbacks_at_once_make_one_transition(
    gw: Gateway, base: str, started: dict[str, Any], is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip(
            "SQLite serialises every writer (BEGIN IMMEDIATE, one database file), so fifty "
            "concurrent callbacks prove nothing about row locks there; this runs on PostgreSQL "
            "(set FEEGATE_TEST_DATABASE_URL)"
        )
    data = callback_data(gw, started["app_trans_id"])
    mac = callback_mac(KEY2, data)
    barrier = threading.Barrier(CONCURRENT)
    answers: list[Any] = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def send() -> None:
        try:
            barrier.wait(timeout=30)
            answer = post_callback(base, data, mac)
            with lock:
                answers.append(answer)
        except Exception as exc:  # reported below
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert answers == [SUCCESS] * CONCURRENT
    payment_id = started["payment"]["id"]
    assert count(gw, select(func.count()).select_from(PaymentEvent).where(
        PaymentEvent.payment_id == payment_id, PaymentEvent.kind == "attempt.status")) == 1
    assert count(gw, select(func.count()).select_from(PaymentEvent).where(
        PaymentEvent.payment_id == payment_id, PaymentEvent.kind == "payment.status",
        PaymentEvent.to_status == "succeeded")) == 1
    assert count(gw, select(func.count()).select_from(Outbox).where(
        Outbox.payment_id == payment_id)) == 1
    state = snapshot(gw, payment_id)
    assert state["status"] == "succeeded"
    assert state["flags"] == []
    outcomes = [r.outcome for r in callbacks(gw)]
    assert len(outcomes) == CONCURRENT
    assert outcomes.count("recorded") == 1
    assert outcomes.count("already_confirmed") == CONCURRENT - 1
