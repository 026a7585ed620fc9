"""The procedure catalog: agencies, procedures and fee items, imported and exported.

One table, the same in CSV and XLSX (the columns are documented in docs/reports.md,
"The catalog file"). Each row names an agency and may name a procedure of it and one fee
item of that procedure; a blank cell means "not given" (an existing value is kept):

    agency_code, agency_name, parent_code, agency_level,
    procedure_code, procedure_name, online_payment,
    fee_name, fee_kind, fee_amount, effective_from, effective_to

The import is an upsert and idempotent: agencies by code, procedures by (agency, code);
the fee rows given for a procedure are its complete fee schedule (matched by name, kind
and start date; lines the file no longer has are removed). Agencies and procedures are
never deleted (payments point at them).

A row with any problem is rejected whole and changes nothing; so are the other fee rows
of its procedure (a fee schedule is replaced entirely or not at all), and rows that need
an agency or procedure that only a rejected row would have created. The report lists
every rejected row with its line number and reason.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from payments.models import Agency, FeeItem, Procedure
from payments.money import MAX_AMOUNT

COLUMNS: Final = (
    "agency_code", "agency_name", "parent_code", "agency_level",
    "procedure_code", "procedure_name", "online_payment",
    "fee_name", "fee_kind", "fee_amount", "effective_from", "effective_to",
)

ALIASES: Final[dict[str, str]] = {
    "mã cơ quan": "agency_code",
    "tên cơ quan": "agency_name",
    "mã cơ quan cấp trên": "parent_code",
    "cấp": "agency_level",
    "cấp cơ quan": "agency_level",
    "mã thủ tục": "procedure_code",
    "mã tthc": "procedure_code",
    "tên thủ tục": "procedure_name",
    "tên tthc": "procedure_name",
    "thanh toán trực tuyến": "online_payment",
    "tên phí, lệ phí": "fee_name",
    "tên khoản thu": "fee_name",
    "loại": "fee_kind",
    "loại phí": "fee_kind",
    "số tiền": "fee_amount",
    "mức thu": "fee_amount",
    "hiệu lực từ": "effective_from",
    "hiệu lực đến": "effective_to",
    "level": "agency_level",
}

QCVN_102: Final = re.compile(r"^[0-9A-Z]{3}\.[0-9A-Z]{2}\.[0-9A-Z]{2}\.[A-Z][0-9]{2}$")
"""`000.00.01.H32`: four groups read right to left (QCVN 102:2016)."""
QD_20: Final = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,10})*$")
"""`H32.12`: groups read left to right (Decision 20/2020/QĐ-TTg), at most 35 characters."""
PROCEDURE_CODE: Final = re.compile(r"^[1-9]\.\d{6}(\.[0-9A-Z]{1,16})*$")
"""`1.001234`, with local suffixes: `2.000815.000.00.00.H55`, `1.013229.01`."""

KINDS: Final[dict[str, str]] = {
    "fee": "fee", "phí": "fee", "phi": "fee", "1": "fee",
    "charge": "charge", "lệ phí": "charge", "le phi": "charge", "lệphí": "charge", "2": "charge",
}
YES: Final = {"yes", "y", "true", "1", "có", "co", "x"}
NO: Final = {"no", "n", "false", "0", "không", "khong"}
LEVELS: Final = re.compile(r"^[a-z_-]{1,32}$")


class CatalogFileError(ValueError):
    """The file cannot be read at all (format, encoding, header): nothing is imported."""


def agency_scheme(code: str) -> str | None:
    """`qcvn102`, `qd20`, or None when the code is in neither circulating format."""
    if QCVN_102.match(code):
        return "qcvn102"
    if len(code) <= 35 and QD_20.match(code):
        return "qd20"
    return None


def province_of(code: str) -> str | None:
    """`H32` for both `000.00.01.H32` and `H32.12`."""
    scheme = agency_scheme(code)
    if scheme == "qcvn102":
        return code.rsplit(".", 1)[1]
    if scheme == "qd20":
        return code.split(".", 1)[0]
    return None


# -- reading ----------------------------------------------------------------------------------


Row = dict[str, Any]


def _header(names: Iterable[Any]) -> list[str | None]:
    out: list[str | None] = []
    for raw in names:
        name = unicodedata.normalize("NFC", str(raw or "")).strip().lower()
        name = ALIASES.get(name, name)
        out.append(name if name in COLUMNS else None)
    if "agency_code" not in out:
        raise CatalogFileError(
            "the first row must be the header, with at least the column agency_code "
            "(columns: " + ", ".join(COLUMNS) + ")"
        )
    return out


def _rows(header: list[str | None],
          records: Iterable[tuple[int, list[Any]]]) -> Iterator[tuple[int, Row]]:
    for line, values in records:
        if all(v is None or str(v).strip() == "" for v in values):
            continue
        row: Row = {}
        for name, value in zip(header, values, strict=False):
            if name is not None:
                row[name] = value
        yield line, row


MAX_ROWS: Final = 200_000
"""Rows of a catalog file (FEEGATE_CATALOG_MAX_ROWS); a province has a few thousand."""
MAX_CELL: Final = 128 * 1024
"""Characters in one cell (FEEGATE_UPLOAD_MAX_CELL_CHARS)."""


def _capped(records: Iterable[tuple[int, list[Any]]], max_rows: int,
            max_cell: int) -> Iterator[tuple[int, list[Any]]]:
    """Records as they are read, refused past the row cap (blank rows under their own cap,
    so a file of empty lines stops early), a cell over `max_cell` or a NUL character."""
    rows = blanks = 0
    for line, values in records:
        if all(v is None or str(v).strip() == "" for v in values):
            blanks += 1
            if blanks > max_rows:
                raise CatalogFileError(f"tệp có hơn {max_rows} dòng trống "
                                       f"(more than {max_rows} blank rows)")
            continue
        rows += 1
        if rows > max_rows:
            raise CatalogFileError(f"tệp có hơn {max_rows} dòng; hãy chia nhỏ "
                                   f"(more than {max_rows} rows)")
        for value in values:
            if isinstance(value, str) and (len(value) > max_cell or "\x00" in value):
                what = "ký tự NUL" if "\x00" in value else f"ô dài hơn {max_cell // 1024} KiB"
                raise CatalogFileError(f"dòng {line}: {what} (line {line}: cell refused)")
        yield line, values


def _csv_records(reader: Any) -> Iterator[tuple[int, list[Any]]]:
    line = reader.line_num
    try:
        for values in reader:
            yield line + 1, list(values)
            line = reader.line_num
    except csv.Error as exc:
        raise CatalogFileError(f"dòng {reader.line_num}: không đọc được CSV ({exc})") from exc


def read_csv(text: str | IO[str], *, max_rows: int = MAX_ROWS,
             max_cell: int = MAX_CELL) -> list[tuple[int, Row]]:
    """Comma or semicolon separated (Excel in a Vietnamese locale writes `;`).

    `text` may be a text stream (read as it goes, never whole in memory).
    """
    stream = io.StringIO(text, newline="") if isinstance(text, str) else text
    first = stream.readline(64 * 1024)
    first = first.removeprefix("\ufeff")
    if not first:
        raise CatalogFileError("the file is empty")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(itertools.chain([first], stream), delimiter=delimiter)
    try:
        header_values = next(reader)
    except StopIteration:
        raise CatalogFileError("the file is empty") from None
    except csv.Error as exc:
        raise CatalogFileError(f"không đọc được dòng tiêu đề ({exc})") from exc
    header = _header(header_values)
    return list(_rows(header, _capped(_csv_records(reader), max_rows, max_cell)))


def read_xlsx(data: bytes | Path, *, max_rows: int = MAX_ROWS,
              max_cell: int = MAX_CELL) -> list[tuple[int, Row]]:
    """The first sheet; the header on row 1; line numbers are Excel's row numbers.

    Read-only (streaming) rows; a sheet whose dimension declares more rows than the cap is
    refused before any row is read.
    """
    from openpyxl import load_workbook  # noqa: PLC0415

    source: Any = data if isinstance(data, Path) else io.BytesIO(data)
    try:
        wb = load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a bad file
        raise CatalogFileError(f"not a readable XLSX file: {exc}") from exc
    try:
        ws = wb.worksheets[0]
        declared = getattr(ws, "max_row", None)
        if isinstance(declared, int) and declared > 2 * max_rows + 1:
            raise CatalogFileError(f"trang tính có {declared} dòng, hơn {max_rows} "
                                   f"(the sheet has more than {max_rows} rows)")
        it = ws.iter_rows(values_only=True)
        try:
            header = _header(next(it))
        except StopIteration:
            raise CatalogFileError("the first sheet is empty") from None
        records = ((i, list(values)) for i, values in enumerate(it, start=2))
        return list(_rows(header, _capped(records, max_rows, max_cell)))
    finally:
        wb.close()


def read_file(path: Path, *, max_rows: int = MAX_ROWS,
              max_cell: int = MAX_CELL) -> list[tuple[int, Row]]:
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return read_xlsx(path, max_rows=max_rows, max_cell=max_cell)
    if suffix == ".csv":
        try:
            with path.open(encoding="utf-8", newline="") as stream:
                return read_csv(stream, max_rows=max_rows, max_cell=max_cell)
        except UnicodeDecodeError as exc:
            raise CatalogFileError(
                "the CSV file is not UTF-8; save it from Excel as \"CSV UTF-8\""
            ) from exc
    raise CatalogFileError("the file must be .csv or .xlsx")


# -- parsing one row --------------------------------------------------------------------------


class RowError(ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(f"{column}: {message}")


def _text(row: Row, column: str, max_length: int) -> str | None:
    value = row.get(column)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFC", str(value)).strip()
    if not text:
        return None
    if len(text) > max_length:
        raise RowError(column, f"is longer than {max_length} characters")
    return text


def _agency_code(row: Row, column: str) -> str | None:
    code = _text(row, column, 64)
    if code is None:
        return None
    code = code.upper()
    if agency_scheme(code) is None:
        raise RowError(column, f"{code!r} is not an agency code "
                               "(000.00.01.H32 or H32.12: digits, capitals and dots)")
    return code


def _amount(row: Row) -> int | None:
    value = row.get("fee_amount")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise RowError("fee_amount", "is not a number")
    if isinstance(value, float):
        if not value.is_integer():
            raise RowError("fee_amount", f"{value} is not a whole number of đồng")
        value = int(value)
    if isinstance(value, str):
        text = value.strip().replace("\u00a0", " ")
        if re.fullmatch(r"\d{1,3}([., ]\d{3})+", text):  # 200.000 / 200,000 / 200 000
            text = re.sub(r"[., ]", "", text)
        if text.startswith("-") and text[1:].strip().isdigit():
            raise RowError("fee_amount", "may not be negative")
        if not text.isdigit():
            raise RowError("fee_amount", f"{value!r} is not a whole number of đồng")
        value = int(text)
    if not isinstance(value, int):
        raise RowError("fee_amount", "is not a number")
    if value < 0:
        raise RowError("fee_amount", "may not be negative")
    if value > MAX_AMOUNT:
        raise RowError("fee_amount", "is too large")
    return value


def _date(row: Row, column: str) -> date | None:
    value = row.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
        if match:
            return date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        pass
    raise RowError(column, f"{text!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)")


def _flag(row: Row) -> bool | None:
    text = _text(row, "online_payment", 16)
    if text is None:
        return None
    value = text.lower()
    if value in YES:
        return True
    if value in NO:
        return False
    raise RowError("online_payment", f"{text!r} is not yes/no (có/không, 1/0)")


@dataclass(frozen=True)
class Fee:
    name: str
    kind: str
    amount: int
    effective_from: date | None
    effective_to: date | None

    @property
    def identity(self) -> tuple[str, str, date | None]:
        return (self.name.casefold(), self.kind, self.effective_from)

    def overlaps(self, other: Fee) -> bool:
        lo1, hi1 = self.effective_from or date.min, self.effective_to or date.max
        lo2, hi2 = other.effective_from or date.min, other.effective_to or date.max
        return lo1 <= hi2 and lo2 <= hi1


@dataclass
class Line:
    """A parsed row; None means "not given"."""

    number: int
    agency_code: str
    agency_name: str | None = None
    parent_code: str | None = None
    agency_level: str | None = None
    procedure_code: str | None = None
    procedure_name: str | None = None
    online_payment: bool | None = None
    fee: Fee | None = None

    @property
    def procedure_key(self) -> tuple[str, str] | None:
        return (self.agency_code, self.procedure_code) if self.procedure_code else None


def parse_row(number: int, row: Row) -> Line:
    code = _agency_code(row, "agency_code")
    if code is None:
        raise RowError("agency_code", "is required")
    line = Line(number, code)
    line.agency_name = _text(row, "agency_name", 255)
    line.parent_code = _agency_code(row, "parent_code")
    if line.parent_code == code:
        raise RowError("parent_code", "an agency cannot be its own parent")
    level = _text(row, "agency_level", 32)
    if level is not None:
        level = level.lower()
        if not LEVELS.match(level):
            raise RowError("agency_level", "letters only, e.g. province, department, commune")
    line.agency_level = level
    raw = row.get("procedure_code")
    if isinstance(raw, float):  # Excel turned 1.000110 into the number 1.00011
        row = {**row, "procedure_code": f"{raw:.6f}"}
    procedure = _text(row, "procedure_code", 64)
    if procedure is not None:
        procedure = procedure.upper()
        if not PROCEDURE_CODE.match(procedure):
            raise RowError("procedure_code", f"{procedure!r} is not a procedure code "
                                             "(d.dddddd, e.g. 1.001234, with local suffixes)")
    line.procedure_code = procedure
    line.procedure_name = _text(row, "procedure_name", 500)
    line.online_payment = _flag(row)
    fee_name = _text(row, "fee_name", 255)
    kind_text = _text(row, "fee_kind", 16)
    amount = _amount(row)
    starts, ends = _date(row, "effective_from"), _date(row, "effective_to")
    if fee_name is None:
        if kind_text is not None or amount is not None or starts or ends:
            raise RowError("fee_name", "is required when a fee is given")
    else:
        if procedure is None:
            raise RowError("procedure_code", "is required for a fee row")
        if kind_text is None:
            raise RowError("fee_kind", "is required: fee (phí) or charge (lệ phí)")
        kind = KINDS.get(kind_text.lower())
        if kind is None:
            raise RowError("fee_kind", f"{kind_text!r} is not fee (phí) or charge (lệ phí)")
        if amount is None:
            raise RowError("fee_amount", "is required (0 for an exempt item)")
        if starts and ends and ends < starts:
            raise RowError("effective_to", "is before effective_from")
        line.fee = Fee(fee_name, kind, amount, starts, ends)
    if procedure is None and (line.procedure_name or line.online_payment is not None):
        raise RowError("procedure_code", "is required when procedure columns are given")
    return line


# -- the import -------------------------------------------------------------------------------


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0


@dataclass
class ImportReport:
    rows: int = 0
    agencies: Counts = field(default_factory=Counts)
    procedures: Counts = field(default_factory=Counts)
    fee_items: Counts = field(default_factory=Counts)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected

    def lines(self) -> list[str]:
        a, p, f = self.agencies, self.procedures, self.fee_items
        out = [
            f"rows read: {self.rows}, accepted: {self.rows - len(self.rejected)}, "
            f"rejected: {len(self.rejected)}",
            f"agencies:   {a.created} created, {a.updated} updated, {a.unchanged} unchanged",
            f"procedures: {p.created} created, {p.updated} updated, {p.unchanged} unchanged",
            f"fee items:  {f.created} created, {f.updated} updated, {f.removed} removed, "
            f"{f.unchanged} unchanged",
        ]
        if self.warnings:
            out.append("warnings:")
            out += [f"  line {n}: {text}" for n, text in sorted(self.warnings)]
        if self.rejected:
            out.append("rejected rows (nothing from these rows was saved):")
            out += [f"  line {n}: {text}" for n, text in sorted(self.rejected)]
        return out


def _first_conflict(attr: str, key: Any, seen: dict[Any, tuple[int, Any]],
                    line: Line) -> str | None:
    value = getattr(line, attr)
    if value is None or key is None:
        return None
    previous = seen.get(key)
    if previous is None:
        seen[key] = (line.number, value)
        return None
    if previous[1] != value:
        return f"{attr} differs from line {previous[0]} ({previous[1]!r})"
    return None


def import_rows(session: Session, rows: list[tuple[int, Row]]) -> ImportReport:
    """Validate every row, then apply the accepted ones in the caller's transaction."""
    report = ImportReport(rows=len(rows))
    rejected: dict[int, str] = {}
    lines: list[Line] = []
    unparsed: list[Raw] = []  # what rows that could not be parsed would have touched
    for number, row in rows:
        try:
            lines.append(parse_row(number, row))
        except RowError as exc:
            rejected[number] = str(exc)
            unparsed.append(_raw(number, row))
    unparsed_fee_keys: dict[tuple[str, str], int] = {}
    for raw in unparsed:
        if raw.fee and raw.procedure_key is not None:
            unparsed_fee_keys.setdefault(raw.procedure_key, raw.number)

    # the same agency or procedure described differently on two rows: the later is refused
    seen: dict[str, dict[Any, tuple[int, Any]]] = {}
    fee_seen: dict[tuple[str, str], list[tuple[int, Fee]]] = {}
    for line in lines:
        for attr, key in (("agency_name", line.agency_code), ("parent_code", line.agency_code),
                          ("agency_level", line.agency_code),
                          ("procedure_name", line.procedure_key),
                          ("online_payment", line.procedure_key)):
            problem = _first_conflict(attr, key, seen.setdefault(attr, {}), line)
            if problem:
                rejected[line.number] = problem
                break
        if line.number in rejected or line.fee is None or line.procedure_key is None:
            continue
        for number, other in fee_seen.get(line.procedure_key, []):
            if other.identity == line.fee.identity:
                rejected[line.number] = f"the same fee item is already on line {number}"
                break
            if (other.name.casefold(), other.kind) == (line.fee.name.casefold(), line.fee.kind) \
                    and other.overlaps(line.fee):
                rejected[line.number] = (f"fee {line.fee.name!r} is in force twice: its dates "
                                         f"overlap line {number}")
                break
        else:
            fee_seen.setdefault(line.procedure_key, []).append((line.number, line.fee))

    agencies = {a.code: a for a in session.scalars(
        select(Agency).where(Agency.code.in_(sorted({ln.agency_code for ln in lines}))))}
    procedures: dict[tuple[str, str], Procedure] = {}
    for found, agency_code in session.execute(
        select(Procedure, Agency.code).join(Agency, Agency.id == Procedure.agency_id)
        .where(Agency.code.in_(sorted(agencies)))
        .options(selectinload(Procedure.fee_items))
    ):
        procedures[(agency_code, found.code)] = found

    # rows that depend on rejected rows: repeat until nothing changes
    while True:
        accepted = [ln for ln in lines if ln.number not in rejected]
        refused = [_raw_of(ln) for ln in lines if ln.number in rejected] + unparsed
        named_agencies = {ln.agency_code for ln in accepted if ln.agency_name}
        named_procedures = {ln.procedure_key for ln in accepted if ln.procedure_name}
        failed_schedules = dict(unparsed_fee_keys)
        for raw in refused:
            if raw.fee and raw.procedure_key is not None:
                failed_schedules[raw.procedure_key] = min(
                    raw.number, failed_schedules.get(raw.procedure_key, raw.number))
        before = len(rejected)
        for ln in accepted:
            agency = agencies.get(ln.agency_code)
            if (agency is None or not agency.name) and ln.agency_code not in named_agencies:
                namer = min((x.number for x in refused
                             if x.agency_code == ln.agency_code and x.names_agency), default=None)
                rejected[ln.number] = (
                    f"agency {ln.agency_code} is not in the catalog; give its agency_name to "
                    "create it" + (f" (line {namer}, which names it, was rejected)"
                                   if namer else ""))
                continue
            key = ln.procedure_key
            if key is None:
                continue
            proc = procedures.get(key)
            if (proc is None or not proc.name) and key not in named_procedures:
                namer = min((x.number for x in refused
                             if x.procedure_key == key and x.names_procedure), default=None)
                rejected[ln.number] = (
                    f"procedure {key[1]} of {key[0]} is not in the catalog; give its "
                    "procedure_name to create it" + (f" (line {namer}, which names it, was "
                                                     "rejected)" if namer else ""))
                continue
            if ln.fee is not None and key in failed_schedules:
                rejected[ln.number] = (f"the fee schedule of {key[1]} was left unchanged "
                                       f"because line {failed_schedules[key]} was rejected")
        if len(rejected) == before:
            break

    accepted = [ln for ln in lines if ln.number not in rejected]
    known_codes = set(agencies) | {ln.agency_code for ln in accepted}
    if known_codes:
        known_codes |= set(session.scalars(
            select(Agency.code).where(Agency.code.in_(
                sorted({ln.parent_code for ln in accepted if ln.parent_code})))))
    for ln in accepted:
        if ln.parent_code and ln.parent_code not in known_codes:
            report.warnings.append((ln.number, f"parent agency {ln.parent_code} is not in the "
                                               "catalog yet"))

    _apply(session, accepted, agencies, procedures, report)
    report.rejected = sorted(rejected.items())
    return report


