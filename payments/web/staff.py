"""Finance staff pages: sign in, the dashboard, find a payment, read its whole trail,
download reports, enrol two-factor.

Every page is scoped to the signed-in user's agencies and every agency below them
(`StaffPrincipal.scope`; an admin without agencies sees all, a viewer or finance user
without agencies nothing): a payment, report or export of another agency is 404, by URL
guessing included. Nothing here changes a payment; reconciliation (staff_reconcile.py) is
where finance and admin write notes. Every view ends its read (`session.rollback()`) so
SQLite's write lock is never held past the query.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pyotp
import segno
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from markupsafe import Markup
from sqlalchemy import and_, exists, false, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from werkzeug.security import check_password_hash, generate_password_hash

from payments import exports, reports, targets
from payments.agency_tree import subtree_codes
from payments.errors import FieldError
from payments.models import (
    Agency,
    Attempt,
    Outbox,
    Payment,
    PaymentEvent,
    ProviderCallback,
    SignInAttempt,
    StaffUser,
)
from payments.passwords import WeakPassword, check_password
from payments.providers import ONLINE_PROVIDERS
from payments.reports import Period, ShareQuery
from payments.web import staff_chart
from payments.web.context import client_ip, db, gateway
from payments.web.i18n import PROVIDER_NAMES
from payments.web.reports_api import EARLIEST, LATEST, parse_period
from payments.web.staff_auth import (
    TOTP_ISSUER,
    LoginForm,
    LogoutForm,
    OtpForm,
    PasswordForm,
    audit,
    authenticate,
    csrf_guard,
    mark_seen,
    needs_enrolment,
    principal,
    public_staff_page,
    record_audit,
    safe_next,
    staff_required,
    verify_totp,
)

bp = Blueprint("staff", __name__, url_prefix="/staff", template_folder="templates")
bp.before_request(csrf_guard)

PAGE_SIZE = 50
DOWNLOADS = ("online-share.csv", "online-share.xlsx", "coverage.csv", "coverage.xlsx")
STATUS_LABELS = {
    "created": "Chưa thanh toán",
    "pending": "Đang chờ",
    "succeeded": "Đã thanh toán",
    "failed": "Không thành công",
    "cancelled": "Đã hủy",
    "expired": "Hết hạn",
}
GROUP_LABELS = {
    "agency": "Cơ quan",
    "procedure": "Thủ tục",
    "provider": "Kênh thanh toán",
    "month": "Tháng",
}
BASIS_LABELS = {"paid_at": "Ngày thanh toán", "received_at": "Ngày tiếp nhận hồ sơ"}
FLAG_LABELS = {
    "double_payment": "Thanh toán hai lần",
    "amount_mismatch": "Lệch số tiền",
    "late_success": "Thanh toán sau khi đã hết hạn hoặc đã hủy",
    "success_after_failure": "Thành công sau khi đã báo không thành công",
    "statement_difference": "Chênh lệch với sao kê của nhà cung cấp",
}
ROLE_LABELS = {"viewer": "Xem", "finance": "Kế toán", "admin": "Quản trị"}


def flag_label(code: str) -> str:
    """A flag in words an officer uses; an unknown code shown as it is."""
    return FLAG_LABELS.get(code, code.replace("_", " "))


def as_text(value: object) -> str:
    """A stored JSON value as readable text: Vietnamese letters, not `\\u1ecb` escapes."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def yes_no(value: object) -> str:
    return "Có" if value else "Không"


def percent_vi(value: float | Decimal | None) -> str:
    """`48,0 %` as on the reports (one decimal, Vietnamese comma); `—` with nothing paid."""
    if value is None:
        return "—"
    return f"{float(value):.1f}".replace(".", ",") + " %"


def target_vi(value: Decimal) -> str:
    """A target as the province writes it: `30 %`, `32,5 %`."""
    number = reports.percent_number(value)
    return str(number).replace(".", ",") + " %"


