"""The citizen's checkout page /pay/{id}: what fee, for which procedure, how much, how to pay."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from flask.testing import FlaskClient

from payments.services.gateway import Gateway
from tests.factories import ApiClient, Clock, create_payment, make_api_client, make_procedure
from tests.flow import forms_of, pay_through_sandbox

PROCEDURE = "1.001122"
RESOURCE_ATTRS = {
    "script": "src",
    "link": "href",
    "img": "src",
    "iframe": "src",
    "source": "src",
    "video": "src",
    "audio": "src",
    "embed": "src",
    "object": "data",
}


@pytest.fixture
def client(gw: Gateway, app: Any) -> ApiClient:
    make_procedure(
        gw,
        code=PROCEDURE,
        name="Cấp bản sao trích lục hộ tịch",
        fees=(
            ("Lệ phí cấp bản sao trích lục", "charge", 100_000),
            ("Phí cung cấp thông tin", "fee", 50_000),
        ),
    )
    return make_api_client(gw)


@pytest.fixture
def payment(http: FlaskClient, client: ApiClient) -> dict[str, Any]:
    body = {"procedure_code": PROCEDURE, "description": ""}
    return create_payment(http, client, **body)


def page(http: FlaskClient, path: str) -> tuple[int, str]:
    response = http.get(path)
    return response.status_code, response.get_data(as_text=True)


class Resources(HTMLParser):
    """Every URL the browser would load by itself (not links the citizen may follow)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = RESOURCE_ATTRS.get(tag)
        for key, value in attrs:
            if value and (key == attr or key in ("srcset", "poster")):
                self.urls.append(value)


def external_resources(html: str) -> list[str]:
    parser = Resources()
    parser.feed(html)
    urls = (
        parser.urls
        + re.findall(r"url\(\s*['\"]?([^'\")]+)", html)
        + re.findall(r"@import\s+['\"]([^'\"]+)", html)
    )
    return [u for u in urls if re.match(r"^(https?:)?//", u.strip(), re.IGNORECASE)]


def test_the_page_shows_agency_procedure_reference_fee_items_and_amount(
    http: FlaskClient, payment: dict[str, Any]
) -> None:
    status, html = page(http, f"/pay/{payment['id']}")

    assert status == 200
    assert "Sở Tư pháp tỉnh Khánh Hòa" in html
    assert "Cấp bản sao trích lục hộ tịch" in html
    assert payment["reference"] in html
    assert "Lệ phí cấp bản sao trích lục" in html
    assert "Phí cung cấp thông tin" in html
    assert "100.000 ₫" in html
    assert "50.000 ₫" in html
    assert re.search(r'data-testid="amount">150\.000 ₫<', html)
    assert "Nguyễn Văn A" in html


def test_the_page_offers_the_sandbox_provider_as_a_button(
    http: FlaskClient, payment: dict[str, Any]
) -> None:
    _, html = page(http, f"/pay/{payment['id']}")

    (form,) = [f for f in forms_of(html) if f.fields.get("provider") == "sandbox"]
    assert form.method == "post"
    assert form.action.startswith(f"/pay/{payment['id']}/start")
    assert "Sandbox (thử nghiệm)" in html
    assert "VNPAY" not in html  # only configured providers are offered


def test_the_page_is_vietnamese_by_default(http: FlaskClient, payment: dict[str, Any]) -> None:
    _, html = page(http, f"/pay/{payment['id']}")

    assert '<html lang="vi">' in html
    assert "Thanh toán phí, lệ phí" in html
    assert "Chọn phương thức thanh toán" in html
    assert "Tổng cộng" in html


def test_the_page_speaks_english_with_lang_en(http: FlaskClient, payment: dict[str, Any]) -> None:
    _, html = page(http, f"/pay/{payment['id']}?lang=en")

    assert '<html lang="en">' in html
    assert "Pay fees and charges" in html
    assert "Choose how to pay" in html
    assert "Agency" in html and "Procedure" in html and "Total" in html
    assert "150.000 ₫" in html
    assert "Chọn phương thức thanh toán" not in html
    (form,) = [f for f in forms_of(html) if f.fields.get("provider") == "sandbox"]
    assert "lang=en" in form.action


def test_the_page_links_to_the_other_language(http: FlaskClient, payment: dict[str, Any]) -> None:
    _, html = page(http, f"/pay/{payment['id']}")

    assert f'href="/pay/{payment["id"]}?lang=en"' in html


def test_an_unknown_payment_is_a_404_page(http: FlaskClient, client: ApiClient) -> None:
    status, html = page(http, "/pay/pay_doesnotexist")

    assert status == 404
    assert "Không tìm thấy khoản thanh toán" in html
    assert page(http, "/pay/pay_doesnotexist?lang=en")[1].count("Payment not found") == 1


