"""A stored, named strategy: a type plus validated parameters, with a life cycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ntrader.models.enums import StrategyStatus


class StrategyRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str = Field(min_length=1, max_length=100)
    strategy_type: str
    parameters: dict[str, Any]
    status: StrategyStatus
    description: str | None = None
    created_at: datetime
    updated_at: datetime