def staff_context(**extra: Any) -> dict[str, Any]:
    """What base.html and the staff templates read: Vietnamese only, no language switch."""
    titles = {"title": "Trang nhân viên tài chính"}
    return {
        "lang": "vi",
        "t": lambda key: titles.get(key, key),
        "lang_url": None,
        "logout_form": LogoutForm() if current_user.is_authenticated else None,
        "provider_names": {**PROVIDER_NAMES, "counter": "Tại quầy"},
        "status_labels": STATUS_LABELS,
        "role_labels": ROLE_LABELS,
        "flag_label": flag_label,
        "yes_no": yes_no,
        "as_text": as_text,
        **extra,
    }


@bp.after_request
def no_store(response: Response) -> Response:
    """Staff pages show citizens' data: never kept by a shared browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# -- sign in and out -----------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@public_staff_page
def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("staff.search"))  # type: ignore[return-value]
    form = LoginForm()
    error = None
    status = 200
    ask_otp = False
    if request.method == "POST":
        if form.validate_on_submit():
            verdict = authenticate(form.email.data or "", form.password.data or "",
                                   form.otp.data or "")
            if verdict.user is not None:
                session.clear()  # a fresh session for the signed-in user
                login_user(verdict.user)
                mark_seen()
                if needs_enrolment(verdict.user):
                    return redirect(url_for("staff.two_factor"), code=303)  # type: ignore[return-value]
                target = safe_next(request.args.get("next")) or url_for("staff.search")
                return redirect(target, code=303)  # type: ignore[return-value]
            error, status, ask_otp = verdict.error, verdict.status, verdict.needs_otp
        elif form.csrf_token.errors:
            error = "Phiên đăng nhập đã hết hạn. Vui lòng thử lại."
            status = 400
        else:
            status = 422
    html = render_template("staff/login.html", form=form, error=error, ask_otp=ask_otp,
                           **staff_context())
    response = Response(html, status=status)
    if status == 429:
        response.headers["Retry-After"] = "900"
    return response


@bp.post("/logout")
@public_staff_page
def logout() -> Response:
    form = LogoutForm()
    if not form.validate_on_submit():
        abort(400)
    if current_user.is_authenticated:
        record_audit(principal().email, "sign_out")
    logout_user()
    session.clear()
    flash("Đã đăng xuất.", "info")
    return redirect(url_for("staff.login"), code=303)  # type: ignore[return-value]


# -- password change -----------------------------------------------------------------------


@bp.route("/password", methods=["GET", "POST"])
@staff_required
def change_password() -> Response | str:
    """The current password, then a new one that passes the policy of `users create`. A
    wrong current password counts as a wrong sign-in (the throttle sees it)."""
    user = principal()
    form = PasswordForm()
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            new = form.new.data or ""
            gw = gateway()
            db().rollback()
            with gw.sessions.begin() as tx:
                row = tx.get(StaffUser, user.id)
                if row is None:
                    abort(404)
                if not check_password_hash(row.password_hash, form.current.data or ""):
                    tx.add(SignInAttempt(email=user.email, ip=client_ip(), succeeded=False))
                    audit(tx, user.email, "password_change_failed", reason="current")
                    errors.append("Mật khẩu hiện tại không đúng.")
                elif new != (form.confirm.data or ""):
                    errors.append("Hai lần nhập mật khẩu mới không giống nhau.")
                elif new == form.current.data:
                    errors.append("Mật khẩu mới phải khác mật khẩu hiện tại.")
                else:
                    try:
                        check_password(new, email=user.email)
                    except WeakPassword as exc:
                        errors.append(str(exc))
                    else:
                        row.password_hash = generate_password_hash(new)
                        audit(tx, user.email, "password_changed")
            if not errors:
                flash("Đã đổi mật khẩu.", "info")
                return redirect(url_for("staff.search"), code=303)  # type: ignore[return-value]
        else:
            errors += [m for field in form for m in field.errors if field.name != "csrf_token"]
    html = render_template("staff/password.html", form=form, errors=errors, **staff_context())
    return Response(html, status=status)


# -- two-factor (TOTP) -----------------------------------------------------------------------


@bp.route("/2fa", methods=["GET", "POST"])
@staff_required
def two_factor() -> Response | str:
    """Enrol an authenticator app: the secret lives in the signed session until the first
    right code confirms it (a GET writes nothing); then it is stored on the account."""
    user = principal()
    form = OtpForm()
    error = None
    status = 200
    if user.totp_enabled:
        html = render_template("staff/two_factor.html", enabled=True, form=None, qr="",
                               secret="", error=None, **staff_context())
        return Response(html)
    secret = session.get("totp_pending")
    if not isinstance(secret, str) or len(secret) != 32:
        secret = pyotp.random_base32(32)
        session["totp_pending"] = secret
    if request.method == "POST":
        gw = gateway()
        if form.validate_on_submit() and verify_totp(secret, form.otp.data or "", gw.now()):
            db().rollback()
            with gw.sessions.begin() as tx:
                row = tx.get(StaffUser, user.id)
                if row is None:
                    abort(404)
                row.totp_secret = secret
                row.totp_enabled_at = gw.now()
                audit(tx, user.email, "totp_enabled")
            session.pop("totp_pending", None)
            flash("Đã bật xác thực hai lớp. Lần đăng nhập sau cần mã từ ứng dụng.", "info")
            return redirect(url_for("staff.search"), code=303)  # type: ignore[return-value]
        error = "Mã xác thực không đúng. Kiểm tra giờ trên điện thoại rồi nhập mã mới."
        status = 422
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
    qr = segno.make(uri, error="m").svg_inline(scale=5, title="Mã QR để thêm feegate vào "
                                                "ứng dụng xác thực")
    html = render_template("staff/two_factor.html", enabled=False, form=form, qr=Markup(qr),  # noqa: S704 (segno SVG)
                           secret=secret, error=error,
                           required=needs_enrolment(user), **staff_context())
    return Response(html, status=status)


# -- search --------------------------------------------------------------------------------


@dataclass
class Filters:
    reference: str = ""
    status: str = ""
    provider: str = ""
    agency: str = ""
    first: date | None = None
    last: date | None = None
    flagged: bool = False
    page: int = 1


def _day(args: Mapping[str, str], name: str, label: str, errors: list[str]) -> date | None:
    value = (args.get(name) or "").strip()
    if not value:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        day = date.fromisoformat(value)
        if not EARLIEST <= day < LATEST:
            raise ValueError(value)
        return day
    except ValueError:
        errors.append(f"{label}: ngày không hợp lệ (YYYY-MM-DD).")
        return None


def parse_filters(args: Mapping[str, str], errors: list[str]) -> Filters:
    found = Filters(
        reference=(args.get("reference") or "").strip()[:128],
        status=args.get("status") or "",
        provider=args.get("provider") or "",
        agency=(args.get("agency") or "").strip()[:64],
        first=_day(args, "from", "Từ ngày", errors),
        last=_day(args, "to", "Đến ngày", errors),
        flagged=args.get("flagged") == "1",
    )
    if found.status and found.status not in STATUS_LABELS:
        errors.append("Trạng thái không hợp lệ.")
        found.status = ""
    if found.provider and found.provider not in provider_choices():
        errors.append("Kênh thanh toán không hợp lệ.")
        found.provider = ""
    if found.first and found.last and found.first > found.last:
        errors.append("Đến ngày phải sau Từ ngày.")
        found.first = found.last = None
    page = args.get("page") or "1"
    found.page = int(page) if page.isdigit() and 0 < int(page) <= 100_000 else 1
    return found


def provider_choices() -> list[str]:
    return [*ONLINE_PROVIDERS, "counter"]


def _like_prefix(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def in_scope(column: Any) -> list[ColumnElement[bool]]:
    """The condition that keeps rows of the signed-in user's agencies (none for all)."""
    scope = principal().scope
    if scope is None:
        return []
    if not scope:
        return [false()]
    return [column.in_(sorted(scope))]


