"""The finance staff pages through the Flask test client: sign-in, search, detail, reports."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import update
from werkzeug.security import generate_password_hash

from payments.models import Payment, StaffUser, StaffUserAgency
from payments.services.gateway import Gateway
from tests.factories import AGENCY, ApiClient, Clock, create_payment, make_api_client
from tests.flow import forms_of, pay_through_sandbox

EMAIL = "ke.toan@stp.khanhhoa.gov.vn"
PASSWORD = "mat-khau-du-dai-2026"


def make_user(gw: Gateway, email: str = EMAIL, role: str = "viewer", active: bool = True,
              agencies: tuple[str, ...] = (AGENCY,)) -> None:
    """A staff user of `agencies` (CONTRACT.md: a viewer or finance user without any sees
    nothing, so the pages' tests give it the test agency)."""
    with gw.sessions.begin() as session:
        user = StaffUser(email=email, role=role, active=active,
                         password_hash=generate_password_hash(PASSWORD))
        user.agencies = [StaffUserAgency(agency_code=code) for code in agencies]
        session.add(user)


def csrf_token(http: FlaskClient, path: str = "/staff/login") -> str:
    page = http.get(path)
    assert page.status_code == 200
    (form,) = [f for f in forms_of(page.get_data(as_text=True)) if "password" in f.fields]
    return form.fields["csrf_token"]


def sign_in(http: FlaskClient, email: str = EMAIL, password: str = PASSWORD,
            next_path: str | None = None) -> Any:
    token = csrf_token(http)
    path = "/staff/login" + (f"?next={next_path}" if next_path else "")
    return http.post(path, data={"email": email, "password": password, "csrf_token": token})


@pytest.fixture
def client(gw: Gateway) -> ApiClient:
    return make_api_client(gw)


@pytest.fixture
def staff(http: FlaskClient, gw: Gateway) -> FlaskClient:
    make_user(gw)
    response = sign_in(http)
    assert response.status_code == 303, response.get_data(as_text=True)
    return http


# -- signing in -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/staff/", "/staff/payments/pay_x", "/staff/reports"])
def test_pages_need_a_login(http: FlaskClient, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/login?next=")


def test_the_login_page_is_vietnamese_with_a_csrf_token(http: FlaskClient) -> None:
    page = http.get("/staff/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'lang="vi"' in html and "Mật khẩu" in html and "Đăng nhập" in html
    assert csrf_token(http)
    assert page.headers["Cache-Control"] == "no-store"


def test_a_right_password_signs_in_and_goes_to_next(http: FlaskClient, gw: Gateway) -> None:
    make_user(gw, email="Admin@Example.vn".lower(), role="admin")
    response = sign_in(http, email="ADMIN@example.vn", next_path="/staff/reports")
    assert response.status_code == 303
    assert response.headers["Location"] == "/staff/reports"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    page = http.get("/staff/reports")
    assert page.status_code == 200
    assert "admin@example.vn" in page.get_data(as_text=True)


def test_next_never_leaves_the_staff_pages(http: FlaskClient, gw: Gateway) -> None:
    make_user(gw)
    response = sign_in(http, next_path="https://evil.example/staff/")
    assert response.headers["Location"] == "/staff/"


@pytest.mark.parametrize(("email", "password"), [
    (EMAIL, "wrong-password-123"), ("nobody@example.vn", PASSWORD)])
def test_a_wrong_password_or_email_is_refused_with_one_message(
    http: FlaskClient, gw: Gateway, email: str, password: str
) -> None:
    make_user(gw)
    response = sign_in(http, email=email, password=password)
    assert response.status_code == 401
    assert "Email hoặc mật khẩu không đúng" in response.get_data(as_text=True)
    assert http.get("/staff/").status_code == 302


def test_the_login_post_needs_the_csrf_token(http: FlaskClient, gw: Gateway) -> None:
    make_user(gw)
    http.get("/staff/login")
    missing = http.post("/staff/login", data={"email": EMAIL, "password": PASSWORD})
    assert missing.status_code == 400
    forged = http.post("/staff/login",
                       data={"email": EMAIL, "password": PASSWORD, "csrf_token": "forged"})
    assert forged.status_code == 400
    assert http.get("/staff/").status_code == 302


def test_an_inactive_user_is_refused(http: FlaskClient, gw: Gateway) -> None:
    make_user(gw, active=False)
    response = sign_in(http)
    assert response.status_code == 401
    assert http.get("/staff/").status_code == 302


def test_a_deactivated_user_loses_the_session(staff: FlaskClient, gw: Gateway) -> None:
    assert staff.get("/staff/").status_code == 200
    with gw.sessions.begin() as session:
        session.execute(update(StaffUser).values(active=False))
    assert staff.get("/staff/").status_code == 302


def test_logout_needs_a_post_with_csrf(staff: FlaskClient) -> None:
    assert staff.get("/staff/logout").status_code == 405
    assert staff.post("/staff/logout").status_code == 400
    assert staff.get("/staff/").status_code == 200
    page = staff.get("/staff/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token, page
    out = staff.post("/staff/logout", data={"csrf_token": token.group(1)})
    assert out.status_code == 303
    assert staff.get("/staff/").status_code == 302


# -- search -------------------------------------------------------------------------------------


def test_search_by_reference_status_and_flag(
    staff: FlaskClient, http: FlaskClient, gw: Gateway, client: ApiClient, clock: Clock
) -> None:
    first = create_payment(http, client, reference="H32-2611-0001", amount=1_250_000)
    clock.advance(seconds=1)
    second = create_payment(http, client, reference="H32-2611-0002")
    clock.advance(seconds=1)
    other = create_payment(http, client, reference="X99-0003")
    with gw.sessions.begin() as session:
        session.execute(update(Payment).where(Payment.id == second["id"])
                        .values(status="failed", needs_review=True, flags=["amount_mismatch"]))

    html = staff.get("/staff/").get_data(as_text=True)
    assert "3 giao dịch" in html
    assert html.index("X99-0003") < html.index("H32-2611-0001")  # newest first
    assert "1.250.000 ₫" in html
    assert "26/11/2026 10:00" in html  # 03:00 UTC shown in Asia/Ho_Chi_Minh

    exact = staff.get("/staff/?reference=H32-2611-0001").get_data(as_text=True)
    assert first["id"] in exact and second["id"] not in exact
    prefix = staff.get("/staff/?reference=H32-").get_data(as_text=True)
    assert first["id"] in prefix and second["id"] in prefix and other["id"] not in prefix
    wildcard = staff.get("/staff/?reference=H32%25").get_data(as_text=True)
    assert "0 giao dịch" in wildcard
    failed = staff.get("/staff/?status=failed").get_data(as_text=True)
    assert second["id"] in failed and first["id"] not in failed
    flagged = staff.get("/staff/?flagged=1").get_data(as_text=True)
    assert second["id"] in flagged and other["id"] not in flagged and "amount_mismatch" in flagged
    agency = staff.get(f"/staff/?agency={AGENCY}&from=2026-11-26&to=2026-11-26")
    assert "3 giao dịch" in agency.get_data(as_text=True)
    before = staff.get("/staff/?to=2026-11-25").get_data(as_text=True)
    assert "0 giao dịch" in before


def test_bad_filters_are_explained_not_fatal(staff: FlaskClient) -> None:
    response = staff.get("/staff/?status=nope&from=2026-13-01&page=x&provider=paypal")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Trạng thái không hợp lệ" in html and "ngày không hợp lệ" in html
    assert staff.get("/staff/?to=9999-12-31").status_code == 200


def test_search_is_paginated_by_50(
    staff: FlaskClient, http: FlaskClient, client: ApiClient, clock: Clock
) -> None:
    for n in range(51):
        clock.advance(seconds=1)
        create_payment(http, client, reference=f"PAGE-{n:03d}")
    first = staff.get("/staff/").get_data(as_text=True)
    assert "51 giao dịch" in first and "trang 1/2" in first
    assert first.count("/staff/payments/") == 50
    second = staff.get("/staff/?page=2").get_data(as_text=True)
    assert second.count("/staff/payments/") == 1 and "PAGE-000" in second


# -- one payment --------------------------------------------------------------------------------


def test_the_detail_page_shows_the_trail_and_a_stored_callback(
    staff: FlaskClient, http: FlaskClient, client: ApiClient, base_url: str
) -> None:
    payment = create_payment(http, client, reference="H32-TRAIL-1")
    pay_through_sandbox(base_url, payment["id"], "pay")
    response = staff.get(f"/staff/payments/{payment['id']}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "H32-TRAIL-1" in html and "150.000 ₫" in html and "Đã thanh toán" in html
    trail = html[html.index('id="trail"'):html.index('id="callbacks"')]
    assert "payment.status" in trail and "attempt.status" in trail
    assert "pending → succeeded" in trail
    callbacks = html[html.index('id="callbacks"'):html.index('id="outbox"')]
    assert "<details>" in callbacks and "Có" in callbacks  # verified
    outbox = html[html.index('id="outbox"'):]
    assert "payment.succeeded" in outbox


def test_an_unknown_payment_is_404(staff: FlaskClient) -> None:
    assert staff.get("/staff/payments/pay_nope").status_code == 404


# -- reports ------------------------------------------------------------------------------------


def test_the_reports_page_downloads_csv_and_xlsx(
    staff: FlaskClient, http: FlaskClient, client: ApiClient, base_url: str
) -> None:
    payment = create_payment(http, client)
    pay_through_sandbox(base_url, payment["id"], "pay")
    page = staff.get("/staff/reports")
    assert page.status_code == 200 and AGENCY in page.get_data(as_text=True)
    query = f"from=2026-11-01&to=2026-11-30&group_by=agency&basis=paid_at&agency={AGENCY}"

    share = staff.get(f"/staff/reports?{query}&download=online-share.csv")
    assert share.status_code == 200
    assert share.data.startswith(b"\xef\xbb\xbf")
    assert "attachment" in share.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(share.data.decode("utf-8-sig"))))
    assert rows[0]["key"] == AGENCY and rows[0]["paid_count"] == "1"

    book = staff.get(f"/staff/reports?{query}&download=online-share.xlsx")
    assert book.status_code == 200
    assert book.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert load_workbook(io.BytesIO(book.data)).sheetnames

    every = staff.get("/staff/reports?from=2026-11-01&to=2026-11-30&download=coverage.csv")
    assert every.status_code == 200 and every.data.startswith(b"\xef\xbb\xbf")
    cover = staff.get("/staff/reports?from=2026-11-01&to=2026-11-30&download=coverage.xlsx")
    assert cover.status_code == 200 and load_workbook(io.BytesIO(cover.data)).sheetnames


def test_a_bad_report_query_shows_the_form_again(staff: FlaskClient, gw: Gateway) -> None:
    make_api_client(gw, agencies=("OTHER",), name="Other portal")
    response = staff.get("/staff/reports?from=2026-11-30&to=2026-11-01&download=online-share.csv"
                         "&agency=NOPE&group_by=x")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Nhóm theo không hợp lệ" in html and "NOPE" in html


def test_users_deactivate_locks_the_account(app: Any, gw: Gateway) -> None:
    runner = app.test_cli_runner()
    made = runner.invoke(args=["users", "create", "--email", "Off@Example.vn", "--role", "viewer",
                               "--password-stdin"], input="a-long-password\n")
    assert made.exit_code == 0, made.output
    done = runner.invoke(args=["users", "deactivate", "--email", "off@example.vn"])
    assert done.exit_code == 0, done.output
    with gw.sessions() as session:
        user = session.query(StaffUser).filter_by(email="off@example.vn").one()
        assert user.active is False
