"""The satisfaction report (CONTRACT.md, docs/reports.md): satisfied answers / answers.

One GROUP BY over `ratings` joined to `payments` (the agency is the payment's); Python
sees one row per group. What counts:

- an answer counts in the period of its own time (`ratings.created_at`) in Vietnam time,
  whatever the payment's date: the survey is of what citizens said in the period;
- `satisfied` counts ratings 3 (Hài lòng) and 4 (Rất hài lòng), of the four answers;
- `satisfied_percent` = satisfied / answers × 100, one decimal, halves up (Decimal);
  `null` without answers; `meets_target` compares the unrounded share with the target;
- the target is the dated one in force (payments.targets, metric `satisfaction`) on the
  period's last day — each `month` row on its own month's last day within the period —
  else `FEEGATE_SATISFACTION_TARGET` (default 84).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Final

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from payments.models import Payment, Rating
from payments.reports import (
    TOTAL_KEY,
    TOTAL_LABEL,
    Period,
    agency_names,
    meets,
    month_key,
    month_label,
    next_month,
    percent_number,
    vn_day_start,
)
from payments.targets import target_in_force

GROUPS: Final = ("agency", "month")
METRIC: Final = "satisfaction"
SATISFIED: Final = (3, 4)
ONE_DECIMAL: Final = Decimal("0.1")


def satisfied_percent(satisfied: int, answers: int) -> float | None:
    """One decimal, halves up: 84.25 -> 84.3; None without answers."""
    if answers <= 0:
        return None
    exact = Decimal(satisfied * 100) / Decimal(answers)
    return float(exact.quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP))


def row(key: str, label: str, answers: int, satisfied: int, target: Decimal) -> dict[str, Any]:
    """A ROW of CONTRACT.md, keys in the documented order."""
    share = Fraction(satisfied * 100, answers) if answers else None
    return {
        "key": key,
        "label": label,
        "answers": answers,
        "satisfied": satisfied,
        "satisfied_percent": satisfied_percent(satisfied, answers),
        "meets_target": meets(share, target),
    }


def _month_of_answer(period: Period) -> Any:
    """`YYYY-MM` of the answer's Vietnam date, as a CASE over the month boundaries."""
    return case(*[(Rating.created_at < vn_day_start(next_month(m)), month_key(m))
                  for m in period.months()])


def tally(session: Session, codes: set[str], period: Period,
          group_by: str) -> dict[str, tuple[int, int]]:
    """One GROUP BY: {key: (answers, satisfied)}."""
    if not codes:
        return {}
    if group_by not in GROUPS:
        raise ValueError(f"unknown group_by {group_by!r}")
    key = Payment.agency_code if group_by == "agency" else _month_of_answer(period)
    inner = (
        select(
            key.label("k"),
            case((Rating.rating.in_(SATISFIED), 1), else_=0).label("s"),
        )
        .join(Payment, Payment.id == Rating.payment_id)
        .where(
            Payment.agency_code.in_(sorted(codes)),
            Rating.created_at >= period.utc_start,
            Rating.created_at < period.utc_end,
        )
        .subquery()
    )
    # grouped on the subquery's column (PostgreSQL would not match a CASE with bound
    # parameters in SELECT against the same CASE in GROUP BY)
    stmt = select(inner.c.k, func.count(), func.coalesce(func.sum(inner.c.s), 0)).group_by(
        inner.c.k
    )
    return {str(k): (int(n), int(s)) for k, n, s in session.execute(stmt)}


def month_last_day(month: date, period: Period) -> date:
    return min(next_month(month) - timedelta(days=1), period.last)


def _target(session: Session, day: date, default: Decimal) -> Decimal:
    return target_in_force(session, METRIC, day, default)


def satisfaction(session: Session, codes: set[str], period: Period, group_by: str,
                 default_target: Decimal) -> dict[str, Any]:
    """The report of CONTRACT.md as a JSON-ready dict. `codes`: the agencies it covers."""
    tallies = tally(session, codes, period, group_by)
    target = _target(session, period.last, default_target)
    rows = []
    if group_by == "agency":
        names = agency_names(session, set(tallies))
        for key in sorted(tallies):
            answers, satisfied = tallies[key]
            rows.append(row(key, names.get(key) or key, answers, satisfied, target))
    else:  # a time series: every month of the period, empty ones too
        for month in period.months():
            key = month_key(month)
            answers, satisfied = tallies.get(key, (0, 0))
            month_target = _target(session, month_last_day(month, period), default_target)
            rows.append(row(key, month_label(key), answers, satisfied, month_target))
    answers = sum(n for n, _s in tallies.values())
    satisfied = sum(s for _n, s in tallies.values())
    return {
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        "group_by": group_by,
        "target_percent": percent_number(target),
        "rows": rows,
        "totals": row(TOTAL_KEY, TOTAL_LABEL, answers, satisfied, target),
    }
