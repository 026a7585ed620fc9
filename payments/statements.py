"""Reading a provider's statement file (CSV or XLSX) into rows keyed by column name.

The adapters map a row to a neutral StatementLine; this module only turns a file into
rows, so an upload from the staff page, the worker and `feegate reconcile import` read
alike. Excel's quirks are undone here: a naive date-time cell is Vietnam time (providers
export GMT+7), and a whole number stored as 150000.0 is the int 150000 (any other float is
left as text, so the adapter refuses it rather than guessing at money).

Reading streams: a CSV goes through `csv.reader` over a text stream decoded as it is read,
an XLSX through openpyxl's `read_only` row iterator, so memory does not grow with the
file. Every limit is checked while reading and refused with a message for a finance
officer (`StatementFileError`), never a crash: the file size, the number of lines (blank
lines count too, under their own cap, so a file of empty lines is refused early), the size
of one cell (128 KiB by default) and of one physical line, NUL bytes, an XLSX that
inflates beyond reason (a zip bomb) or declares more rows than allowed.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from adapters.base import VIETNAM_TZ

if TYPE_CHECKING:
    from payments.config import Settings

MiB = 1024 * 1024
MAX_BYTES = 128 * MiB
MAX_ROWS = 1_000_000
MAX_CELL = 128 * 1024  # characters in one cell (csv's own default limit)
XLSX_INFLATION = 16  # an XLSX may unpack to at most 16 × the byte cap
SNIFF = 4096


class StatementFileError(ValueError):
    """The file cannot be read as a statement; the message is for a finance officer."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    max_rows: int = MAX_ROWS
    max_cell: int = MAX_CELL

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """The caps the settings name (FEEGATE_STATEMENT_MAX_BYTES, _MAX_ROWS and
        FEEGATE_UPLOAD_MAX_CELL_CHARS)."""
        return cls(max_bytes=settings.statement_max_bytes, max_rows=settings.statement_max_rows,
                   max_cell=settings.upload_max_cell_chars)

    @property
    def max_line_bytes(self) -> int:
        """One physical line: four maximal cells in UTF-8 (up to 4 bytes a character)."""
        return max(16 * self.max_cell, 64 * 1024)


DEFAULT_LIMITS = Limits()


def read_statement(filename: str, data: bytes, limits: Limits = DEFAULT_LIMITS
                   ) -> list[dict[str, Any]]:
    """Every row of a (small) file at once; see `StatementReader` for large ones."""
    if len(data) > limits.max_bytes:
        raise StatementFileError(_too_big(limits))
    with StatementReader(filename, io.BytesIO(data), limits) as reader:
        return list(reader)


def _too_big(limits: Limits) -> str:
    return f"tệp lớn hơn {limits.max_bytes // MiB} MB; hãy chia nhỏ theo ngày"


def kind_of(filename: str) -> str:
    """`csv` or `xlsx` by the file's name; anything else is refused."""
    name = filename.lower()
    if name.endswith(".xlsx"):
        return "xlsx"
    if name.endswith((".csv", ".txt")):
        return "csv"
    raise StatementFileError("chỉ nhận tệp .csv hoặc .xlsx")


