"""Signing in at /staff/login: the throttle (CONTRACT.md "Staff": after 5 wrong passwords
for one account within 15 minutes, the next sign-in, even with the right password, is 429
for 15 minutes; also per IP address), TOTP two-factor, and the audit trail.

The throttle counts rows of the database by the Gateway clock: the tests move the clock,
and a second browser (another cookie jar, as another web process would see it) agrees.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from payments.config import ConfigError, load_settings
from payments.models import AuditEntry, SignInAttempt, StaffUser
from payments.services.gateway import Gateway
from tests.factories import Clock
from tests.flow import forms_of
from tests.web.test_staff import EMAIL, PASSWORD, csrf_token, make_user

WRONG = "khong-phai-mat-khau-nay"


def attempt(http: FlaskClient, email: str = EMAIL, password: str = PASSWORD,
            **extra: str) -> Any:
    token = csrf_token(http)
    return http.post("/staff/login",
                     data={"email": email, "password": password, "csrf_token": token, **extra})


def fresh(app: Flask, ip: str = "10.0.0.7") -> FlaskClient:
    """Another browser (its own cookies) at `ip`."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = ip
    return browser


def trail(gw: Gateway) -> list[tuple[str, str, str | None]]:
    with gw.sessions() as session:
        return [(e.actor, e.action, e.ip) for e in
                session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_five_wrong_passwords_lock_the_account_for_15_minutes(
    app: Flask, gw: Gateway, clock: Clock
) -> None:
    make_user(gw)
    for n in range(5):
        if n:
            clock.advance(minutes=2)
        assert attempt(fresh(app), password=WRONG).status_code == 401
    fifth_at = clock()

    locked = attempt(fresh(app))  # the right password, from another browser
    assert locked.status_code == 429
    assert "15 phút" in locked.get_data(as_text=True)
    assert locked.headers["Retry-After"] == "900"
    clock.current = fifth_at + timedelta(minutes=14, seconds=59)
    assert attempt(fresh(app, ip="10.9.9.9")).status_code == 429  # the account, any IP
    clock.current = fifth_at + timedelta(minutes=15, seconds=1)
    assert attempt(fresh(app)).status_code == 303


def test_wrong_passwords_spread_over_more_than_15_minutes_do_not_lock(
    app: Flask, gw: Gateway, clock: Clock
) -> None:
    make_user(gw)
    for _ in range(5):
        assert attempt(fresh(app), password=WRONG).status_code == 401
        clock.advance(minutes=4)
    assert attempt(fresh(app)).status_code == 303


def test_a_right_sign_in_starts_the_count_again(app: Flask, gw: Gateway, clock: Clock) -> None:
    make_user(gw)
    for _ in range(4):
        attempt(fresh(app), password=WRONG)
    assert attempt(fresh(app)).status_code == 303
    for _ in range(4):
        assert attempt(fresh(app), password=WRONG).status_code == 401
    assert attempt(fresh(app)).status_code == 303


def test_an_unknown_email_is_throttled_like_a_known_one(app: Flask, gw: Gateway) -> None:
    for _ in range(5):
        assert attempt(fresh(app), email="ai.do@example.vn").status_code == 401
    assert attempt(fresh(app), email="ai.do@example.vn").status_code == 429


def test_twenty_wrong_sign_ins_from_one_ip_lock_that_ip(app: Flask, gw: Gateway) -> None:
    make_user(gw)
    for n in range(20):
        assert attempt(fresh(app), email=f"doan.{n}@example.vn", password=WRONG).status_code == 401
    assert attempt(fresh(app, ip="10.0.0.7")).status_code == 429
    assert attempt(fresh(app, ip="10.0.0.8")).status_code == 303
    with gw.sessions() as session:
        failed = session.scalar(select(func.count()).select_from(SignInAttempt)
                                .where(SignInAttempt.succeeded.is_(False)))
    assert failed == 20  # refused sign-ins are not counted again: the lock does not grow


def test_sign_ins_are_in_the_audit_trail(app: Flask, gw: Gateway) -> None:
    make_user(gw)
    attempt(fresh(app), password=WRONG)
    browser = fresh(app)
    attempt(browser)
    page = browser.get("/staff/").get_data(as_text=True)
    (out,) = [f for f in forms_of(page) if f.action.endswith("/staff/logout")]
    browser.post("/staff/logout", data=out.fields)
    assert trail(gw) == [(EMAIL, "sign_in_failed", "10.0.0.7"), (EMAIL, "sign_in", "10.0.0.7"),
                         (EMAIL, "sign_out", "10.0.0.7")]


# -- two-factor -------------------------------------------------------------------------------


def enrol(http: FlaskClient, clock: Clock) -> str:
    page = http.get("/staff/2fa")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<svg" in html and "<script" not in html  # the QR drawn by segno, inline SVG
    secret = html.split('data-testid="totp-secret">')[1].split("<")[0]
    (form,) = [f for f in forms_of(html) if f.action.endswith("/staff/2fa")]
    wrong = http.post("/staff/2fa", data={**form.fields, "otp": "000000"})
    assert wrong.status_code == 422
    code = pyotp.TOTP(secret).at(clock())
    done = http.post("/staff/2fa", data={**form.fields, "otp": code})
    assert done.status_code == 303, done.get_data(as_text=True)
    return secret


def test_totp_enrolment_then_sign_in_needs_the_code(
    app: Flask, gw: Gateway, clock: Clock
) -> None:
    make_user(gw, role="finance")
    browser = fresh(app)
    assert attempt(browser).status_code == 303
    before = browser.get("/staff/2fa")
    with gw.sessions() as session:  # a GET writes nothing
        assert session.scalars(select(StaffUser)).one().totp_secret is None
    assert before.status_code == 200
    secret = enrol(browser, clock)
    with gw.sessions() as session:
        user = session.scalars(select(StaffUser)).one()
        assert user.totp_secret == secret and user.totp_enabled_at == clock()
    assert "bật xác thực hai lớp" in browser.get("/staff/2fa").get_data(as_text=True)

    asked = attempt(fresh(app))
    assert asked.status_code == 401 and "mã xác thực" in asked.get_data(as_text=True).lower()
    assert attempt(fresh(app), otp="123456").status_code == 401
    clock.advance(seconds=40)
    assert attempt(fresh(app), otp=pyotp.TOTP(secret).at(clock())).status_code == 303
    actions = [action for _actor, action, _ip in trail(gw)]
    assert "totp_enabled" in actions and actions[-1] == "sign_in"


def test_wrong_codes_count_towards_the_throttle(app: Flask, gw: Gateway, clock: Clock) -> None:
    make_user(gw, role="admin")
    browser = fresh(app)
    attempt(browser)
    secret = enrol(browser, clock)
    for _ in range(5):
        assert attempt(fresh(app), otp="000000").status_code == 401
    assert attempt(fresh(app), otp=pyotp.TOTP(secret).at(clock())).status_code == 429


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"staff_2fa": "required"}