def conditions(found: Filters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = in_scope(Payment.agency_code)
    if found.reference:
        where.append(
            or_(
                Payment.reference == found.reference,
                Payment.reference.like(_like_prefix(found.reference), escape="\\"),
                Payment.id == found.reference,
            )
        )
    if found.status:
        where.append(Payment.status == found.status)
    if found.provider:
        where.append(
            exists().where(
                and_(Attempt.payment_id == Payment.id, Attempt.provider == found.provider)
            )
        )
    if found.agency:
        where.append(Payment.agency_code == found.agency)
    if found.first:
        where.append(Payment.created_at >= reports.vn_day_start(found.first))
    if found.last:
        where.append(Payment.created_at < reports.vn_day_start(found.last + timedelta(days=1)))
    if found.flagged:
        where.append(Payment.needs_review.is_(True))
    return where


def _page_url(args: Mapping[str, str], page: int) -> str:
    query = {k: v for k, v in args.items() if k != "page" and v}
    query["page"] = str(page)
    return url_for("staff.search") + "?" + urlencode(query)


@bp.get("/")
@staff_required
def search() -> str:
    """The dashboard (the figures of the user's agencies) above the payment search."""
    errors: list[str] = []
    found = parse_filters(request.args, errors)
    where = conditions(found)
    session = db()
    try:
        board = dashboard(session) if not _filtering(request.args) else None
        total = int(session.scalar(select(func.count()).select_from(Payment).where(*where)) or 0)
        rows = list(
            session.scalars(
                select(Payment)
                .where(*where)
                .order_by(Payment.created_at.desc(), Payment.id.desc())
                .limit(PAGE_SIZE)
                .offset((found.page - 1) * PAGE_SIZE)
            )
        )
        agencies = visible_agencies(session)
        payments = [_row(p) for p in rows]
    finally:
        session.rollback()
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "staff/search.html",
        board=board,
        payments=payments,
        filters=found,
        errors=errors,
        total=total,
        page=found.page,
        pages=pages,
        prev_url=_page_url(request.args, found.page - 1) if found.page > 1 else None,
        next_url=_page_url(request.args, found.page + 1) if found.page < pages else None,
        statuses=STATUS_LABELS,
        providers=provider_choices(),
        agencies=agencies,
        **staff_context(),
    )


