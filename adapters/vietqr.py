"""VietQR: a NAPAS 247 bank transfer started by scanning a QR code, confirmed by a webhook.

Protocol facts come from /work/shared/providers/README.md §5 and the vectors that
npm `vietnam-qr-pay`, PyPI `vietqr-generator` and PyPI `payos` produced
(tests/adapters/vectors/vietqr.json). The choices that are ours:

The QR (start)
    An EMVCo merchant-presented payload, `ID(2) + LEN(2, decimal) + VALUE`, in the order
    the reference library uses: 00 `01`, 01 `12` (dynamic: an amount is present), 38 the
    NAPAS template (00 `A000000727`, 01 = 00 bank BIN + 01 account number, 02 `QRIBFTTA`),
    53 `704` (VND), 54 the amount in đồng, 58 `VN`, 62/08 the purpose of transaction,
    then 63: `6304` + the CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of everything
    before it, including `6304`, as **4 uppercase hex digits, zero-padded** (trap 10:
    `0BFB`, never `XBFB` or `BFB`). Tags 52, 59 and 60 are left out, as bank apps do for
    a transfer to an account; the bank app looks the account name up through NAPAS.

    The purpose (62/08, at most 25 ASCII characters) is the attempt's reference alone
    (`FG` + 16 letters and digits, 18 characters): the shortest text that survives the
    bank apps that cut, upper-case or prefix the description, and the key that matches
    the transfer back to its attempt. It is also the attempt's `provider_reference`.
    There is no provider order to create: `start` is pure and never fails for a
    configured account.

Confirmation (parse_callback)
    NAPAS 247 tells the payee nothing. The beneficiary bank (under contract) or an
    intermediary watching the account POSTs a webhook in payOS's format:
    `{code, desc, success, data{orderCode, amount, description, accountNumber, reference,
    transactionDateTime, currency, …}, signature}` with
    `signature = hex(HMAC-SHA256(checksum_key, "k=v&…" over `data`, keys sorted))`.
    Values are rendered as payOS's SDKs do: null (and the strings "null", "undefined")
    as "", booleans as true/false, lists and objects as compact JSON with sorted keys,
    everything else as its text; the body is read as UTF-8.

    Only `data` is signed. The transfer is matched by the `FG…` token found in
    `data.description` (bank apps add prefixes and suffixes: "MBVCB.3278614213.FGXX….CT
    tu …"), first as a whole word, else anywhere; `data.amount` is in đồng.

    A transfer either arrived or it did not: there is no "failed transfer" to report. A
    verified notification that does not say success (`success` false, `code` or
    `data.code` other than "00") is therefore never a FAILED outcome; it reads as PENDING
    with no amount, so it changes nothing and the intermediary still gets its 200.
    A verified credit with no `FG…` token (someone else's transfer into the account,
    the intermediary's test ping) reads with an empty provider reference, which names no
    attempt: feegate acknowledges it, stores it raw and changes nothing. A credit that
    landed on another account than the configured one (neither `accountNumber` nor
    `virtualAccountNumber` matches) is not proof that our QR was paid: UNKNOWN, no amount.

Acknowledgement
    `{"success": true}` with 200 for every authentic notification, whatever feegate did
    with it (an unknown order or a wrong amount is ours to flag, not the sender's to
    retry); 400 for a bad signature or a malformed body; 500 for a fault of ours, so the
    sender tries again.

What a bank transfer does not have
    No browser return: the citizen stays on feegate's page, which refreshes until the
    webhook arrives, so `parse_return` raises InvalidSignature and `return_reference`
    answers None. No status query: a plain bank account has no API to ask, so `query`
    answers PENDING (never FAILED or UNKNOWN: a transfer may still arrive, and the expiry
    job waits FEEGATE_PENDING_GRACE_MINUTES past expiry before it gives up on it). No
    refunds through the provider (`supports_refund` is False): staff refund a transfer
    by a manual transfer back.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from adapters._crypto import hmac_sha256_hex, same_hex
from adapters._json import reject_duplicate_keys
from adapters.base import (
    VIETNAM_TZ,
    Ack,
    AckResponse,
    Adapter,
    InboundRequest,
    Outcome,
    ProviderResult,
    QueryRequest,
    StartRequest,
    StartResult,
    StatementLine,
)
from adapters.errors import InvalidSignature, MalformedMessage

NAPAS_GUID = "A000000727"
SERVICE_TO_ACCOUNT = "QRIBFTTA"
SERVICE_TO_CARD = "QRIBFTTC"
PAYLOAD_FORMAT = "01"
STATIC_QR = "11"  # no amount: the payer types it
DYNAMIC_QR = "12"  # the amount is in the code
CURRENCY_VND = "704"
COUNTRY_VN = "VN"
CRC_TAG = "6304"
PURPOSE_MAX = 25  # 62/08, NAPAS
AMOUNT_MAX_DIGITS = 13  # tag 54 holds at most 13 characters
MIN_AMOUNT = 1  # đồng; NAPAS 247 sets no minimum of its own
MAX_AMOUNT = 499_999_999  # NAPAS 247 fast transfers: below 500 million đồng per transaction
SUCCESS_CODE = "00"
NO_REFERENCE = ""
"""The provider reference of a verified credit that names no attempt: it matches none."""

MAX_CALLBACK_BYTES = 64 * 1024  # a payOS webhook is under 1 kB

REFERENCE_RE = re.compile(r"FG[A-Z0-9]{6,16}")
"""Our attempt references (payments.ids: `FG` + 16); shorter ones only in tests."""
_TOKEN_WORD_RE = re.compile(r"(?<![A-Z0-9])FG[A-Z0-9]{6,16}")
_TOKEN_ANYWHERE_RE = re.compile(r"FG[A-Z0-9]{6,16}")
_BIN_RE = re.compile(r"[0-9]{6}")
_ACCOUNT_RE = re.compile(r"[0-9A-Za-z]{1,19}")
_TAG_RE = re.compile(r"[0-9]{2}")
_DIGITS_RE = re.compile(r"[0-9]{1,19}")

BANK_NAMES: dict[str, str] = {
    "970405": "Agribank",
    "970415": "VietinBank",
    "970418": "BIDV",
    "970436": "Vietcombank",
    "970416": "ACB",
    "970422": "MB",
    "970407": "Techcombank",
    "970432": "VPBank",
    "970423": "TPBank",
    "970403": "Sacombank",
    "970441": "VIB",
    "970443": "SHB",
    "970431": "Eximbank",
    "970437": "HDBank",
    "970448": "OCB",
    "970426": "MSB",
    "970440": "SeABank",
    "970449": "LPBank",
}
"""Short names of a few NAPAS members, for the checkout page; others show their BIN."""

_ACK_MESSAGES: dict[Ack, str] = {
    Ack.INVALID_SIGNATURE: "invalid signature",
    Ack.MALFORMED: "malformed notification",
    Ack.RETRY: "temporary error, please retry",
}


@dataclass(frozen=True)
class VietqrConfig:
    """The collecting agency's bank account and the webhook's HMAC key."""

    bank_bin: str  # the beneficiary bank's 6-digit NAPAS BIN, e.g. 970436 (Vietcombank)
    account_no: str  # the account the citizen transfers to
    account_name: str  # shown on the checkout page; not in the QR
    checksum_key: str = field(repr=False)  # payOS-style webhook key: keep it out of logs

    def __post_init__(self) -> None:
        if not _BIN_RE.fullmatch(self.bank_bin):
            raise ValueError("bank_bin must be the bank's 6-digit NAPAS BIN")
        if not _ACCOUNT_RE.fullmatch(self.account_no):
            raise ValueError("account_no must be 1 to 19 letters or digits, no spaces")
        if not self.checksum_key:
            raise ValueError("checksum_key must not be empty")


# -- the QR payload -------------------------------------------------------------------------


def tlv(tag: str, value: str) -> str:
    """One EMVCo field: 2-digit id, 2-digit decimal length, value (at most 99 chars)."""
    if not _TAG_RE.fullmatch(tag):
        raise ValueError(f"bad EMVCo tag {tag!r}")
    if not value.isascii():
        raise ValueError(f"tag {tag}: VietQR values must be ASCII")
    if not 0 < len(value) <= 99:
        raise ValueError(f"tag {tag}: a value holds 1 to 99 characters")
    return f"{tag}{len(value):02d}{value}"


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor."""
    return binascii.crc_hqx(data, 0xFFFF)


