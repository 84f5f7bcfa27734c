"""`run-simple`: a backtest on generated data, with no database involved."""

from __future__ import annotations

from ntrader.core import strategy_registry
from ntrader.core.runner import InstrumentBars
from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import Timeframe
from ntrader.models.instrument import InstrumentSpec
from ntrader.services.simulation import SimulationResult, simulate
from ntrader.utils.mock_data import sine_wave_bars
from ntrader.utils.timeutil import ns_to_datetime

MOCK_INSTRUMENT = InstrumentSpec(symbol="MOCK", venue="SIM")
# Periods that suit the 60-bar sine wave; explicit parameters override them.
MOCK_PARAMETERS: dict[str, dict[str, object]] = {
    "sma_crossover": {"fast_period": 10, "slow_period": 30},
}


def run_on_mock_data(
    strategy: str, parameters: dict[str, object], bars: int = 750
) -> tuple[BacktestConfig, SimulationResult]:
    strategy_type = strategy_registry.resolve(strategy)
    tuned = MOCK_PARAMETERS.get(strategy_type.name, {})
    validated = strategy_type.validate({**tuned, **parameters}).model_dump()
    data = sine_wave_bars(bars)
    first, last = (ns_to_datetime(int(ts)).date() for ts in (data.ts[0], data.ts[-1]))
    config = BacktestConfig(
        strategy_type=strategy_type.name,
        parameters=validated,
        instruments=(MOCK_INSTRUMENT.instrument_id,),
        start=first,
        end=last,
        timeframe=Timeframe.DAILY,
        data_source="mock",
    )
    inputs = [InstrumentBars(spec=MOCK_INSTRUMENT, timeframe=Timeframe.DAILY, bars=data)]
    return config, simulate(config, strategy_type, inputs)
