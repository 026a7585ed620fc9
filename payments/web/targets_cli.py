"""`feegate targets set|list`: the dated target series (CONTRACT.md, docs/reports.md)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal, InvalidOperation

import click
from flask import current_app
from flask.cli import AppGroup

from payments.models.targets import METRICS
from payments.services.gateway import Gateway
from payments.targets import list_targets, set_target
from payments.web.context import EXTENSION

targets_cli = AppGroup("targets", help="Dated targets (online share, satisfaction).")


def _gw() -> Gateway:
    gw: Gateway = current_app.extensions[EXTENSION]
    return gw


def _day(value: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from None


def _percent(value: str) -> Decimal:
    try:
        percent = Decimal(value.strip().replace(",", "."))
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not a number") from None
    if not percent.is_finite() or percent < 0 or percent > 100:
        raise click.BadParameter("a percent from 0 to 100")
    if percent != percent.quantize(Decimal("0.01")):
        raise click.BadParameter("at most two decimals")
    return percent


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


@targets_cli.command("set")
@click.option("--metric", type=click.Choice(METRICS), required=True)
@click.option("--from", "from_", required=True, help="first day in force, YYYY-MM-DD (Vietnam)")
@click.option("--percent", required=True, help="the target, percent (e.g. 60 or 62.5)")
def targets_set(metric: str, from_: str, percent: str) -> None:
    """Record the target of METRIC from a day on (replaces the value set for that day).
    Reports judge a period by the target in force on its last day; takes effect at once."""
    day, value = _day(from_), _percent(percent)
    gw = _gw()
    with gw.sessions.begin() as session:
        target, created = set_target(session, metric, day, value, by="cli")
    click.echo(json.dumps({"metric": metric, "from": day.isoformat(),
                           "percent": _number(value), "created": created}))
    del target


@targets_cli.command("list")
@click.option("--metric", type=click.Choice(METRICS), default=None)
def targets_list(metric: str | None) -> None:
    """Print the dated targets, one JSON object per line, by metric and date."""
    gw = _gw()
    with gw.sessions.begin() as session:
        rows = [{"metric": t.metric, "from": t.effective_from.isoformat(),
                 "percent": _number(Decimal(t.percent))} for t in list_targets(session, metric)]
    for row in rows:
        click.echo(json.dumps(row))