def crc_hex(payload_before_crc: str) -> str:
    """The CRC value of tag 63 over everything before it, `6304` included: 4 uppercase hex."""
    return f"{crc16_ccitt_false(payload_before_crc.encode('ascii')):04X}"


def build_payload(
    *,
    bank_bin: str,
    account_no: str,
    amount: int | None = None,
    purpose: str | None = None,
    bill_number: str | None = None,
    service: str = SERVICE_TO_ACCOUNT,
) -> str:
    """A VietQR payload, byte for byte as npm `vietnam-qr-pay` 1.5.1 builds it."""
    if service not in (SERVICE_TO_ACCOUNT, SERVICE_TO_CARD):
        raise ValueError(f"unknown NAPAS service {service!r}")
    beneficiary = tlv("00", bank_bin) + tlv("01", account_no)
    napas = tlv("00", NAPAS_GUID) + tlv("01", beneficiary) + tlv("02", service)
    parts = [
        tlv("00", PAYLOAD_FORMAT),
        tlv("01", STATIC_QR if amount is None else DYNAMIC_QR),
        tlv("38", napas),
        tlv("53", CURRENCY_VND),
    ]
    if amount is not None:
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError("amount must be a positive int of đồng")
        if len(str(amount)) > AMOUNT_MAX_DIGITS:
            raise ValueError("amount does not fit tag 54")
        parts.append(tlv("54", str(amount)))
    parts.append(tlv("58", COUNTRY_VN))
    additional = ""
    if bill_number:
        additional += tlv("01", bill_number)
    if purpose:
        if len(purpose) > PURPOSE_MAX:
            raise ValueError(f"the purpose holds at most {PURPOSE_MAX} characters")
        additional += tlv("08", purpose)
    if additional:
        parts.append(tlv("62", additional))
    body = "".join(parts) + CRC_TAG
    return body + crc_hex(body)


