"""An IB fetch as `data fetch --json` prints it, and as the HTTP API's fetch jobs show it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ntrader.models.enums import RunStatus, Timeframe

MAX_FETCH_INSTRUMENTS = 50


class InstrumentFetchView(BaseModel):
    instrument: str
    instrument_id: str
    chunks: int
    chunks_fetched: int
    chunks_already_stored: int
    chunks_without_sessions: int
    bars_stored: int
    retries: int
    reconnects: int
    seconds: float


class FetchSummary(BaseModel):
    """What one fetch stored, per instrument (`data fetch --json`)."""

    timeframe: Timeframe
    end: date = Field(description="The last day fetched: the request's, or yesterday.")
    bars_stored: int
    seconds: float
    pacing_wait_seconds: float
    instruments: list[InstrumentFetchView]


class FetchRequestBody(BaseModel):
    """`data fetch`'s options. The gateway (host, port, client id, mode) is the server's
    setting only: a request cannot name one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instruments: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        min_length=1,
        max_length=MAX_FETCH_INSTRUMENTS,
        description="Symbols: AAPL, SPY, EURUSD (AAPL.NASDAQ names the listing).",
    )
    start: date = Field(description="First day.")
    end: date = Field(description="Last day, inclusive.")
    timeframe: Timeframe = Timeframe.DAILY
    regular_hours: bool = Field(
        default=True, description="Regular trading hours only (false: pre- and post-market)."
    )


class FetchProgressView(BaseModel):
    instrument: str
    chunks_done: int
    chunks_total: int
    bars_stored: int


class FetchJob(BaseModel):
    """A fetch job of the server: its request, where it is, and what it stored."""

    model_config = ConfigDict(frozen=True)

    id: str
    status: RunStatus
    request: FetchRequestBody
    progress: FetchProgressView | None = None
    result: FetchSummary | None = None
    error_message: str | None = Field(
        default=None, description="Why a FAILED or INTERRUPTED job stopped."
    )
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
