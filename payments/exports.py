"""CSV and XLSX files of the reports, for finance staff who work in Excel.

- The same columns in both, in the order of the JSON ROW (CONTRACT.md); the totals row
  comes last.
- CSV is for programs as much as for people: its header is the ROW keys of CONTRACT.md
  (`key`, `label`, `paid_count`, …, `meets_target`), values as in the JSON (`true`/`false`);
  UTF-8 with a BOM (so Excel recognises the encoding), comma-separated, CRLF; numbers
  without thousands separators, the share with a dot and one decimal, empty when there
  is nothing to divide by.
- XLSX is for finance staff: the same columns under Vietnamese headers.
- XLSX: a summary sheet, one sheet per agency, and an information sheet (period, basis,
  target, when it was made — in Vietnam time — and what each column means); amounts and
  counts are numbers formatted `#,##0`, shares `0.0`, dates `DD/MM/YYYY`.
- No cell is ever a formula (CSV/formula injection, OWASP): codes and names come from
  portals and catalog files. Every writer (these reports, the staff downloads, the catalog
  export) goes through `csv_cell` / `xlsx_row`: a text cell that starts with `= + - @`, a tab
  or a carriage return gets a leading `'` in CSV, and in XLSX every text cell is written as
  a string (never a formula, and quote-prefixed when it looks like one). Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from adapters.base import VIETNAM_TZ
from payments.reports import SHORT_REASONS, AgencySheet, Coverage

CSV_MIMETYPE: Final = "text/csv; charset=utf-8"
XLSX_MIMETYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOM: Final = "\ufeff"

AMOUNT_FORMAT: Final = "#,##0"
SHARE_FORMAT: Final = "0.0"
DATE_FORMAT: Final = "DD/MM/YYYY"
DATETIME_FORMAT: Final = "DD/MM/YYYY HH:MM"
MET: Final = "Đạt"
NOT_MET: Final = "Chưa đạt"

SHARE_COLUMNS: Final = (
    "key", "label", "paid_count", "online_count", "counter_count", "paid_amount",
    "online_amount", "counter_amount", "online_share_percent", "meets_target",
)
KEY_HEADERS: Final[dict[str, tuple[str, str]]] = {
    "agency": ("Mã cơ quan", "Tên cơ quan"),
    "procedure": ("Mã thủ tục", "Tên thủ tục"),
    "provider": ("Mã kênh thanh toán", "Kênh thanh toán"),
    "month": ("Tháng (YYYY-MM)", "Tháng"),
}
GROUP_NAMES: Final[dict[str, str]] = {
    "agency": "cơ quan", "procedure": "thủ tục", "provider": "kênh thanh toán", "month": "tháng",
}
BASIS_NAMES: Final[dict[str, str]] = {
    "paid_at": "Ngày thanh toán (giờ Việt Nam)",
    "received_at": "Ngày tiếp nhận hồ sơ (nếu cổng không gửi: ngày tạo khoản thanh toán)",
}

COVERAGE_COLUMNS: Final = (
    "key", "label", "fee_procedures", "online_enabled", "online_enabled_percent",
    "with_fee_dossiers", "with_fee_dossiers_percent", "paid_online", "paid_online_percent",
    "meets_target", "short", "uncatalogued",
)
COVERAGE_HEADERS: Final = (
    "Mã cơ quan",
    "Tên cơ quan",
    "Số TTHC có thu phí, lệ phí",
    "Số TTHC cho phép thanh toán trực tuyến",
    "Tỷ lệ TTHC cho phép thanh toán trực tuyến (%)",
    "Số TTHC có hồ sơ thu phí trong kỳ",
    "Tỷ lệ TTHC có hồ sơ thu phí (%) (chỉ số 3.5)",
    "Số TTHC có thanh toán trực tuyến trong kỳ",
    "Tỷ lệ TTHC có thanh toán trực tuyến (%) (chỉ số 3.5b)",
    "Đạt 100% TTHC thanh toán trực tuyến",
    "TTHC chưa đạt",
    "Mã TTHC chưa có trong danh mục",
)
COVERAGE_DETAIL_HEADERS: Final = (
    "Mã thủ tục", "Tên thủ tục", "Có thu phí, lệ phí", "Cho phép thanh toán trực tuyến",
    "Số hồ sơ thu phí trong kỳ", "Số hồ sơ đã thanh toán trực tuyến", "Chưa đạt vì",
)

HEADER_FONT: Final = Font(bold=True, color="FFFFFF")
HEADER_FILL: Final = PatternFill("solid", fgColor="1F4E78")
TOTAL_FONT: Final = Font(bold=True)


def share_headers(group_by: str, target: int | float) -> list[str]:
    key, label = KEY_HEADERS[group_by]
    return [
        key,
        label,
        "Số giao dịch đã thanh toán",
        "Số giao dịch thanh toán trực tuyến",
        "Số giao dịch nộp tại quầy",
        "Số tiền đã thanh toán (đồng)",
        "Số tiền thanh toán trực tuyến (đồng)",
        "Số tiền nộp tại quầy (đồng)",
        "Tỷ lệ thanh toán trực tuyến (%)",
        f"Đạt chỉ tiêu {str(target).replace('.', ',')}%",  # Vietnamese decimal comma
    ]


def yes_no(met: bool) -> str:
    return MET if met else NOT_MET


def has(flag: bool) -> str:
    return "Có" if flag else "Không"


def vn_now(moment: datetime) -> datetime:
    """A naive Vietnam wall-clock time, as Excel shows cells (it has no time zones)."""
    return moment.astimezone(VIETNAM_TZ).replace(tzinfo=None)


# -- no formulas: one rule for every writer ---------------------------------------------------

FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""What a spreadsheet may read as the start of a formula (OWASP "CSV Injection"), with the
full-width forms that some spreadsheet locales accept too."""


