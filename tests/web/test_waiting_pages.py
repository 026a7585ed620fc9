"""No citizen page reloads itself (CONTRACT.md "Citizen"): pages that wait poll
/pay/{id}/status.json quietly with static/poll.js, announce the result in an
`aria-live` region, and offer "Kiểm tra lại" (check again) for a browser without script."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from adapters.sandbox import SIGNATURE_HEADER, SandboxAdapter
from payments.config import VietqrSettings
from payments.services.gateway import Gateway
from tests.factories import (
    ApiClient,
    Clock,
    create_payment,
    make_api_client,
    make_procedure,
    start_attempt,
)
from tests.flow import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]
META_REFRESH = re.compile(r"http-equiv\s*=\s*[\"']?refresh", re.I)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "vietqr": VietqrSettings(
            bank_bin="970436",
            account_no="0011001234567",
            account_name="SO TU PHAP TINH KHANH HOA",
            checksum_key="TESTKEYVIETQRWEBHOOK00000000000000000000000000000000000000000001",
        )
    }


@pytest.fixture
def portal(gw: Gateway) -> ApiClient:
    return make_api_client(gw)


def pay_sandbox(gw: Gateway, base_url: str, attempt: dict[str, Any], amount: int = 150_000,
                ) -> None:
    """The sandbox provider's signed callback: the payment succeeds."""
    adapter = gw.adapters["sandbox"]
    assert isinstance(adapter, SandboxAdapter)
    body = json.dumps({"reference": attempt["provider_reference"], "amount": str(amount),
                       "status": "paid", "code": "00", "transaction_id": "SBX1"}).encode()
    ack = requests.post(f"{base_url}/webhooks/sandbox", data=body, timeout=TIMEOUT,
                        headers={"Content-Type": "application/json",
                                 SIGNATURE_HEADER: adapter.sign_body(body)})
    assert ack.status_code == 200


def poll_box(html: str) -> dict[str, str]:
    box = re.search(r'<p class="poll" data-poll-url="([^"]+)" data-poll-next="([^"]+)">(.*?)</p>',
                    html, re.S)
    assert box is not None, "the waiting page has no polling box"
    again = re.search(r'<a href="([^"]+)" data-poll-again[^>]*>([^<]+)</a>', box.group(3))
    assert again is not None
    return {"url": box.group(1).replace("&amp;", "&"), "next": box.group(2).replace("&amp;", "&"),
            "inner": box.group(3), "again": again.group(1).replace("&amp;", "&"),
            "again_text": again.group(2)}


def citizen_pages(http: FlaskClient, gw: Gateway, base_url: str, portal: ApiClient,
                  app: Flask) -> dict[str, str]:
    """Every kind of citizen page, in both languages, waiting or not."""
    pages: dict[str, str] = {}
    fresh = create_payment(http, portal)
    pages["checkout"] = f"/pay/{fresh['id']}"
    qr = create_payment(http, portal, reference="000.00.01.H32-261126-0002")
    start_attempt(http, portal, qr["id"], "vietqr")
    pages["checkout-vietqr-waiting"] = f"/pay/{qr['id']}"
    sandbox = create_payment(http, portal, reference="000.00.01.H32-261126-0003")
    attempt = start_attempt(http, portal, sandbox["id"])
    pages["sandbox-provider-page"] = attempt["redirect_url"].removeprefix(base_url)
    pages["result-confirming"] = f"/pay/{sandbox['id']}/result/{attempt['id']}"
    paid = create_payment(http, portal, reference="000.00.01.H32-261126-0004")
    paid_attempt = start_attempt(http, portal, paid["id"])
    pay_sandbox(gw, base_url, paid_attempt)
    pages["checkout-paid"] = f"/pay/{paid['id']}"
    pages["result-paid"] = f"/pay/{paid['id']}/result/{paid_attempt['id']}"
    pages["unknown-payment"] = "/pay/pay_doesnotexist"
    make_procedure(gw)
    app.config["FEEGATE_DEMO_API_KEY"] = portal.api_key
    pages["demo"] = "/demo"
    for name, path in list(pages.items()):
        if name != "sandbox-provider-page":  # signed: the provider's own page takes no lang
            pages[name + "-en"] = f"{path}?lang=en"
    return pages


def test_no_citizen_page_reloads_itself_or_runs_inline_script(
    app: Flask, http: FlaskClient, gw: Gateway, base_url: str, portal: ApiClient
) -> None:
    for name, path in citizen_pages(http, gw, base_url, portal, app).items():
        answer = requests.get(base_url + path, timeout=TIMEOUT)
        assert answer.status_code in (200, 404), (name, answer.status_code)
        assert answer.headers["Content-Type"].startswith("text/html"), name
        html = answer.text
        assert not META_REFRESH.search(html), f"{name} ({path}) reloads itself"
        assert not INLINE_SCRIPT.search(html), f"{name} ({path}) has an inline script"
        assert "Refresh" not in answer.headers, name


