"""The OpenAPI document and the service agree: schemathesis against the live server.

For every operation of GET /api/v1/openapi.json (the document as served), schemathesis
generates requests from the document, schema-valid ones (`positive`) and ones that break
it (`negative`: wrong types, missing fields, unknown values), sends them over real HTTP
with the client's API key, and checks each answer: never a 5xx, a status code that the
document lists for the operation, the documented content type, and a body that matches
the documented schema (problem+json for every error).

Bounded and reproducible, so it is never flaky: MAX_EXAMPLES per operation and mode,
derandomized (hypothesis draws from a seed derived from the test, not from the clock), no
example database, no deadline (a slow, shared CI machine is not a failure), and without
hypothesis' "local constants" (strings and numbers it collects from whatever project
modules the session has imported), so the examples are the same when this module runs
alone and inside `make test`. The app's clock is the tests' frozen clock.

Path ids are, half of the time, real ones (an unpaid payment; an event of a payment paid
at the counter), so the operations are exercised past their 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from payments.services.gateway import Gateway
from payments.web.openapi import build_openapi
from tests.factories import create_payment, make_api_client, make_procedure

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
OPERATIONS = [
    (method.upper(), path)
    for path, item in build_openapi("http://127.0.0.1").get("paths", {}).items()
    for method in item
]
MODES = {"positive": GenerationMode.POSITIVE, "negative": GenerationMode.NEGATIVE}


@pytest.fixture
def no_local_constants(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Draw only from the strategies, not from constants found in imported modules."""
    try:
        from hypothesis.internal.conjecture import providers
        from sortedcontainers import SortedSet

        empty = type(providers.GLOBAL_CONSTANTS)(
            integers=SortedSet(),
            floats=SortedSet(key=providers.float_to_int),
            bytes=SortedSet(),
            strings=SortedSet(),
        )
        monkeypatch.setattr(providers, "_get_local_constants", lambda: empty)
        monkeypatch.setattr(providers, "CONSTANTS_CACHE", type(providers.CONSTANTS_CACHE)(1024))
    except (ImportError, AttributeError, TypeError):  # another hypothesis: its defaults
        pass
    yield


@pytest.fixture
def real_ids(gw: Gateway, app: Flask) -> dict[str, str]:
    """An unpaid payment, and the event of another one paid at the counter."""
    client = make_api_client(gw)
    make_procedure(gw, code="2.000488", fees=(("Phí cung cấp thông tin", "fee", 150_000),))
    with app.test_client() as http:
        unpaid = create_payment(http, client, procedure_code="2.000488")
        paid = create_payment(
            http, client, procedure_code="2.000488", reference="000.00.01.H32-261126-0002",
            counter={"method": "cash", "receipt_no": "BL-1",
                     "paid_at": "2026-11-26T09:00:00+07:00"},
        )
        events = http.get(f"/api/v1/events?payment_id={paid['id']}", headers=client.headers)
    assert events.status_code == 200, events.get_json()
    (event,) = events.get_json()["items"]
    return {"api_key": client.api_key, "payments": unpaid["id"], "events": event["id"]}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_service_answers_as_its_openapi_document_says(
    base_url: str, real_ids: dict[str, str], no_local_constants: None,
    method: str, path: str, mode: str,
) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json", timeout=30)
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {real_ids['api_key']}"}
    real_id = real_ids["events" if path.startswith("/api/v1/events/") else "payments"]
    sent: list[int] = []

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case=operation.as_strategy(generation_mode=MODES[mode]), use_real_id=st.booleans())
    def answers_as_documented(case: Any, use_real_id: bool) -> None:
        if use_real_id and "id" in (case.path_parameters or {}):
            case.path_parameters["id"] = real_id
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)
        sent.append(1)

    answers_as_documented()

    print(f"schemathesis {mode} {method} {path}: {len(sent)} requests")  # shown with -rP
    assert sent, f"no request was generated for {method} {path} ({mode})"
