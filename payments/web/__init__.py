"""The Flask edge of payments: API, citizen pages, health, CLI. Never imports webhooks."""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from payments.errors import DomainError
from payments.services.gateway import Gateway
from payments.web import api, checkout, demo, health, reports_api, staff, staff_reconcile
from payments.web.context import EXTENSION, close_session
from payments.web.i18n import FILTERS, pick_lang, t
from payments.web.problems import from_domain, from_http, problem
from payments.web.staff_auth import init_staff_auth

logger = logging.getLogger(__name__)


def init_app(app: Flask, gw: Gateway) -> None:
    app.extensions[EXTENSION] = gw
    app.teardown_appcontext(close_session)
    app.jinja_env.filters.update(FILTERS)
    app.register_blueprint(api.bp)
    app.register_blueprint(reports_api.bp)
    from payments.web import events_api  # noqa: PLC0415  (the worker's part of the API)
    app.register_blueprint(events_api.bp)
    from payments.web import lookup  # noqa: PLC0415  (/pay/lookup: find by dossier, phone)
    app.register_blueprint(lookup.bp)
    app.register_blueprint(checkout.bp)
    from payments.web import receipts  # noqa: PLC0415  (receipt, verify, rating)
    app.register_blueprint(receipts.bp)
    app.register_blueprint(receipts.api_bp)
    app.register_blueprint(health.bp)
    from payments.web.metrics import init_metrics  # noqa: PLC0415  (GET /metrics, counters)
    init_metrics(app)
    from payments.web.ratelimit import init_rate_limits  # noqa: PLC0415  (429s, Flask-Limiter)
    init_rate_limits(app, gw.settings)
    from payments.web.request_id import init_request_id  # noqa: PLC0415  (Feegate-Request-Id)
    init_request_id(app)
    init_staff_auth(app, gw.settings.public_url)
    app.register_blueprint(staff.bp)
    app.register_blueprint(staff_reconcile.bp)
    if gw.settings.sandbox:
        app.register_blueprint(demo.bp)
    app.after_request(security_headers)

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> Response:
        if _wants_problem():
            return from_domain(exc)
        return checkout.render_message("error", exc.detail, exc.status)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if _wants_problem():
            return from_http(exc)
        lang = pick_lang(request.args.get("lang"))
        message = t("not_found", lang) if status == 404 else t("error_http", lang)
        return checkout.render_message("error", message, status)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        logger.exception("unexpected error on %s %s", request.method, request.path)
        if _wants_problem():
            return problem(
                500, "internal", "Internal error", "an unexpected error occurred; it was logged"
            )
        return checkout.render_message("error", "Đã có lỗi xảy ra. Vui lòng thử lại sau.", 500)


# No inline script anywhere (static/poll.js is a file). Styles: the staff pages use
# static/staff.css only, but base.html, the checkout, the sandbox and the simulators still
# carry <style> blocks and style= attributes, hence 'unsafe-inline' for styles alone.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")
# the checkout's provider buttons POST to /pay/{id}/start, which redirects (303) to the
# provider's own page on another host; browsers apply form-action to that redirect too
CSP_CHECKOUT = CSP.replace("form-action 'self'", "form-action 'self' https:")


def security_headers(response: Response) -> Response:
    """Every response: CSP (no inline script, never framed), nosniff, no referrer leaves
    the site (the checkout sends only its origin to the providers), no framing."""
    checkout_page = request.path.startswith("/pay/")
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP_CHECKOUT if checkout_page else CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy",
                       "strict-origin-when-cross-origin" if checkout_page else "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    return response


def _wants_problem() -> bool:
    return request.path.startswith(("/api/", "/webhooks/"))