def looks_like_formula(text: str) -> bool:
    return text.startswith(FORMULA_STARTS)


def csv_cell(value: Any) -> Any:
    """A CSV cell: text that could run as a formula gets a leading `'` (None is empty)."""
    if value is None:
        return ""
    if isinstance(value, str) and looks_like_formula(value):
        return "'" + value
    return value


def xlsx_row(ws: Worksheet, values: Iterable[Any]) -> None:
    """Append a row whose text cells are strings, never formulas (numbers stay numbers).

    openpyxl reads a str starting with `=` as a formula and `#N/A` as an error; here every
    str is a string cell, quote-prefixed (Excel keeps it text when edited) when it looks
    like a formula, without the control characters that XLSX cannot hold.
    """
    cells: list[Any] = []
    for value in values:
        if isinstance(value, str):
            cell = Cell(ws)
            cell.value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
            cell.data_type = "s"
            if looks_like_formula(value):
                cell.quotePrefix = True
            cells.append(cell)
        else:
            cells.append(value)
    ws.append(cells)


# -- CSV --------------------------------------------------------------------------------------


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(v) for v in header])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return (BOM + out.getvalue()).encode("utf-8")


def _with_totals(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's rows, then its totals row: every CSV and summary sheet ends with it."""
    return [*report["rows"], report["totals"]]


def _report_csv(columns: Sequence[str], report: dict[str, Any],
                values: Callable[[dict[str, Any]], list[Any]]) -> bytes:
    """A report with totals as CSV: the column keys, a line per row, the totals line last."""
    return _csv(columns, (values(r) for r in _with_totals(report)))


def _csv_percent(share: Any) -> str:
    """A share as the CSV gives it: one decimal with a dot, empty when there is no share."""
    return "" if share is None else f"{share:.1f}"


def _csv_flag(met: bool) -> str:
    """A yes/no as the CSV gives it: `true`/`false`, the JSON spelling a portal parses."""
    return "true" if met else "false"


def _share_values(row: dict[str, Any]) -> list[Any]:
    values = [row[c] for c in SHARE_COLUMNS]
    share = row["online_share_percent"]
    values[8] = _csv_percent(share)
    values[9] = _csv_flag(row["meets_target"])
    return values


def share_csv(report: dict[str, Any]) -> bytes:
    return _report_csv(SHARE_COLUMNS, report, _share_values)


def _coverage_values(row: dict[str, Any]) -> list[Any]:
    values = [row[c] for c in COVERAGE_COLUMNS]
    for i in (4, 6, 8):
        values[i] = _csv_percent(values[i])
    values[9] = _csv_flag(row["meets_target"])
    values[10] = "; ".join(p["code"] for p in row["short"])
    values[11] = "; ".join(p["code"] for p in row["uncatalogued"])
    return values


def coverage_csv(report: dict[str, Any]) -> bytes:
    return _report_csv(COVERAGE_COLUMNS, report, _coverage_values)


# -- XLSX -------------------------------------------------------------------------------------


def sheet_title(text: str, taken: set[str]) -> str:
    """Excel: at most 31 characters, none of []:*?/\\, unique in the workbook."""
    base = re.sub(r"[\[\]:*?/\\]", "-", text).strip("'") or "Sheet"
    title = base[:31]
    n = 2
    while title.lower() in taken:
        suffix = f" ({n})"
        title = base[: 31 - len(suffix)] + suffix
        n += 1
    taken.add(title.lower())
    return title


def _summary_workbook() -> tuple[Workbook, set[str], Worksheet]:
    """A new workbook whose first sheet is the summary ("Tổng hợp"), and the sheet titles
    taken so far, so that sheet_title keeps the agency sheets and "Thông tin" unique."""
    wb = Workbook()
    taken: set[str] = set()
    ws = wb.active
    assert ws is not None
    ws.title = sheet_title("Tổng hợp", taken)
    return wb, taken, ws


def _report_period(report: dict[str, Any]) -> list[tuple[str, Any]]:
    """The information sheet's period lines, as real dates (from the report's ISO dates)."""
    return [("Từ ngày", date.fromisoformat(report["from"])),
            ("Đến ngày", date.fromisoformat(report["to"]))]


def _table(ws: Worksheet, header: Sequence[str], rows: Sequence[Sequence[Any]],
           formats: dict[int, str], *, total_last: bool, widths: Sequence[int]) -> None:
    """Header on row 1, data below, the totals row (if any) in bold; frozen header."""
    xlsx_row(ws, header)
    for cell in ws[1]:
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in rows:
        xlsx_row(ws, row)
    for r in range(2, len(rows) + 2):
        for c, fmt in formats.items():
            ws.cell(row=r, column=c).number_format = fmt
    if total_last and rows:
        for cell in ws[len(rows) + 1]:
            cell.font = TOTAL_FONT
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    last_data = len(rows) + (0 if total_last else 1)
    if last_data >= 2:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(header))}{last_data}"


