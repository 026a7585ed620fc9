"""MoMo IPN through the real HTTP route: `POST /webhooks/momo`, JSON, signed as MoMo signs.

Each attempt is created the way a portal creates it (API -> adapter -> the MoMo simulator
over real HTTP), then the test plays MoMo's server and POSTs notifications to feegate's
public URL. The signature is built here by hand, from MoMo's documented IPN raw string,
not with the adapter's helpers, so a signing mistake in the adapter cannot hide.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import func, select

from payments.config import MomoSettings
from payments.models import Attempt, Outbox, Payment, PaymentEvent, ProviderCallback
from payments.services.gateway import Gateway
from tests.factories import ApiClient, create_payment, make_api_client, start_attempt

PARTNER_CODE = "MOMOTEST0001"
ACCESS_KEY = "TESTACCESSKEY001"
SECRET_KEY = "TESTSECRETMOMOKEY000000000000001"
AMOUNT = 150_000
MESSAGE_PAID = "Thành công."
MESSAGE_NO_FUNDS = "Giao dịch thanh toán thất bại do tài khoản người dùng không đủ tiền."
RESPONSE_TIME = 1_764_126_000_123  # Unix ms, as MoMo sends it


def momo_settings(port: int) -> MomoSettings:
    return MomoSettings(
        partner_code=PARTNER_CODE,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        endpoint=f"http://127.0.0.1:{port}/_sim/momo",
    )


@pytest.fixture
def settings_overrides(port: int) -> dict[str, Any]:
    return {"simulators": True, "momo": momo_settings(port)}


# -- MoMo's side of the wire ---------------------------------------------------------------


def momo_ipn(
    order_id: str,
    *,
    amount: int = AMOUNT,
    result_code: int = 0,
    message: str = MESSAGE_PAID,
    trans_id: int = 4_088_878_653,
    request_id: str = "RQ0000000000000000001",
    order_info: str = "Lệ phí cấp phiếu lý lịch tư pháp",
    pay_type: str = "qr",
    extra_data: str = "",
    partner_code: str = PARTNER_CODE,
    secret_key: str = SECRET_KEY,
) -> dict[str, Any]:
    """An IPN body as MoMo sends it, signed over MoMo's raw string (IPN key order)."""
    raw = (
        f"accessKey={ACCESS_KEY}&amount={amount}&extraData={extra_data}&message={message}"
        f"&orderId={order_id}&orderInfo={order_info}&orderType=momo_wallet"
        f"&partnerCode={partner_code}&payType={pay_type}&requestId={request_id}"
        f"&responseTime={RESPONSE_TIME}&resultCode={result_code}&transId={trans_id}"
    )
    signature = hmac.new(secret_key.encode(), raw.encode("utf-8"), hashlib.sha256).hexdigest()
    return {
        "partnerCode": partner_code,
        "orderId": order_id,
        "requestId": request_id,
        "amount": amount,
        "orderInfo": order_info,
        "orderType": "momo_wallet",
        "transId": trans_id,
        "resultCode": result_code,
        "message": message,
        "payType": pay_type,
        "responseTime": RESPONSE_TIME,
        "extraData": extra_data,
        "signature": signature,
    }


def post_ipn(base_url: str, body: dict[str, Any] | bytes) -> requests.Response:
    """POST as MoMo does: raw UTF-8 JSON (Vietnamese text unescaped)."""
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return requests.post(
        base_url + "/webhooks/momo",
        data=data,
        headers={"Content-Type": "application/json; charset=UTF-8"},
        timeout=30,
    )


# -- feegate's side -------------------------------------------------------------------------


@dataclass(frozen=True)
class MomoAttempt:
    payment_id: str
    attempt_id: str
    order_id: str  # the attempt's reference, sent to MoMo as orderId
    request_id: str
    body: dict[str, Any]  # the attempt as the API answered it


@dataclass(frozen=True)
class State:
    """Everything an IPN may touch, read fresh from the database."""

    payment_status: str
    payment_flags: tuple[str, ...]
    attempt_status: str
    attempt_txn_id: str | None
    attempt_code: str | None
    attempt_message: str | None
    events: tuple[tuple[str, str | None, str | None], ...]  # (kind, from, to)
    outbox: tuple[str, ...]
    callbacks: tuple[tuple[bool | None, str | None], ...]  # (verified, outcome)

    def count(self, kind: str) -> int:
        return sum(1 for event in self.events if event[0] == kind)

    def without_callbacks(self) -> tuple[object, ...]:
        return (
            self.payment_status,
            self.payment_flags,
            self.attempt_status,
            self.attempt_txn_id,
            self.attempt_code,
            self.attempt_message,
            self.events,
            self.outbox,
        )


