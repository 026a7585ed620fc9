"""Operator commands (CONTRACT.md): db, clients, users, demo."""

from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from payments import migrate
from payments.errors import DomainError
from payments.models import StaffUser, StaffUserAgency
from payments.models.user import ROLES
from payments.passwords import WeakPassword, check_password
from payments.services.clients import create_client
from payments.services.gateway import Gateway
from payments.web.context import EXTENSION

db_cli = AppGroup("db", help="Database migrations and maintenance.")


@db_cli.command("analyze")
def db_analyze() -> None:
    """Refresh the query planner's statistics (run nightly on SQLite; PostgreSQL autovacuums)."""
    migrate.analyze(_gw().settings.database_url)
    click.echo("statistics refreshed", err=True)
clients_cli = AppGroup("clients", help="Portal API clients.")
users_cli = AppGroup("users", help="Staff accounts.")


def _gw() -> Gateway:
    gw: Gateway = current_app.extensions[EXTENSION]
    return gw


@db_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations (seeds nothing)."""
    migrate.upgrade(_gw().settings.database_url, revision)
    migrate.analyze(_gw().settings.database_url)
    click.echo(f"database at {revision}", err=True)


@clients_cli.command("create")
@click.option("--name", required=True)
@click.option("--agency", "agencies", multiple=True, required=True, help="agency code; repeatable")
@click.option("--return-host", "return_hosts", multiple=True, required=True, help="repeatable")
@click.option("--notify-url", default=None)
@click.option("--payment-ttl-minutes", type=click.IntRange(5, 60 * 24 * 30), default=None)
def clients_create(
    name: str,
    agencies: tuple[str, ...],
    return_hosts: tuple[str, ...],
    notify_url: str | None,
    payment_ttl_minutes: int | None,
) -> None:
    """Create a client; print {"id", "api_key", "webhook_secret"} once (the key is kept hashed)."""
    gw = _gw()
    try:
        with gw.sessions.begin() as session:
            new = create_client(
                session,
                name=name,
                agencies=list(agencies),
                return_hosts=list(return_hosts),
                notify_url=notify_url,
                payment_ttl_minutes=payment_ttl_minutes,
                env=gw.settings.env,
            )
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(
        json.dumps({"id": new.id, "api_key": new.api_key, "webhook_secret": new.webhook_secret})
    )


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--agency", "agencies", multiple=True,
              help="agency code; repeatable. The user sees it and every agency below it; "
                   "without any, an admin sees all and a viewer or finance user nothing")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def users_create(email: str, role: str, agencies: tuple[str, ...], password_stdin: bool) -> None:
    """Create a staff account."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if "@" not in email:
        raise click.ClickException("not an email address")
    codes = sorted({code.strip() for code in agencies})
    bad = [code for code in codes if not code or len(code) > 64 or not code.isprintable()]
    if bad:
        raise click.ClickException(f"not an agency code: {bad[0]!r}")
    try:
        check_password(password, email=email)  # length, own data, common list, guessability
    except WeakPassword as exc:
        raise click.ClickException(str(exc)) from None
    gw = _gw()
    with gw.sessions.begin() as session:
        if session.scalar(select(StaffUser.id).where(StaffUser.email == email.lower())):
            raise click.ClickException(f"a user {email} exists already")
        user = StaffUser(
            email=email.lower(), role=role, password_hash=generate_password_hash(password)
        )
        user.agencies = [StaffUserAgency(agency_code=code) for code in codes]
        session.add(user)
    click.echo(json.dumps({"email": email.lower(), "role": role, "agencies": codes}))


demo_cli = AppGroup("demo", help="Demo data for `make run`.")


@demo_cli.command("seed")
def demo_seed() -> None:
    """Seed the demo agency, procedures and client; print the demo API key."""
    from payments.demo import seed_demo  # noqa: PLC0415  (demo code stays out of production paths)

    gw = _gw()
    with gw.sessions.begin() as session:
        saved = seed_demo(session, ["127.0.0.1", "localhost"], gw.settings.url("/demo/notify"))
    click.echo(json.dumps(saved))


from payments.web.accounts_cli import accounts_cli  # noqa: E402
from payments.web.catalog_cli import catalog_cli, demo_history  # noqa: E402
from payments.web.reconcile_cli import reconcile_cli  # noqa: E402
from payments.web.targets_cli import targets_cli  # noqa: E402

demo_cli.add_command(demo_history)
COMMANDS = [db_cli, clients_cli, users_cli, demo_cli, catalog_cli, reconcile_cli, targets_cli,
            accounts_cli]


@users_cli.command("deactivate")
@click.option("--email", required=True)
def users_deactivate(email: str) -> None:
    """Lock a staff account; an open session ends on its next request."""
    gw = _gw()
    with gw.sessions.begin() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.email == email.lower()))
        if user is None:
            raise click.ClickException(f"no user {email}")
        user.active = False
    click.echo(json.dumps({"email": email.lower(), "active": False}))
