"""`feegate demo history`: months of online and counter payments through the real services."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from payments import reports
from payments.demo import seed_demo
from payments.demo_history import seed_history
from payments.models import Outbox, Payment
from payments.reports import Period, ShareQuery
from payments.services.gateway import Gateway
from tests.factories import Clock

AGENCY = "000.00.01.H32"


def test_history_is_seeded_once_and_reported(gw: Gateway, clock: Clock, tmp_path: Path) -> None:
    with gw.sessions.begin() as session:
        saved = seed_demo(session, ["127.0.0.1", "localhost"], path=tmp_path / "demo.json")
    result = seed_history(gw, saved["id"], months=2, per_day=(1, 3))
    assert not result.skipped
    assert result.created == result.online + result.counter + result.unpaid
    assert result.online > 0 and result.counter > 0
    assert gw.now() == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # the clock is given back
    assert seed_history(gw, saved["id"], months=2).skipped  # idempotent

    with gw.sessions() as session:
        first = session.scalar(select(func.min(Payment.paid_at)))
        last = session.scalar(select(func.max(Payment.paid_at)))
        assert first is not None and last is not None
        assert first >= datetime(2026, 9, 30, 17, 0, tzinfo=UTC)  # from 1 October, Vietnam
        assert last < datetime(2026, 11, 25, 17, 0, tzinfo=UTC)  # before today
        assert session.scalar(select(func.count()).select_from(Outbox)
                              .where(Outbox.status == "pending")) == 0
        share = reports.online_share(session, {AGENCY},
                                     ShareQuery(Period(date(2026, 10, 1), date(2026, 11, 30)),
                                                "month"), 30)
        coverage = reports.coverage(session, {AGENCY}, Period(date(2026, 10, 1),
                                                              date(2026, 11, 30)),
                                    date(2026, 11, 26)).to_dict()
    assert [r["key"] for r in share["rows"]] == ["2026-10", "2026-11"]
    totals = share["totals"]
    assert totals["paid_count"] == result.online + result.counter
    assert totals["online_count"] == result.online
    # 2.001263 is only ever paid at the counter: the coverage report lists it
    shortfalls = {p["code"]: p["reasons"] for p in coverage["rows"][0]["short"]}
    assert shortfalls.get("2.001263") in (["no_online_payment"], ["no_fee_dossiers"])


def test_cli_demo_history(app: Flask, gw: Gateway, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    missing = runner.invoke(args=["demo", "history"])
    assert missing.exit_code == 1 and "demo seed" in missing.output
    with gw.sessions.begin() as session:
        seed_demo(session, ["127.0.0.1"], path=tmp_path / "demo.json")
    done = runner.invoke(args=["demo", "history", "--months", "1"])
    assert done.exit_code == 0, done.output
    assert '"skipped": false' in done.output
    again = runner.invoke(args=["demo", "history", "--months", "1"])
    assert '"skipped": true' in again.output
