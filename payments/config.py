"""Settings: the only reader of FEEGATE_* environment variables.

Everything else receives a `Settings` so tests can build one explicitly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


def require_secret_key(settings: Settings) -> None:
    """Serving requires a secret key outside dev/test; operator commands do not."""
    if not settings.secret_key:
        raise ConfigError(
            "FEEGATE_SECRET_KEY is required outside dev/test (or set FEEGATE_ENV=dev)"
        )


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class VnpaySettings:
    tmn_code: str
    hash_secret: str
    pay_url: str
    api_url: str


@dataclass(frozen=True)
class MomoSettings:
    partner_code: str
    access_key: str
    secret_key: str
    endpoint: str
    request_type: str = "captureWallet"


@dataclass(frozen=True)
class ZalopaySettings:
    app_id: str
    key1: str
    key2: str
    endpoint: str


@dataclass(frozen=True)
class VietqrSettings:
    """The collecting account a VietQR transfer goes to, and the bank webhook's key."""

    bank_bin: str
    account_no: str
    account_name: str
    checksum_key: str = field(repr=False)


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    public_url: str = DEFAULT_PUBLIC_URL
    env: str = "production"  # "dev" | "test" | "production"
    sandbox: bool = False
    simulators: bool = False
    sandbox_secret: str = "sandbox-secret"
    online_share_target: Decimal = Decimal(30)
    payment_ttl_minutes: int = 60
    sync_delay_seconds: int = 300
    sync_max_interval_seconds: int = 3600
    pending_grace_minutes: int = 1440
    notify_timeout_seconds: float = 10.0
    worker_interval_seconds: float = 5.0
    worker_batch_size: int = 20
    worker_lease_seconds: int = 300
    vnpay: VnpaySettings | None = None
    momo: MomoSettings | None = None
    zalopay: ZalopaySettings | None = None
    vietqr: VietqrSettings | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def url(self, path: str) -> str:
        return self.public_url.rstrip("/") + path


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _percent(env: Mapping[str, str], name: str, default: Decimal) -> Decimal:
    """A percent such as `30` or `32.5`: exact (Decimal), so `meets_target` never rounds."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,2})?", raw) or Decimal(raw) > 100:
        raise ConfigError(f"{name} must be a percent between 0 and 100 (e.g. 30 or 32.5), "
                          f"got {raw!r}")
    return Decimal(raw)


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise ConfigError(f"{name} must be greater than 0")
    return value


def _group(env: Mapping[str, str], names: dict[str, str]) -> dict[str, str] | None:
    """A provider account is on only when every one of its variables is set."""
    values = {key: env.get(var, "").strip() for key, var in names.items()}
    if not any(values.values()):
        return None
    missing = [var for key, var in names.items() if not values[key]]
    if missing:
        raise ConfigError("incomplete provider account, missing: " + ", ".join(missing))
    return values


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    mode = env.get("FEEGATE_ENV", "production").strip() or "production"
    database_url = env.get("FEEGATE_DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'feegate.db'}"
    secret_key = env.get("FEEGATE_SECRET_KEY", "")
    if not secret_key and mode in {"dev", "test"}:
        secret_key = "dev-only-secret-key-change-me"
    vnpay = _group(
        env,
        {
            "tmn_code": "FEEGATE_VNPAY_TMN_CODE",
            "hash_secret": "FEEGATE_VNPAY_HASH_SECRET",
            "pay_url": "FEEGATE_VNPAY_PAY_URL",
            "api_url": "FEEGATE_VNPAY_API_URL",
        },
    )
    momo = _group(
        env,
        {
            "partner_code": "FEEGATE_MOMO_PARTNER_CODE",
            "access_key": "FEEGATE_MOMO_ACCESS_KEY",
            "secret_key": "FEEGATE_MOMO_SECRET_KEY",
            "endpoint": "FEEGATE_MOMO_ENDPOINT",
        },
    )
    zalopay = _group(
        env,
        {
            "app_id": "FEEGATE_ZALOPAY_APP_ID",
            "key1": "FEEGATE_ZALOPAY_KEY1",
            "key2": "FEEGATE_ZALOPAY_KEY2",
            "endpoint": "FEEGATE_ZALOPAY_ENDPOINT",
        },
    )
    vietqr = _group(
        env,
        {
            "bank_bin": "FEEGATE_VIETQR_BANK_BIN",
            "account_no": "FEEGATE_VIETQR_ACCOUNT_NO",
            "account_name": "FEEGATE_VIETQR_ACCOUNT_NAME",
            "checksum_key": "FEEGATE_VIETQR_CHECKSUM_KEY",
        },
    )
    if vietqr:
        if not re.fullmatch(r"[0-9]{6}", vietqr["bank_bin"]):
            raise ConfigError("FEEGATE_VIETQR_BANK_BIN must be the bank's 6-digit NAPAS BIN")
        if not re.fullmatch(r"[0-9A-Za-z]{1,19}", vietqr["account_no"]):
            raise ConfigError("FEEGATE_VIETQR_ACCOUNT_NO must be 1 to 19 letters or digits")
    target = _percent(env, "FEEGATE_ONLINE_SHARE_TARGET", Decimal(30))
    return Settings(
        database_url=database_url,
        secret_key=secret_key,
        public_url=(env.get("FEEGATE_PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/"),
        env=mode,
        sandbox=_flag(env.get("FEEGATE_SANDBOX"), False),
        simulators=_flag(env.get("FEEGATE_SIMULATORS"), False),
        sandbox_secret=env.get("FEEGATE_SANDBOX_SECRET") or "sandbox-secret",
        online_share_target=target,
        payment_ttl_minutes=_int(env, "FEEGATE_PAYMENT_TTL_MINUTES", 60),
        sync_delay_seconds=_int(env, "FEEGATE_SYNC_DELAY_SECONDS", 300),
        sync_max_interval_seconds=_int(env, "FEEGATE_SYNC_MAX_INTERVAL_SECONDS", 3600),
        pending_grace_minutes=_int(env, "FEEGATE_PENDING_GRACE_MINUTES", 1440),
        notify_timeout_seconds=_positive_float(env, "FEEGATE_NOTIFY_TIMEOUT_SECONDS", 10.0),
        worker_interval_seconds=_positive_float(env, "FEEGATE_WORKER_INTERVAL_SECONDS", 5.0),
        worker_batch_size=max(1, _int(env, "FEEGATE_WORKER_BATCH_SIZE", 20)),
        worker_lease_seconds=max(30, _int(env, "FEEGATE_WORKER_LEASE_SECONDS", 300)),
        vnpay=VnpaySettings(**vnpay) if vnpay else None,
        momo=(
            MomoSettings(
                **momo, request_type=env.get("FEEGATE_MOMO_REQUEST_TYPE") or "captureWallet"
            )
            if momo
            else None
        ),
        zalopay=ZalopaySettings(**zalopay) if zalopay else None,
        vietqr=VietqrSettings(**vietqr) if vietqr else None,
    )
