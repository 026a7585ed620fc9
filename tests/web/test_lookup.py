"""`/pay/lookup` through the real routes: dossier reference + the phone's last 4 digits find
the payment (or its receipt), a wrong part gives one neutral message, the form carries a
CSRF token, and guessing meets 429 per IP and per reference."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from payments.config import ConfigError, load_settings
from payments.services.gateway import Gateway
from tests.factories import ApiClient, create_payment, make_api_client
from tests.flow import forms_of, pay_through_sandbox

REFERENCE = "000.00.01.H32-261126-0042"
PHONE = "0901 234 567"
NEUTRAL_VI = "Không tìm thấy khoản thanh toán khớp với thông tin đã nhập."


@pytest.fixture
def portal(gw: Gateway, app: Any) -> ApiClient:
    return make_api_client(gw)


@pytest.fixture
def payment(http: FlaskClient, portal: ApiClient) -> dict[str, Any]:
    return create_payment(
        http, portal, reference=REFERENCE,
        payer={"name": "Nguyễn Văn A", "phone": PHONE},
    )


def token(http: FlaskClient, lang: str | None = None) -> str:
    page = http.get("/pay/lookup" + (f"?lang={lang}" if lang else ""))
    assert page.status_code == 200
    (form,) = forms_of(page.get_data(as_text=True))
    return form.fields["csrf_token"]


def look(http: FlaskClient, reference: str, phone: str, *, ip: str = "127.0.0.1",
         lang: str | None = None) -> Any:
    data = {"reference": reference, "phone": phone, "csrf_token": token(http, lang)}
    path = "/pay/lookup" + (f"?lang={lang}" if lang else "")
    return http.post(path, data=data, environ_base={"REMOTE_ADDR": ip})


def links(html: str) -> list[str]:
    return re.findall(r'<a class="button" href="([^"]+)" data-testid="lookup-link"', html)


def test_the_form_is_vietnamese_first_with_labels_and_a_csrf_token(http: FlaskClient) -> None:
    page = http.get("/pay/lookup")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<html lang="vi">' in html
    assert '<label for="lookup-reference">Mã hồ sơ</label>' in html
    assert '<label for="lookup-phone">4 số cuối số điện thoại</label>' in html
    assert 'id="lookup-reference" name="reference"' in html
    assert 'id="lookup-phone" name="phone"' in html and 'inputmode="numeric"' in html
    (form,) = forms_of(html)
    assert form.method == "post" and form.fields["csrf_token"]
    english = http.get("/pay/lookup?lang=en").get_data(as_text=True)
    assert "Dossier reference" in english and "Last 4 digits of the phone number" in english


def test_reference_and_last_four_find_the_payment_to_resume(
    http: FlaskClient, payment: dict[str, Any]
) -> None:
    response = look(http, REFERENCE, "4567")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert links(html) == [f"/pay/{payment['id']}?lang=vi"]
    assert "Tiếp tục thanh toán" in html
    assert NEUTRAL_VI not in html


def test_a_paid_payment_links_to_its_receipt(
    http: FlaskClient, payment: dict[str, Any], base_url: str
) -> None:
    pay_through_sandbox(base_url, payment["id"])
    html = look(http, f"  {REFERENCE} ", "4567", lang="en").get_data(as_text=True)
    assert links(html) == [f"/pay/{payment['id']}/receipt?lang=en"]
    assert "View the receipt" in html


def test_a_wrong_phone_and_an_unknown_reference_give_the_same_neutral_message(
    http: FlaskClient, payment: dict[str, Any]
) -> None:
    def body(reference: str, phone: str) -> str:
        response = look(http, reference, phone)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        html = re.sub(r'name="csrf_token" value="[^"]*"', "", html)
        return html.replace(f'value="{reference}"', 'value=""')

    wrong_phone = body(REFERENCE, "4568")
    unknown = body("000.00.01.H32-261126-9999", "4567")
    assert NEUTRAL_VI in wrong_phone
    assert wrong_phone == unknown  # not one byte tells which part was wrong
    assert payment["id"] not in wrong_phone and not links(wrong_phone)


def test_a_payment_without_a_phone_is_never_found(
    http: FlaskClient, portal: ApiClient
) -> None:
    create_payment(http, portal, reference=REFERENCE)  # payer without phone
    html = look(http, REFERENCE, "0000").get_data(as_text=True)
    assert NEUTRAL_VI in html and not links(html)


def test_malformed_input_is_422_and_a_post_without_the_csrf_token_is_refused(
    http: FlaskClient, payment: dict[str, Any]
) -> None:
    assert look(http, REFERENCE, "45").status_code == 422
    assert look(http, "", "4567").status_code == 422
    refused = http.post("/pay/lookup", data={"reference": REFERENCE, "phone": "4567"})
    assert refused.status_code == 400
    assert payment["id"] not in refused.get_data(as_text=True)


class TestLimits:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"rate_limit_lookup": "3/minute", "rate_limit_lookup_reference": "5/hour"}

    def test_guessing_from_one_address_meets_429(
        self, http: FlaskClient, payment: dict[str, Any]
    ) -> None:
        for guess in ("0001", "0002", "0003"):
            assert look(http, REFERENCE, guess).status_code == 200
        refused = look(http, REFERENCE, "4567")  # even the right answer, past the limit
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert payment["id"] not in refused.get_data(as_text=True)
        assert look(http, REFERENCE, "4567", ip="10.0.0.9").status_code == 200  # others pass

    def test_guessing_one_reference_from_many_addresses_meets_429(
        self, http: FlaskClient, payment: dict[str, Any]
    ) -> None:
        for n in range(5):
            assert look(http, REFERENCE, f"000{n}", ip=f"10.0.1.{n}").status_code == 200
        assert look(http, REFERENCE, "4567", ip="10.0.2.1").status_code == 429
        other = look(http, "000.00.01.H32-261126-0001", "4567", ip="10.0.2.2")
        assert other.status_code == 200  # another dossier is not locked out


def test_the_limits_come_from_the_environment_with_the_contract_defaults() -> None:
    defaults = load_settings({})
    assert (defaults.rate_limit_lookup, defaults.rate_limit_lookup_reference) == (
        "10/minute", "30/hour")
    env = {"FEEGATE_RATE_LIMIT_LOOKUP": "5/minute",
           "FEEGATE_RATE_LIMIT_LOOKUP_REFERENCE": "20 per day"}
    settings = load_settings(env)
    assert (settings.rate_limit_lookup, settings.rate_limit_lookup_reference) == (
        "5/minute", "20 per day")
    with pytest.raises(ConfigError, match="FEEGATE_RATE_LIMIT_LOOKUP"):
        load_settings({"FEEGATE_RATE_LIMIT_LOOKUP": "lots"})
