"""The online-payment share and the coverage reports (CONTRACT.md, docs/reports.md).

Both are SQL aggregations (GROUP BY over the indexed columns of `payments`); Python only
sees one row per group, never the payments themselves. Periods are inclusive dates in
Asia/Ho_Chi_Minh, turned into half-open UTC ranges so that the indexes on the stored UTC
times are used as they are.

What counts (the finance officer's version is docs/reports.md):

- a payment counts when it is paid (`status = succeeded`) and its amount — the sum of its
  fee lines — is not zero (an exempt dossier is on neither side of the share);
- it counts once, in the period of its `paid_at` in Vietnam time (basis `paid_at`), or of
  its dossier's receipt date (basis `received_at`: `dossier_received_at`, else the Vietnam
  date of `created_at`);
- it is online when the attempt that paid it (`payments.paid_channel`) was online, and at
  the counter otherwise; a double payment counts once, by its first successful attempt;
- amounts are what was paid (`payments.amount`); refunds are not deducted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from adapters.base import VIETNAM_TZ
from payments.models import Agency, FeeItem, Payment, Procedure
from payments.states import PaymentStatus
from payments.targets import targets_in_force

GROUPS: Final = ("agency", "procedure", "provider", "month")
BASES: Final = ("paid_at", "received_at")
ONLINE: Final = "online"
COUNTER: Final = "counter"
TOTAL_KEY: Final = "total"
TOTAL_LABEL: Final = "Tổng cộng"
COVERAGE_TARGET: Final = 100

PROVIDER_LABELS: Final[dict[str, str]] = {
    "vnpay": "VNPAY",
    "momo": "Ví MoMo",
    "zalopay": "ZaloPay",
    "vietqr": "VietQR (chuyển khoản ngân hàng)",
    "sandbox": "Sandbox (thử nghiệm)",
    COUNTER: "Tại quầy (tiền mặt, thẻ POS, chuyển khoản tại quầy)",
}
PROVIDER_ORDER: Final = ("vnpay", "momo", "zalopay", "vietqr", "sandbox")

SHORT_REASONS: Final[dict[str, str]] = {
    "online_payment_disabled": "Chưa cho phép thanh toán trực tuyến",
    "no_fee_dossiers": "Không có hồ sơ thu phí trong kỳ",
    "no_online_payment": "Có hồ sơ thu phí nhưng chưa có giao dịch trực tuyến",
}


# -- periods --------------------------------------------------------------------------------


def vn_day_start(day: date) -> datetime:
    """00:00 of `day` in Vietnam, as an aware UTC instant."""
    return datetime.combine(day, time.min, tzinfo=VIETNAM_TZ).astimezone(UTC)


def vn_date(moment: datetime) -> date:
    return moment.astimezone(VIETNAM_TZ).date()


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_label(key: str) -> str:
    year, month = key.split("-")
    return f"Tháng {int(month)}/{year}"


@dataclass(frozen=True)
class Period:
    """Inclusive Vietnam dates `first`..`last`."""

    first: date
    last: date

    @property
    def utc_start(self) -> datetime:
        return vn_day_start(self.first)

    @property
    def utc_end(self) -> datetime:
        """Exclusive: 00:00 in Vietnam of the day after `last`."""
        return vn_day_start(self.last + timedelta(days=1))

    def months(self) -> list[date]:
        """First day of every calendar month the period touches."""
        out = []
        month = self.first.replace(day=1)
        while month <= self.last:
            out.append(month)
            month = next_month(month)
        return out


# -- shares ---------------------------------------------------------------------------------


def exact_share(part: int, whole: int) -> Fraction | None:
    """part / whole × 100, exactly; None when there is nothing to divide by."""
    if whole <= 0:
        return None
    return Fraction(part * 100, whole)


def round_share(share: Fraction | None) -> float | None:
    """One decimal, halves rounded up (29.95 -> 30.0): the figure shown, never compared."""
    if share is None:
        return None
    tenths = math.floor(share * 10 + Fraction(1, 2))
    return float(Fraction(tenths, 10))


def meets(share: Fraction | None, target: Decimal | int) -> bool:
    """The unrounded share against the target: 29.96 % shows as 30.0 but does not meet 30."""
    return share is not None and share >= Fraction(target)


def percent_number(target: Decimal | int) -> int | float:
    """The target as JSON shows it: `30`, or `32.5` when the province set a fraction."""
    exact = Decimal(target)
    return int(exact) if exact == exact.to_integral_value() else float(exact)


def share_row(key: str, label: str, paid_count: int, online_count: int, paid_amount: int,
              online_amount: int, target: Decimal) -> dict[str, Any]:
    """A ROW of CONTRACT.md, keys in the documented order."""
    share = exact_share(online_count, paid_count)
    return {
        "key": key,
        "label": label,
        "paid_count": paid_count,
        "online_count": online_count,
        "counter_count": paid_count - online_count,
        "paid_amount": paid_amount,
        "online_amount": online_amount,
        "counter_amount": paid_amount - online_amount,
        "online_share_percent": round_share(share),
        "meets_target": meets(share, target),
    }


# -- which payments count, and in which period ----------------------------------------------


def in_period(period: Period, basis: str) -> ColumnElement[bool]:
    """Sargable: ranges on (agency_code, paid_at | dossier_received_at | created_at)."""
    if basis == "paid_at":
        return and_(Payment.paid_at >= period.utc_start, Payment.paid_at < period.utc_end)
    return or_(
        and_(Payment.dossier_received_at >= period.first,
             Payment.dossier_received_at <= period.last),
        and_(Payment.dossier_received_at.is_(None),
             Payment.created_at >= period.utc_start, Payment.created_at < period.utc_end),
    )


def counted(codes: set[str], period: Period, basis: str) -> list[ColumnElement[bool]]:
    """Paid, fee-bearing (non-zero) payments of these agencies in the period."""
    return [
        Payment.agency_code.in_(sorted(codes)),
        Payment.status == PaymentStatus.SUCCEEDED.value,
        Payment.amount > 0,
        in_period(period, basis),
    ]


def month_of(period: Period, basis: str) -> ColumnElement[Any]:
    """`YYYY-MM` of the payment's period date, in Vietnam time, as portable SQL.

    A CASE over the month boundaries of the period (as UTC instants for timestamps), so no
    dialect's date functions are needed; the rows are already limited to the period.
    """
    months = period.months()

    def by_instant(column: Any) -> ColumnElement[Any]:
        return case(*[(column < vn_day_start(next_month(m)), month_key(m)) for m in months])

    if basis == "paid_at":
        return by_instant(Payment.paid_at)
    by_date = case(*[(Payment.dossier_received_at < next_month(m), month_key(m)) for m in months])
    return case((Payment.dossier_received_at.is_(None), by_instant(Payment.created_at)),
                else_=by_date)


def group_key(group_by: str, period: Period, basis: str) -> Any:
    if group_by == "agency":
        return Payment.agency_code
    if group_by == "procedure":
        return Payment.procedure_code
    if group_by == "provider":
        return case((Payment.paid_channel == COUNTER, literal(COUNTER)),
                    else_=func.coalesce(Payment.paid_provider, literal("unknown")))
    if group_by == "month":
        return month_of(period, basis)
    raise ValueError(f"unknown group_by {group_by!r}")


@dataclass(frozen=True)
class Tally:
    paid_count: int = 0
    online_count: int = 0
    paid_amount: int = 0
    online_amount: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.paid_count + other.paid_count, self.online_count + other.online_count,
                     self.paid_amount + other.paid_amount,
                     self.online_amount + other.online_amount)


def tally(session: Session, codes: set[str], period: Period, basis: str, group_by: str,
          *, by_agency: bool = False) -> dict[tuple[str, str], Tally]:
    """One GROUP BY: {(agency code or "", group key): Tally}."""
    if not codes:
        return {}
    is_online = case((Payment.paid_channel == ONLINE, 1), else_=0)
    inner = (
        select(
            group_key(group_by, period, basis).label("k"),
            Payment.agency_code.label("a"),
            is_online.label("o"),
            Payment.amount.label("m"),
        )
        .where(*counted(codes, period, basis))
        .subquery()
    )
    # grouping on the subquery's column: PostgreSQL would not match a CASE with bound
    # parameters in SELECT against the same CASE in GROUP BY
    keys = [inner.c.a, inner.c.k] if by_agency else [inner.c.k]
    stmt = select(
        *keys,
        func.count(),
        func.coalesce(func.sum(inner.c.o), 0),
        func.coalesce(func.sum(inner.c.m), 0),
        func.coalesce(func.sum(inner.c.o * inner.c.m), 0),
    ).group_by(*keys)
    out: dict[tuple[str, str], Tally] = {}
    for row in session.execute(stmt):
        agency, key = (row[0], row[1]) if by_agency else ("", row[0])
        values = row[2:] if by_agency else row[1:]
        out[(str(agency), str(key))] = Tally(*(int(v) for v in values))
    return out


# -- labels and order -------------------------------------------------------------------------


def agency_names(session: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    rows = session.execute(select(Agency.code, Agency.name).where(Agency.code.in_(sorted(codes))))
    return {code: name for code, name in rows if name}


def procedure_names(session: Session, codes: set[str], agency_codes: set[str]) -> dict[str, str]:
    """A procedure code may be catalogued by several agencies: a catalogued name wins."""
    if not codes or not agency_codes:
        return {}
    rows = session.execute(
        select(Procedure.code, Procedure.name, Procedure.catalogued)
        .join(Agency, Agency.id == Procedure.agency_id)
        .where(Procedure.code.in_(sorted(codes)), Agency.code.in_(sorted(agency_codes)))
        .order_by(Procedure.catalogued.desc(), Agency.code)
    )
    names: dict[str, str] = {}
    for code, name, _catalogued in rows:
        if name and code not in names:
            names[code] = name
    return names


def labels_for(session: Session, group_by: str, keys: set[str],
               agency_codes: set[str]) -> dict[str, str]:
    if group_by == "agency":
        names = agency_names(session, keys)
    elif group_by == "procedure":
        names = procedure_names(session, keys, agency_codes)
    elif group_by == "provider":
        names = {k: PROVIDER_LABELS.get(k, k) for k in keys}
    else:
        names = {k: month_label(k) for k in keys}
    return {k: names.get(k) or k for k in keys}


def sort_key(group_by: str, key: str) -> tuple[int, str]:
    if group_by == "provider":
        if key == COUNTER:
            return (len(PROVIDER_ORDER) + 1, key)
        if key in PROVIDER_ORDER:
            return (PROVIDER_ORDER.index(key), key)
        return (len(PROVIDER_ORDER), key)
    return (0, key)


# -- the online-share report ------------------------------------------------------------------


@dataclass(frozen=True)
class ShareQuery:
    period: Period
    group_by: str = "agency"
    basis: str = "paid_at"


@dataclass
class AgencySheet:
    """One agency's part of a report, for the per-agency sheets of the XLSX export."""

    code: str
    label: str
    group_by: str
    rows: list[dict[str, Any]]
    totals: dict[str, Any]


