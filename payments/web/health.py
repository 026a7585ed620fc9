"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, Response, json
from sqlalchemy import text

from payments.web.context import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return Response(json.dumps({"status": "ok"}), mimetype="application/json")


@bp.get("/readyz")
def readyz() -> Response:
    try:
        revision = db().execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        body = {"status": "unavailable", "database": type(exc).__name__,
                "hint": "is the database reachable, and migrated (feegate db upgrade)?"}
        return Response(json.dumps(body), status=503, mimetype="application/json")
    if revision is None:
        body = {"status": "unavailable", "database": "not migrated (feegate db upgrade)"}
        return Response(json.dumps(body), status=503, mimetype="application/json")
    body = {"status": "ok", "database": "ok", "schema": revision}
    return Response(json.dumps(body), mimetype="application/json")
