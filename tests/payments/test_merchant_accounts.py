"""Per-agency merchant accounts: `feegate accounts set|list|remove`, secrets encrypted at
rest (MultiFernet, rotatable), and a payment using its agency's account (else its nearest
ancestor's, else the environment's default) for the redirect, the IPN's signature and the
providers the checkout offers. Real flows over real HTTP; the VNPay simulator signs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from adapters.vnpay import VnpayConfig, format_vnpay_date
from payments.merchant_accounts import AccountError, decrypt_secrets
from payments.models import Agency, Attempt, MerchantAccount
from payments.services.gateway import Gateway
from simulators.vnpay import SimTransaction, return_params
from tests.factories import ApiClient, create_payment, make_api_client
from tests.webhooks.test_vnpay_ipn import (
    SECRET,
    TMN,
    query_params,
    rsp_code,
    send_ipn,
    vnpay_settings,
)

KEY_1 = Fernet.generate_key().decode()
KEY_2 = Fernet.generate_key().decode()
PARENT, CHILD, OTHER = "000.00.01.H32", "000.00.02.H32", "000.00.09.H32"
OWN_TMN, OWN_SECRET = "AGENCYTMN", "AGENCYOWNHASHSECRET0000000000001"


@pytest.fixture
def settings_overrides(port: int) -> dict[str, Any]:
    return {"simulators": True, "vnpay": vnpay_settings(port), "encryption_key": KEY_1}


@pytest.fixture
def portal(gw: Gateway, app: Flask) -> ApiClient:
    with gw.sessions.begin() as session:
        session.add_all([Agency(code=PARENT, name="Sở Tư pháp"),
                         Agency(code=CHILD, name="Phòng Tư pháp", parent_code=PARENT),
                         Agency(code=OTHER, name="Sở Xây dựng")])
    return make_api_client(gw, agencies=(PARENT, CHILD, OTHER))


def cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["accounts", *args])


def vnpay_pairs(port: int, tmn: str = OWN_TMN, secret: str = OWN_SECRET) -> list[str]:
    base = f"http://127.0.0.1:{port}/_sim/vnpay"
    return [f"tmn_code={tmn}", f"hash_secret={secret}",
            f"pay_url={base}/paymentv2/vpcpay.html",
            f"api_url={base}/merchant_webapi/api/transaction"]


def set_vnpay(app: Flask, port: int, agency: str = PARENT) -> None:
    result = cli(app, "set", "--agency", agency, "--provider", "vnpay", *vnpay_pairs(port))
    assert result.exit_code == 0, result.output


def ipn_params(gw: Gateway, redirect_url: str, secret: str) -> dict[str, str]:
    """VNPay's IPN for the attempt behind `redirect_url`, signed with `secret`."""
    pay = query_params(redirect_url)
    config = VnpayConfig(tmn_code=pay["vnp_TmnCode"], hash_secret=secret,
                         pay_url="http://unused", api_url="http://unused")
    txn = SimTransaction(
        txn_ref=pay["vnp_TxnRef"], amount=int(pay["vnp_Amount"]),
        order_info=pay["vnp_OrderInfo"], create_date=pay["vnp_CreateDate"],
        return_url=pay["vnp_ReturnUrl"], status="00", response_code="00",
        transaction_no="14422601", bank_code="NCB", pay_date=format_vnpay_date(gw.now()),
    )
    return return_params(config, txn)


def checkout_start(gw: Gateway, payment: dict[str, Any], provider: str) -> requests.Response:
    with requests.Session() as browser:
        page = browser.get(payment["checkout_url"], timeout=30)
        assert page.status_code == 200
        assert f'name="provider" value="{provider}"' in page.text
        return browser.post(payment["checkout_url"] + "/start", data={"provider": provider},
                            allow_redirects=False, timeout=30)


# --- the CLI ------------------------------------------------------------------------------


def test_set_list_replace_and_remove_never_show_a_secret(
        app: Flask, gw: Gateway, port: int, portal: ApiClient) -> None:
    set_vnpay(app, port)
    listed = cli(app, "list")
    assert listed.exit_code == 0, listed.output
    [row] = [json.loads(line) for line in listed.output.splitlines()]
    assert (row["agency"], row["provider"]) == (PARENT, "vnpay")
    assert row["config"]["tmn_code"] == OWN_TMN
    assert row["secrets_set"] == ["hash_secret"]
    assert OWN_SECRET not in listed.output

    with gw.sessions() as session:  # what the database holds: a Fernet token, no plaintext
        raw = session.execute(text("SELECT config, secrets FROM merchant_accounts")).one()
    assert OWN_SECRET not in str(raw[0]) and OWN_SECRET not in str(raw[1])
    assert Fernet(KEY_1.encode()).decrypt(raw[1].encode())  # encrypted with the key

    again = cli(app, "set", "--agency", PARENT, "--provider", "vnpay",
                *vnpay_pairs(port, tmn="REPLACED"))
    assert again.exit_code == 0, again.output
    rows = [json.loads(line) for line in cli(app, "list").output.splitlines()]
    assert [r["config"]["tmn_code"] for r in rows] == ["REPLACED"]

    removed = cli(app, "remove", "--agency", PARENT, "--provider", "vnpay")
    assert removed.exit_code == 0, removed.output
    assert cli(app, "list").output == ""
    assert cli(app, "remove", "--agency", PARENT, "--provider", "vnpay").exit_code != 0


