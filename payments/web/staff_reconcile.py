"""Staff pages for reconciliation: upload a provider statement, read what differs, resolve.

Every role reads; `finance` and `admin` upload and resolve (the first staff actions that
write, so each form carries a CSRF token and each write names the signed-in officer).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import case, func, select
from wtforms import DateField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from payments.errors import DomainError
from payments.models import Reconciliation, ReconciliationItem
from payments.services import reconciliation
from payments.statements import MAX_BYTES, StatementFileError, read_statement
from payments.web.context import db, gateway
from payments.web.i18n import PROVIDER_NAMES
from payments.web.staff import no_store, staff_context
from payments.web.staff_auth import staff_required

bp = Blueprint("staff_reconcile", __name__, url_prefix="/staff/reconciliations",
               template_folder="templates")

bp.after_request(no_store)

WRITERS = ("finance", "admin")
PAGE_SIZE = 100
RESULT_LABELS = {
    "matched": "Khớp",
    "amount_differs": "Lệch số tiền",
    "not_paid_here": "Nhà cung cấp báo đã thu, feegate chưa ghi nhận",
    "unknown": "Không tìm thấy giao dịch",
    "duplicate": "Trùng dòng trong sao kê",
    "refund_matched": "Hoàn tiền khớp",
    "refund_unknown": "Hoàn tiền không khớp",
    "unreadable": "Dòng không đọc được",
    "missing": "Có trong feegate, thiếu trong sao kê",
}


class UploadForm(FlaskForm):  # type: ignore[misc]
    provider = SelectField("Nhà cung cấp", validators=[DataRequired("Chọn nhà cung cấp.")])
    statement = FileField("Tệp sao kê (.csv, .xlsx)",
                          validators=[FileRequired("Chọn tệp sao kê.")])
    first = DateField("Từ ngày (không bắt buộc)", validators=[Optional()])
    last = DateField("Đến ngày (không bắt buộc)", validators=[Optional()])


class ResolveForm(FlaskForm):  # type: ignore[misc]
    note = TextAreaField("Ghi chú xử lý", validators=[
        DataRequired("Ghi rõ đã xử lý chênh lệch thế nào."), Length(max=1000)])


def can_write() -> bool:
    return bool(current_user.is_authenticated and current_user.role in WRITERS)


def _upload_form() -> UploadForm:
    form = UploadForm()
    form.provider.choices = [(name, PROVIDER_NAMES.get(name, name))
                             for name in reconciliation.statement_providers(gateway())]
    return form


@bp.route("/", methods=["GET", "POST"])
@staff_required
def index() -> Response | str:
    if request.method == "POST" and can_write():
        request.max_content_length = MAX_BYTES + 64 * 1024  # before the form reads the body
    form = _upload_form() if can_write() else None
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        if form is None:
            abort(403)
        if form.validate_on_submit():
            run_id = _import(form, errors)
            if run_id:
                return redirect(url_for("staff_reconcile.detail", run_id=run_id),  # type: ignore[return-value]
                                code=303)
        else:
            errors += [message for field in form for message in field.errors]
        status = 422
    session = db()
    try:
        runs = list(session.scalars(select(Reconciliation)
                                    .order_by(Reconciliation.created_at.desc()).limit(PAGE_SIZE)))
        open_counts = _open_counts(session, [r.id for r in runs])
        rows = [_run_row(run, open_counts.get(run.id, 0)) for run in runs]
    finally:
        session.rollback()
    html = render_template("staff/reconciliations.html", runs=rows, form=form, errors=errors,
                           **staff_context())
    return Response(html, status=status)


def _import(form: UploadForm, errors: list[str]) -> str | None:
    first: date | None = form.first.data
    last: date | None = form.last.data
    if (first is None) != (last is None):
        errors.append("Nhập cả hai ngày của kỳ sao kê, hoặc bỏ trống cả hai.")
        return None
    if first is not None and last is not None and first > last:
        errors.append("Từ ngày phải trước hoặc bằng đến ngày.")
        return None
    period = reconciliation.Period(first, last) if first and last else None
    upload = form.statement.data
    filename = upload.filename or "sao-ke"
    try:
        data = upload.read()
    finally:
        upload.close()  # a large upload is a temporary file: release it now
    try:
        rows = read_statement(filename, data)
        return reconciliation.reconcile(gateway(), form.provider.data, filename, rows,
                                        uploaded_by=current_user.email, period=period)
    except StatementFileError as exc:
        errors.append(f"{filename}: {exc}. Không có gì được ghi.")
    except DomainError as exc:
        details = "; ".join(e.message for e in exc.errors)
        errors.append(f"{exc}" + (f" ({details})" if details else "") + ". Không có gì được ghi.")
    return None


def _open_counts(session: Any, run_ids: list[str]) -> dict[str, int]:
    if not run_ids:
        return {}
    open_item = case((ReconciliationItem.result.in_(reconciliation.AGREEING), 0),
                     (ReconciliationItem.resolved_at.is_not(None), 0), else_=1)
    stmt = (select(ReconciliationItem.reconciliation_id, func.sum(open_item))
            .where(ReconciliationItem.reconciliation_id.in_(run_ids))
            .group_by(ReconciliationItem.reconciliation_id))
    return {run_id: int(count or 0) for run_id, count in session.execute(stmt)}


def _run_row(run: Reconciliation, open_count: int) -> dict[str, Any]:
    differing = reconciliation.differences(run.counts)
    return {"id": run.id, "provider": run.provider, "filename": run.filename,
            "period_from": run.period_from, "period_to": run.period_to,
            "uploaded_by": run.uploaded_by, "created_at": run.created_at,
            "lines": run.line_count, "agreeing": sum(run.counts.values()) - differing,
            "differences": differing, "open": open_count}


@bp.get("/<run_id>")
@staff_required
def detail(run_id: str) -> str:
    show_all = request.args.get("all") == "1"
    session = db()
    try:
        run = session.get(Reconciliation, run_id)
        if run is None:
            abort(404)
        stmt = select(ReconciliationItem).where(ReconciliationItem.reconciliation_id == run_id)
        if not show_all:
            stmt = stmt.where(ReconciliationItem.result.not_in(reconciliation.AGREEING))
        items = list(session.scalars(stmt.order_by(
            ReconciliationItem.resolved_at.is_not(None), ReconciliationItem.id)))
        summary = _run_row(run, _open_counts(session, [run_id]).get(run_id, 0))
        counts = [(RESULT_LABELS.get(k, k), v) for k, v in run.counts.items() if v]
    finally:
        session.rollback()
    return render_template(
        "staff/reconciliation.html", run=summary, counts=counts, items=items, show_all=show_all,
        labels=RESULT_LABELS, agreeing=reconciliation.AGREEING,
        resolve_form=ResolveForm() if can_write() else None, **staff_context())


@bp.post("/<run_id>/items/<int:item_id>/resolve")
@staff_required
def resolve(run_id: str, item_id: int) -> Response:
    if not can_write():
        abort(403)
    form = ResolveForm()
    target = url_for("staff_reconcile.detail", run_id=run_id) + f"#item-{item_id}"
    if not form.validate_on_submit():
        for field in form:
            for message in field.errors:
                flash(message if field.name != "csrf_token"
                      else "Phiên làm việc đã hết hạn. Vui lòng thử lại.", "error")
        return redirect(target, code=303)  # type: ignore[return-value]
    session = db()
    try:
        item = session.get(ReconciliationItem, item_id)
        belongs = item is not None and item.reconciliation_id == run_id
    finally:
        session.rollback()
    if not belongs:
        abort(404)
    try:
        reconciliation.resolve(gateway(), item_id, form.note.data or "", by=current_user.email)
        flash(f"Đã ghi nhận xử lý dòng {item_id}.", "info")
    except DomainError as exc:
        flash(str(exc), "error")
    return redirect(target, code=303)  # type: ignore[return-value]
