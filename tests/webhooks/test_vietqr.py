"""VietQR through the real routes: the QR from the API and the checkout page, its SVG,
and the bank's notification at `POST /webhooks/vietqr`, signed payOS-style.

The test plays the bank (or the intermediary watching the account) over real HTTP. The
signature is built here by hand from payOS's rule (sorted `k=v` of `data`, HMAC-SHA256),
not with the adapter's helpers, and the QR's CRC is checked with binascii, so a mistake
in the adapter cannot hide behind itself.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import io
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
import segno
from flask.testing import FlaskClient
from sqlalchemy import select

from adapters.base import VIETNAM_TZ
from adapters.vietqr import BANK_NAMES, bank_label
from payments.config import ConfigError, VietqrSettings, load_settings
from payments.models import Attempt, Outbox, Payment, PaymentEvent, ProviderCallback
from payments.services.gateway import Gateway
from payments.services.jobs import expire_due, sync_due
from tests.factories import ApiClient, Clock, create_payment, make_api_client, start_attempt
from tests.flow import TIMEOUT, forms_of, submit

BANK_BIN = "970436"
ACCOUNT_NO = "0011001234567"
ACCOUNT_NAME = "SO TU PHAP TINH KHANH HOA"
CHECKSUM_KEY = "TESTKEYVIETQRWEBHOOK00000000000000000000000000000000000000000001"
AMOUNT = 150_000


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "vietqr": VietqrSettings(
            bank_bin=BANK_BIN,
            account_no=ACCOUNT_NO,
            account_name=ACCOUNT_NAME,
            checksum_key=CHECKSUM_KEY,
        )
    }


# -- the bank's side of the wire ------------------------------------------------------------


def signed(data: dict[str, Any], key: str = CHECKSUM_KEY) -> str:
    raw = "&".join(f"{k}={data[k]}" for k in sorted(data))
    return hmac.new(key.encode(), raw.encode("utf-8"), hashlib.sha256).hexdigest()


def notification(
    description: str, amount: int = AMOUNT, *, reference: str = "FT26330123456789"
) -> dict[str, Any]:
    """A credit to the agency's account, as payOS reports it."""
    data: dict[str, Any] = {
        "orderCode": 0,
        "amount": amount,
        "description": description,
        "accountNumber": ACCOUNT_NO,
        "reference": reference,
        "transactionDateTime": "2026-11-26 10:05:30",
        "currency": "VND",
        "paymentLinkId": "",
        "code": "00",
        "desc": "Thành công",
        "counterAccountBankId": "970415",
        "counterAccountBankName": "VietinBank",
        "counterAccountName": "NGUYEN VAN A",
        "counterAccountNumber": "0123456789",
        "virtualAccountName": "",
        "virtualAccountNumber": "",
    }
    return {
        "code": "00",
        "desc": "success",
        "success": True,
        "data": data,
        "signature": signed(data),
    }


def bank_description(reference: str) -> str:
    """What Vietcombank's app makes of the transfer description in the QR."""
    return f"MBVCB.3278614213.{reference}.CT tu 0123456789 NGUYEN VAN A toi {ACCOUNT_NO}"


def post(base_url: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        base_url + "/webhooks/vietqr",
        data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        timeout=TIMEOUT,
    )


# -- feegate's side -------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    payment_id: str
    attempt_id: str
    reference: str
    body: dict[str, Any]  # the attempt as the API answered it


@dataclass(frozen=True)
class State:
    payment_status: str
    flags: tuple[str, ...]
    attempt_status: str
    attempt_txn_id: str | None
    events: tuple[tuple[str, str | None, str | None], ...]
    outbox: tuple[str, ...]
    callbacks: tuple[tuple[bool | None, str | None, str | None], ...]

    def count(self, kind: str) -> int:
        return sum(1 for event in self.events if event[0] == kind)


