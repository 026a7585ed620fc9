"""Composition root: create_app() wires payments, webhooks and (in dev) simulators.

`gunicorn wsgi:app` serves production; `feegate` (or `flask --app wsgi`) is the CLI.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup

from payments.config import (
    INSTANCE_DIR,
    Settings,
    load_settings,
    logging_options,
    require_secret_key,
)
from payments.logs import configure as configure_logging
from payments.services.gateway import Gateway
from payments.web import cli as payments_cli
from payments.web import init_app
from webhooks import cli as webhooks_cli
from webhooks import inbound, sandbox_site


def create_app(
    settings: Settings | None = None, gateway: Gateway | None = None, **config: Any
) -> Flask:
    settings = settings or (gateway.settings if gateway else load_settings())
    gateway = gateway or Gateway.from_settings(settings)
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_AS_ASCII=False,
        TRUST_PROXY=os.environ.get("FEEGATE_TRUST_PROXY") == "1",
    )
    app.config.update(config)
    demo_file = INSTANCE_DIR / "demo.json"
    if settings.sandbox and "FEEGATE_DEMO_API_KEY" not in app.config and demo_file.exists():
        demo = json.loads(demo_file.read_text())
        app.config["FEEGATE_DEMO_API_KEY"] = demo.get("api_key")
        app.config["FEEGATE_DEMO_WEBHOOK_SECRET"] = demo.get("webhook_secret")
    init_app(app, gateway)
    app.register_blueprint(inbound.bp)
    if settings.sandbox:
        app.register_blueprint(sandbox_site.bp)
    if settings.simulators:
        _mount_simulators(app, settings, gateway)
    for group in (*payments_cli.COMMANDS, *webhooks_cli.COMMANDS):
        app.cli.add_command(group)
    return app


def _mount_simulators(app: Flask, settings: Settings, gateway: Gateway) -> None:
    """Local stand-ins for VNPay, MoMo and ZaloPay (FEEGATE_SIMULATORS=1, never in production)."""
    from adapters.momo import MomoConfig  # noqa: PLC0415
    from adapters.vnpay import VnpayConfig  # noqa: PLC0415
    from adapters.zalopay import ZalopayConfig  # noqa: PLC0415
    from simulators import momo, vnpay, zalopay  # noqa: PLC0415

    if settings.vnpay:
        cfg = VnpayConfig(
            tmn_code=settings.vnpay.tmn_code,
            hash_secret=settings.vnpay.hash_secret,
            pay_url=settings.vnpay.pay_url,
            api_url=settings.vnpay.api_url,
        )
        app.register_blueprint(
            vnpay.create_blueprint(cfg, ipn_url=settings.url("/webhooks/vnpay"), clock=gateway.now),
            url_prefix="/_sim/vnpay",
        )
    if settings.momo:
        mcfg = MomoConfig(
            partner_code=settings.momo.partner_code,
            access_key=settings.momo.access_key,
            secret_key=settings.momo.secret_key,
            endpoint=settings.momo.endpoint,
        )
        app.register_blueprint(
            momo.create_blueprint(mcfg, clock=gateway.now), url_prefix="/_sim/momo"
        )
    if settings.zalopay:
        zcfg = ZalopayConfig(
            app_id=settings.zalopay.app_id,
            key1=settings.zalopay.key1,
            key2=settings.zalopay.key2,
            endpoint=settings.zalopay.endpoint,
        )
        app.register_blueprint(
            zalopay.create_blueprint(zcfg, clock=gateway.now), url_prefix="/_sim/zalopay"
        )


def _lazy_app() -> Flask:
    return create_app()


@click.group(cls=FlaskGroup, create_app=_lazy_app, add_default_commands=True)
def cli() -> None:
    """feegate: fee payments for Vietnamese administrative procedures."""


for _group in (*payments_cli.COMMANDS, *webhooks_cli.COMMANDS):
    cli.add_command(_group)


configure_logging(*logging_options())  # JSON lines, request ids, redaction (payments/logs.py)

_app: Flask | None = None


def __getattr__(name: str) -> Any:
    """`app` is built on first use, so `feegate --help` works before anything is configured."""
    global _app
    if name == "app":
        if _app is None:
            settings = load_settings()
            require_secret_key(settings)
            _app = create_app(settings)
        return _app
    raise AttributeError(name)
