"""The portal JSON API (CONTRACT.md). Thin: parse, call one service, answer."""

from __future__ import annotations

import json as stdjson
import re
from datetime import date
from typing import Any, TypeVar

from flask import Blueprint, Response, g, json, request
from pydantic import BaseModel, ValidationError

from payments.errors import DomainError, FieldError, NotFound, ValidationFailed
from payments.models import Attempt, Client, Refund
from payments.schemas import AttemptCreate, CancelRequest, CounterIn, PaymentCreate, RefundCreate
from payments.serialize import attempt_to_dict, payment_to_dict, refund_to_dict
from payments.services import idempotency
from payments.services.attempts import start_attempt
from payments.services.clients import authenticate
from payments.services.counter import record_counter
from payments.services.payments import (
    PaymentFilter,
    cancel_payment,
    create_payment,
    get_payment,
    list_payments,
)
from payments.services.refunds import create_refund
from payments.states import PaymentStatus
from payments.web.context import client_ip, db, gateway
from payments.web.problems import (
    MalformedBody,
    UnsupportedMediaType,
    field_errors,
    problem_body,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

M = TypeVar("M", bound=BaseModel)
PUBLIC_ENDPOINTS = {"api.openapi"}


@bp.before_request
def require_client() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    session = db()
    client = authenticate(session, request.headers.get("Authorization"))
    _ = client.agency_codes  # load before detaching
    session.expunge(client)
    session.rollback()  # end the read: services may open their own transactions (SQLite lock)
    g.client = client
    refuse_nul_characters()


NUL = "\x00"


def refuse_nul_characters() -> None:
    """A NUL in an id or a query is never valid (and PostgreSQL text cannot hold one)."""
    if any(NUL in str(value) for value in (request.view_args or {}).values()):
        raise NotFound("not found")
    bad = [FieldError(name, "must not contain NUL characters")
           for name, value in request.args.items(multi=True) if NUL in name + value]
    if bad:
        raise ValidationFailed("the query is not valid", bad)


def current_client() -> Client:
    client: Client = g.client
    return client


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status,
                    mimetype="application/json")


JSON_TYPE = re.compile(r"application/(?:json|[a-z0-9!#$&^_.+-]+\+json)")
"""`application/json`, or a structured-syntax `application/*+json` type (RFC 6839)."""
UNPAIRED_SURROGATE = re.compile(r"[\ud800-\udfff]")


class _NotJson(ValueError):
    """Raised from the parser's hooks: text that json.loads would accept but JSON does not."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """object_pairs_hook: a key given twice in one object is refused, never last-one-wins.

    A portal and feegate must read the same body the same way: `amount` twice, or
    `return_url` good then evil, would be read differently by another parser.
    """
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _NotJson(f"the key {json.dumps(key, ensure_ascii=False)[:80]} appears twice "
                           "in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    """parse_constant: NaN, Infinity and -Infinity are Python's, not JSON's (RFC 8259)."""
    raise _NotJson(f"{name} is not a JSON value")


def is_json_media_type() -> bool:
    """`application/json` or `application/*+json`; a charset, if any, is UTF-8."""
    if not JSON_TYPE.fullmatch(request.mimetype):
        return False
    charset = request.mimetype_params.get("charset")
    return charset is None or charset.strip().lower() == "utf-8"


def _unsupported() -> UnsupportedMediaType:
    sent = (request.content_type or "").strip()[:100] or "no Content-Type"
    return UnsupportedMediaType(
        "Nội dung phải là JSON, gửi kèm 'Content-Type: application/json' (UTF-8) "
        f"(send the body as JSON with 'Content-Type: application/json'; got {sent})",
        [FieldError("Content-Type", "must be application/json (charset, if given, utf-8)")],
    )


def raw_json(*, required: bool = True) -> dict[str, Any] | None:
    """The one reader of every JSON body of the API: a JSON object, or a problem.

    - 415 when a body (or a required one) comes with another media type than
      `application/json` or `application/*+json` (a charset parameter, if any, `utf-8`);
    - 400 when the bytes are not one JSON object: nothing sent where a body is required,
      invalid UTF-8, malformed JSON (NaN, Infinity included), a key twice in one object,
      nesting deeper than the parser goes, an unpaired surrogate, a top level that is
      not an object;
    - 422 for a NUL character in a string or a key (PostgreSQL text cannot hold one).

    Without `required`, an empty body is None (the caller uses its defaults).
    Schema rules (types, ranges) are `parse`'s: 422.
    """
    raw = request.get_data(cache=True)
    if not raw:
        if not required:
            return None
        if request.content_type and not is_json_media_type():
            raise _unsupported()
        raise MalformedBody("Thiếu nội dung yêu cầu: cần một đối tượng JSON "
                            "(the request body must be a JSON object; none was sent)",
                            [FieldError("body", "is empty")])
    if not is_json_media_type():
        raise _unsupported()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody(
            f"Nội dung không phải UTF-8 hợp lệ (the request body is not valid UTF-8 at byte "
            f"{exc.start})",
            [FieldError("body", f"invalid UTF-8 at byte {exc.start}")],
        ) from None
    try:
        value = stdjson.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:  # [[[[… nested deeper than the parser goes
        raise MalformedBody("Nội dung không phải JSON hợp lệ (the request body is not valid "
                            "JSON: nested too deeply)",
                            [FieldError("body", "is nested too deeply")]) from None
    except _NotJson as exc:
        raise MalformedBody(f"Nội dung không phải JSON hợp lệ (the request body is not valid "
                            f"JSON: {exc})",
                            [FieldError("body", str(exc))]) from None
    except ValueError as exc:  # JSONDecodeError, and integers past Python's digit limit
        raise MalformedBody("Nội dung không phải JSON hợp lệ (the request body is not valid "
                            "JSON)", [FieldError("body", str(exc)[:200])]) from None
    if not isinstance(value, dict):
        raise MalformedBody(
            "Nội dung phải là một đối tượng JSON {…} (the request body must be a JSON object, "
            f"not {_json_kind(value)})",
            [FieldError("body", "must be an object")],
        )
    field, problem = _bad_text(value)
    if field is not None and problem == "surrogate":
        raise MalformedBody(
            "Nội dung không phải văn bản Unicode hợp lệ (the request body is not valid Unicode "
            "text)",
            [FieldError(field, "holds an unpaired surrogate (\\ud800-\\udfff)")],
        )
    if field is not None:
        raise ValidationFailed("the request is not valid",
                               [FieldError(field, "must not contain NUL characters")])
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "null"
    return "a number"


def nul_field(value: Any) -> str | None:
    """The dotted path of a string (or key) in a JSON value that holds a NUL, if any."""
    field, problem = _bad_text(value)
    return field if problem == "nul" else None


def _bad_text(value: Any) -> tuple[str | None, str | None]:
    """The dotted path of a string (or key) holding a NUL or an unpaired surrogate.

    Iterative, so a body nested as deep as the JSON parser allows cannot overflow it.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            found = _text_problem(item)
            if found:
                return path or "body", found
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                found = _text_problem(key)
                if found:
                    shown = child_path.replace(NUL, "\\u0000")
                    return UNPAIRED_SURROGATE.sub("?", shown), found
                stack.append((child_path, child))
        elif isinstance(item, list):
            stack.extend((f"{path}.{i}" if path else str(i), child) for i, child in enumerate(item))
    return None, None


