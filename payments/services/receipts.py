"""The citizen's receipt (biên nhận thanh toán): written once per paid payment, from the
ledger's facts, the first time it is shown.

Why on first show rather than when the payment succeeds: the one write path for money
(`payments.services.attempts.apply_result`) stays as it is, and a payment paid before
this release gets its receipt all the same. The facts copied are those the ledger
recorded when the payment succeeded (amount, fee lines, the attempt that paid it, its
provider, the provider's transaction id, `paid_at`), so when it is written makes no
difference to what it says. Two first views at once: the unique `payment_id` keeps one,
the other reads it.

The legal e-receipt (biên lai điện tử, Decree 254/2026 Art. 23; template and series per
Circular 91/2026) is the collecting agency's: `record_ereceipt` stores the template,
series and number its system issued, and the receipt page shows them once known.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from payments.errors import Conflict, FieldError, InvalidState, NotFound
from payments.models import Agency, Attempt, Payment, Procedure, Receipt
from payments.states import AttemptStatus, PaymentStatus

CODE_BYTES: Final = 10  # 80 random bits: 16 base32 characters
CODE_RE: Final = re.compile(r"^[A-Z2-7]{16}$")

# -- the amount in Vietnamese words ---------------------------------------------------------

DIGITS: Final = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
GROUP_UNITS: Final = ("", "nghìn", "triệu")
BILLION: Final = 10**9


def _three(n: int, full: bool) -> list[str]:
    """One group of three digits (0 < n < 1000). `full`: a group after a higher one, read
    with its hundreds even when they are 0 ("không trăm") and "linh" before a lone unit."""
    hundreds, tens, units = n // 100, n // 10 % 10, n % 10
    words: list[str] = []
    if hundreds or full:
        words += [DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units:
            if words:
                words.append("linh")
            words.append(DIGITS[units])
        return words
    if tens == 1:
        words.append("mười")
    else:
        words += [DIGITS[tens], "mươi"]
    if units == 1:
        words.append("mốt" if tens > 1 else "một")
    elif units == 4:
        words.append("tư" if tens > 1 else "bốn")
    elif units == 5:
        words.append("lăm")
    elif units:
        words.append(DIGITS[units])
    return words


def _below_billion(n: int, full: bool) -> list[str]:
    """0 <= n < 10^9; empty groups are left out with their unit."""
    groups = [n // 10**6, n // 1000 % 1000, n % 1000]
    words: list[str] = []
    for i, group in enumerate(groups):
        if group == 0:
            continue
        words += _three(group, full or bool(words))
        unit = GROUP_UNITS[2 - i]
        if unit:
            words.append(unit)
    return words


def number_words(n: int) -> str:
    """A non-negative integer in Vietnamese words, as financial documents write it:
    1_250_000 -> "một triệu hai trăm năm mươi nghìn", 1_005 -> "một nghìn không trăm linh
    năm", 21 -> "hai mươi mốt", 15 -> "mười lăm", 24 -> "hai mươi tư", 10**12 -> "một nghìn
    tỷ". Above a billion the part before "tỷ" is read the same way (recursively)."""
    if n < 0:
        raise ValueError("a negative amount has no words here")
    if n == 0:
        return DIGITS[0]
    return " ".join(_words(n, full=False))


def _words(n: int, full: bool) -> list[str]:
    if n < BILLION:
        return _below_billion(n, full)
    high, low = divmod(n, BILLION)
    words = [*_words(high, full), "tỷ"]
    if low:
        words += _below_billion(low, True)
    return words


def amount_words(amount: int) -> str:
    """Đồng in words: "một triệu hai trăm năm mươi nghìn đồng"."""
    return f"{number_words(amount)} đồng"


# -- the receipt row -----------------------------------------------------------------------


def new_code() -> str:
    """16 characters of base32 (A–Z, 2–7): 80 random bits, easy to read out and type."""
    return base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode("ascii")


def normalize_code(text: str) -> str | None:
    """What a citizen may type: any case, with spaces or dashes between the groups."""
    code = re.sub(r"[\s-]", "", text).upper()
    return code if CODE_RE.match(code) else None


