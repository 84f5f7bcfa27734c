"""How a run on several instruments shares its capital: ``--allocation equal|shared``, with
the first orders sized by hand, and each instrument's exposure in the per-instrument figures."""

from __future__ import annotations

from datetime import date

import pytest

from ntrader.core.runner import InstrumentBars
from ntrader.models.backtest import BacktestConfig
from ntrader.models.config_file import BacktestFile
from ntrader.models.enums import Allocation, Timeframe
from ntrader.models.execution import CommissionModel, FillAt, SizingMode
from ntrader.models.instrument import InstrumentSpec
from ntrader.services.simulation import SimulationResult, simulate
from tests.integration.scripted_strategy import SCRIPTED, quiet_bars, to_arrays

# Two venues, so that "equal" means two accounts of 50,000 USD each.
AAA = InstrumentSpec(symbol="AAA", venue="NASDAQ")
BBB = InstrumentSpec(symbol="BBB", venue="NYSE")


def _run(allocation: Allocation) -> SimulationResult:
    """Both instruments go long on bar 20's close with 80 % of the equity they size by:
    AAA at 100, BBB at 50; flat prices, so nothing moves afterwards."""
    config = BacktestConfig(
        strategy_type="scripted",
        parameters=SCRIPTED.validate({}).model_dump(),
        instruments=(AAA.instrument_id, BBB.instrument_id),
        start=date(2023, 1, 1),
        end=date(2023, 12, 31),
        commission=CommissionModel(value=0.0),
        fill_at=FillAt.CLOSE,
        sizing=SizingMode.PERCENT,
        position_pct=80.0,
        max_position_pct=100.0,
        allocation=allocation,
    )
    inputs = [
        InstrumentBars(spec=AAA, timeframe=Timeframe.DAILY, bars=to_arrays(quiet_bars(40, 100.0))),
        InstrumentBars(spec=BBB, timeframe=Timeframe.DAILY, bars=to_arrays(quiet_bars(40, 50.0))),
    ]
    return simulate(config, SCRIPTED, inputs)


@pytest.mark.parametrize(
    ("allocation", "aaa_units", "bbb_units", "share"),
    [
        # 80 % of each 50,000 sleeve: 40,000 USD = 400 x 100 and 800 x 50.
        (Allocation.EQUAL, 400, 800, 0.4),
        # 80 % of the whole 100,000 each: 80,000 USD = 800 x 100 and 1,600 x 50.
        (Allocation.SHARED, 800, 1_600, 0.8),
    ],
)
def test_each_signal_sizes_against_its_share_or_the_whole_pool(
    allocation: Allocation, aaa_units: int, bbb_units: int, share: float
) -> None:
    result = _run(allocation)
    quantities = {t.instrument_id: t.quantity for t in result.trades}
    assert quantities == {AAA.instrument_id: aaa_units, BBB.instrument_id: bbb_units}
    figures = result.metrics.per_instrument
    for instrument_id in (AAA.instrument_id, BBB.instrument_id):
        assert figures[instrument_id].maximum_exposure == pytest.approx(share)
        # Held from bar 20's close to the end: 20 of the 40 closes.
        assert figures[instrument_id].average_exposure == pytest.approx(share * 20 / 40)
    assert result.metrics.exposure.maximum == pytest.approx(2 * share)
    assert all(abs(v.ours - v.nautilus) <= v.tolerance for v in result.reconciliation)


def test_the_allocation_is_read_from_the_configuration_file() -> None:
    file = BacktestFile.model_validate(
        {
            "strategy": {"type": "sma"},
            "instruments": ["AAPL", "MSFT"],
            "portfolio": {"allocation": "shared"},
        }
    )
    assert file.to_config().allocation is Allocation.SHARED
    assert file.key_paths()["allocation"] == "portfolio.allocation"
    with pytest.raises(ValueError, match="allocation"):
        BacktestFile.model_validate(
            {"strategy": {"type": "sma"}, "instruments": ["AAPL"], "portfolio": {"allocation": "x"}}
        )
