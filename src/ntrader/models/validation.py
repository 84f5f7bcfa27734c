"""Pydantic validation errors as one readable clause per problem."""

from __future__ import annotations

from pydantic import ValidationError


def describe_validation_error(exc: ValidationError) -> str:
    """``fast_period: must be less than slow_period; speed: unknown parameter``."""
    parts = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown parameter"
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)
