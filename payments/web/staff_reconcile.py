"""Staff pages for reconciliation: upload a provider statement, read what differs, resolve.

Every role reads; `finance` and `admin` upload and resolve (the first staff actions that
write, so each form carries a CSRF token and each write names the signed-in officer).

An upload up to FEEGATE_STATEMENT_INLINE_BYTES is matched inside the request (seconds at
most); a larger one is stored and queued for `feegate worker`, and the run's page shows
its progress: static/poll.js asks `…/progress` quietly (no page reloads itself) and opens
the result once the run is done; without script, a "check again" link.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import and_, case, exists, false, func, or_, select
from sqlalchemy.sql.elements import ColumnElement
from wtforms import DateField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from payments.errors import DomainError
from payments.models import Payment, Reconciliation, ReconciliationItem
from payments.services import reconciliation
from payments.statements import Limits, StatementFileError, StatementReader, kind_of
from payments.web.context import db, gateway
from payments.web.i18n import PROVIDER_NAMES
from payments.web.staff import no_store, staff_context
from payments.web.staff_auth import csrf_guard, principal, staff_required, staff_role

bp = Blueprint("staff_reconcile", __name__, url_prefix="/staff/reconciliations",
               template_folder="templates")

bp.after_request(no_store)
bp.before_request(csrf_guard)

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
STATUS_LABELS = {
    "queued": "Đang chờ xử lý",
    "parsing": "Đang đọc và đối chiếu",
    "flagging": "Đang đánh dấu các giao dịch chênh lệch",
    "done": "Đã xong",
    "failed": "Không xử lý được",
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


# -- scoping: a statement is a provider's, its lines are agencies' payments ----------------


def _item_in_scope() -> ColumnElement[bool] | None:
    """Lines whose payment is of the user's agencies (None: the user sees every line)."""
    scope = principal().scope
    if scope is None:
        return None
    if not scope:
        return false()
    return ReconciliationItem.payment_id.in_(
        select(Payment.id).where(Payment.agency_code.in_(sorted(scope))))


def _visible_runs() -> list[ColumnElement[bool]]:
    """Runs the user uploaded, or with a line of one of its agencies' payments."""
    mine = _item_in_scope()
    if mine is None:
        return []
    return [or_(Reconciliation.uploaded_by == principal().email,
                exists().where(and_(ReconciliationItem.reconciliation_id == Reconciliation.id,
                                    mine)))]


def _visible_items(run: Reconciliation) -> list[ColumnElement[bool]]:
    """The lines of `run` the user may read: of its agencies' payments, and the lines
    without a payment when the user uploaded the statement."""
    mine = _item_in_scope()
    if mine is None:
        return []
    if run.uploaded_by == principal().email:
        return [or_(mine, ReconciliationItem.payment_id.is_(None))]
    return [mine]


def _sees_run(session: Any, run: Reconciliation) -> bool:
    return bool(session.scalar(select(func.count()).select_from(Reconciliation)
                               .where(Reconciliation.id == run.id, *_visible_runs())))


def _upload_form() -> UploadForm:
    form = UploadForm()
    form.provider.choices = [(name, PROVIDER_NAMES.get(name, name))
                             for name in reconciliation.statement_providers(gateway())]
    return form


@bp.route("/", methods=["GET", "POST"])
@staff_role("viewer", post="finance")
def index() -> Response | str:
    if request.method == "POST" and can_write():  # before the form reads the body
        request.max_content_length = gateway().settings.statement_max_bytes + 64 * 1024
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
        runs = list(session.scalars(select(Reconciliation).where(*_visible_runs())
                                    .order_by(Reconciliation.created_at.desc()).limit(PAGE_SIZE)))
        open_counts = _open_counts(session, [r.id for r in runs])
        rows = [_run_row(run, open_counts.get(run.id, 0)) for run in runs]
    finally:
        session.rollback()
    settings = gateway().settings
    limits = {"inline_mb": settings.statement_inline_bytes // (1024 * 1024),
              "max_mb": settings.statement_max_bytes // (1024 * 1024),
              "max_rows": settings.statement_max_rows}
    html = render_template("staff/reconciliations.html", runs=rows, form=form, errors=errors,
                           limits=limits, **staff_context())
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
    gw = gateway()
    limits = Limits.of(gw.settings)
    try:
        kind = kind_of(filename)
        stream = upload.stream
        stream.seek(0, 2)
        size = stream.tell()
        stream.seek(0)
        inline = size <= gw.settings.statement_inline_bytes and (
            kind == "csv" or _inflated(stream) <= 8 * gw.settings.statement_inline_bytes)
        if not inline:  # stored for the worker; the run's page shows its progress
            return reconciliation.queue(gw, form.provider.data, filename, stream,
                                        uploaded_by=current_user.email, period=period)
        with StatementReader(filename, stream, limits) as reader:
            return reconciliation.reconcile(gw, form.provider.data, filename, reader,
                                            uploaded_by=current_user.email, period=period)
    except StatementFileError as exc:
        errors.append(f"{filename}: {exc}. Không có gì được ghi.")
    except DomainError as exc:
        details = "; ".join(e.message for e in exc.errors)
        errors.append(f"{exc}" + (f" ({details})" if details else "") + ". Không có gì được ghi.")
    finally:
        upload.close()  # a large upload is a temporary file: release it now
    return None