@dataclass(frozen=True)
class Targets:
    """The online-share targets that judge a report: the one in force on the period's
    last day (`period`), and for a `month` row the one in force on that month's last day
    inside the period (`months`, by `YYYY-MM`)."""

    period: Decimal
    months: dict[str, Decimal] = field(default_factory=dict)

    def for_month(self, key: str) -> Decimal:
        return self.months.get(key, self.period)


def share_targets(session: Session, period: Period, default: Decimal) -> Targets:
    """The dated targets (`feegate targets set`) for the period and each of its months;
    `default` (FEEGATE_ONLINE_SHARE_TARGET) before the first dated target."""
    months = period.months()
    last_days = [min(next_month(m) - timedelta(days=1), period.last) for m in months]
    values = targets_in_force(session, "online_share", [*last_days, period.last], default)
    return Targets(values[-1], {month_key(m): v for m, v in zip(months, values, strict=False)})


def _rows(group_by: str, tallies: dict[str, Tally], labels: dict[str, str], period: Period,
          target: Decimal | Targets) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    targets = target if isinstance(target, Targets) else Targets(target)
    keys = set(tallies)
    if group_by == "month":  # a time series: every month of the period, empty ones too
        keys |= {month_key(m) for m in period.months()}
    rows = []
    total = Tally()
    for key in sorted(keys, key=lambda k: sort_key(group_by, k)):
        t = tallies.get(key, Tally())
        total = total + t
        label = labels.get(key) or (month_label(key) if group_by == "month" else key)
        if group_by == "month":  # each month judged by its own month's target
            month_target = targets.for_month(key)
            row = share_row(key, label, t.paid_count, t.online_count, t.paid_amount,
                            t.online_amount, month_target)
            row["target_percent"] = percent_number(month_target)
            rows.append(row)
            continue
        rows.append(share_row(key, label, t.paid_count, t.online_count, t.paid_amount,
                              t.online_amount, targets.period))
    totals = share_row(TOTAL_KEY, TOTAL_LABEL, total.paid_count, total.online_count,
                       total.paid_amount, total.online_amount, targets.period)
    return rows, totals