def _text_problem(text: str) -> str | None:
    if UNPAIRED_SURROGATE.search(text):
        return "surrogate"
    if NUL in text:
        return "nul"
    return None


def parse(model: type[M], body: Any) -> M:
    """Validate a body read by `raw_json` against its pydantic model: 422 naming each field."""
    if not isinstance(body, dict):
        raise MalformedBody("Nội dung phải là một đối tượng JSON {…} (the request body must "
                            "be a JSON object)", [FieldError("body", "must be an object")])
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ValidationFailed("the request is not valid", field_errors(exc)) from exc


def payment_json(payment_id: str) -> dict[str, Any]:
    session = db()
    session.expire_all()
    payment = get_payment(session, current_client(), payment_id)
    return payment_to_dict(payment, gateway().checkout_url(payment.id))


def replay(answer: idempotency.StoredAnswer) -> Response:
    """An Idempotency-Key's stored answer, with its status and media type (problem+json)."""
    return Response(json.dumps(answer.body, ensure_ascii=False), status=answer.status,
                    mimetype=answer.content_type)


@bp.post("/payments")
def create() -> Response:
    body = raw_json()
    client = current_client()
    gw = gateway()
    key = request.headers.get("Idempotency-Key")
    held: idempotency.Claim | None = None
    if key is not None:
        held = idempotency.claim(gw, client.id, key.strip(), idempotency.request_hash(body))
        if held.answer is not None:
            return replay(held.answer)
    try:
        data = parse(PaymentCreate, body)
        session = db()
        payment = create_payment(session, gw, client, data)
        if data.counter is not None:
            try:
                record_counter(session, gw, payment, data.counter, actor=client.id)
            except ValidationFailed as exc:  # name the field as the portal sent it
                exc.errors = [FieldError(f"counter.{e.field}", e.message) for e in exc.errors]
                raise
        session.flush()
        answer = payment_to_dict(payment, gw.checkout_url(payment.id))
        if held is not None:  # with the payment, or neither commits (a lost lease)
            idempotency.complete(gw, held, 201, answer, payment.id, session=session)
        session.commit()
        return json_response(answer, 201)
    except DomainError as exc:
        db().rollback()
        if held is not None:
            idempotency.settle(gw, held, exc.status, problem_body(exc))
        raise
    except BaseException:
        db().rollback()
        if held is not None:
            idempotency.release(gw, held)
        raise


@bp.get("/payments/<payment_id>")
def show(payment_id: str) -> Response:
    return json_response(payment_json(payment_id))