def _share_cells(row: dict[str, Any]) -> list[Any]:
    values = [row[c] for c in SHARE_COLUMNS]
    values[9] = yes_no(row["meets_target"])
    return values


SHARE_FORMATS: Final = {3: AMOUNT_FORMAT, 4: AMOUNT_FORMAT, 5: AMOUNT_FORMAT, 6: AMOUNT_FORMAT,
                        7: AMOUNT_FORMAT, 8: AMOUNT_FORMAT, 9: SHARE_FORMAT}
SHARE_WIDTHS: Final = (18, 48, 14, 14, 14, 18, 18, 18, 14, 12)


def _info(wb: Workbook, taken: set[str], title: str, lines: Sequence[tuple[str, Any]],
          notes: Sequence[str]) -> None:
    ws = wb.create_sheet(sheet_title("Thông tin", taken))
    xlsx_row(ws, [title])
    ws["A1"].font = Font(bold=True, size=13)
    for label, value in lines:
        xlsx_row(ws, [label, value])
        cell = ws.cell(row=ws.max_row, column=2)
        if isinstance(value, datetime):
            cell.number_format = DATETIME_FORMAT
        elif isinstance(value, date):
            cell.number_format = DATE_FORMAT
        cell.alignment = Alignment(horizontal="left")
    ws.append([])
    xlsx_row(ws, ["Cách tính"])
    ws.cell(row=ws.max_row, column=1).font = TOTAL_FONT
    for note in notes:
        xlsx_row(ws, [note])
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 60


SHARE_NOTES: Final = (
    "Chỉ tính các khoản đã thanh toán có số tiền khác 0 (hồ sơ miễn phí, lệ phí không tính).",
    "Mỗi khoản thanh toán tính một lần, theo kênh của giao dịch thanh toán thành công đầu tiên.",
    "Tỷ lệ = số giao dịch trực tuyến / số giao dịch đã thanh toán × 100, "
    "làm tròn 1 chữ số thập phân.",
    "Đạt chỉ tiêu: so sánh tỷ lệ chưa làm tròn với chỉ tiêu "
    "(29,96% hiển thị 30,0 nhưng chưa đạt 30%).",
    "Số tiền là số đã thanh toán, chưa trừ các khoản hoàn tiền.",
    "Chi tiết: docs/reports.md.",
)