def online_share(session: Session, codes: set[str], query: ShareQuery,
                 target: Decimal) -> dict[str, Any]:
    """The report of CONTRACT.md as a JSON-ready dict.

    `target` is the default (FEEGATE_ONLINE_SHARE_TARGET): the dated target in force on
    the period's last day judges the report, each month row its own month's."""
    tallies = {k: t for (_a, k), t in
               tally(session, codes, query.period, query.basis, query.group_by).items()}
    labels = labels_for(session, query.group_by, set(tallies), codes)
    targets = share_targets(session, query.period, target)
    rows, totals = _rows(query.group_by, tallies, labels, query.period, targets)
    return {
        "from": query.period.first.isoformat(),
        "to": query.period.last.isoformat(),
        "group_by": query.group_by,
        "basis": query.basis,
        "target_percent": percent_number(targets.period),
        "rows": rows,
        "totals": totals,
    }


def agency_breakdown(group_by: str) -> str:
    """The grouping of each agency's own sheet: by procedure when the report is by agency."""
    return "procedure" if group_by == "agency" else group_by


def online_share_by_agency(session: Session, codes: set[str], query: ShareQuery,
                           target: Decimal) -> list[AgencySheet]:
    """Each agency with payments in the period, broken down (one more GROUP BY)."""
    group_by = agency_breakdown(query.group_by)
    tallies = tally(session, codes, query.period, query.basis, group_by, by_agency=True)
    agencies = sorted({a for a, _k in tallies})
    names = agency_names(session, set(agencies))
    labels = labels_for(session, group_by, {k for _a, k in tallies}, codes)
    targets = share_targets(session, query.period, target)
    sheets = []
    for agency in agencies:
        own = {k: t for (a, k), t in tallies.items() if a == agency}
        rows, totals = _rows(group_by, own, labels, query.period, targets)
        sheets.append(AgencySheet(agency, names.get(agency, agency), group_by, rows, totals))
    return sheets