@dataclass(frozen=True)
class Raw:
    """What a rejected row would have touched: the rows that depend on it are refused too."""

    number: int
    agency_code: str
    procedure_key: tuple[str, str] | None
    names_agency: bool
    names_procedure: bool
    fee: bool


def _raw(number: int, row: Row) -> Raw:
    def cell(column: str) -> str:
        value = row.get(column)
        return "" if value is None else str(value).strip()

    agency, procedure = cell("agency_code").upper(), cell("procedure_code").upper()
    return Raw(number, agency, (agency, procedure) if agency and procedure else None,
               bool(cell("agency_name")), bool(cell("procedure_name")),
               bool(cell("fee_name") or cell("fee_amount")))


def _raw_of(line: Line) -> Raw:
    return Raw(line.number, line.agency_code, line.procedure_key, bool(line.agency_name),
               bool(line.procedure_name), line.fee is not None)


def _set(obj: Any, attr: str, value: Any) -> bool:
    if value is None or getattr(obj, attr) == value:
        return False
    setattr(obj, attr, value)
    return True


def _apply(session: Session, accepted: list[Line], agencies: dict[str, Agency],
           procedures: dict[tuple[str, str], Procedure], report: ImportReport) -> None:
    touched_agencies: dict[str, str] = {}  # code -> created | updated | unchanged
    touched_procedures: dict[tuple[str, str], str] = {}
    schedules: dict[tuple[str, str], list[Fee]] = {}
    for ln in accepted:
        agency = agencies.get(ln.agency_code)
        state = touched_agencies.get(ln.agency_code, "unchanged")
        if agency is None:
            agency = Agency(code=ln.agency_code, name=ln.agency_name or "", catalogued=True,
                            parent_code=ln.parent_code, level=ln.agency_level)
            session.add(agency)
            session.flush()
            agencies[ln.agency_code] = agency
            state = "created"
        else:
            changed = [_set(agency, "name", ln.agency_name),
                       _set(agency, "parent_code", ln.parent_code),
                       _set(agency, "level", ln.agency_level),
                       _set(agency, "catalogued", True)]
            if any(changed) and state == "unchanged":
                state = "updated"
        touched_agencies[ln.agency_code] = state
        key = ln.procedure_key
        if key is None:
            continue
        proc = procedures.get(key)
        pstate = touched_procedures.get(key, "unchanged")
        if proc is None:
            proc = Procedure(agency_id=agency.id, code=key[1], name=ln.procedure_name or "",
                             online_payment_enabled=(True if ln.online_payment is None
                                                     else ln.online_payment),
                             catalogued=True)
            proc.fee_items = []
            session.add(proc)
            session.flush()
            procedures[key] = proc
            pstate = "created"
        else:
            changed = [_set(proc, "name", ln.procedure_name),
                       _set(proc, "online_payment_enabled", ln.online_payment),
                       _set(proc, "catalogued", True)]
            if any(changed) and pstate == "unchanged":
                pstate = "updated"
        touched_procedures[key] = pstate
        if ln.fee is not None:
            schedules.setdefault(key, []).append(ln.fee)
    for state in touched_agencies.values():
        _count(report.agencies, state)
    for state in touched_procedures.values():
        _count(report.procedures, state)
    for key, fees in schedules.items():
        _replace_schedule(session, procedures[key], fees, report.fee_items)
    session.flush()


