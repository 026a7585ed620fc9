"""ZaloPay end to end over real HTTP: API → checkout → simulator → callback / query → result.

The simulator is mounted by `wsgi._mount_simulators` at `/_sim/zalopay` on the very server
the tests talk to, so the adapter's `/v2/create` and `/v2/query` calls, the simulator's
callback to `/webhooks/zalopay` and the browser's redirects all travel over HTTP.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from adapters.errors import ProviderUnavailable
from adapters.zalopay import ZalopayAdapter, from_epoch_ms, vietnam_yymmdd
from payments.config import ZalopaySettings
from payments.errors import ProviderDown
from payments.models import Attempt, Outbox, PaymentEvent, ProviderCallback
from payments.schemas import RefundCreate
from payments.services import refunds
from payments.services.gateway import Gateway
from payments.web.i18n import t
from tests.conftest import free_port
from tests.factories import ApiClient, Clock, make_api_client, payment_body

APP_ID = "2553"
KEY1 = "TESTKEY1zalopay00000000000000001"
KEY2 = "TESTKEY2zalopay00000000000000002"
AMOUNT = 150_000
STATUS = re.compile(r'data-status="([a-z]+)"')


@pytest.fixture
def settings_overrides(port: int) -> dict[str, Any]:
    return {
        "simulators": True,
        "zalopay": ZalopaySettings(
            app_id=APP_ID, key1=KEY1, key2=KEY2, endpoint=f"http://127.0.0.1:{port}/_sim/zalopay"
        ),
    }


@pytest.fixture
def base(app: Flask, gw: Gateway) -> str:
    return gw.settings.public_url


@pytest.fixture
def client(gw: Gateway) -> ApiClient:
    return make_api_client(gw)


@pytest.fixture
def browser() -> requests.Session:
    """The citizen's browser: follows nothing by itself, so each hop is checked."""
    return requests.Session()


# -- helpers ------------------------------------------------------------------------------------


def ledger(app: Flask) -> Any:
    return app.blueprints["sim_zalopay"].ledger  # type: ignore[attr-defined]


def api_create(base: str, client: ApiClient, **overrides: Any) -> dict[str, Any]:
    response = requests.post(f"{base}/api/v1/payments",
                             json=payment_body(amount=AMOUNT, **overrides),
                             headers=client.headers, timeout=10)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def api_attempt(base: str, client: ApiClient, payment_id: str) -> dict[str, Any]:
    response = requests.post(f"{base}/api/v1/payments/{payment_id}/attempts",
                             json={"provider": "zalopay"}, headers=client.headers, timeout=10)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def api_get(base: str, client: ApiClient, payment_id: str) -> dict[str, Any]:
    response = requests.get(f"{base}/api/v1/payments/{payment_id}", headers=client.headers,
                            timeout=10)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def checkout_to_simulator(browser: requests.Session, base: str, payment_id: str) -> str:
    """The citizen picks ZaloPay on the checkout page; answer the order_url they land on."""
    page = browser.get(f"{base}/pay/{payment_id}", timeout=10)
    assert page.status_code == 200
    assert 'value="zalopay"' in page.text
    started = browser.post(f"{base}/pay/{payment_id}/start", data={"provider": "zalopay"},
                           allow_redirects=False, timeout=30)
    assert started.status_code == 303, started.text
    order_url = started.headers["Location"]
    assert order_url.startswith(f"{base}/_sim/zalopay/pay/")
    return order_url


def act_at_simulator(browser: requests.Session, order_url: str, action: str, *,
                     no_callback: bool = False) -> str:
    """Press a button on the simulator's page; answer where ZaloPay sends the browser."""
    page = browser.get(order_url, timeout=10)
    assert page.status_code == 200
    assert 'value="pay"' in page.text
    form = {"action": action}
    if no_callback:
        form["no_callback"] = "1"
    done = browser.post(order_url, data=form, allow_redirects=False, timeout=30)
    assert done.status_code == 302, done.text
    location = done.headers["Location"]
    assert location.startswith(f"{base_of(order_url)}/pay/return/zalopay?")
    return location


def base_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def result_page(browser: requests.Session, return_url: str) -> tuple[str | None, str]:
    page = browser.get(return_url, timeout=30)
    assert page.status_code == 200, page.text
    found = STATUS.search(page.text)
    return (found.group(1) if found else None), page.text


