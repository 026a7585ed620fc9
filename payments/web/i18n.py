"""Citizen-facing texts, Vietnamese by default, English with ?lang=en.

Two languages and a few dozen strings: a dict is clearer than a gettext toolchain.
"""

from __future__ import annotations

from datetime import datetime

from adapters.base import VIETNAM_TZ
from payments.money import format_vnd

TEXTS: dict[str, dict[str, str]] = {
    "error_http": {
        "vi": "Yêu cầu không hợp lệ. Vui lòng quay lại trang trước.",
        "en": "The request could not be handled. Please go back.",
    },
    "error_invalid-state": {
        "vi": "Khoản này không thể thanh toán thêm (đã thanh toán, đã hủy hoặc hết hạn).",
        "en": "This payment can no longer be paid (paid, cancelled or expired).",
    },
    "error_provider-refused": {
        "vi": "Nhà cung cấp từ chối giao dịch. Chưa có khoản tiền nào bị trừ; hãy chọn cách khác.",
        "en": "The provider refused the payment. Nothing was charged; please choose another way.",
    },
    "error_provider-not-available": {
        "vi": "Phương thức thanh toán này hiện không khả dụng.",
        "en": "This payment method is not available.",
    },
    "title": {"vi": "Thanh toán phí, lệ phí", "en": "Pay fees and charges"},
    "agency": {"vi": "Cơ quan", "en": "Agency"},
    "procedure": {"vi": "Thủ tục", "en": "Procedure"},
    "reference": {"vi": "Mã hồ sơ", "en": "Dossier"},
    "payer": {"vi": "Người nộp", "en": "Payer"},
    "items": {"vi": "Khoản thu", "en": "Items"},
    "kind_fee": {"vi": "Phí", "en": "Fee"},
    "kind_charge": {"vi": "Lệ phí", "en": "Charge"},
    "total": {"vi": "Tổng cộng", "en": "Total"},
    "expires": {"vi": "Hạn thanh toán", "en": "Pay before"},
    "choose": {"vi": "Chọn phương thức thanh toán", "en": "Choose how to pay"},
    "pay_with": {"vi": "Thanh toán qua", "en": "Pay with"},
    "no_provider": {
        "vi": "Chưa có phương thức thanh toán trực tuyến.",
        "en": "No online payment method is available.",
    },
    "status_created": {"vi": "Chưa thanh toán", "en": "Not paid yet"},
    "status_pending": {"vi": "Đang chờ thanh toán", "en": "Awaiting payment"},
    "status_succeeded": {"vi": "Đã thanh toán", "en": "Paid"},
    "status_failed": {
        "vi": "Thanh toán chưa thành công — bạn có thể thử lại",
        "en": "Payment did not go through — you can try again",
    },
    "status_cancelled": {"vi": "Đã hủy", "en": "Cancelled"},
    "status_exempt": {
        "vi": "Hồ sơ được miễn phí, lệ phí — không phải thanh toán",
        "en": "This dossier is exempt from fees — nothing to pay",
    },
    "status_expired": {"vi": "Đã hết hạn thanh toán", "en": "Expired"},
    "confirming": {
        "vi": "Đang xác nhận giao dịch với nhà cung cấp…",
        "en": "Confirming the payment with the provider…",
    },
    "confirming_help": {
        "vi": "Trang sẽ tự cập nhật. Vui lòng không thanh toán lại.",
        "en": "This page refreshes by itself. Please do not pay again.",
    },
    "paid_help": {
        "vi": "Giao dịch đã được ghi nhận. Biên lai sẽ do cơ quan thu phát hành.",
        "en": "The payment is recorded. The collecting agency issues the receipt.",
    },
    "failed_help": {
        "vi": "Không có khoản tiền nào bị trừ cho lần thử này.",
        "en": "Nothing was charged for this attempt.",
    },
    "back": {"vi": "Quay lại cổng dịch vụ công", "en": "Back to the public-service portal"},
    "try_again": {"vi": "Chọn phương thức khác", "en": "Choose another method"},
    "result": {"vi": "Kết quả thanh toán", "en": "Payment result"},
    "paid_at": {"vi": "Thời gian thanh toán", "en": "Paid at"},
    "provider": {"vi": "Kênh thanh toán", "en": "Paid through"},
    "not_found": {"vi": "Không tìm thấy khoản thanh toán.", "en": "Payment not found."},
    "error": {"vi": "Có lỗi xảy ra", "en": "Something went wrong"},
    "lang_switch": {"vi": "English", "en": "Tiếng Việt"},
    "provider_down": {
        "vi": "Không kết nối được nhà cung cấp. Chưa có khoản tiền nào bị trừ; vui lòng thử lại.",
        "en": "The provider could not be reached. Nothing was charged; please try again.",
    },
    "transfer_help": {
        "vi": "Quét mã bằng ứng dụng ngân hàng, giữ nguyên nội dung chuyển khoản.",
        "en": "Scan with your banking app and keep the transfer description unchanged.",
    },
    "qr_title": {
        "vi": "Chuyển khoản bằng mã VietQR",
        "en": "Pay by bank transfer with VietQR",
    },
    "qr_alt": {
        "vi": "Mã VietQR chuyển khoản",
        "en": "VietQR bank transfer code",
    },
    "amount": {"vi": "Số tiền", "en": "Amount"},
    "bank": {"vi": "Ngân hàng", "en": "Bank"},
    "account_no": {"vi": "Số tài khoản", "en": "Account number"},
    "account_name": {"vi": "Chủ tài khoản", "en": "Account name"},
    "transfer_description": {"vi": "Nội dung chuyển khoản", "en": "Transfer description"},
    "keep_description": {
        "vi": "Chuyển đúng số tiền và giữ nguyên nội dung chuyển khoản ở trên. "
        "Nếu sửa nội dung, giao dịch không được xác nhận tự động.",
        "en": "Transfer exactly this amount and keep the transfer description above "
        "unchanged. If it is changed, the payment cannot be confirmed automatically.",
    },
    "waiting_transfer": {
        "vi": "Đang chờ ngân hàng báo có. Trang tự cập nhật vài giây một lần; "
        "không cần chuyển khoản lại.",
        "en": "Waiting for the bank to confirm the transfer. This page refreshes every "
        "few seconds; there is no need to transfer again.",
    },
    "other_method": {"vi": "Hoặc chọn phương thức khác", "en": "Or choose another method"},
}

PROVIDER_NAMES = {
    "vnpay": "VNPAY",
    "momo": "Ví MoMo",
    "zalopay": "ZaloPay",
    "vietqr": "VietQR (chuyển khoản ngân hàng)",
    "sandbox": "Sandbox (thử nghiệm)",
    "counter": "Tại quầy",
}

PROVIDER_NAMES_EN = {
    **PROVIDER_NAMES,
    "momo": "MoMo wallet",
    "vietqr": "VietQR (bank transfer)",
    "sandbox": "Sandbox (test)",
    "counter": "At the counter",
}


def provider_names(lang: str) -> dict[str, str]:
    return PROVIDER_NAMES_EN if lang == "en" else PROVIDER_NAMES


def pick_lang(value: str | None) -> str:
    return "en" if value == "en" else "vi"


def t(key: str, lang: str) -> str:
    entry = TEXTS.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry["vi"]


def vn_datetime(moment: datetime | None) -> str:
    """Shown in Asia/Ho_Chi_Minh: 26/11/2026 14:05."""
    if moment is None:
        return ""
    return moment.astimezone(VIETNAM_TZ).strftime("%d/%m/%Y %H:%M")


FILTERS = {"vnd": format_vnd, "vn_datetime": vn_datetime}