def _month_end(month: date, today: date) -> date:
    return min(reports.next_month(month) - timedelta(days=1), today)


def dashboard(session: Session) -> dict[str, Any] | None:
    """The user's agencies this Vietnam month and this year so far: the online share (one
    GROUP BY by month gives both, and the chart), the target in force, and the units
    furthest below it (one GROUP BY by agency). None when the user sees no agency."""
    codes = {code for code, _ in visible_agencies(session)}
    if not codes:
        return None
    gw = gateway()
    today = reports.vn_date(gw.now())
    default = gw.settings.online_share_target
    year = Period(date(today.year, 1, 1), today)
    months = year.months()
    in_force = targets.targets_in_force(session, "online_share",
                                        [_month_end(m, today) for m in months], default)
    target = in_force[-1]
    by_month = reports.online_share(session, codes, ShareQuery(year, "month"), target)
    rows = by_month["rows"]
    this_month = rows[-1]
    points = []
    for month, row, month_target in zip(months, rows, in_force, strict=True):
        share = reports.exact_share(row["online_count"], row["paid_count"])
        points.append(staff_chart.MonthPoint(f"T{month.month}", row["online_share_percent"],
                                             month_target, reports.meets(share, month_target)))
    by_agency = reports.online_share(session, codes, ShareQuery(year, "agency"), target)
    lowest = sorted((r for r in by_agency["rows"] if r["paid_count"]),
                    key=lambda r: (r["online_share_percent"], r["key"]))[:10]
    year_from, to = year.first.isoformat(), today.isoformat()
    return {
        "today": today,
        "month_label": reports.month_label(reports.month_key(today)),
        "year": today.year,
        "target": target_vi(target),
        "month": _figure(this_month),
        "ytd": _figure(by_month["totals"]),
        "chart": staff_chart.share_chart(
            points, f"Tỷ lệ thanh toán trực tuyến theo tháng năm {today.year}, so với mục tiêu"),
        "points": [(p.label, percent_vi(p.share), target_vi(p.target), p.meets) for p in points],
        "lowest": [{**_figure(r), "key": r["key"], "label": r["label"],
                    "downloads": _download_links(r["key"], year_from, to)} for r in lowest],
        "downloads": _download_links_all(year_from, to),
        "reports_url": url_for("staff.reports_page"),
    }


def _figure(row: dict[str, Any]) -> dict[str, Any]:
    return {"share": percent_vi(row["online_share_percent"]), "meets": row["meets_target"],
            "paid": row["paid_count"], "online": row["online_count"],
            "counter": row["counter_count"], "amount": row["paid_amount"]}