def display_code(code: str) -> str:
    """ABCD-EFGH-IJKL-MNOP: in groups of four, as printed."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def paying_attempt(payment: Payment) -> Attempt | None:
    """The attempt that paid: the first succeeded one (a double payment counts once)."""
    paid = [a for a in payment.attempts if a.status == AttemptStatus.SUCCEEDED.value]
    if not paid:
        return None
    far = datetime.max.replace(tzinfo=payment.created_at.tzinfo)
    return min(paid, key=lambda a: (a.paid_at or a.completed_at or far, a.created_at, a.id))


def _names(session: Session, payment: Payment) -> tuple[str, str]:
    agency = session.scalar(select(Agency.name).where(Agency.code == payment.agency_code))
    procedure = None
    if payment.procedure_id:
        procedure = session.scalar(
            select(Procedure.name).where(Procedure.id == payment.procedure_id)
        )
    return agency or "", procedure or ""


def paid_payment(session: Session, payment_id: str) -> Payment:
    """The payment if it succeeded; NotFound (404) for an unknown id, InvalidState (409)
    before it succeeded."""
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound("payment not found")
    if payment.status != PaymentStatus.SUCCEEDED.value or payment.paid_at is None:
        raise InvalidState("the payment has not succeeded yet: there is no receipt")
    return payment


def receipt_for(session: Session, payment_id: str) -> Receipt:
    """The payment's receipt, written now from the ledger's facts if this is the first
    time. The caller commits."""
    payment = paid_payment(session, payment_id)
    existing = session.scalar(select(Receipt).where(Receipt.payment_id == payment.id))
    if existing is not None:
        return existing
    attempt = paying_attempt(payment)
    agency_name, procedure_name = _names(session, payment)
    provider = (attempt.provider if attempt else None) or payment.paid_provider or ""
    txn = None
    if attempt is not None:
        txn = attempt.provider_txn_id or attempt.receipt_no or attempt.provider_reference
    assert payment.paid_at is not None
    receipt = Receipt(
        payment_id=payment.id,
        verification_code=new_code(),
        attempt_id=attempt.id if attempt else None,
        agency_code=payment.agency_code,
        agency_name=agency_name,
        procedure_code=payment.procedure_code,
        procedure_name=procedure_name,
        reference=payment.reference,
        amount=payment.amount,
        fee_lines=[
            {"name": item.name, "kind": item.kind, "amount": item.amount}
            for item in payment.fee_items
        ],
        provider=provider,
        provider_txn_id=txn,
        paid_at=payment.paid_at,
    )
    try:
        with session.begin_nested():
            session.add(receipt)
    except IntegrityError:
        # another request wrote it first (or, once in 2^80, the code was taken: the next
        # view writes one with a new code)
        found = session.scalar(select(Receipt).where(Receipt.payment_id == payment.id))
        if found is None:
            raise
        return found
    return receipt


def receipt_by_code(session: Session, text: str) -> Receipt | None:
    code = normalize_code(text)
    if code is None:
        return None
    return session.scalar(select(Receipt).where(Receipt.verification_code == code))


def mask_reference(reference: str) -> str:
    """Enough for the holder to recognise the dossier, not enough for a stranger to find
    it: the first 4 and the last 4 characters kept (fewer for a short one), the rest `*`."""
    n = len(reference)
    keep = 4 if n > 12 else max(1, n // 4)
    if n <= 2 * keep:
        return reference[:1] + "*" * (n - 1)
    return reference[:keep] + "*" * (n - 2 * keep) + reference[-keep:]


# -- the agency's e-receipt ------------------------------------------------------------------

TEMPLATE_PATTERN: Final = r"^(EBL0[12]|[0-9]{2}BLP[0-9]-[0-9]{3})$"
"""`EBL01`/`EBL02` (Circular 91/2026), or a legacy template such as `01BLP0-001`."""
SERIES_PATTERN: Final = r"^([0-9]{2}T[ABCDEGHKLMNPQRSTUVXY]{2}|[A-Z]{2}-[0-9]{2}E)$"
"""`26TAB` (2-digit year, T, two letters of the Circular), or a legacy `AA-26E`."""
NUMBER_PATTERN: Final = r"^0*[1-9][0-9]{0,7}$"
"""1 to 99,999,999 (Decree 254/2026 Art. 23.2.c: at most 8 digits)."""


@dataclass(frozen=True)
class EReceipt:
    template: str
    series: str
    number: str
    issued_at: datetime | None = None


class NumberTaken(Conflict):
    code = "ereceipt-number-taken"
    title = "This e-receipt number is already recorded"


def record_ereceipt(session: Session, payment_id: str, data: EReceipt, now: datetime) -> Receipt:
    """Store the e-receipt the agency issued; the same numbers again are accepted (a retry),
    other numbers for a receipt already numbered are a 409."""
    receipt = receipt_for(session, payment_id)
    given = (data.template, data.series, data.number)
    if receipt.ereceipt_number is not None:
        if (receipt.ereceipt_template, receipt.ereceipt_series, receipt.ereceipt_number) != given:
            raise InvalidState("this payment already has another e-receipt number")
        return receipt
    try:
        with session.begin_nested():
            receipt.ereceipt_template, receipt.ereceipt_series, receipt.ereceipt_number = given
            receipt.ereceipt_issued_at = data.issued_at or now
    except IntegrityError as exc:
        raise NumberTaken(
            f"e-receipt {data.template} {data.series} {data.number} is already recorded for "
            "another payment of this agency",
            [FieldError("number", "already recorded for another payment")],
        ) from exc
    return receipt
