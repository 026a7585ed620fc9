"""The demo data `make run` seeds: Khánh Hòa's Department of Justice and a demo portal."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.config import INSTANCE_DIR
from payments.models import Agency, Client, FeeItem, Procedure
from payments.services.clients import create_client

DEMO_AGENCY = ("000.00.01.H32", "Sở Tư pháp tỉnh Khánh Hòa")
DEMO_CLIENT = "Cổng dịch vụ công tỉnh Khánh Hòa (demo)"
DEMO_FILE = INSTANCE_DIR / "demo.json"

PROCEDURES: list[tuple[str, str, list[tuple[str, str, int]]]] = [
    (
        "2.000488",
        "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam",
        [("Phí cung cấp thông tin lý lịch tư pháp", "fee", 200_000)],
    ),
    (
        "1.000894",
        "Đăng ký kết hôn có yếu tố nước ngoài",
        [("Lệ phí đăng ký kết hôn có yếu tố nước ngoài", "charge", 1_500_000)],
    ),
    (
        "2.000815",
        "Chứng thực bản sao từ bản chính giấy tờ, văn bản",
        [("Phí chứng thực bản sao (10 trang)", "fee", 20_000)],
    ),
    (
        "1.001233",
        "Cấp giấy đăng ký hoạt động Văn phòng công chứng",
        [
            ("Phí thẩm định điều kiện hoạt động", "fee", 1_000_000),
            ("Lệ phí cấp giấy đăng ký hoạt động", "charge", 250_000),
        ],
    ),
    (
        "2.001263",
        "Đăng ký hành nghề và cấp Thẻ công chứng viên",
        [("Phí thẩm định tiêu chuẩn, điều kiện hành nghề", "fee", 3_500_000)],
    ),
]


def seed_demo(
    session: Session, return_hosts: list[str], notify_url: str | None = None, path: Path = DEMO_FILE
) -> dict[str, str]:
    """Idempotent: the catalog is upserted; the demo client is created once."""
    code, name = DEMO_AGENCY
    agency = session.scalar(select(Agency).where(Agency.code == code))
    if agency is None:
        agency = Agency(code=code, name=name, parent_code="H32", level="department")
        session.add(agency)
    agency.name, agency.catalogued = name, True
    session.flush()
    for proc_code, proc_name, fees in PROCEDURES:
        procedure = session.scalar(
            select(Procedure).where(Procedure.agency_id == agency.id, Procedure.code == proc_code)
        )
        if procedure is None:
            procedure = Procedure(
                agency_id=agency.id,
                code=proc_code,
                name=proc_name,
                online_payment_enabled=True,
                catalogued=True,
            )
            procedure.fee_items = [FeeItem(name=n, kind=k, amount=a) for n, k, a in fees]
            session.add(procedure)
    if path.exists():
        saved: dict[str, str] = json.loads(path.read_text())
        existing = session.get(Client, saved.get("id", ""))
        if existing is not None:
            existing.notify_url = notify_url
            return saved
    new = create_client(
        session, name=DEMO_CLIENT, agencies=[code], return_hosts=return_hosts, notify_url=notify_url
    )
    saved = {"id": new.id, "api_key": new.api_key, "webhook_secret": new.webhook_secret}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved))
    path.chmod(0o600)
    return saved
