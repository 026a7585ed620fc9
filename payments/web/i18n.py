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
        "en": "This page updates by itself. Please do not pay again.",
    },
    "paid_help": {
        "vi": "Giao dịch đã được ghi nhận. Biên nhận thanh toán có ở trang dưới đây; "
        "biên lai điện tử do cơ quan thu phát hành.",
        "en": "The payment is recorded. The proof of payment is on the page below; the "
        "collecting agency issues the e-receipt.",
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
    "save_qr": {"vi": "Lưu mã QR", "en": "Save the QR code"},
    "save_qr_help": {
        "vi": "Trên điện thoại: lưu ảnh mã QR, mở ứng dụng ngân hàng và chọn quét mã từ ảnh.",
        "en": "On a phone: save the QR image, open your banking app and scan it from the "
        "photo library.",
    },
    "copy": {"vi": "Sao chép", "en": "Copy"},
    "copied": {"vi": "Đã sao chép", "en": "Copied"},
    "copy_failed": {
        "vi": "Không sao chép được, hãy chọn và sao chép thủ công.",
        "en": "Could not copy; please select and copy it by hand.",
    },
    "transfer_expires": {"vi": "Hạn thanh toán (giờ Việt Nam)", "en": "Pay before (Vietnam time)"},
    "lookup_title": {"vi": "Tra cứu khoản thanh toán", "en": "Find a payment"},
    "lookup_help": {
        "vi": "Nhập mã hồ sơ và 4 số cuối của số điện thoại đã khai khi nộp hồ sơ.",
        "en": "Enter the dossier reference and the last 4 digits of the phone number given "
        "with the dossier.",
    },
    "lookup_reference": {"vi": "Mã hồ sơ", "en": "Dossier reference"},
    "lookup_phone": {
        "vi": "4 số cuối số điện thoại",
        "en": "Last 4 digits of the phone number",
    },
    "lookup_submit": {"vi": "Tra cứu", "en": "Find"},
    "lookup_invalid": {
        "vi": "Vui lòng nhập mã hồ sơ và đúng 4 chữ số cuối của số điện thoại.",
        "en": "Please enter the dossier reference and exactly 4 digits of the phone number.",
    },
    "too_many": {
        "vi": "Bạn đã gửi quá nhiều yêu cầu. Vui lòng chờ giây lát rồi thử lại.",
        "en": "Too many requests. Please wait a moment and try again.",
    },
    "lookup_none": {
        "vi": "Không tìm thấy khoản thanh toán khớp với thông tin đã nhập. "
        "Vui lòng kiểm tra lại mã hồ sơ và số điện thoại.",
        "en": "No payment matches what you entered. Please check the dossier reference and "
        "the phone number.",
    },
    "lookup_found": {"vi": "Đã tìm thấy khoản thanh toán", "en": "Payment found"},
    "lookup_resume": {"vi": "Tiếp tục thanh toán", "en": "Continue to payment"},
    "lookup_expired": {"vi": "Xem khoản thanh toán", "en": "View the payment"},
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
        "vi": "Đang chờ ngân hàng báo có. Trang sẽ tự cập nhật khi có kết quả; "
        "không cần chuyển khoản lại.",
        "en": "Waiting for the bank to confirm the transfer. This page updates by itself "
        "when it does; there is no need to transfer again.",
    },
    # a waiting page's quiet polling (static/poll.js, /pay/<id>/status.json)
    "check_again": {"vi": "Kiểm tra lại", "en": "Check again"},
    "poll_opening": {"vi": "Đang mở trang kết quả…", "en": "Opening the result…"},
    "poll_still_waiting": {
        "vi": "Chưa có kết quả. Trang vẫn tiếp tục kiểm tra; vui lòng không thanh toán lại.",
        "en": "No result yet. The page keeps checking; please do not pay again.",
    },
    "other_method": {"vi": "Hoặc chọn phương thức khác", "en": "Or choose another method"},
    # the receipt, its verification and the rating (payments/web/receipts.py)
    "receipt_title": {"vi": "Biên nhận thanh toán", "en": "Payment receipt"},
    "receipt_lead": {
        "vi": "Giữ biên nhận này làm bằng chứng đã nộp phí, lệ phí cho hồ sơ.",
        "en": "Keep this receipt as proof that the fees of the dossier were paid.",
    },
    "receipt_not_ereceipt": {
        "vi": "Biên nhận này do cổng thanh toán lập; biên lai điện tử là do cơ quan thu phát hành.",
        "en": "This receipt is made by the payment gateway; the collecting agency issues "
        "the legal e-receipt.",
    },
    "receipt_not_paid": {
        "vi": "Khoản này chưa được thanh toán thành công nên chưa có biên nhận.",
        "en": "This payment has not succeeded yet, so there is no receipt.",
    },
    "amount_words": {"vi": "Số tiền bằng chữ", "en": "Amount in words (Vietnamese)"},
    "txn_id": {"vi": "Mã giao dịch", "en": "Transaction number"},
    "verification_code": {"vi": "Mã xác thực", "en": "Verification code"},
    "verify_help": {
        "vi": "Quét mã QR hoặc mở đường dẫn để kiểm tra biên nhận này:",
        "en": "Scan the QR code or open the link to check this receipt:",
    },
    "verify_qr_alt": {
        "vi": "Mã QR mở trang kiểm tra biên nhận",
        "en": "QR code that opens the receipt check page",
    },
    "download_pdf": {"vi": "Tải biên nhận (PDF)", "en": "Download the receipt (PDF)"},
    "view_receipt": {"vi": "Xem biên nhận", "en": "View the receipt"},
    "ereceipt": {"vi": "Biên lai điện tử của cơ quan thu", "en": "The agency's e-receipt"},
    "ereceipt_template": {"vi": "Mẫu số", "en": "Template"},
    "ereceipt_series": {"vi": "Ký hiệu", "en": "Series"},
    "ereceipt_number": {"vi": "Số", "en": "Number"},
    "ereceipt_pending": {
        "vi": "Cơ quan thu sẽ phát hành biên lai điện tử và gửi cho người nộp.",
        "en": "The collecting agency will issue the e-receipt and send it to the payer.",
    },
    "verify_title": {"vi": "Kiểm tra biên nhận", "en": "Receipt check"},
    "verify_ok": {
        "vi": "Mã xác thực hợp lệ: khoản phí, lệ phí dưới đây đã được thanh toán.",
        "en": "The verification code is valid: the fees below were paid.",
    },
    "verify_unknown": {
        "vi": "Không có biên nhận nào với mã xác thực này. Hãy kiểm tra lại mã.",
        "en": "No receipt has this verification code. Please check the code.",
    },
    "paid_on": {"vi": "Ngày thanh toán", "en": "Paid on"},
    "reference_masked": {"vi": "Mã hồ sơ (đã che một phần)", "en": "Dossier (partly hidden)"},
    "rating_title": {
        "vi": "Bạn có hài lòng với việc thanh toán trực tuyến?",
        "en": "Were you satisfied with paying online?",
    },
    "rating_4": {"vi": "Rất hài lòng", "en": "Very satisfied"},
    "rating_3": {"vi": "Hài lòng", "en": "Satisfied"},
    "rating_2": {"vi": "Bình thường", "en": "Neutral"},
    "rating_1": {"vi": "Không hài lòng", "en": "Not satisfied"},
    "rating_comment": {"vi": "Góp ý (không bắt buộc)", "en": "Comment (optional)"},
    "rating_choose": {
        "vi": "Chọn một mức để gửi đánh giá",
        "en": "Tap one answer to send it",
    },
    "rating_thanks": {"vi": "Cảm ơn bạn đã đánh giá", "en": "Thank you for your answer"},
    "rating_yours": {"vi": "Đánh giá của bạn", "en": "Your answer"},
    "rating_already": {
        "vi": "Khoản thanh toán này đã được đánh giá; mỗi khoản chỉ đánh giá một lần.",
        "en": "This payment was already rated; one answer per payment.",
    },
    "rating_invalid": {
        "vi": "Vui lòng chọn một mức hài lòng (góp ý tối đa 1000 ký tự).",
        "en": "Please choose one of the answers (a comment has at most 1000 characters).",
    },
    "print_hint": {
        "vi": "Có thể in trang này hoặc lưu bản PDF.",
        "en": "You can print this page or save the PDF.",
    },
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
