"""Rate limits (CONTRACT.md "Operations"): 429 problem+json with Retry-After, per API key,
per IP for keys that are not valid and on the citizen's pages, shared through Redis.

Small limits (`5/minute`) and exact counts: a moving window over a minute holds for the
whole of a test, so nothing here depends on timing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from payments.config import ConfigError, Settings, load_settings
from payments.services.gateway import Gateway
from tests.factories import ApiClient, make_api_client

REDIS_URL = os.environ.get("FEEGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
LIMIT = 5


def refusals(responses: list[Any]) -> int:
    return sum(1 for r in responses if r.status_code == 429)


def assert_refusal(response: Any) -> None:
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == "https://feegate.dev/problems/rate-limited"
    assert body["status"] == 429
    assert body["title"].startswith("Quá nhiều yêu cầu")
    assert body["detail"]
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60


def refused_count(http: FlaskClient) -> float:
    """`feegate_rate_limited_total{scope="api"}` (process-wide: compare before and after)."""
    text = http.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "feegate_rate_limited_total" and sample.labels == {"scope": "api"}:
                return float(sample.value)
    return 0.0


class TestApiPerKey:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"rate_limit_api": f"{LIMIT}/minute"}

    @pytest.fixture
    def client(self, gw: Gateway, app: Flask) -> ApiClient:
        return make_api_client(gw)

    def test_past_the_limit_a_key_gets_429_problems_with_retry_after(
        self, http: FlaskClient, client: ApiClient, gw: Gateway
    ) -> None:
        refused_before = refused_count(http)
        answers = [http.get("/api/v1/payments", headers=client.headers) for _ in range(LIMIT + 3)]
        assert [r.status_code for r in answers] == [200] * LIMIT + [429] * 3
        assert refused_count(http) - refused_before == 3
        assert_refusal(answers[-1])
        assert "Retry-After" not in answers[0].headers
        assert answers[0].headers["X-RateLimit-Limit"] == str(LIMIT)
        # the other blueprints under /api/v1 share the key's count
        assert_refusal(http.get("/api/v1/events", headers=client.headers))
        # another key has a budget of its own
        other = make_api_client(gw, name="Cổng khác")
        assert http.get("/api/v1/payments", headers=other.headers).status_code == 200

    def test_wrong_keys_are_counted_per_ip_whatever_the_key(self, http: FlaskClient,
                                                            client: ApiClient) -> None:
        answers = [
            http.get("/api/v1/payments", headers={"Authorization": f"Bearer fgk_wrong{i}"})
            for i in range(LIMIT + 20)
        ]
        assert [r.status_code for r in answers[:LIMIT]] == [401] * LIMIT
        assert refusals(answers) == 20
        assert_refusal(answers[-1])
        assert refusals([http.get("/api/v1/payments") for _ in range(3)]) == 3  # no key: same IP
        # a valid key from that address is not punished for them
        assert http.get("/api/v1/payments", headers=client.headers).status_code == 200

    def test_a_proxy_s_client_ip_counts_only_behind_a_trusted_proxy(self, http: FlaskClient,
                                                                   app: Flask) -> None:
        def wrong(ip: str) -> int:
            headers = {"Authorization": "Bearer fgk_wrong", "X-Forwarded-For": ip}
            return http.get("/api/v1/payments", headers=headers).status_code

        assert [wrong(f"203.0.113.{i}") for i in range(LIMIT + 1)][-1] == 429  # not trusted
        app.config["TRUST_PROXY"] = True
        assert {wrong(f"198.51.100.{i}") for i in range(LIMIT + 1)} == {401}

    def test_the_openapi_document_lists_429_with_retry_after(self, http: FlaskClient) -> None:
        doc = http.get("/api/v1/openapi.json").get_json()
        create = doc["paths"]["/api/v1/payments"]["post"]["responses"]
        assert "429" in create
        assert "Retry-After" in create["429"].get("headers", {})


class TestCheckoutPerIp:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"rate_limit_checkout": f"{LIMIT}/minute"}

    def test_the_citizen_pages_refuse_an_address_past_its_limit(self, http: FlaskClient) -> None:
        answers = [http.get("/pay/pay_unknown") for _ in range(LIMIT + 2)]
        assert [r.status_code for r in answers] == [404] * LIMIT + [429] * 2
        assert answers[-1].mimetype == "text/html"
        assert "quá nhiều yêu cầu" in answers[-1].get_data(as_text=True)
        assert int(answers[-1].headers["Retry-After"]) >= 1
        english = http.get("/pay/pay_unknown?lang=en")
        assert english.status_code == 429 and "Too many requests" in english.get_data(as_text=True)
        # the API and the health checks have their own limits
        assert http.get("/healthz").status_code == 200
        assert http.get("/api/v1/payments").status_code == 401


def test_the_defaults_are_the_contract_s() -> None:
    settings = load_settings({"FEEGATE_ENV": "test"})
    assert settings.rate_limit_api == "50/second"
    assert settings.redis_url is None
    env = {"FEEGATE_RATE_LIMIT_API": "10 per second", "FEEGATE_REDIS_URL": REDIS_URL}
    assert load_settings(env).rate_limit_api == "10 per second"
    with pytest.raises(ConfigError, match="FEEGATE_RATE_LIMIT_API"):
        load_settings({"FEEGATE_RATE_LIMIT_API": "lots"})


# -- shared through Redis -------------------------------------------------------------


def redis_or_skip() -> Any:
    import redis

    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        connection.ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no Redis at {REDIS_URL} (start redis-server; CI must have one)")
    return connection


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    connection = redis_or_skip()
    prefix = f"feegate-test-{uuid.uuid4().hex}"
    yield prefix
    for key in connection.scan_iter(match=f"*{prefix}*"):
        connection.delete(key)
    connection.close()


def test_two_app_instances_share_one_limit_through_redis(
    settings: Settings, gw: Gateway, redis_prefix: str
) -> None:
    from wsgi import create_app

    shared = settings.with_overrides(rate_limit_api=f"{LIMIT}/minute", redis_url=REDIS_URL,
                                     rate_limit_prefix=redis_prefix)
    gw_a = Gateway.from_settings(shared)
    gw_b = Gateway.from_settings(shared)
    gw_a.clock = gw_b.clock = gw.clock
    try:
        client = make_api_client(gw_a)
        one = create_app(gateway=gw_a, TESTING=True).test_client()
        two = create_app(gateway=gw_b, TESTING=True).test_client()
        answers = []
        for i in range(LIMIT + 4):
            answers.append((one if i % 2 else two).get("/api/v1/payments",
                                                       headers=client.headers))
        assert [r.status_code for r in answers] == [200] * LIMIT + [429] * 4
        assert_refusal(answers[-1])
        assert_refusal(answers[-2])  # each instance refuses, counting the other's requests
        connection = redis_or_skip()
        keys = [k.decode() for k in connection.scan_iter(match=f"*{redis_prefix}*")]
        assert keys and all(client.api_key not in k for k in keys), keys
    finally:
        for g in (gw_a, gw_b):
            g.sessions.kw["bind"].dispose()


def test_a_redis_that_is_down_falls_back_to_memory(settings: Settings, gw: Gateway) -> None:
    from wsgi import create_app

    down = settings.with_overrides(rate_limit_api=f"{LIMIT}/minute",
                                   redis_url="redis://127.0.0.1:1/7")
    gw.settings = down
    client = make_api_client(gw)
    http = create_app(gateway=gw, TESTING=True).test_client()
    answers = [http.get("/api/v1/payments", headers=client.headers) for _ in range(LIMIT + 2)]
    assert answers[0].status_code == 200
    assert refusals(answers) == 2