def read_state(gw: Gateway, transfer: Transfer) -> State:
    with gw.sessions() as session:
        payment = session.get(Payment, transfer.payment_id)
        attempt = session.get(Attempt, transfer.attempt_id)
        assert payment is not None and attempt is not None
        events = session.execute(
            select(PaymentEvent.kind, PaymentEvent.from_status, PaymentEvent.to_status)
            .where(PaymentEvent.payment_id == payment.id)
            .order_by(PaymentEvent.id)
        ).all()
        outbox = session.scalars(select(Outbox.type).where(Outbox.payment_id == payment.id)).all()
        callbacks = session.execute(
            select(
                ProviderCallback.verified,
                ProviderCallback.outcome,
                ProviderCallback.provider_reference,
            )
            .where(ProviderCallback.provider == "vietqr")
            .order_by(ProviderCallback.id)
        ).all()
        return State(
            payment_status=payment.status,
            flags=tuple(payment.flags or ()),
            attempt_status=attempt.status,
            attempt_txn_id=attempt.provider_txn_id,
            events=tuple((e.kind, e.from_status, e.to_status) for e in events),
            outbox=tuple(sorted(outbox)),
            callbacks=tuple((c.verified, c.outcome, c.provider_reference) for c in callbacks),
        )


@pytest.fixture
def portal(gw: Gateway, app: Any) -> ApiClient:
    return make_api_client(gw)


def open_transfer(gw: Gateway, http: FlaskClient, portal: ApiClient, **payment: Any) -> Transfer:
    created = create_payment(http, portal, **payment)
    body = start_attempt(http, portal, created["id"], "vietqr")
    with gw.sessions() as session:
        row = session.get(Attempt, body["id"])
        assert row is not None
        return Transfer(created["id"], row.id, row.reference, body)


@pytest.fixture
def transfer(gw: Gateway, http: FlaskClient, portal: ApiClient) -> Transfer:
    return open_transfer(gw, http, portal)


