"""Generate the bundled SYNTHETIC sample market data in ``data/``.

The prices are simulated, not real quotes: they only need to look and behave like US equity data
so the backtesting CLI can be tried out offline. The output is fully determined by ``--seed``, so
running the script twice writes byte-identical files.

    uv run python scripts/generate_sample_data.py [--output-dir DIR] [--seed N]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_OUTPUT_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_SEED = 20190102

DAILY_START = date(2019, 1, 2)
DAILY_END = date(2024, 12, 31)
MINUTE_MONTH_START = date(2024, 11, 1)
MINUTE_MONTH_END = date(2024, 11, 30)

MONDAY, THURSDAY, SATURDAY, SUNDAY = 0, 3, 5, 6
EXCHANGE_TZ = "America/New_York"
SESSION_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)
EARLY_CLOSE = time(13, 0)

TRADING_DAYS_PER_YEAR = 252
MINUTES_PER_SESSION = 390

CORRELATION = 0.7
# GARCH(1,1) on a unit-mean variance multiplier; persistence 0.98 gives multi-week vol clusters.
GARCH_ALPHA = 0.08
GARCH_BETA = 0.90
# Share of daily variance realised overnight (open vs previous close); ~20% for US large caps.
OVERNIGHT_VARIANCE_SHARE = 0.2
GAP_JUMP_PROB = 0.03
GAP_JUMP_SCALE = 4.0
# Volume rises linearly with the size of the move; 0.7 is the floor paid on a flat day.
VOLUME_FLOOR = 0.7
VOLUME_NOISE = 0.25

# Feb-Mar 2020 COVID crash (SPY peak 2020-02-19, trough 2020-03-23) and the recovery to the old
# high (2020-08-18). Segment totals are pinned (see pin_segments) so every seed shows it.
CRASH_WINDOW = (date(2020, 2, 20), date(2020, 3, 23))
REBOUND_WINDOW = (date(2020, 3, 24), date(2020, 8, 18))
CRASH_VOL_MULTIPLIER = 3.0
REBOUND_VOL_MULTIPLIER = 1.6

# Intraday volume/variance profile: heavy at the open, heavier again into the close.
OPEN_BUMP, OPEN_DECAY_MINUTES = 2.0, 20.0
CLOSE_BUMP, CLOSE_DECAY_MINUTES = 1.5, 15.0
MINUTE_DAY_VOL_DISPERSION = 0.3
MINUTE_VOLUME_NOISE = 0.35
# Late-2024 AAPL: ~225 USD at the end of October and ~45M shares/day, about half its 2019-24 mean.
MINUTE_PRIOR_CLOSE = 225.0
MINUTE_DAILY_VOLUME = 45e6


@dataclass(frozen=True)
class AssetSpec:
    symbol: str
    prior_close: float  # close of the last trading day before the sample (2018-12-31)
    drift: float  # annual arithmetic drift (GBM mu)
    volatility: float  # unconditional annual volatility (GBM sigma)
    mean_volume: float  # average shares per day
    crash_return: float  # total simple return over CRASH_WINDOW


# SPY first: it is the market factor that AAPL is correlated with and that drives the GARCH.
SPY = AssetSpec("SPY", 250.0, 0.12, 0.18, 80e6, -0.30)
AAPL = AssetSpec("AAPL", 39.0, 0.25, 0.30, 100e6, -0.31)
DAILY_ASSETS = (SPY, AAPL)

DAILY_COLUMNS = ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
MINUTE_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]


# --- NYSE calendar --------------------------------------------------------------------------


def easter_sunday(year: int) -> date:
    """Gregorian Easter via the anonymous (Meeus/Jones/Butcher) algorithm."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday_shift = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday_shift) // 451
    month, day = divmod(h + weekday_shift - 7 * m + 114, 31)
    return date(year, month, day + 1)


def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def observed(holiday: date) -> date:
    """NYSE shifts a Saturday holiday to Friday and a Sunday holiday to Monday."""
    if holiday.weekday() == SATURDAY:
        return holiday - timedelta(days=1)
    if holiday.weekday() == SUNDAY:
        return holiday + timedelta(days=1)
    return holiday


