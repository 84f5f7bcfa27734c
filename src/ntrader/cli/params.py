"""Click parameter types shared by commands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import click

from ntrader.models.defaults import MAX_RISK_FREE_RATE, MIN_RISK_FREE_RATE
from ntrader.models.enums import Timeframe


class TimeframeType(click.ParamType):
    name = "TIMEFRAME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Timeframe:
        if isinstance(value, Timeframe):
            return value
        try:
            return Timeframe.parse(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class DateType(click.ParamType):
    """A calendar date, YYYY-MM-DD."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return datetime.strptime(str(value).strip(), "%Y-%m-%d").date()
        except ValueError:
            self.fail(f"{value!r} is not a date like 2020-01-31", param, ctx)


TIMEFRAME = TimeframeType()
DATE = DateType()


def risk_free_rate_option(help_text: str) -> Callable[[Any], Any]:
    """``--risk-free-rate`` for a command that recomputes metrics of stored runs (no
    default: the rate the run was stored with), limited like the run setting."""
    return click.option(
        "--risk-free-rate",
        type=click.FloatRange(MIN_RISK_FREE_RATE, MAX_RISK_FREE_RATE),
        default=None,
        help=help_text,
    )


def parse_params(pairs: tuple[str, ...], option: str = "--param") -> dict[str, object]:
    """``k=v`` pairs (repeatable, or comma-separated) with numbers and booleans typed."""
    import yaml

    parsed: dict[str, object] = {}
    for item in (part for pair in pairs for part in pair.split(",") if part.strip()):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not key=value", param_hint=option)
        parsed[key.strip()] = yaml.safe_load(value.strip())
    return parsed