def share_xlsx(report: dict[str, Any], sheets: Sequence[AgencySheet], agency_label: str,
               generated_at: datetime) -> bytes:
    """Summary ("Tổng hợp"), one sheet per agency (its code), then "Thông tin"."""
    wb, taken, ws = _summary_workbook()
    target = report["target_percent"]
    rows = [_share_cells(r) for r in _with_totals(report)]
    _table(ws, share_headers(report["group_by"], target), rows, SHARE_FORMATS, total_last=True,
           widths=SHARE_WIDTHS)
    for sheet in sheets:
        ws = wb.create_sheet(sheet_title(sheet.code, taken))
        rows = [_share_cells(r) for r in [*sheet.rows, sheet.totals]]
        _table(ws, share_headers(sheet.group_by, target), rows, SHARE_FORMATS, total_last=True,
               widths=SHARE_WIDTHS)
    _info(
        wb, taken, "Báo cáo tỷ lệ thanh toán trực tuyến",
        [
            ("Cơ quan", agency_label),
            *_report_period(report),
            ("Tính theo", BASIS_NAMES[report["basis"]]),
            ("Nhóm theo", GROUP_NAMES[report["group_by"]]),
            ("Trang của từng cơ quan nhóm theo",
             GROUP_NAMES[sheets[0].group_by] if sheets else GROUP_NAMES[report["group_by"]]),
            ("Chỉ tiêu (%)", target),
            ("Lập lúc (giờ Việt Nam)", vn_now(generated_at)),
        ],
        SHARE_NOTES,
    )
    return _save(wb)


COVERAGE_FORMATS: Final = {3: AMOUNT_FORMAT, 4: AMOUNT_FORMAT, 5: SHARE_FORMAT, 6: AMOUNT_FORMAT,
                           7: SHARE_FORMAT, 8: AMOUNT_FORMAT, 9: SHARE_FORMAT}
COVERAGE_NOTES: Final = (
    "TTHC có thu phí: thủ tục trong danh mục có ít nhất một khoản phí, lệ phí khác 0 "
    "còn hiệu lực vào ngày cuối kỳ (hoặc hôm nay nếu kỳ chưa kết thúc).",
    "Hồ sơ tính theo ngày tiếp nhận (như Bộ chỉ số 766); khoản thanh toán đã hủy "
    "hoặc bằng 0 không tính.",
    "Chỉ số 3.5 = số TTHC có hồ sơ thu phí trong kỳ / số TTHC có thu phí.",
    "Chỉ số 3.5b = số TTHC có ít nhất một hồ sơ thanh toán trực tuyến / số TTHC có hồ sơ thu phí.",
    "Đạt 100%: mọi TTHC có thu phí đều cho phép thanh toán trực tuyến.",
    "Chi tiết: docs/reports.md.",
)


def _coverage_cells(row: dict[str, Any]) -> list[Any]:
    values = [row[c] for c in COVERAGE_COLUMNS]
    values[9] = _csv_flag(row["meets_target"])
    values[10] = "; ".join(p["code"] for p in row["short"])
    values[11] = "; ".join(p["code"] for p in row["uncatalogued"])
    return values


def coverage_xlsx(cov: Coverage, agency_label: str, generated_at: datetime) -> bytes:
    """Summary, one sheet per agency listing its procedures, then "Thông tin"."""
    report = cov.to_dict()
    wb, taken, ws = _summary_workbook()
    rows = [_coverage_cells(r) for r in _with_totals(report)]
    _table(ws, COVERAGE_HEADERS, rows, COVERAGE_FORMATS, total_last=True,
           widths=(18, 40, 14, 14, 14, 14, 14, 14, 14, 12, 30, 30))
    for agency in cov.agencies:
        ws = wb.create_sheet(sheet_title(agency.code, taken))
        detail = [
            [
                p.code,
                p.name,
                has(p.fee_bearing) if p.catalogued else "Chưa có trong danh mục",
                has(p.online_payment_enabled),
                p.fee_dossiers,
                p.online_dossiers,
                "; ".join(SHORT_REASONS[r] for r in p.reasons),
            ]
            for p in agency.procedures
        ]
        _table(ws, COVERAGE_DETAIL_HEADERS, detail, {5: AMOUNT_FORMAT, 6: AMOUNT_FORMAT},
               total_last=False, widths=(22, 50, 16, 16, 14, 14, 50))
    _info(
        wb, taken, "Báo cáo TTHC có thu phí được thanh toán trực tuyến",
        [
            ("Cơ quan", agency_label),
            ("Từ ngày", cov.period.first),
            ("Đến ngày", cov.period.last),
            ("Phí, lệ phí hiệu lực vào ngày", cov.fees_on),
            ("Chỉ tiêu (%)", 100),
            ("Lập lúc (giờ Việt Nam)", vn_now(generated_at)),
        ],
        COVERAGE_NOTES,
    )
    return _save(wb)


