"""`feegate accounts set|list|remove`: per-agency merchant accounts (CONTRACT.md "Operations").

`set` stores an agency's own account at a provider (the keys of the `FEEGATE_<PROVIDER>_*`
variables, lower case without the prefix), its secret keys encrypted with
`FEEGATE_ENCRYPTION_KEY`; setting again replaces. `list` never prints a secret.
"""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from payments.config import ConfigError
from payments.merchant_accounts import (
    PROVIDERS,
    AccountError,
    list_accounts,
    remove_account,
    rotate_secrets,
    set_account,
)
from payments.services.gateway import Gateway
from payments.web.context import EXTENSION

accounts_cli = AppGroup("accounts", help="Per-agency merchant accounts at the providers.")


def _gw() -> Gateway:
    gw: Gateway = current_app.extensions[EXTENSION]
    return gw


@accounts_cli.command("set")
@click.option("--agency", "agency", required=True, help="the agency code")
@click.option("--provider", type=click.Choice(PROVIDERS), required=True)
@click.argument("pairs", nargs=-1, metavar="KEY=VALUE…")
def accounts_set(agency: str, provider: str, pairs: tuple[str, ...]) -> None:
    """Store (or replace) AGENCY's own account at PROVIDER; payments of the agency and of
    the agencies below it use it from now on. Secret keys are encrypted at rest."""
    gw = _gw()
    try:
        with gw.sessions.begin() as session:
            account = set_account(session, gw.settings, agency.strip(), provider, pairs)
            shown = {"id": account.id, "agency": account.agency_code, "provider": provider}
    except (AccountError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(shown))


@accounts_cli.command("list")
def accounts_list() -> None:
    """Every agency account: its non-secret keys and which secret keys are set, never their
    values (one JSON object a line)."""
    with _gw().sessions() as session:
        for row in list_accounts(session):
            click.echo(json.dumps(row, ensure_ascii=False))


@accounts_cli.command("rotate-key")
def accounts_rotate_key() -> None:
    """Re-encrypt every account's secrets with the first of FEEGATE_ENCRYPTION_KEY's keys
    (put the new key first, keep the old ones after it, run this, then drop the old ones)."""
    gw = _gw()
    try:
        with gw.sessions.begin() as session:
            count = rotate_secrets(session, gw.settings)
    except (AccountError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps({"rotated": count}))


@accounts_cli.command("remove")
@click.option("--agency", "agency", required=True, help="the agency code")
@click.option("--provider", type=click.Choice(PROVIDERS), required=True)
def accounts_remove(agency: str, provider: str) -> None:
    """Remove AGENCY's own account at PROVIDER (its payments fall back to an ancestor's or
    the default account; attempts opened with it can no longer be verified or queried)."""
    with _gw().sessions.begin() as session:
        if not remove_account(session, agency.strip(), provider):
            raise click.ClickException(f"agency {agency} has no {provider} account")
    click.echo(json.dumps({"agency": agency.strip(), "provider": provider, "removed": True}))
