"""Provider amount limits, through the real API and the checkout page.

Each adapter declares the amounts its provider takes (adapters/*.py `min_amount`,
`max_amount`; docs/providers/*.md). A provider that cannot take a payment's amount is not
offered on the checkout page, and an attempt for it is a `422` problem with an `errors`
entry on `provider`: no attempt is created, the payment's status does not move (never a
failed payment), and the citizen can still pay with another provider. At the limits
themselves the provider is offered and the attempt starts (the local simulators of VNPay,
MoMo and ZaloPay answer over real HTTP; VietQR and the sandbox need no network).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from payments.config import VietqrSettings, ZalopaySettings
from payments.models import Attempt, PaymentEvent
from payments.services.gateway import Gateway
from tests.factories import ApiClient, make_api_client, payment_body
from tests.webhooks.test_momo_ipn import momo_settings
from tests.webhooks.test_vietqr import ACCOUNT_NAME, ACCOUNT_NO, BANK_BIN, CHECKSUM_KEY
from tests.webhooks.test_vnpay_ipn import vnpay_settings
from tests.webhooks.test_zalopay_flow import APP_ID, KEY1, KEY2

TIMEOUT = 60

# (provider, smallest amount it takes, largest amount it takes or None)
LIMITS: list[tuple[str, int, int | None]] = [
    ("vnpay", 1, 9_999_999_999),
    ("momo", 1_000, 50_000_000),
    ("zalopay", 1, 50_000_000),
    ("vietqr", 1, 499_999_999),
    ("sandbox", 1, None),
]
ABOVE = [(name, high + 1) for name, _low, high in LIMITS if high is not None]
BELOW = [(name, low - 1) for name, low, _high in LIMITS if low > 1]
AT_LIMITS = [(name, low) for name, low, _ in LIMITS] + [
    (name, high) for name, _, high in LIMITS if high is not None
]


@pytest.fixture
def settings_overrides(port: int) -> dict[str, Any]:
    return {
        "simulators": True,
        "vnpay": vnpay_settings(port),
        "momo": momo_settings(port),
        "zalopay": ZalopaySettings(
            app_id=APP_ID, key1=KEY1, key2=KEY2, endpoint=f"http://127.0.0.1:{port}/_sim/zalopay"
        ),
        "vietqr": VietqrSettings(
            bank_bin=BANK_BIN, account_no=ACCOUNT_NO, account_name=ACCOUNT_NAME,
            checksum_key=CHECKSUM_KEY,
        ),
    }


@pytest.fixture
def portal(gw: Gateway, app: Flask) -> ApiClient:
    return make_api_client(gw)


def create(gw: Gateway, portal: ApiClient, amount: int) -> dict[str, Any]:
    answer = requests.post(gw.settings.url("/api/v1/payments"),
                           json=payment_body(amount=amount), headers=portal.headers,
                           timeout=TIMEOUT)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def start(gw: Gateway, portal: ApiClient, payment_id: str, provider: str) -> requests.Response:
    return requests.post(gw.settings.url(f"/api/v1/payments/{payment_id}/attempts"),
                         json={"provider": provider}, headers=portal.headers, timeout=TIMEOUT)


def fetch(gw: Gateway, portal: ApiClient, payment_id: str) -> dict[str, Any]:
    answer = requests.get(gw.settings.url(f"/api/v1/payments/{payment_id}"),
                          headers=portal.headers, timeout=TIMEOUT)
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def offered_on_checkout(gw: Gateway, payment_id: str) -> set[str]:
    page = requests.get(gw.settings.url(f"/pay/{payment_id}"), timeout=TIMEOUT)
    assert page.status_code == 200
    return {name for name, *_ in LIMITS if f'name="provider" value="{name}"' in page.text}


def attempts_and_events(gw: Gateway, payment_id: str) -> tuple[int, int]:
    with gw.sessions() as session:
        attempts = session.scalar(
            select(func.count()).select_from(Attempt).where(Attempt.payment_id == payment_id))
        events = session.scalar(
            select(func.count()).select_from(PaymentEvent)
            .where(PaymentEvent.payment_id == payment_id))
    return int(attempts or 0), int(events or 0)


def assert_refused_for_limits(answer: requests.Response, provider: str) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["type"].endswith("/amount-outside-provider-limits")
    assert problem["status"] == 422
    (error,) = problem["errors"]
    assert error["field"] == "provider"
    assert "hạn mức" in error["message"] and provider in error["message"]  # Vietnamese first
    assert "choose another provider" in error["message"]  # and in English


@pytest.mark.parametrize(("provider", "amount"), ABOVE + BELOW)
def test_an_attempt_outside_the_providers_limits_is_a_422_and_changes_nothing(
    gw: Gateway, portal: ApiClient, provider: str, amount: int
) -> None:
    payment = create(gw, portal, amount)
    before = attempts_and_events(gw, payment["id"])

    answer = start(gw, portal, payment["id"], provider)

    assert_refused_for_limits(answer, provider)
    assert attempts_and_events(gw, payment["id"]) == before  # no attempt, no event
    seen = fetch(gw, portal, payment["id"])
    assert seen["status"] == "created" and seen["attempts"] == []
    # the citizen is not offered it either, and can still pay with another provider
    assert provider not in offered_on_checkout(gw, payment["id"])
    assert start(gw, portal, payment["id"], "sandbox").status_code == 201


@pytest.mark.parametrize(("provider", "amount"), AT_LIMITS)
def test_at_its_limits_the_provider_is_offered_and_the_attempt_starts(
    gw: Gateway, portal: ApiClient, provider: str, amount: int
) -> None:
    payment = create(gw, portal, amount)

    assert provider in offered_on_checkout(gw, payment["id"])
    answer = start(gw, portal, payment["id"], provider)

    assert answer.status_code == 201, answer.text
    attempt = answer.json()
    assert (attempt["provider"], attempt["status"], attempt["amount"]) == (
        provider, "pending", amount)
    assert attempt.get("redirect_url") or attempt.get("qr_payload")


def test_the_checkout_offers_exactly_the_providers_whose_limits_admit_the_amount(
    gw: Gateway, portal: ApiClient
) -> None:
    cases = {
        500: {"vnpay", "zalopay", "vietqr", "sandbox"},  # below MoMo's 1,000
        150_000: {"vnpay", "momo", "zalopay", "vietqr", "sandbox"},
        60_000_000: {"vnpay", "vietqr", "sandbox"},  # above MoMo's and ZaloPay's 50 million
        600_000_000: {"vnpay", "sandbox"},  # above NAPAS 247's 499,999,999
        10_000_000_000: {"sandbox"},  # above VNPay's 9,999,999,999 (vnp_Amount Numeric[12])
    }
    for amount, expected in cases.items():
        payment = create(gw, portal, amount)
        assert offered_on_checkout(gw, payment["id"]) == expected, amount


def test_vnpay_above_its_field_limit_is_a_422_not_a_500_nor_a_pending_attempt(
    gw: Gateway, portal: ApiClient
) -> None:
    """Seen before: 10,000,000,000 đồng at VNPay answered 500 and left a pending attempt."""
    payment = create(gw, portal, 10_000_000_000)

    answer = start(gw, portal, payment["id"], "vnpay")

    assert_refused_for_limits(answer, "vnpay")
    assert "9.999.999.999 ₫" in answer.json()["detail"]
    assert fetch(gw, portal, payment["id"])["attempts"] == []


def test_a_refused_attempt_leaves_a_pending_payment_pending(
    gw: Gateway, portal: ApiClient
) -> None:
    payment = create(gw, portal, 60_000_000)
    assert start(gw, portal, payment["id"], "sandbox").status_code == 201
    assert fetch(gw, portal, payment["id"])["status"] == "pending"
    before = attempts_and_events(gw, payment["id"])

    for provider in ("momo", "zalopay"):
        assert_refused_for_limits(start(gw, portal, payment["id"], provider), provider)

    seen = fetch(gw, portal, payment["id"])
    assert seen["status"] == "pending"
    assert [a["provider"] for a in seen["attempts"]] == ["sandbox"]
    assert attempts_and_events(gw, payment["id"]) == before


def test_choosing_a_provider_the_amount_does_not_fit_on_the_checkout_form_is_explained(
    gw: Gateway, portal: ApiClient
) -> None:
    """A hand-made form post (the page never offers it): 422 page, no attempt, still payable."""
    payment = create(gw, portal, 999)

    page = requests.post(gw.settings.url(f"/pay/{payment['id']}/start"),
                         data={"provider": "momo"}, allow_redirects=False, timeout=TIMEOUT)

    assert page.status_code == 422
    assert "hạn mức" in page.text and "1.000 ₫ – 50.000.000 ₫" in page.text
    assert 'value="sandbox"' in page.text and 'value="momo"' not in page.text
    seen = fetch(gw, portal, payment["id"])
    assert (seen["status"], seen["attempts"]) == ("created", [])
