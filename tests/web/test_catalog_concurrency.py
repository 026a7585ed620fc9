"""Concurrent first uses of a code not yet in the catalog record it once, with no 500.

Twenty portals' requests name a procedure (or an agency) that the catalog has never seen,
at the same moment: each one must be answered `201`, and the catalog must hold exactly one
uncatalogued row for it (insert-or-get, safe under concurrency: `INSERT … ON CONFLICT DO
NOTHING` then `SELECT`). Real threads against the live server need PostgreSQL; on SQLite
(one writer at a time, `BEGIN IMMEDIATE`) the insert-or-get path is checked sequentially.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from payments.models import Agency, ClientAgency, Payment, Procedure
from payments.services.clients import create_client
from payments.services.gateway import Gateway
from payments.services.payments import find_or_record_procedure
from tests.factories import AGENCY, ApiClient, make_api_client, payment_body

THREADS = 20
NEW_PROCEDURE = "1.012345"


@pytest.fixture
def client(gw: Gateway, app: Any) -> ApiClient:
    return make_api_client(gw)


def at_once(work: Callable[[int], Any], threads: int = THREADS) -> tuple[list[Any], list[Any]]:
    """Run work(i) in `threads` threads released by one barrier; (results, errors)."""
    barrier = threading.Barrier(threads)
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            value = work(index)
            with lock:
                results.append(value)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            with lock:
                errors.append(exc)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=180)
    return results, errors


def procedure_rows(gw: Gateway, code: str) -> int:
    with gw.sessions() as session:
        return int(session.scalar(select(func.count()).where(Procedure.code == code)) or 0)


def agency_rows(gw: Gateway, code: str) -> int:
    with gw.sessions() as session:
        return int(session.scalar(select(func.count()).where(Agency.code == code)) or 0)


def test_twenty_concurrent_first_creates_for_an_uncatalogued_procedure_are_all_201(
    gw: Gateway, base_url: str, client: ApiClient, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("real concurrent writers need PostgreSQL; set FEEGATE_TEST_DATABASE_URL")

    def create(index: int) -> tuple[int, dict[str, Any]]:
        body = payment_body(procedure_code=NEW_PROCEDURE,
                            reference=f"000.00.01.H32-261126-{index:04d}")
        response = requests.post(f"{base_url}/api/v1/payments", json=body,
                                 headers=client.headers, timeout=120)
        return response.status_code, response.json()

    answers, errors = at_once(create)

    assert errors == []
    statuses = Counter(status for status, _ in answers)
    assert statuses == {201: THREADS}, statuses
    assert procedure_rows(gw, NEW_PROCEDURE) == 1
    with gw.sessions() as session:
        procedure = session.scalars(select(Procedure).where(Procedure.code == NEW_PROCEDURE)).one()
        assert procedure.catalogued is False
        linked = set(session.scalars(select(Payment.procedure_id)))
    assert linked == {procedure.id}  # every payment points at the one row


def test_twenty_concurrent_first_creates_with_idempotency_keys_are_all_201(
    gw: Gateway, base_url: str, client: ApiClient, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("real concurrent writers need PostgreSQL; set FEEGATE_TEST_DATABASE_URL")

    def create(index: int) -> int:
        body = payment_body(procedure_code="1.054321",
                            reference=f"000.00.01.H32-261126-{index:04d}")
        headers = {**client.headers, "Idempotency-Key": f"first-use-{index:04d}"}
        response = requests.post(f"{base_url}/api/v1/payments", json=body, headers=headers,
                                 timeout=120)
        return response.status_code

    statuses, errors = at_once(create)

    assert errors == []
    assert Counter(statuses) == {201: THREADS}, Counter(statuses)
    assert procedure_rows(gw, "1.054321") == 1


def test_concurrent_clients_naming_a_new_agency_record_it_bare_once(
    gw: Gateway, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("real concurrent writers need PostgreSQL; set FEEGATE_TEST_DATABASE_URL")
    code = "000.00.77.H32"

    def make(index: int) -> str:
        with gw.sessions.begin() as session:
            new = create_client(session, name=f"Cổng {index}", agencies=[code],
                                return_hosts=["portal.example.gov.vn"])
        return new.id

    ids, errors = at_once(make)

    assert errors == []
    assert len(set(ids)) == THREADS
    assert agency_rows(gw, code) == 1
    with gw.sessions() as session:
        agency = session.scalars(select(Agency).where(Agency.code == code)).one()
        assert (agency.catalogued, agency.name) == (False, "")
        links = session.scalar(select(func.count()).where(ClientAgency.agency_code == code))
    assert links == THREADS


def test_concurrent_first_uses_of_a_new_agency_and_procedure_record_each_once(
    gw: Gateway, is_postgres: bool
) -> None:
    """The create path records a bare agency too (e.g. after a catalog clean-up)."""
    if not is_postgres:
        pytest.skip("real concurrent writers need PostgreSQL; set FEEGATE_TEST_DATABASE_URL")
    agency, code = "000.00.78.H32", "1.077777"

    def record(_index: int) -> int:
        with gw.sessions.begin() as session:
            return find_or_record_procedure(session, agency, code).id

    ids, errors = at_once(record)

    assert errors == []
    assert len(set(ids)) == 1
    assert agency_rows(gw, agency) == 1
    assert procedure_rows(gw, code) == 1


def test_insert_or_get_returns_the_existing_rows_and_keeps_the_catalogs_data(
    gw: Gateway,
) -> None:
    """Sequential (both databases): the second call finds what the first recorded, and a
    catalogued agency is never overwritten by a bare one."""
    with gw.sessions.begin() as session:
        session.add(Agency(code=AGENCY, name="Sở Tư pháp", catalogued=True))
    with gw.sessions.begin() as session:
        first = find_or_record_procedure(session, AGENCY, "1.099999")
        first_id, first_agency = first.id, first.agency_id
    with gw.sessions.begin() as session:
        again = find_or_record_procedure(session, AGENCY, "1.099999")
        assert (again.id, again.agency_id) == (first_id, first_agency)
        assert again.catalogued is False and again.online_payment_enabled is True
        kept = session.scalars(select(Agency).where(Agency.code == AGENCY)).one()
        assert (kept.name, kept.catalogued) == ("Sở Tư pháp", True)
    with gw.sessions.begin() as session:
        create_client(session, name="Cổng A", agencies=[AGENCY, "000.00.79.H32"],
                      return_hosts=["portal.example.gov.vn"])
    with gw.sessions.begin() as session:
        create_client(session, name="Cổng B", agencies=["000.00.79.H32"],
                      return_hosts=["portal.example.gov.vn"])
    assert agency_rows(gw, AGENCY) == 1
    assert agency_rows(gw, "000.00.79.H32") == 1
    assert procedure_rows(gw, "1.099999") == 1
