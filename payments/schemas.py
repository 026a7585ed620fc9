"""Request bodies of the portal API, validated by pydantic.

The OpenAPI document is generated from these very models, so what is documented is
what is enforced. Amounts are StrictInt: 150000 is accepted, 150000.0 and "150000" are not.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

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
    paid_at: datetime | None = Field(default=None, description="RFC 3339; defaults to now")
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

    reference: Annotated[StrictStr, Field(min_length=1, max_length=128, description="dossier code")]
    procedure_code: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    agency_code: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    amount: DossierTotal
    description: Annotated[StrictStr, Field(max_length=500)] = ""
    return_url: Annotated[StrictStr, Field(min_length=1, max_length=2000)]
    payer: Payer | None = None
    fee_items: list[FeeItemIn] | None = Field(default=None, max_length=50)
    metadata: dict[str, Annotated[StrictStr, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=50
    )
    dossier_received_at: date | None = None
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
