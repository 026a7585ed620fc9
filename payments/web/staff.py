"""Finance staff pages: sign in, find any payment, read its whole trail, download reports.

Every role (viewer, finance, admin) may read everything here and nothing here changes
data; reconciliation (staff_reconcile.py) is where finance and admin write notes. Every
view ends its read (`session.rollback()`) so SQLite's write lock is never held past the query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

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
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from payments import exports, reports
from payments.errors import FieldError
from payments.models import (
    Agency,
    Attempt,
    Outbox,
    Payment,
    PaymentEvent,
    ProviderCallback,
)
from payments.providers import ONLINE_PROVIDERS
from payments.reports import Period, ShareQuery
from payments.web.context import db, gateway
from payments.web.i18n import PROVIDER_NAMES
from payments.web.reports_api import EARLIEST, LATEST, parse_period
from payments.web.staff_auth import (
    LoginForm,
    LogoutForm,
    authenticate,
    safe_next,
    staff_required,
)

bp = Blueprint("staff", __name__, url_prefix="/staff", template_folder="templates")

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
def login() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("staff.search"))  # type: ignore[return-value]
    form = LoginForm()
    error = None
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            verdict = authenticate(form.email.data or "", form.password.data or "")
            if verdict.user is not None:
                session.clear()  # a fresh session for the signed-in user
                login_user(verdict.user)
                target = safe_next(request.args.get("next")) or url_for("staff.search")
                return redirect(target, code=303)  # type: ignore[return-value]
            error = verdict.error
        elif form.csrf_token.errors:
            error = "Phiên đăng nhập đã hết hạn. Vui lòng thử lại."
        status = 400 if form.csrf_token.errors else 401 if error else 422
    html = render_template("staff/login.html", form=form, error=error, **staff_context())
    return Response(html, status=status)


@bp.post("/logout")
def logout() -> Response:
    form = LogoutForm()
    if not form.validate_on_submit():
        abort(400)
    logout_user()
    session.clear()
    flash("Đã đăng xuất.", "info")
    return redirect(url_for("staff.login"), code=303)  # type: ignore[return-value]


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


def conditions(found: Filters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
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
    errors: list[str] = []
    found = parse_filters(request.args, errors)
    where = conditions(found)
    session = db()
    try:
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
        agencies = all_agencies(session)
        payments = [_row(p) for p in rows]
    finally:
        session.rollback()
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "staff/search.html",
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
        if payment is None:
            abort(404)
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
        agencies = all_agencies(session)
        known = {code for code, _ in agencies}
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
                codes = set(chosen) or known
                label = ", ".join(sorted(chosen)) if chosen else "Tất cả cơ quan"
                return _report_file(session, download, codes, label, period, group_by, basis)
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
        **staff_context(),
    )
    return Response(html, status=422 if errors else 200)


def _period_message(error: FieldError) -> str:
    label = {"from": "Từ ngày", "to": "Đến ngày"}.get(error.field, error.field)
    return f"{label}: {error.message}"


def _report_file(session: Session, download: str, codes: set[str], label: str, period: Period,
                 group_by: str, basis: str) -> Response:
    gw = gateway()
    if download.startswith("online-share"):
        query = ShareQuery(period, group_by, basis)
        target = gw.settings.online_share_target
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

