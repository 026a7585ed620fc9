"""Fixtures: every test runs on SQLite, and on PostgreSQL too when
FEEGATE_TEST_DATABASE_URL is set. Each test gets a migrated, empty database and a
real HTTP server (the app on a loopback port) so providers' callbacks, the sandbox
page and the worker's deliveries go over real HTTP.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from werkzeug.serving import make_server

from payments.config import Settings
from payments.db import Base, make_engine
from payments.migrate import upgrade
from payments.services.gateway import Gateway
from tests.factories import Clock

PG_URL = os.environ.get("FEEGATE_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "feegate.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> str | None:
    if not PG_URL:
        return None
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(PG_URL)
    return PG_URL


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "feegate.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("pg_migrated")
    yield url
    engine = make_engine(url)
    tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 26, 3, 0, tzinfo=UTC))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to turn providers on (vnpay=…, momo=…)."""
    return {}


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings(database_url: str, port: int, settings_overrides: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": "test-secret",
        "public_url": f"http://127.0.0.1:{port}",
        "env": "test",
        "sandbox": True,
        "sandbox_secret": "sandbox-test-secret",
        "sync_delay_seconds": 300,
        # Tests walk flows faster than any portal or citizen: no limit unless a test sets one
        # (tests/web/test_rate_limits.py checks the contract's defaults and the 429s).
        "rate_limit_api": "1000000/second",
        "rate_limit_checkout": "1000000/minute",
    }
    values.update(settings_overrides)
    return Settings(**values)


@pytest.fixture
def gw(settings: Settings, clock: Clock) -> Iterator[Gateway]:
    gateway = Gateway.from_settings(settings)
    gateway.clock = clock
    yield gateway
    gateway.sessions.kw["bind"].dispose()


@pytest.fixture
def app(gw: Gateway, port: int) -> Iterator[Flask]:
    from wsgi import create_app

    application = create_app(gateway=gw, TESTING=True)
    server = make_server("127.0.0.1", port, application, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield application
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def http(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def base_url(gw: Gateway) -> str:
    return gw.settings.public_url


@pytest.fixture
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")