class StatementReader:
    """Rows of the first sheet (XLSX) or of the file (CSV), the first row naming columns.

    Opening reads the header (so a wrong kind of file, a bad encoding at the start or a
    missing header are refused before anything is written); iterating yields one dict per
    non-blank row and may still raise `StatementFileError` when a later part of the file
    breaks a limit. `line_no` is the file line (CSV) or sheet row (XLSX) last yielded.
    """

    def __init__(self, filename: str, stream: IO[bytes], limits: Limits = DEFAULT_LIMITS
                 ) -> None:
        self.limits = limits
        self.kind = kind_of(filename)
        self.line_no = 1
        self._book: Any = None
        if self.kind == "xlsx":
            self._rows = self._open_xlsx(stream)
        else:
            self._rows = self._open_csv(stream)
        try:
            first = next(self._rows)
        except StopIteration:
            raise StatementFileError("tệp không có dòng tiêu đề") from None
        self.header = [str(cell).strip() if cell is not None else "" for cell in first]
        if not any(self.header):
            raise StatementFileError("dòng đầu tiên phải là tên cột")

    def __enter__(self) -> StatementReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._book is not None:
            self._book.close()
            self._book = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        header = self.header
        columns = [(i, column) for i, column in enumerate(header) if column]
        width = len(header)
        rows = blanks = 0
        max_rows = self.limits.max_rows
        csv_strings = self.kind == "csv"
        for values in self._rows:
            if csv_strings:  # the first cell decides for almost every line
                present = bool(values) and (values[0].strip() != ""
                                            or any(v.strip() for v in values))
            else:
                present = any(_present(v) for v in values)
            if not present:
                blanks += 1
                if blanks > max_rows:
                    raise StatementFileError(
                        f"tệp có hơn {max_rows} dòng trống; đây không phải một sao kê")
                continue
            rows += 1
            if rows > max_rows:
                raise StatementFileError(
                    f"tệp có hơn {max_rows} dòng; hãy chia nhỏ theo ngày")
            if csv_strings and len(values) >= width:
                yield {column: values[i].strip() for i, column in columns}
            else:
                yield {column: _cell(values[i]) if i < len(values) else None
                       for i, column in columns}

    # -- CSV ------------------------------------------------------------------------------

    def _open_csv(self, stream: IO[bytes]) -> Iterator[list[Any]]:
        head = stream.read(SNIFF)
        guarded = io.BufferedReader(_Guarded(head, stream, self.limits), buffer_size=256 * 1024)
        text = io.TextIOWrapper(guarded, encoding="utf-8-sig", newline="")
        sample = head.decode("utf-8", errors="ignore")
        delimiter = ";" if sample.count(";") > sample.count(",") else ","
        return self._csv_rows(text, delimiter)

    def _csv_rows(self, text: io.TextIOWrapper, delimiter: str) -> Iterator[list[Any]]:
        cap = min(self.limits.max_cell, csv.field_size_limit())
        check_cells = cap < csv.field_size_limit()
        reader = csv.reader(text, delimiter=delimiter)
        try:
            for row in reader:
                self.line_no = reader.line_num
                if check_cells and row and max(map(len, row)) > cap:
                    raise StatementFileError(_cell_too_long(self.line_no, cap))
                yield row
        except UnicodeDecodeError as exc:
            raise StatementFileError(
                "tệp CSV phải được lưu ở mã UTF-8 (Excel: “CSV UTF-8”)") from exc
        except csv.Error as exc:
            line = reader.line_num
            if "field larger than field limit" in str(exc):
                raise StatementFileError(_cell_too_long(line, cap)) from exc
            raise StatementFileError(f"dòng {line}: không đọc được CSV ({exc})") from exc

    # -- XLSX -----------------------------------------------------------------------------

    def _open_xlsx(self, stream: IO[bytes]) -> Iterator[list[Any]]:
        from openpyxl import load_workbook  # noqa: PLC0415

        limits = self.limits
        try:
            with zipfile.ZipFile(stream) as archive:
                inflated = sum(member.file_size for member in archive.infolist())
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise StatementFileError("không đọc được tệp Excel (.xlsx)") from exc
        if inflated > XLSX_INFLATION * limits.max_bytes:
            raise StatementFileError(
                f"tệp Excel giải nén ra hơn {XLSX_INFLATION * limits.max_bytes // MiB} MB; "
                "hãy chia nhỏ theo ngày hoặc xuất ra CSV")
        stream.seek(0)
        try:
            self._book = load_workbook(stream, read_only=True, data_only=True)
            sheet = self._book.worksheets[0]
        except Exception as exc:  # openpyxl raises many kinds for a file that is not XLSX
            raise StatementFileError("không đọc được tệp Excel (.xlsx)") from exc
        declared = _declared_rows(sheet)
        if declared is not None and declared > 2 * limits.max_rows + 1:
            raise StatementFileError(
                f"trang tính có {declared} dòng, hơn {limits.max_rows}; hãy chia nhỏ theo ngày")
        return self._xlsx_rows(sheet)

    def _xlsx_rows(self, sheet: Any) -> Iterator[list[Any]]:
        cap = self.limits.max_cell
        try:
            for number, row in enumerate(sheet.iter_rows(values_only=True), 1):
                self.line_no = number
                for value in row:
                    if isinstance(value, str) and (len(value) > cap or "\x00" in value):
                        if "\x00" in value:
                            raise StatementFileError(f"dòng {number}: ô chứa ký tự NUL")
                        raise StatementFileError(_cell_too_long(number, cap))
                yield list(row)
        except StatementFileError:
            raise
        except Exception as exc:  # a broken sheet part surfaces while iterating
            raise StatementFileError(
                f"dòng {self.line_no}: không đọc được tệp Excel (.xlsx)") from exc


def _cell_too_long(line: int, cap: int) -> str:
    return f"dòng {line}: một ô dài hơn {cap // 1024} KiB; đây không phải một sao kê"


def _declared_rows(sheet: Any) -> int | None:
    try:
        value = sheet.max_row  # from the sheet's <dimension>, when it has one
    except Exception:  # noqa: BLE001 - a missing or odd dimension is checked while reading
        return None
    return value if isinstance(value, int) else None


class _Guarded(io.RawIOBase):
    """The bytes of an upload, already-read head first, refused past a limit as they come:
    the file size, a NUL byte (a CSV in UTF-16, or not text at all) and a physical line
    longer than any statement has (so the csv reader never builds a giant row)."""

    def __init__(self, head: bytes, stream: IO[bytes], limits: Limits) -> None:
        self._head = head
        self._stream = stream
        self._limits = limits
        self._seen = 0
        self._line = 0  # bytes since the last line break

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        if self._head:
            chunk, self._head = self._head[:size], self._head[size:]
        else:
            chunk = self._stream.read(size)
        if not chunk:
            return 0
        self._check(chunk)
        buffer[:len(chunk)] = chunk
        return len(chunk)

    def _check(self, chunk: bytes) -> None:
        limits = self._limits
        self._seen += len(chunk)
        if self._seen > limits.max_bytes:
            raise StatementFileError(_too_big(limits))
        if b"\x00" in chunk:
            at = self._seen - len(chunk) + chunk.index(b"\x00")
            raise StatementFileError(
                f"tệp có ký tự NUL (byte {at}): không phải tệp văn bản CSV mã UTF-8")
        last = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if last < 0:
            self._line += len(chunk)
        else:
            first = min(i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0)
            if self._line + first > limits.max_line_bytes:
                self._line += first
            else:
                self._line = len(chunk) - last - 1
        if self._line > limits.max_line_bytes:
            raise StatementFileError(
                f"có một dòng dài hơn {limits.max_line_bytes // 1024} KiB; "
                "đây không phải một sao kê")


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
