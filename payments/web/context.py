"""The Flask edge's access to the gateway and the request's one session."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session

from payments.services.gateway import Gateway

EXTENSION = "feegate"


def gateway() -> Gateway:
    gw: Gateway = current_app.extensions[EXTENSION]
    return gw


def db() -> Session:
    """One session per request, closed at teardown (see `close_session`)."""
    if "db_session" not in g:
        g.db_session = gateway().sessions()
    session: Session = g.db_session
    return session


def close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def client_ip() -> str:
    from flask import request

    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and current_app.config.get("TRUST_PROXY"):
        return forwarded.split(",")[0].strip()
    return request.remote_addr or "127.0.0.1"
