"""The OpenAPI 3.1 document, generated from the pydantic models in payments.schemas.

No hand-kept copy of a schema: the components are the JSON Schemas of the very models
that validate requests, so the document cannot drift from what is enforced.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from payments import schemas

MODELS: list[type[BaseModel]] = [
    schemas.PaymentCreate,
    schemas.AttemptCreate,
    schemas.CancelRequest,
    schemas.CounterIn,
    schemas.RefundCreate,
    schemas.PaymentOut,
    schemas.PaymentList,
    schemas.AttemptOut,
    schemas.RefundOut,
    schemas.Problem,
    schemas.OnlineShareReport,
    schemas.CoverageReport,
    schemas.Notification,
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _ok(name: str, status: str = "200", description: str = "OK") -> dict[str, Any]:
    return {
        status: {
            "description": description,
            "content": {"application/json": {"schema": _ref(name)}},
        }
    }


PROBLEMS = {
    code: {
        "description": text,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }
    for code, text in {
        "401": "missing or invalid API key",
        "403": "agency not allowed for this client",
        "404": "unknown payment, or another client's",
        "409": "idempotency conflict or invalid state",
        "422": "validation failed",
    }.items()
}

PAYMENT_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def build_openapi(server_url: str) -> dict[str, Any]:
    _, defs = models_json_schema(
        [
            (
                m,
                "validation"
                if m.__name__.endswith(("Create", "In", "Request"))
                else "serialization",
            )
            for m in MODELS
        ],
        ref_template="#/components/schemas/{model}",
    )
    components = defs.get("$defs", {})
    idem = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": 255},
    }
    paths: dict[str, Any] = {
        "/api/v1/payments": {
            "post": {
                "summary": "Create a payment for a dossier",
                "operationId": "createPayment",
                "parameters": [idem],
                "requestBody": _body("PaymentCreate"),
                "responses": {
                    **_ok("PaymentOut", "201", "created (or the idempotent replay)"),
                    **PROBLEMS,
                },
            },
            "get": {
                "summary": "List the client's payments (cursor pagination)",
                "operationId": "listPayments",
                "parameters": [
                    {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                    for n in ("reference", "status", "provider", "from", "to", "cursor", "limit")
                ],
                "responses": {**_ok("PaymentList"), **PROBLEMS},
            },
        },
        "/api/v1/payments/{id}": {
            "get": {
                "summary": "A payment with its attempts and refunds",
                "operationId": "getPayment",
                "parameters": [PAYMENT_ID],
                "responses": {**_ok("PaymentOut"), **PROBLEMS},
            },
        },
        "/api/v1/payments/{id}/attempts": {
            "post": {
                "summary": "Start an attempt at a provider",
                "operationId": "createAttempt",
                "parameters": [PAYMENT_ID],
                "requestBody": _body("AttemptCreate"),
                "responses": {**_ok("AttemptOut", "201"), **PROBLEMS},
            },
        },
        "/api/v1/payments/{id}/cancel": {
            "post": {
                "summary": "Cancel while nothing is paid",
                "operationId": "cancelPayment",
                "parameters": [PAYMENT_ID],
                "requestBody": {**_body("CancelRequest"), "required": False},
                "responses": {**_ok("PaymentOut"), **PROBLEMS},
            },
        },
        "/api/v1/payments/{id}/refunds": {
            "post": {
                "summary": "Refund all or part of a paid payment",
                "operationId": "createRefund",
                "parameters": [PAYMENT_ID, idem],
                "requestBody": _body("RefundCreate"),
                "responses": {**_ok("RefundOut", "201"), **PROBLEMS},
            },
        },
        "/api/v1/payments/{id}/counter": {
            "post": {
                "summary": "Record a payment taken at the counter",
                "operationId": "recordCounter",
                "parameters": [PAYMENT_ID],
                "requestBody": _body("CounterIn"),
                "responses": {**_ok("AttemptOut", "201"), **PROBLEMS},
            },
        },
        "/api/v1/reports/online-share": {
            "get": {
                "summary": "Share of fee-bearing payments paid online",
                "operationId": "onlineShareReport",
                "parameters": [
                    {
                        "name": "from",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "format": "date"},
                    },
                    {
                        "name": "to",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "format": "date"},
                    },
                    {
                        "name": "group_by",
                        "in": "query",
                        "schema": {"enum": ["agency", "procedure", "provider", "month"]},
                    },
                    {
                        "name": "basis",
                        "in": "query",
                        "schema": {"enum": ["paid_at", "received_at"]},
                    },
                    {"name": "format", "in": "query", "schema": {"enum": ["json", "csv", "xlsx"]}},
                ],
                "responses": {**_ok("OnlineShareReport"), **PROBLEMS},
            }
        },
        "/api/v1/reports/coverage": {
            "get": {
                "summary": "Fee-bearing procedures payable and paid online, per agency",
                "operationId": "coverageReport",
                "parameters": [
                    {"name": n, "in": "query", "schema": {"type": "string"}}
                    for n in ("from", "to", "format")
                ],
                "responses": {**_ok("CoverageReport"), **PROBLEMS},
            }
        },
    }
    from payments.web.events_api import OPENAPI_PATHS as EVENT_PATHS  # noqa: PLC0415
    paths.update(EVENT_PATHS)  # the notifications' routes (webhooks worker issue)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "feegate portal API",
            "version": "1.0.0",
            "description": (
                "Fee payments for Vietnamese administrative procedures. "
                "Amounts are integer đồng."
            ),
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": paths,
        "webhooks": {
            "notification": {
                "post": {
                    "summary": "POSTed to the client's notify URL, header Feegate-Signature",
                    "requestBody": _body("Notification"),
                    "responses": {"200": {"description": "any 2xx acknowledges"}},
                }
            }
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
