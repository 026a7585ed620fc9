"""`feegate users create` refuses weak staff passwords, with a Vietnamese reason.

Seen before: `1234567890` and the account's own e-mail were accepted. The policy
(payments/passwords.py): at least 10 characters, not the account's data (e-mail, local
part, its words, the domain's name), not a common password (zxcvbn's 30,000 plus
Vietnamese favourites, without case, accents or a trailing run of digits), and not
guessable by zxcvbn's estimate. A refused password creates no account.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from werkzeug.security import check_password_hash

from payments.models import StaffUser
from payments.passwords import WeakPassword, check_password
from payments.services.gateway import Gateway

EMAIL = "Lan.Nguyen@sotuphap.khanhhoa.gov.vn"


def create_user(app: Flask, password: str, email: str = EMAIL) -> Any:
    runner = app.test_cli_runner()
    return runner.invoke(args=["users", "create", "--email", email, "--role", "finance",
                               "--password-stdin"], input=password + "\n")


def users(gw: Gateway) -> list[StaffUser]:
    with gw.sessions() as session:
        return list(session.query(StaffUser).all())


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("1234567890", "phổ biến"),
        ("short1!", "ít nhất 10 ký tự"),
        ("lan.nguyen@sotuphap.khanhhoa.gov.vn", "e-mail"),  # the account's own e-mail
        ("LAN.NGUYEN@SOTUPHAP.KHANHHOA.GOV.VN", "e-mail"),
        ("Lan.Nguyen2024", "e-mail"),  # its local part
        ("nguyen-1990-!!", "e-mail"),  # a word of the local part
        ("Sotuphap@2026", "e-mail"),  # the domain's own name
        ("password1234", "phổ biến"),
        ("P@ssw0rd2024", "phổ biến"),
        ("qwertyuiop", "phổ biến"),
        ("iloveyou12345", "phổ biến"),
        ("Mật khẩu@123456", "phổ biến"),  # Vietnamese "password", accents and spaces aside
        ("anhyeuem2024", "phổ biến"),
        ("aaaaaaaaaaaa", "phổ biến"),
        ("abcdefghijk", "dễ đoán"),  # a sequence zxcvbn sees through
        ("0912345678", "dễ đoán"),
        ("x" * 129, "tối đa 128"),
    ],
)
def test_a_weak_password_is_refused_with_the_reason_and_no_account_is_made(
    app: Flask, gw: Gateway, password: str, reason: str
) -> None:
    result = create_user(app, password)

    assert result.exit_code != 0
    assert reason in result.output, result.output
    assert "(" in result.output  # English follows the Vietnamese
    assert users(gw) == []


@pytest.mark.parametrize(
    "password",
    ["sổ tay kế toán 42 trang", "correct horse battery staple", "Trời hôm nay xanh lắm!",
     "k7#Qm2!vXp9z"],
)
def test_a_strong_password_makes_the_account(app: Flask, gw: Gateway, password: str) -> None:
    result = create_user(app, password)

    assert result.exit_code == 0, result.output
    (user,) = users(gw)
    assert user.email == EMAIL.lower()
    assert check_password_hash(user.password_hash, password)


def test_the_account_data_is_read_from_the_email_given(app: Flask, gw: Gateway) -> None:
    """`nguyen…` is refused for Lan Nguyen, but fine for another person's account."""
    assert create_user(app, "nguyen-ke-toan-42", email=EMAIL).exit_code != 0
    made = create_user(app, "nguyen-ke-toan-42", email="tran.binh@sotuphap.khanhhoa.gov.vn")
    assert made.exit_code == 0, made.output


def test_the_policy_function_names_each_rule() -> None:
    with pytest.raises(WeakPassword, match="ít nhất 10"):
        check_password("abc", email="a@b.vn")
    with pytest.raises(WeakPassword, match="e-mail"):
        check_password("ketoan.h32@example.vn", email="ketoan.h32@example.vn")
    check_password("một câu rất dài để nhớ", email="ketoan.h32@example.vn")
