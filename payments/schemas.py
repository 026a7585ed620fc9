"""Request bodies of the portal API, validated by pydantic.

The OpenAPI document is generated from these very models, so what is documented is
what is enforced. Amounts are StrictInt: 150000 is accepted, 150000.0 and "150000" are not.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

Amount = Annotated[StrictInt, Field(gt=0, le=100_000_000_000, description="integer đồng")]
DossierTotal = Annotated[
    StrictInt,
    Field(
        ge=0,
        le=100_000_000_000,
        description="integer đồng, above 0; 0 only for an exempt dossier whose every fee "
        "line is 0 (recorded as settled, left out of the online-share report)",
    ),
]
FeeAmount = Annotated[
    StrictInt, Field(ge=0, le=100_000_000_000, description="integer đồng; 0 = exempt")
]

# Identifiers from portals (docs/api.md "Identifier shapes"). Strict on safety, lenient on
# shape: the official forms (dossier `000.00.01.H32-261126-0001`, procedure `1.001234`,
# `2.000815.000.00.00.H55`, `1.013229.01`, agency `000.00.01.H32` or `H32.12`) all fit, and
# so do local and legacy codes; nothing that starts with a sign, a space or `=`, no spaces,
# quotes, brackets or control characters (a code becomes a report key in CSV and XLSX files).
REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
NO_CONTROL_PATTERN = r"^[^\x00-\x1F\x7F]*$"
Reference = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=128,
        pattern=REFERENCE_PATTERN,
        description="dossier code (mã hồ sơ), e.g. `000.00.01.H32-261126-0001`: a letter or "
        "digit, then letters, digits, `.`, `-`, `_` or `/`",
    ),
]
ProcedureCode = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=64,
        pattern=CODE_PATTERN,
        description="procedure code (mã TTHC), e.g. `1.001234`, `2.000815.000.00.00.H55`: "
        "a letter or digit, then letters, digits, `.`, `-` or `_`",
    ),
]
AgencyCode = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=64,
        pattern=CODE_PATTERN,
        description="agency code, e.g. `000.00.01.H32` or `H32.12`: a letter or digit, then "
        "letters, digits, `.`, `-` or `_`",
    ),
]
MetadataKey = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=CODE_PATTERN)]


def _keys_by_name(schema: dict[str, Any]) -> None:
    """pydantic documents a key pattern as patternProperties, which lets other keys through;
    what is enforced is: every key matches (propertyNames), every value is such a text."""
    values = schema.pop("patternProperties", {}).get(CODE_PATTERN)
    if values is not None:
        schema["additionalProperties"] = values
    schema.setdefault("propertyNames", {})["pattern"] = CODE_PATTERN
MetadataValue = Annotated[
    StrictStr,
    Field(max_length=500, pattern=NO_CONTROL_PATTERN, description="no control characters"),
]

RFC3339_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _rfc3339_text(value: object) -> object:
    """JSON has no time type: a time is a string, RFC 3339 with an offset; never a number
    (which pydantic would read as Unix seconds), nor "1764000000", nor a bare date.
    A datetime object passes: only Python callers have one, a JSON body never does."""
    if isinstance(value, datetime) or (
        isinstance(value, str) and RFC3339_DATE_TIME.fullmatch(value)
    ):
        return value
    raise PydanticCustomError(
        "rfc3339_date_time",
        "must be an RFC 3339 date-time string with an offset, e.g. 2026-11-26T09:30:00+07:00",
    )


def _iso_date_text(value: object) -> object:
    """A JSON date is a string `YYYY-MM-DD`, never a number (a date object from Python)."""
    if isinstance(value, date) or (isinstance(value, str) and ISO_DATE.fullmatch(value)):
        return value
    raise PydanticCustomError("iso_date", "must be a date string YYYY-MM-DD")


Rfc3339DateTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]
"""`2026-11-26T09:30:00+07:00` or `…Z`: a string with an offset (format date-time)."""
IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]
"""`2026-11-20`: a string (format date), never a number."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Payer(Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    email: (
        Annotated[StrictStr, Field(max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None
    ) = None
    phone: Annotated[StrictStr, Field(max_length=20, pattern=r"^\+?[0-9 .-]{6,20}$")] | None = None


class FeeItemIn(Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    kind: Literal["fee", "charge"] = Field(description="fee = phí, charge = lệ phí")
    amount: FeeAmount


class CounterIn(Strict):
    method: Literal["cash", "pos", "transfer"]
    receipt_no: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    paid_at: Rfc3339DateTime | None = Field(
        default=None,
        description="when the money was taken: RFC 3339 with an offset, from 2000-01-01 to "
        "now (5 minutes of clock skew tolerated); defaults to now",
    )
    officer: Annotated[StrictStr, Field(max_length=255)] | None = None


class PaymentCreate(Strict):
    """A fee obligation for one dossier.

    Without `fee_items`, a catalogued procedure's fee lines in force today must add up to
    `amount` (422 otherwise) and become the payment's lines; a procedure whose online
    payment is disabled is refused (422) unless `counter` records it as paid at the
    counter; a procedure code not in the catalog yet is accepted and marked uncatalogued.
    An exempt dossier (`amount` 0, every fee line 0, from `fee_items` or the catalog) is
    recorded already settled: there is nothing to pay, and reports leave it out.
    """

    reference: Reference
    procedure_code: ProcedureCode
    agency_code: AgencyCode | None = None
    amount: DossierTotal
    description: Annotated[StrictStr, Field(max_length=500)] = ""
    # not trimmed: a URL with edge whitespace is refused, never silently repaired
    return_url: Annotated[
        StrictStr, StringConstraints(strip_whitespace=False), Field(min_length=1, max_length=2000)
    ]
    payer: Payer | None = None
    fee_items: list[FeeItemIn] | None = Field(default=None, max_length=50)
    metadata: dict[MetadataKey, MetadataValue] = Field(
        default_factory=dict, max_length=50, json_schema_extra=_keys_by_name
    )
    dossier_received_at: IsoDate | None = None
    counter: CounterIn | None = None


class AttemptCreate(Strict):
    provider: Literal["vnpay", "momo", "zalopay", "vietqr", "sandbox"]
    locale: Literal["vi", "en"] = "vi"


class RefundCreate(Strict):
    amount: Amount
    reason: Annotated[StrictStr, Field(min_length=1, max_length=500)]


class CancelRequest(Strict):
    reason: Annotated[StrictStr, Field(max_length=500)] | None = None


# -- answers (documented in the OpenAPI document; serialize.py produces them) -------------


class AttemptOut(BaseModel):
    id: str
    object: Literal["attempt"] = "attempt"
    provider: str
    channel: Literal["online", "counter"]
    status: Literal["pending", "succeeded", "failed", "cancelled", "expired"]
    amount: int
    reference: str
    provider_reference: str
    provider_transaction_id: str | None = None
    result_code: str | None = None
    result_message: str | None = None
    redirect_url: str | None = None
    qr_payload: str | None = None
    qr_image_url: str | None = None
    deeplink: str | None = None
    qr_code_url: str | None = None
    created_at: datetime
    completed_at: datetime | None = None
    paid_at: datetime | None = None


class RefundOut(BaseModel):
    id: str
    object: Literal["refund"] = "refund"
    amount: int
    reason: str
    status: Literal["pending", "succeeded", "failed"]
    result_code: str | None = None
    result_message: str | None = None
    created_at: datetime


class PaymentOut(BaseModel):
    id: str
    object: Literal["payment"] = "payment"
    reference: str
    agency_code: str
    procedure_code: str
    amount: int
    currency: Literal["VND"] = "VND"
    description: str
    status: Literal["created", "pending", "succeeded", "failed", "cancelled", "expired"]
    refunded_amount: int
    return_url: str
    checkout_url: str
    payer: dict[str, str]
    fee_items: list[FeeItemIn]
    metadata: dict[str, str]
    dossier_received_at: date | None = None
    paid_at: datetime | None = None
    paid_provider: str | None = None
    flags: list[str]
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    attempts: list[AttemptOut]
    refunds: list[RefundOut]


class PaymentList(BaseModel):
    items: list[PaymentOut]
    next_cursor: str | None


class ProblemFieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemFieldError] | None = None


class ReportRow(BaseModel):
    key: str
    label: str
    paid_count: int
    online_count: int
    counter_count: int
    paid_amount: int
    online_amount: int
    counter_amount: int
    online_share_percent: float | None = Field(
        description="share of counts, one decimal (not money)"
    )
    meets_target: bool


class OnlineShareReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    group_by: Literal["agency", "procedure", "provider", "month"]
    basis: Literal["paid_at", "received_at"] = "paid_at"
    target_percent: int | float
    rows: list[ReportRow]
    totals: ReportRow


class CoverageShortfall(BaseModel):
    """A fee-bearing procedure that falls short, and why."""

    code: str
    name: str
    online_payment_enabled: bool
    fee_dossiers: int
    online_dossiers: int
    reasons: list[Literal["online_payment_disabled", "no_fee_dossiers", "no_online_payment"]]


class CoverageUncatalogued(BaseModel):
    code: str
    fee_dossiers: int


class CoverageRow(BaseModel):
    key: str = Field(description="agency code; `total` for the totals row")
    label: str
    fee_procedures: int = Field(description="catalogued procedures with a non-zero fee in force")
    online_enabled: int
    online_enabled_percent: float | None
    with_fee_dossiers: int = Field(description="of those, with fee-bearing dossiers (766 3.5)")
    with_fee_dossiers_percent: float | None
    paid_online: int = Field(description="of those, with a dossier paid online (766 3.5b)")
    paid_online_percent: float | None
    meets_target: bool = Field(description="every fee-bearing procedure payable online")
    short: list[CoverageShortfall]
    uncatalogued: list[CoverageUncatalogued]


class CoverageReport(BaseModel):
    """GET /api/v1/reports/coverage (docs/reports.md)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    fees_on: date = Field(description="the day whose fees in force decide fee-bearing")
    target_percent: int
    rows: list[CoverageRow]
    totals: CoverageRow


class NotificationData(BaseModel):
    payment: PaymentOut


class Notification(BaseModel):
    """What feegate POSTs to a client's notify URL, signed with Feegate-Signature."""

    id: str
    type: Literal[
        "payment.succeeded",
        "payment.failed",
        "payment.expired",
        "payment.cancelled",
        "refund.succeeded",
        "refund.failed",
    ]
    created_at: datetime
    data: NotificationData
