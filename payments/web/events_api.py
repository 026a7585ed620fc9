"""The portal's view of its notifications: list them, see delivery, ask for a resend.

- `GET /api/v1/events?payment_id=&status=&limit=&cursor=` — the client's events, newest
  first, each with its delivery status (`pending`, `delivered`, `dead`, `skipped`).
- `GET /api/v1/events/{id}` — one event with the payload sent and every delivery try.
- `POST /api/v1/events/{id}/redeliver` — queue it again (`202`); another client's or an
  unknown event is `404`.

Same authentication as the payments API (`Authorization: Bearer <api_key>`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from payments.errors import FieldError, ValidationFailed
from payments.services import outbox
from payments.web import api
from payments.web.context import db, gateway
from payments.web.openapi import problems

bp = Blueprint("events_api", __name__, url_prefix="/api/v1")
bp.before_request(api.require_client)


@bp.get("/events")
def index() -> Response:
    args = request.args
    errors: list[FieldError] = []
    status = args.get("status")
    if status is not None and status not in {s.value for s in outbox.OutboxStatus}:
        errors.append(FieldError("status", "unknown delivery status: one of "
                                 + ", ".join(s.value for s in outbox.OutboxStatus)))
    status = status or None
    limit = api.limit_arg(errors)
    if errors:
        raise ValidationFailed("the query is not valid", errors)
    rows, next_cursor = outbox.list_events(
        db(), client_id=api.current_client().id, payment_id=args.get("payment_id") or None,
        status=status, limit=limit, cursor=args.get("cursor") or None,
    )
    return api.json_response({"items": [outbox.event_to_dict(r) for r in rows],
                              "next_cursor": next_cursor})


@bp.get("/events/<event_id>")
def show(event_id: str) -> Response:
    session = db()
    row = outbox.get_event(session, event_id, client_id=api.current_client().id)
    return api.json_response(outbox.event_to_dict(row, outbox.deliveries_of(session, event_id)))


@bp.post("/events/<event_id>/redeliver")
def redeliver(event_id: str) -> Response:
    session = db()
    row = outbox.redeliver(session, gateway(), event_id, client_id=api.current_client().id)
    body = outbox.event_to_dict(row)
    session.commit()
    return api.json_response(body, 202)


_EVENT_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_EVENT = {"type": "object", "description": "id, object, type, payment_id, created_at, delivery "
          "{status, tries, next_attempt_at, last_status_code, last_error, delivered_at}"}

_EVENT_LIST = {"type": "object", "properties": {
    "items": {"type": "array", "items": _EVENT},
    "next_cursor": {"type": ["string", "null"]},
}}
_NOT_FOUND = "unknown event, or another client's"

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/events": {
        "get": {
            "summary": "The client's notifications with their delivery status (newest first)",
            "operationId": "listEvents",
            "parameters": [
                {"name": "payment_id", "in": "query", "required": False,
                 "schema": {"type": "string"}},
                {"name": "status", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": [s.value for s in outbox.OutboxStatus]}},
                {"name": "cursor", "in": "query", "required": False,
                 "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
            ],
            "responses": {"200": {"description": "{items: [event…], next_cursor}",
                                  "content": {"application/json": {"schema": _EVENT_LIST}}},
                          **problems("401", "422", "429")},
        }
    },
    "/api/v1/events/{id}": {
        "get": {
            "summary": "One notification: the payload sent and every delivery try",
            "operationId": "getEvent",
            "parameters": [_EVENT_ID],
            "responses": {"200": {"description": "the event with payload and deliveries",
                                  "content": {"application/json": {"schema": _EVENT}}},
                          **problems("401", "404", "429", d404=_NOT_FOUND)},
        }
    },
    "/api/v1/events/{id}/redeliver": {
        "post": {
            "summary": "Send a notification again (any status; its retry schedule starts over)",
            "operationId": "redeliverEvent",
            "parameters": [_EVENT_ID],
            "responses": {"202": {"description": "queued; the next worker pass sends it",
                                  "content": {"application/json": {"schema": _EVENT}}},
                          **problems("401", "404", "429", d404=_NOT_FOUND)},
        }
    },
}
"""For payments.web.openapi to merge into the document's `paths`."""
