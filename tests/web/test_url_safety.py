"""URLs that feegate follows are read as a browser reads them (issue 10, item 2 and 9).

Every payload of tests/web/url_corpus.py goes through the real surface: `POST
/api/v1/payments` for `return_url`, client creation (the factory and `feegate clients
create`) for `notify_url`, the outbox for a stored notify URL, `/staff/login?next=` for
the redirect after sign-in. Refusals are 422 problem+json naming the field; none is a 500.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from payments.errors import ValidationFailed
from payments.models import Client, Outbox, Payment, StaffUser
from payments.services import outbox as outbox_service
from payments.services.clients import create_client
from payments.services.gateway import Gateway
from tests.factories import ApiClient, create_payment, make_api_client, payment_body
from tests.flow import count, forms_of
from tests.web.url_corpus import (
    NOTIFY_URLS_ACCEPTED,
    NOTIFY_URLS_ONLY_IN_DEV_AND_TEST,
    NOTIFY_URLS_REFUSED,
    RETURN_URLS_ACCEPTED,
    RETURN_URLS_REFUSED,
)

PRODUCTION = {"env": "production"}


@pytest.fixture
def client(gw: Gateway, app: Flask) -> ApiClient:
    return make_api_client(gw)


def refused(response: Any, field: str) -> dict[str, Any]:
    body_checked_first = response.status_code == 400 and "surrogate" in response.get_data(
        as_text=True)  # the body reader refuses an unpaired surrogate before the URL check
    assert response.status_code == 422 or body_checked_first, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == response.status_code and body["detail"]
    assert [e["field"] for e in body["errors"]] == [field]
    assert all(e["message"] for e in body["errors"])
    return body


def test_the_corpus_is_big_enough() -> None:
    assert len(set(RETURN_URLS_REFUSED)) == len(RETURN_URLS_REFUSED) >= 60
    assert len(set(NOTIFY_URLS_REFUSED)) == len(NOTIFY_URLS_REFUSED) >= 30
    assert not set(RETURN_URLS_REFUSED) & set(RETURN_URLS_ACCEPTED)
    assert not set(NOTIFY_URLS_REFUSED) & set(NOTIFY_URLS_ACCEPTED)


# -- return_url through the API ---------------------------------------------------------------


# payments/schemas.py trims leading and trailing whitespace off every string field before
# the service sees it, so those few payloads are checked apart (never stored as sent).


@pytest.mark.parametrize("url", RETURN_URLS_REFUSED, ids=ascii)
def test_a_bypass_return_url_is_422(
    gw: Gateway, http: FlaskClient, client: ApiClient, url: str
) -> None:
    response = http.post(
        "/api/v1/payments", json=payment_body(return_url=url), headers=client.headers
    )
    refused(response, "return_url")
    assert count(gw, Payment) == 0


@pytest.mark.parametrize("url", RETURN_URLS_ACCEPTED, ids=ascii)
def test_a_plain_return_url_on_a_registered_host_is_201(
    http: FlaskClient, client: ApiClient, url: str
) -> None:
    assert create_payment(http, client, return_url=url)["return_url"] == url


@pytest.mark.parametrize("registered", ["::1", "[::1]"])
def test_an_ipv6_return_host_is_compared_like_any_host(
    gw: Gateway, app: Flask, http: FlaskClient, registered: str
) -> None:
    client = make_api_client(gw, return_hosts=(registered,))
    assert create_payment(http, client, return_url="https://[::1]:8443/back")["id"]
    for bad in ("https://[::1", "https://[::1]]/", "https://[0:0::1]/", "https://[::2]/",
                "https://[::1]:99999/", "https://[::1]@evil.example/", "https://[[::1]]/"):
        response = http.post(
            "/api/v1/payments", json=payment_body(return_url=bad), headers=client.headers
        )
        refused(response, "return_url")


def test_a_refusal_says_why(http: FlaskClient, client: ApiClient) -> None:
    url = r"https://evil.example\@portal.example.gov.vn/"
    response = http.post(
        "/api/v1/payments", json=payment_body(return_url=url), headers=client.headers
    )
    assert "backslash" in refused(response, "return_url")["errors"][0]["message"]
    response = http.post("/api/v1/payments", json=payment_body(return_url="http://2130706433/"),
                         headers=client.headers)
    assert "127.0.0.1" in refused(response, "return_url")["errors"][0]["message"]


# -- notify_url at client creation -------------------------------------------------------------


@pytest.mark.parametrize("url", NOTIFY_URLS_REFUSED, ids=ascii)
def test_a_bypass_notify_url_is_refused_when_creating_a_client(gw: Gateway, url: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        make_api_client(gw, notify_url=url)  # the service's default env is production
    assert [e.field for e in caught.value.errors] == ["notify_url"]
    assert count(gw, Client) == 0


@pytest.mark.parametrize("url", NOTIFY_URLS_ACCEPTED, ids=ascii)
def test_a_public_https_or_loopback_notify_url_is_accepted(gw: Gateway, url: str) -> None:
    make_api_client(gw, notify_url=url)
    assert count(gw, Client) == 1


@pytest.mark.parametrize("env", ["dev", "test"])
@pytest.mark.parametrize("url", NOTIFY_URLS_ONLY_IN_DEV_AND_TEST, ids=ascii)
def test_a_private_notify_url_is_only_for_dev_and_test(gw: Gateway, url: str, env: str) -> None:
    with gw.sessions.begin() as session:
        create_client(session, name="Cổng nội bộ", agencies=["H32"], return_hosts=["127.0.0.1"],
                      notify_url=url, env=env)
        with pytest.raises(ValidationFailed):
            create_client(session, name="Cổng thật", agencies=["H32"],
                          return_hosts=["127.0.0.1"], notify_url=url, env="production")


def clients_create(app: Flask, notify_url: str) -> Any:
    return app.test_cli_runner().invoke(args=[
        "clients", "create", "--name", "Cổng DVC", "--agency", "000.00.01.H32",
        "--return-host", "portal.example.gov.vn", "--notify-url", notify_url,
    ])


@pytest.mark.parametrize("settings_overrides", [PRODUCTION])
@pytest.mark.parametrize("url", [
    "https://10.0.0.5/hook", "https://169.254.169.254/latest/meta-data/", "https://[fe80::1]/",
    "https://0.0.0.0/", "http://portal.example.gov.vn/hook", "https://167772161/",
    r"https://portal.example.gov.vn\@evil.example/", "https://metadata.google.internal/",
])
def test_the_cli_refuses_a_bypass_notify_url_in_production(
    app: Flask, gw: Gateway, url: str
) -> None:
    result = clients_create(app, url)
    assert result.exit_code != 0
    assert "notify URL is not allowed" in result.output
    assert count(gw, Client) == 0


def test_the_cli_takes_a_private_notify_url_in_test(app: Flask, gw: Gateway) -> None:
    result = clients_create(app, "https://10.0.0.5/hook")
    assert result.exit_code == 0, result.output
    assert clients_create(app, "https://10.0.0.5\\@evil.example/").exit_code != 0
    assert count(gw, Client) == 1


# -- notify_url at delivery time ---------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [PRODUCTION])
@pytest.mark.parametrize("stored", [
    "https://10.0.0.5/hook", "https://[::ffff:a00:1]/", r"https://a.example.vn\@10.0.0.5/",
    "http://2130706433/",
])
def test_a_stored_notify_url_is_checked_again_before_delivery(
    gw: Gateway, http: FlaskClient, client: ApiClient, stored: str
) -> None:
    payment = create_payment(http, client)
    assert http.post(f"/api/v1/payments/{payment['id']}/cancel",
                     headers=client.headers).status_code == 200
    with gw.sessions.begin() as session:
        row = session.get(Client, client.id)
        assert row is not None
        row.notify_url = stored  # stored before the rules tightened, or by hand
    assert outbox_service.claim_due(gw, limit=10, lease_seconds=60) == []
    with gw.sessions() as session:
        (message,) = session.query(Outbox).filter_by(client_id=client.id).all()
        assert message.status == "skipped"
        assert message.last_error.startswith("the client's notify URL is not allowed")
        assert message.tries == 0


# -- the staff sign-in `next=` -----------------------------------------------------------------

EMAIL = "ke.toan@stp.khanhhoa.gov.vn"
PASSWORD = "mat-khau-du-dai-2026"
STAFF_HOME = "/staff/"


def sign_in_with_next(http: FlaskClient, gw: Gateway, query: str) -> Any:
    with gw.sessions.begin() as session:
        if session.query(StaffUser).filter_by(email=EMAIL).one_or_none() is None:
            session.add(StaffUser(email=EMAIL, role="viewer", active=True,
                                  password_hash=generate_password_hash(PASSWORD)))
    page = http.get("/staff/login")
    (form,) = [f for f in forms_of(page.get_data(as_text=True)) if "password" in f.fields]
    return http.post("/staff/login?" + query, data={
        "email": EMAIL, "password": PASSWORD, "csrf_token": form.fields["csrf_token"]})


@pytest.mark.parametrize("target", [
    "/staff/\n", "/staff/reports\r\nSet-Cookie: x=1", "/staff/\x00", "/staff/\t", "\t/staff/",
    "/staff/ reports", "/staff/\u2028", "/staff/bá-cáo", "//evil.example/", "///evil.example/",
    "/\\evil.example", "\\\\evil.example", "/staff/\\..\\..\\evil", "/staff//evil.example",
    "https://evil.example/staff/", "//evil.example/staff/", "javascript:alert(1)",
    "/staff/../../evil", "/staff/./reports", "/%2fevil.example", "/staff/%2e%2e/%2e%2e/evil",
    "/staff/%0d%0aSet-Cookie:x=1", "/staff/x?y=%0a", "/staff/%zz", "staff/reports", "/other/",
    "/staff", "http:/staff/", "/staff/" + "a" * 2100,
], ids=ascii)
def test_next_falls_back_to_the_staff_home_for_anything_but_a_staff_path(
    http: FlaskClient, gw: Gateway, target: str
) -> None:
    response = sign_in_with_next(http, gw, "next=" + quote(target, safe=""))
    assert response.status_code == 303
    assert response.headers["Location"] == STAFF_HOME


@pytest.mark.parametrize("raw_query", ["next=%ED%A0%80", "next=/staff/%FF", "next=%C0%AF%C0%AF"])
def test_next_with_bytes_that_are_not_utf8_is_never_a_500(
    http: FlaskClient, gw: Gateway, raw_query: str
) -> None:
    response = sign_in_with_next(http, gw, raw_query)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location == STAFF_HOME or (location.startswith(STAFF_HOME) and location.isascii())


@pytest.mark.parametrize("target", [
    "/staff/reports", "/staff/payments/pay_x", "/staff/reports?from=2026-11-01&to=2026-11-30",
    "/staff/?q=000.00.01.H32%2F2026",
])
def test_next_to_a_staff_path_is_followed(http: FlaskClient, gw: Gateway, target: str) -> None:
    response = sign_in_with_next(http, gw, "next=" + quote(target, safe=""))
    assert response.status_code == 303
    assert response.headers["Location"] == target