def attempt_row(gw: Gateway, attempt_id: str) -> Attempt:
    with gw.sessions() as session:
        attempt = session.get(Attempt, attempt_id)
        assert attempt is not None
        session.expunge(attempt)
        return attempt


def ipn_rows(gw: Gateway) -> list[ProviderCallback]:
    with gw.sessions() as session:
        rows = list(session.scalars(
            select(ProviderCallback).where(ProviderCallback.kind == "ipn")).all())
        session.expunge_all()
        return rows


def events(gw: Gateway, payment_id: str) -> list[tuple[str, str | None, str]]:
    with gw.sessions() as session:
        rows = session.execute(
            select(PaymentEvent.kind, PaymentEvent.to_status, PaymentEvent.source)
            .where(PaymentEvent.payment_id == payment_id).order_by(PaymentEvent.id)
        ).all()
        return [(kind, to, source) for kind, to, source in rows]


def outbox_types(gw: Gateway, payment_id: str) -> list[str]:
    with gw.sessions() as session:
        return list(session.scalars(select(Outbox.type).where(Outbox.payment_id == payment_id)))


# -- create ---------------------------------------------------------------------------------------


def test_api_attempt_creates_the_order_at_the_simulator(
    app: Flask, gw: Gateway, base: str, client: ApiClient
) -> None:
    payment = api_create(base, client)
    attempt = api_attempt(base, client, payment["id"])

    assert attempt["provider"] == "zalopay"
    assert attempt["status"] == "pending"
    row = attempt_row(gw, attempt["id"])
    trans_id = f"{vietnam_yymmdd(gw.now())}_{row.reference}"
    assert trans_id.startswith("261126_")  # 03:00 UTC is 10:00 on the 26th in Vietnam
    assert row.provider_reference == trans_id == attempt["provider_reference"]
    assert row.provider_data["app_trans_id"] == trans_id

    orders = ledger(app).orders
    assert list(orders) == [trans_id]  # the simulator's /v2/create accepted our mac
    order = orders[trans_id]
    assert attempt["redirect_url"] == row.redirect_url == f"{base}/_sim/zalopay/pay/{order.token}"
    assert row.provider_data["zp_trans_token"] == order.token
    assert order.amount == AMOUNT
    assert order.callback_url == f"{base}/webhooks/zalopay"
    assert f'"redirecturl":"{base}/pay/return/zalopay"' in order.embed_data
    assert order.app_time == int(gw.now().timestamp() * 1000)


def test_app_trans_id_takes_the_vietnam_date_not_the_utc_one(
    app: Flask, gw: Gateway, base: str, client: ApiClient, clock: Clock
) -> None:
    clock.current = datetime(2026, 11, 26, 17, 30, tzinfo=UTC)  # 00:30 on the 27th in Vietnam
    payment = api_create(base, client)
    attempt = api_attempt(base, client, payment["id"])
    assert attempt["provider_reference"].startswith("261127_")
    assert attempt["provider_reference"] in ledger(app).orders


def test_create_refused_by_zalopay_fails_the_attempt(
    app: Flask, gw: Gateway, base: str, client: ApiClient
) -> None:
    """A wrong key1: the simulator answers -402, as ZaloPay would; the API says 502."""
    good = gw.adapters["zalopay"]
    assert isinstance(good, ZalopayAdapter)
    gw.adapters["zalopay"] = ZalopayAdapter(replace(good.config, key1="WRONGKEY1"))
    payment = api_create(base, client)
    answer = requests.post(f"{base}/api/v1/payments/{payment['id']}/attempts",
                           json={"provider": "zalopay"}, headers=client.headers, timeout=10)
    assert answer.status_code == 502, answer.text
    assert answer.json()["type"].endswith("provider-refused")
    got = api_get(base, client, payment["id"])
    [attempt] = got["attempts"]
    assert (attempt["status"], attempt["result_code"]) == ("failed", "-402")
    assert got["status"] == "failed"
    assert ledger(app).orders == {}


