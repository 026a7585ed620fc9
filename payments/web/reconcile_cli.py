"""`feegate reconcile import|show|resolve`: provider statements from the command line.

The same service as the staff page (docs/operations.md, "Reconciliation"); useful for a
nightly job that fetches a statement and leaves the differences for finance staff.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from payments.errors import DomainError
from payments.models import Reconciliation, ReconciliationItem
from payments.services import reconciliation
from payments.services.gateway import Gateway
from payments.statements import Limits, StatementFileError, StatementReader
from payments.web.context import EXTENSION

reconcile_cli = AppGroup("reconcile", help="Match provider statements against our records.")


def _gw() -> Gateway:
    gw: Gateway = current_app.extensions[EXTENSION]
    return gw


def _fail(exc: DomainError) -> click.ClickException:
    details = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    return click.ClickException(str(exc) + (f" ({details})" if details else ""))


@reconcile_cli.command("import")
@click.option("--provider", required=True, help="vnpay, momo, vietqr, sandbox")
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="first Vietnam date the statement covers (default: its earliest line)")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="last Vietnam date the statement covers (default: its latest line)")
@click.option("--by", "uploaded_by", default="cli", help="who is importing (an e-mail)")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def reconcile_import(provider: str, first: datetime | None, last: datetime | None,
                     uploaded_by: str, file: Path) -> None:
    """Match FILE (.csv or .xlsx) from PROVIDER; print the summary as JSON.

    The file is read streaming and matched in chunks, here and now (no web worker waits);
    a file over a cap (FEEGATE_STATEMENT_MAX_BYTES / _MAX_ROWS, a cell over
    FEEGATE_UPLOAD_MAX_CELL_CHARS) is refused and nothing is kept.
    Exit status 1 when any difference was found, so a nightly job can alert.
    """
    if (first is None) != (last is None):
        raise click.UsageError("give both --from and --to, or neither")
    period = None
    if first is not None and last is not None:
        period = reconciliation.Period(first.date(), last.date())
        if period.first > period.last:
            raise click.UsageError("--from is after --to")
    gw = _gw()
    try:
        with file.open("rb") as stream, StatementReader(
                file.name, stream, Limits.of(gw.settings)) as reader:
            run_id = reconciliation.reconcile(gw, provider, file.name, reader,
                                              uploaded_by=uploaded_by, period=period)
    except StatementFileError as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    except DomainError as exc:
        raise _fail(exc) from exc
    summary = _summary(run_id)
    click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    if summary["differences"]:
        sys.exit(1)


@reconcile_cli.command("show")
@click.argument("reconciliation_id")
@click.option("--all", "show_all", is_flag=True, help="list the matching lines too")
def reconcile_show(reconciliation_id: str, show_all: bool) -> None:
    """Print a reconciliation's lines that differ (or all of them), one JSON object each."""
    gw = _gw()
    with gw.sessions() as session:
        if session.get(Reconciliation, reconciliation_id) is None:
            raise click.ClickException(f"reconciliation {reconciliation_id} not found")
        stmt = select(ReconciliationItem).where(
            ReconciliationItem.reconciliation_id == reconciliation_id
        ).order_by(ReconciliationItem.id)
        if not show_all:
            stmt = stmt.where(ReconciliationItem.result.not_in(reconciliation.AGREEING))
        for item in session.scalars(stmt):
            click.echo(json.dumps(item_dict(item), ensure_ascii=False))


@reconcile_cli.command("resolve")
@click.argument("item_id", type=int)
@click.option("--note", required=True, help="what was done about the difference")
@click.option("--by", "resolved_by", required=True, help="who resolved it (an e-mail)")
def reconcile_resolve(item_id: int, note: str, resolved_by: str) -> None:
    """Close one difference with a note (kept for ever, never overwritten)."""
    try:
        item = reconciliation.resolve(_gw(), item_id, note, by=resolved_by)
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo(json.dumps(item_dict(item), ensure_ascii=False))


def _summary(run_id: str) -> dict[str, object]:
    with _gw().sessions() as session:
        run = session.get(Reconciliation, run_id)
        assert run is not None
        counts = {k: v for k, v in run.counts.items() if v}
        return {
            "id": run.id,
            "provider": run.provider,
            "file": run.filename,
            "from": run.period_from.isoformat() if run.period_from else None,
            "to": run.period_to.isoformat() if run.period_to else None,
            "lines": run.line_count,
            "counts": counts,
            "differences": reconciliation.differences(counts),
        }


def item_dict(item: ReconciliationItem) -> dict[str, object]:
    return {
        "id": item.id,
        "line": item.line_no,
        "kind": item.kind,
        "result": item.result,
        "reference": item.provider_reference,
        "statement_amount": item.statement_amount,
        "our_amount": item.our_amount,
        "payment_id": item.payment_id,
        "message": item.message,
        "note": item.note,
        "resolved_by": item.resolved_by,
        "resolved_at": item.resolved_at.isoformat() if item.resolved_at else None,
    }