def _download_links_all(first: str, last: str) -> dict[str, str]:
    return {name: _reports_url(download=name, group_by="agency", basis="paid_at",
                               **{"from": first, "to": last})
            for name in DOWNLOADS}


def _row(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "reference": payment.reference,
        "agency_code": payment.agency_code,
        "procedure_code": payment.procedure_code,
        "amount": payment.amount,
        "status": payment.status,
        "paid_provider": payment.paid_provider,
        "needs_review": payment.needs_review,
        "flags": list(payment.flags or []),
        "created_at": payment.created_at,
        "paid_at": payment.paid_at,
    }


def _filtering(args: Mapping[str, str]) -> bool:
    return any(args.get(name) for name in
               ("reference", "status", "provider", "agency", "from", "to", "flagged", "page"))


def visible_agencies(session: Session) -> list[tuple[str, str]]:
    """(code, name) of the agencies the signed-in user sees, by code: every known one for
    an unrestricted admin; else the scope (its roots kept even when not catalogued)."""
    scope = principal().scope
    if scope is None:
        return all_agencies(session)
    names = dict.fromkeys(scope, "")
    codes = sorted(scope)
    for start in range(0, len(codes), 500):
        for code, name in session.execute(select(Agency.code, Agency.name)
                                          .where(Agency.code.in_(codes[start:start + 500]))):
            names[code] = name
    return sorted(names.items())


def all_agencies(session: Session) -> list[tuple[str, str]]:
    """(code, name) of every agency in the catalog or on a payment, by code."""
    names = {row.code: row.name for row in session.execute(select(Agency.code, Agency.name))}
    for code in session.scalars(select(Payment.agency_code).distinct()):
        names.setdefault(code, "")
    return sorted(names.items())


# -- one payment ---------------------------------------------------------------------------


@bp.get("/payments/<payment_id>")
@staff_required
def payment_detail(payment_id: str) -> str:
    if "\x00" in payment_id:
        abort(404)
    session = db()
    try:
        payment = session.get(Payment, payment_id)
        if payment is None or not principal().sees(payment.agency_code):
            abort(404)  # another agency's payment is as unknown as a made-up id
        attempts = list(payment.attempts)
        fee_items = list(payment.fee_items)
        refunds = list(payment.refunds)
        agency_name = session.scalar(select(Agency.name).where(Agency.code == payment.agency_code))
        events = list(
            session.scalars(
                select(PaymentEvent)
                .where(PaymentEvent.payment_id == payment.id)
                .order_by(PaymentEvent.created_at, PaymentEvent.id)
            )
        )
        callbacks = _callbacks(session, attempts)
        outbox = list(
            session.scalars(
                select(Outbox)
                .where(Outbox.payment_id == payment.id)
                .order_by(Outbox.created_at, Outbox.id)
            )
        )
        html = render_template(
            "staff/payment.html",
            payment=payment,
            agency_name=agency_name or "",
            fee_items=fee_items,
            attempts=attempts,
            attempt_refs={a.id: a.reference for a in attempts},
            refunds=refunds,
            events=events,
            callbacks=callbacks,
            outbox=outbox,
            **staff_context(),
        )
    finally:
        session.rollback()
    return html


def _callbacks(session: Session, attempts: list[Attempt]) -> list[ProviderCallback]:
    """Callbacks tied to an attempt, and those that named its provider reference."""
    if not attempts:
        return []
    by_reference = [
        and_(ProviderCallback.provider == a.provider,
             ProviderCallback.provider_reference == a.provider_reference)
        for a in attempts
    ]
    stmt = (
        select(ProviderCallback)
        .where(or_(ProviderCallback.attempt_id.in_([a.id for a in attempts]), *by_reference))
        .order_by(ProviderCallback.received_at, ProviderCallback.id)
    )
    return list(session.scalars(stmt))


# -- reports -------------------------------------------------------------------------------


