"""MoMo end to end over real HTTP: the portal API, the checkout page, the MoMo simulator's
create API and payment page, the IPN, the browser return and the query that backs it.

The app (with the simulator mounted at /_sim/momo) serves on a loopback port; the adapter
calls the simulator over HTTP, the simulator POSTs its IPN to /webhooks/momo and sends
the browser to /pay/return/momo, exactly as MoMo would. Only the create-timeout tests put
`responses` in front of the create endpoint.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from adapters.base import StartRequest
from adapters.momo import CREATE_PATH, QUERY_PATH, MomoAdapter
from payments.models import Attempt, PaymentEvent, ProviderCallback
from payments.services.callbacks import confirm_with_provider, query_request
from payments.services.gateway import Gateway
from simulators.momo import Ledger, SimOrder
from tests.factories import ApiClient, Clock, make_api_client, payment_body
from tests.webhooks.test_momo_ipn import AMOUNT, momo_settings


@pytest.fixture
def settings_overrides(port: int) -> dict[str, Any]:
    return {"simulators": True, "momo": momo_settings(port)}


@pytest.fixture
def portal(gw: Gateway) -> ApiClient:
    return make_api_client(gw)


@pytest.fixture
def ledger(app: Flask) -> Ledger:
    found: Ledger = app.blueprints["sim_momo"].ledger  # type: ignore[attr-defined]
    return found


@pytest.fixture
def web(app: Flask) -> Iterator[requests.Session]:
    """A browser (or a portal's HTTP client): real requests to the real server."""
    with requests.Session() as session:
        yield session


@dataclass
class Portal:
    """The portal's side, over real HTTP with its API key."""

    web: requests.Session
    base_url: str
    client: ApiClient

    def create_payment(self, **overrides: Any) -> dict[str, Any]:
        answer = self.web.post(
            self.base_url + "/api/v1/payments",
            json=payment_body(**overrides),
            headers=self.client.headers,
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        data: dict[str, Any] = answer.json()
        return data

    def start_attempt(self, payment_id: str) -> requests.Response:
        return self.web.post(
            f"{self.base_url}/api/v1/payments/{payment_id}/attempts",
            json={"provider": "momo"},
            headers=self.client.headers,
            timeout=60,
        )

    def payment(self, payment_id: str) -> dict[str, Any]:
        answer = self.web.get(
            f"{self.base_url}/api/v1/payments/{payment_id}", headers=self.client.headers, timeout=30
        )
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data


@pytest.fixture
def api(web: requests.Session, base_url: str, portal: ApiClient) -> Portal:
    return Portal(web, base_url, portal)


def start_at_checkout(web: requests.Session, base_url: str, payment_id: str) -> str:
    """The citizen picks MoMo on the checkout page; answers where the browser is sent."""
    page = web.get(f"{base_url}/pay/{payment_id}", timeout=30)
    assert page.status_code == 200
    assert 'name="provider" value="momo"' in page.text
    answer = web.post(
        f"{base_url}/pay/{payment_id}/start",
        data={"provider": "momo"},
        allow_redirects=False,
        timeout=60,
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["Location"]


def act_at_momo(web: requests.Session, pay_url: str, action: str, *, send_ipn: bool = True) -> str:
    """On MoMo's (simulated) page: pay, fail or cancel; answers the return URL MoMo sends."""
    page = web.get(pay_url, timeout=30)
    assert page.status_code == 200
    assert "Xác nhận thanh toán" in page.text
    form = {"action": action, **({} if send_ipn else {"no_ipn": "1"})}
    answer = web.post(pay_url, data=form, allow_redirects=False, timeout=60)
    assert answer.status_code == 302
    location: str = answer.headers["Location"]
    return location


def shown_status(html: str) -> str | None:
    """What the result page tells the citizen: a payment status, or None while confirming."""
    match = re.search(r'data-testid="status" data-status="(\w+)"', html)
    return match.group(1) if match else None


def order_of(ledger: Ledger, order_id: str) -> SimOrder:
    with ledger.lock:
        return ledger.orders[order_id]


def events(gw: Gateway, payment_id: str) -> list[tuple[str, str | None, str]]:
    with gw.sessions() as session:
        rows = session.execute(
            select(PaymentEvent.kind, PaymentEvent.to_status, PaymentEvent.source)
            .where(PaymentEvent.payment_id == payment_id)
            .order_by(PaymentEvent.id)
        ).all()
        return [(r.kind, r.to_status, r.source) for r in rows]


# -- 2. create: API and checkout -------------------------------------------------------------


def test_attempt_through_the_api_creates_the_order_at_momo(
    gw: Gateway, api: Portal, ledger: Ledger, base_url: str
) -> None:
    payment = api.create_payment()

    answer = api.start_attempt(payment["id"])

    assert answer.status_code == 201, answer.text
    attempt = answer.json()
    assert attempt["provider"] == "momo"
    assert attempt["status"] == "pending"
    order = order_of(ledger, attempt["reference"])
    assert attempt["provider_reference"] == order.order_id
    assert attempt["redirect_url"] == f"{base_url}/_sim/momo/pay/{order.token}"  # the payUrl
    assert attempt["deeplink"].startswith("momo://app?") and order.token in attempt["deeplink"]
    assert (
        attempt["qr_code_url"].startswith("momo://app?")
        and "isScanQR=true" in attempt["qr_code_url"]
    )
    # What feegate sent MoMo
    assert order.amount == AMOUNT
    assert order.ipn_url == f"{base_url}/webhooks/momo"
    assert order.redirect_url == f"{base_url}/pay/return/momo"
    assert order.request_type == "captureWallet"
    assert order.order_info == payment["description"]
    assert json.loads(base64.b64decode(order.extra_data)) == {"payment_id": payment["id"]}
    with gw.sessions() as session:
        row = session.get(Attempt, attempt["id"])
        assert row is not None
        assert order.request_id == row.request_id
        assert row.provider_data == {"requestId": row.request_id}
    # the portal sees the same links on the payment
    seen = api.payment(payment["id"])
    assert seen["status"] == "pending"
    assert seen["attempts"][0]["deeplink"] == attempt["deeplink"]
    assert seen["attempts"][0]["qr_code_url"] == attempt["qr_code_url"]


def test_checkout_sends_the_citizen_to_momos_pay_url(
    gw: Gateway, api: Portal, web: requests.Session, base_url: str, ledger: Ledger
) -> None:
    payment = api.create_payment()

    location = start_at_checkout(web, base_url, payment["id"])

    attempt = api.payment(payment["id"])["attempts"][0]
    assert location == attempt["redirect_url"]
    assert location.startswith(f"{base_url}/_sim/momo/pay/")
    assert attempt["deeplink"] and attempt["qr_code_url"]  # kept, though MoMo's page shows both


def lift_momo_minimum(gw: Gateway) -> None:
    """feegate no longer offers MoMo below its 1,000 đồng minimum (a 422, see
    tests/web/test_provider_limits.py); lifting the adapter's limit lets the request reach
    MoMo, so its own refusal (resultCode 22) is still exercised."""
    gw.adapters["momo"].min_amount = 1


def test_momo_refusal_at_create_fails_the_attempt_with_momos_message(
    gw: Gateway, api: Portal
) -> None:
    # MoMo takes 1,000..50,000,000 đồng from a wallet: 500 đồng is refused with resultCode 22.
    lift_momo_minimum(gw)
    payment = api.create_payment(amount=500)

    answer = api.start_attempt(payment["id"])

    assert answer.status_code == 502
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["type"].endswith("/provider-refused")
    assert "Số tiền giao dịch nằm ngoài phạm vi cho phép." in problem["detail"]
    seen = api.payment(payment["id"])
    (attempt,) = seen["attempts"]
    assert attempt["status"] == "failed"
    assert attempt["result_code"] == "22"
    assert attempt["result_message"] == "Số tiền giao dịch nằm ngoài phạm vi cho phép."
    assert attempt["redirect_url"] is None
    assert seen["status"] == "failed"


def test_momo_refusal_at_checkout_shows_momos_message(
    gw: Gateway, api: Portal, web: requests.Session, base_url: str
) -> None:
    lift_momo_minimum(gw)
    payment = api.create_payment(amount=500)

    answer = web.post(
        f"{base_url}/pay/{payment['id']}/start",
        data={"provider": "momo"},
        allow_redirects=False,
        timeout=60,
    )

    assert answer.status_code == 502
    assert "Số tiền giao dịch nằm ngoài phạm vi cho phép." in answer.text
    assert 'value="momo"' in answer.text  # the citizen may choose again


# -- 2. create timeout / 5xx, and the retry ----------------------------------------------------


@pytest.fixture
def momo_wire(base_url: str) -> Iterator[responses.RequestsMock]:
    """`responses` in front of the MoMo endpoints a test registers; the rest goes through."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.add_passthru(base_url)
        yield mock


def create_url(base_url: str) -> str:
    return f"{base_url}/_sim/momo{CREATE_PATH}"


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(requests.ReadTimeout("read timed out"), id="timeout"),
        pytest.param(requests.ConnectionError("connection refused"), id="unreachable"),
        pytest.param(502, id="http-502"),
        pytest.param(503, id="http-503"),
    ],
)
def test_create_timeout_or_5xx_answers_503_and_keeps_the_attempt_pending(
    gw: Gateway,
    api: Portal,
    base_url: str,
    momo_wire: responses.RequestsMock,
    ledger: Ledger,
    failure: Any,
) -> None:
    if isinstance(failure, int):
        momo_wire.post(create_url(base_url), status=failure, body="<html>Bad Gateway</html>")
    else:
        momo_wire.post(create_url(base_url), body=failure)
    payment = api.create_payment()

    answer = api.start_attempt(payment["id"])

    assert answer.status_code == 503
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["type"].endswith("/provider-unavailable")
    assert "nothing was charged" in problem["detail"]
    seen = api.payment(payment["id"])
    (attempt,) = seen["attempts"]
    assert attempt["status"] == "pending"  # the order may exist at MoMo: the sync will ask
    assert attempt["redirect_url"] is None
    assert attempt["result_message"].startswith("provider unavailable at start")
    assert seen["status"] == "pending"
    assert ledger.orders == {}


def test_create_timeout_at_checkout_tells_the_citizen_to_try_again(
    api: Portal, web: requests.Session, base_url: str, momo_wire: responses.RequestsMock
) -> None:
    momo_wire.post(create_url(base_url), body=requests.ReadTimeout("read timed out"))
    payment = api.create_payment()

    answer = web.post(
        f"{base_url}/pay/{payment['id']}/start",
        data={"provider": "momo"},
        allow_redirects=False,
        timeout=60,
    )

    assert answer.status_code == 503
    assert "Chưa có khoản tiền nào bị trừ; vui lòng thử lại." in answer.text


def test_create_answer_lost_then_retried_never_charges_twice(
    gw: Gateway,
    api: Portal,
    app: Flask,
    web: requests.Session,
    base_url: str,
    momo_wire: responses.RequestsMock,
    ledger: Ledger,
) -> None:
    """The worst timeout: MoMo created the order, its answer was lost on the way back.

    What feegate does: attempt 1 stays pending with no payUrl (nobody can pay order 1: its
    payUrl, deeplink and QR never left MoMo); the retry is a new attempt with a new orderId
    and a new requestId, so MoMo creates order 2 and answers it; the citizen pays order 2
    only. Re-sending *the same* create (same orderId, same requestId) is also safe: MoMo
    answers its stored result again and creates nothing (shown at the end).
    """
    sim = app.test_client()
    sent: list[dict[str, Any]] = []

    def momo_then_lost(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
        sent.append(json.loads(body))
        done = sim.post(
            urlsplit(request.url or "").path,
            data=body,
            content_type="application/json",
            base_url=base_url,
        )
        assert done.status_code == 200 and done.get_json()["resultCode"] == 0
        raise requests.ReadTimeout("read timed out after MoMo created the order")

    def momo_answers(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
        sent.append(json.loads(body))
        done = sim.post(
            urlsplit(request.url or "").path,
            data=body,
            content_type="application/json",
            base_url=base_url,
        )
        return done.status_code, {"Content-Type": "application/json"}, done.get_data()

    momo_wire.add_callback(responses.POST, create_url(base_url), callback=momo_then_lost)
    momo_wire.add_callback(responses.POST, create_url(base_url), callback=momo_answers)
    payment = api.create_payment()

    first = api.start_attempt(payment["id"])
    second = api.start_attempt(payment["id"])

    assert first.status_code == 503
    assert second.status_code == 201, second.text
    retry = second.json()
    assert sent[1]["orderId"] == retry["reference"]
    assert sent[0]["orderId"] != sent[1]["orderId"]
    assert sent[0]["requestId"] != sent[1]["requestId"]
    assert len(ledger.orders) == 2  # order 1 exists at MoMo, unpaid and unreachable
    lost = order_of(ledger, sent[0]["orderId"])
    seen = api.payment(payment["id"])
    first_attempt = next(a for a in seen["attempts"] if a["reference"] == sent[0]["orderId"])
    assert first_attempt["status"] == "pending" and first_attempt["redirect_url"] is None

    # the citizen pays the retry's order
    return_url = act_at_momo(web, retry["redirect_url"], "pay")
    page = web.get(return_url, timeout=60)
    assert shown_status(page.text) == "succeeded"

    # the status sync asks MoMo about the lost order: still 1000, so nothing moves
    assert confirm_with_provider(gw, first_attempt["id"], source="sync") is not None
    seen = api.payment(payment["id"])
    assert seen["status"] == "succeeded"
    assert seen["flags"] == []  # no double payment
    assert [a["status"] for a in seen["attempts"] if a["id"] == first_attempt["id"]] == ["pending"]
    assert lost.result_code == 1000 and lost.trans_id == 0
    assert [e for e in events(gw, payment["id"]) if e[0] == "attempt.status"] == [
        ("attempt.status", "succeeded", "ipn")
    ]

    # MoMo's idempotency: re-sending create 1 with its requestId answers the same order
    answer = momo_answers_direct(sim, base_url, sent[0])
    assert answer["resultCode"] == 0
    assert answer["orderId"] == lost.order_id
    assert answer["payUrl"].endswith(lost.token)
    assert len(ledger.orders) == 2


def momo_answers_direct(sim: FlaskClient, base_url: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = sim.post(f"/_sim/momo{CREATE_PATH}", json=body, base_url=base_url)
    data: dict[str, Any] = answer.get_json()
    return data


def test_adapter_reusing_the_request_id_gets_momos_stored_answer(
    gw: Gateway, api: Portal, ledger: Ledger
) -> None:
    """The adapter sends the attempt's request_id: a retry of the same create is idempotent."""
    payment = api.create_payment()
    attempt = api.start_attempt(payment["id"]).json()
    adapter = gw.adapters["momo"]
    assert isinstance(adapter, MomoAdapter)
    with gw.sessions() as session:
        row = session.get(Attempt, attempt["id"])
        assert row is not None
        same = StartRequest(
            reference=row.reference,
            request_id=row.request_id,
            amount=row.amount,
            description=payment["description"],
            return_url=gw.return_url("momo"),
            notify_url=gw.notify_url("momo"),
            client_ip="127.0.0.1",
            now=gw.now(),
            expires_at=gw.now(),
            payment_id=payment["id"],
        )

    again = adapter.start(same)

    assert again.redirect_url == attempt["redirect_url"]
    assert len(ledger.orders) == 1


# -- 3. the browser return ----------------------------------------------------------------


def test_return_after_the_ipn_shows_paid(
    gw: Gateway, api: Portal, web: requests.Session, base_url: str, ledger: Ledger
) -> None:
    payment = api.create_payment()
    pay_url = start_at_checkout(web, base_url, payment["id"])
    return_url = act_at_momo(web, pay_url, "pay")
    order = order_of(ledger, api.payment(payment["id"])["attempts"][0]["reference"])
    assert order.ipn_deliveries == ["HTTP 204"]
    assert api.payment(payment["id"])["status"] == "succeeded"  # before the browser is back

    page = web.get(return_url, timeout=60)

    assert page.status_code == 200
    assert shown_status(page.text) == "succeeded"
    assert "Đã thanh toán" in page.text
    with gw.sessions() as session:
        stored = session.scalars(
            select(ProviderCallback).where(ProviderCallback.kind == "return")
        ).one()
        assert stored.verified is True
        assert stored.provider_reference == order.order_id


def test_return_without_ipn_asks_momo_and_ends_succeeded(
    gw: Gateway, api: Portal, web: requests.Session, base_url: str, ledger: Ledger
) -> None:
    payment = api.create_payment()
    pay_url = start_at_checkout(web, base_url, payment["id"])
    return_url = act_at_momo(web, pay_url, "pay", send_ipn=False)
    order = order_of(ledger, api.payment(payment["id"])["attempts"][0]["reference"])
    assert order.ipn_deliveries == ["not sent (by request)"]
    assert api.payment(payment["id"])["status"] == "pending"  # the IPN never came

    page = web.get(return_url, timeout=60)

    assert shown_status(page.text) == "succeeded"
    seen = api.payment(payment["id"])
    assert seen["status"] == "succeeded"
    assert seen["attempts"][0]["provider_transaction_id"] == str(order.trans_id)
    # decided by MoMo's query answer (source "return"), not by the browser's parameters
    assert ("attempt.status", "succeeded", "return") in events(gw, payment["id"])


def test_return_without_ipn_after_a_cancel_shows_failed(
    gw: Gateway, api: Portal, web: requests.Session, base_url: str
) -> None:
    payment = api.create_payment()
    pay_url = start_at_checkout(web, base_url, payment["id"])
    return_url = act_at_momo(web, pay_url, "cancel", send_ipn=False)

    page = web.get(return_url, timeout=60)

    assert shown_status(page.text) == "failed"
    seen = api.payment(payment["id"])
    assert seen["status"] == "failed"
    assert seen["attempts"][0]["status"] == "cancelled"
    assert seen["attempts"][0]["result_code"] == "1006"


def test_return_without_ipn_while_momos_query_is_down_shows_confirming(
    gw: Gateway,
    api: Portal,
    web: requests.Session,
    base_url: str,
    momo_wire: responses.RequestsMock,
) -> None:
    payment = api.create_payment()
    pay_url = start_at_checkout(web, base_url, payment["id"])
    return_url = act_at_momo(web, pay_url, "pay", send_ipn=False)
    momo_wire.post(f"{base_url}/_sim/momo{QUERY_PATH}", status=503, body="maintenance")

    page = web.get(return_url, timeout=60)

    assert page.status_code == 200
    assert shown_status(page.text) is None  # a genuine "paid" return is not money on its own
    assert "Đang xác nhận giao dịch" in page.text
    assert "data-poll-url=" in page.text and 'http-equiv="refresh"' not in page.text
    assert api.payment(payment["id"])["status"] == "pending"

    momo_wire.remove(responses.POST, f"{base_url}/_sim/momo{QUERY_PATH}")
    page = web.get(return_url, timeout=60)  # "Kiểm tra lại" once MoMo answers again

    assert shown_status(page.text) == "succeeded"
    assert api.payment(payment["id"])["status"] == "succeeded"


def forge(return_url: str, **changes: str) -> str:
    parts = urlsplit(return_url)
    fields = dict(parse_qsl(parts.query, keep_blank_values=True)) | changes
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(fields)}"


def test_forged_return_changes_nothing(
    gw: Gateway, api: Portal, web: requests.Session, base_url: str, ledger: Ledger
) -> None:
    """A 'paid' return with a made-up signature for an order the citizen has not paid."""
    payment = api.create_payment()
    start_at_checkout(web, base_url, payment["id"])
    order_id = api.payment(payment["id"])["attempts"][0]["reference"]
    before = events(gw, payment["id"])
    fields = {
        "partnerCode": "MOMOTEST0001",
        "orderId": order_id,
        "requestId": "RQX",
        "amount": "150000",
        "orderInfo": "x",
        "orderType": "momo_wallet",
        "transId": "4088878653",
        "resultCode": "0",
        "message": "Thành công.",
        "payType": "qr",
        "responseTime": "1764126000123",
        "extraData": "",
        "signature": "ab" * 32,
    }

    page = web.get(f"{base_url}/pay/return/momo?{urlencode(fields)}", timeout=60)

    assert page.status_code == 200
    assert shown_status(page.text) is None  # "being confirmed", never "paid"
    assert "Đang xác nhận giao dịch" in page.text
    assert api.payment(payment["id"])["status"] == "pending"
    assert events(gw, payment["id"]) == before
    assert order_of(ledger, order_id).result_code == 1000  # MoMo was asked: still waiting
    with gw.sessions() as session:
        stored = session.scalars(select(ProviderCallback)).one()
        assert (stored.kind, stored.verified) == ("return", False)


def test_genuine_failed_return_turned_into_paid_changes_nothing(
    gw: Gateway, api: Portal, web: requests.Session, base_url: str
) -> None:
    payment = api.create_payment()
    pay_url = start_at_checkout(web, base_url, payment["id"])
    return_url = act_at_momo(web, pay_url, "fail", send_ipn=False)

    page = web.get(forge(return_url, resultCode="0", message="Thành công."), timeout=60)

    assert shown_status(page.text) == "failed"  # MoMo's query answer wins
    seen = api.payment(payment["id"])
    assert seen["status"] == "failed"
    assert seen["attempts"][0]["result_code"] == "1001"


def test_return_for_an_unknown_order_is_404(
    web: requests.Session, base_url: str, app: Flask
) -> None:
    page = web.get(f"{base_url}/pay/return/momo?orderId=FGNOSUCHORDER&resultCode=0", timeout=30)

    assert page.status_code == 404


# -- 4. the whole flow ----------------------------------------------------------------------


def test_citizen_pays_with_momo_and_the_portal_sees_succeeded(
    gw: Gateway, api: Portal, web: requests.Session, base_url: str, ledger: Ledger
) -> None:
    payment = api.create_payment()
    assert payment["checkout_url"] == f"{base_url}/pay/{payment['id']}"

    pay_url = start_at_checkout(web, base_url, payment["id"])
    momo_page = web.get(pay_url, timeout=30)
    assert "150.000 ₫" in momo_page.text
    return_url = act_at_momo(web, pay_url, "pay")
    assert return_url.startswith(f"{base_url}/pay/return/momo?")
    result = web.get(return_url, timeout=60)

    assert result.status_code == 200
    assert shown_status(result.text) == "succeeded"
    assert "Ví MoMo" in result.text
    seen = api.payment(payment["id"])
    assert seen["status"] == "succeeded"
    assert seen["paid_provider"] == "momo"
    (attempt,) = seen["attempts"]
    order = order_of(ledger, attempt["reference"])
    assert attempt["status"] == "succeeded"
    assert attempt["provider_transaction_id"] == str(order.trans_id)
    assert order.ipn_deliveries == ["HTTP 204"]
    assert [e for e in events(gw, payment["id"]) if e[0].endswith(".status")] == [
        ("payment.status", "pending", "checkout"),
        ("attempt.status", "succeeded", "ipn"),
        ("payment.status", "succeeded", "ipn"),
    ]
    # the query agrees, and asking again changes nothing
    with gw.sessions() as session:
        row = session.get(Attempt, attempt["id"])
        assert row is not None
        asked = gw.adapters["momo"].query(query_request(gw, row, row.payment))
    assert (asked.outcome.value, asked.amount) == ("succeeded", AMOUNT)


@pytest.mark.parametrize(
    ("action", "attempt_status", "code"),
    [("fail", "failed", "1001"), ("cancel", "cancelled", "1006")],
)
def test_citizen_fails_or_cancels_at_momo_then_pays_with_a_new_attempt(
    gw: Gateway,
    api: Portal,
    web: requests.Session,
    base_url: str,
    action: str,
    attempt_status: str,
    code: str,
) -> None:
    payment = api.create_payment()
    pay_url = start_at_checkout(web, base_url, payment["id"])
    return_url = act_at_momo(web, pay_url, action)

    result = web.get(return_url, timeout=60)

    assert shown_status(result.text) == "failed"
    assert "Chọn phương thức khác" in result.text  # the way back to the checkout page
    seen = api.payment(payment["id"])
    assert seen["status"] == "failed"
    assert seen["attempts"][0]["status"] == attempt_status
    assert seen["attempts"][0]["result_code"] == code
    with gw.sessions() as session:
        types = session.execute(select(PaymentEvent.kind)).scalars().all()
        assert types.count("attempt.status") == 1

    # the citizen tries again and pays
    second_pay_url = start_at_checkout(web, base_url, payment["id"])
    assert second_pay_url != pay_url
    result = web.get(act_at_momo(web, second_pay_url, "pay"), timeout=60)

    assert shown_status(result.text) == "succeeded"
    seen = api.payment(payment["id"])
    assert seen["status"] == "succeeded"
    assert [a["status"] for a in seen["attempts"]] == [attempt_status, "succeeded"]
    assert seen["flags"] == []


def test_paying_twice_on_momos_page_records_one_payment(
    gw: Gateway, api: Portal, web: requests.Session, base_url: str, ledger: Ledger
) -> None:
    """A double click / back-button: MoMo's page only takes the first choice."""
    payment = api.create_payment()
    pay_url = start_at_checkout(web, base_url, payment["id"])
    act_at_momo(web, pay_url, "pay")

    again = web.post(pay_url, data={"action": "pay"}, allow_redirects=False, timeout=60)

    assert again.status_code == 302
    web.get(again.headers["Location"], timeout=60)
    seen = api.payment(payment["id"])
    assert seen["status"] == "succeeded"
    order = order_of(ledger, seen["attempts"][0]["reference"])
    assert order.ipn_deliveries == ["HTTP 204"]
    assert [e[0] for e in events(gw, payment["id"])].count("attempt.status") == 1


# -- the status sync (worker) rescues a lost IPN when the citizen never comes back ----------


def run_worker_once(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("action", "payment_status", "attempt_status"),
    [("pay", "succeeded", "succeeded"), ("cancel", "failed", "cancelled")],
)
def test_lost_ipn_and_no_return_are_resolved_by_the_status_sync(
    app: Flask,
    gw: Gateway,
    api: Portal,
    web: requests.Session,
    base_url: str,
    clock: Clock,
    action: str,
    payment_status: str,
    attempt_status: str,
) -> None:
    payment = api.create_payment()
    pay_url = start_at_checkout(web, base_url, payment["id"])
    act_at_momo(web, pay_url, action, send_ipn=False)  # and the tab is closed

    run_worker_once(app)  # not due yet: the sync first gives the IPN time to arrive
    assert api.payment(payment["id"])["status"] == "pending"
    clock.advance(seconds=gw.settings.sync_delay_seconds + 1)
    run_worker_once(app)

    seen = api.payment(payment["id"])
    assert seen["status"] == payment_status
    assert seen["attempts"][0]["status"] == attempt_status
    assert ("attempt.status", attempt_status, "sync") in events(gw, payment["id"])
