"""The OpenAPI 3.1 document, generated from the pydantic models in payments.schemas.

No hand-kept copy of a schema: the components are the JSON Schemas of the very models
that validate requests, so the document cannot drift from what is enforced.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from payments import national_index, schemas

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
    national_index.NationalIndexReport,
    schemas.Notification,
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(name: str, required: bool = True) -> dict[str, Any]:
    return {
        "required": required,
        "description": "JSON (`application/json`, or `application/*+json`; a charset, if "
        "given, `utf-8`): one object, each key once. Else 415 (another media type) or 400 "
        "(not UTF-8, not JSON, a duplicated key, not an object); 422 when it breaks the schema.",
        "content": {"application/json": {"schema": _ref(name)}},
    }


def _ok(name: str, status: str = "200", description: str = "OK") -> dict[str, Any]:
    return {
        status: {
            "description": description,
            "content": {"application/json": {"schema": _ref(name)}},
        }
    }


PROBLEM_TEXTS = {
    "400": "the body is not one well-formed JSON object (invalid UTF-8, malformed JSON, "
    "a key twice, not an object, nothing sent)",
    "401": "missing or invalid API key",
    "403": "agency not allowed for this client",
    "404": "unknown payment, or another client's",
    "409": "idempotency conflict or invalid state",
    "413": "the body is over 1 MiB",
    "415": "the body is not `application/json` (nor `application/*+json`, charset utf-8)",
    "422": "validation failed: `errors` names each field",
    "429": "rate limit of the API key exceeded; see `Retry-After`",
    "502": "the provider refused the request",
    "503": "the provider cannot be reached; try again",
}


def problems(*codes: str, **texts: str) -> dict[str, Any]:
    """The problem+json answers an operation can give (`texts` overrides a description)."""
    return {
        code: {
            "description": texts.get(f"d{code}", PROBLEM_TEXTS[code]),
            "content": {"application/problem+json": {"schema": _ref("Problem")}},
            **(RETRY_AFTER if code == "429" else {}),
        }
        for code in codes
    }


RETRY_AFTER = {
    "headers": {
        "Retry-After": {
            "description": "seconds to wait before the next request (FEEGATE_RATE_LIMIT_API)",
            "schema": {"type": "integer", "minimum": 1},
        }
    }
}


BODY = ("400", "413", "415", "422")
"""Every operation with a JSON body may answer these."""
KEYED = ("401", "429")
"""Every operation behind an API key may answer these."""

PAYMENT_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
DATE = {
    "type": "string",
    "format": "date",
    "pattern": r"^(2[0-9]{3}|[3-8][0-9]{3}|9[0-8][0-9]{2})-[0-9]{2}-[0-9]{2}$",
}
"""A Vietnam day from 2000-01-01 to 9998-12-31 (the service's EARLIEST..LATEST)."""


def _query(name: str, schema: dict[str, Any], required: bool = False,
           description: str | None = None) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        param["description"] = description
    return param


def _enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


PERIOD = [
    _query("from", DATE, True, "first Vietnam day of the period, 2000-01-01 to 9998-12-31"),
    _query("to", DATE, True, "last Vietnam day (included; may be in the future), at most a "
           "hundred years after `from`, 9998-12-31 at the latest"),
]
LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50})
CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _report(name: str) -> dict[str, Any]:
    return {
        "200": {
            "description": "the report: JSON, or with `format=csv|xlsx` a file download",
            "content": {
                "application/json": {"schema": _ref(name)},
                CSV: {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }



_SATISFACTION_ROW = {
    "type": "object",
    "required": ["key", "label", "answers", "satisfied", "satisfied_percent", "meets_target"],
    "properties": {
        "key": {"type": "string", "description": "agency code, `YYYY-MM`, or `total`"},
        "label": {"type": "string"},
        "answers": {"type": "integer", "minimum": 0},
        "satisfied": {"type": "integer", "minimum": 0,
                      "description": "answers 3 (Hài lòng) and 4 (Rất hài lòng)"},
        "satisfied_percent": {"type": ["number", "null"],
                              "description": "satisfied / answers × 100, one decimal, half up"},
        "meets_target": {"type": "boolean",
                         "description": "the unrounded share against the target in force"},
    },
}
SATISFACTION_PATHS: dict[str, Any] = {
    "/api/v1/reports/satisfaction": {
        "get": {
            "summary": "Citizens' satisfaction after paying (ratings 1–4), by agency or month",
            "operationId": "satisfactionReport",
            "parameters": [
                *PERIOD,
                _query("group_by", _enum("agency", "month")),
                _query("format", _enum("json", "csv", "xlsx")),
            ],
            "responses": {
                "200": {
                    "description": "the report: JSON, or with `format=csv|xlsx` a file download",
                    "content": {
                        "application/json": {"schema": {
                            "type": "object",
                            "required": ["from", "to", "group_by", "target_percent", "rows",
                                         "totals"],
                            "properties": {
                                "from": {"type": "string", "format": "date"},
                                "to": {"type": "string", "format": "date"},
                                "group_by": _enum("agency", "month"),
                                "target_percent": {"type": "number"},
                                "rows": {"type": "array", "items": _SATISFACTION_ROW},
                                "totals": _SATISFACTION_ROW,
                            },
                        }},
                        CSV: {"schema": {"type": "string"}},
                        XLSX: {"schema": {"type": "string", "format": "binary"}},
                    },
                }
            },
        }
    }
}
SATISFACTION_PATHS["/api/v1/reports/satisfaction"]["get"]["responses"].update(
    problems(*KEYED, "422")
)


def _receipt_paths() -> dict[str, Any]:
    """GET …/receipt-data and POST …/receipt-number (payments/web/receipts.py)."""
    from payments.web.receipts import EReceiptIn  # noqa: PLC0415

    text = {"type": "string"}
    maybe = {"type": ["string", "null"]}
    data = {
        "type": "object",
        "description": "what the agency's e-receipt needs (Decree 254/2026 Art. 23) and the "
        "payment evidence; `ereceipt` once the agency recorded its number",
        "required": ["payment_id", "verification_code", "verify_url", "receipt_url",
                     "pdf_url", "agency_code", "agency_name", "procedure_code",
                     "procedure_name", "reference", "payer_name", "fee_items", "amount",
                     "amount_in_words", "currency", "provider", "provider_txn_id", "paid_at",
                     "ereceipt"],
        "properties": {
            "payment_id": text, "verification_code": text,
            "verify_url": text, "receipt_url": text, "pdf_url": text,
            "agency_code": text, "agency_name": text,
            "procedure_code": text, "procedure_name": text,
            "reference": text, "payer_name": maybe,
            "fee_items": {"type": "array", "items": {
                "type": "object", "required": ["name", "kind", "amount"],
                "properties": {"name": text, "kind": text, "amount": {"type": "integer"}}}},
            "amount": {"type": "integer", "description": "đồng"},
            "amount_in_words": {"type": "string",
                                "examples": ["một triệu hai trăm năm mươi nghìn đồng"]},
            "currency": {"type": "string", "enum": ["VND"]},
            "provider": text, "provider_txn_id": maybe,
            "paid_at": {"type": "string", "format": "date-time"},
            "ereceipt": {"oneOf": [{"type": "null"}, {
                "type": "object", "required": ["template", "series", "number", "issued_at"],
                "properties": {"template": text, "series": text, "number": text,
                               "issued_at": {"type": "string", "format": "date-time"}}}]},
        },
    }
    ok = {"200": {"description": "the receipt's data",
                  "content": {"application/json": {"schema": data}}}}
    return {
        "/api/v1/payments/{id}/receipt-data": {
            "get": {
                "summary": "What the agency's e-receipt system needs for a paid payment",
                "operationId": "getReceiptData",
                "parameters": [PAYMENT_ID],
                "responses": {**ok, **problems(*KEYED, "404", "409",
                                                d409="the payment has not succeeded yet")},
            }
        },
        "/api/v1/payments/{id}/receipt-number": {
            "post": {
                "summary": "Record the e-receipt (template, series, number) the agency issued",
                "operationId": "recordReceiptNumber",
                "parameters": [PAYMENT_ID],
                "requestBody": {
                    "required": True,
                    "description": "JSON, one object; 422 when it breaks the schema",
                    "content": {"application/json": {"schema": EReceiptIn.model_json_schema()}},
                },
                "responses": {
                    **ok,
                    **problems(*BODY, *KEYED, "404", "409",
                               d409="not paid yet, another number already recorded, or "
                               "the number is another payment's"),
                },
            }
        },
    }

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
        "description": "1 to 255 characters; the same key and body answer the first answer again",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
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
                    **problems(*BODY, *KEYED, "403", "409"),
                },
            },
            "get": {
                "summary": "List the client's payments (cursor pagination)",
                "operationId": "listPayments",
                "parameters": [
                    _query("reference", {"type": "string"}),
                    _query("status", _enum("created", "pending", "succeeded", "failed",
                                           "cancelled", "expired")),
                    _query("provider", {"type": "string"}),
                    _query("from", DATE, description="created on or after this Vietnam day, "
                           "2000-01-01 to 9998-12-31"),
                    _query("to", DATE, description="created on or before this Vietnam day, "
                           "2000-01-01 to 9998-12-31"),
                    _query("cursor", {"type": "string"},
                           description="`next_cursor` of the previous page"),
                    LIMIT,
                ],
                "responses": {**_ok("PaymentList"), **problems(*KEYED, "422")},
            },
        },
        "/api/v1/payments/{id}": {
            "get": {
                "summary": "A payment with its attempts and refunds",
                "operationId": "getPayment",
                "parameters": [PAYMENT_ID],
                "responses": {**_ok("PaymentOut"), **problems(*KEYED, "404")},
            },
        },
        "/api/v1/payments/{id}/attempts": {
            "post": {
                "summary": "Start an attempt at a provider",
                "operationId": "createAttempt",
                "parameters": [PAYMENT_ID],
                "requestBody": _body("AttemptCreate"),
                "responses": {
                    **_ok("AttemptOut", "201"),
                    **problems(*BODY, *KEYED, "404", "409", "502", "503",
                               d422="validation failed, or the provider is not available for "
                               "this payment"),
                },
            },
        },
        "/api/v1/payments/{id}/cancel": {
            "post": {
                "summary": "Cancel while nothing is paid",
                "operationId": "cancelPayment",
                "parameters": [PAYMENT_ID],
                "requestBody": _body("CancelRequest", required=False),
                "responses": {**_ok("PaymentOut"), **problems(*BODY, *KEYED, "404", "409")},
            },
        },
        "/api/v1/payments/{id}/refunds": {
            "post": {
                "summary": "Refund all or part of a paid payment",
                "operationId": "createRefund",
                "parameters": [PAYMENT_ID, idem],
                "requestBody": _body("RefundCreate"),
                "responses": {
                    **_ok("RefundOut", "201"),
                    **problems(*BODY, *KEYED, "404", "409", "502", "503"),
                },
            },
        },
        "/api/v1/payments/{id}/counter": {
            "post": {
                "summary": "Record a payment taken at the counter",
                "operationId": "recordCounter",
                "parameters": [PAYMENT_ID],
                "requestBody": _body("CounterIn"),
                "responses": {
                    **_ok("AttemptOut", "201"),
                    **problems(*BODY, *KEYED, "404", "409",
                               d409="already paid, cancelled, or the receipt number is taken"),
                },
            },
        },
        "/api/v1/reports/online-share": {
            "get": {
                "summary": "Share of fee-bearing payments paid online",
                "operationId": "onlineShareReport",
                "parameters": [
                    *PERIOD,
                    _query("group_by", _enum("agency", "procedure", "provider", "month")),
                    _query("basis", _enum("paid_at", "received_at")),
                    _query("format", _enum("json", "csv", "xlsx")),
                ],
                "responses": {**_report("OnlineShareReport"), **problems(*KEYED, "422")},
            }
        },
        "/api/v1/reports/coverage": {
            "get": {
                "summary": "Fee-bearing procedures payable and paid online, per agency",
                "operationId": "coverageReport",
                "parameters": [*PERIOD, _query("format", _enum("json", "csv", "xlsx"))],
                "responses": {**_report("CoverageReport"), **problems(*KEYED, "422")},
            }
        },
        "/api/v1/reports/national-index": {
            "get": {
                "summary": "Decision 766's online-payment indicators (3.6, 3.5, 3.5b, points) "
                "per unit of the agency tree, each unit counting its whole subtree",
                "operationId": "nationalIndexReport",
                "parameters": [
                    *PERIOD,
                    _query("agency", {"type": "string", "pattern": r"^[0-9A-Z][0-9A-Z.]{0,63}$"},
                           description="one unit (and every unit below it); without it, "
                           "each agency the client may act for"),
                    _query("format", _enum("json", "csv", "xlsx")),
                ],
                "responses": {
                    **_report("NationalIndexReport"),
                    **problems(*KEYED, "403", "422",
                               d403="the agency is outside the client's agencies and the "
                               "units below them"),
                },
            }
        },
    }
    paths.update(SATISFACTION_PATHS)  # the satisfaction report (issue 13)
    paths.update(_receipt_paths())  # the receipt's data and the agency's number
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
