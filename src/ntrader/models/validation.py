"""Pydantic validation errors as one readable clause per problem."""

from __future__ import annotations

from pydantic import ValidationError


def describe_validation_error(exc: ValidationError, *, extra: str = "unknown parameter") -> str:
    """``fast_period: must be less than slow_period; speed: unknown parameter``.

    ``extra`` is what an unexpected key is called (a parameter, a key in a file, ...).
    """
    parts = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = extra
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)
