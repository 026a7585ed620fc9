"""The national index's payment indicators (Decision 766), per unit of the agency tree.

CONTRACT.md, "The national index (Decision 766), per unit of the agency tree", is the
definition; docs/reports.md explains it for finance staff, with a worked example.

- A **dossier** is a distinct (`agency_code`, `reference`); its **receipt date** is the
  earliest of its payments' (`dossier_received_at`, else the Vietnam date of `created_at`).
- A **fee dossier** of the period: received in the period, with at least one payment of a
  non-zero amount, whatever the payments' status. An **online-paid dossier**: a fee
  dossier with at least one succeeded online attempt (on a non-zero payment).
- Procedures are counted by code, once per unit's subtree: `fee_procedures` are the
  subtree's catalogued procedures with a non-zero fee item in force on any day of the
  period; `procedures_with_fee_dossiers` those of them with a fee dossier (a non-zero
  payment of a fee dossier names the procedure); `procedures_paid_online` those of these
  with an online-paid dossier.
- Every unit counts itself and every unit below it. Dossiers belong to one agency each, so
  their counts add up the tree; procedure codes are united, never added.

SQL does the counting (GROUP BY per agency, and per agency and procedure code); Python
only sees one row per agency or per (agency, procedure) and rolls them up the tree.
Ratios are exact fractions; the figures shown are Decimals (two decimals, halves up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from payments.agency_tree import Unit, units
from payments.models import Agency, Attempt, FeeItem, Payment, Procedure
from payments.reports import ONLINE, Period, in_period
from payments.states import PaymentStatus

COLUMNS: Final = (
    "agency_code", "label", "parent_code", "level", "fee_dossiers", "online_paid_dossiers",
    "indicator_3_6_percent", "fee_procedures", "procedures_with_fee_dossiers",
    "indicator_3_5_percent", "procedures_paid_online", "indicator_3_5b_percent", "points",
)
PERCENT_COLUMNS: Final = ("indicator_3_6_percent", "indicator_3_5_percent",
                          "indicator_3_5b_percent")
HUNDREDTH: Final = Decimal("0.01")
THRESHOLD: Final = Fraction(4, 5)  # 3.5 and 3.5b get their full 2 points at 80 %


def ratio(part: int, whole: int) -> Fraction | None:
    return None if whole <= 0 else Fraction(part, whole)


def _half_up(value: Fraction) -> Decimal:
    """An exact fraction with two decimals, halves up (33.335 -> 33.34): floor(value × 100
    + 1/2) / 100, never through a float."""
    hundredths = math.floor(value * 100 + Fraction(1, 2))
    return (Decimal(hundredths) / 100).quantize(HUNDREDTH)


def percent(value: Fraction | None) -> Decimal | None:
    return None if value is None else _half_up(value * 100)


def points(r36: Fraction | None, r35: Fraction | None, r35b: Fraction | None) -> Decimal:
    """6 × 3.6 + 2 × min(1, 3.5 / 0.8) + 2 × min(1, 3.5b / 0.8), of 10, from the unrounded
    ratios; a null ratio adds 0."""
    total = Fraction(0)
    if r36 is not None:
        total += 6 * r36
    if r35 is not None:
        total += 2 * min(Fraction(1), r35 / THRESHOLD)
    if r35b is not None:
        total += 2 * min(Fraction(1), r35b / THRESHOLD)
    return _half_up(total)


@dataclass
class UnitFigures:
    unit: Unit
    fee_dossiers: int = 0
    online_paid_dossiers: int = 0
    fee_procedures: set[str] = field(default_factory=set)
    with_fee_dossiers: set[str] = field(default_factory=set)
    paid_online: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        fee_procedures = len(self.fee_procedures)
        with_dossiers = self.with_fee_dossiers & self.fee_procedures
        paid_online = self.paid_online & with_dossiers
        r36 = ratio(self.online_paid_dossiers, self.fee_dossiers)
        r35 = ratio(len(with_dossiers), fee_procedures)
        r35b = ratio(len(paid_online), len(with_dossiers))
        return {
            "agency_code": self.unit.code,
            "label": self.unit.name,
            "parent_code": self.unit.parent_code,
            "level": self.unit.level,
            "fee_dossiers": self.fee_dossiers,
            "online_paid_dossiers": self.online_paid_dossiers,
            "indicator_3_6_percent": percent(r36),
            "fee_procedures": fee_procedures,
            "procedures_with_fee_dossiers": len(with_dossiers),
            "indicator_3_5_percent": percent(r35),
            "procedures_paid_online": len(paid_online),
            "indicator_3_5b_percent": percent(r35b),
            "points": points(r36, r35, r35b),
        }


@dataclass
class NationalIndex:
    period: Period
    rows: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """Decimals as they are (the JSON edge writes them as numbers: `to_json`)."""
        return {"from": self.period.first.isoformat(), "to": self.period.last.isoformat(),
                "rows": self.rows}

    def to_json(self) -> dict[str, Any]:
        """JSON numbers: a two-decimal Decimal below 10¹⁵ prints the same as a float."""
        return {
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "rows": [{k: (float(v) if isinstance(v, Decimal) else v) for k, v in row.items()}
                     for row in self.rows],
        }


# -- the queries -------------------------------------------------------------------------------


def _online_paid() -> Any:
    """1 when the payment was paid (also a second time) through an online attempt."""
    succeeded = PaymentStatus.SUCCEEDED.value
    return case(
        (Payment.amount <= 0, 0),
        (and_(Payment.status == succeeded, Payment.paid_channel == ONLINE), 1),
        # a double payment whose first success was at the counter (rare): one uncorrelated
        # set of payment ids, read once
        (and_(Payment.status == succeeded,
              Payment.id.in_(select(Attempt.payment_id).where(Attempt.channel == ONLINE,
                                                             Attempt.status == succeeded))), 1),
        else_=0,
    )


def _received_before(period: Period) -> Any:
    """1 when the payment's receipt date is before the period."""
    return case(
        (and_(Payment.dossier_received_at.is_not(None),
              Payment.dossier_received_at < period.first), 1),
        (and_(Payment.dossier_received_at.is_(None), Payment.created_at < period.utc_start), 1),
        else_=0,
    )


