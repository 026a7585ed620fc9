"""Per-agency merchant accounts (CONTRACT.md "Operations"; DESIGN.md "New nouns").

An agency's own account at a provider wins over its nearest ancestor's (Agency.parent_code),
which wins over the environment's default (`FEEGATE_<PROVIDER>_*`). The keys are those of
the environment variables, lower case without the prefix. Secret keys are encrypted at rest
with `FEEGATE_ENCRYPTION_KEY` (comma-separated Fernet keys: the first encrypts, every one
decrypts, so a key can be rotated); `list_accounts` never returns a secret.

Adapters stay pure: they are built here from the same config objects as the default ones
and cached per (account id, updated_at), so an edited account is picked up at once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.base import Adapter
from adapters.momo import MomoAdapter, MomoConfig
from adapters.vietqr import VietqrAdapter, VietqrConfig
from adapters.vnpay import VnpayAdapter, VnpayConfig
from adapters.zalopay import ZalopayAdapter, ZalopayConfig
from payments.config import ConfigError, Settings
from payments.errors import DomainError
from payments.models import Agency, MerchantAccount

ENCRYPTION_VARIABLE = "FEEGATE_ENCRYPTION_KEY"


@dataclass(frozen=True)
class KeySpec:
    required: tuple[str, ...]
    secret: tuple[str, ...]
    optional: tuple[str, ...] = ()


KEYS: dict[str, KeySpec] = {
    "vnpay": KeySpec(("tmn_code", "hash_secret", "pay_url", "api_url"), ("hash_secret",)),
    "momo": KeySpec(("partner_code", "access_key", "secret_key", "endpoint"),
                    ("access_key", "secret_key"), ("request_type",)),
    "zalopay": KeySpec(("app_id", "key1", "key2", "endpoint"), ("key1", "key2")),
    "vietqr": KeySpec(("bank_bin", "account_no", "account_name", "checksum_key"),
                      ("checksum_key",)),
}
PROVIDERS = tuple(KEYS)


class AccountError(DomainError):
    """A merchant account cannot be stored or used; the message says why."""


def _fernet(settings: Settings) -> MultiFernet:
    raw = settings.encryption_key or ""
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    if not keys:
        raise AccountError(f"{ENCRYPTION_VARIABLE} is not set: merchant account secrets "
                           "are encrypted at rest with it (Fernet.generate_key())")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ConfigError(f"{ENCRYPTION_VARIABLE} must be comma-separated Fernet keys "
                          "(32 url-safe base64-encoded bytes each)") from exc


def encrypt_secrets(settings: Settings, secrets: Mapping[str, str]) -> str:
    token = _fernet(settings).encrypt(json.dumps(dict(secrets), sort_keys=True).encode())
    return token.decode("ascii")


def decrypt_secrets(settings: Settings, token: str) -> dict[str, str]:
    try:
        plain = _fernet(settings).decrypt(token.encode("ascii"))
    except InvalidToken:
        raise AccountError(f"a merchant account's secrets cannot be decrypted with "
                           f"{ENCRYPTION_VARIABLE}") from None
    values: dict[str, str] = json.loads(plain)
    return values


def parse_pairs(provider: str, pairs: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` arguments checked against the provider's keys (all required ones)."""
    spec = KEYS.get(provider)
    if spec is None:
        raise AccountError(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise AccountError(f"{pair.split('=')[0]!r} is not KEY=VALUE")
        values[key] = value.strip()
    allowed = (*spec.required, *spec.optional)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise AccountError(f"unknown key(s) for {provider}: {', '.join(unknown)} "
                           f"(allowed: {', '.join(allowed)})")
    missing = [key for key in spec.required if not values.get(key)]
    if missing:
        raise AccountError(f"missing key(s) for {provider}: {', '.join(missing)}")
    return values


def set_account(session: Session, settings: Settings, agency_code: str, provider: str,
                pairs: Sequence[str]) -> MerchantAccount:
    """Store (or replace) the agency's account at the provider; secrets encrypted."""
    values = parse_pairs(provider, pairs)
    token = encrypt_secrets(settings, {k: v for k, v in values.items()
                                       if k in KEYS[provider].secret})
    config = {k: v for k, v in values.items() if k not in KEYS[provider].secret}
    _adapter_from(provider, config, {k: values[k] for k in KEYS[provider].secret})  # validates
    account = session.scalar(select(MerchantAccount).where(
        MerchantAccount.agency_code == agency_code, MerchantAccount.provider == provider))
    if account is None:
        account = MerchantAccount(agency_code=agency_code, provider=provider)
        session.add(account)
    account.config = config
    account.secrets = token
    session.flush()
    return account


def rotate_secrets(session: Session, settings: Settings) -> int:
    """Re-encrypt every account's secrets with the first key of `FEEGATE_ENCRYPTION_KEY`
    (after which the older keys may be dropped); the number of accounts rewritten."""
    fernet = _fernet(settings)
    rows = session.scalars(select(MerchantAccount).order_by(MerchantAccount.id)).all()
    for row in rows:
        try:
            row.secrets = fernet.rotate(row.secrets.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise AccountError(f"the {row.provider} account of {row.agency_code} cannot be "
                               f"decrypted with {ENCRYPTION_VARIABLE}") from None
    session.flush()
    return len(rows)


def remove_account(session: Session, agency_code: str, provider: str) -> bool:
    account = session.scalar(select(MerchantAccount).where(
        MerchantAccount.agency_code == agency_code, MerchantAccount.provider == provider))
    if account is None:
        return False
    session.delete(account)
    return True


def list_accounts(session: Session) -> list[dict[str, Any]]:
    """Every account without its secrets: which secret keys are set, never their values."""
    rows = session.scalars(select(MerchantAccount).order_by(
        MerchantAccount.agency_code, MerchantAccount.provider)).all()
    return [{
        "agency": row.agency_code,
        "provider": row.provider,
        "config": dict(row.config or {}),
        "secrets_set": list(KEYS[row.provider].secret) if row.secrets else [],
        "updated_at": row.updated_at.isoformat(),
    } for row in rows]


# -- resolution -----------------------------------------------------------------------------


def ancestry(session: Session, agency_code: str) -> list[str]:
    """The agency, then its parent, grandparent… (cycle-safe)."""
    chain = [agency_code]
    code: str | None = agency_code
    while code is not None:
        code = session.scalar(select(Agency.parent_code).where(Agency.code == code))
        if code is None or code in chain:
            break
        chain.append(code)
    return chain


def resolve_accounts(session: Session, agency_code: str) -> dict[str, MerchantAccount]:
    """Per provider, the account of the agency or of its nearest ancestor with one."""
    chain = ancestry(session, agency_code)
    rows = session.scalars(select(MerchantAccount).where(
        MerchantAccount.agency_code.in_(chain))).all()
    rank = {code: i for i, code in enumerate(chain)}
    found: dict[str, MerchantAccount] = {}
    for row in sorted(rows, key=lambda r: rank[r.agency_code]):
        found.setdefault(row.provider, row)
    return found


# -- adapters -------------------------------------------------------------------------------


def _adapter_from(provider: str, config: Mapping[str, str],
                  secrets: Mapping[str, str]) -> Adapter:
    values = {**config, **secrets}
    if provider == "vnpay":
        return VnpayAdapter(VnpayConfig(tmn_code=values["tmn_code"],
                                        hash_secret=values["hash_secret"],
                                        pay_url=values["pay_url"], api_url=values["api_url"]))
    if provider == "momo":
        return MomoAdapter(MomoConfig(partner_code=values["partner_code"],
                                      access_key=values["access_key"],
                                      secret_key=values["secret_key"],
                                      endpoint=values["endpoint"],
                                      request_type=values.get("request_type")
                                      or "captureWallet"))
    if provider == "zalopay":
        return ZalopayAdapter(ZalopayConfig(app_id=values["app_id"], key1=values["key1"],
                                            key2=values["key2"], endpoint=values["endpoint"]))
    if provider == "vietqr":
        return VietqrAdapter(VietqrConfig(bank_bin=values["bank_bin"],
                                          account_no=values["account_no"],
                                          account_name=values["account_name"],
                                          checksum_key=values["checksum_key"]))
    raise AccountError(f"unknown provider {provider!r}")


class AdapterCache:
    """Adapters of merchant accounts, keyed by (account id, updated_at) and the stored
    token (two edits within one clock tick still differ); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: dict[int, tuple[tuple[datetime, str], Adapter]] = {}

    def adapter(self, settings: Settings, account: MerchantAccount) -> Adapter:
        version = (account.updated_at, account.secrets + json.dumps(account.config or {},
                                                                    sort_keys=True))
        with self._lock:
            hit = self._built.get(account.id)
            if hit is not None and hit[0] == version:
                return hit[1]
        built = _adapter_from(account.provider, account.config or {},
                              decrypt_secrets(settings, account.secrets))
        with self._lock:
            self._built[account.id] = (version, built)
        return built
