"""The report routes of the portal API (CONTRACT.md): online share, coverage, and the
national index (Decision 766) per unit of the agency tree.

Thin: parse the query, call payments.reports / payments.national_index, render JSON or
hand the figures to payments.exports. A client's reports cover every payment of the
agencies it may act for and of every agency below them (`parent_code`), whichever client
recorded them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from flask import Blueprint, Response, request
from sqlalchemy.orm import Session

from payments import exports, national_index, reports
from payments import reports_satisfaction as satisfaction_report
from payments.agency_tree import subtree_codes
from payments.errors import FieldError, Forbidden, ValidationFailed
from payments.reports import Period, ShareQuery
from payments.web import api
from payments.web.context import db, gateway

bp = Blueprint("reports_api", __name__, url_prefix="/api/v1/reports")
bp.before_request(api.require_client)

FORMATS = ("json", "csv", "xlsx")
EARLIEST = api.EARLIEST
LATEST = api.LATEST
"""2000-01-01..9998-12-31: the period's end (00:00 in Vietnam of the day after `to`) and
its month series must exist; `to=9999-12-31` is refused with a 422 naming `to`."""
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
    return api.query_date(value, name, errors)


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


def _client_label() -> str:
    return _agency_label(api.current_client().agency_codes)


def scope(session: Session) -> set[str]:
    """The agencies a client's reports cover: those it may act for and every agency below
    them in the catalog's tree (DESIGN.md, "The agency tree")."""
    return subtree_codes(session, api.current_client().agency_codes)


@bp.get("/online-share")
def online_share() -> Response:
    errors: list[FieldError] = []
    period = parse_period(request.args, errors)
    group_by = _choice(request.args, "group_by", reports.GROUPS, "agency", errors)
    basis = _choice(request.args, "basis", reports.BASES, "paid_at", errors)
    fmt = _choice(request.args, "format", FORMATS, "json", errors)
    if errors or period is None:
        raise ValidationFailed("the report query is not valid", errors)
    query = ShareQuery(period, group_by, basis)
    gw = gateway()
    target = gw.settings.online_share_target
    session = db()
    try:
        codes = scope(session)
        report = reports.online_share(session, codes, query, target)
        if fmt == "json":
            return api.json_response(report)
        name = f"ty-le-thanh-toan-truc-tuyen_{period.first}_{period.last}_{group_by}"
        if fmt == "csv":
            return _file(exports.share_csv(report), exports.CSV_MIMETYPE, name + ".csv")
        sheets = reports.online_share_by_agency(session, codes, query, target)
        body = exports.share_xlsx(report, sheets, _client_label(), gw.now())
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
    gw = gateway()
    session = db()
    try:
        codes = scope(session)
        result = reports.coverage(session, codes, period, reports.vn_date(gw.now()))
        if fmt == "json":
            return api.json_response(result.to_dict())
        name = f"tthc-thanh-toan-truc-tuyen_{period.first}_{period.last}"
        if fmt == "csv":
            return _file(exports.coverage_csv(result.to_dict()), exports.CSV_MIMETYPE,
                         name + ".csv")
        body = exports.coverage_xlsx(result, _client_label(), gw.now())
        return _file(body, exports.XLSX_MIMETYPE, name + ".xlsx")
    finally:
        session.rollback()



@bp.get("/satisfaction")
def satisfaction() -> Response:
    """Satisfied answers (ratings 3 and 4) / answers, by agency or month (CONTRACT.md)."""
    errors: list[FieldError] = []
    period = parse_period(request.args, errors)
    group_by = _choice(request.args, "group_by", satisfaction_report.GROUPS, "agency", errors)
    fmt = _choice(request.args, "format", FORMATS, "json", errors)
    if errors or period is None:
        raise ValidationFailed("the report query is not valid", errors)
    gw = gateway()
    session = db()
    try:
        report = satisfaction_report.satisfaction(
            session, scope(session), period, group_by, gw.settings.satisfaction_target
        )
        if fmt == "json":
            return api.json_response(report)
        name = f"muc-do-hai-long_{period.first}_{period.last}_{group_by}"
        if fmt == "csv":
            return _file(exports.satisfaction_csv(report), exports.CSV_MIMETYPE, name + ".csv")
        body = exports.satisfaction_xlsx(report, _client_label(), gw.now())
        return _file(body, exports.XLSX_MIMETYPE, name + ".xlsx")
    finally:
        session.rollback()


AGENCY_CODE = re.compile(r"[0-9A-Z][0-9A-Z.]{0,63}")


@bp.get("/national-index")
def national_index_report() -> Response:
    """Decision 766's payment indicators per unit of the agency tree (CONTRACT.md)."""
    errors: list[FieldError] = []
    period = parse_period(request.args, errors)
    fmt = _choice(request.args, "format", FORMATS, "json", errors)
    agency = request.args.get("agency")
    if agency is not None and not AGENCY_CODE.fullmatch(agency):
        errors.append(FieldError("agency", "must be an agency code (capitals, digits, dots)"))
    if errors or period is None:
        raise ValidationFailed("the report query is not valid", errors)
    gw = gateway()
    session = db()
    try:
        allowed = scope(session)
        if agency is not None and agency not in allowed:
            raise Forbidden(f"this client may not act for agency {agency}")
        roots = {agency} if agency is not None else api.current_client().agency_codes
        result = national_index.national_index(session, roots, period)
        if fmt == "json":
            return api.json_response(result.to_json())
        name = f"chi-so-766-thanh-toan-truc-tuyen_{period.first}_{period.last}"
        if fmt == "csv":
            return _file(exports.national_index_csv(result.to_dict()), exports.CSV_MIMETYPE,
                         name + ".csv")
        body = exports.national_index_xlsx(result.to_dict(), _agency_label(roots), gw.now())
        return _file(body, exports.XLSX_MIMETYPE, name + ".xlsx")
    finally:
        session.rollback()