def nyse_holidays(year: int) -> set[date]:
    holidays = {
        nth_weekday(year, 1, MONDAY, 3),  # Martin Luther King Jr. Day
        nth_weekday(year, 2, MONDAY, 3),  # Presidents' Day
        easter_sunday(year) - timedelta(days=2),  # Good Friday
        last_weekday(year, 5, MONDAY),  # Memorial Day
        observed(date(year, 7, 4)),  # Independence Day
        nth_weekday(year, 9, MONDAY, 1),  # Labor Day
        nth_weekday(year, 11, THURSDAY, 4),  # Thanksgiving
        observed(date(year, 12, 25)),  # Christmas
    }
    new_year = date(year, 1, 1)
    # A Saturday New Year's Day is not moved to Friday Dec 31: NYSE stays open on the last
    # trading day of the year (e.g. 2021-12-31 was a normal session).
    if new_year.weekday() != SATURDAY:
        holidays.add(observed(new_year))
    if year >= 2022:  # Juneteenth became an NYSE holiday in 2022
        holidays.add(observed(date(year, 6, 19)))
    return holidays


def nyse_trading_days(start: date, end: date) -> list[date]:
    holidays = set().union(*(nyse_holidays(year) for year in range(start.year, end.year + 1)))
    weekdays = (ts.date() for ts in pd.bdate_range(start, end))
    return [day for day in weekdays if day not in holidays]


def session_close(day: date) -> time:
    # The day after Thanksgiving is the only NYSE early close that can fall in November.
    day_after_thanksgiving = nth_weekday(day.year, 11, THURSDAY, 4) + timedelta(days=1)
    return EARLY_CLOSE if day == day_after_thanksgiving else REGULAR_CLOSE


def session_bar_times(day: date) -> pd.DatetimeIndex:
    """Open times of the 1-minute bars of one regular session, localised to exchange time."""
    close = session_close(day)
    n_bars = (close.hour * 60 + close.minute) - (SESSION_OPEN.hour * 60 + SESSION_OPEN.minute)
    start = pd.Timestamp.combine(day, SESSION_OPEN).tz_localize(EXCHANGE_TZ)
    return pd.date_range(start, periods=n_bars, freq="min")


# --- Shared price mechanics -----------------------------------------------------------------


def correlated_normals(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 2) standard normals; column 1 has CORRELATION with column 0 (the market)."""
    market, idiosyncratic = rng.standard_normal((2, n))
    follower = CORRELATION * market + np.sqrt(1 - CORRELATION**2) * idiosyncratic
    return np.column_stack([market, follower])


def gap_jumps(rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
    """Multiplier for overnight shocks: mostly 1, occasionally a news-sized jump.

    Normalised to unit mean square so the overnight variance share stays as configured.
    """
    jump = rng.random(size) < GAP_JUMP_PROB
    scale = np.sqrt(1 + GAP_JUMP_PROB * (GAP_JUMP_SCALE**2 - 1))
    return np.where(jump, GAP_JUMP_SCALE, 1.0) / scale


def bridge_extremes(
    rng: np.random.Generator, move: np.ndarray, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Max and min (log) of a Brownian bridge from 0 to ``move`` with total std ``sigma``.

    Sampled exactly by inverting P(max > m) = exp(-2 m (m - move) / sigma^2), so the high/low
    are consistent with the open-to-close move and always bracket it.
    """
    u_high, u_low = rng.random((2, *move.shape))
    spread_high = np.sqrt(move**2 - 2 * sigma**2 * np.log1p(-u_high))
    spread_low = np.sqrt(move**2 - 2 * sigma**2 * np.log1p(-u_low))
    return 0.5 * (move + spread_high), 0.5 * (move - spread_low)


def volume_multiplier(abs_z: np.ndarray) -> np.ndarray:
    # Slope chosen so the multiplier averages 1 when abs_z is |N(0, 1)| (E|z| = sqrt(2/pi)).
    return VOLUME_FLOOR + (1 - VOLUME_FLOOR) / np.sqrt(2 / np.pi) * abs_z


def lognormal_noise(rng: np.random.Generator, sd: float, size: int) -> np.ndarray:
    return np.exp(rng.normal(-0.5 * sd**2, sd, size))  # unit mean


def rounded_ohlc(
    log_open: np.ndarray, log_high: np.ndarray, log_low: np.ndarray, log_close: np.ndarray
) -> dict[str, np.ndarray]:
    """Round to cents, then repair what rounding can break: high >= max(O, C), low <= min(O, C),
    and high > low (a flat bar is widened by one cent)."""
    o, h, lo, c = (np.round(np.exp(x), 2) for x in (log_open, log_high, log_low, log_close))
    h = np.maximum.reduce([h, o, c])
    lo = np.minimum.reduce([lo, o, c])
    h = np.where(h > lo, h, np.round(lo + 0.01, 2))
    return {"open": o, "high": h, "low": lo, "close": c}


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, float_format="%.2f", lineterminator="\n")


# --- Daily bars -----------------------------------------------------------------------------


