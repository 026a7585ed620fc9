"""RFC 9457 problem+json for the API: type, title, status, detail, errors[]."""

from __future__ import annotations

from typing import Any

from flask import Response, json
from pydantic import ValidationError

from payments.errors import DomainError, FieldError

PROBLEM_BASE = "https://feegate.dev/problems/"


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