def test_no_template_or_source_can_make_a_page_reload_itself() -> None:
    """Whatever page is added later: no template and no module writes a meta refresh."""
    offenders = []
    for folder in ("payments", "webhooks", "simulators"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".html", ".py", ".js"} and META_REFRESH.search(path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_vietqr_page_polls_the_status_and_offers_check_again(
    http: FlaskClient, gw: Gateway, base_url: str, portal: ApiClient
) -> None:
    payment = create_payment(http, portal)
    start_attempt(http, portal, payment["id"], "vietqr")
    html = requests.get(f"{base_url}/pay/{payment['id']}", timeout=TIMEOUT).text
    box = poll_box(html)
    assert box["url"] == f"/pay/{payment['id']}/status.json?lang=vi"
    assert box["next"] == f"/pay/{payment['id']}?lang=vi"
    assert box["again"] == f"/pay/{payment['id']}?lang=vi#transfer"  # the same page
    assert box["again_text"] == "Kiểm tra lại"
    assert re.search(r'role="status" aria-live="polite"[^>]*data-poll-live', box["inner"])
    assert "<noscript" not in html and "hidden" not in box["inner"]  # visible without script
    assert re.search(r'<script src="/static/checkout/poll\.js" defer></script>', html)

    english = poll_box(requests.get(f"{base_url}/pay/{payment['id']}?lang=en",
                                    timeout=TIMEOUT).text)
    assert english["again_text"] == "Check again"
    assert english["url"].endswith("lang=en")

    waiting = requests.get(base_url + box["url"], timeout=TIMEOUT)
    assert waiting.status_code == 200
    assert waiting.headers["Content-Type"] == "application/json"
    assert waiting.headers["Cache-Control"] == "no-store"
    assert waiting.json() == {"id": payment["id"], "status": "pending", "attempt": None,
                              "final": False, "message": "Chưa có kết quả. Trang vẫn tiếp tục "
                              "kiểm tra; vui lòng không thanh toán lại."}


def test_a_page_that_does_not_wait_does_not_poll(
    http: FlaskClient, base_url: str, portal: ApiClient
) -> None:
    payment = create_payment(http, portal)
    html = requests.get(f"{base_url}/pay/{payment['id']}", timeout=TIMEOUT).text
    assert "data-poll-url" not in html and "poll.js" not in html


def test_the_status_json_says_final_in_the_citizens_language_and_nothing_secret(
    http: FlaskClient, gw: Gateway, base_url: str, portal: ApiClient
) -> None:
    payment = create_payment(http, portal)
    attempt = start_attempt(http, portal, payment["id"])
    url = f"{base_url}/pay/{payment['id']}/status.json?attempt={attempt['id']}"
    assert requests.get(url, timeout=TIMEOUT).json()["final"] is False

    pay_sandbox(gw, base_url, attempt)

    vi = requests.get(url, timeout=TIMEOUT).json()
    assert vi == {"id": payment["id"], "status": "succeeded",
                  "attempt": {"id": attempt["id"], "status": "succeeded"}, "final": True,
                  "message": "Đã thanh toán. Đang mở trang kết quả…"}
    en = requests.get(url + "&lang=en", timeout=TIMEOUT).json()
    assert en["message"] == "Paid. Opening the result…"
    # the payment-level answer (the VietQR page's) is final too
    assert requests.get(f"{base_url}/pay/{payment['id']}/status.json",
                        timeout=TIMEOUT).json()["final"] is True
    text = json.dumps(vi)
    for secret in (portal.api_key, "return_url", "portal.example.gov.vn", "payer",
                   attempt["provider_reference"]):
        assert secret not in text


def test_the_status_json_of_an_unknown_payment_or_another_payments_attempt_is_404(
    http: FlaskClient, base_url: str, portal: ApiClient
) -> None:
    one = create_payment(http, portal)
    other = create_payment(http, portal, reference="000.00.01.H32-261126-0002")
    attempt = start_attempt(http, portal, other["id"])
    for url in ("/pay/pay_doesnotexist/status.json",
                f"/pay/{one['id']}/status.json?attempt={attempt['id']}",
                f"/pay/{one['id']}/status.json?attempt=att_nosuchattempt",
                f"/pay/{one['id']}/status.json?attempt=att%00x"):
        answer = requests.get(base_url + url, timeout=TIMEOUT)
        assert answer.status_code == 404, url
        assert answer.json() == {"error": "not found"}


def test_poll_js_is_served_locally_and_asks_nothing_elsewhere(
    http: FlaskClient, base_url: str
) -> None:
    answer = requests.get(f"{base_url}/static/checkout/poll.js", timeout=TIMEOUT)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].split(";")[0] in ("text/javascript",
                                                             "application/javascript")
    script = answer.text
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", script, re.I)  # no CDN
    assert "eval(" not in script and "innerHTML" not in script
    assert "location.reload" not in script  # it navigates once, on a final answer
    for part in ("data-poll-url", "data-poll-live", "data-poll-again", "final"):
        assert part in script


def test_a_final_answer_always_opens_a_page_that_no_longer_waits(
    http: FlaskClient, gw: Gateway, clock: Clock, base_url: str, portal: ApiClient
) -> None:
    """`final` is exactly "the page to open does not poll": never a loop of page loads."""
    payment = create_payment(http, portal)
    start_attempt(http, portal, payment["id"], "vietqr")
    status_url = f"{base_url}/pay/{payment['id']}/status.json"
    assert requests.get(status_url, timeout=TIMEOUT).json()["final"] is False

    clock.advance(minutes=61)  # past expires_at, before the worker has expired anything

    answer = requests.get(status_url, timeout=TIMEOUT).json()
    assert answer["final"] is True
    page = requests.get(f"{base_url}/pay/{payment['id']}?lang=vi", timeout=TIMEOUT).text
    assert "data-poll-url" not in page and 'data-testid="qr"' not in page
