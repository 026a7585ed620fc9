"""The citizen's journey in a real headless Chromium: /demo → checkout → sandbox page →
result → back to /demo, on a desktop and on a 360 px phone."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import in_ci
from tests.factories import ApiClient

try:
    from playwright.sync_api import Page, expect
except ImportError:
    if in_ci():
        raise
    pytest.skip(
        "browser tests need the Python package playwright (pip install -e '.[test]')",
        allow_module_level=True,
    )

AMOUNT = "200.000 ₫"
AGENCY_NAME = "Sở Tư pháp tỉnh Khánh Hòa"
PROCEDURE_NAME = "Cấp Phiếu lý lịch tư pháp"
CHECKOUT = re.compile(r"/pay/[^/?]+(\?.*)?$")
SANDBOX = re.compile(r"/sandbox/pay\?")
RESULT = re.compile(r"/pay/return/sandbox\?")
DEMO_BACK = re.compile(r"/demo\?reference=")


def open_checkout(page: Page, base_url: str) -> None:
    """As a portal user: create a payment on /demo and land on the checkout page."""
    page.goto(f"{base_url}/demo")
    page.get_by_role("button", name="Tạo khoản thanh toán").click()
    page.wait_for_url(CHECKOUT)


def pay_with_sandbox(page: Page, choice: str, button: str = "Thanh toán qua Sandbox") -> None:
    page.get_by_role("button", name=button).click()
    page.wait_for_url(SANDBOX)
    expect(page.get_by_test_id("sandbox-amount")).to_have_text(AMOUNT)
    page.get_by_role("button", name=choice, exact=choice == "Thanh toán").click()
    page.wait_for_url(RESULT)


def back_to_demo(page: Page) -> None:
    page.get_by_role("link", name="Quay lại cổng dịch vụ công").click()
    page.wait_for_url(DEMO_BACK)


@pytest.mark.parametrize(
    ("choice", "result_text", "detail", "demo_status"),
    [
        ("Thanh toán", "Đã thanh toán", "Giao dịch đã được ghi nhận", "succeeded"),
        ("Giả lập thất bại", "Thanh toán chưa thành công", "Tài khoản không đủ số dư", "failed"),
        ("Hủy giao dịch", "Thanh toán chưa thành công", "Khách hàng hủy giao dịch", "failed"),
    ],
    ids=["pay", "fail", "cancel"],
)
def test_walk_from_demo_to_result_and_back(
    page: Page,
    base_url: str,
    demo: ApiClient,
    choice: str,
    result_text: str,
    detail: str,
    demo_status: str,
) -> None:
    open_checkout(page, base_url)
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.get_by_test_id("amount")).to_have_text(AMOUNT)
    details = page.locator("dl").first
    expect(details).to_contain_text(AGENCY_NAME)
    expect(details).to_contain_text(PROCEDURE_NAME)
    assert_accessible(page)

    pay_with_sandbox(page, choice)
    status = page.get_by_test_id("status")
    expect(status).to_contain_text(result_text)
    expect(status).to_have_attribute("data-status", demo_status)
    expect(page.locator("main")).to_contain_text(detail)
    assert_accessible(page)

    back_to_demo(page)
    expect(page.get_by_test_id("demo-status")).to_have_text(demo_status)


def test_a_failed_payment_can_be_paid_with_another_attempt(
    page: Page, base_url: str, demo: ApiClient
) -> None:
    open_checkout(page, base_url)
    pay_with_sandbox(page, "Giả lập thất bại")
    expect(page.get_by_test_id("status")).to_have_attribute("data-status", "failed")

    page.get_by_role("link", name="Chọn phương thức khác").click()
    page.wait_for_url(CHECKOUT)
    pay_with_sandbox(page, "Thanh toán")
    expect(page.get_by_test_id("status")).to_have_text("Đã thanh toán")

    back_to_demo(page)
    expect(page.get_by_test_id("demo-status")).to_have_text("succeeded")


# Basic checks a screen reader user depends on; returns the problems found.
A11Y_PROBLEMS = """() => {
  const problems = [];
  const ids = new Set();
  for (const el of document.querySelectorAll('[id]')) {
    if (ids.has(el.id)) problems.push('duplicate id ' + el.id);
    ids.add(el.id);
  }
  for (const el of document.querySelectorAll('[aria-labelledby], [aria-describedby]')) {
    const refs = (el.getAttribute('aria-labelledby') || '') + ' '
               + (el.getAttribute('aria-describedby') || '');
    for (const id of refs.split(/\\s+/).filter(Boolean)) {
      if (!document.getElementById(id)) problems.push(el.tagName + ' refers to missing #' + id);
    }
  }
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    const labelled = (el.labels && el.labels.length) || el.getAttribute('aria-label')
                     || el.getAttribute('aria-labelledby');
    if (!labelled) problems.push((el.name || el.tagName) + ' has no label');
  }
  for (const el of document.querySelectorAll('button, a[href]')) {
    if (!(el.innerText || el.getAttribute('aria-label') || '').trim()) {
      problems.push(el.tagName + ' without an accessible name');
    }
  }
  for (const el of document.querySelectorAll('img:not([alt])')) problems.push('img without alt');
  if (!document.documentElement.lang) problems.push('html without lang');
  if (!document.title.trim()) problems.push('empty title');
  if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one h1');
  return problems;
}"""


def assert_accessible(page: Page) -> None:
    problems = page.evaluate(A11Y_PROBLEMS)
    assert problems == [], f"{page.url}: {problems}"


def assert_fits_phone(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{page.url} scrolls sideways on a 360 px phone ({width} px wide)"


def test_checkout_fits_a_360px_phone(
    phone: Page, base_url: str, demo: ApiClient, tmp_path: Path
) -> None:
    open_checkout(phone, base_url)
    expect(phone.locator("html")).to_have_attribute("lang", "vi")
    expect(phone.get_by_test_id("amount")).to_have_text(AMOUNT)
    assert_fits_phone(phone)

    buttons = phone.locator(".providers button")
    assert buttons.count() >= 1
    for index in range(buttons.count()):
        box = buttons.nth(index).bounding_box()
        assert box is not None
        assert box["height"] >= 44, f"pay button {index} is {box['height']} px tall"
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360

    shot = tmp_path / "checkout-360.png"
    phone.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0

    assert_accessible(phone)
    checkout_url = phone.url

    phone.get_by_role("button", name="Thanh toán qua Sandbox").click()
    phone.wait_for_url(SANDBOX)
    assert_fits_phone(phone)
    phone.get_by_role("button", name="Thanh toán", exact=True).click()
    phone.wait_for_url(RESULT)
    expect(phone.get_by_test_id("status")).to_have_text("Đã thanh toán")
    assert_fits_phone(phone)
    assert_accessible(phone)
    phone.screenshot(path=str(tmp_path / "result-360.png"), full_page=True)

    # Coming back to a paid checkout: no way to pay twice, a way back to the portal.
    phone.goto(checkout_url)
    expect(phone.locator(".status")).to_have_text("Đã thanh toán")
    expect(phone.get_by_role("button", name="Thanh toán qua Sandbox")).to_have_count(0)
    expect(phone.get_by_role("link", name="Quay lại cổng dịch vụ công")).to_be_visible()
    assert_fits_phone(phone)
    assert_accessible(phone)

    back_to_demo(phone)
    expect(phone.get_by_test_id("demo-status")).to_have_text("succeeded")
    assert_fits_phone(phone)
    assert_accessible(phone)


def test_checkout_in_english(phone: Page, base_url: str, demo: ApiClient) -> None:
    open_checkout(phone, base_url)
    phone.get_by_role("link", name="English").click()
    phone.wait_for_url(re.compile(r"lang=en"))
    expect(phone.locator("html")).to_have_attribute("lang", "en")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Pay fees and charges")
    expect(phone.locator("main")).to_contain_text("Agency")
    expect(phone.locator("main")).to_contain_text("Total")
    expect(phone.get_by_test_id("amount")).to_have_text(AMOUNT)
    assert_fits_phone(phone)
    assert_accessible(phone)

    pay_with_sandbox(phone, "Thanh toán", button="Pay with Sandbox")
    expect(phone.get_by_test_id("status")).to_have_attribute("data-status", "succeeded")


def test_result_page_keeps_the_language_chosen_at_checkout(
    page: Page, base_url: str, demo: ApiClient
) -> None:
    open_checkout(page, base_url)
    page.get_by_role("link", name="English").click()
    page.wait_for_url(re.compile(r"lang=en"))
    pay_with_sandbox(page, "Thanh toán", button="Pay with Sandbox")
    expect(page.get_by_test_id("status")).to_have_text("Paid", timeout=2_000)
    expect(page.locator("html")).to_have_attribute("lang", "en", timeout=2_000)


def test_checkout_and_result_pages_load_nothing_from_outside(
    page: Page, base_url: str, demo: ApiClient
) -> None:
    open_checkout(page, base_url)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.reload(wait_until="networkidle")
    checkout_url = page.url
    pay_with_sandbox(page, "Thanh toán")
    page.wait_for_load_state("networkidle")
    page.goto(
        f"{checkout_url}{'&' if '?' in checkout_url else '?'}lang=en", wait_until="networkidle"
    )

    assert any(RESULT.search(url) for url in requested)
    outside = [url for url in requested if not _local(url)]
    assert outside == [], f"pages requested outside hosts: {outside}"


def _local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname == "127.0.0.1"
