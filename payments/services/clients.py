"""Portal clients: creation (key shown once) and API-key authentication."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.errors import FieldError, Unauthorized, ValidationFailed
from payments.ids import api_key, public_id, webhook_secret
from payments.models import Client, ClientAgency
from payments.records import record_agency
from payments.urls import UnsafeURL, check_notify_url

AGENCY_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


@dataclass(frozen=True)
class NewClient:
    id: str
    api_key: str
    webhook_secret: str


def hash_key(key: str) -> str:
    """SHA-256 is enough: keys are 256-bit random, so no slow hash is needed."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def validate_notify_url(url: str, *, env: str = "production") -> str:
    """Parsed as a browser parses it; https (http for loopback); no private host in production.

    `env` is `Settings.env`: private and link-local addresses are allowed only in "dev" and
    "test" (payments.urls explains the rules and why).
    """
    try:
        check_notify_url(url, env=env)
    except UnsafeURL as exc:
        raise ValidationFailed(
            f"notify URL is not allowed: {exc.reason}", [FieldError("notify_url", exc.reason)]
        ) from None
    return url


def create_client(
    session: Session,
    *,
    name: str,
    agencies: list[str],
    return_hosts: list[str],
    notify_url: str | None = None,
    payment_ttl_minutes: int | None = None,
    env: str = "production",
) -> NewClient:
    if not name.strip():
        raise ValidationFailed("name is required")
    if not agencies:
        raise ValidationFailed("at least one --agency is required")
    for code in agencies:
        if not AGENCY_CODE.match(code):
            raise ValidationFailed(f"malformed agency code: {code!r}")
    for host in return_hosts:
        if not HOST.match(host) and host not in LOOPBACK_HOSTS:
            raise ValidationFailed(f"malformed return host: {host!r}")
    if notify_url:
        validate_notify_url(notify_url, env=env)
    key = api_key()
    secret = webhook_secret()
    client = Client(
        id=public_id("cli", 16),
        name=name.strip(),
        api_key_hash=hash_key(key),
        api_key_prefix=key[:12],
        webhook_secret=secret,
        notify_url=notify_url,
        return_hosts=sorted({h.lower() for h in return_hosts}),
        payment_ttl_minutes=payment_ttl_minutes,
    )
    for code in dict.fromkeys(agencies):
        client.agencies.append(ClientAgency(agency_code=code))
    for code in sorted(set(agencies)):  # one order for every writer: no deadlock
        record_agency(session, code)  # insert-or-get: recorded bare when not catalogued
    session.add(client)
    session.flush()
    return NewClient(id=client.id, api_key=key, webhook_secret=secret)


def authenticate(session: Session, authorization: str | None) -> Client:
    scheme, _, key = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():  # schemes are case-insensitive (RFC 9110)
        raise Unauthorized("send 'Authorization: Bearer <api_key>'")
    key = key.strip()
    client = session.scalar(select(Client).where(Client.api_key_hash == hash_key(key)))
    if client is None:
        raise Unauthorized("the API key is not valid")
    return client
