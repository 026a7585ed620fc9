"""Operator commands owned by webhooks: the worker, the outbox, webhook secrets.

- `feegate worker` runs the background loop until SIGTERM; `feegate worker --once` runs
  every due job once, prints a JSON summary and exits 0 (cron, tests).
- `feegate outbox redeliver ID` queues the notification with event id ID again
  (the `id` the portal received); `outbox list` and `outbox show ID` inspect it.
- `feegate webhook-secret rotate CLIENT_ID` gives a client a new webhook secret while
  still signing with the old one; `webhook-secret retire CLIENT_ID` stops using the old one.
"""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from payments.errors import DomainError
from payments.services import outbox
from payments.services.gateway import Gateway
from payments.web.context import EXTENSION
from webhooks.worker import Worker, run_once


def _gw() -> Gateway:
    gw: Gateway = current_app.extensions[EXTENSION]
    return gw


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=None))


@click.command("worker")
@click.option("--once", is_flag=True, help="run every due job once, print a summary, exit 0")
@click.option("--interval", type=click.FloatRange(min=0.1), default=None,
              help="seconds between passes (default FEEGATE_WORKER_INTERVAL_SECONDS)")
@click.option("--verbose", is_flag=True, help="with --once: print per-job detail")
@with_appcontext
def worker_command(once: bool, interval: float | None, verbose: bool) -> None:
    """Background loop: expire stale payments, sync pending attempts, deliver the outbox."""
    gw = _gw()
    if once:
        report = run_once(gw)
        _echo_json(report.detail() if verbose else report.summary())
        return
    worker = Worker(gw, interval=interval)
    worker.install_signal_handlers()
    worker.run()


outbox_cli = AppGroup("outbox", help="Notifications to portals.")


@outbox_cli.command("redeliver")
@click.argument("event_id")
def outbox_redeliver(event_id: str) -> None:
    """Send notification EVENT_ID again (any status; the retry schedule starts over)."""
    gw = _gw()
    try:
        with gw.sessions.begin() as session:
            row = outbox.redeliver(session, gw, event_id)
            data = outbox.event_to_dict(row)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    _echo_json(data)
    click.echo("queued: the next worker pass sends it", err=True)


@outbox_cli.command("show")
@click.argument("event_id")
def outbox_show(event_id: str) -> None:
    """The notification, its payload and every delivery try."""
    gw = _gw()
    try:
        with gw.sessions() as session:
            row = outbox.get_event(session, event_id)
            data = outbox.event_to_dict(row, outbox.deliveries_of(session, event_id))
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    _echo_json(data)


@outbox_cli.command("list")
@click.option("--status", type=click.Choice([s.value for s in outbox.OutboxStatus]), default=None)
@click.option("--client", "client_id", default=None, help="only this client's notifications")
@click.option("--payment", "payment_id", default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def outbox_list(status: str | None, client_id: str | None, payment_id: str | None,
                limit: int) -> None:
    """Notifications, newest first, one JSON object per line."""
    gw = _gw()
    with gw.sessions() as session:
        rows, _ = outbox.list_events(session, client_id=client_id, payment_id=payment_id,
                                     status=status, limit=limit)
        for row in rows:
            _echo_json({"client_id": row.client_id, **outbox.event_to_dict(row)})


secret_cli = AppGroup("webhook-secret", help="Rotate the secrets that sign notifications.")


@secret_cli.command("rotate")
@click.argument("client_id")
def secret_rotate(client_id: str) -> None:
    """Give CLIENT_ID a new webhook secret; the old one keeps signing until retired.

    Prints {"client_id", "webhook_secret"}: hand the new secret to the portal.
    """
    gw = _gw()
    try:
        with gw.sessions.begin() as session:
            secret = outbox.rotate_webhook_secret(session, client_id)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    _echo_json({"client_id": client_id, "webhook_secret": secret})
    click.echo("notifications now carry two v1= signatures (new and previous secret); run "
               f"`feegate webhook-secret retire {client_id}` once the portal uses the new one",
               err=True)


@secret_cli.command("retire")
@click.argument("client_id")
def secret_retire(client_id: str) -> None:
    """Stop signing CLIENT_ID's notifications with its previous secret."""
    gw = _gw()
    try:
        with gw.sessions.begin() as session:
            had = outbox.retire_previous_secret(session, client_id)
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo("previous secret retired" if had else "there was no previous secret", err=True)


COMMANDS: list[click.Command] = [worker_command, outbox_cli, secret_cli]
