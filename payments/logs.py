"""Logging of every process: JSON lines (python-json-logger), a request id, redaction.

`configure()` is called once by wsgi.py. Each record carries the request id of the HTTP
request it was written for (`Feegate-Request-Id`, payments.web.request_id) when there is
one. Before anything is written, the message and its string fields are redacted: e-mail
addresses and phone numbers are masked, API keys, webhook secrets and long hexadecimal or
base64 strings (signatures, HMACs, tokens) are replaced, so a log never carries a secret,
a signature, a full phone number or a full e-mail address (docs/security.md).
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID: ContextVar[str | None] = ContextVar("feegate_request_id", default=None)

EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# Vietnamese mobile and landline numbers, with or without +84 / 84, spaces or dots inside
PHONE = re.compile(r"(?<![\w.])(?:\+?84|0)(?:[ .-]?\d){8,9}(?![\w.])")
SECRETISH = re.compile(
    r"\b(?:fgk|whsec|sk|pk)_[A-Za-z0-9_-]{8,}"  # our API keys and webhook secrets
    r"|\b[0-9a-fA-F]{32,}\b"  # hex HMACs and hashes (vnp_SecureHash, MoMo/ZaloPay mac, …)
    # base64 signatures and tokens: 40+ characters mixing digits, upper and lower case
    # (a long snake_case name in a traceback is none of these)
    r"|\b(?=[A-Za-z0-9+/_-]*\d)(?=[A-Za-z0-9+/_-]*[A-Z])(?=[A-Za-z0-9+/_-]*[a-z])"
    r"[A-Za-z0-9+/_-]{40,}={0,2}"
)
SIGNED_FIELD = re.compile(
    r"(?i)\b(signature|secure_?hash|vnp_SecureHash|mac|checksum|authorization|password|"
    r"secret|token|api_key)(\s*[=:]\s*)(\"?)[^\s\",;&]+"
)

STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


def _mask_phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "*" * (len(digits) - 3) + digits[-3:]


def redact(text: str) -> str:
    text = SIGNED_FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}[redacted]", text)
    text = SECRETISH.sub("[redacted]", text)
    text = EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return PHONE.sub(_mask_phone, text)


class Redact(logging.Filter):
    """Adds `request_id`, and redacts the message (arguments included) and string extras."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        for key, value in list(record.__dict__.items()):
            if key not in STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class Formatter(JsonFormatter):
    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
            json_ensure_ascii=False,
        )

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        super().add_fields(log_record, record, message_dict)
        for key in ("exc_info", "stack_info"):  # formatted here from the record, not exc_text
            if isinstance(log_record.get(key), str):
                log_record[key] = redact(log_record[key])
        request_id = getattr(record, "request_id", None)
        if request_id:
            log_record["request_id"] = request_id
        else:
            log_record.pop("request_id", None)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: str = "INFO", fmt: str = "json") -> None:
    """One handler on the root logger, to stderr: JSON lines, or text (`fmt="text"`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Formatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(Redact())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "feegate", False)]:
        root.removeHandler(old)
    handler.feegate = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