def garch_variance(shocks: np.ndarray) -> np.ndarray:
    """Unit-mean GARCH(1,1) variance multiplier driven by unit-variance shocks."""
    omega = 1 - GARCH_ALPHA - GARCH_BETA
    h = np.ones(len(shocks))
    for t in range(1, len(shocks)):
        h[t] = omega + (GARCH_ALPHA * shocks[t - 1] ** 2 + GARCH_BETA) * h[t - 1]
    return h


def window_mask(days: list[date], window: tuple[date, date]) -> np.ndarray:
    return np.array([window[0] <= day <= window[1] for day in days])


def regime_vol_multiplier(days: list[date]) -> np.ndarray:
    """Stress multiplier for the COVID episode, scaled to unit mean square over the sample so
    each asset's realised volatility stays close to its configured ``volatility``."""
    multiplier = np.ones(len(days))
    multiplier[window_mask(days, CRASH_WINDOW)] = CRASH_VOL_MULTIPLIER
    multiplier[window_mask(days, REBOUND_WINDOW)] = REBOUND_VOL_MULTIPLIER
    return multiplier / np.sqrt(np.mean(multiplier**2))


def segment_targets(
    days: list[date], spec: AssetSpec, log_drift: float
) -> list[tuple[np.ndarray, float]]:
    """Total log return each segment of the daily sample is pinned to.

    Outside the COVID episode that is the model's expected growth. The crash loses
    ``crash_return`` and the rebound wins it back plus the episode's expected growth, so the whole
    sample grows at exactly the expected rate.
    """
    crash, rebound = window_mask(days, CRASH_WINDOW), window_mask(days, REBOUND_WINDOW)
    before = np.array([day < CRASH_WINDOW[0] for day in days])
    after = np.array([day > REBOUND_WINDOW[1] for day in days])
    crash_log = np.log1p(spec.crash_return)
    return [
        (before, log_drift * before.sum()),
        (crash, crash_log),
        (rebound, log_drift * (crash.sum() + rebound.sum()) - crash_log),
        (after, log_drift * after.sum()),
    ]


def pin_segments(
    gap: np.ndarray,
    intraday: np.ndarray,
    variance: np.ndarray,
    targets: list[tuple[np.ndarray, float]],
) -> np.ndarray:
    """Shift intraday moves so each segment's total log return equals its target.

    This conditions the random walk on its level at the segment boundaries (a Brownian bridge):
    the path in between stays random, but no seed can yield a sample whose overall growth
    contradicts the configured drift.
    Each day absorbs the shortfall in proportion to its variance, as Gaussian conditioning would.
    """
    pinned = intraday.copy()
    for mask, target in targets:
        shortfall = target - gap[mask].sum() - intraday[mask].sum()
        pinned[mask] += shortfall * variance[mask] / variance[mask].sum()
    return pinned


def daily_bars(
    rng: np.random.Generator,
    spec: AssetSpec,
    days: list[date],
    gap_z: np.ndarray,
    intraday_z: np.ndarray,
    vol_path: np.ndarray,
) -> pd.DataFrame:
    base_sigma = spec.volatility / np.sqrt(TRADING_DAYS_PER_YEAR)
    log_drift = (spec.drift - 0.5 * spec.volatility**2) / TRADING_DAYS_PER_YEAR
    gap_sigma = base_sigma * vol_path * np.sqrt(OVERNIGHT_VARIANCE_SHARE)
    intraday_sigma = base_sigma * vol_path * np.sqrt(1 - OVERNIGHT_VARIANCE_SHARE)

    gap = gap_sigma * gap_z
    intraday = pin_segments(
        gap,
        log_drift + intraday_sigma * intraday_z,
        intraday_sigma**2,
        segment_targets(days, spec, log_drift),
    )
    log_close = np.log(spec.prior_close) + np.cumsum(gap + intraday)
    log_open = log_close - intraday
    up, down = bridge_extremes(rng, intraday, intraday_sigma)
    bars = rounded_ohlc(log_open, log_open + up, log_open + down, log_close)

    # Measured against the calm-market sigma so high-volatility regimes lift volume.
    abs_z = np.abs(gap + intraday - log_drift) / base_sigma
    noise = lognormal_noise(rng, VOLUME_NOISE, len(days))
    volume = np.round(spec.mean_volume * volume_multiplier(abs_z) * noise).astype(np.int64)
    return pd.DataFrame(
        {
            "Date": [day.isoformat() for day in days],
            "Open": bars["open"],
            "High": bars["high"],
            "Low": bars["low"],
            "Close": bars["close"],
            "Adj Close": bars["close"],  # synthetic: no dividends or splits to adjust for
            "Volume": volume,
        },
        columns=DAILY_COLUMNS,
    )


