"""Plain keyword factories for test rows, and a clock tests can move."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient

from payments.models import Agency, FeeItem, Procedure
from payments.services.clients import create_client
from payments.services.gateway import Gateway

AGENCY = "000.00.01.H32"


class Clock:
    """A frozen, movable clock injected into the Gateway: time is never slept in tests."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> datetime:
        self.current += timedelta(**kwargs)
        return self.current


@dataclass(frozen=True)
class ApiClient:
    id: str
    api_key: str
    webhook_secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def make_api_client(
    gw: Gateway,
    *,
    agencies: tuple[str, ...] = (AGENCY,),
    return_hosts: tuple[str, ...] = ("portal.example.gov.vn", "127.0.0.1"),
    notify_url: str | None = None,
    name: str = "Cổng DVC thử nghiệm",
    payment_ttl_minutes: int | None = None,
) -> ApiClient:
    with gw.sessions.begin() as session:
        new = create_client(
            session,
            name=name,
            agencies=list(agencies),
            return_hosts=list(return_hosts),
            notify_url=notify_url,
            payment_ttl_minutes=payment_ttl_minutes,
        )
    return ApiClient(new.id, new.api_key, new.webhook_secret)


def make_procedure(
    gw: Gateway,
    *,
    agency: str = AGENCY,
    code: str = "2.000488",
    name: str = "Cấp Phiếu lý lịch tư pháp",
    fees: tuple[tuple[str, str, int], ...] = (("Phí cung cấp thông tin", "fee", 200_000),),
    online: bool = True,
    effective_from: date | None = None,
) -> int:
    from sqlalchemy import select

    with gw.sessions.begin() as session:
        row = session.scalar(select(Agency).where(Agency.code == agency))
        if row is None:
            row = Agency(code=agency, name="Sở Tư pháp tỉnh Khánh Hòa")
            session.add(row)
            session.flush()
        row.catalogued = True
        row.name = row.name or "Sở Tư pháp tỉnh Khánh Hòa"
        procedure = Procedure(
            agency_id=row.id, code=code, name=name, online_payment_enabled=online, catalogued=True
        )
        procedure.fee_items = [
            FeeItem(name=n, kind=k, amount=a, effective_from=effective_from) for n, k, a in fees
        ]
        session.add(procedure)
        session.flush()
        return procedure.id


def payment_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": "000.00.01.H32-261126-0001",
        "procedure_code": "1.009999",
        "agency_code": AGENCY,
        "amount": 150_000,
        "description": "Lệ phí cấp phiếu lý lịch tư pháp",
        "return_url": "https://portal.example.gov.vn/ho-so/0001",
        "payer": {"name": "Nguyễn Văn A", "email": "a@example.vn"},
    }
    body.update(overrides)
    return body


def create_payment(http: FlaskClient, client: ApiClient, **overrides: Any) -> dict[str, Any]:
    response = http.post("/api/v1/payments", json=payment_body(**overrides), headers=client.headers)
    assert response.status_code == 201, response.get_json()
    data: dict[str, Any] = response.get_json()
    return data


def start_attempt(
    http: FlaskClient, client: ApiClient, payment_id: str, provider: str = "sandbox"
) -> dict[str, Any]:
    response = http.post(
        f"/api/v1/payments/{payment_id}/attempts",
        json={"provider": provider},
        headers=client.headers,
    )
    assert response.status_code == 201, response.get_json()
    data: dict[str, Any] = response.get_json()
    return data
