"""Rate limits (Flask-Limiter; CONTRACT.md "Operations", docs/operations.md "Rate limits").

- `/api/…`: `FEEGATE_RATE_LIMIT_API` (default `50/second`) per API key. The bucket is named
  by the SHA-256 of the key (the hash the database stores), never the key itself. A request
  without a valid key (none, malformed, unknown, revoked) counts against its client IP
  instead, so a flood of wrong keys meets 429s as surely as one key does.
- `/pay/…` (the citizen's pages, the provider return): `FEEGATE_RATE_LIMIT_CHECKOUT`
  (default `300/minute`) per client IP (`X-Forwarded-For` only with `FEEGATE_TRUST_PROXY=1`).

Storage: Redis when `FEEGATE_REDIS_URL` is set, so every web process shares one count;
process memory otherwise. Should Redis fail, each process falls back to its own memory
(logged) rather than refusing or letting everything through. A refusal is `429` with
`Retry-After` (seconds): problem+json on the API, the message page on the citizen's pages.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, request
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded

from payments.config import Settings
from payments.errors import Unauthorized
from payments.services.clients import authenticate, hash_key
from payments.web.context import client_ip, db
from payments.web.i18n import pick_lang
from payments.web.problems import problem

logger = logging.getLogger(__name__)

EXTENSION = "feegate_limiter"

MESSAGES = {
    "vi": "Bạn đã gửi quá nhiều yêu cầu. Vui lòng chờ giây lát rồi thử lại.",
    "en": "Too many requests. Please wait a moment and try again.",
}


def api_scope() -> bool:
    return request.path.startswith("/api/")


def checkout_scope() -> bool:
    return request.path.startswith("/pay/")


def ip_identity() -> str:
    return "ip:" + client_ip()


def api_identity() -> str:
    """`key:<sha256>` for a valid API key, `ip:<address>` for anything else."""
    header = request.headers.get("Authorization")
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return ip_identity()
    session = db()
    try:
        authenticate(session, header)
    except Unauthorized:
        return ip_identity()
    finally:
        session.rollback()  # end the read (SQLite: release the write lock at once)
    return "key:" + hash_key(token)


def storage_options(settings: Settings) -> dict[str, Any]:
    if not settings.redis_url:
        return {}
    # a Redis that hangs must not hang the API: fail fast, fall back to memory
    return {"socket_connect_timeout": 1, "socket_timeout": 1}


def init_rate_limits(app: Flask, settings: Settings) -> Limiter:
    app.register_error_handler(RateLimitExceeded, refused)
    # after_request hooks run last-registered first: this one runs after Flask-Limiter's,
    # which writes Retry-After.
    app.after_request(at_least_one_second)
    limiter = Limiter(
        key_func=ip_identity,
        application_limits=[
            ApplicationLimit(settings.rate_limit_api, key_function=api_identity, scope="api",
                             exempt_when=lambda: not api_scope()),
            ApplicationLimit(settings.rate_limit_checkout, key_function=ip_identity,
                             scope="checkout", exempt_when=lambda: not checkout_scope()),
        ],
        storage_uri=settings.redis_url or "memory://",
        storage_options=storage_options(settings),
        # exact counts over the last N seconds: no burst of twice the limit at a boundary
        strategy="moving-window",
        headers_enabled=True,
        retry_after="delta-seconds",
        key_prefix=settings.rate_limit_prefix,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    return limiter


def refused(exc: RateLimitExceeded) -> Response:
    from payments.web.metrics import RATE_LIMITED  # noqa: PLC0415

    scope = "api" if api_scope() else "checkout"
    RATE_LIMITED.labels(scope=scope).inc()
    # Flask-Limiter logs each refusal itself (INFO, the bucket's hashed key); count them here
    if scope == "api":
        return problem(
            429,
            "rate-limited",
            "Quá nhiều yêu cầu (Too many requests)",
            f"{MESSAGES['vi']} (limit {exc.limit.limit}; retry after the Retry-After header's "
            "seconds)",
        )
    from payments.web.checkout import render_message  # noqa: PLC0415

    return render_message("error", MESSAGES[pick_lang(request.args.get("lang"))], 429)


def at_least_one_second(response: Response) -> Response:
    """Retry-After only on a refusal, and never `0` (a refusal in a window's last instant).

    Flask-Limiter writes it (and `X-RateLimit-*`) on every limited response; the
    `X-RateLimit-*` headers stay, a Retry-After on a 200 means nothing."""
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    elif response.status_code == 429:
        retry_after = response.headers.get("Retry-After", "")
        if not retry_after.isdigit() or int(retry_after) < 1:
            response.headers["Retry-After"] = "1"
    return response
