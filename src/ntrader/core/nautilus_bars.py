"""Stored bars as nautilus ``Bar`` objects, stamped at the bar's close, and their opens as
trade ticks stamped at the bar's open (for fills at the next open, docs/execution.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from nautilus_trader.model.data import Bar, BarType, TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import InstrumentId

from ntrader.models.bars import BarArrays
from ntrader.models.enums import Timeframe
from ntrader.models.instrument import InstrumentSpec

_BAR_SPEC = {
    Timeframe.MINUTE_1: "1-MINUTE",
    Timeframe.MINUTE_5: "5-MINUTE",
    Timeframe.HOUR_1: "1-HOUR",
    Timeframe.DAILY: "1-DAY",
}

# Where a daily bar closes: US equities at 16:00 New York, FX at the 17:00 New York roll,
# crypto at the next UTC midnight (its daily bars are UTC days).
_SESSION_CLOSE = {"FX": "17:00", "CRYPTO": "24:00"}
_DEFAULT_SESSION_CLOSE = "16:00"
# Where a daily bar opens: US equities at 09:30 New York; FX at the previous day's roll.
_SESSION_OPEN = {"FX": "-7:00", "CRYPTO": "00:00"}
_DEFAULT_SESSION_OPEN = "09:30"
_SESSION_ZONES = {"CRYPTO": "UTC"}
_DEFAULT_SESSION_ZONE = "America/New_York"


def bar_type_for(spec: InstrumentSpec, timeframe: Timeframe) -> BarType:
    return BarType.from_str(f"{spec.instrument_id}-{_BAR_SPEC[timeframe]}-LAST-EXTERNAL")


def close_times_ns(spec: InstrumentSpec, timeframe: Timeframe, open_ns: np.ndarray) -> np.ndarray:
    """When each bar completes: open + length, or the session close for daily bars.

    Strategies see a bar only at its close, so none can act on prices it could not know yet.
    """
    if timeframe is not Timeframe.DAILY:
        return open_ns + np.int64(timeframe.seconds * 1_000_000_000)
    days = pd.to_datetime(open_ns, utc=True).normalize().tz_localize(None)
    close_hhmm = _SESSION_CLOSE.get(spec.asset_class.value, _DEFAULT_SESSION_CLOSE)
    zone = _SESSION_ZONES.get(spec.asset_class.value, _DEFAULT_SESSION_ZONE)
    local_close = (days + pd.Timedelta(close_hhmm + ":00")).tz_localize(zone)
    return local_close.tz_convert("UTC").as_unit("ns").asi8.astype(np.int64)


def session_days_ns(spec: InstrumentSpec, close_ns: np.ndarray) -> np.ndarray:
    """The session day (its UTC midnight, as daily bars are stored) that times ending at
    ``close_ns`` belong to: the first weekday whose daily close is at or after them."""
    asset_class = spec.asset_class.value
    close_hhmm = _SESSION_CLOSE.get(asset_class, _DEFAULT_SESSION_CLOSE)
    zone = _SESSION_ZONES.get(asset_class, _DEFAULT_SESSION_ZONE)
    local = pd.to_datetime(close_ns, utc=True).tz_convert(zone).tz_localize(None)
    days = local.normalize()
    after_close = np.asarray(local > days + pd.Timedelta(close_hhmm + ":00"))
    dates = days.to_numpy().astype("datetime64[D]") + after_close.astype(np.int64)
    # A Friday evening (or a weekend) trade belongs to Monday's session, not a phantom day;
    # crypto trades every day.
    weekmask = "1111111" if asset_class == "CRYPTO" else "1111100"
    sessions = np.busday_offset(dates, 0, roll="forward", weekmask=weekmask)
    return sessions.astype("datetime64[ns]").astype(np.int64)


def open_times_ns(spec: InstrumentSpec, timeframe: Timeframe, open_ns: np.ndarray) -> np.ndarray:
    """When each bar's first trade happens: its open time, or the session open for daily bars."""
    if timeframe is not Timeframe.DAILY:
        return open_ns.astype(np.int64)
    days = pd.to_datetime(open_ns, utc=True).normalize().tz_localize(None)
    open_hhmm = _SESSION_OPEN.get(spec.asset_class.value, _DEFAULT_SESSION_OPEN)
    zone = _SESSION_ZONES.get(spec.asset_class.value, _DEFAULT_SESSION_ZONE)
    local_open = (days + pd.Timedelta(open_hhmm + ":00")).tz_localize(zone)
    return local_open.tz_convert("UTC").as_unit("ns").asi8.astype(np.int64)


