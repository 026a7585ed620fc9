"""Walk the app's URL map (CONTRACT.md "Staff", issue 12): every staff route declares who
may use it; every state-changing staff route is a POST that refuses a missing CSRF token;
every staff route refuses a role below its own and an anonymous visitor.

New staff routes are covered without touching this file: a route under /staff that is
neither marked public (`public_staff_page`) nor guarded by `staff_role` fails here.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from payments.models import AuditEntry, Reconciliation, StaffUser
from payments.models.user import ROLE_RANK, ROLES
from payments.services.gateway import Gateway
from tests.flow import forms_of
from tests.web.test_staff import make_user, sign_in

SAMPLE = {"payment_id": "pay_x", "run_id": "rec_x", "item_id": "1"}


def staff_routes(app: Flask) -> list[tuple[str, str, Any]]:
    """(path with sample arguments, method, view) of every route under /staff."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/staff"):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<{name}>", SAMPLE[name]).replace(f"<int:{name}>", SAMPLE[name])
        assert "<" not in path, f"no sample value for {rule.rule}"
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((path, method, app.view_functions[rule.endpoint]))
    return found


def needed(view: Any, method: str) -> str | None:
    roles = getattr(view, "staff_roles", None)
    return None if roles is None else roles.get(method, roles["GET"])


def counts(gw: Gateway) -> tuple[int, ...]:
    with gw.sessions() as session:
        return tuple(int(session.scalar(select(func.count()).select_from(model)) or 0)
                     for model in (Reconciliation, StaffUser))


def test_every_staff_route_is_guarded_or_marked_public(app: Flask) -> None:
    routes = staff_routes(app)
    assert len(routes) >= 10
    for path, method, view in routes:
        public = getattr(view, "staff_public", False)
        assert public or needed(view, method) in ROLES, f"{method} {path} declares no role"
    public = {(p, m) for p, m, v in routes if getattr(v, "staff_public", False)}
    assert public == {("/staff/login", "GET"), ("/staff/login", "POST"),
                      ("/staff/logout", "POST")}
    # a GET never changes state: every writing route is a POST
    assert {m for _p, m, _v in routes} <= {"GET", "POST"}


def test_every_staff_post_refuses_a_missing_csrf_token(
    app: Flask, http: FlaskClient, gw: Gateway
) -> None:
    make_user(gw, role="admin", agencies=())
    assert sign_in(http).status_code == 303
    before = counts(gw)
    audit_before = _audit(gw)
    posts = [(p, v) for p, m, v in staff_routes(app) if m == "POST"]
    assert len(posts) >= 5
    for path, _view in posts:
        if path == "/staff/logout":
            continue  # below: it would end the session the others need
        browser = app.test_client() if path == "/staff/login" else http  # signed out there
        answer = browser.post(path, data={"note": "x", "otp": "123456", "provider": "sandbox",
                                          "email": "a@b.vn", "password": "p"})
        assert answer.status_code in (400, 422), (path, answer.status_code)
        forged = browser.post(path, data={"csrf_token": "forged", "note": "x"})
        assert forged.status_code in (400, 422), (path, forged.status_code)
    assert counts(gw) == before and _audit(gw) == audit_before  # nothing was written
    assert http.post("/staff/logout").status_code == 400
    assert http.get("/staff/").status_code == 200  # still signed in


def _audit(gw: Gateway) -> int:
    with gw.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


@pytest.mark.parametrize("role", ["viewer", "finance"])
def test_every_staff_route_refuses_a_role_below_it(
    app: Flask, http: FlaskClient, gw: Gateway, role: str
) -> None:
    make_user(gw, role=role)
    assert sign_in(http).status_code == 303
    page = http.get("/staff/").get_data(as_text=True)
    token = [f for f in forms_of(page) if f.action.endswith("/staff/logout")][0]
    above = [(p, m) for p, m, v in staff_routes(app)
             if (need := needed(v, m)) and ROLE_RANK[need] > ROLE_RANK[role]]
    if role == "viewer":
        assert ("/staff/reconciliations/", "POST") in above
    for path, method in above:
        # with a valid token: it is the role that refuses
        answer = http.open(path, method=method, data=token.fields)
        assert answer.status_code == 403, (role, method, path, answer.status_code)


def test_an_anonymous_visitor_is_sent_to_sign_in(app: Flask, http: FlaskClient) -> None:
    for path, method, view in staff_routes(app):
        if getattr(view, "staff_public", False) or method != "GET":
            continue
        answer = http.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"].startswith("/staff/login?next="), path