def test_unknown_or_missing_keys_are_refused(app: Flask, port: int, portal: ApiClient) -> None:
    unknown = cli(app, "set", "--agency", PARENT, "--provider", "vnpay", *vnpay_pairs(port),
                  "colour=blue")
    assert unknown.exit_code != 0 and "unknown key(s) for vnpay: colour" in unknown.output
    missing = cli(app, "set", "--agency", PARENT, "--provider", "momo", "partner_code=MOMO1")
    assert missing.exit_code != 0
    assert "missing key(s) for momo: access_key, secret_key, endpoint" in missing.output
    assert cli(app, "list").output == ""


def test_without_the_encryption_key_set_refuses_and_names_the_variable(
        app: Flask, gw: Gateway, port: int, portal: ApiClient) -> None:
    gw.settings = gw.settings.with_overrides(encryption_key=None)
    result = cli(app, "set", "--agency", PARENT, "--provider", "vnpay", *vnpay_pairs(port))
    assert result.exit_code != 0
    assert "FEEGATE_ENCRYPTION_KEY" in result.output
    with gw.sessions() as session:
        assert session.scalars(select(MerchantAccount)).all() == []


def test_key_rotation_two_fernet_keys_decrypt_old_rows(
        app: Flask, gw: Gateway, port: int, portal: ApiClient) -> None:
    set_vnpay(app, port)  # encrypted with KEY_1
    gw.settings = gw.settings.with_overrides(encryption_key=f"{KEY_2},{KEY_1}")
    with gw.sessions() as session:
        account = session.scalars(select(MerchantAccount)).one()
        assert decrypt_secrets(gw.settings, account.secrets) == {"hash_secret": OWN_SECRET}
    rotated = cli(app, "rotate-key")
    assert rotated.exit_code == 0, rotated.output
    assert json.loads(rotated.output) == {"rotated": 1}
    gw.settings = gw.settings.with_overrides(encryption_key=KEY_2)  # KEY_1 retired
    with gw.sessions() as session:
        account = session.scalars(select(MerchantAccount)).one()
        assert decrypt_secrets(gw.settings, account.secrets) == {"hash_secret": OWN_SECRET}
        gw.settings = gw.settings.with_overrides(encryption_key=KEY_1)
        with pytest.raises(AccountError, match="cannot be decrypted"):
            decrypt_secrets(gw.settings, account.secrets)


# --- a payment uses its agency's account ----------------------------------------------------


def test_the_agency_account_signs_the_redirect_and_verifies_the_ipn(
        app: Flask, gw: Gateway, port: int, portal: ApiClient) -> None:
    set_vnpay(app, port)
    payment = requests.post(gw.settings.url("/api/v1/payments"), timeout=30,
                            headers=portal.headers,
                            json={"reference": "H32-1", "procedure_code": "1.009999",
                                  "agency_code": PARENT, "amount": 150_000,
                                  "return_url": "https://portal.example.gov.vn/ho-so/1"}).json()
    started = checkout_start(gw, payment, "vnpay")
    assert started.status_code == 303, started.text
    redirect = started.headers["Location"]
    assert query_params(redirect)["vnp_TmnCode"] == OWN_TMN  # not the default TESTTMN1
    with gw.sessions() as session:
        attempt = session.scalars(select(Attempt)).one()
        account = session.scalars(select(MerchantAccount)).one()
        assert attempt.merchant_account_id == account.id

    forged = ipn_params(gw, redirect, SECRET)  # the default account's secret
    assert rsp_code(send_ipn(gw, forged)) == "97"
    genuine = ipn_params(gw, redirect, OWN_SECRET)
    assert rsp_code(send_ipn(gw, genuine)) == "00"
    with gw.sessions() as session:
        assert session.get(Attempt, attempt.id).status == "succeeded"  # type: ignore[union-attr]


def test_a_child_agency_inherits_its_parent_account_others_keep_the_default(
        app: Flask, gw: Gateway, http: FlaskClient, port: int, portal: ApiClient) -> None:
    set_vnpay(app, port, agency=PARENT)
    child = create_payment(http, portal, agency_code=CHILD, reference="C-1")
    other = create_payment(http, portal, agency_code=OTHER, reference="O-1")
    for payment, tmn in ((child, OWN_TMN), (other, TMN)):
        response = http.post(f"/api/v1/payments/{payment['id']}/attempts",
                             json={"provider": "vnpay"}, headers=portal.headers)
        assert response.status_code == 201, response.get_json()
        assert query_params(response.get_json()["redirect_url"])["vnp_TmnCode"] == tmn


def test_a_provider_without_any_account_for_the_agency_is_not_offered_and_422(
        app: Flask, gw: Gateway, http: FlaskClient, port: int, portal: ApiClient) -> None:
    result = cli(app, "set", "--agency", OTHER, "--provider", "momo", "partner_code=MOMOAG",
                 "access_key=AKEY", "secret_key=SKEY", f"endpoint=http://127.0.0.1:{port}/_sim/momo")
    assert result.exit_code == 0, result.output
    assert gw.settings.momo is None  # no default MoMo account
    mine = create_payment(http, portal, agency_code=OTHER, reference="O-2")
    theirs = create_payment(http, portal, agency_code=PARENT, reference="P-2")
    assert 'value="momo"' in http.get(f"/pay/{mine['id']}").get_data(as_text=True)
    page = http.get(f"/pay/{theirs['id']}").get_data(as_text=True)
    assert 'value="momo"' not in page and 'value="vnpay"' in page
    refused = http.post(f"/api/v1/payments/{theirs['id']}/attempts", json={"provider": "momo"},
                        headers=portal.headers)
    assert refused.status_code == 422, refused.get_json()
    with gw.sessions() as session:
        assert session.scalars(select(Attempt)).all() == []
