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
        db().execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        body = {"status": "unavailable", "database": type(exc).__name__}
        return Response(json.dumps(body), status=503, mimetype="application/json")
    return Response(json.dumps({"status": "ok", "database": "ok"}), mimetype="application/json")