@dataclass(frozen=True, slots=True)
class BarColumns:
    """A series of bars as the arrays nautilus builds its ``Bar`` objects from, stamped
    (``ts``, uint64) at each bar's close; ``objects`` makes any slice of them."""

    bar_type: BarType
    precision: int
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    ts: np.ndarray

    def objects(self, start: int, stop: int) -> list[Bar]:
        ts = self.ts[start:stop]
        return Bar.from_raw_arrays_to_list(
            self.bar_type,
            self.precision,
            0,
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.volume[start:stop],
            ts,
            ts,
        )


@dataclass(frozen=True, slots=True)
class OpenTickColumns:
    """Trades as the arrays nautilus builds its ``TradeTick`` objects from (``ts``, uint64,
    stamps each); ``objects`` makes any slice of them."""

    instrument_id: InstrumentId
    precision: int
    prices: np.ndarray
    sizes: np.ndarray
    ts: np.ndarray

    def objects(self, start: int, stop: int) -> list[TradeTick]:
        ts = self.ts[start:stop]
        return TradeTick.from_raw_arrays_to_list(
            self.instrument_id,
            self.precision,
            0,
            self.prices[start:stop],
            self.sizes[start:stop],
            np.full(ts.size, AggressorSide.NO_AGGRESSOR.value, dtype=np.uint8),
            [f"O{i}" for i in range(start, stop)],
            ts,
            ts,
        )


def bar_columns(spec: InstrumentSpec, timeframe: Timeframe, data: BarArrays) -> BarColumns:
    return BarColumns(
        bar_type=bar_type_for(spec, timeframe),
        precision=spec.price_precision,
        open=data.open,
        high=data.high,
        low=data.low,
        close=data.close,
        volume=data.volume,
        ts=close_times_ns(spec, timeframe, data.ts).astype(np.uint64),
    )


def open_tick_columns(
    spec: InstrumentSpec, timeframe: Timeframe, data: BarArrays
) -> OpenTickColumns:
    """One trade per bar at its open price and open time, and one at the last bar's close.

    They move nautilus' market to the open before the bar completes, so an order sent at that
    time fills at the open and resting stops see a gap at the open, by nautilus' own matching.
    nautilus values positions at the last trade when there is one, so without the final trade
    at the last close its end-of-run equity would mark open positions at the last open.
    The size is the bar's volume (at least one unit): the open's own size is not known.
    """
    opens = open_times_ns(spec, timeframe, data.ts)
    last_close = close_times_ns(spec, timeframe, data.ts[-1:])
    volumes = np.concatenate([data.volume, data.volume[-1:]]).astype(np.float64)
    return OpenTickColumns(
        instrument_id=bar_type_for(spec, timeframe).instrument_id,
        precision=spec.price_precision,
        # concatenate copies: nautilus needs writable buffers
        prices=np.concatenate([data.open, data.close[-1:]]).astype(np.float64),
        sizes=np.maximum(volumes, 1.0),
        ts=np.concatenate([opens, last_close]).astype(np.uint64),
    )


def to_nautilus_bars(spec: InstrumentSpec, timeframe: Timeframe, data: BarArrays) -> list[Bar]:
    return bar_columns(spec, timeframe, data).objects(0, len(data))
