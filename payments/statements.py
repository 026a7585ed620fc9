"""Reading a provider's statement file (CSV or XLSX) into rows keyed by column name.

The adapters map a row to a neutral StatementLine; this module only turns a file into
rows, so an upload from the staff page and `feegate reconcile import` read alike.
Excel's quirks are undone here: a naive date-time cell is Vietnam time (providers export
GMT+7), and a whole number stored as 150000.0 is the int 150000 (any other float is left
as text, so the adapter refuses it rather than guessing at money).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from openpyxl import load_workbook

from adapters.base import VIETNAM_TZ

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000


class StatementFileError(ValueError):
    """The file cannot be read as a statement; the message is for a finance officer."""


def read_statement(filename: str, data: bytes) -> list[dict[str, Any]]:
    """Rows of the first sheet (XLSX) or of the file (CSV), the first row naming columns."""
    if len(data) > MAX_BYTES:
        raise StatementFileError(f"tệp lớn hơn {MAX_BYTES // (1024 * 1024)} MB")
    name = filename.lower()
    if name.endswith(".xlsx"):
        rows = _xlsx_rows(data)
    elif name.endswith((".csv", ".txt")):
        rows = _csv_rows(data)
    else:
        raise StatementFileError("chỉ nhận tệp .csv hoặc .xlsx")
    if not rows:
        raise StatementFileError("tệp không có dòng tiêu đề")
    header = [str(cell).strip() if cell is not None else "" for cell in rows[0]]
    if not any(header):
        raise StatementFileError("dòng đầu tiên phải là tên cột")
    body = [row for row in rows[1:] if any(_present(cell) for cell in row)]
    if len(body) > MAX_ROWS:
        raise StatementFileError(f"tệp có hơn {MAX_ROWS} dòng; hãy chia nhỏ theo ngày")
    return [
        {column: _cell(row[i]) if i < len(row) else None
         for i, column in enumerate(header) if column}
        for row in body
    ]


def _csv_rows(data: bytes) -> list[list[Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StatementFileError("tệp CSV phải được lưu ở mã UTF-8") from exc
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    return [list(row) for row in csv.reader(io.StringIO(text), delimiter=delimiter)]


def _xlsx_rows(data: bytes) -> list[list[Any]]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not XLSX
        raise StatementFileError("không đọc được tệp Excel (.xlsx)") from exc
    try:
        sheet = book.worksheets[0]
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def _present(cell: object) -> bool:
    return cell is not None and str(cell).strip() != ""


def _cell(value: object) -> Any:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=VIETNAM_TZ)
    if isinstance(value, float):
        return int(value) if value.is_integer() else repr(value)
    return value
