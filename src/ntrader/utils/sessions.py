"""Trading days as New York calendar days, where US sessions open and close."""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY_ZONE = "America/New_York"


def new_york_days(ts: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The New York date of each (UTC-aware) timestamp, as naive midnights."""
    return ts.tz_convert(DAY_ZONE).normalize().tz_localize(None).as_unit("ns")


def last_of_day(days: pd.DatetimeIndex) -> np.ndarray:
    """True at the last entry of each day (entries in time order)."""
    return np.append(days[1:] != days[:-1], True)