def tlv(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    position = 0
    while position < len(text):
        tag, length = text[position : position + 2], int(text[position + 2 : position + 4])
        fields[tag] = text[position + 4 : position + 4 + length]
        position += 4 + length
    return fields


# -- the attempt and its QR -----------------------------------------------------------------


def test_the_api_answers_201_with_a_qr_payload_for_the_payment_amount_and_a_qr_image_url(
    transfer: Transfer, base_url: str
) -> None:
    body = transfer.body
    assert body["provider"] == "vietqr"
    assert body["status"] == "pending"
    assert body["redirect_url"] is None
    payload = body["qr_payload"]
    assert payload[-8:-4] == "6304"
    assert payload[-4:] == f"{binascii.crc_hqx(payload[:-4].encode(), 0xFFFF):04X}"
    fields = tlv(payload)
    assert fields["01"] == "12"  # dynamic: the amount is in the code
    assert fields["54"] == str(AMOUNT)
    assert fields["53"] == "704"
    assert fields["58"] == "VN"
    napas = tlv(fields["38"])
    assert napas["00"] == "A000000727"
    assert napas["02"] == "QRIBFTTA"
    assert tlv(napas["01"]) == {"00": BANK_BIN, "01": ACCOUNT_NO}
    purpose = tlv(fields["62"])["08"]
    assert purpose == transfer.reference
    assert re.fullmatch(r"FG[A-Z0-9]{16}", purpose)
    assert body["provider_reference"] == transfer.reference
    assert body["qr_image_url"] == (
        f"{base_url}/pay/{transfer.payment_id}/qr/{transfer.attempt_id}.svg"
    )


def test_the_qr_image_url_serves_an_svg(transfer: Transfer) -> None:
    response = requests.get(transfer.body["qr_image_url"], timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    root = ET.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox")  # scales to the page's width
    # the modules drawn are the QR code of the attempt's payload
    expected = io.BytesIO()
    segno.make(transfer.body["qr_payload"], error="m", micro=False).save(
        expected, kind="svg", border=4, omitsize=True
    )
    drawn = {p.get("d") for p in root.iter("{http://www.w3.org/2000/svg}path")}
    reference = ET.fromstring(expected.getvalue()).find("{http://www.w3.org/2000/svg}path")
    assert reference is not None and reference.get("d") in drawn
    assert b"http://" not in response.content.replace(b"http://www.w3.org/2000/svg", b"")


def test_the_qr_image_is_404_for_a_pair_that_does_not_match(
    gw: Gateway, http: FlaskClient, portal: ApiClient, transfer: Transfer
) -> None:
    other = create_payment(http, portal, reference="000.00.01.H32-261126-0002")
    sandbox = start_attempt(http, portal, other["id"], "sandbox")
    for path in (
        f"/pay/{other['id']}/qr/{transfer.attempt_id}.svg",  # another payment's attempt
        f"/pay/{transfer.payment_id}/qr/att_unknown.svg",
        f"/pay/{other['id']}/qr/{sandbox['id']}.svg",  # an attempt without a QR
        f"/pay/{other['id']}/qr/{transfer.attempt_id}.png",  # the PNG is checked the same way
        f"/pay/{other['id']}/qr/{sandbox['id']}.png",
        f"/pay/{transfer.payment_id}/qr/{transfer.attempt_id}.gif",
    ):
        assert http.get(path).status_code == 404, path


def test_the_qr_png_is_a_download_of_the_same_payload(transfer: Transfer, base_url: str) -> None:
    url = f"{base_url}/pay/{transfer.payment_id}/qr/{transfer.attempt_id}.png"
    response = requests.get(url, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="vietqr-{transfer.reference}.png"'
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # the same QR as the SVG: segno draws the attempt's payload at the route's settings
    expected = io.BytesIO()
    segno.make(transfer.body["qr_payload"], error="m", micro=False).save(
        expected, kind="png", scale=10, border=4, light="#fff"
    )
    assert response.content == expected.getvalue()


# -- the bank's notification ----------------------------------------------------------------


def test_a_signed_bank_notification_marks_the_payment_succeeded_and_tells_the_portal_once(
    gw: Gateway, base_url: str, portal: ApiClient, transfer: Transfer
) -> None:
    response = post(base_url, notification(bank_description(transfer.reference)))
    assert response.status_code == 200
    assert response.json() == {"success": True}
    state = read_state(gw, transfer)
    assert state.payment_status == "succeeded"
    assert state.attempt_status == "succeeded"
    assert state.attempt_txn_id == "FT26330123456789"
    assert state.outbox == ("payment.succeeded",)
    assert state.callbacks == ((True, "recorded", transfer.reference),)
    answer = requests.get(
        f"{base_url}/api/v1/payments/{transfer.payment_id}",
        headers=portal.headers,
        timeout=TIMEOUT,
    )
    payment = answer.json()
    assert payment["status"] == "succeeded"
    assert payment["paid_at"] == "2026-11-26T03:05:30Z"  # 10:05:30 in Vietnam
    (attempt,) = payment["attempts"]
    assert (attempt["provider"], attempt["status"]) == ("vietqr", "succeeded")


def test_a_tampered_signature_is_400_and_leaves_nothing_but_the_raw_row(
    gw: Gateway, base_url: str, transfer: Transfer
) -> None:
    before = read_state(gw, transfer)
    body = notification(bank_description(transfer.reference))
    body["data"]["amount"] = 1_000  # not re-signed
    response = post(base_url, body)
    assert response.status_code == 400
    assert response.json()["success"] is False
    after = read_state(gw, transfer)
    assert after.callbacks == ((False, "invalid_signature", None),)
    assert (after.payment_status, after.attempt_status) == ("pending", "pending")
    assert after.events == before.events
    assert after.outbox == before.outbox == ()
    with gw.sessions() as session:
        raw = session.scalars(select(ProviderCallback.body)).one()
    assert json.loads(raw) == body  # what the bank sent is kept, byte for byte


def test_a_wrong_amount_is_flagged_amount_mismatch_and_not_paid(
    gw: Gateway, base_url: str, transfer: Transfer
) -> None:
    response = post(base_url, notification(bank_description(transfer.reference), AMOUNT - 1))
    assert response.status_code == 200
    assert response.json() == {"success": True}
    state = read_state(gw, transfer)
    assert state.payment_status == "pending"
    assert state.attempt_status == "pending"
    assert "amount_mismatch" in state.flags
    assert state.count("attempt.amount_mismatch") == 1
    assert state.outbox == ()
    assert state.callbacks == ((True, "amount_mismatch", transfer.reference),)


def test_a_duplicate_notification_makes_one_transition(
    gw: Gateway, base_url: str, transfer: Transfer
) -> None:
    body = notification(bank_description(transfer.reference))
    first, second = post(base_url, body), post(base_url, body)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == {"success": True}
    state = read_state(gw, transfer)
    assert state.payment_status == "succeeded"
    assert state.count("attempt.status") == 1
    assert [e for e in state.events if e[0] == "payment.status"][-1][2] == "succeeded"
    assert state.outbox == ("payment.succeeded",)
    assert [c[1] for c in state.callbacks] == ["recorded", "already_confirmed"]


@pytest.mark.parametrize(
    "description",
    [
        "MBVCB.3278614213.FGZZZZZZZZZZZZZZZZ.CT tu 0123456789",  # a reference we never issued
        "NGUYEN VAN A chuyen tien",  # no reference at all
        "VQRIO123",  # the intermediary's test notification
    ],
)
def test_an_unknown_reference_is_acknowledged_and_changes_nothing(
    gw: Gateway, base_url: str, transfer: Transfer, description: str
) -> None:
    before = read_state(gw, transfer)
    response = post(base_url, notification(description))
    assert response.status_code == 200
    assert response.json() == {"success": True}
    after = read_state(gw, transfer)
    assert after.events == before.events
    assert (after.payment_status, after.attempt_status, after.outbox) == ("pending", "pending", ())
    ((verified, outcome, _),) = after.callbacks
    assert (verified, outcome) == (True, "unknown_order")


def test_a_notification_that_does_not_say_success_is_acknowledged_and_changes_nothing(
    gw: Gateway, base_url: str, transfer: Transfer
) -> None:
    body = notification(bank_description(transfer.reference))
    body["data"]["code"] = "01"
    body["signature"] = signed(body["data"])
    body.update(code="01", success=False)
    response = post(base_url, body)
    assert response.status_code == 200
    state = read_state(gw, transfer)
    assert (state.payment_status, state.attempt_status, state.outbox) == ("pending", "pending", ())


def test_the_status_sync_keeps_waiting_for_a_transfer(
    gw: Gateway, clock: Clock, base_url: str, transfer: Transfer
) -> None:
    clock.advance(seconds=gw.settings.sync_delay_seconds + 1)
    sync_due(gw)
    state = read_state(gw, transfer)
    assert (state.payment_status, state.attempt_status) == ("pending", "pending")
    # and the transfer that arrives later still pays it
    assert post(base_url, notification(bank_description(transfer.reference))).status_code == 200
    assert read_state(gw, transfer).payment_status == "succeeded"


def test_an_unpaid_qr_expires_after_the_grace_and_a_late_transfer_still_pays_flagged(
    gw: Gateway, clock: Clock, base_url: str, transfer: Transfer
) -> None:
    with gw.sessions() as session:
        payment = session.get(Payment, transfer.payment_id)
        assert payment is not None
        expires_at = payment.expires_at
    clock.current = expires_at + timedelta(minutes=gw.settings.pending_grace_minutes + 1)
    expire_due(gw)
    state = read_state(gw, transfer)
    assert (state.payment_status, state.attempt_status) == ("expired", "expired")
    assert post(base_url, notification(bank_description(transfer.reference))).status_code == 200
    state = read_state(gw, transfer)
    assert (state.payment_status, state.attempt_status) == ("succeeded", "succeeded")
    assert "late_success" in state.flags


# -- the citizen's page ---------------------------------------------------------------------


def choose_vietqr(base_url: str, payment_id: str, lang: str | None = None) -> requests.Response:
    page_url = f"{base_url}/pay/{payment_id}" + (f"?lang={lang}" if lang else "")
    page = requests.get(page_url, timeout=TIMEOUT)
    assert page.status_code == 200, page.text
    form = next(f for f in forms_of(page.text) if f.fields.get("provider") == "vietqr")
    return submit(page_url, form)


def test_the_checkout_page_shows_the_qr_the_account_and_the_description_to_keep(
    gw: Gateway, http: FlaskClient, portal: ApiClient, base_url: str
) -> None:
    created = create_payment(http, portal)
    started = choose_vietqr(base_url, created["id"])
    assert started.status_code == 303
    location = started.headers["Location"]
    assert location.split("#")[0].endswith(f"/pay/{created['id']}?lang=vi")
    assert location.endswith("#transfer")
    page = requests.get(urljoin(base_url, location), timeout=TIMEOUT)
    html = page.text
    with gw.sessions() as session:
        attempt = session.scalars(select(Attempt).where(Attempt.payment_id == created["id"])).one()
        reference, attempt_id = attempt.reference, attempt.id
    assert page.status_code == 200
    img = re.search(r"<img[^>]*data-testid=\"qr\"[^>]*>", html, re.S)
    assert img is not None
    assert f'src="/pay/{created["id"]}/qr/{attempt_id}.svg"' in img.group(0)
    alt = re.search(r'alt="([^"]+)"', img.group(0))
    assert alt is not None and "VietQR" in alt.group(1) and reference in alt.group(1)
    assert "150.000" in html
    assert ACCOUNT_NO in html and ACCOUNT_NAME in html
    assert "Vietcombank" in html
    assert 'data-testid="transfer-description"' in html and reference in html
    assert "Nội dung chuyển khoản" in html
    assert "giữ nguyên nội dung" in html
    assert 'http-equiv="refresh"' not in html  # it polls quietly instead (static/poll.js)
    assert f'data-poll-url="/pay/{created["id"]}/status.json?lang=vi"' in html
    assert "Kiểm tra lại" in html
    assert 'name="viewport" content="width=device-width' in html
    choices = [f.fields.get("provider") for f in forms_of(html)]
    assert "sandbox" in choices and "vietqr" not in choices  # one QR at a time
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', html)  # nothing from elsewhere
    image = requests.get(f"{base_url}/pay/{created['id']}/qr/{attempt_id}.svg", timeout=TIMEOUT)
    assert image.headers["Content-Type"].startswith("image/svg+xml")

    english = requests.get(f"{base_url}/pay/{created['id']}?lang=en", timeout=TIMEOUT).text
    assert "Transfer description" in english and "Account number" in english
    assert reference in english

    assert post(base_url, notification(bank_description(reference))).status_code == 200
    paid = requests.get(f"{base_url}/pay/{created['id']}", timeout=TIMEOUT).text
    assert 'data-status="succeeded"' in paid
    assert "Đã thanh toán" in paid
    assert 'data-testid="qr"' not in paid
    assert 'http-equiv="refresh"' not in paid


def test_the_page_shows_the_newest_pending_transfer_only(
    gw: Gateway, clock: Clock, http: FlaskClient, portal: ApiClient, transfer: Transfer
) -> None:
    clock.advance(minutes=2)
    again = start_attempt(http, portal, transfer.payment_id, "vietqr")
    html = http.get(f"/pay/{transfer.payment_id}").get_data(as_text=True)
    assert f"/qr/{again['id']}.svg" in html
    assert f"/qr/{transfer.attempt_id}.svg" not in html
    assert html.count('data-testid="qr"') == 1


def test_a_page_without_a_vietqr_attempt_does_not_refresh(
    http: FlaskClient, portal: ApiClient
) -> None:
    created = create_payment(http, portal)
    html = http.get(f"/pay/{created['id']}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in html
    assert 'data-testid="transfer"' not in html


# -- configuration ----------------------------------------------------------------------------


VIETQR_ENV = {
    "FEEGATE_VIETQR_BANK_BIN": BANK_BIN,
    "FEEGATE_VIETQR_ACCOUNT_NO": ACCOUNT_NO,
    "FEEGATE_VIETQR_ACCOUNT_NAME": ACCOUNT_NAME,
    "FEEGATE_VIETQR_CHECKSUM_KEY": CHECKSUM_KEY,
}


def test_the_provider_is_on_only_when_every_variable_is_set() -> None:
    assert load_settings({}).vietqr is None
    settings = load_settings(VIETQR_ENV)
    assert settings.vietqr == VietqrSettings(BANK_BIN, ACCOUNT_NO, ACCOUNT_NAME, CHECKSUM_KEY)
    assert CHECKSUM_KEY not in repr(settings)
    partial = {k: v for k, v in VIETQR_ENV.items() if k != "FEEGATE_VIETQR_CHECKSUM_KEY"}
    with pytest.raises(ConfigError, match="FEEGATE_VIETQR_CHECKSUM_KEY"):
        load_settings(partial)


@pytest.mark.parametrize(
    ("name", "value"),
    [("FEEGATE_VIETQR_BANK_BIN", "VCB"), ("FEEGATE_VIETQR_ACCOUNT_NO", "0011 0012 34567")],
)
def test_a_malformed_account_is_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({**VIETQR_ENV, name: value})


def test_on_a_phone_the_page_offers_the_png_copy_values_the_bank_holder_and_the_expiry(
    gw: Gateway, http: FlaskClient, portal: ApiClient, base_url: str
) -> None:
    created = create_payment(http, portal, amount=1_250_000)
    choose_vietqr(base_url, created["id"])
    with gw.sessions() as session:
        attempt = session.scalars(select(Attempt).where(Attempt.payment_id == created["id"])).one()
        payment = session.get(Payment, created["id"])
        assert payment is not None
        reference, attempt_id, expires_at = attempt.reference, attempt.id, payment.expires_at
    page = requests.get(f"{base_url}/pay/{created['id']}", timeout=TIMEOUT)
    html = page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    save = re.search(r'<a[^>]*data-testid="save-qr"[^>]*>([^<]*)</a>', html)
    assert save is not None and save.group(1) == "Lưu mã QR"
    assert f'href="/pay/{created["id"]}/qr/{attempt_id}.png"' in save.group(0)
    assert " download" in save.group(0)
    # the values to copy: digits only for the amount, the account, the description
    assert 'data-copy="1250000"' in html
    assert f'data-copy="{ACCOUNT_NO}"' in html
    assert f'data-copy="{reference}"' in html
    assert 'data-copy-label="Sao chép số tiền"' in html
    # without script they are plain text on the page
    assert f'user-select:all">{ACCOUNT_NO}</code>' in html
    assert f'user-select:all">{reference}</code>' in html
    assert re.search(r'<dd data-testid="bank">Vietcombank\b', html)
    assert f'<dd data-testid="account-name">{ACCOUNT_NAME}</dd>' in html
    vietnam = expires_at.astimezone(VIETNAM_TZ).strftime("%d/%m/%Y %H:%M")
    assert vietnam != expires_at.astimezone(UTC).strftime("%d/%m/%Y %H:%M")  # GMT+7, not UTC
    assert f'<dd data-testid="transfer-expires">{vietnam}</dd>' in html
    assert "Hạn thanh toán (giờ Việt Nam)" in html
    # the copy buttons come from a local script; no inline script, nothing from elsewhere
    assert '<script src="/static/checkout/copy.js" defer></script>' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', html)
    script = requests.get(f"{base_url}/static/checkout/copy.js", timeout=TIMEOUT)
    assert script.status_code == 200 and "navigator.clipboard" in script.text

    english = requests.get(f"{base_url}/pay/{created['id']}?lang=en", timeout=TIMEOUT).text
    assert "Save the QR code" in english and "Pay before (Vietnam time)" in english
    assert 'data-copy-label="Copy amount"' in english
    assert f'href="/pay/{created["id"]}/qr/{attempt_id}.png"' in english


def test_the_bank_table_names_the_main_banks_by_bin() -> None:
    expected = {
        "970436": "Vietcombank", "970415": "VietinBank", "970418": "BIDV",
        "970405": "Agribank", "970407": "Techcombank", "970422": "MB", "970416": "ACB",
        "970432": "VPBank", "970423": "TPBank", "970403": "Sacombank",
    }
    assert {k: BANK_NAMES[k] for k in expected} == expected
    assert bank_label("970432") == "VPBank (BIN 970432)"
    assert bank_label("970999") == "BIN 970999"
