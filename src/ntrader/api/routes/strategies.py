"""/api/v1/strategies and /api/v1/strategy-types: stored strategies and their types."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from ntrader.api.problems import ERROR_RESPONSES
from ntrader.api.schemas import (
    Parameter,
    StrategyCreate,
    StrategyTypeInfo,
    StrategyUpdate,
)
from ntrader.api.state import ApiState, api_state
from ntrader.core import strategy_registry
from ntrader.models.enums import StrategyStatus
from ntrader.models.strategy import StrategyRecord
from ntrader.services.strategy_service import StrategyService

router = APIRouter(tags=["strategies"], responses=ERROR_RESPONSES)
State = Annotated[ApiState, Depends(api_state)]


@router.get("/strategy-types")
def strategy_types() -> list[StrategyTypeInfo]:
    """Every strategy type with its parameters (type, default, bounds) and their schema."""
    return [_type_info(name) for name in strategy_registry.known_names()]


@router.get("/strategy-types/{name}")
def strategy_type(name: str) -> StrategyTypeInfo:
    """One strategy type by name or alias."""
    return _type_info(name)


def _type_info(name: str) -> StrategyTypeInfo:
    kind = strategy_registry.resolve(name)
    return StrategyTypeInfo(
        name=kind.name,
        aliases=list(kind.aliases),
        description=kind.description,
        source="built-in" if kind.source == "built-in" else "plug-in",
        parameters=[
            Parameter(
                name=spec.name,
                type=spec.kind.__name__,
                default=spec.default,
                description=spec.description,
                minimum=spec.minimum,
                maximum=spec.maximum,
                exclusive_minimum=spec.exclusive_minimum,
                exclusive_maximum=spec.exclusive_maximum,
                optional=spec.optional,
            )
            for spec in kind.parameter_specs()
        ],
        parameters_schema=kind.params.model_json_schema(),
    )


@router.get("/strategies")
def list_strategies(
    api: State,
    type: Annotated[str | None, Query(max_length=100)] = None,
    status: StrategyStatus | None = None,
) -> list[StrategyRecord]:
    """Stored strategies, filtered by type (name or alias) and status."""
    return StrategyService(api.database).list(strategy_type=type, status=status)


@router.post("/strategies", status_code=201)
def create_strategy(api: State, body: StrategyCreate, response: Response) -> StrategyRecord:
    """Store a new strategy (a draft) of a type with validated parameters."""
    record = StrategyService(api.database).create(
        body.name, body.type, body.parameters, body.description
    )
    response.headers["Location"] = f"/api/v1/strategies/{record.name}"
    return record


@router.get("/strategies/{name}")
def get_strategy(api: State, name: str) -> StrategyRecord:
    return StrategyService(api.database).get(name)


@router.patch("/strategies/{name}")
def update_strategy(api: State, name: str, body: StrategyUpdate) -> StrategyRecord:
    """Change some parameters (validated with the others); archived strategies refuse."""
    return StrategyService(api.database).edit(name, body.parameters)


@router.post("/strategies/{name}/archive")
def archive_strategy(api: State, name: str) -> StrategyRecord:
    """Archive a strategy: read-only from then on, and no longer backtested."""
    return StrategyService(api.database).archive(name)
