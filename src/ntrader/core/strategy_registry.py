"""Strategy types by name: their nautilus classes and validated parameter schemas.

Importing this module does not import nautilus; the strategy classes load on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ntrader.core.errors import UserInputError
from ntrader.models.validation import describe_validation_error


class SmaCrossoverParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fast_period: int = Field(default=12, ge=1, le=10_000)
    slow_period: int = Field(default=26, ge=2, le=10_000)
    entry_threshold: float = Field(default=0.0, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _fast_below_slow(self) -> SmaCrossoverParams:
        if self.fast_period >= self.slow_period:
            raise ValueError(
                f"fast_period ({self.fast_period}) must be less than "
                f"slow_period ({self.slow_period})"
            )
        return self


@dataclass(frozen=True, slots=True)
class StrategyType:
    """One kind of strategy: canonical name, aliases, parameters, nautilus classes."""

    name: str
    aliases: tuple[str, ...]
    description: str
    params: type[BaseModel]
    module: str
    strategy_class: str
    config_class: str

    def load(self) -> tuple[type, type]:
        module = importlib.import_module(self.module)
        return getattr(module, self.strategy_class), getattr(module, self.config_class)

    def validate(self, parameters: dict[str, Any]) -> BaseModel:
        try:
            return self.params.model_validate(parameters)
        except ValidationError as exc:
            raise UserInputError(
                f"Invalid parameters for {self.name}: {describe_validation_error(exc)}.",
                hint=f"Parameters of {self.name}: {', '.join(self.params.model_fields)}.",
            ) from exc


BUILTIN_TYPES: tuple[StrategyType, ...] = (
    StrategyType(
        name="sma_crossover",
        aliases=("sma", "sma_cross", "smacrossover"),
        description="Long when the fast SMA crosses above the slow SMA; out when it crosses below.",
        params=SmaCrossoverParams,
        module="ntrader.core.strategies.sma_crossover",
        strategy_class="SmaCrossover",
        config_class="SmaCrossoverConfig",
    ),
)


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


_BY_KEY = {_key(alias): t for t in BUILTIN_TYPES for alias in (t.name, *t.aliases)}


def known_names() -> list[str]:
    return [t.name for t in BUILTIN_TYPES]


def resolve(name: str) -> StrategyType:
    found = _BY_KEY.get(_key(name))
    if found is None:
        raise UserInputError(
            f"Unknown strategy {name!r}; known strategies: {', '.join(known_names())}.",
            hint="Run `ntrader backtest run --help` for the strategy option.",
        )
    return found