# -- the coverage report ----------------------------------------------------------------------


@dataclass
class ProcedureCoverage:
    code: str
    name: str
    catalogued: bool
    fee_bearing: bool
    online_payment_enabled: bool
    fee_dossiers: int
    online_dossiers: int

    @property
    def reasons(self) -> list[str]:
        if not (self.catalogued and self.fee_bearing):
            return []
        out = []
        if not self.online_payment_enabled:
            out.append("online_payment_disabled")
        if self.fee_dossiers == 0:
            out.append("no_fee_dossiers")
        elif self.online_dossiers == 0:
            out.append("no_online_payment")
        return out


@dataclass
class AgencyCoverage:
    code: str
    label: str
    procedures: list[ProcedureCoverage] = field(default_factory=list)

    @property
    def fee_bearing(self) -> list[ProcedureCoverage]:
        return [p for p in self.procedures if p.catalogued and p.fee_bearing]

    @property
    def uncatalogued(self) -> list[ProcedureCoverage]:
        return [p for p in self.procedures if not p.catalogued]

    def counts(self) -> tuple[int, int, int, int]:
        fee = self.fee_bearing
        return (
            len(fee),
            sum(1 for p in fee if p.online_payment_enabled),
            sum(1 for p in fee if p.fee_dossiers > 0),
            sum(1 for p in fee if p.online_dossiers > 0),
        )

    def to_dict(self) -> dict[str, Any]:
        row = coverage_row(self.code, self.label, *self.counts())
        row["short"] = [
            {
                "code": p.code,
                "name": p.name,
                "online_payment_enabled": p.online_payment_enabled,
                "fee_dossiers": p.fee_dossiers,
                "online_dossiers": p.online_dossiers,
                "reasons": p.reasons,
            }
            for p in self.fee_bearing
            if p.reasons
        ]
        row["uncatalogued"] = [
            {"code": p.code, "fee_dossiers": p.fee_dossiers} for p in self.uncatalogued
        ]
        return row


