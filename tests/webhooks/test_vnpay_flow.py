"""A citizen pays a fee with VNPay, end to end over real HTTP, through the simulator.

Portal API → checkout page → POST /pay/{id}/start → VNPay's (simulated) page → Pay / Fail /
Cancel → IPN to /webhooks/vnpay → browser back to /pay/return/vnpay → the portal reads the
payment from the API. Nothing is called in-process: every hop is an HTTP request.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask import Flask

from payments.services.gateway import Gateway
from tests.factories import AGENCY, ApiClient, make_api_client, payment_body
from tests.webhooks.test_vnpay_ipn import callbacks, state, transitions, vnpay_settings
from tests.webhooks.test_vnpay_return import open_pay_page, press, querydr_calls, shown_status


@pytest.fixture
def settings_overrides(port: int) -> dict[str, Any]:
    return {"simulators": True, "vnpay": vnpay_settings(port)}



@pytest.fixture
def portal(gw: Gateway, app: Flask) -> ApiClient:
    return make_api_client(gw, agencies=(AGENCY,))


def create(gw: Gateway, portal: ApiClient, **overrides: Any) -> dict[str, Any]:
    response = requests.post(gw.settings.url("/api/v1/payments"), json=payment_body(**overrides),
                             headers=portal.headers, timeout=30)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "created"
    return body


def read(gw: Gateway, portal: ApiClient, payment_id: str) -> dict[str, Any]:
    response = requests.get(gw.settings.url(f"/api/v1/payments/{payment_id}"),
                            headers=portal.headers, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def choose_vnpay(browser: requests.Session, payment: dict[str, Any]) -> str:
    """Open the checkout page and press "Pay with VNPAY"; the VNPay page's URL."""
    checkout = browser.get(payment["checkout_url"], timeout=30)
    assert checkout.status_code == 200
    assert 'name="provider" value="vnpay"' in checkout.text
    started = browser.post(payment["checkout_url"] + "/start", data={"provider": "vnpay"},
                           allow_redirects=False, timeout=30)
    assert started.status_code == 303, started.text
    location = started.headers["Location"]
    assert location.startswith(f"{payment['checkout_url'].split('/pay/')[0]}/_sim/vnpay/"
                               "paymentv2/vpcpay.html?")
    return location


def test_a_citizen_pays_with_vnpay_and_the_portal_sees_succeeded(
    gw: Gateway, app: Flask, portal: ApiClient
) -> None:
    payment = create(gw, portal, amount=150_000)
    with requests.Session() as browser:
        pay_url = choose_vnpay(browser, payment)
        fields = open_pay_page(browser, pay_url)
        assert fields["vnp_Amount"] == "15000000"  # đồng × 100
        assert fields["vnp_ReturnUrl"] == gw.settings.url("/pay/return/vnpay")
        page = press(browser, pay_url, fields, "pay")

    assert shown_status(page) == "succeeded"
    assert "Đã thanh toán" in page.text
    assert payment["return_url"] in page.text  # the way back to the portal
    [ipn] = callbacks(gw, "ipn")
    assert (ipn.verified, ipn.outcome) == (True, "recorded")
    assert querydr_calls(app) == 0

    seen = read(gw, portal, payment["id"])
    assert seen["status"] == "succeeded"
    assert seen["paid_provider"] == "vnpay"
    assert seen["paid_at"]
    [attempt] = seen["attempts"]
    assert (attempt["provider"], attempt["status"], attempt["result_code"]) == (
        "vnpay", "succeeded", "00")
    assert attempt["provider_transaction_id"]
    assert state(gw, payment["id"])["outbox"] == ["payment.succeeded"]


def test_a_declined_payment_fails_and_the_citizen_can_pay_again(
    gw: Gateway, app: Flask, portal: ApiClient
) -> None:
    payment = create(gw, portal)
    with requests.Session() as browser:
        pay_url = choose_vnpay(browser, payment)
        page = press(browser, pay_url, open_pay_page(browser, pay_url), "fail")

        assert shown_status(page) == "failed"
        seen = read(gw, portal, payment["id"])
        assert seen["status"] == "failed"
        assert [(a["status"], a["result_code"]) for a in seen["attempts"]] == [("failed", "51")]

        second_url = choose_vnpay(browser, payment)  # "Chọn phương thức khác", then VNPay
        assert second_url != pay_url  # a new vnp_TxnRef
        page = press(browser, second_url, open_pay_page(browser, second_url), "pay")

    assert shown_status(page) == "succeeded"
    seen = read(gw, portal, payment["id"])
    assert seen["status"] == "succeeded"
    assert [a["status"] for a in seen["attempts"]] == ["failed", "succeeded"]
    assert state(gw, payment["id"])["outbox"] == ["payment.failed", "payment.succeeded"]


def test_a_citizen_who_cancels_at_vnpay(gw: Gateway, app: Flask, portal: ApiClient) -> None:
    payment = create(gw, portal)
    with requests.Session() as browser:
        pay_url = choose_vnpay(browser, payment)
        page = press(browser, pay_url, open_pay_page(browser, pay_url), "cancel")

    assert shown_status(page) == "failed"
    seen = read(gw, portal, payment["id"])
    assert seen["status"] == "failed"
    [attempt] = seen["attempts"]
    assert (attempt["status"], attempt["result_code"]) == ("cancelled", "24")
    assert attempt["provider_transaction_id"] is None
    assert transitions(state(gw, payment["id"])) == [
        ("attempt.status", "pending", "cancelled", "ipn")]
    assert state(gw, payment["id"])["outbox"] == ["payment.failed"]


def test_a_lost_ipn_is_rescued_by_the_return_page(
    gw: Gateway, app: Flask, portal: ApiClient
) -> None:
    payment = create(gw, portal)
    with requests.Session() as browser:
        pay_url = choose_vnpay(browser, payment)
        page = press(browser, pay_url, open_pay_page(browser, pay_url), "pay", send_ipn=False)

    assert callbacks(gw, "ipn") == []
    assert querydr_calls(app) == 1
    assert shown_status(page) == "succeeded"
    assert read(gw, portal, payment["id"])["status"] == "succeeded"


def test_the_simulator_refuses_a_pay_url_whose_checksum_was_changed(
    gw: Gateway, app: Flask, portal: ApiClient
) -> None:
    payment = create(gw, portal)
    with requests.Session() as browser:
        pay_url = choose_vnpay(browser, payment)
        tampered = pay_url.replace("vnp_Amount=15000000", "vnp_Amount=100")
        page = browser.get(tampered, timeout=30)
    assert page.status_code == 400
    assert "Sai chữ ký" in page.text
    assert read(gw, portal, payment["id"])["status"] == "pending"
