"""Browser fixtures: Debian's headless Chromium driven by Playwright's sync API.

The browser tests run on SQLite only (the money paths are covered on PostgreSQL by the
rest of the suite). Without Chromium they skip with a message — except in CI (the
environment variable CI set, as CI services do), where a missing Chromium fails the run.
`scripts/ensure-debian-tools.sh` installs Debian's package; never `playwright install`.
FEEGATE_TEST_CHROMIUM points at another Chromium binary (default /usr/bin/chromium).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from flask import Flask

from payments.services.gateway import Gateway
from tests.factories import ApiClient, make_api_client, make_procedure

CHROMIUM = Path(os.environ.get("FEEGATE_TEST_CHROMIUM", "/usr/bin/chromium"))
# Without these Chromium reaches for the network (updates, sync, QUIC probes) and fails.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 740}
TIMEOUT_MS = 15_000


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    message = f"browser tests need Chromium: {reason} (run scripts/ensure-debian-tools.sh)"
    if in_ci():
        pytest.fail(f"{message}; CI is set, so the browser tests must run", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the Python package playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(params=["sqlite"])
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only, even when FEEGATE_TEST_DATABASE_URL is set: the browser adds nothing
    database-specific, and PostgreSQL is left alone (not even reset) by these tests."""
    path = tmp_path / "feegate.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def demo(gw: Gateway, app: Flask) -> ApiClient:
    """The /demo portal page, backed by a client for the seeded procedure (200.000 ₫)."""
    make_procedure(gw)
    client = make_api_client(gw, return_hosts=("127.0.0.1",))
    app.config["FEEGATE_DEMO_API_KEY"] = client.api_key
    return client


def _page(browser: Any, **context_args: Any) -> Iterator[Any]:
    context = browser.new_context(locale="vi-VN", **context_args)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def page(browser: Any, app: Flask) -> Iterator[Any]:
    """A desktop-sized page in a fresh browser context."""
    yield from _page(browser)


@pytest.fixture
def phone(browser: Any, app: Flask) -> Iterator[Any]:
    """A 360 px wide touch phone in a fresh browser context."""
    yield from _page(browser, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
