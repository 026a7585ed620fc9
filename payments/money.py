"""Đồng as int: VND has no minor unit, so an amount is never a float."""

from __future__ import annotations

from collections.abc import Iterable

MAX_AMOUNT = 100_000_000_000  # 100 billion đồng: far above any fee, below int64 ×100


def parse_amount(value: object) -> int:
    """Accept only a true integer (JSON 150000), never 150000.0, "150000" or True."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("amount must be an integer number of đồng")
    if value <= 0:
        raise ValueError("amount must be greater than 0")
    if value > MAX_AMOUNT:
        raise ValueError("amount is too large")
    return value


def total(amounts: Iterable[int]) -> int:
    return sum(amounts, 0)


def format_vnd(amount: int) -> str:
    """150000 -> '150.000 ₫' (Vietnamese grouping with dots, symbol after a space)."""
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount):,} ₫".replace(",", ".")
