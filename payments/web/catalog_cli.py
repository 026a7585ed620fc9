"""`feegate catalog import|export` and `feegate demo history` (CONTRACT.md, docs/reports.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from payments import catalog
from payments.services.gateway import Gateway
from payments.web.context import EXTENSION

catalog_cli = AppGroup("catalog", help="Agencies, procedures and their fee items.")


def _gw() -> Gateway:
    gw: Gateway = current_app.extensions[EXTENSION]
    return gw


@catalog_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="check the file and report; save nothing")
def catalog_import(file: Path, dry_run: bool) -> None:
    """Load or update the catalog from FILE.csv or FILE.xlsx (idempotent).

    Rows with problems are rejected whole and listed with their line number and reason;
    the other rows are saved. Exit status 1 when any row was rejected.
    """
    gw = _gw()
    settings = gw.settings
    try:
        rows = catalog.read_file(file, max_rows=settings.catalog_max_rows,
                                 max_cell=settings.upload_max_cell_chars)
    except catalog.CatalogFileError as exc:
        raise click.ClickException(f"{file}: {exc}; nothing was imported") from exc
    session = gw.sessions()
    try:
        report = catalog.import_rows(session, rows)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    finally:
        session.close()  # rolls back whatever was not committed
    click.echo(f"catalog import {file}" + (" (dry run: nothing saved)" if dry_run else ""))
    for line in report.lines():
        click.echo("  " + line)
    if not report.ok:
        click.echo(f"{len(report.rejected)} row(s) rejected; fix them and import the file again "
                   "(accepted rows are not changed twice)", err=True)
        sys.exit(1)


@catalog_cli.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="FILE.csv or FILE.xlsx; CSV on standard output when omitted")
def catalog_export(output: Path | None) -> None:
    """Write the catalog in the import format (so export, edit, import round-trips)."""
    gw = _gw()
    with gw.sessions() as session:
        rows = catalog.export_rows(session)
    if output is None:
        sys.stdout.write(catalog.to_csv(rows, bom=False).decode("utf-8"))
        return
    suffix = output.suffix.lower()
    if suffix == ".xlsx":
        output.write_bytes(catalog.to_xlsx(rows))
    elif suffix == ".csv":
        output.write_bytes(catalog.to_csv(rows))
    else:
        raise click.ClickException("the output file must end in .csv or .xlsx")
    click.echo(f"{len(rows)} rows written to {output}", err=True)


@click.command("history")
@click.option("--months", type=click.IntRange(1, 24), default=4, show_default=True)
@with_appcontext
def demo_history(months: int) -> None:
    """Seed a few months of online and counter payments for the demo agency (idempotent)."""
    from payments.demo_history import demo_client_id, seed_history  # noqa: PLC0415

    gw = _gw()
    with gw.sessions() as session:
        client_id = demo_client_id(session)
    if client_id is None:
        raise click.ClickException("no demo client: run `feegate demo seed` first")
    result = seed_history(gw, client_id, months=months)
    click.echo(json.dumps(result.__dict__))
