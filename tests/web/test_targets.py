"""Dated targets: `feegate targets set|list`, and the online-share report judged by the
target in force on the period's last day (each month row by its own month's).

The series of docs/reports.md: 30 % from 2023, 60 % from 2025, 80 % from 2030; the
environment's FEEGATE_ONLINE_SHARE_TARGET (30 in the tests, set to 25 below) judges
periods that end before 2023.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from payments.services.gateway import Gateway
from payments.targets import list_targets, set_target, target_in_force, targets_in_force
from tests.factories import ApiClient, Clock, make_api_client, make_procedure
from tests.payments.reporting import record, vn

A = "000.00.01.H32"


def cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["targets", *args])


def test_set_list_and_replace(app: Flask, gw: Gateway) -> None:
    for day, percent in (("2025-01-01", "60"), ("2023-01-01", "30"), ("2030-01-01", "80")):
        result = cli(app, "set", "--metric", "online_share", "--from", day, "--percent", percent)
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == {"metric": "online_share", "from": day,
                                             "percent": int(percent), "created": True}
    result = cli(app, "set", "--metric", "satisfaction", "--from", "2026-01-01",
                 "--percent", "85.5")
    assert json.loads(result.output)["percent"] == 85.5
    result = cli(app, "set", "--metric", "online_share", "--from", "2030-01-01",
                 "--percent", "75")
    assert json.loads(result.output) == {"metric": "online_share", "from": "2030-01-01",
                                         "percent": 75, "created": False}
    listed = [json.loads(line) for line in cli(app, "list").output.splitlines()]
    assert listed == [
        {"metric": "online_share", "from": "2023-01-01", "percent": 30},
        {"metric": "online_share", "from": "2025-01-01", "percent": 60},
        {"metric": "online_share", "from": "2030-01-01", "percent": 75},
        {"metric": "satisfaction", "from": "2026-01-01", "percent": 85.5},
    ]
    assert len(cli(app, "list", "--metric", "satisfaction").output.splitlines()) == 1


@pytest.mark.parametrize("args", [
    ("--metric", "online_share", "--from", "2025-1-1", "--percent", "60"),
    ("--metric", "online_share", "--from", "2025-02-30", "--percent", "60"),
    ("--metric", "online_share", "--from", "2025-01-01", "--percent", "101"),
    ("--metric", "online_share", "--from", "2025-01-01", "--percent", "-1"),
    ("--metric", "online_share", "--from", "2025-01-01", "--percent", "60.125"),
    ("--metric", "online_share", "--from", "2025-01-01", "--percent", "sixty"),
    ("--metric", "online_share", "--from", "2025-01-01", "--percent", "NaN"),
    ("--metric", "speed", "--from", "2025-01-01", "--percent", "60"),
])
def test_bad_input_is_refused(app: Flask, gw: Gateway, args: tuple[str, ...]) -> None:
    result = cli(app, "set", *args)
    assert result.exit_code != 0
    with gw.sessions() as session:
        assert list_targets(session) == []


def test_the_target_in_force(gw: Gateway) -> None:
    default = Decimal(25)
    with gw.sessions.begin() as session:
        assert target_in_force(session, "online_share", date(2024, 5, 1), default) == 25
        set_target(session, "online_share", date(2023, 1, 1), Decimal(30))
        set_target(session, "online_share", date(2025, 1, 1), Decimal(60))
        set_target(session, "online_share", date(2030, 1, 1), Decimal(80))
        set_target(session, "satisfaction", date(2025, 1, 1), Decimal(90))
    with gw.sessions() as session:
        days = [date(2022, 12, 31), date(2023, 1, 1), date(2024, 12, 31), date(2025, 1, 1),
                date(2029, 12, 31), date(2030, 1, 1), date(2099, 1, 1)]
        values = [target_in_force(session, "online_share", d, default) for d in days]
        assert values == [25, 30, 30, 60, 60, 80, 80]
        assert targets_in_force(session, "online_share", days, default) == values
        assert target_in_force(session, "satisfaction", date(2024, 1, 1), Decimal(84)) == 84
        assert target_in_force(session, "satisfaction", date(2026, 1, 1), Decimal(84)) == 90
        with pytest.raises(ValueError):
            target_in_force(session, "speed", date(2026, 1, 1), default)


@pytest.fixture
def portal(gw: Gateway, clock: Clock) -> ApiClient:
    """December 2024: 1 of 2 paid online (50 %); January 2025: 2 of 3 (66.7 %)."""
    client = make_api_client(gw, agencies=(A,))
    make_procedure(gw, agency=A, code="2.000488", fees=(("Phí", "fee", 200_000),))
    for paid, via in ((vn(2024, 12, 5), "vnpay"), (vn(2024, 12, 6), "counter"),
                      (vn(2025, 1, 5), "vnpay"), (vn(2025, 1, 6), "momo"),
                      (vn(2025, 1, 7), "counter")):
        record(gw, clock, client.id, agency=A, procedure="2.000488", amount=200_000,
               paid_at=paid, via=via)
    return client


def share(http: FlaskClient, client: ApiClient, query: str) -> Any:
    response = http.get(f"/api/v1/reports/online-share?{query}", headers=client.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_reports_are_judged_by_the_target_of_their_last_day(
        app: Flask, http: FlaskClient, gw: Gateway, portal: ApiClient) -> None:
    gw.settings = gw.settings.with_overrides(online_share_target=Decimal(25))
    query = "from=2024-12-01&to=2025-01-31&group_by=month"
    body = share(http, portal, query)  # no dated target yet: the default judges everything
    assert body["target_percent"] == 25
    assert [(r["key"], r["target_percent"], r["meets_target"]) for r in body["rows"]] \
        == [("2024-12", 25, True), ("2025-01", 25, True)]

    # the series takes effect at once, without a restart
    for day, percent in (("2023-01-01", "30"), ("2025-01-01", "60"), ("2030-01-01", "80")):
        assert cli(app, "set", "--metric", "online_share", "--from", day,
                   "--percent", percent).exit_code == 0
    body = share(http, portal, query)
    assert body["target_percent"] == 60  # in force on 31/01/2025
    assert [(r["key"], r["target_percent"], r["meets_target"]) for r in body["rows"]] \
        == [("2024-12", 30, True), ("2025-01", 60, True)]
    assert (body["totals"]["online_share_percent"], body["totals"]["meets_target"]) \
        == (60.0, True)  # 3 of 5 = 60 % meets 60 % exactly
    december = share(http, portal, "from=2024-12-01&to=2024-12-31")
    assert december["target_percent"] == 30 and december["totals"]["meets_target"] is True

    # a later target does not re-judge the past; a target for 2025 does
    assert cli(app, "set", "--metric", "online_share", "--from", "2025-01-01",
               "--percent", "70").exit_code == 0
    assert share(http, portal, "from=2024-12-01&to=2024-12-31")["target_percent"] == 30
    body = share(http, portal, query)
    assert [(r["target_percent"], r["meets_target"]) for r in body["rows"]] \
        == [(30, True), (70, False)]
    assert (body["target_percent"], body["totals"]["meets_target"]) == (70, False)

    # before the first dated target, the environment's default
    old = share(http, portal, "from=2022-01-01&to=2022-12-31")
    assert old["target_percent"] == 25
    # a period that ends mid-month: that month's row uses the target of the period's end
    body = share(http, portal, "from=2024-12-15&to=2025-01-15&group_by=month")
    assert [r["target_percent"] for r in body["rows"]] == [30, 70]