def read_state(gw: Gateway, attempt: MomoAttempt) -> State:
    with gw.sessions() as session:
        payment = session.get(Payment, attempt.payment_id)
        row = session.get(Attempt, attempt.attempt_id)
        assert payment is not None and row is not None
        events = session.execute(
            select(PaymentEvent.kind, PaymentEvent.from_status, PaymentEvent.to_status)
            .where(PaymentEvent.payment_id == payment.id)
            .order_by(PaymentEvent.id)
        ).all()
        outbox = session.scalars(
            select(Outbox.type).where(Outbox.payment_id == payment.id).order_by(Outbox.created_at)
        ).all()
        callbacks = session.execute(
            select(ProviderCallback.verified, ProviderCallback.outcome)
            .where(ProviderCallback.provider == "momo")
            .order_by(ProviderCallback.id)
        ).all()
        return State(
            payment_status=payment.status,
            payment_flags=tuple(payment.flags or ()),
            attempt_status=row.status,
            attempt_txn_id=row.provider_txn_id,
            attempt_code=row.result_code,
            attempt_message=row.result_message,
            events=tuple((e.kind, e.from_status, e.to_status) for e in events),
            outbox=tuple(outbox),
            callbacks=tuple((c.verified, c.outcome) for c in callbacks),
        )


def open_momo_attempt(
    gw: Gateway, http: FlaskClient, portal: ApiClient, **payment: Any
) -> MomoAttempt:
    """A payment and a pending MoMo attempt, created through the API and the simulator."""
    created = create_payment(http, portal, **payment)
    body = start_attempt(http, portal, created["id"], "momo")
    with gw.sessions() as session:
        row = session.get(Attempt, body["id"])
        assert row is not None
        return MomoAttempt(created["id"], row.id, row.reference, row.request_id, body)


@pytest.fixture
def portal(gw: Gateway) -> ApiClient:
    return make_api_client(gw)


@pytest.fixture
def attempt(gw: Gateway, http: FlaskClient, portal: ApiClient) -> MomoAttempt:
    return open_momo_attempt(gw, http, portal)


def ipn_for(attempt: MomoAttempt, **changes: Any) -> dict[str, Any]:
    return momo_ipn(attempt.order_id, request_id=attempt.request_id, **changes)


# -- the tests ------------------------------------------------------------------------------


def test_paid_ipn_answers_204_and_marks_the_payment_succeeded(
    gw: Gateway, base_url: str, attempt: MomoAttempt, http: FlaskClient, portal: ApiClient
) -> None:
    answer = post_ipn(base_url, ipn_for(attempt))

    assert answer.status_code == 204
    assert answer.content == b""
    state = read_state(gw, attempt)
    assert state.attempt_status == "succeeded"
    assert state.payment_status == "succeeded"
    assert state.attempt_txn_id == "4088878653"
    assert state.attempt_code == "0"
    assert state.outbox == ("payment.succeeded",)
    assert state.callbacks == ((True, "recorded"),)
    seen = http.get(f"/api/v1/payments/{attempt.payment_id}", headers=portal.headers).get_json()
    assert seen["status"] == "succeeded"
    assert seen["paid_provider"] == "momo"
    assert seen["paid_at"] == "2025-11-26T03:00:00Z"  # MoMo's responseTime, not our clock


def test_declined_ipn_answers_204_and_fails_the_attempt_and_the_payment(
    gw: Gateway, base_url: str, attempt: MomoAttempt
) -> None:
    answer = post_ipn(
        base_url, ipn_for(attempt, result_code=1001, message=MESSAGE_NO_FUNDS, pay_type="")
    )

    assert answer.status_code == 204
    state = read_state(gw, attempt)
    assert state.attempt_status == "failed"
    assert state.attempt_code == "1001"
    assert state.attempt_message == MESSAGE_NO_FUNDS
    assert state.payment_status == "failed"
    assert state.outbox == ("payment.failed",)


