"""`GET /metrics` (CONTRACT.md "Operations"): the named series move as payments flow.

Scraped over real HTTP after real flows (the sandbox provider), parsed with
prometheus-client's own parser, values asserted exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from payments.services.gateway import Gateway
from tests.conftest import free_port
from tests.factories import ApiClient, Clock, make_api_client, payment_body
from tests.flow import TIMEOUT, api, pay_through_sandbox

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base_url: str, **headers: str) -> Samples:
    response = requests.get(f"{base_url}/metrics", headers=headers, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def create(base_url: str, client: ApiClient, reference: str, **overrides: Any) -> str:
    body = payment_body(reference=reference, **overrides)
    response = api(base_url, "POST", "/api/v1/payments", client.api_key, json=body)
    assert response.status_code == 201, response.text
    payment_id: str = response.json()["id"]
    return payment_id


@pytest.fixture
def client(gw: Gateway, app: Any) -> ApiClient:
    # a notify URL nobody listens on: the outbox rows stay due (no worker runs here)
    return make_api_client(gw, notify_url="http://127.0.0.1:9/feegate/events")


def test_payments_callbacks_and_outbox_follow_the_flow(
    base_url: str, client: ApiClient, clock: Clock
) -> None:
    before = scrape(base_url)
    assert value(before, "feegate_outbox_due") == 0
    assert value(before, "feegate_outbox_oldest_due_seconds") == 0
    assert value(before, "feegate_metrics_database_up") == 1

    paid = create(base_url, client, "000.00.01.H32-261126-0101")
    pay_through_sandbox(base_url, paid)
    failed = create(base_url, client, "000.00.01.H32-261126-0102")
    pay_through_sandbox(base_url, failed, "fail")
    create(base_url, client, "000.00.01.H32-261126-0103")  # no attempt yet

    clock.advance(seconds=90)
    after = scrape(base_url)
    assert value(after, "feegate_payments_total", status="succeeded", provider="sandbox") == 1
    assert value(after, "feegate_payments_total", status="failed", provider="none") == 1
    assert value(after, "feegate_payments_total", status="created", provider="none") == 1
    assert sum(v for (name, _), v in after.items() if name == "feegate_payments_total") == 3
    assert value(after, "feegate_callbacks_total", provider="sandbox", outcome="recorded") == 2
    # the succeeded and the failed payment each wrote one notification, due since the flow
    assert value(after, "feegate_outbox_due") == 2
    assert value(after, "feegate_outbox_oldest_due_seconds") == 90
    assert value(after, "feegate_attempts_total", provider="sandbox", status="succeeded") == 1
    assert value(after, "feegate_attempts_total", provider="sandbox", status="failed") == 1
    assert value(after, "feegate_attempts_pending", provider="sandbox") == 0


def test_http_requests_are_counted_by_route_template_never_by_path(
    base_url: str, client: ApiClient
) -> None:
    payment_id = create(base_url, client, "000.00.01.H32-261126-0201")
    before = scrape(base_url)
    for _ in range(3):
        response = api(base_url, "GET", f"/api/v1/payments/{payment_id}", client.api_key)
        assert response.status_code == 200
    assert api(base_url, "GET", "/api/v1/payments/pay_nope", client.api_key).status_code == 404
    assert requests.get(f"{base_url}/no/such/page-{payment_id}", timeout=TIMEOUT).status_code == 404
    after = scrape(base_url)

    route = "/api/v1/payments/<payment_id>"
    name = "feegate_http_requests_total"
    assert value(after, name, route=route, status="200") - value(
        before, name, route=route, status="200") == 3
    assert value(after, name, route=route, status="404") - value(
        before, name, route=route, status="404") == 1
    assert value(after, name, route="unmatched", status="404") - value(
        before, name, route="unmatched", status="404") == 1
    routes = {dict(labels)["route"] for (n, labels) in after if n == name}
    assert not any(payment_id in r or "pay_nope" in r for r in routes), routes


def test_the_contract_names_are_typed_as_prometheus_expects(base_url: str, client: ApiClient
                                                           ) -> None:
    text = requests.get(f"{base_url}/metrics", timeout=TIMEOUT).text
    assert "# TYPE feegate_http_requests_total counter" in text
    assert "# TYPE feegate_callbacks_total counter" in text
    assert "# TYPE feegate_payments_total gauge" in text
    assert "# TYPE feegate_outbox_due gauge" in text
    assert "# TYPE feegate_outbox_oldest_due_seconds gauge" in text
    assert "# TYPE feegate_attempts_total gauge" in text


class TestToken:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"metrics_token": "metrics-test-token"}

    def test_a_metrics_token_is_required_once_set(self, base_url: str, app: Any) -> None:
        assert requests.get(f"{base_url}/metrics", timeout=TIMEOUT).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        response = requests.get(f"{base_url}/metrics", headers=wrong, timeout=TIMEOUT)
        assert response.status_code == 401
        samples = scrape(base_url, Authorization="Bearer metrics-test-token")
        assert value(samples, "feegate_metrics_database_up") == 1


def wait_up(url: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(url, timeout=10).ok:
                return
        except requests.RequestException:
            pass  # not listening yet
        assert server.poll() is None, server.communicate(timeout=10)[0]
        assert time.monotonic() < deadline, "gunicorn did not start"
        time.sleep(0.1)


def test_gunicorn_workers_add_up_their_counters_through_the_multiprocess_dir(
    gw: Gateway, database_url: str, tmp_path: Path
) -> None:
    """Two gunicorn workers: every request is counted whichever worker answers the scrape."""
    if not database_url.startswith("sqlite"):
        pytest.skip("one process test is enough: the counters do not depend on the database")
    port, metrics_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEGATE_")}
    env.update({"FEEGATE_ENV": "test", "FEEGATE_DATABASE_URL": database_url,
                "FEEGATE_PUBLIC_URL": f"http://127.0.0.1:{port}", "FEEGATE_LOG_LEVEL": "WARNING",
                "FEEGATE_METRICS_PORT": str(metrics_port),
                "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus")})
    server = subprocess.Popen(
        [str(GUNICORN), "wsgi:app", "--config", str(ROOT / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_up(f"http://127.0.0.1:{port}/healthz", server)
        for _ in range(40):
            assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT).ok
        app_port = scrape(f"http://127.0.0.1:{port}")
        own_port = scrape(f"http://127.0.0.1:{metrics_port}")
    finally:
        server.terminate()
        log, _ = server.communicate(timeout=30)
    for samples in (app_port, own_port):
        # the first successful probe, the 40, and none lost whichever worker answered
        healthz = value(samples, "feegate_http_requests_total", route="/healthz", status="200")
        assert healthz == 41, log
        assert value(samples, "feegate_metrics_database_up") == 1, log
        assert value(samples, "feegate_outbox_due") == 0


def test_a_scrape_answers_when_the_database_does_not(tmp_path: Path) -> None:
    from payments.config import Settings
    from payments.web.metrics import render

    broken = Gateway.from_settings(Settings(database_url=f"sqlite:///{tmp_path}/no/such/dir.db",
                                            secret_key="x"))
    samples: Samples = {}
    for family in text_string_to_metric_families(render(broken).decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    assert value(samples, "feegate_metrics_database_up") == 0
    assert not any(name.startswith("feegate_payments") for name, _ in samples)
