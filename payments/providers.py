"""Which providers are on: an explicit map from settings to configured adapters.

A provider is offered only when its account is configured and its limits admit the
payment's amount (CONTRACT.md); the limits are the adapters' own (`Adapter.accepts`).
"""

from __future__ import annotations

from collections.abc import Mapping

from adapters.base import Adapter
from adapters.momo import MomoAdapter, MomoConfig
from adapters.sandbox import SandboxAdapter, SandboxConfig
from adapters.vietqr import VietqrAdapter, VietqrConfig
from adapters.vnpay import VnpayAdapter, VnpayConfig
from adapters.zalopay import ZalopayAdapter, ZalopayConfig
from payments.config import Settings
from payments.money import format_vnd

ONLINE_PROVIDERS = ("vnpay", "momo", "zalopay", "vietqr", "sandbox")
"""Every provider name the API accepts, in the order the checkout page offers them."""


def offered(adapters: Mapping[str, Adapter], amount: int) -> list[str]:
    """The providers a citizen may choose for `amount` đồng, in the checkout's order."""
    return [name for name in ONLINE_PROVIDERS
            if name in adapters and adapters[name].accepts(amount)]


def limits_text(adapter: Adapter) -> str:
    """'1.000 ₫ – 50.000.000 ₫' (or 'từ 1 ₫' without an upper limit), for messages."""
    low = format_vnd(adapter.min_amount)
    if adapter.max_amount is None:
        return f"từ {low}"
    return f"{low} – {format_vnd(adapter.max_amount)}"


def build_adapters(settings: Settings) -> dict[str, Adapter]:
    adapters: dict[str, Adapter] = {}
    if settings.vnpay:
        adapters["vnpay"] = VnpayAdapter(
            VnpayConfig(
                tmn_code=settings.vnpay.tmn_code,
                hash_secret=settings.vnpay.hash_secret,
                pay_url=settings.vnpay.pay_url,
                api_url=settings.vnpay.api_url,
            )
        )
    if settings.momo:
        adapters["momo"] = MomoAdapter(
            MomoConfig(
                partner_code=settings.momo.partner_code,
                access_key=settings.momo.access_key,
                secret_key=settings.momo.secret_key,
                endpoint=settings.momo.endpoint,
                request_type=settings.momo.request_type,
            )
        )
    if settings.zalopay:
        adapters["zalopay"] = ZalopayAdapter(
            ZalopayConfig(
                app_id=settings.zalopay.app_id,
                key1=settings.zalopay.key1,
                key2=settings.zalopay.key2,
                endpoint=settings.zalopay.endpoint,
            )
        )
    if settings.vietqr:
        adapters["vietqr"] = VietqrAdapter(
            VietqrConfig(
                bank_bin=settings.vietqr.bank_bin,
                account_no=settings.vietqr.account_no,
                account_name=settings.vietqr.account_name,
                checksum_key=settings.vietqr.checksum_key,
            )
        )
    if settings.sandbox:
        adapters["sandbox"] = SandboxAdapter(
            SandboxConfig(
                secret=settings.sandbox_secret,
                pay_url=settings.url("/sandbox/pay"),
                api_url=settings.url("/sandbox/api"),
            )
        )
    return adapters
