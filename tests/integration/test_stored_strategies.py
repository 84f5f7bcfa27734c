"""Named strategies in the aapl_database: life cycle, validation and use in backtests."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from ntrader.core.errors import NotFoundError, UserInputError
from ntrader.db.database import Database
from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import StrategyStatus, Timeframe
from ntrader.services.backtest_service import BacktestService
from ntrader.services.strategy_service import StrategyService, read_strategy_file


def _config(strategy: str, **parameters: object) -> BacktestConfig:
    return BacktestConfig(
        strategy_type=strategy,
        parameters=parameters,
        instruments=("AAPL",),
        start=date(2020, 1, 1),
        end=date(2020, 12, 31),
        benchmark="AAPL",
    )


def test_create_fills_defaults_and_starts_as_draft(aapl_database: Database) -> None:
    record = StrategyService(aapl_database).create("quick", "SMA", {"fast_period": 5})
    assert record.strategy_type == "sma_crossover"
    assert record.parameters == {
        "fast_period": 5,
        "slow_period": 26,
        "entry_threshold": 0.0,
        "trend_filter_period": None,
        "allow_short": False,
    }
    assert record.status is StrategyStatus.DRAFT


def test_names_are_unique_case_insensitively(aapl_database: Database) -> None:
    service = StrategyService(aapl_database)
    service.create("Quick", "sma", {})
    with pytest.raises(UserInputError, match="already exists"):
        service.create("quick", "sma", {})


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ({"fast_period": 30, "slow_period": 10}, "fast_period (30) must be less than"),
        ({"fast_period": "soon"}, "fast_period: Input should be a valid integer"),
        ({"speed": 1}, "speed: unknown parameter"),
    ],
)
def test_bad_parameters_name_the_parameter(
    aapl_database: Database, parameters: dict[str, object], words: str
) -> None:
    with pytest.raises(UserInputError) as caught:
        StrategyService(aapl_database).create("bad", "sma", parameters)
    assert words in str(caught.value)
    assert StrategyService(aapl_database).list() == []


def test_draft_cannot_be_backtested_until_validated(aapl_database: Database) -> None:
    service = StrategyService(aapl_database)
    service.create("quick", "sma", {"fast_period": 5, "slow_period": 20})
    with pytest.raises(UserInputError, match="is a draft"):
        BacktestService(aapl_database).run(_config("quick"))
    report = service.validate("quick", "AAPL", Timeframe.DAILY)
    assert report.produced_signal
    assert report.strategy.status is StrategyStatus.ACTIVE
    assert report.end == date(2024, 12, 31)
    outcome = BacktestService(aapl_database).run(_config("quick"))
    assert outcome.run.config.strategy_name == "quick"
    assert outcome.run.config.parameters["fast_period"] == 5


def test_backtest_parameters_override_the_stored_ones(aapl_database: Database) -> None:
    service = StrategyService(aapl_database)
    service.create("quick", "sma", {"fast_period": 5, "slow_period": 20})
    service.activate("quick")
    outcome = BacktestService(aapl_database).run(_config("quick", slow_period=40))
    assert outcome.run.config.parameters == {
        "fast_period": 5,
        "slow_period": 40,
        "entry_threshold": 0.0,
        "trend_filter_period": None,
        "allow_short": False,
    }


def test_validation_without_a_signal_keeps_the_draft(aapl_database: Database) -> None:
    service = StrategyService(aapl_database)
    service.create("slow", "sma", {"fast_period": 5, "slow_period": 20, "entry_threshold": 0.9})
    report = service.validate("slow", "AAPL", Timeframe.DAILY)
    assert not report.produced_signal
    assert service.get("slow").status is StrategyStatus.DRAFT


def test_archived_strategies_are_read_only_and_not_runnable(aapl_database: Database) -> None:
    service = StrategyService(aapl_database)
    service.create("old", "sma", {})
    service.activate("old")
    service.archive("old")
    with pytest.raises(UserInputError, match="archived and read-only"):
        service.edit("old", {"fast_period": 3})
    with pytest.raises(UserInputError, match="archived and cannot be backtested"):
        BacktestService(aapl_database).run(_config("old"))
    assert service.list(active_only=True) == []
    assert [s.name for s in service.list()] == ["old"]


def test_edit_merges_and_validates(aapl_database: Database) -> None:
    service = StrategyService(aapl_database)
    service.create("s", "sma", {"fast_period": 5, "slow_period": 20})
    assert service.edit("s", {"slow_period": 50}).parameters["slow_period"] == 50
    with pytest.raises(UserInputError, match="must be less than"):
        service.edit("s", {"fast_period": 60})
    assert service.get("s").parameters["fast_period"] == 5


def test_export_round_trips_through_params_file(aapl_database: Database, tmp_path: Path) -> None:
    service = StrategyService(aapl_database)
    service.create("s", "sma", {"fast_period": 7, "slow_period": 21}, description="weekly")
    path = tmp_path / "s.yaml"
    service.export("s", path)
    document = yaml.safe_load(path.read_text())
    assert document["strategy"]["type"] == "sma_crossover"
    assert document["strategy"]["description"] == "weekly"
    copy = service.create("s2", document["strategy"]["type"], read_strategy_file(path).parameters)
    assert copy.parameters == service.get("s").parameters


def test_unknown_strategy_name_lists_stored_ones(aapl_database: Database) -> None:
    StrategyService(aapl_database).create("alpha", "sma", {})
    with pytest.raises(NotFoundError, match="Stored strategies: alpha"):
        StrategyService(aapl_database).get("beta")
