"""GET /api/v1/openapi.json: OpenAPI 3.1, served without a key, generated from the schemas."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from payments.schemas import PaymentCreate

CONTRACT_OPERATIONS = [
    ("post", "/api/v1/payments"),
    ("get", "/api/v1/payments"),
    ("get", "/api/v1/payments/{id}"),
    ("post", "/api/v1/payments/{id}/attempts"),
    ("post", "/api/v1/payments/{id}/cancel"),
    ("post", "/api/v1/payments/{id}/refunds"),
    ("post", "/api/v1/payments/{id}/counter"),
    ("get", "/api/v1/reports/online-share"),
    ("get", "/api/v1/reports/coverage"),
]


@pytest.fixture
def document(http: FlaskClient) -> dict[str, Any]:
    response = http.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()
    return body


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def test_the_document_is_served_without_a_key_as_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"]
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
    }


def test_a_bad_key_does_not_hide_the_document(http: FlaskClient) -> None:
    response = http.get("/api/v1/openapi.json", headers={"Authorization": "Bearer nope"})

    assert response.status_code == 200


@pytest.mark.parametrize(("method", "path"), CONTRACT_OPERATIONS)
def test_every_operation_of_the_contract_is_documented(
    document: dict[str, Any], method: str, path: str
) -> None:
    operation = document["paths"][path][method]

    assert operation["summary"]
    assert operation["responses"]


def test_the_payment_create_schema_says_amount_is_an_integer_of_dong(
    document: dict[str, Any],
) -> None:
    schema = document["components"]["schemas"]["PaymentCreate"]

    amount = schema["properties"]["amount"]
    assert amount["type"] == "integer"
    assert amount["minimum"] == 0  # 0 only for an exempt dossier, which the text explains
    assert "exempt" in amount["description"]
    assert {"reference", "procedure_code", "amount", "return_url"} <= set(schema["required"])
    assert schema["additionalProperties"] is False


def test_the_schema_is_the_one_that_validates_requests(document: dict[str, Any]) -> None:
    generated = PaymentCreate.model_json_schema(ref_template="#/components/schemas/{model}")
    generated.pop("$defs", None)

    assert document["components"]["schemas"]["PaymentCreate"] == generated


def test_create_documents_the_idempotency_key_and_the_201(document: dict[str, Any]) -> None:
    create = document["paths"]["/api/v1/payments"]["post"]

    assert "Idempotency-Key" in [p["name"] for p in create["parameters"]]
    assert "201" in create["responses"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PaymentCreate"
    }


def test_the_list_documents_every_filter_of_the_contract(document: dict[str, Any]) -> None:
    listing = document["paths"]["/api/v1/payments"]["get"]

    assert {"reference", "status", "provider", "from", "to", "cursor"} <= {
        p["name"] for p in listing["parameters"]
    }


def test_errors_are_documented_as_problem_json(document: dict[str, Any]) -> None:
    create = document["paths"]["/api/v1/payments"]["post"]["responses"]

    for status in ("401", "403", "409", "422"):
        assert "application/problem+json" in create[status]["content"]
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])


def test_every_reference_in_the_document_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    found = refs(document)

    assert found
    for ref in found:
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_the_statuses_in_the_document_are_the_contracts(document: dict[str, Any]) -> None:
    payment = document["components"]["schemas"]["PaymentOut"]["properties"]

    assert payment["status"]["enum"] == [
        "created",
        "pending",
        "succeeded",
        "failed",
        "cancelled",
        "expired",
    ]
    assert payment["amount"]["type"] == "integer"
    assert payment["refunded_amount"]["type"] == "integer"
