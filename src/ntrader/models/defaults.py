"""Default values shared by models and the CLI (kept import-light for start-up)."""

from __future__ import annotations

from datetime import date

DEFAULT_START = date(2019, 1, 1)
DEFAULT_END = date(2024, 12, 31)
MAX_POSITION_PCT = 300.0  # margin used at most 3x the account value
# An annual risk-free rate as a fraction: 4 (meant as 4 %) is refused rather than believed.
MIN_RISK_FREE_RATE, MAX_RISK_FREE_RATE = -0.5, 1.0
