"""Payloads as strict JSON: JSON has no NaN or Infinity, so they become null, noted.

The CLI's ``--json`` and the HTTP API write the same values this way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

# Why a metric can be infinite, for the warning that says it was written as null.
_INFINITE_BECAUSE = {
    "profit_factor": "no losing trades",
    "sortino_ratio": "no losing days",
    "calmar_ratio": "no drawdown",
}


def _non_finite_note(path: str, value: float | Decimal) -> str:
    if value.is_nan() if isinstance(value, Decimal) else math.isnan(value):
        return f"{path} is not a number (NaN)"
    field = re.split(r"[.\[]", path)[-1]
    reason = _INFINITE_BECAUSE.get(field) if value > 0 else None
    sign = "infinite" if value > 0 else "negative infinite"
    return f"{path} is {sign} ({reason})" if reason else f"{path} is {sign}"


def _finite(value: Any, path: str, notes: list[str]) -> Any:
    """``value`` as plain JSON types; non-finite numbers become None and are noted."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | Decimal):
        if value.is_finite() if isinstance(value, Decimal) else math.isfinite(value):
            return value if isinstance(value, float) else str(value)
        notes.append(_non_finite_note(path or "value", value))
        return None
    if isinstance(value, Mapping):
        return {
            key if isinstance(key, str) else str(key): _finite(
                item, f"{path}.{key}" if path else str(key), notes
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_finite(item, f"{path}[{i}]", notes) for i, item in enumerate(value)]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return _finite(value.model_dump(mode="json"), path, notes)
    if hasattr(value, "dtype") and hasattr(value, "item"):  # numpy scalars
        return _finite(value.item(), path, notes)
    return str(value)


def json_safe(payload: Any) -> tuple[Any, list[str]]:
    """The payload with every NaN/Infinity replaced by None, and a note for each one."""
    notes: list[str] = []
    return _finite(payload, "", notes), notes