def _count(counts: Counts, state: str) -> None:
    setattr(counts, state, getattr(counts, state) + 1)


def _replace_schedule(session: Session, proc: Procedure, fees: list[Fee], counts: Counts) -> None:
    existing = {(i.name.casefold(), i.kind, i.effective_from): i for i in proc.fee_items}
    wanted = {fee.identity for fee in fees}
    for identity, old in existing.items():
        if identity not in wanted:
            proc.fee_items.remove(old)
            counts.removed += 1
    for fee in fees:
        item = existing.get(fee.identity)
        if item is None:
            proc.fee_items.append(FeeItem(name=fee.name, kind=fee.kind, amount=fee.amount,
                                          effective_from=fee.effective_from,
                                          effective_to=fee.effective_to))
            counts.created += 1
        elif (item.name, item.amount, item.effective_to) != (fee.name, fee.amount,
                                                              fee.effective_to):
            item.name, item.amount, item.effective_to = fee.name, fee.amount, fee.effective_to
            counts.updated += 1
        else:
            counts.unchanged += 1


def import_file(session: Session, path: Path) -> ImportReport:
    return import_rows(session, read_file(path))


# -- the export -------------------------------------------------------------------------------


def export_rows(session: Session) -> list[dict[str, Any]]:
    """Every catalogued agency (parents first), its procedures, their fee items."""
    agencies = list(session.scalars(select(Agency).where(Agency.catalogued.is_(True))
                                    .order_by(Agency.code)))
    by_code = {a.code: a for a in agencies}
    children: dict[str | None, list[Agency]] = {}
    for agency in agencies:
        parent = agency.parent_code if agency.parent_code in by_code else None
        children.setdefault(parent, []).append(agency)
    ordered: list[Agency] = []

    def visit(parent: str | None) -> None:
        for child in children.get(parent, []):
            if child not in ordered:
                ordered.append(child)
                visit(child.code)

    visit(None)
    ordered += [a for a in agencies if a not in ordered]  # a cycle of parents: still exported

    procedures: dict[int, list[Procedure]] = {}
    for proc in session.scalars(
        select(Procedure).where(Procedure.catalogued.is_(True))
        .options(selectinload(Procedure.fee_items)).order_by(Procedure.code)
    ):
        procedures.setdefault(proc.agency_id, []).append(proc)
    out: list[dict[str, Any]] = []
    for agency in ordered:
        out.append(_blank() | {"agency_code": agency.code, "agency_name": agency.name,
                               "parent_code": agency.parent_code or "",
                               "agency_level": agency.level or ""})
        for proc in procedures.get(agency.id, []):
            out.append(_blank() | {"agency_code": agency.code, "procedure_code": proc.code,
                                   "procedure_name": proc.name,
                                   "online_payment": "yes" if proc.online_payment_enabled
                                   else "no"})
            for item in sorted(proc.fee_items, key=lambda i: (i.name, i.effective_from
                                                              or date.min)):
                out.append(_blank() | {
                    "agency_code": agency.code, "procedure_code": proc.code,
                    "fee_name": item.name, "fee_kind": item.kind, "fee_amount": item.amount,
                    "effective_from": item.effective_from or "",
                    "effective_to": item.effective_to or "",
                })
    return out


