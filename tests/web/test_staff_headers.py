"""Security headers on every page type (CONTRACT.md "Staff"): a CSP without inline script
that forbids framing, nosniff, a Referrer-Policy, X-Frame-Options; and no template carries
an inline script or an event handler attribute (the CSP would block it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from payments.services.gateway import Gateway
from tests.factories import create_payment, make_api_client
from tests.flow import pay_through_sandbox
from tests.web.test_staff import make_user, sign_in

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = [*sorted((ROOT / "payments/web/templates").rglob("*.html")),
             *sorted((ROOT / "webhooks/templates").rglob("*.html"))]


def directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def assert_secured(response: object, path: str) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    csp = directives(headers.get("Content-Security-Policy", ""))
    assert csp, f"{path}: no Content-Security-Policy"
    assert csp["script-src"] == ["'self'"], path
    assert csp["default-src"] == ["'self'"], path
    assert csp["frame-ancestors"] == ["'none'"], path
    assert csp["base-uri"] == ["'none'"], path
    assert "form-action" in csp and csp["object-src"] == ["'none'"], path
    assert headers["X-Content-Type-Options"] == "nosniff", path
    assert headers["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin"), path
    assert headers["X-Frame-Options"] == "DENY", path


@pytest.fixture
def pages(http: FlaskClient, gw: Gateway, base_url: str) -> dict[str, str]:
    client = make_api_client(gw)
    payment = create_payment(http, client)
    paid = create_payment(http, client, reference="HS-DA-TRA")
    pay_through_sandbox(base_url, paid["id"], "pay")
    return {"unpaid": payment["id"], "paid": paid["id"], "api_key": client.api_key}


def test_every_page_type_carries_the_headers(
    http: FlaskClient, gw: Gateway, pages: dict[str, str]
) -> None:
    anonymous = ["/staff/login", "/staff/", f"/pay/{pages['unpaid']}",
                 f"/pay/{pages['unpaid']}?lang=en", "/pay/pay_nope", "/healthz", "/readyz",
                 "/api/v1/openapi.json", "/api/v1/payments", "/no/such/page", "/demo"]
    for path in anonymous:
        assert_secured(http.get(path), path)
    make_user(gw, role="finance")
    assert sign_in(http).status_code == 303
    staff_pages = ["/staff/", f"/staff/payments/{pages['paid']}", "/staff/payments/pay_nope",
                   "/staff/reports", "/staff/reports?from=2026-11-01&to=2026-11-30"
                   "&download=online-share.xlsx", "/staff/reconciliations/",
                   "/staff/reconciliations/rec_nope", "/staff/2fa"]
    for path in staff_pages:
        answer = http.get(path)
        assert answer.status_code in (200, 404), (path, answer.status_code)
        assert_secured(answer, path)
    assert_secured(http.post("/staff/logout"), "POST /staff/logout without a token")


def test_the_checkout_may_post_on_to_a_provider_and_staff_pages_only_to_themselves(
    http: FlaskClient, pages: dict[str, str]
) -> None:
    checkout = directives(http.get(f"/pay/{pages['unpaid']}").headers["Content-Security-Policy"])
    assert checkout["form-action"] == ["'self'", "https:"]  # /start redirects to the provider
    staff = directives(http.get("/staff/login").headers["Content-Security-Policy"])
    assert staff["form-action"] == ["'self'"]


def test_the_staff_pages_keep_no_store_and_link_only_local_files(http: FlaskClient) -> None:
    page = http.get("/staff/login")
    html = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not url.startswith(("http:", "https:", "//")), url  # no CDN
    css = http.get("/static/checkout/staff.css")
    try:
        assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]
    finally:
        css.close()  # a file response: release the file


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_template_has_an_inline_script_or_handler(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    for tag in re.findall(r"<script\b[^>]*>", text, flags=re.IGNORECASE):
        assert "src=" in tag, f"inline <script> in {template.name}: {tag}"
    assert not re.search(r"\son[a-z]+\s*=", text, flags=re.IGNORECASE), template.name
    assert "javascript:" not in text.lower(), template.name


def test_the_staff_templates_have_no_inline_style() -> None:
    for template in (ROOT / "payments/web/templates/staff").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "style=" not in text and "<style" not in text, template.name