def parse_tlv(text: str) -> list[tuple[str, str]]:
    """Split an EMVCo string into (tag, value) pairs; ValueError when it does not add up."""
    fields: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        header = text[position : position + 4]
        if len(header) < 4 or not header.isdigit():
            raise ValueError(f"bad TLV header at {position}")
        length = int(header[2:])
        value = text[position + 4 : position + 4 + length]
        if len(value) != length:
            raise ValueError(f"tag {header[:2]} is cut short")
        fields.append((header[:2], value))
        position += 4 + length
    return fields


def crc_is_valid(payload: str) -> bool:
    """True when the payload ends in `6304` + the CRC of everything before the CRC value."""
    if len(payload) < 8 or payload[-8:-4] != CRC_TAG:
        return False
    return payload[-4:] == crc_hex(payload[:-4])


# -- the webhook signature ------------------------------------------------------------------


def _signed_value(value: object) -> str:
    """How payOS's SDKs render one value of `data` in the signed string."""
    if value is None or value in ("null", "NULL", "undefined"):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        items = [_sorted_object(item) for item in value]
        return json.dumps(items, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, dict):
        return json.dumps(_sorted_object(value), separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _sorted_object(value: object) -> object:
    if isinstance(value, dict):
        return {key: value[key] for key in sorted(value)}
    return value


def signature_raw(data: Mapping[str, object]) -> str:
    """`k1=v1&k2=v2…` over the `data` object, keys sorted (payOS)."""
    return "&".join(f"{key}={_signed_value(data[key])}" for key in sorted(data))


def sign(checksum_key: str, data: Mapping[str, object]) -> str:
    return hmac_sha256_hex(checksum_key, signature_raw(data))


def find_reference(description: str) -> str | None:
    """The first `FG…` token in a transfer description, as a word first, else anywhere."""
    text = description.upper()
    found = _TOKEN_WORD_RE.search(text) or _TOKEN_ANYWHERE_RE.search(text)
    return found.group(0) if found else None


def bank_label(bank_bin: str) -> str:
    name = BANK_NAMES.get(bank_bin)
    return f"{name} (BIN {bank_bin})" if name else f"BIN {bank_bin}"


# -- the adapter ----------------------------------------------------------------------------


class VietqrAdapter(Adapter):
    name: ClassVar[str] = "vietqr"
    supports_refund: ClassVar[bool] = False
    min_amount = MIN_AMOUNT
    max_amount = MAX_AMOUNT

    def __init__(self, config: VietqrConfig) -> None:
        self.config = config

    def start(self, request: StartRequest) -> StartResult:
        """A dynamic QR for the amount, with the attempt reference as the transfer purpose."""
        reference = request.reference
        if not REFERENCE_RE.fullmatch(reference):
            # parse_callback could never find it in a bank's description again
            raise ValueError(f"VietQR needs an FG reference of letters and digits: {reference!r}")
        payload = build_payload(
            bank_bin=self.config.bank_bin,
            account_no=self.config.account_no,
            amount=request.amount,
            purpose=reference,
        )
        return StartResult(
            provider_reference=reference,
            qr_payload=payload,
            extra={
                "bank_bin": self.config.bank_bin,
                "account_no": self.config.account_no,
                "account_name": self.config.account_name,
                "transfer_description": reference,
            },
        )

    def parse_callback(self, request: InboundRequest) -> ProviderResult:
        body = self._read_body(request.body)
        data = body.get("data")
        if not isinstance(data, dict):
            raise MalformedMessage("webhook has no data object")
        signature = body.get("signature")
        if not isinstance(signature, str) or not signature:
            raise InvalidSignature("webhook has no signature")
        if not same_hex(sign(self.config.checksum_key, data), signature):
            raise InvalidSignature("webhook signature does not verify")
        return self._result(body, data)

    def parse_return(self, request: InboundRequest) -> ProviderResult:
        """A bank transfer has no browser return: nothing a browser brings is believed."""
        raise InvalidSignature("a VietQR transfer has no browser return")

    def return_reference(self, request: InboundRequest) -> str | None:
        return None

    def acknowledge(self, ack: Ack) -> AckResponse:
        if ack in (Ack.RECORDED, Ack.ALREADY_CONFIRMED, Ack.UNKNOWN_ORDER, Ack.AMOUNT_MISMATCH):
            return _json(200, {"success": True})
        status = 500 if ack is Ack.RETRY else 400
        return _json(status, {"success": False, "message": _ACK_MESSAGES[ack]})

    def query(self, request: QueryRequest) -> ProviderResult:
        """A bank account has no status API: the answer is always "still waiting"."""
        return ProviderResult(
            provider_reference=request.provider_reference,
            outcome=Outcome.PENDING,
            amount=None,
            result_code="",
            message="no status query for a bank transfer; waiting for the bank's notification",
        )

    def parse_statement_line(self, row: Mapping[str, Any]) -> StatementLine:
        """One credit line of the account's statement (the bank's export).

        Assumed columns: `description` (the transfer description, where the `FG…` token
        is looked for), `amount` (int đồng, credit), optional `reference` (the bank's
        transaction reference) and `transactionDateTime` (GMT+7). The reconciliation key
        is the token and the amount, as for the webhook.
        """
        description = row.get("description")
        if not isinstance(description, str):
            raise MalformedMessage("statement row has no description")
        reference = find_reference(description)
        if reference is None:
            raise MalformedMessage("statement row names no feegate reference")
        try:
            amount = _amount(_strip(row.get("amount")))
        except ValueError as exc:
            raise MalformedMessage(f"statement row {reference}: {exc}") from None
        if amount <= 0:
            raise MalformedMessage(f"statement row {reference}: amount must be positive")
        return StatementLine(
            provider_reference=reference,
            amount=amount,
            provider_txn_id=_text(row.get("reference")) or None,
            occurred_at=parse_time(row.get("transactionDateTime")),
        )

    # -- helpers ------------------------------------------------------------------------

    @staticmethod
    def _read_body(raw: bytes) -> dict[str, Any]:
        if len(raw) > MAX_CALLBACK_BYTES:
            raise MalformedMessage("webhook body is too large")
        try:
            body = json.loads(raw.decode("utf-8"), object_pairs_hook=reject_duplicate_keys)
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedMessage(f"webhook body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise MalformedMessage("webhook body is not a JSON object")
        return body

    def _result(self, body: Mapping[str, Any], data: Mapping[str, Any]) -> ProviderResult:
        description = _text(data.get("description"))
        reference = find_reference(description) or NO_REFERENCE
        code = _text(data.get("code")) or _text(body.get("code"))
        message = _text(data.get("desc")) or _text(body.get("desc"))
        txn_id = _text(data.get("reference")) or None
        success = (
            body.get("success") is True
            and _text(body.get("code")) == SUCCESS_CODE
            and data.get("code", SUCCESS_CODE) == SUCCESS_CODE
        )
        if not success:
            return ProviderResult(reference, Outcome.PENDING, None, code, message)
        if not self._our_account(data):
            return ProviderResult(
                reference, Outcome.UNKNOWN, None, code, "credit to another account: " + message
            )
        try:
            amount = _amount(data.get("amount"))
        except ValueError as exc:
            raise MalformedMessage(f"webhook amount: {exc}") from None
        return ProviderResult(
            provider_reference=reference,
            outcome=Outcome.SUCCEEDED,
            amount=amount,
            result_code=code,
            message=message,
            provider_txn_id=txn_id,
            paid_at=parse_time(data.get("transactionDateTime")),
        )

    def _our_account(self, data: Mapping[str, Any]) -> bool:
        """The credit landed on the configured account (or its virtual account)."""
        account = _text(data.get("accountNumber")).replace(" ", "")
        virtual = _text(data.get("virtualAccountNumber")).replace(" ", "")
        if not account and not virtual:
            return True  # a bank's own webhook may not repeat the account: the key is ours
        return self.config.account_no in (account, virtual)


def parse_time(value: object) -> datetime | None:
    """`2023-02-04 18:25:00` (GMT+7, payOS) or ISO 8601; naive times are Vietnam time."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=VIETNAM_TZ)


def _amount(value: object) -> int:
    """An amount in đồng: a JSON integer, or a string of ASCII digits."""
    if isinstance(value, bool):
        raise ValueError("not a number")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("negative")
        return value
    if isinstance(value, str) and _DIGITS_RE.fullmatch(value):
        return int(value)
    raise ValueError(f"not an integer of đồng: {value!r}")


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _json(status: int, payload: Mapping[str, object]) -> AckResponse:
    return AckResponse(
        status=status,
        body=json.dumps(payload).encode("utf-8"),
        content_type="application/json",
    )