@pytest.mark.parametrize("role", ["finance", "admin"])
def test_required_two_factor_sends_admin_and_finance_to_enrol(
    app: Flask, gw: Gateway, clock: Clock, role: str
) -> None:
    make_user(gw, role=role)
    browser = fresh(app)
    signed = attempt(browser)
    assert signed.status_code == 303 and signed.headers["Location"] == "/staff/2fa"
    for path in ("/staff/", "/staff/reports", "/staff/reconciliations/"):
        answer = browser.get(path)
        assert answer.status_code == 303 and answer.headers["Location"] == "/staff/2fa"
    enrol(browser, clock)
    assert browser.get("/staff/").status_code == 200


def test_required_two_factor_leaves_viewers_alone(app: Flask, gw: Gateway) -> None:
    make_user(gw, role="viewer")
    browser = fresh(app)
    assert attempt(browser).headers["Location"] == "/staff/"
    assert browser.get("/staff/").status_code == 200


def test_the_setting_reads_feegate_staff_2fa() -> None:
    base = {"FEEGATE_ENV": "test"}
    assert load_settings(base).staff_2fa == "optional"
    assert load_settings({**base, "FEEGATE_STAFF_2FA": "Required"}).staff_2fa == "required"
    with pytest.raises(ConfigError, match="FEEGATE_STAFF_2FA"):
        load_settings({**base, "FEEGATE_STAFF_2FA": "sometimes"})


# -- password change and idle timeout -----------------------------------------------------------


def change(browser: FlaskClient, current: str, new: str, confirm: str | None = None) -> Any:
    page = browser.get("/staff/password")
    assert page.status_code == 200
    (form,) = [f for f in forms_of(page.get_data(as_text=True))
               if f.action.endswith("/staff/password")]
    return browser.post("/staff/password", data={
        **form.fields, "current": current, "new": new,
        "confirm": new if confirm is None else confirm})


def test_a_password_change_needs_the_current_one_and_the_policy(
    app: Flask, gw: Gateway
) -> None:
    make_user(gw)
    browser = fresh(app)
    assert attempt(browser).status_code == 303

    assert "không đúng" in change(browser, WRONG, "một câu rất dài để nhớ").get_data(as_text=True)
    assert "không giống" in change(browser, PASSWORD, "một câu rất dài để nhớ",
                                   "câu khác").get_data(as_text=True)
    weak = change(browser, PASSWORD, "1234567890")
    assert weak.status_code == 422 and "phổ biến" in weak.get_data(as_text=True)
    assert change(browser, PASSWORD, "một câu rất dài để nhớ").status_code == 303

    assert attempt(fresh(app)).status_code == 401  # the old one no longer works
    assert attempt(fresh(app), password="một câu rất dài để nhớ").status_code == 303
    actions = [action for _a, action, _ip in trail(gw)]
    assert actions.count("password_changed") == 1 and "password_change_failed" in actions


def test_an_idle_session_ends_after_30_minutes(app: Flask, gw: Gateway, clock: Clock) -> None:
    make_user(gw)
    browser = fresh(app)
    assert attempt(browser).status_code == 303
    clock.advance(minutes=29)
    assert browser.get("/staff/reports").status_code == 200  # activity keeps it open
    clock.advance(minutes=29)
    assert browser.get("/staff/").status_code == 200
    clock.advance(minutes=31)
    ended = browser.get("/staff/reports?from=2026-12-01")
    assert ended.status_code == 303
    assert ended.headers["Location"].startswith("/staff/login?next=")
    assert "reports" in ended.headers["Location"]
    assert browser.get("/staff/").status_code == 302  # signed out
    login = browser.get("/staff/login").get_data(as_text=True)
    assert "không hoạt động quá 30 phút" in login
