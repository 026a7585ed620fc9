"""Pages that wait update themselves in a real Chromium, without reloading (no meta refresh):
static/poll.js polls /pay/{id}/status.json, announces the result in the aria-live region
and opens the result; without script, "Kiểm tra lại" does the same by hand."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from payments.config import VietqrSettings
from payments.models import Attempt
from payments.services.gateway import Gateway
from tests.browser.conftest import TIMEOUT_MS, in_ci
from tests.factories import ApiClient, create_payment, make_api_client, start_attempt
from tests.webhooks import test_vietqr as bank

try:
    from playwright.sync_api import Page, expect
except ImportError:
    if in_ci():
        raise
    pytest.skip(
        "browser tests need the Python package playwright (pip install -e '.[test]')",
        allow_module_level=True,
    )

# axe-core is not part of tests/browser (no copy of it in the tree, and nothing may come
# from a CDN): the accessibility checks here are the journey's own plus the live region.


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "vietqr": VietqrSettings(
            bank_bin=bank.BANK_BIN,
            account_no=bank.ACCOUNT_NO,
            account_name=bank.ACCOUNT_NAME,
            checksum_key=bank.CHECKSUM_KEY,
        )
    }


@pytest.fixture
def portal(gw: Gateway) -> ApiClient:
    return make_api_client(gw)


def watch(page: Page) -> dict[str, list[str]]:
    """What the page loads and complains about while it waits."""
    seen: dict[str, list[str]] = {"requests": [], "errors": [], "loads": []}
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("response", lambda r: seen["errors"].append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    page.on("load", lambda p: seen["loads"].append(p.url))
    return seen


def test_the_confirming_page_updates_itself_when_the_sandbox_payment_succeeds(
    page: Page, http: FlaskClient, portal: ApiClient, base_url: str
) -> None:
    payment = create_payment(http, portal)
    attempt = start_attempt(http, portal, payment["id"])  # the citizen went to the sandbox
    seen = watch(page)
    page.goto(f"{base_url}/pay/{payment['id']}/result/{attempt['id']}")
    expect(page.get_by_test_id("status")).to_have_text("Đang xác nhận giao dịch với nhà cung cấp…")
    live = page.get_by_test_id("poll-live")
    expect(live).to_have_attribute("aria-live", "polite")
    expect(live).to_have_text("")
    expect(page.get_by_role("link", name="Kiểm tra lại")).to_be_visible()
    page.wait_for_function("document.querySelector('[data-poll-state=polling]') !== null")

    # the citizen pays on the sandbox's page in another tab: its callback settles the payment
    sandbox = page.context.new_page()
    sandbox.goto(attempt["redirect_url"])
    sandbox.get_by_role("button", name="Thanh toán", exact=True).click()
    sandbox.wait_for_url(re.compile(r"/pay/return/sandbox\?"))
    sandbox.close()

    expect(live).to_have_text("Đã thanh toán. Đang mở trang kết quả…", timeout=TIMEOUT_MS)
    page.wait_for_url(re.compile(rf"/pay/{payment['id']}/result/{attempt['id']}\?lang=vi$"))
    expect(page.get_by_test_id("status")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("status")).to_have_text("Đã thanh toán")
    expect(page.get_by_test_id("poll-live")).to_have_count(0)  # nothing waits any more
    assert len(seen["loads"]) == 2  # the page itself and, once, the result: no reloads
    polls = [u for u in seen["requests"] if "/status.json" in u]
    assert polls and all(f"attempt={attempt['id']}" in u for u in polls)
    assert all(u.startswith(base_url) for u in seen["requests"]), seen["requests"]
    assert seen["errors"] == []


def test_the_vietqr_page_updates_itself_when_the_bank_reports_the_transfer(
    page: Page, http: FlaskClient, gw: Gateway, portal: ApiClient, base_url: str
) -> None:
    payment = create_payment(http, portal)
    start_attempt(http, portal, payment["id"], "vietqr")
    with gw.sessions() as session:
        reference = session.scalars(
            select(Attempt.reference).where(Attempt.payment_id == payment["id"])
        ).one()
    seen = watch(page)
    page.goto(f"{base_url}/pay/{payment['id']}?lang=en")
    expect(page.get_by_test_id("qr")).to_be_visible()
    expect(page.get_by_role("link", name="Check again")).to_be_visible()
    page.wait_for_function("document.querySelector('[data-poll-state=polling]') !== null")

    answer = bank.post(base_url, bank.notification(bank.bank_description(reference)))
    assert answer.status_code == 200

    expect(page.get_by_test_id("poll-live")).to_have_text("Paid. Opening the result…",
                                                          timeout=TIMEOUT_MS)
    page.wait_for_url(re.compile(rf"/pay/{payment['id']}\?lang=en$"))
    expect(page.locator(".status")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("qr")).to_have_count(0)
    assert seen["errors"] == []


def test_without_script_check_again_shows_the_result(
    browser: Any, http: FlaskClient, gw: Gateway, portal: ApiClient, base_url: str
) -> None:
    context = browser.new_context(locale="vi-VN", java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        payment = create_payment(http, portal)
        attempt = start_attempt(http, portal, payment["id"])
        page.goto(f"{base_url}/pay/{payment['id']}/result/{attempt['id']}")
        again = page.get_by_role("link", name="Kiểm tra lại")
        expect(again).to_be_visible()
        again.click()  # still nothing paid: the same page, still confirming
        expect(page.get_by_test_id("status")).to_have_text(re.compile("Đang xác nhận"))

        # the citizen pays at the sandbox (its books say paid), then checks again
        paid = context.new_page()
        paid.goto(attempt["redirect_url"])
        paid.get_by_role("button", name="Thanh toán", exact=True).click()
        paid.close()

        page.get_by_role("link", name="Kiểm tra lại").click()
        expect(page.get_by_test_id("status")).to_have_attribute("data-status", "succeeded")
    finally:
        context.close()