def test_zalopay_unreachable_at_create_keeps_the_attempt_pending(
    app: Flask, gw: Gateway, base: str, client: ApiClient, browser: requests.Session
) -> None:
    good = gw.adapters["zalopay"]
    assert isinstance(good, ZalopayAdapter)
    down = f"http://127.0.0.1:{free_port()}"
    gw.adapters["zalopay"] = ZalopayAdapter(replace(good.config, endpoint=down, timeout=2.0))
    payment = api_create(base, client)
    answer = requests.post(f"{base}/api/v1/payments/{payment['id']}/attempts",
                           json={"provider": "zalopay"}, headers=client.headers, timeout=10)
    assert answer.status_code == 503, answer.text
    page = browser.post(f"{base}/pay/{payment['id']}/start", data={"provider": "zalopay"},
                        allow_redirects=False, timeout=10)
    assert page.status_code == 503  # the checkout page says "try again", nothing charged
    got = api_get(base, client, payment["id"])
    assert [a["status"] for a in got["attempts"]] == ["pending", "pending"]
    assert got["status"] == "pending"

    gw.adapters["zalopay"] = good  # ZaloPay is back: the citizen tries again and pays
    order_url = checkout_to_simulator(browser, base, payment["id"])
    status, _ = result_page(browser, act_at_simulator(browser, order_url, "pay"))
    assert status == "succeeded"


# -- the full flow --------------------------------------------------------------------------------


def test_citizen_pays_with_callback(app: Flask, gw: Gateway, base: str, client: ApiClient,
                                    browser: requests.Session) -> None:
    payment = api_create(base, client)
    order_url = checkout_to_simulator(browser, base, payment["id"])
    return_url = act_at_simulator(browser, order_url, "pay")

    # The simulator called back before redirecting; the callback alone paid it.
    [ipn] = ipn_rows(gw)
    assert (ipn.verified, ipn.outcome) == (True, "recorded")
    assert api_get(base, client, payment["id"])["status"] == "succeeded"

    params = parse_qs(urlsplit(return_url).query)
    assert params["status"] == ["1"]
    status, html = result_page(browser, return_url)
    assert status == "succeeded"
    assert t("status_succeeded", "vi") in html  # "Đã thanh toán"

    got = api_get(base, client, payment["id"])
    assert got["status"] == "succeeded"
    assert got["paid_provider"] == "zalopay"
    [attempt] = got["attempts"]
    assert attempt["status"] == "succeeded"
    order = ledger(app).orders[attempt["provider_reference"]]
    assert attempt["provider_transaction_id"] == str(order.zp_trans_id)
    assert order.callback_attempts == 1
    assert [e for e in events(gw, payment["id"]) if e[0] == "attempt.status"] == [
        ("attempt.status", "succeeded", "ipn")
    ]
    assert outbox_types(gw, payment["id"]) == ["payment.succeeded"]


def test_lost_callback_is_rescued_by_the_return_page_query(
    app: Flask, gw: Gateway, base: str, client: ApiClient, browser: requests.Session
) -> None:
    payment = api_create(base, client)
    order_url = checkout_to_simulator(browser, base, payment["id"])
    return_url = act_at_simulator(browser, order_url, "pay", no_callback=True)

    assert ipn_rows(gw) == []  # ZaloPay never called
    got = api_get(base, client, payment["id"])
    assert got["status"] == "pending"
    trans_id = got["attempts"][0]["provider_reference"]
    assert ledger(app).orders[trans_id].state == "paid"
    assert ledger(app).orders[trans_id].callback_attempts == 0

    status, _ = result_page(browser, return_url)  # asks /v2/query before answering
    assert status == "succeeded"
    got = api_get(base, client, payment["id"])
    assert got["status"] == "succeeded"
    assert got["attempts"][0]["status"] == "succeeded"
    order = ledger(app).orders[trans_id]
    assert got["attempts"][0]["provider_transaction_id"] == str(order.zp_trans_id)
    # paid when the citizen paid (the query's server_time), not when we asked
    assert attempt_row(gw, got["attempts"][0]["id"]).paid_at == from_epoch_ms(order.server_time)
    assert ("attempt.status", "succeeded", "return") in events(gw, payment["id"])
    assert outbox_types(gw, payment["id"]) == ["payment.succeeded"]


