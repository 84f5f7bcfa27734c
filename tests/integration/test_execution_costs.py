"""Commission and slippage (SPEC §7) in real nautilus runs, checked fill by fill against
amounts worked out by hand."""

from __future__ import annotations

from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Decimal

import numpy as np
import pytest

from ntrader.core import strategy_registry
from ntrader.core.runner import EngineOutput, EngineSettings, InstrumentBars, run_engine
from ntrader.models.enums import Timeframe, TradeSide
from ntrader.models.execution import CommissionModel, CommissionType
from tests.integration.strategy_support import SPEC, daily_bars, run

CENT = Decimal("0.01")


def _crossing_closes(scale: float) -> np.ndarray:
    """Down, up, down, up: SMA(3/6) crossings, long and (shorting on) short trades."""
    legs = [(120, 100), (101, 125), (124, 105), (106, 130)]
    return np.concatenate([np.linspace(a, b, 12) for a, b in legs]) * scale


def _sma_run(scale: float, commission: CommissionModel) -> EngineOutput:
    closes = np.round(_crossing_closes(scale), 2)
    data = daily_bars(closes, wick=round(0.4 * scale, 2))
    kind = strategy_registry.resolve("sma")
    return run_engine(
        kind,
        kind.validate({"fast_period": 3, "slow_period": 6, "allow_short": True}).model_dump(),
        [InstrumentBars(spec=SPEC, timeframe=Timeframe.DAILY, bars=data)],
        EngineSettings(commission=commission),
    )


def _cents(amount: Decimal) -> float:
    return float(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def _by_hand(kind: str, quantity: float, price: float) -> tuple[float, str]:
    """The commission of one order filled whole, and which part of the schedule set it."""
    shares, value = Decimal(str(quantity)), Decimal(str(quantity)) * Decimal(str(price))
    if kind == "ibkr":  # 0.005/share, at least 1.00, at most 1 % of the value
        linear, floor, cap = Decimal("0.005") * shares, Decimal(1), value / 100
        if min(max(linear, floor), cap) == cap:
            return _cents(cap), "cap"
        return _cents(max(linear, floor)), "floor" if linear < floor else "per share"
    if kind == "percentage":  # 0.1 % of the value
        return _cents(value * Decimal("0.001")), "percentage"
    return 2.5, "fixed"


@pytest.mark.parametrize(
    ("kind", "commission", "scale", "regime"),
    [
        ("ibkr", CommissionModel.parse("ibkr"), 1.0, "floor"),  # ~100 shares: 0.50 -> 1.00
        ("ibkr", CommissionModel.parse("ibkr"), 0.02, "per share"),  # ~4,500 shares at ~2
        ("ibkr", CommissionModel.parse("ibkr"), 0.002, "cap"),  # ~45,000 shares at ~0.22
        ("percentage", CommissionModel.parse("pct:0.1"), 1.0, "percentage"),
        ("fixed", CommissionModel(type=CommissionType.FIXED, value=2.5), 1.0, "fixed"),
    ],
)
def test_each_fill_pays_the_schedule(
    kind: str, commission: CommissionModel, scale: float, regime: str
) -> None:
    output = _sma_run(scale, commission)
    fills = output.fills
    assert fills.ts.size >= 5
    expected = [
        _by_hand(kind, abs(q), p) for q, p in zip(fills.signed_qty, fills.price, strict=True)
    ]
    assert list(fills.commission) == [amount for amount, _ in expected]
    assert {part for _, part in expected} == {regime}
    # A trade's commission is its entry's plus its exit's.
    assert sum(t.commission for t in output.trades) == pytest.approx(fills.commission.sum())
    for trade in output.trades:
        fills_of_trade = 1 if trade.is_open else 2
        assert trade.commission == pytest.approx(
            sum(_by_hand(kind, trade.quantity, p)[0] for p in _prices(trade)[:fills_of_trade])
        )


def _prices(trade) -> list[float]:
    return [trade.entry_price] + ([trade.exit_price] if trade.exit_price is not None else [])


def _slipped(close: float, bps: float, buying: bool) -> float:
    """The close moved ``bps`` against the trader, to the nearest cent; ties against him."""
    factor = 1 + Decimal(str(bps)) / 10_000 * (1 if buying else -1)
    moved = Decimal(str(close)) * factor
    return float(moved.quantize(CENT, rounding=ROUND_HALF_UP if buying else ROUND_HALF_DOWN))


@pytest.mark.parametrize("bps", [25.0, 7.5])
def test_slippage_moves_every_fill_against_the_trader(bps: float) -> None:
    # Mean reversion with shorting: buys and sells open and close positions on both sides.
    closes = np.round(100 + 6 * np.sin(np.arange(120) * 0.35) + np.arange(120) * 0.01, 2)
    data = daily_bars(closes)
    parameters = {"lookback": 10, "entry_zscore": -1.2, "exit_zscore": 0.3, "allow_short": True}
    clean = run("mean_reversion", parameters, data)
    slipped = run("mean_reversion", parameters, data, slippage_bps=bps)
    assert {t.side for t in clean.result.trades} == {TradeSide.LONG, TradeSide.SHORT}
    # Slippage moves prices, not decisions: the same trades on the same bars.
    assert [(t.side, t.entry_time, t.exit_time) for t in slipped.result.trades] == [
        (t.side, t.entry_time, t.exit_time) for t in clean.result.trades
    ]
    for before, after in zip(clean.result.trades, slipped.result.trades, strict=True):
        assert before.slippage_cost == 0.0
        long = after.side is TradeSide.LONG
        assert after.entry_price == _slipped(before.entry_price, bps, buying=long)
        cost = abs(after.entry_price - before.entry_price)
        if after.exit_price is not None:
            assert after.exit_price == _slipped(before.exit_price, bps, buying=not long)
            cost += abs(after.exit_price - before.exit_price)
        assert after.slippage_cost == pytest.approx(after.quantity * cost)
    assert slipped.result.final_equity < clean.result.final_equity
