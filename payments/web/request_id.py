"""`Feegate-Request-Id`: one id per HTTP request, on the answer and on every log line.

A caller (a portal, the load balancer) may send its own `Feegate-Request-Id` (or
`X-Request-Id`): it is kept when it is a plain token of at most 64 characters, so one id
follows a request across systems; anything else is replaced by a new `req_…` id.
"""

from __future__ import annotations

import re
import secrets

from flask import Flask, Response, g, request

from payments.logs import REQUEST_ID

HEADER = "Feegate-Request-Id"
INCOMING = (HEADER, "X-Request-Id")
VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def current_request_id() -> str | None:
    return REQUEST_ID.get()


def begin() -> None:
    given = next((request.headers.get(name, "") for name in INCOMING
                  if request.headers.get(name)), "")
    request_id = given if VALID.fullmatch(given) else new_request_id()
    g.request_id = request_id
    g.request_id_token = REQUEST_ID.set(request_id)


def answer(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers[HEADER] = request_id
    return response


def end(_exc: BaseException | None = None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        try:
            REQUEST_ID.reset(token)
        except ValueError:  # set in another context (should not happen): just clear it
            REQUEST_ID.set(None)


def init_request_id(app: Flask) -> None:
    # first of the before_request hooks, so the limiter's and the API's logs carry it too
    app.before_request_funcs.setdefault(None, []).insert(0, begin)
    app.after_request(answer)
    app.teardown_request(end)