def fee_dossiers_query(codes: list[str], period: Period) -> Any:
    """The fee dossiers of the period, one row each: (agency, reference, online 0|1, and
    the lowest and highest procedure code of its non-zero payments — the same code for
    nearly every dossier).

    Candidates are the dossiers with a payment received in the period (the indexes on
    (agency_code, dossier_received_at | created_at)); all their payments then decide: none
    received before the period (the earliest receipt date is in it), one of a non-zero
    amount, one paid online.
    """
    candidates = (
        select(Payment.agency_code.label("a"), Payment.reference.label("r"))
        .where(Payment.agency_code.in_(codes), in_period(period, "received_at"))
        .distinct()
        .subquery("candidates")
    )
    online = func.max(_online_paid())
    fee_code = case((Payment.amount > 0, Payment.procedure_code))
    return (
        select(Payment.agency_code.label("a"), Payment.reference.label("r"),
               online.label("online"), func.min(fee_code).label("pmin"),
               func.max(fee_code).label("pmax"))
        .join(candidates, and_(candidates.c.a == Payment.agency_code,
                               candidates.c.r == Payment.reference))
        .group_by(Payment.agency_code, Payment.reference)
        .having(func.max(_received_before(period)) == 0,
                func.max(case((Payment.amount > 0, 1), else_=0)) == 1)
        .subquery("dossiers")
    )


def _fee_procedures(session: Session, codes: list[str], period: Period) -> list[tuple[str, str]]:
    """(agency, procedure code) of catalogued procedures with a non-zero fee item in force
    on at least one day of the period."""
    bore_fee = exists(select(FeeItem.id).where(
        FeeItem.procedure_id == Procedure.id,
        FeeItem.amount > 0,
        or_(FeeItem.effective_from.is_(None), FeeItem.effective_from <= period.last),
        or_(FeeItem.effective_to.is_(None), FeeItem.effective_to >= period.first),
    ))
    rows = session.execute(
        select(Agency.code, Procedure.code)
        .join(Agency, Agency.id == Procedure.agency_id)
        .where(Agency.code.in_(codes), Procedure.catalogued.is_(True), bore_fee)
        .distinct()
    ).all()
    return [(str(a), str(p)) for a, p in rows]


