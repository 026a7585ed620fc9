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
    satisfaction_target: Decimal = Decimal(84)  # FEEGATE_SATISFACTION_TARGET
    payment_ttl_minutes: int = 60
    sync_delay_seconds: int = 300
    sync_max_interval_seconds: int = 3600
    pending_grace_minutes: int = 1440
    notify_timeout_seconds: float = 10.0
    worker_interval_seconds: float = 5.0
    worker_batch_size: int = 20
    worker_lease_seconds: int = 300
    statement_max_bytes: int = 128 * 1024 * 1024  # a 1,000,000-line statement fits
    statement_max_rows: int = 1_000_000
    statement_inline_bytes: int = 4 * 1024 * 1024  # larger uploads: matched by the worker
    upload_max_cell_chars: int = 128 * 1024  # one cell of a statement or catalog file
    catalog_max_rows: int = 200_000
    idempotency_lease_seconds: int = 60  # then a retry may take over an in-flight key
    rate_limit_api: str = "50/second"  # per API key on /api/v1 (invalid keys: per IP)
    rate_limit_checkout: str = "300/minute"  # per client IP on the citizen pages
    rate_limit_lookup: str = "10/minute"  # per client IP on POST /pay/lookup (guessing)
    rate_limit_lookup_reference: str = "30/hour"  # per dossier reference, same form
    rate_limit_prefix: str = "feegate"  # namespace of the limiter's keys in Redis
    redis_url: str | None = None  # shared limiter storage; memory (per process) when unset
    metrics_token: str | None = field(default=None, repr=False)  # bearer for /metrics
    metrics_port: int | None = None  # also serve /metrics there (gunicorn master)
    staff_2fa: str = "optional"  # "required": admin and finance must enrol TOTP to go on
    encryption_key: str | None = field(default=None, repr=False)  # merchant account secrets
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


def _rate(env: Mapping[str, str], name: str, default: str) -> str:
    """A rate such as `50/second`, `120/minute` or `1000 per hour` (the `limits` notation)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"[0-9]+ *(/|per) *[0-9]* *(second|minute|hour|day)s?( *[;,] *.+)?", raw):
        raise ConfigError(f"{name} must be a rate such as 50/second or 120/minute, got {raw!r}")
    return raw


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


def _staff_2fa(raw: str | None) -> str:
    value = (raw or "").strip().lower() or "optional"
    if value not in {"optional", "required"}:
        raise ConfigError(f"FEEGATE_STAFF_2FA must be optional or required, got {raw!r}")
    return value


def logging_options(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(level, format) of every process's log: read before anything else is configured.

    `FEEGATE_LOG_FORMAT`: `json` (one object a line) or `text`; `text` by default only
    under `FEEGATE_ENV=dev` (make run)."""
    env = os.environ if env is None else env
    level = (env.get("FEEGATE_LOG_LEVEL") or "INFO").strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(f"FEEGATE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    default = "text" if env.get("FEEGATE_ENV", "").strip() == "dev" else "json"
    fmt = (env.get("FEEGATE_LOG_FORMAT") or default).strip().lower()
    if fmt not in {"json", "text"}:
        raise ConfigError(f"FEEGATE_LOG_FORMAT must be json or text, got {fmt!r}")
    return level, fmt


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
        satisfaction_target=_percent(env, "FEEGATE_SATISFACTION_TARGET", Decimal(84)),
        payment_ttl_minutes=_int(env, "FEEGATE_PAYMENT_TTL_MINUTES", 60),
        sync_delay_seconds=_int(env, "FEEGATE_SYNC_DELAY_SECONDS", 300),
        sync_max_interval_seconds=_int(env, "FEEGATE_SYNC_MAX_INTERVAL_SECONDS", 3600),
        pending_grace_minutes=_int(env, "FEEGATE_PENDING_GRACE_MINUTES", 1440),
        notify_timeout_seconds=_positive_float(env, "FEEGATE_NOTIFY_TIMEOUT_SECONDS", 10.0),
        worker_interval_seconds=_positive_float(env, "FEEGATE_WORKER_INTERVAL_SECONDS", 5.0),
        worker_batch_size=max(1, _int(env, "FEEGATE_WORKER_BATCH_SIZE", 20)),
        worker_lease_seconds=max(30, _int(env, "FEEGATE_WORKER_LEASE_SECONDS", 300)),
        statement_max_bytes=max(1024, _int(env, "FEEGATE_STATEMENT_MAX_BYTES", 128 << 20)),
        statement_max_rows=max(1, _int(env, "FEEGATE_STATEMENT_MAX_ROWS", 1_000_000)),
        statement_inline_bytes=max(0, _int(env, "FEEGATE_STATEMENT_INLINE_BYTES", 4 << 20)),
        upload_max_cell_chars=max(64, _int(env, "FEEGATE_UPLOAD_MAX_CELL_CHARS", 128 * 1024)),
        catalog_max_rows=max(1, _int(env, "FEEGATE_CATALOG_MAX_ROWS", 200_000)),
        idempotency_lease_seconds=max(10, _int(env, "FEEGATE_IDEMPOTENCY_LEASE_SECONDS", 60)),
        rate_limit_api=_rate(env, "FEEGATE_RATE_LIMIT_API", "50/second"),
        rate_limit_checkout=_rate(env, "FEEGATE_RATE_LIMIT_CHECKOUT", "300/minute"),
        rate_limit_lookup=_rate(env, "FEEGATE_RATE_LIMIT_LOOKUP", "10/minute"),
        rate_limit_lookup_reference=_rate(env, "FEEGATE_RATE_LIMIT_LOOKUP_REFERENCE",
                                          "30/hour"),
        rate_limit_prefix=(env.get("FEEGATE_RATE_LIMIT_PREFIX") or "feegate").strip(),
        redis_url=(env.get("FEEGATE_REDIS_URL") or "").strip() or None,
        metrics_token=(env.get("FEEGATE_METRICS_TOKEN") or "").strip() or None,
        metrics_port=_int(env, "FEEGATE_METRICS_PORT", 0) or None,
        staff_2fa=_staff_2fa(env.get("FEEGATE_STAFF_2FA")),
        encryption_key=(env.get("FEEGATE_ENCRYPTION_KEY") or "").strip() or None,
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
