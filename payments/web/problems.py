"""RFC 9457 problem+json for the API: type, title, status, detail, errors[]."""

from __future__ import annotations

from typing import Any

from flask import Response, json
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from payments.errors import DomainError, FieldError

PROBLEM_BASE = "https://feegate.dev/problems/"


class MalformedBody(DomainError):
    """The body cannot be read as one JSON object: not UTF-8, not JSON, a key twice…"""

    code = "malformed-body"
    status = 400
    title = "Nội dung yêu cầu không phải một đối tượng JSON hợp lệ (malformed JSON body)"


class UnsupportedMediaType(DomainError):
    """A JSON route was sent another media type (a form, text/plain…)."""

    code = "unsupported-media-type"
    status = 415
    title = "Kiểu nội dung không được hỗ trợ (the body must be application/json)"


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[FieldError] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    body.update(extra)
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json"
    )


def from_http(exc: HTTPException) -> Response:
    """A werkzeug HTTP error as a problem, keeping its headers (405's `Allow`, RFC 9110)."""
    status = exc.code or 500
    response = problem(status, "http-" + str(status), exc.name, exc.description or exc.name)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def problem_body(error: DomainError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + error.code,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
    }
    if error.errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in error.errors]
    return body


def from_domain(error: DomainError) -> Response:
    response = problem(error.status, error.code, error.title, error.detail, error.errors)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="feegate"'
    return response


def field_errors(exc: ValidationError) -> list[FieldError]:
    out = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "body"
        out.append(FieldError(field, _message(err)))
    return out


def _message(err: Any) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "is required"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return (
            "must be an integer number of đồng"
            if "amount" in str(err.get("loc"))
            else "must be an integer"
        )
    if kind == "extra_forbidden":
        return "is not a known field"
    return str(err.get("msg", "is not valid"))
