"""The receipt as a PDF (fpdf2), Vietnamese text embedded and extractable.

The font is a TrueType file with every Vietnamese letter, embedded (subset) in the PDF
with its Unicode map, so `pdftotext` and screen readers read "đồng", not boxes:

1. Noto Sans from the PyPI package `fontpkg-noto-sans` (a dependency in pyproject.toml,
   so `make run` has it); its variable font is instanced at weight 400 and 700;
2. else Debian's `fonts-dejavu-core` (/usr/share/fonts/truetype/dejavu), which
   scripts/ensure-debian-tools.sh installs.

docs/decisions.md says why fpdf2.
"""

from __future__ import annotations

import io
import logging
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

import segno
from fpdf import FPDF

from adapters.base import VIETNAM_TZ
from payments.models import Receipt
from payments.money import format_vnd
from payments.services.receipts import amount_words, display_code

DEJAVU: Final = Path("/usr/share/fonts/truetype/dejavu")
FAMILY: Final = "ReceiptSans"
logger = logging.getLogger(__name__)


class FontMissing(RuntimeError):
    """Neither fontpkg-noto-sans nor fonts-dejavu-core is installed."""


@cache
def font_files() -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(path, regular variations, bold variations), or (regular path, {}, {}) for static
    files; the bold one of DejaVu is named apart (see `_add_fonts`)."""
    noto = _noto_sans()
    if noto is not None:
        return str(noto), {"wght": 400, "wdth": 100}, {"wght": 700, "wdth": 100}
    regular = DEJAVU / "DejaVuSans.ttf"
    if regular.is_file():
        return str(regular), {}, {}
    raise FontMissing(
        "no font for Vietnamese: install the Python package fontpkg-noto-sans "
        "(pip install -e .) or Debian's fonts-dejavu-core"
    )


def _noto_sans() -> Path | None:
    try:
        import fontpkg  # noqa: PLC0415  (optional at import time: DejaVu is the fallback)

        path = Path(fontpkg.path("Noto Sans"))
    except Exception:  # noqa: BLE001  (not installed, or a fontpkg without the family)
        logger.info("fontpkg-noto-sans not usable; the receipt PDF uses DejaVu Sans")
        return None
    return path if path.is_file() else None


def _add_fonts(pdf: FPDF) -> None:
    path, regular, bold = font_files()
    if regular:
        pdf.add_font(FAMILY, "", path, variations=regular)
        pdf.add_font(FAMILY, "B", path, variations=bold)
        return
    pdf.add_font(FAMILY, "", path)
    bold_path = DEJAVU / "DejaVuSans-Bold.ttf"
    pdf.add_font(FAMILY, "B", str(bold_path) if bold_path.is_file() else path)


def _qr_png(url: str) -> io.BytesIO:
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=6, border=4)
    buffer.seek(0)
    return buffer


def receipt_pdf(receipt: Receipt, *, verify_url: str, provider_label: str,
                made_at: datetime) -> bytes:
    """The receipt in Vietnamese, one A4 page."""
    pdf = FPDF(format="A4")
    pdf.set_creation_date(made_at)  # the Gateway's clock, not the machine's
    pdf.set_lang("vi")
    pdf.set_title(f"Biên nhận thanh toán {receipt.reference}")
    pdf.set_author("feegate")
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(auto=True, margin=16)
    _add_fonts(pdf)
    pdf.add_page()
    width = pdf.epw

    def line(text: str, *, size: float = 11, bold: bool = False, height: float = 6.5,
             align: str = "L") -> None:
        pdf.set_font(FAMILY, "B" if bold else "", size)
        pdf.multi_cell(width, height, text, align=align, new_x="LMARGIN", new_y="NEXT")

    def field(label: str, value: str) -> None:
        pdf.set_font(FAMILY, "", 10.5)
        pdf.set_text_color(87, 96, 106)
        pdf.multi_cell(48, 6.5, label, new_x="RIGHT", new_y="TOP")
        pdf.set_text_color(27, 31, 35)
        pdf.multi_cell(width - 48, 6.5, value, new_x="LMARGIN", new_y="NEXT")

    line("BIÊN NHẬN THANH TOÁN PHÍ, LỆ PHÍ", size=15, bold=True, height=8, align="C")
    line("(Không thay thế biên lai điện tử do cơ quan thu phí, lệ phí phát hành)", size=9.5,
         align="C")
    pdf.ln(4)
    field("Cơ quan thu", receipt.agency_name or receipt.agency_code)
    field("Mã cơ quan", receipt.agency_code)
    field("Thủ tục", receipt.procedure_name or receipt.procedure_code)
    field("Mã thủ tục", receipt.procedure_code)
    field("Mã hồ sơ", receipt.reference)
    pdf.ln(3)
    line("Các khoản thu", bold=True)
    pdf.set_draw_color(208, 215, 222)
    for item in receipt.fee_lines or []:
        kind = "Phí" if item.get("kind") == "fee" else "Lệ phí"
        pdf.set_font(FAMILY, "", 10.5)
        y = pdf.get_y()
        pdf.multi_cell(width - 40, 6.5, f"{item.get('name', '')} ({kind})", new_x="RIGHT",
                       new_y="TOP")
        pdf.multi_cell(40, 6.5, format_vnd(int(item.get("amount", 0))), align="R",
                       new_x="LMARGIN", new_y="NEXT")
        pdf.set_y(max(pdf.get_y(), y + 6.5))
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
    pdf.set_font(FAMILY, "B", 12)
    pdf.multi_cell(width - 40, 8, "Tổng cộng", new_x="RIGHT", new_y="TOP")
    pdf.multi_cell(40, 8, format_vnd(receipt.amount), align="R", new_x="LMARGIN", new_y="NEXT")
    field("Số tiền bằng chữ", amount_words(receipt.amount))
    pdf.ln(3)
    field("Kênh thanh toán", provider_label)
    field("Mã giao dịch", receipt.provider_txn_id or "—")
    field("Thời gian thanh toán",
          receipt.paid_at.astimezone(VIETNAM_TZ).strftime("%d/%m/%Y %H:%M") + " (giờ Việt Nam)")
    if receipt.ereceipt_number:
        field("Biên lai điện tử",
              f"Mẫu số {receipt.ereceipt_template} · Ký hiệu {receipt.ereceipt_series} · "
              f"Số {receipt.ereceipt_number}")
    pdf.ln(4)
    top = pdf.get_y()
    pdf.image(_qr_png(verify_url), x=pdf.l_margin, y=top, w=34, h=34)
    pdf.set_xy(pdf.l_margin + 40, top)
    pdf.set_font(FAMILY, "", 10.5)
    pdf.multi_cell(width - 40, 6.5, "Mã xác thực", new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(pdf.l_margin + 40)
    pdf.set_font(FAMILY, "B", 13)
    pdf.multi_cell(width - 40, 7, display_code(receipt.verification_code), new_x="LMARGIN",
                   new_y="NEXT")
    pdf.set_x(pdf.l_margin + 40)
    pdf.set_font(FAMILY, "", 9.5)
    pdf.multi_cell(width - 40, 5.5, f"Kiểm tra tại: {verify_url}", link=verify_url,
                   new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