def _save(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# -- the national index (Decision 766) ----------------------------------------------------------

NATIONAL_COLUMNS: Final = (
    "agency_code", "label", "parent_code", "level", "fee_dossiers", "online_paid_dossiers",
    "indicator_3_6_percent", "fee_procedures", "procedures_with_fee_dossiers",
    "indicator_3_5_percent", "procedures_paid_online", "indicator_3_5b_percent", "points",
)
NATIONAL_HEADERS: Final = (
    "Mã cơ quan",
    "Tên cơ quan",
    "Mã cơ quan cấp trên",
    "Cấp (1 = cao nhất)",
    "Số hồ sơ có nghĩa vụ tài chính",
    "Số hồ sơ đã thanh toán trực tuyến",
    "Tỷ lệ hồ sơ thanh toán trực tuyến (%) (chỉ số 3.6)",
    "Số TTHC có thu phí, lệ phí",
    "Số TTHC có hồ sơ thu phí trong kỳ",
    "Tỷ lệ TTHC có hồ sơ thu phí (%) (chỉ số 3.5)",
    "Số TTHC có giao dịch thanh toán trực tuyến",
    "Tỷ lệ TTHC có giao dịch thanh toán trực tuyến (%) (chỉ số 3.5b)",
    "Điểm thanh toán trực tuyến (trên 10)",
)
NATIONAL_PERCENT_FORMAT: Final = "0.00"
NATIONAL_NOTES: Final = (
    "Hồ sơ = một mã hồ sơ (reference) của một cơ quan; tính theo ngày tiếp nhận hồ sơ sớm "
    "nhất (ngày cổng gửi, nếu không có: ngày tạo khoản thanh toán, giờ Việt Nam).",
    "Hồ sơ có nghĩa vụ tài chính: có ít nhất một khoản thanh toán khác 0, dù đã thanh toán "
    "hay chưa (chưa thanh toán, hết hạn, đã hủy đều tính); hồ sơ miễn phí không tính.",
    "Chỉ số 3.6 = hồ sơ đã thanh toán trực tuyến / hồ sơ có nghĩa vụ tài chính.",
    "Chỉ số 3.5 = TTHC có hồ sơ thu phí / TTHC có thu phí (trong danh mục, có phí khác 0 "
    "vào ít nhất một ngày của kỳ).",
    "Chỉ số 3.5b = TTHC có hồ sơ thanh toán trực tuyến / TTHC có hồ sơ thu phí.",
    "Điểm = 6 × 3.6 + 2 × min(1, 3.5 / 80%) + 2 × min(1, 3.5b / 80%), từ tỷ lệ chưa làm tròn.",
    "Mỗi đơn vị tính cả các đơn vị cấp dưới. Tỷ lệ làm tròn 2 chữ số thập phân; "
    "để trống khi mẫu số bằng 0.",
    "Chi tiết: docs/reports.md.",
)


def _national_values(row: dict[str, Any]) -> list[Any]:
    values = [row[c] for c in NATIONAL_COLUMNS]
    for i in (6, 9, 11, 12):
        values[i] = "" if values[i] is None else f"{values[i]:.2f}"
    return values


def national_index_csv(report: dict[str, Any]) -> bytes:
    """Header = the ROW keys of CONTRACT.md; percents and points with a dot, two decimals."""
    return _csv(NATIONAL_COLUMNS, (_national_values(r) for r in report["rows"]))


def national_index_xlsx(report: dict[str, Any], agency_label: str,
                        generated_at: datetime) -> bytes:
    """"Tổng hợp" (one row per unit, real numbers, percents `0.00`), then "Thông tin"."""
    wb, taken, ws = _summary_workbook()
    rows = [
        [float(v) if isinstance(v, Decimal) else v for v in (row[c] for c in NATIONAL_COLUMNS)]
        for row in report["rows"]
    ]
    formats = {5: AMOUNT_FORMAT, 6: AMOUNT_FORMAT, 7: NATIONAL_PERCENT_FORMAT, 8: AMOUNT_FORMAT,
               9: AMOUNT_FORMAT, 10: NATIONAL_PERCENT_FORMAT, 11: AMOUNT_FORMAT,
               12: NATIONAL_PERCENT_FORMAT, 13: NATIONAL_PERCENT_FORMAT}
    _table(ws, NATIONAL_HEADERS, rows, formats, total_last=False,
           widths=(18, 40, 18, 8, 14, 14, 14, 14, 14, 14, 14, 14, 12))
    _info(
        wb, taken, "Chỉ số thanh toán trực tuyến (Quyết định 766/QĐ-TTg)",
        [
            ("Cơ quan", agency_label),
            *_report_period(report),
            ("Tính theo", BASIS_NAMES["received_at"]),
            ("Lập lúc (giờ Việt Nam)", vn_now(generated_at)),
        ],
        NATIONAL_NOTES,
    )
    return _save(wb)


# -- the satisfaction report (payments/reports_satisfaction.py) ----------------------------------

SATISFACTION_COLUMNS: Final = (
    "key", "label", "answers", "satisfied", "satisfied_percent", "meets_target",
)
SATISFACTION_FORMATS: Final = {3: AMOUNT_FORMAT, 4: AMOUNT_FORMAT, 5: SHARE_FORMAT}
SATISFACTION_NOTES: Final = (
    "Mỗi khoản đã thanh toán được đánh giá một lần: Rất hài lòng (4), Hài lòng (3), "
    "Bình thường (2), Không hài lòng (1).",
    "Tính theo thời điểm người nộp đánh giá (giờ Việt Nam).",
    "Tỷ lệ hài lòng = số đánh giá Hài lòng và Rất hài lòng / số đánh giá × 100, "
    "làm tròn 1 chữ số thập phân.",
    "Đạt chỉ tiêu: so sánh tỷ lệ chưa làm tròn với chỉ tiêu (mặc định 84%).",
    "Chi tiết: docs/reports.md.",
)


def satisfaction_headers(group_by: str, target: int | float) -> list[str]:
    key, label = KEY_HEADERS[group_by]
    return [
        key,
        label,
        "Số đánh giá",
        "Số đánh giá hài lòng, rất hài lòng",
        "Tỷ lệ hài lòng (%)",
        f"Đạt chỉ tiêu {str(target).replace('.', ',')}%",
    ]


def _satisfaction_values(row: dict[str, Any]) -> list[Any]:
    values = [row[c] for c in SATISFACTION_COLUMNS]
    share = row["satisfied_percent"]
    values[4] = _csv_percent(share)
    values[5] = _csv_flag(row["meets_target"])
    return values


def satisfaction_csv(report: dict[str, Any]) -> bytes:
    return _report_csv(SATISFACTION_COLUMNS, report, _satisfaction_values)


def satisfaction_xlsx(report: dict[str, Any], agency_label: str,
                      generated_at: datetime) -> bytes:
    """Summary ("Tổng hợp") then "Thông tin"."""
    wb, taken, ws = _summary_workbook()
    target = report["target_percent"]
    rows = [
        [*(r[c] for c in SATISFACTION_COLUMNS[:5]), yes_no(r["meets_target"])]
        for r in _with_totals(report)
    ]
    _table(ws, satisfaction_headers(report["group_by"], target), rows, SATISFACTION_FORMATS,
           total_last=True, widths=(18, 48, 14, 18, 14, 12))
    _info(
        wb, taken, "Báo cáo mức độ hài lòng của người nộp phí, lệ phí",
        [
            ("Cơ quan", agency_label),
            *_report_period(report),
            ("Nhóm theo", GROUP_NAMES[report["group_by"]]),
            ("Chỉ tiêu (%)", target),
            ("Lập lúc (giờ Việt Nam)", vn_now(generated_at)),
        ],
        SATISFACTION_NOTES,
    )
    return _save(wb)
