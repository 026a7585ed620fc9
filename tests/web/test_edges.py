"""Small things integrators and operators notice: auth scheme case, readiness, field names."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from payments.config import Settings
from payments.services.gateway import Gateway
from tests.factories import make_api_client, payment_body


def test_the_bearer_scheme_is_case_insensitive(http: FlaskClient, gw: Gateway) -> None:
    client = make_api_client(gw)
    answer = http.post("/api/v1/payments", json=payment_body(),
                       headers={"Authorization": f"bearer {client.api_key}"})
    assert answer.status_code == 201


def test_a_401_names_the_scheme_to_use(http: FlaskClient) -> None:
    answer = http.get("/api/v1/payments", headers={"Authorization": "Basic x"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.mimetype == "application/problem+json"


def test_readyz_reports_the_schema_revision(http: FlaskClient) -> None:
    answer = http.get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json()["schema"]


def test_readyz_is_not_ready_on_a_database_never_migrated(tmp_path: Path) -> None:
    from wsgi import create_app

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", secret_key="x",
                        env="test")
    answer = create_app(settings).test_client().get("/readyz")
    assert answer.status_code == 503
    assert "feegate db upgrade" in answer.get_json()["hint"]


def test_counter_errors_inside_a_create_name_the_counter_field(
    http: FlaskClient, gw: Gateway
) -> None:
    client = make_api_client(gw)
    body = payment_body(counter={"method": "cash", "receipt_no": "BL-1",
                                 "paid_at": "2099-01-01T00:00:00+07:00"})
    answer = http.post("/api/v1/payments", json=body, headers=client.headers)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.get_json()["errors"]] == ["counter.paid_at"]


def test_a_callback_for_a_provider_that_is_off_answers_json_404(http: FlaskClient) -> None:
    answer = http.post("/webhooks/momo", data=b"{}")
    assert answer.status_code == 404
    assert answer.mimetype == "application/problem+json"
