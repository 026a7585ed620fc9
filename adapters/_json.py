"""Strict readers for what providers send: JSON without repeated keys, integers as ASCII.

Two parsers may keep different copies of a repeated key (one verifies, the other applies),
and `int()` accepts non-ASCII digits such as "٣": both are ways to slip a value past a
signature check, so the adapters read providers' messages only through these.
"""

from __future__ import annotations

import json
import re
from typing import Any

_INT_RE = re.compile(r"-?[0-9]{1,19}")


def reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def loads_strict(text: str) -> Any:
    """json.loads that refuses repeated keys (ValueError)."""
    return json.loads(text, object_pairs_hook=reject_duplicate_keys)


def as_int(value: object) -> int:
    """A JSON integer, or a string of ASCII digits; never a bool or a float."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return int(value)
    raise ValueError(f"not an integer: {value!r}")