def test_ipn_of_a_citizen_who_declined_in_the_app_cancels_the_attempt(
    gw: Gateway, base_url: str, attempt: MomoAttempt
) -> None:
    message = "Giao dịch thất bại do người dùng đã từ chối xác nhận thanh toán."
    answer = post_ipn(base_url, ipn_for(attempt, result_code=1006, message=message, pay_type=""))

    assert answer.status_code == 204
    state = read_state(gw, attempt)
    assert state.attempt_status == "cancelled"
    assert state.payment_status == "failed"  # CONTRACT: cancelled at the provider -> failed
    assert state.outbox == ("payment.failed",)


@pytest.mark.parametrize("code", [1000, 7000, 7002, 8000, 9000])
def test_processing_ipn_answers_204_and_leaves_the_attempt_pending(
    gw: Gateway, base_url: str, attempt: MomoAttempt, code: int
) -> None:
    before = read_state(gw, attempt)

    answer = post_ipn(base_url, ipn_for(attempt, result_code=code, message="Đang xử lý"))

    assert answer.status_code == 204
    state = read_state(gw, attempt)
    assert state.attempt_status == "pending"
    assert state.payment_status == "pending"
    assert state.events == before.events
    assert state.outbox == ()
    assert state.callbacks == ((True, "recorded"),)


def test_processing_then_paid_ipn_pays_once(
    gw: Gateway, base_url: str, attempt: MomoAttempt
) -> None:
    assert post_ipn(base_url, ipn_for(attempt, result_code=7000, message="x")).status_code == 204
    assert post_ipn(base_url, ipn_for(attempt)).status_code == 204

    state = read_state(gw, attempt)
    assert state.payment_status == "succeeded"
    assert state.count("attempt.status") == 1


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda body: body | {"signature": "0" * 64}, id="signature-replaced"),
        pytest.param(
            lambda body: body | {"resultCode": 0, "signature": body["signature"][:-1]},
            id="signature-truncated",
        ),
        pytest.param(lambda body: body | {"resultCode": 0}, id="declined-turned-paid"),
        pytest.param(
            lambda body: {k: v for k, v in body.items() if k != "signature"}, id="signature-missing"
        ),
        pytest.param(
            lambda body: momo_ipn(
                body["orderId"], request_id=body["requestId"], secret_key="not-our-secret-key"
            ),
            id="wrong-secret-key",
        ),
        pytest.param(
            lambda body: momo_ipn(
                body["orderId"], request_id=body["requestId"], partner_code="MOMOOTHER0001"
            ),
            id="another-partner-code",
        ),
    ],
)
def test_tampered_ipn_answers_400_and_touches_nothing_but_the_raw_row(
    gw: Gateway, base_url: str, attempt: MomoAttempt, tamper: Any
) -> None:
    genuine = ipn_for(attempt, result_code=1001, message=MESSAGE_NO_FUNDS)
    before = read_state(gw, attempt)

    answer = post_ipn(base_url, tamper(genuine))

    assert answer.status_code == 400
    after = read_state(gw, attempt)
    assert after.without_callbacks() == before.without_callbacks()
    assert after.attempt_status == "pending"
    assert after.callbacks == ((False, "invalid_signature"),)
    with gw.sessions() as session:
        stored = session.scalars(select(ProviderCallback)).one()
        assert stored.kind == "ipn"
        assert stored.attempt_id is None  # nothing was linked to an unverified message
        assert json.loads(stored.body)["orderId"] == attempt.order_id  # kept raw for staff


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"partnerCode=MOMOTEST0001&orderId=x",
        b"[1, 2, 3]",
        b'{"partnerCode": "MOMOTEST0001"}',
        b"\xff\xfe not utf-8",
    ],
    ids=["empty", "form-encoded", "json-array", "fields-missing", "not-utf8"],
)
def test_malformed_ipn_answers_400_and_touches_nothing(
    gw: Gateway, base_url: str, attempt: MomoAttempt, body: bytes
) -> None:
    before = read_state(gw, attempt)

    answer = post_ipn(base_url, body)

    assert answer.status_code == 400
    after = read_state(gw, attempt)
    assert after.without_callbacks() == before.without_callbacks()
    assert after.callbacks == ((None, "malformed"),)