def _blank() -> dict[str, Any]:
    return dict.fromkeys(COLUMNS, "")


def to_csv(rows: list[dict[str, Any]], *, bom: bool = True) -> bytes:
    """Names are free text: one that could run as a formula gets a leading ' (exports.csv_cell)."""
    from payments.exports import csv_cell  # noqa: PLC0415

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(v.isoformat() if isinstance(v, date) else v)
                         for k, v in row.items()})
    return (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")


def to_xlsx(rows: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook  # noqa: PLC0415
    from openpyxl.styles import Font  # noqa: PLC0415

    from payments.exports import xlsx_row  # noqa: PLC0415  (text cells never formulas)

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Danh mục"
    xlsx_row(ws, COLUMNS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        xlsx_row(ws, [None if row[c] == "" else row[c] for c in COLUMNS])
        amount = ws.cell(row=ws.max_row, column=COLUMNS.index("fee_amount") + 1)
        amount.number_format = "#,##0"
        for c in ("effective_from", "effective_to"):
            ws.cell(row=ws.max_row, column=COLUMNS.index(c) + 1).number_format = "YYYY-MM-DD"
    ws.freeze_panes = "A2"
    for letter, width in zip("ABCDEFGHIJKL", (16, 36, 16, 12, 24, 50, 10, 40, 8, 12, 12, 12),
                             strict=True):
        ws.column_dimensions[letter].width = width
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
