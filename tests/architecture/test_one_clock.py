"""One clock for the whole service (CONTRACT.md "Time").

The static half reads every module of the service and refuses a call that reads the
machine's clock anywhere but `payments.db.system_clock` (which the Gateway wraps). The
behavioural half freezes the Gateway's clock at 23:45 on New Year's Eve in Vietnam and
checks that what the service writes and shows follows that clock, not the machine's.
`make test-yearend` runs the whole suite again with the machine's clock moved there.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from payments.db import make_engine, make_sessionmaker
from payments.models import Agency, Payment
from payments.services.gateway import Gateway
from tests.factories import Clock, create_payment, make_api_client, make_procedure
from tests.flow import pay_through_sandbox

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ["payments", "adapters", "webhooks", "simulators", "wsgi.py"]
ALLOWED = {("payments/db.py", "system_clock")}
YEAR_END = datetime(2027, 12, 31, 16, 45, tzinfo=UTC)  # 23:45 on 31/12 in Vietnam

# calls that read the wall clock: `datetime.now()`, `date.today()`, `time.time()`, …
WALL_CLOCK = {
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
    ("time", "time"), ("time", "time_ns"), ("time", "localtime"), ("time", "gmtime"),
    ("func", "now"), ("func", "current_timestamp"), ("func", "current_date"),
}


def service_files() -> list[Path]:
    files: list[Path] = []
    for entry in SERVICE:
        path = ROOT / entry
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return [f for f in files if "versions" not in f.parts]


class WallClockReads(ast.NodeVisitor):
    """Collects wall-clock calls with the name of the function that makes them."""

    def __init__(self, relative: str) -> None:
        self.relative = relative
        self.owners = ["<module>"]
        self.found: list[str] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.owners.append(node.name)
        self.generic_visit(node)
        self.owners.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute):
            target = node.func.value
            name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")
            owner = self.owners[-1]
            if (name, node.func.attr) in WALL_CLOCK and (self.relative, owner) not in ALLOWED:
                self.found.append(
                    f"{self.relative}:{node.lineno} {name}.{node.func.attr}() in {owner}"
                )
        self.generic_visit(node)


def wall_clock_reads(path: Path, root: Path = ROOT) -> list[str]:
    visitor = WallClockReads(path.relative_to(root).as_posix())
    visitor.visit(ast.parse(path.read_text(), filename=str(path)))
    return visitor.found


def test_only_the_system_clock_reads_the_machine_time() -> None:
    reads = [read for path in service_files() for read in wall_clock_reads(path)]
    assert reads == []


def test_the_scan_finds_a_wall_clock_read(tmp_path: Path) -> None:
    """The scan above is not vacuous: it sees the calls it is meant to refuse."""
    sample = tmp_path / "payments" / "db.py"
    sample.parent.mkdir()
    sample.write_text(
        "import time\nfrom datetime import datetime\n"
        "def system_clock():\n    return datetime.now()\n"
        "def f():\n    return datetime.now(), time.time()\n"
    )
    assert [r.split(" ", 1)[1] for r in wall_clock_reads(sample, tmp_path)] == [
        "datetime.now() in f", "time.time() in f",
    ]


def test_no_model_column_has_a_python_or_sql_clock_default() -> None:
    from payments.db import Base

    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if column.type.python_type is not datetime:
                continue
            for default in (column.default, column.onupdate, column.server_default):
                arg = getattr(default, "arg", None)
                assert not callable(arg), f"{table.name}.{column.name} reads a clock of its own"
                assert "now" not in str(arg).lower(), f"{table.name}.{column.name}: {arg}"


@pytest.fixture
def clock() -> Clock:
    return Clock(YEAR_END)


def test_rows_are_stamped_by_the_gateway_clock(http: FlaskClient, gw: Gateway,
                                               clock: Clock) -> None:
    make_procedure(gw)
    client = make_api_client(gw)
    payment = create_payment(http, client)
    assert datetime.fromisoformat(payment["created_at"]) == YEAR_END
    assert datetime.fromisoformat(payment["updated_at"]) == YEAR_END

    clock.advance(minutes=20)  # 00:05 on 1 January in Vietnam
    cancelled = http.post(f"/api/v1/payments/{payment['id']}/cancel", headers=client.headers)
    assert cancelled.status_code == 200
    body = cancelled.get_json()
    assert datetime.fromisoformat(body["created_at"]) == YEAR_END
    assert datetime.fromisoformat(body["updated_at"]) == YEAR_END + timedelta(minutes=20)


def test_the_sandbox_stamps_paid_at_with_the_gateway_clock(http: FlaskClient, gw: Gateway,
                                                           base_url: str) -> None:
    make_procedure(gw)
    client = make_api_client(gw)
    payment = create_payment(http, client)
    walk = pay_through_sandbox(base_url, payment["id"])
    assert walk.result.status_code == 200
    paid = http.get(f"/api/v1/payments/{payment['id']}", headers=client.headers).get_json()
    assert paid["status"] == "succeeded"
    assert datetime.fromisoformat(paid["paid_at"]) == YEAR_END
    assert datetime.fromisoformat(paid["expires_at"]) > YEAR_END


def test_a_session_without_the_gateway_clock_refuses_to_write(gw: Gateway) -> None:
    bare = make_sessionmaker(make_engine(gw.settings.database_url))
    with bare() as session:
        session.add(Agency(code="000.00.99.H32", name="Không có đồng hồ"))
        with pytest.raises(RuntimeError, match="clock"):
            session.flush()
        session.rollback()
    with gw.sessions() as session:
        assert session.scalar(select(Payment.id)) is None
    bare.kw["bind"].dispose()