@bp.get("/payments")
def index() -> Response:
    args = request.args
    errors: list[FieldError] = []
    status = args.get("status")
    if status is not None and status not in {s.value for s in PaymentStatus}:
        errors.append(FieldError("status", "must be one of "
                                 + ", ".join(s.value for s in PaymentStatus)))
    status = status or None
    filters = PaymentFilter(
        reference=args.get("reference") or None,
        status=status,
        provider=args.get("provider") or None,
        date_from=_date_arg("from", errors),
        date_to=_date_arg("to", errors),
    )
    limit = limit_arg(errors)
    if errors:
        raise ValidationFailed("the query is not valid", errors)
    rows, next_cursor = list_payments(db(), current_client(), filters, limit=limit,
                                      cursor=args.get("cursor") or None)
    gw = gateway()
    return json_response({
        "items": [payment_to_dict(p, gw.checkout_url(p.id)) for p in rows],
        "next_cursor": next_cursor,
    })


EARLIEST = date(2000, 1, 1)
LATEST = date(9998, 12, 31)
"""The dates a query may name (list filters, reports): every day after one in range, and
its first moment in UTC, exist; year 1 or 9999 would overflow the conversion."""
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def query_date(value: str, name: str, errors: list[FieldError]) -> date | None:
    """A Vietnam date `YYYY-MM-DD` from the query string, within EARLIEST..LATEST."""
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(name, "must be a date YYYY-MM-DD"))
        return None
    if not EARLIEST <= day <= LATEST:
        errors.append(FieldError(name, f"must be between {EARLIEST} and {LATEST}"))
        return None
    return day


def _date_arg(name: str, errors: list[FieldError]) -> date | None:
    value = request.args.get(name)
    if value is None:
        return None
    return query_date(value, name, errors)


def limit_arg(errors: list[FieldError]) -> int:
    """`limit` of a list: 1 to 200, 50 when absent (`limit=` is not an integer: 422)."""
    raw = request.args.get("limit")
    if raw is None:
        return 50
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= 200:
        errors.append(FieldError("limit", "must be an integer from 1 to 200"))
        return 50
    return int(raw)


@bp.post("/payments/<payment_id>/attempts")
def attempt(payment_id: str) -> Response:
    data = parse(AttemptCreate, raw_json())
    client = current_client()
    get_payment(db(), client, payment_id)
    db().rollback()  # no transaction open across the provider call
    attempt_id = start_attempt(gateway(), payment_id, data.provider, client_ip=client_ip(),
                               locale=data.locale, client_id=client.id, source="api")
    session = db()
    session.expire_all()
    row = session.get(Attempt, attempt_id)
    assert row is not None
    body = attempt_to_dict(row)
    if data.provider == "vietqr" and row.qr_payload:
        body["qr_image_url"] = gateway().settings.url(f"/pay/{payment_id}/qr/{row.id}.svg")
    return json_response(body, 201)


@bp.post("/payments/<payment_id>/cancel")
def cancel(payment_id: str) -> Response:
    body = raw_json(required=False)
    data = CancelRequest() if body is None else parse(CancelRequest, body)
    session = db()
    cancel_payment(session, gateway(), current_client(), payment_id, data.reason)
    session.commit()
    return json_response(payment_json(payment_id))


@bp.get("/openapi.json")
def openapi() -> Response:
    from payments.web.openapi import build_openapi  # noqa: PLC0415

    return json_response(build_openapi(gateway().settings.public_url))


@bp.post("/payments/<payment_id>/counter")
def counter(payment_id: str) -> Response:
    data = parse(CounterIn, raw_json())
    session = db()
    client = current_client()
    payment = get_payment(session, client, payment_id)
    row = record_counter(session, gateway(), payment, data, actor=client.id)
    session.commit()
    session.refresh(row)
    return json_response(attempt_to_dict(row), 201)


@bp.post("/payments/<payment_id>/refunds")
def refund(payment_id: str) -> Response:
    """Refund all or part of a paid payment through the provider that took the money.

    No session is held here: the service commits the pending refund before it calls the
    provider and records the answer after (201 with the refund, whatever its status).
    With an Idempotency-Key, a retry never refunds twice: it gets the first answer again.
    """
    body = raw_json()
    client = current_client()
    gw = gateway()
    key = (request.headers.get("Idempotency-Key") or "").strip() or None
    held: idempotency.Claim | None = None
    if key is not None:
        fingerprint = idempotency.request_hash({"path": request.path, "body": body})
        held = idempotency.claim(gw, client.id, key, fingerprint)
        if held.answer is not None:
            return replay(held.answer)
    try:
        data = parse(RefundCreate, body)
        if held is not None and held.refund_id is not None:
            refund_id = held.refund_id  # opened by a request that crashed: answer it, once
        else:
            refund_id = create_refund(gw, client.id, payment_id, data, actor=client.id,
                                      on_open=held.on_refund_opened if held else None)
        session = db()
        session.expire_all()
        row = session.get(Refund, refund_id)
        assert row is not None
        answer = refund_to_dict(row)
        session.rollback()  # end the read before storing the answer (SQLite's write lock)
    except DomainError as exc:
        if held is not None:
            idempotency.settle(gw, held, exc.status, problem_body(exc))
        raise
    except BaseException:
        if held is not None:
            idempotency.release(gw, held)
        raise
    if held is not None:
        idempotency.complete(gw, held, 201, answer)
    return json_response(answer, 201)
