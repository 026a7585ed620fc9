"""Dated targets: the percent in force for a metric on a day.

`feegate targets set --metric online_share --from 2025-01-01 --percent 60` records that
from 1 January 2025 (a Vietnam date) the online-share target is 60 %. The value in force
on a day is the one whose `from` is the latest not after that day; before the first one,
the caller's default (the environment's `FEEGATE_ONLINE_SHARE_TARGET` or
`FEEGATE_SATISFACTION_TARGET`). Nothing is cached: a new target takes effect at once, in
every process.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from payments.models import Target
from payments.models.targets import METRICS

__all__ = ["METRICS", "list_targets", "set_target", "target_in_force", "targets_in_force"]


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(METRICS)}")


def target_in_force(session: Session, metric: str, day: date, default: Decimal) -> Decimal:
    """The target of `metric` in force on `day`: the value whose `from` is the latest not
    after `day`, else `default`."""
    _check_metric(metric)
    value = session.scalar(
        select(Target.percent)
        .where(Target.metric == metric, Target.effective_from <= day)
        .order_by(Target.effective_from.desc())
        .limit(1)
    )
    return default if value is None else Decimal(value)


def targets_in_force(
    session: Session, metric: str, days: Sequence[date], default: Decimal
) -> list[Decimal]:
    """`target_in_force` for each of `days` (one query for the whole series)."""
    _check_metric(metric)
    series = list_targets(session, metric)
    result: list[Decimal] = []
    for day in days:
        value = default
        for target in series:
            if target.effective_from <= day:
                value = Decimal(target.percent)
            else:
                break
        result.append(value)
    return result


def list_targets(session: Session, metric: str | None = None) -> list[Target]:
    """The dated targets, by metric then date."""
    query = select(Target).order_by(Target.metric, Target.effective_from)
    if metric is not None:
        _check_metric(metric)
        query = query.where(Target.metric == metric)
    return list(session.scalars(query))


def set_target(
    session: Session, metric: str, effective_from: date, percent: Decimal, *, by: str = ""
) -> tuple[Target, bool]:
    """Record (or replace the percent of) the target of `metric` from `effective_from`.
    Answers the row and whether it was created. The caller commits."""
    _check_metric(metric)
    if not percent.is_finite() or percent < 0 or percent > 100:
        raise ValueError("a target is a percent from 0 to 100")
    if percent != percent.quantize(Decimal("0.01")):
        raise ValueError("a target has at most two decimals")
    existing = session.scalar(
        select(Target).where(Target.metric == metric, Target.effective_from == effective_from)
    )
    if existing is not None:
        existing.percent = percent
        existing.set_by = by
        session.flush()
        return existing, False
    target = Target(metric=metric, effective_from=effective_from, percent=percent, set_by=by)
    session.add(target)
    session.flush()
    return target, True
