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
from payments.web.problems import from_domain, problem
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
    app.register_blueprint(checkout.bp)
    app.register_blueprint(health.bp)
    init_staff_auth(app, gw.settings.public_url)
    app.register_blueprint(staff.bp)
    app.register_blueprint(staff_reconcile.bp)
    if gw.settings.sandbox:
        app.register_blueprint(demo.bp)

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> Response:
        if _wants_problem():
            return from_domain(exc)
        return checkout.render_message("error", exc.detail, exc.status)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if _wants_problem():
            return problem(status, "http-" + str(status), exc.name, exc.description or exc.name)
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


def _wants_problem() -> bool:
    return request.path.startswith(("/api/", "/webhooks/"))