def test_declined_payment_fails_through_the_query(
    app: Flask, gw: Gateway, base: str, client: ApiClient, browser: requests.Session
) -> None:
    payment = api_create(base, client)
    order_url = checkout_to_simulator(browser, base, payment["id"])
    return_url = act_at_simulator(browser, order_url, "fail")
    assert parse_qs(urlsplit(return_url).query)["status"] == ["2"]
    assert ipn_rows(gw) == []  # ZaloPay calls back only on success

    status, _ = result_page(browser, return_url)
    assert status == "failed"
    got = api_get(base, client, payment["id"])
    assert got["status"] == "failed"
    assert got["attempts"][0]["status"] == "failed"
    assert got["attempts"][0]["result_code"] == "2/-1"
    assert outbox_types(gw, payment["id"]) == ["payment.failed"]


def test_cancelled_at_zalopay_cancels_the_attempt_and_fails_the_payment(
    app: Flask, gw: Gateway, base: str, client: ApiClient, browser: requests.Session
) -> None:
    payment = api_create(base, client)
    order_url = checkout_to_simulator(browser, base, payment["id"])
    return_url = act_at_simulator(browser, order_url, "cancel")

    status, _ = result_page(browser, return_url)
    assert status == "failed"
    got = api_get(base, client, payment["id"])
    assert got["status"] == "failed"
    assert got["attempts"][0]["status"] == "cancelled"
    assert got["attempts"][0]["result_code"] == "2/-329"

    # The citizen can still pay with a new attempt until expires_at.
    order_url = checkout_to_simulator(browser, base, payment["id"])
    status, _ = result_page(browser, act_at_simulator(browser, order_url, "pay"))
    assert status == "succeeded"
    assert api_get(base, client, payment["id"])["status"] == "succeeded"


def test_forged_paid_return_for_an_unpaid_order_moves_nothing(
    app: Flask, gw: Gateway, base: str, client: ApiClient, browser: requests.Session
) -> None:
    payment = api_create(base, client)
    attempt = api_attempt(base, client, payment["id"])
    forged = {
        "appid": APP_ID, "apptransid": attempt["provider_reference"], "pmcid": "38",
        "bankcode": "", "amount": str(AMOUNT), "discountamount": "0", "status": "1",
        "checksum": "0" * 64,
    }
    page = browser.get(f"{base}/pay/return/zalopay", params=forged, timeout=30)
    assert page.status_code == 200
    assert 'data-testid="status"' in page.text
    assert STATUS.search(page.text) is None  # no final answer…
    assert t("confirming", "vi") in page.text  # …but "being confirmed"
    got = api_get(base, client, payment["id"])
    assert got["status"] == "pending"
    assert got["attempts"][0]["status"] == "pending"
    with gw.sessions() as session:
        row = session.scalar(select(ProviderCallback).where(ProviderCallback.kind == "return"))
        assert row is not None
        assert row.verified is False


# -- the status sync (worker) ---------------------------------------------------------------------


