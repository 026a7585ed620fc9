"""Staff sign-in: Flask-Login sessions, Flask-WTF forms (CSRF), werkzeug password hashes.

The signed-in user is a plain snapshot of the StaffUser row (no ORM object outlives the
request's session); it is re-read on every request, so a deactivated account loses access
at once. CSRF is checked by the forms of the staff pages only: the API and the provider
callbacks have no cookies to forge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Flask
from flask_login import LoginManager, UserMixin, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from payments.models import StaffUser
from payments.web.context import db

F = TypeVar("F", bound=Callable[..., Any])
LOGIN_FAILED = "Email hoặc mật khẩu không đúng"
# checked when no account has the email, so a wrong email takes as long as a wrong password
_DUMMY_HASH = generate_password_hash("feegate-no-such-user")

login_manager = LoginManager()
login_manager.login_view = "staff.login"
login_manager.login_message = "Vui lòng đăng nhập để tiếp tục."
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"


@dataclass(frozen=True)
class StaffPrincipal(UserMixin):  # type: ignore[misc]
    id: int
    email: str
    role: str
    active: bool

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)


def _principal(user: StaffUser) -> StaffPrincipal:
    return StaffPrincipal(id=user.id, email=user.email, role=user.role, active=user.active)


def load_user(user_id: str) -> StaffPrincipal | None:
    if not user_id.isdigit():
        return None
    session = db()
    try:
        user = session.get(StaffUser, int(user_id))
        return _principal(user) if user is not None and user.active else None
    finally:
        session.rollback()  # a read: end it (SQLite holds its lock for the transaction)


login_manager.user_loader(load_user)


def staff_required(view: F) -> F:
    """flask_login.login_required, typed: anonymous visitors go to the sign-in page."""
    return cast(F, login_required(view))


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("Email", validators=[DataRequired("Nhập email."), Length(max=255)])
    password = PasswordField(
        "Mật khẩu", validators=[DataRequired("Nhập mật khẩu."), Length(max=1024)]
    )


class LogoutForm(FlaskForm):  # type: ignore[misc]
    """No fields: the CSRF token alone, so a third-party page cannot sign staff out."""


@dataclass(frozen=True)
class Verdict:
    user: StaffPrincipal | None
    error: str | None


def authenticate(email: str, password: str) -> Verdict:
    """The account for this email and password, or the message to show (never which was wrong)."""
    session = db()
    try:
        user = session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
        stored = user.password_hash if user is not None else _DUMMY_HASH
        if not check_password_hash(stored, password) or user is None:
            return Verdict(None, LOGIN_FAILED)
        if not user.active:
            return Verdict(None, "Tài khoản này đã bị khóa. Vui lòng liên hệ quản trị viên.")
        return Verdict(_principal(user), None)
    finally:
        session.rollback()


def safe_next(target: str | None) -> str | None:
    """Only a path of the staff pages on this site: never an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/staff/") or "\\" in target:
        return None
    return target


def init_staff_auth(app: Flask, public_url: str) -> None:
    """Flask-Login on the app; the session cookie HttpOnly, SameSite=Lax, Secure over https."""
    secure = public_url.startswith("https://")
    app.config.update(
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
    )
    login_manager.init_app(app)