def simulate_daily(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    days = nyse_trading_days(DAILY_START, DAILY_END)
    gap_z = correlated_normals(rng, len(days)) * gap_jumps(rng, (len(days), len(DAILY_ASSETS)))
    intraday_z = correlated_normals(rng, len(days))
    market_z = (
        np.sqrt(OVERNIGHT_VARIANCE_SHARE) * gap_z[:, 0]
        + np.sqrt(1 - OVERNIGHT_VARIANCE_SHARE) * intraday_z[:, 0]
    )
    # One market-wide volatility path: both assets share the same calm and stressed periods.
    vol_path = np.sqrt(garch_variance(market_z)) * regime_vol_multiplier(days)
    return {
        spec.symbol: daily_bars(rng, spec, days, gap_z[:, i], intraday_z[:, i], vol_path)
        for i, spec in enumerate(DAILY_ASSETS)
    }


# --- 1-minute bars --------------------------------------------------------------------------


def intraday_profile(n_bars: int) -> np.ndarray:
    """U-shaped per-bar weight with mean 1 over the session."""
    t = np.arange(n_bars)
    shape = (
        1
        + OPEN_BUMP * np.exp(-t / OPEN_DECAY_MINUTES)
        + CLOSE_BUMP * np.exp(-(n_bars - 1 - t) / CLOSE_DECAY_MINUTES)
    )
    return shape / shape.mean()


def simulate_minutes(rng: np.random.Generator, spec: AssetSpec) -> pd.DataFrame:
    days = nyse_trading_days(MINUTE_MONTH_START, MINUTE_MONTH_END)
    sessions = [session_bar_times(day) for day in days]
    profile = np.concatenate([intraday_profile(len(s)) for s in sessions])
    day_of_bar = np.repeat(np.arange(len(days)), [len(s) for s in sessions])
    first_bar = np.concatenate([[0], np.cumsum([len(s) for s in sessions])[:-1]])

    bars_per_year = TRADING_DAYS_PER_YEAR * MINUTES_PER_SESSION
    base_sigma = spec.volatility / np.sqrt(bars_per_year)
    # Calm and busy sessions; unit mean square keeps the month's variance at ``volatility``.
    dispersion = MINUTE_DAY_VOL_DISPERSION
    day_vol = np.exp(rng.normal(-(dispersion**2), dispersion, len(days)))
    sigma = base_sigma * np.sqrt(profile) * day_vol[day_of_bar]
    z = rng.standard_normal(len(profile))
    returns = (spec.drift - 0.5 * spec.volatility**2) / bars_per_year + sigma * z

    # Overnight gaps land on each session's first bar; within a session open = previous close.
    daily_sigma = spec.volatility / np.sqrt(TRADING_DAYS_PER_YEAR)
    gaps = np.zeros(len(profile))
    gaps[first_bar] = (
        daily_sigma
        * np.sqrt(OVERNIGHT_VARIANCE_SHARE)
        * rng.standard_normal(len(days))
        * gap_jumps(rng, len(days))
    )
    log_close = np.log(MINUTE_PRIOR_CLOSE) + np.cumsum(gaps + returns)
    log_open = log_close - returns
    up, down = bridge_extremes(rng, returns, sigma)
    bars = rounded_ohlc(log_open, log_open + up, log_open + down, log_close)

    noise = lognormal_noise(rng, MINUTE_VOLUME_NOISE, len(profile))
    per_bar = MINUTE_DAILY_VOLUME / MINUTES_PER_SESSION * profile * day_vol[day_of_bar]
    volume = np.round(per_bar * volume_multiplier(np.abs(z)) * noise).astype(np.int64)
    timestamps = [ts.isoformat() for session in sessions for ts in session]
    return pd.DataFrame({"timestamp": timestamps, **bars, "volume": volume}, columns=MINUTE_COLUMNS)


# --- CLI ------------------------------------------------------------------------------------


def generate(output_dir: Path, seed: int) -> list[Path]:
    # Independent child streams: changing one dataset's model never shifts the other's numbers.
    daily_rng, minute_rng = np.random.default_rng(seed).spawn(2)
    output_dir.mkdir(parents=True, exist_ok=True)
    frames = {f"{symbol}_daily.csv": df for symbol, df in simulate_daily(daily_rng).items()}
    frames[f"{AAPL.symbol}_1min.csv"] = simulate_minutes(minute_rng, AAPL)
    paths = []
    for name, frame in frames.items():
        write_csv(frame, output_dir / name)
        paths.append(output_dir / name)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    for path in generate(args.output_dir, args.seed):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
