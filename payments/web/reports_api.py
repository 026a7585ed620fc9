"""The report routes of the portal API (CONTRACT.md): online share and coverage.

Thin: parse the query, call payments.reports, render JSON or hand the figures to
payments.exports. A client's reports cover every payment of the agencies it may act for,
whichever client recorded them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from flask import Blueprint, Response, request

from payments import exports, reports
from payments.errors import FieldError, ValidationFailed
from payments.reports import Period, ShareQuery
from payments.web import api
from payments.web.context import db, gateway

bp = Blueprint("reports_api", __name__, url_prefix="/api/v1/reports")
bp.before_request(api.require_client)

FORMATS = ("json", "csv", "xlsx")
EARLIEST = date(2000, 1, 1)
LATEST = date(9999, 12, 31)
MAX_DAYS = 36600  # a century: a `to` far in the future is accepted, the month series stays bounded


def _choice(args: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str,
            errors: list[FieldError]) -> str:
    value = args.get(name) or default
    if value not in allowed:
        errors.append(FieldError(name, "must be one of " + ", ".join(allowed)))
        return default
    return value


def _date(args: Mapping[str, str], name: str, errors: list[FieldError]) -> date | None:
    value = args.get(name)
    if not value:
        errors.append(FieldError(name, "is required: a date YYYY-MM-DD (Vietnam time)"))
        return None
    try:
        day = date.fromisoformat(value)
        if len(value) != 10:
            raise ValueError(value)
    except ValueError:
        errors.append(FieldError(name, "must be a date YYYY-MM-DD"))
        return None
    if not EARLIEST <= day <= LATEST:
        errors.append(FieldError(name, f"must be between {EARLIEST} and {LATEST}"))
        return None
    return day


def parse_period(args: Mapping[str, str], errors: list[FieldError]) -> Period | None:
    first, last = _date(args, "from", errors), _date(args, "to", errors)
    if first is None or last is None:
        return None
    if first > last:
        errors.append(FieldError("to", "must not be before from"))
        return None
    if (last - first).days >= MAX_DAYS:
        errors.append(FieldError("to", "the period may cover at most a hundred years"))
        return None
    return Period(first, last)


def _file(body: bytes, mimetype: str, name: str) -> Response:
    response = Response(body, content_type=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _agency_label(codes: set[str]) -> str:
    return ", ".join(sorted(codes))


@bp.get("/online-share")
def online_share() -> Response:
    errors: list[FieldError] = []
    period = parse_period(request.args, errors)
    group_by = _choice(request.args, "group_by", reports.GROUPS, "agency", errors)
    basis = _choice(request.args, "basis", reports.BASES, "paid_at", errors)
    fmt = _choice(request.args, "format", FORMATS, "json", errors)
    if errors or period is None:
        raise ValidationFailed("the report query is not valid", errors)
    codes = api.current_client().agency_codes
    query = ShareQuery(period, group_by, basis)
    gw = gateway()
    target = gw.settings.online_share_target
    session = db()
    try:
        report = reports.online_share(session, codes, query, target)
        if fmt == "json":
            return api.json_response(report)
        name = f"ty-le-thanh-toan-truc-tuyen_{period.first}_{period.last}_{group_by}"
        if fmt == "csv":
            return _file(exports.share_csv(report), exports.CSV_MIMETYPE, name + ".csv")
        sheets = reports.online_share_by_agency(session, codes, query, target)
        body = exports.share_xlsx(report, sheets, _agency_label(codes), gw.now())
        return _file(body, exports.XLSX_MIMETYPE, name + ".xlsx")
    finally:
        session.rollback()  # a read: end it now (SQLite holds its lock for the transaction)


@bp.get("/coverage")
def coverage() -> Response:
    errors: list[FieldError] = []
    period = parse_period(request.args, errors)
    fmt = _choice(request.args, "format", FORMATS, "json", errors)
    if errors or period is None:
        raise ValidationFailed("the report query is not valid", errors)
    codes = api.current_client().agency_codes
    gw = gateway()
    session = db()
    try:
        result = reports.coverage(session, codes, period, reports.vn_date(gw.now()))
        if fmt == "json":
            return api.json_response(result.to_dict())
        name = f"tthc-thanh-toan-truc-tuyen_{period.first}_{period.last}"
        if fmt == "csv":
            return _file(exports.coverage_csv(result.to_dict()), exports.CSV_MIMETYPE,
                         name + ".csv")
        body = exports.coverage_xlsx(result, _agency_label(codes), gw.now())
        return _file(body, exports.XLSX_MIMETYPE, name + ".xlsx")
    finally:
        session.rollback()