def national_index(session: Session, roots: set[str], period: Period) -> NationalIndex:
    """One row per unit of the roots' subtrees, each counting its whole subtree."""
    tree = units(session, roots)
    if not tree:
        return NationalIndex(period, [])
    codes = sorted({code for unit in tree for code in unit.subtree})
    dossiers = fee_dossiers_query(codes, period)

    # one GROUP BY: dossiers per agency and procedure code (a dossier whose non-zero
    # payments name two codes, a rare case, is one group with its lowest and highest code)
    per_agency: dict[str, tuple[int, int]] = {}
    with_dossiers: dict[str, set[str]] = {}
    paid_online: dict[str, set[str]] = {}
    several_codes = False
    for agency, low, high, count, online in session.execute(
        select(dossiers.c.a, dossiers.c.pmin, dossiers.c.pmax, func.count(),
               func.coalesce(func.sum(dossiers.c.online), 0))
        .group_by(dossiers.c.a, dossiers.c.pmin, dossiers.c.pmax)
    ):
        code = str(agency)
        before = per_agency.get(code, (0, 0))
        per_agency[code] = (before[0] + int(count), before[1] + int(online))
        with_dossiers.setdefault(code, set()).add(str(low))
        if online:
            paid_online.setdefault(code, set()).add(str(low))
        several_codes = several_codes or low != high

    if several_codes:  # every code such a dossier names, through its non-zero payments
        for agency, procedure, online in session.execute(
            select(dossiers.c.a, Payment.procedure_code, func.max(dossiers.c.online))
            .join(Payment, and_(Payment.agency_code == dossiers.c.a,
                                Payment.reference == dossiers.c.r))
            .where(Payment.amount > 0, dossiers.c.pmin != dossiers.c.pmax)
            .group_by(dossiers.c.a, Payment.procedure_code)
        ):
            with_dossiers.setdefault(str(agency), set()).add(str(procedure))
            if online:
                paid_online.setdefault(str(agency), set()).add(str(procedure))

    fee_procedures: dict[str, set[str]] = {}
    for agency, procedure in _fee_procedures(session, codes, period):
        fee_procedures.setdefault(agency, set()).add(procedure)

    rows = []
    for unit in tree:
        figures = UnitFigures(unit)
        for code in unit.subtree:
            count, online = per_agency.get(code, (0, 0))
            figures.fee_dossiers += count
            figures.online_paid_dossiers += online
            figures.fee_procedures |= fee_procedures.get(code, set())
            figures.with_fee_dossiers |= with_dossiers.get(code, set())
            figures.paid_online |= paid_online.get(code, set())
        rows.append(figures.to_dict())
    return NationalIndex(period, rows)


# -- the documented shape (OpenAPI) -----------------------------------------------------------


class NationalIndexRow(BaseModel):
    """One unit, counting itself and every unit below it."""

    agency_code: str
    label: str = Field(description="the unit's name")
    parent_code: str | None
    level: int = Field(ge=1, description="depth in the catalog's tree, 1 without a parent")
    fee_dossiers: int = Field(description="dossiers (agency, reference) received in the "
                              "period with a non-zero payment, whatever its status")
    online_paid_dossiers: int = Field(description="of those, with a succeeded online attempt")
    indicator_3_6_percent: float | None = Field(
        description="online_paid_dossiers / fee_dossiers × 100, two decimals half up; "
        "null when fee_dossiers is 0")
    fee_procedures: int = Field(description="catalogued procedure codes of the subtree with "
                                "a non-zero fee on any day of the period")
    procedures_with_fee_dossiers: int
    indicator_3_5_percent: float | None
    procedures_paid_online: int
    indicator_3_5b_percent: float | None
    points: float = Field(ge=0, le=10, description="6 × 3.6 + 2 × min(1, 3.5 / 0.8) + "
                          "2 × min(1, 3.5b / 0.8), from the unrounded ratios, two decimals")


class NationalIndexReport(BaseModel):
    """GET /api/v1/reports/national-index (CONTRACT.md, docs/reports.md)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    rows: list[NationalIndexRow]
