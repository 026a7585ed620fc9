"""The portal JSON API (CONTRACT.md). Thin: parse, call one service, answer."""

from __future__ import annotations

from datetime import date
from typing import Any, TypeVar

from flask import Blueprint, Response, g, json, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import BadRequest

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
from payments.web.problems import field_errors, problem_body

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


def nul_field(value: Any) -> str | None:
    """The dotted path of a string (or key) in a JSON value that holds a NUL, if any.

    Iterative, so a body nested as deep as the JSON parser allows cannot overflow it.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return path or "body"
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                if NUL in key:
                    return child_path.replace(NUL, "\\u0000")
                stack.append((child_path, child))
        elif isinstance(item, list):
            stack.extend((f"{path}.{i}" if path else str(i), child) for i, child in enumerate(item))
    return None


def current_client() -> Client:
    client: Client = g.client
    return client


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status,
                    mimetype="application/json")


def raw_json() -> Any:
    if not request.data:
        raise ValidationFailed("the request body must be a JSON object",
                               [FieldError("body", "is empty")])
    try:
        value = json.loads(request.get_data(as_text=True))
    except RecursionError as exc:  # [[[[… nested deeper than the parser goes
        raise ValidationFailed("the request body is not valid JSON",
                               [FieldError("body", "is nested too deeply")]) from exc
    except (ValueError, BadRequest) as exc:
        raise ValidationFailed("the request body is not valid JSON",
                               [FieldError("body", str(exc)[:200])]) from exc
    field = nul_field(value)
    if field:
        raise ValidationFailed("the request is not valid",
                               [FieldError(field, "must not contain NUL characters")])
    return value


def parse(model: type[M], body: Any) -> M:
    if not isinstance(body, dict):
        raise ValidationFailed("the request body must be a JSON object",
                               [FieldError("body", "must be an object")])
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ValidationFailed("the request is not valid", field_errors(exc)) from exc


def payment_json(payment_id: str) -> dict[str, Any]:
    session = db()
    session.expire_all()
    payment = get_payment(session, current_client(), payment_id)
    return payment_to_dict(payment, gateway().checkout_url(payment.id))


@bp.post("/payments")
def create() -> Response:
    body = raw_json()
    client = current_client()
    gw = gateway()
    key = request.headers.get("Idempotency-Key")
    if key is not None:
        stored = idempotency.claim(gw, client.id, key.strip(), idempotency.request_hash(body))
        if stored is not None:
            return json_response(stored.body, stored.status)
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
        if key is not None:
            idempotency.complete(gw, client.id, key.strip(), 201, answer, payment.id,
                                 session=session)
        session.commit()
        return json_response(answer, 201)
    except DomainError as exc:
        db().rollback()
        if key is not None:
            idempotency.settle(gw, client.id, key.strip(), exc.status, problem_body(exc))
        raise
    except BaseException:
        db().rollback()
        if key is not None:
            idempotency.release(gw, client.id, key.strip())
        raise


@bp.get("/payments/<payment_id>")
def show(payment_id: str) -> Response:
    return json_response(payment_json(payment_id))


@bp.get("/payments")
def index() -> Response:
    args = request.args
    errors: list[FieldError] = []
    status = args.get("status") or None
    if status and status not in {s.value for s in PaymentStatus}:
        errors.append(FieldError("status", "unknown status"))
    filters = PaymentFilter(
        reference=args.get("reference") or None,
        status=status,
        provider=args.get("provider") or None,
        date_from=_date_arg("from", errors),
        date_to=_date_arg("to", errors),
    )
    try:
        limit = int(args.get("limit", "50"))
        if not 1 <= limit <= 200:
            raise ValueError
    except ValueError:
        errors.append(FieldError("limit", "must be an integer from 1 to 200"))
        limit = 50
    if errors:
        raise ValidationFailed("the query is not valid", errors)
    rows, next_cursor = list_payments(db(), current_client(), filters, limit=limit,
                                      cursor=args.get("cursor") or None)
    gw = gateway()
    return json_response({
        "items": [payment_to_dict(p, gw.checkout_url(p.id)) for p in rows],
        "next_cursor": next_cursor,
    })


def _date_arg(name: str, errors: list[FieldError]) -> date | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(name, "must be a date YYYY-MM-DD"))
        return None


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
    data = parse(CancelRequest, raw_json()) if request.data else CancelRequest()
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
    if key is not None:
        fingerprint = idempotency.request_hash({"path": request.path, "body": body})
        stored = idempotency.claim(gw, client.id, key, fingerprint)
        if stored is not None:
            return json_response(stored.body, stored.status)
    try:
        data = parse(RefundCreate, body)
        refund_id = create_refund(gw, client.id, payment_id, data, actor=client.id)
        session = db()
        session.expire_all()
        row = session.get(Refund, refund_id)
        assert row is not None
        answer = refund_to_dict(row)
        session.rollback()  # end the read before storing the answer (SQLite's write lock)
    except DomainError as exc:
        if key is not None:
            idempotency.settle(gw, client.id, key, exc.status, problem_body(exc))
        raise
    except BaseException:
        if key is not None:
            idempotency.release(gw, client.id, key)
        raise
    if key is not None:
        idempotency.complete(gw, client.id, key, 201, answer)
    return json_response(answer, 201)