def _run_worker_once(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output


def test_lost_callback_is_rescued_by_the_sync_job(
    app: Flask, gw: Gateway, base: str, client: ApiClient, browser: requests.Session, clock: Clock
) -> None:
    payment = api_create(base, client)
    order_url = checkout_to_simulator(browser, base, payment["id"])
    act_at_simulator(browser, order_url, "pay", no_callback=True)  # and never comes back

    _run_worker_once(app)  # not due yet: the sync waits for the callback first
    assert api_get(base, client, payment["id"])["status"] == "pending"

    clock.advance(seconds=gw.settings.sync_delay_seconds + 1)
    _run_worker_once(app)
    got = api_get(base, client, payment["id"])
    assert got["status"] == "succeeded"
    assert got["attempts"][0]["status"] == "succeeded"
    assert ("attempt.status", "succeeded", "sync") in events(gw, payment["id"])


def test_declined_citizen_who_never_returns_is_failed_by_the_sync_job(
    app: Flask, gw: Gateway, base: str, client: ApiClient, browser: requests.Session, clock: Clock
) -> None:
    payment = api_create(base, client)
    order_url = checkout_to_simulator(browser, base, payment["id"])
    act_at_simulator(browser, order_url, "fail")  # closes the tab: no return, no callback

    clock.advance(seconds=gw.settings.sync_delay_seconds + 1)
    _run_worker_once(app)
    got = api_get(base, client, payment["id"])
    assert got["status"] == "failed"
    assert got["attempts"][0]["status"] == "failed"
    assert ("attempt.status", "failed", "sync") in events(gw, payment["id"])
    assert outbox_types(gw, payment["id"]) == ["payment.failed"]


# -- refunds --------------------------------------------------------------------------------------


def _paid_zalopay_payment(base: str, client: ApiClient, browser: requests.Session) -> str:
    payment = api_create(base, client)
    order_url = checkout_to_simulator(browser, base, payment["id"])
    result_page(browser, act_at_simulator(browser, order_url, "pay"))
    assert api_get(base, client, payment["id"])["status"] == "succeeded"
    return str(payment["id"])


def test_refund_is_pending_then_succeeds_through_query_refund(
    app: Flask, gw: Gateway, base: str, client: ApiClient, browser: requests.Session
) -> None:
    """ZaloPay refunds are asynchronous: /v2/refund answers 3, /v2/query_refund decides."""
    payment_id = _paid_zalopay_payment(base, client, browser)

    answer = requests.post(f"{base}/api/v1/payments/{payment_id}/refunds",
                           json={"amount": 50_000, "reason": "Nộp thừa"}, headers=client.headers,
                           timeout=30)
    assert answer.status_code == 201, answer.text
    refund = answer.json()
    assert refund["status"] == "pending"  # /v2/refund answered 3: processing
    [sim_refund] = ledger(app).refunds.values()
    assert sim_refund.state == "processing"
    assert sim_refund.amount == 50_000
    assert re.fullmatch(rf"261126_{APP_ID}_\w+", sim_refund.m_refund_id)
    got = api_get(base, client, payment_id)
    assert (got["refunds"][0]["status"], got["refunded_amount"]) == ("pending", 0)

    assert refunds.sync_refund(gw, refund["id"]) == "succeeded"  # /v2/query_refund answered 1
    assert sim_refund.state == "done"
    got = api_get(base, client, payment_id)
    [done] = got["refunds"]
    assert done["status"] == "succeeded"
    assert got["refunded_amount"] == 50_000
    assert got["status"] == "succeeded"
    assert outbox_types(gw, payment_id).count("refund.succeeded") == 1

    assert refunds.sync_refund(gw, refund["id"]) == "succeeded"  # a second sync changes nothing
    assert outbox_types(gw, payment_id).count("refund.succeeded") == 1


def test_refund_whose_answer_was_lost_is_settled_by_sync_refund(
    app: Flask, gw: Gateway, base: str, client: ApiClient, browser: requests.Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payment_id = _paid_zalopay_payment(base, client, browser)
    adapter = gw.adapters["zalopay"]
    assert isinstance(adapter, ZalopayAdapter)
    real_post = adapter._post

    def answer_lost(path: str, fields: Any) -> dict[str, Any]:
        answer = real_post(path, fields)
        if path == "/v2/refund":  # ZaloPay registered it; the answer never reached us
            raise ProviderUnavailable("read timed out")
        return answer

    monkeypatch.setattr(adapter, "_post", answer_lost)
    with pytest.raises(ProviderDown):
        refunds.create_refund(gw, client.id, payment_id,
                              RefundCreate(amount=50_000, reason="Nộp thừa"), actor="test")
    [pending] = api_get(base, client, payment_id)["refunds"]
    assert pending["status"] == "pending"
    assert len(ledger(app).refunds) == 1

    assert refunds.sync_refund(gw, pending["id"]) == "succeeded"


def test_the_worker_settles_a_pending_refund_after_the_sync_delay(
    app: Flask, gw: Gateway, base: str, client: ApiClient, browser: requests.Session,
    clock: Clock,
) -> None:
    from webhooks.worker import run_once

    payment_id = _paid_zalopay_payment(base, client, browser)
    answer = requests.post(f"{base}/api/v1/payments/{payment_id}/refunds",
                           json={"amount": 50_000, "reason": "Nộp thừa"}, headers=client.headers,
                           timeout=30)
    assert answer.json()["status"] == "pending"

    run_once(gw)  # too early: a refund is asked about once per sync delay
    assert api_get(base, client, payment_id)["refunds"][0]["status"] == "pending"

    clock.advance(seconds=gw.settings.sync_delay_seconds + 1)
    report = run_once(gw)
    assert report.refunds.applied == 1
    got = api_get(base, client, payment_id)
    assert (got["refunds"][0]["status"], got["refunded_amount"]) == ("succeeded", 50_000)
    assert outbox_types(gw, payment_id).count("refund.succeeded") == 1