def _inflated(stream: Any) -> int:
    """What an XLSX unpacks to (its members' sizes), or more than any cap if unreadable."""
    import zipfile  # noqa: PLC0415

    try:
        with zipfile.ZipFile(stream) as archive:
            return sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return 1 << 62  # the worker's reader will say what is wrong with it
    finally:
        stream.seek(0)


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
            "differences": differing, "open": open_count, "status": run.status,
            "status_label": STATUS_LABELS.get(run.status, run.status), "error": run.error,
            "lines_read": run.lines_read, "lines_matched": run.lines_matched,
            "file_bytes": run.file_bytes, "finished_at": run.finished_at}


def _progress(run: Reconciliation) -> dict[str, Any]:
    """What static/poll.js reads: `final` once the run is done or failed."""
    final = run.status in ("done", "failed")
    if run.status == "failed":
        message = f"Không xử lý được: {run.error}"
    elif run.status == "done":
        message = f"Đã đối soát xong {run.line_count} dòng; đang mở kết quả."
    else:
        message = (f"{STATUS_LABELS.get(run.status, run.status)}: đã đọc {run.lines_read} dòng, "
                   f"đã đối chiếu {run.lines_matched} dòng.")
    return {"id": run.id, "status": run.status, "final": final, "message": message,
            "lines_read": run.lines_read, "lines_matched": run.lines_matched,
            "lines": run.line_count, "error": run.error}


@bp.get("/<run_id>/progress")
@staff_required
def progress(run_id: str) -> Response:
    session = db()
    try:
        run = session.get(Reconciliation, run_id)
        if run is None or not _sees_run(session, run):
            abort(404)
        answer = _progress(run)
    finally:
        session.rollback()
    return jsonify(answer)


@bp.get("/<run_id>")
@staff_required
def detail(run_id: str) -> str:
    show_all = request.args.get("all") == "1"
    session = db()
    try:
        run = session.get(Reconciliation, run_id)
        if run is None or not _sees_run(session, run):
            abort(404)
        stmt = select(ReconciliationItem).where(ReconciliationItem.reconciliation_id == run_id,
                                                *_visible_items(run))
        if not show_all:
            stmt = stmt.where(ReconciliationItem.result.not_in(reconciliation.AGREEING))
        items = list(session.scalars(stmt.order_by(
            ReconciliationItem.resolved_at.is_not(None), ReconciliationItem.id)))
        summary = _run_row(run, _open_counts(session, [run_id]).get(run_id, 0))
        counts = [(RESULT_LABELS.get(k, k), v) for k, v in run.counts.items() if v]
        working = run.status not in ("done", "failed")
        state = _progress(run)
    finally:
        session.rollback()
    here = url_for("staff_reconcile.detail", run_id=run_id)
    poll = ({"url": url_for("staff_reconcile.progress", run_id=run_id), "next": here,
             "again": here} if working else None)
    return render_template(
        "staff/reconciliation.html", run=summary, counts=counts, items=items, show_all=show_all,
        labels=RESULT_LABELS, agreeing=reconciliation.AGREEING, working=working,
        progress=state, poll=poll,
        resolve_form=ResolveForm() if can_write() and not working else None, **staff_context())


@bp.post("/<run_id>/items/<int:item_id>/resolve")
@staff_role("finance")
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
        run = session.get(Reconciliation, run_id)
        belongs = (item is not None and run is not None and item.reconciliation_id == run_id
                   and bool(session.scalar(select(func.count()).select_from(ReconciliationItem)
                                           .where(ReconciliationItem.id == item_id,
                                                  *_visible_items(run)))))
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