def coverage_row(key: str, label: str, fee_procedures: int, online_enabled: int,
                 with_fee_dossiers: int, paid_online: int) -> dict[str, Any]:
    enabled = exact_share(online_enabled, fee_procedures)
    return {
        "key": key,
        "label": label,
        "fee_procedures": fee_procedures,
        "online_enabled": online_enabled,
        "online_enabled_percent": round_share(enabled),
        "with_fee_dossiers": with_fee_dossiers,
        "with_fee_dossiers_percent": round_share(exact_share(with_fee_dossiers, fee_procedures)),
        "paid_online": paid_online,
        "paid_online_percent": round_share(exact_share(paid_online, with_fee_dossiers)),
        "meets_target": meets(enabled, COVERAGE_TARGET),
        "short": [],
        "uncatalogued": [],
    }


@dataclass
class Coverage:
    period: Period
    fees_on: date
    agencies: list[AgencyCoverage]

    def totals(self) -> dict[str, Any]:
        sums = [0, 0, 0, 0]
        for agency in self.agencies:
            sums = [a + b for a, b in zip(sums, agency.counts(), strict=True)]
        return coverage_row(TOTAL_KEY, TOTAL_LABEL, *sums)

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "fees_on": self.fees_on.isoformat(),
            "target_percent": COVERAGE_TARGET,
            "rows": [a.to_dict() for a in self.agencies],
            "totals": self.totals(),
        }


def fee_in_force(on: date) -> ColumnElement[bool]:
    """The procedure has a non-zero fee item in force on `on` (a correlated EXISTS)."""
    return exists(
        select(FeeItem.id).where(
            FeeItem.procedure_id == Procedure.id,
            FeeItem.amount > 0,
            or_(FeeItem.effective_from.is_(None), FeeItem.effective_from <= on),
            or_(FeeItem.effective_to.is_(None), FeeItem.effective_to >= on),
        )
    )


def coverage(session: Session, codes: set[str], period: Period, today: date) -> Coverage:
    """Per agency: fee-bearing procedures, payable online, with dossiers, paid online.

    Dossiers are counted by their receipt date (766 counts by it): a fee-bearing payment
    (not cancelled, non-zero) whose dossier was received in the period; it is paid online
    when it was paid through an online attempt, whenever that happened.
    """
    fees_on = min(period.last, today)
    procedures = session.execute(
        select(Agency.code, Procedure.id, Procedure.code, Procedure.name, Procedure.catalogued,
               Procedure.online_payment_enabled, fee_in_force(fees_on).label("fee"))
        .join(Agency, Agency.id == Procedure.agency_id)
        .where(Agency.code.in_(sorted(codes)))
        .order_by(Agency.code, Procedure.code)
    ).all() if codes else []
    online_ref = case(
        (and_(Payment.status == PaymentStatus.SUCCEEDED.value, Payment.paid_channel == ONLINE),
         Payment.reference),
    )
    dossiers: dict[int, tuple[int, int]] = {}
    if codes:
        stmt = (
            select(Payment.procedure_id, func.count(func.distinct(Payment.reference)),
                   func.count(func.distinct(online_ref)))
            .where(
                Payment.agency_code.in_(sorted(codes)),
                Payment.status != PaymentStatus.CANCELLED.value,
                Payment.amount > 0,
                in_period(period, "received_at"),
            )
            .group_by(Payment.procedure_id)
        )
        for procedure_id, fee_count, online_count in session.execute(stmt):
            if procedure_id is not None:
                dossiers[int(procedure_id)] = (int(fee_count), int(online_count))
    names = agency_names(session, codes)
    by_code = {code: AgencyCoverage(code, names.get(code, code)) for code in sorted(codes)}
    for agency_code, pid, code, name, catalogued, enabled, fee in procedures:
        fee_count, online_count = dossiers.get(pid, (0, 0))
        by_code[agency_code].procedures.append(ProcedureCoverage(
            code=code, name=name or code, catalogued=bool(catalogued), fee_bearing=bool(fee),
            online_payment_enabled=bool(enabled), fee_dossiers=fee_count,
            online_dossiers=online_count,
        ))
    return Coverage(period, fees_on, list(by_code.values()))