def _file(body: bytes, mimetype: str, name: str) -> Response:
    response = Response(body, content_type=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/reports")
@staff_required
def reports_page() -> Response | str:
    args = request.args
    errors: list[str] = []
    download = args.get("download", "")
    group_by = args.get("group_by") or "agency"
    basis = args.get("basis") or "paid_at"
    chosen = [code for code in args.getlist("agency") if code]
    session = db()
    try:
        agencies = visible_agencies(session)
        known = {code for code, _ in agencies}
        anywhere = {code for code, _ in all_agencies(session)}
        if any(code in anywhere and code not in known for code in chosen):
            abort(404)  # another agency's report: as unknown as a made-up page
        if download:
            if download not in DOWNLOADS:
                errors.append("Loại báo cáo không hợp lệ.")
            if group_by not in reports.GROUPS:
                errors.append("Nhóm theo không hợp lệ.")
            if basis not in reports.BASES:
                errors.append("Cách tính ngày không hợp lệ.")
            unknown = [code for code in chosen if code not in known]
            if unknown:
                errors.append("Không có cơ quan: " + ", ".join(unknown[:5]))
            field_errors: list[FieldError] = []
            period = parse_period(args, field_errors)
            errors.extend(_period_message(e) for e in field_errors)
            if not errors and period is not None:
                # a chosen unit counts with every unit below it (within the user's scope)
                codes = known & subtree_codes(session, chosen) if chosen else known
                label = ", ".join(sorted(chosen)) if chosen else _all_label()
                record_audit(principal().email, "download", report=download,
                             agencies=sorted(chosen), period=[str(period.first),
                                                              str(period.last)],
                             group_by=group_by, basis=basis)
                return _report_file(db(), download, codes, label, period, group_by, basis)
    finally:
        session.rollback()
    today = reports.vn_date(gateway().now())
    html = render_template(
        "staff/reports.html",
        agencies=agencies,
        chosen=set(chosen),
        errors=errors,
        first=args.get("from") or today.replace(day=1).isoformat(),
        last=args.get("to") or today.isoformat(),
        group_by=group_by,
        basis=basis,
        groups=GROUP_LABELS,
        bases=BASIS_LABELS,
        per_agency=[(code, name, _download_links(code, args.get("from") or
                                                 today.replace(day=1).isoformat(),
                                                 args.get("to") or today.isoformat()))
                    for code, name in agencies[:500]],
        **staff_context(),
    )
    return Response(html, status=422 if errors else 200)


def _all_label() -> str:
    user = principal()
    return ", ".join(user.roots) if user.scope is not None else "Tất cả cơ quan"


def _download_links(code: str, first: str, last: str) -> dict[str, str]:
    """The report files of one agency (and the units below it) for a period."""
    return {name: _reports_url(agency=code, download=name, group_by="agency", basis="paid_at",
                               **{"from": first, "to": last})
            for name in DOWNLOADS}


def _reports_url(**query: str) -> str:
    return url_for("staff.reports_page") + "?" + urlencode(query)


def _period_message(error: FieldError) -> str:
    label = {"from": "Từ ngày", "to": "Đến ngày"}.get(error.field, error.field)
    return f"{label}: {error.message}"


def _report_file(session: Session, download: str, codes: set[str], label: str, period: Period,
                 group_by: str, basis: str) -> Response:
    gw = gateway()
    if download.startswith("online-share"):
        query = ShareQuery(period, group_by, basis)
        target = targets.target_in_force(session, "online_share", period.last,
                                         gw.settings.online_share_target)
        report = reports.online_share(session, codes, query, target)
        name = f"ty-le-thanh-toan-truc-tuyen_{period.first}_{period.last}_{group_by}"
        if download.endswith(".csv"):
            return _file(exports.share_csv(report), exports.CSV_MIMETYPE, name + ".csv")
        sheets = reports.online_share_by_agency(session, codes, query, target)
        body = exports.share_xlsx(report, sheets, label, gw.now())
        return _file(body, exports.XLSX_MIMETYPE, name + ".xlsx")
    result = reports.coverage(session, codes, period, reports.vn_date(gw.now()))
    name = f"tthc-thanh-toan-truc-tuyen_{period.first}_{period.last}"
    if download.endswith(".csv"):
        return _file(exports.coverage_csv(result.to_dict()), exports.CSV_MIMETYPE, name + ".csv")
    return _file(exports.coverage_xlsx(result, label, gw.now()), exports.XLSX_MIMETYPE,
                 name + ".xlsx")