@pytest.mark.parametrize("bad_id", ["pay_%00x", "x" * 300, "%27%3B--", "pay_%F0%9F%92%A9"])
def test_an_id_no_payment_could_have_is_a_404_page(
    http: FlaskClient, client: ApiClient, bad_id: str
) -> None:
    assert http.get(f"/pay/{bad_id}").status_code == 404
    assert http.post(f"/pay/{bad_id}/start", data={"provider": "sandbox"}).status_code == 404


def test_starting_an_unknown_payment_is_404(http: FlaskClient, client: ApiClient) -> None:
    assert http.post("/pay/pay_doesnotexist/start", data={"provider": "sandbox"}).status_code == 404


def test_the_page_works_on_a_phone(http: FlaskClient, payment: dict[str, Any]) -> None:
    _, html = page(http, f"/pay/{payment['id']}")

    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert 'charset="utf-8"' in html


def test_the_pages_load_nothing_from_another_site(
    http: FlaskClient, payment: dict[str, Any], base_url: str
) -> None:
    pages = [
        page(http, f"/pay/{payment['id']}")[1],
        page(http, f"/pay/{payment['id']}?lang=en")[1],
        page(http, "/pay/pay_doesnotexist")[1],
    ]
    walk = pay_through_sandbox(base_url, payment["id"], "pay")
    pages.append(walk.result.text)

    for html in pages:
        assert external_resources(html) == []
        assert "<script src" not in html
        assert "cdn" not in html.lower()


def test_the_resource_checker_sees_a_cdn() -> None:
    html = (
        '<link rel="stylesheet" href="https://cdn.example/x.css">'
        '<script src="//cdn.example/x.js"></script><style>body{background:url("http://x/y.png")}</style>'
    )

    assert len(external_resources(html)) == 3


def test_what_the_portal_sent_is_escaped(http: FlaskClient, client: ApiClient) -> None:
    payment = create_payment(
        http,
        client,
        procedure_code=PROCEDURE,
        description="<script>alert(1)</script>",  # free text (a reference has a shape)
        payer={"name": "<img src=x onerror=alert(1)>"},
    )

    _, html = page(http, f"/pay/{payment['id']}")

    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_large_amount_is_grouped_with_dots(http: FlaskClient, client: ApiClient) -> None:
    payment = create_payment(http, client, amount=1_250_000, description="Lệ phí đăng ký")

    _, html = page(http, f"/pay/{payment['id']}")

    assert "1.250.000 ₫" in html


def test_a_paid_payment_offers_no_provider_but_the_way_back(
    http: FlaskClient, payment: dict[str, Any], base_url: str
) -> None:
    pay_through_sandbox(base_url, payment["id"], "pay")

    _, html = page(http, f"/pay/{payment['id']}")

    assert "Đã thanh toán" in html
    assert not [f for f in forms_of(html) if f.fields.get("provider")]
    assert payment["return_url"] in html


def test_an_expired_payment_offers_no_provider(
    http: FlaskClient, payment: dict[str, Any], clock: Clock
) -> None:
    clock.advance(hours=2)

    _, html = page(http, f"/pay/{payment['id']}")

    assert not [f for f in forms_of(html) if f.fields.get("provider")]


def test_starting_after_expiry_shows_the_reason_instead_of_going_to_the_provider(
    http: FlaskClient, payment: dict[str, Any], clock: Clock
) -> None:
    clock.advance(hours=2)

    response = http.post(f"/pay/{payment['id']}/start", data={"provider": "sandbox"})

    assert response.status_code == 409
    assert "Location" not in response.headers
    assert "expired" in response.get_data(as_text=True)


def test_starting_with_an_unknown_provider_shows_an_error_page_not_a_crash(
    http: FlaskClient, payment: dict[str, Any]
) -> None:
    response = http.post(f"/pay/{payment['id']}/start", data={"provider": "paypal"})

    assert response.status_code == 422
    assert response.mimetype == "text/html"


def test_starting_from_the_page_redirects_to_the_provider_and_opens_an_attempt(
    http: FlaskClient, client: ApiClient, payment: dict[str, Any], base_url: str
) -> None:
    response = http.post(f"/pay/{payment['id']}/start", data={"provider": "sandbox"})

    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"{base_url}/sandbox/pay?")
    seen = http.get(f"/api/v1/payments/{payment['id']}", headers=client.headers).get_json()
    assert seen["status"] == "pending"
    assert [(a["provider"], a["status"]) for a in seen["attempts"]] == [("sandbox", "pending")]
    assert seen["attempts"][0]["redirect_url"] == response.headers["Location"]
