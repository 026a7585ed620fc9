"""Staff sign-in: Flask-Login sessions, Flask-WTF forms (CSRF), werkzeug password hashes,
a sign-in throttle counted in the database, TOTP two-factor, the staff audit trail, and
the agencies each user may see.

The signed-in user is a plain snapshot of the StaffUser row (no ORM object outlives the
request's session); it is re-read on every request, so a deactivated account loses access
at once, and its scope (its agencies and every agency below them in the catalog's tree)
is computed afresh. CSRF is checked on every POST of the staff pages (`csrf_guard`): the
API and the provider callbacks have no cookies to forge.

Throttle (CONTRACT.md "Staff"): after 5 wrong sign-ins for one email within 15 minutes,
the next sign-in for it, even with the right password, answers 429 for 15 minutes; the
same after 20 wrong sign-ins from one IP address. Attempts are rows of
`sign_in_attempts`, read by the Gateway clock, so every web process agrees and tests
move time instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

import pyotp
from flask import (
    Flask,
    abort,
    current_app,
    flash,
    has_request_context,
    redirect,
    request,
    url_for,
)
from flask import session as flask_session
from flask_login import LoginManager, UserMixin, current_user, login_required, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from payments.agency_tree import subtree_codes
from payments.models import AuditEntry, SignInAttempt, StaffUser
from payments.models.user import ROLE_RANK
from payments.urls import same_site_path
from payments.web.context import client_ip, db, gateway

F = TypeVar("F", bound=Callable[..., Any])
LOGIN_FAILED = "Email hoặc mật khẩu không đúng"
OTP_FAILED = "Mã xác thực không đúng hoặc đã hết hạn"
THROTTLED = ("Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau 15 phút "
             "hoặc liên hệ quản trị viên.")
# checked when no account has the email, so a wrong email takes as long as a wrong password
_DUMMY_HASH = generate_password_hash("feegate-no-such-user")

ACCOUNT_LIMIT = 5  # wrong sign-ins for one email …
IP_LIMIT = 20  # … or from one IP address …
WINDOW = timedelta(minutes=15)  # … within this window
LOCKOUT = timedelta(minutes=15)  # lock for this long after the last one that counted
TWO_FACTOR_ROLES = ("finance", "admin")
TOTP_ISSUER = "feegate"

login_manager = LoginManager()
login_manager.login_view = "staff.login"
login_manager.login_message = "Vui lòng đăng nhập để tiếp tục."
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"
csrf = CSRFProtect()


@dataclass(frozen=True)
class StaffPrincipal(UserMixin):  # type: ignore[misc]
    id: int
    email: str
    role: str
    active: bool
    scope: frozenset[str] | None = frozenset()  # None: every agency (an admin without any)
    roots: tuple[str, ...] = ()
    totp_enabled: bool = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)

    def sees(self, agency_code: str | None) -> bool:
        return self.scope is None or (agency_code is not None and agency_code in self.scope)

    def at_least(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK[role]


def scope_of(session: Session, user: StaffUser) -> frozenset[str] | None:
    """The agency codes the user may see: its agencies' subtrees; all for an admin without
    agencies; none for a viewer or finance user without agencies (CONTRACT.md "Staff")."""
    roots = user.agency_codes
    if not roots:
        return None if user.role == "admin" else frozenset()
    return frozenset(subtree_codes(session, roots))


def _principal(session: Session, user: StaffUser) -> StaffPrincipal:
    return StaffPrincipal(id=user.id, email=user.email, role=user.role, active=user.active,
                          scope=scope_of(session, user), roots=tuple(sorted(user.agency_codes)),
                          totp_enabled=user.totp_enabled_at is not None)


def load_user(user_id: str) -> StaffPrincipal | None:
    if not user_id.isdigit():
        return None
    session = db()
    try:
        user = session.scalar(select(StaffUser).where(StaffUser.id == int(user_id))
                              .options(selectinload(StaffUser.agencies)))
        return _principal(session, user) if user is not None and user.active else None
    finally:
        session.rollback()  # a read: end it (SQLite holds its lock for the transaction)


login_manager.user_loader(load_user)


def principal() -> StaffPrincipal:
    """The signed-in staff user (views behind `staff_role` only)."""
    return cast(StaffPrincipal, current_user._get_current_object())


def staff_required(view: F) -> F:
    """flask_login.login_required, typed: anonymous visitors go to the sign-in page."""
    return staff_role("viewer")(view)


def staff_role(role: str, *, post: str | None = None) -> Callable[[F], F]:
    """Signed in, and at least `role` (`post`: at least that for a POST); else 403.

    The roles are kept on the view (`staff_roles`) for the test that walks the URL map."""
    roles = {"GET": role, "HEAD": role, "POST": post or role}

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            needed = roles.get(request.method, role)
            if not principal().at_least(needed):
                abort(403)
            return view(*args, **kwargs)

        wrapped = login_required(guarded)
        wrapped.staff_roles = roles
        return cast(F, wrapped)

    return decorate


def public_staff_page(view: F) -> F:
    """Marks a staff view that needs no sign-in (the sign-in page itself)."""
    view.staff_public = True  # type: ignore[attr-defined]
    return view


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("Email", validators=[DataRequired("Nhập email."), Length(max=255)])
    password = PasswordField(
        "Mật khẩu", validators=[DataRequired("Nhập mật khẩu."), Length(max=1024)]
    )
    otp = StringField("Mã xác thực (ứng dụng xác thực, 6 số)",
                      validators=[Optional(), Length(max=12)])


class LogoutForm(FlaskForm):  # type: ignore[misc]
    """No fields: the CSRF token alone, so a third-party page cannot sign staff out."""


class PasswordForm(FlaskForm):  # type: ignore[misc]
    current = PasswordField("Mật khẩu hiện tại",
                            validators=[DataRequired("Nhập mật khẩu hiện tại."), Length(max=1024)])
    new = PasswordField("Mật khẩu mới (ít nhất 10 ký tự)",
                        validators=[DataRequired("Nhập mật khẩu mới."), Length(max=1024)])
    confirm = PasswordField("Nhập lại mật khẩu mới",
                            validators=[DataRequired("Nhập lại mật khẩu mới."), Length(max=1024)])


class OtpForm(FlaskForm):  # type: ignore[misc]
    otp = StringField("Mã xác thực 6 số", validators=[DataRequired("Nhập mã 6 số."),
                                                      Length(max=12)])


@dataclass(frozen=True)
class Verdict:
    user: StaffPrincipal | None
    error: str | None
    status: int = 200
    needs_otp: bool = False


def _since(now: datetime) -> datetime:
    return now - WINDOW - LOCKOUT


def _locked(failures: list[datetime], limit: int, now: datetime) -> bool:
    """Locked while some failure that was the `limit`-th within WINDOW is younger than
    LOCKOUT (failures: oldest first)."""
    for i in range(limit - 1, len(failures)):
        if failures[i] - failures[i - limit + 1] <= WINDOW and failures[i] > now - LOCKOUT:
            return True
    return False


def throttled(session: Session, email: str, ip: str, now: datetime) -> bool:
    """Whether a sign-in for `email` from `ip` must be refused now (429)."""
    last_success = session.scalar(
        select(func.max(SignInAttempt.id))
        .where(SignInAttempt.email == email, SignInAttempt.succeeded.is_(True),
               SignInAttempt.created_at >= _since(now)))
    by_account = select(SignInAttempt.created_at).where(
        SignInAttempt.email == email, SignInAttempt.succeeded.is_(False),
        SignInAttempt.created_at >= _since(now))
    if last_success is not None:  # a right sign-in starts the account's count again
        by_account = by_account.where(SignInAttempt.id > last_success)
    account = list(session.scalars(by_account.order_by(SignInAttempt.created_at)))
    if _locked(account, ACCOUNT_LIMIT, now):
        return True
    by_ip = list(session.scalars(
        select(SignInAttempt.created_at)
        .where(SignInAttempt.ip == ip, SignInAttempt.succeeded.is_(False),
               SignInAttempt.created_at >= _since(now))
        .order_by(SignInAttempt.created_at)))
    return _locked(by_ip, IP_LIMIT, now)


def audit(session: Session, actor: str, action: str, **detail: Any) -> None:
    """One row of the staff trail (in the caller's transaction)."""
    ip = client_ip() if has_request_context() else None
    session.add(AuditEntry(actor=actor, action=action, ip=ip, detail=detail))


def record_audit(actor: str, action: str, **detail: Any) -> None:
    """One row of the staff trail in a transaction of its own (downloads, sign-out)."""
    db().rollback()  # end the request's read first (SQLite: one writer)
    with gateway().sessions.begin() as session:
        audit(session, actor, action, **detail)


def verify_totp(secret: str, code: str, now: datetime) -> bool:
    """A 6-digit code of `secret` at `now` (the Gateway clock), one step either side."""
    code = "".join(code.split())
    return len(code) == 6 and code.isdigit() and pyotp.TOTP(secret).verify(
        code, for_time=now, valid_window=1)


def authenticate(email: str, password: str, otp: str = "") -> Verdict:
    """The account for this email, password (and TOTP code), or the message and status to
    answer (never which was wrong). Every try is counted and written to the trail."""
    email = email.strip().lower()
    ip = client_ip()
    gw = gateway()
    db().rollback()  # SQLite: no read of the request's session holds the lock meanwhile
    with gw.sessions.begin() as session:
        now = gw.now()
        if throttled(session, email, ip, now):
            audit(session, email, "sign_in_throttled")
            return Verdict(None, THROTTLED, 429)
        user = session.scalar(select(StaffUser).where(StaffUser.email == email)
                              .options(selectinload(StaffUser.agencies)))
        stored = user.password_hash if user is not None else _DUMMY_HASH
        verdict: Verdict
        if not check_password_hash(stored, password) or user is None:
            verdict = Verdict(None, LOGIN_FAILED, 401)
            reason = "password"
        elif not user.active:
            verdict = Verdict(None, "Tài khoản này đã bị khóa. Vui lòng liên hệ quản trị viên.",
                              401)
            reason = "inactive"
        elif user.totp_enabled_at is not None and not otp.strip():
            # the password was right: ask for the code without counting a failure
            audit(session, email, "sign_in_needs_otp")
            return Verdict(None, "Nhập mã xác thực 6 số từ ứng dụng xác thực.", 401,
                           needs_otp=True)
        elif user.totp_enabled_at is not None and not verify_totp(
                user.totp_secret or "", otp, now):
            verdict = Verdict(None, OTP_FAILED, 401, needs_otp=True)
            reason = "otp"
        else:
            session.add(SignInAttempt(email=email, ip=ip, succeeded=True))
            audit(session, email, "sign_in", role=user.role,
                  two_factor=user.totp_enabled_at is not None)
            return Verdict(_principal(session, user), None)
        session.add(SignInAttempt(email=email, ip=ip, succeeded=False))
        audit(session, email, "sign_in_failed", reason=reason)
        return verdict


def needs_enrolment(user: StaffPrincipal) -> bool:
    """FEEGATE_STAFF_2FA=required: admin and finance go on only once TOTP is enrolled."""
    return (gateway().settings.staff_2fa == "required" and user.role in TWO_FACTOR_ROLES
            and not user.totp_enabled)


def safe_next(target: str | None) -> str | None:
    """Only a path of the staff pages on this site: never an open redirect, never a 500."""
    return same_site_path(target, under="/staff/")


OPEN_ENDPOINTS = ("staff.login", "staff.logout", "staff.two_factor")
IDLE = timedelta(minutes=30)
SEEN_KEY = "staff_seen"


def mark_seen() -> None:
    """The signed-in user was active now (Gateway clock), kept in the signed session."""
    flask_session[SEEN_KEY] = gateway().now().timestamp()


def _idle_too_long() -> bool:
    """Idle session timeout: more than IDLE since the last staff request ends the session."""
    now = gateway().now().timestamp()
    seen = flask_session.get(SEEN_KEY)
    if isinstance(seen, int | float) and now - seen > IDLE.total_seconds():
        return True
    flask_session[SEEN_KEY] = now
    return False


def csrf_guard() -> Any:
    """before_request of the staff blueprints: a POST without a valid CSRF token is 400
    (CSRFError); the sign-in page checks its own form (and says so in Vietnamese), the
    statement upload after raising its body limit. Before that, a session idle for more
    than 30 minutes ends, and a role below the route's is 403. Then, under
    FEEGATE_STAFF_2FA=required, an admin or finance user without TOTP is sent to the
    enrolment page."""
    if current_user.is_authenticated and _idle_too_long():
        logout_user()
        flask_session.clear()
        flash("Phiên làm việc đã kết thúc vì không hoạt động quá 30 phút. "
              "Vui lòng đăng nhập lại.", "info")
        return redirect(url_for("staff.login", next=safe_next(request.full_path.rstrip("?"))),
                        code=303)
    view = current_app.view_functions.get(request.endpoint or "")
    roles: dict[str, str] | None = getattr(view, "staff_roles", None)
    if (roles and current_user.is_authenticated
            and not principal().at_least(roles.get(request.method, roles["GET"]))):
        abort(403)  # a role below the route's, whatever the token: refused first
    if request.method == "POST" and request.endpoint not in (
            "staff.login", "staff_reconcile.index"):
        csrf.protect()
    if (current_user.is_authenticated and request.endpoint not in OPEN_ENDPOINTS
            and needs_enrolment(principal())):
        return redirect(url_for("staff.two_factor"), code=303)
    return None


def init_staff_auth(app: Flask, public_url: str) -> None:
    """Flask-Login on the app; the session cookie HttpOnly, SameSite=Lax, Secure over https;
    CSRFProtect without its global check (the staff blueprints call it, `csrf_guard`)."""
    secure = public_url.startswith("https://")
    app.config.update(
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
    )
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    login_manager.init_app(app)
    csrf.init_app(app)