def test_ipn_with_tampered_amount_is_flagged_and_never_pays(
    gw: Gateway, base_url: str, attempt: MomoAttempt, http: FlaskClient, portal: ApiClient
) -> None:
    # Authentic (signed with our key) but for another amount than the attempt's.
    answer = post_ipn(base_url, ipn_for(attempt, amount=AMOUNT - 149_000))

    assert answer.status_code == 204  # MoMo must stop retrying; the problem is ours to review
    state = read_state(gw, attempt)
    assert state.payment_status == "pending"
    assert state.attempt_status == "pending"
    assert "amount_mismatch" in state.payment_flags
    assert state.count("attempt.amount_mismatch") == 1
    assert state.count("attempt.status") == 0
    assert state.outbox == ()
    assert state.callbacks == ((True, "amount_mismatch"),)
    seen = http.get(f"/api/v1/payments/{attempt.payment_id}", headers=portal.headers).get_json()
    assert seen["status"] == "pending"
    assert seen["paid_at"] is None
    assert "amount_mismatch" in seen["flags"]


def test_ipn_for_an_unknown_order_answers_204_and_changes_nothing(
    gw: Gateway, base_url: str, attempt: MomoAttempt
) -> None:
    before = read_state(gw, attempt)

    answer = post_ipn(base_url, momo_ipn("FGNOSUCHORDER00000"))

    assert answer.status_code == 204
    after = read_state(gw, attempt)
    assert after.without_callbacks() == before.without_callbacks()
    assert after.callbacks == ((True, "unknown_order"),)


def test_duplicate_ipn_answers_204_and_transitions_once(
    gw: Gateway, base_url: str, attempt: MomoAttempt
) -> None:
    body = ipn_for(attempt)

    answers = [post_ipn(base_url, body).status_code for _ in range(3)]

    assert answers == [204, 204, 204]
    state = read_state(gw, attempt)
    assert state.payment_status == "succeeded"
    assert state.count("attempt.status") == 1
    assert state.count("payment.status") == 2  # created -> pending at start, pending -> succeeded
    assert state.outbox == ("payment.succeeded",)
    assert [outcome for _, outcome in state.callbacks] == [
        "recorded",
        "already_confirmed",
        "already_confirmed",
    ]


def test_late_failure_ipn_after_success_changes_nothing(
    gw: Gateway, base_url: str, attempt: MomoAttempt
) -> None:
    assert post_ipn(base_url, ipn_for(attempt)).status_code == 204
    before = read_state(gw, attempt)

    answer = post_ipn(base_url, ipn_for(attempt, result_code=1001, message=MESSAGE_NO_FUNDS))

    assert answer.status_code == 204
    after = read_state(gw, attempt)
    assert after.without_callbacks() == before.without_callbacks()
    assert after.payment_status == "succeeded"


def test_ipn_with_extra_data_and_vietnamese_text_verifies(
    gw: Gateway, base_url: str, attempt: MomoAttempt
) -> None:
    # MoMo signs the UTF-8 bytes of the raw text; extraData is base64 JSON, echoed back.
    extra = "eyJwYXltZW50X2lkIjoicGF5XzEyMyJ9"
    body = ipn_for(attempt, extra_data=extra, order_info="Nộp lệ phí hộ tịch – Khánh Hòa")

    assert post_ipn(base_url, body).status_code == 204
    assert read_state(gw, attempt).payment_status == "succeeded"


CONCURRENT_IPNS = 50


def test_fifty_identical_ipns_at_once_transition_once(
    gw: Gateway, base_url: str, attempt: MomoAttempt, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip(
            "needs PostgreSQL: SQLite serialises every writer (BEGIN IMMEDIATE), so there is "
            "no row-lock race to prove; set FEEGATE_TEST_DATABASE_URL to run it"
        )
    body = json.dumps(ipn_for(attempt), ensure_ascii=False).encode()
    barrier = threading.Barrier(CONCURRENT_IPNS)
    statuses: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def send() -> None:
        try:
            barrier.wait(timeout=30)
            status = post_ipn(base_url, body).status_code
            with lock:
                statuses.append(status)
        except BaseException as exc:  # reported below, never swallowed
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(CONCURRENT_IPNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert statuses == [204] * CONCURRENT_IPNS
    state = read_state(gw, attempt)
    assert state.payment_status == "succeeded"
    assert state.count("attempt.status") == 1
    assert state.outbox == ("payment.succeeded",)
    outcomes = [outcome for _, outcome in state.callbacks]
    assert len(outcomes) == CONCURRENT_IPNS
    assert outcomes.count("recorded") == 1
    assert outcomes.count("already_confirmed") == CONCURRENT_IPNS - 1
    with gw.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Outbox)) == 1
