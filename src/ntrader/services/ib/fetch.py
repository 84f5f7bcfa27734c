"""``ntrader data fetch``: historical bars from IB into the store, chunk by chunk.

Each chunk (one request) goes through the same validation and bulk insert as ``data import``
in its own transaction, so the store only ever holds whole chunks: an interrupted fetch
resumes where it stopped, and a second run asks IB only for session days not stored yet.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from ibapi.contract import Contract

from ntrader.core.errors import NotFoundError, NtraderError, ServiceUnavailableError, UserInputError
from ntrader.core.ib.client import (
    NO_MARKET_DATA_PERMISSION,
    NO_SECURITY_DEFINITION,
    PACING_VIOLATION,
    IbBar,
    IbClient,
    IbConnectionLostError,
    IbRequestError,
    IbTimeoutError,
)
from ntrader.core.instrument_catalog import is_fx_pair
from ntrader.db.database import Database
from ntrader.models.enums import AssetClass, Timeframe
from ntrader.models.ib_fetch import FetchRequestBody, FetchSummary, InstrumentFetchView
from ntrader.services.data_service import DataService, ImportInterruptedError, ImportRequest
from ntrader.services.ib.chunks import (
    BAR_SIZE,
    DayChunk,
    chunk_window,
    days_of_bars,
    session_days,
    split_days,
)
from ntrader.services.ib.gateway import GatewayConfig, mask_account, open_session
from ntrader.services.ib.pacing import (
    Clock,
    HistoricalPacer,
    PacingRules,
    SystemClock,
    TokenBucket,
)
from ntrader.services.instruments import split_instrument
from ntrader.utils.settings import Settings
from ntrader.utils.timeutil import date_to_ns

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FetchOptions:
    request_timeout: float = 30.0
    pacing: PacingRules = field(default_factory=lambda: PacingRules(window_requests=0))
    """IB's rules without the 60-requests-in-10-minutes window (``soft``, as the setting)."""
    retries: int = 5
    """Attempts after the first, per request, on error 162, timeouts and lost connections."""
    backoff_seconds: float = 2.0
    """The first wait before a retry; it doubles with each further attempt."""

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchOptions:
        if settings.ib_pacing == "off":
            rules = PacingRules.off()
        else:
            rules = PacingRules(
                messages_per_second=settings.ib_messages_per_second,
                window_requests=60 if settings.ib_pacing == "strict" else 0,
            )
        return cls(
            request_timeout=settings.ib_request_timeout,
            pacing=rules,
            retries=settings.ib_retries,
            backoff_seconds=settings.ib_backoff_seconds,
        )


@dataclass(frozen=True, slots=True)
class FetchRequest:
    instruments: tuple[str, ...]
    start: date
    end: date
    """Inclusive."""
    timeframe: Timeframe
    regular_hours: bool = True

    @classmethod
    def of(cls, body: FetchRequestBody) -> FetchRequest:
        """The request an HTTP body (`data fetch`'s options) makes."""
        return cls(
            tuple(body.instruments), body.start, body.end, body.timeframe, body.regular_hours
        )


@dataclass(frozen=True, slots=True)
class ResolvedContract:
    text: str
    """What the user typed (AAPL, AAPL.NASDAQ, EURUSD)."""
    contract: Contract
    asset_class: AssetClass
    currency: str
    what_to_show: str
    venue: str | None
    """The venue the user named, if any."""


@dataclass
class InstrumentFetch:
    instrument: str
    instrument_id: str = ""
    chunks: int = 0
    chunks_fetched: int = 0
    chunks_already_stored: int = 0
    chunks_without_sessions: int = 0
    bars_stored: int = 0
    retries: int = 0
    reconnects: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class FetchProgress:
    instrument: str
    chunks_done: int
    chunks_total: int
    bars_stored: int


@dataclass
class FetchReport:
    end: date
    """The last day fetched: the request's, or yesterday if that was earlier."""
    results: list[InstrumentFetch]
    pacing_wait_seconds: float
    seconds: float

    @property
    def bars_stored(self) -> int:
        return sum(r.bars_stored for r in self.results)

    def summary(self, timeframe: Timeframe) -> FetchSummary:
        return FetchSummary(
            timeframe=timeframe,
            end=self.end,
            bars_stored=self.bars_stored,
            seconds=round(self.seconds, 3),
            pacing_wait_seconds=round(self.pacing_wait_seconds, 3),
            instruments=[InstrumentFetchView.model_validate(asdict(r)) for r in self.results],
        )


class FetchInterruptedError(NtraderError):
    """Ctrl-C during a fetch: the chunks stored so far are whole; running again resumes."""

    exit_code = 130


class IbNoDataError(NtraderError):
    """IB answered a request for days the market traded with no bars."""

    exit_code = 3


class _Session:
    """The connection, with what to do when a request fails: back off and retry on pacing
    violations and timeouts, reconnect when the connection drops."""

    def __init__(self, config: GatewayConfig, options: FetchOptions, clock: Clock) -> None:
        self._config = config
        self._options = options
        self._clock = clock
        self._bucket = TokenBucket(options.pacing.messages_per_second, clock)
        self.pacer = HistoricalPacer(options.pacing, clock)
        self._client: IbClient | None = None
        self._connected_once = False
        self.retries = 0
        self.reconnects = 0

    def client(self) -> IbClient:
        if self._client is None or not self._client.is_connected:
            if self._client is not None:
                self._client.close()
            self._client, info = open_session(
                self._config,
                request_timeout=self._options.request_timeout,
                before_send=self._bucket.acquire,
            )
            self._connected_once = True
            log.info(
                "connected to %s (server %s, accounts %s)",
                self._config.address,
                info.server_version,
                ",".join(mask_account(a) for a in info.accounts),
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def call(self, what: str, request: Callable[[IbClient], T]) -> T:
        """``request`` with retries; ``what`` names it in errors ("AAPL 1MIN 2023-01-03")."""
        attempt = 0
        while True:
            try:
                return request(self.client())
            except IbRequestError as exc:
                if exc.code != PACING_VIOLATION:
                    raise
                failure: Exception = exc
            except (IbConnectionLostError, IbTimeoutError) as exc:
                failure = exc
            except ServiceUnavailableError:
                # A gateway that never answered is down: say so now. One that dropped us
                # may be restarting: keep trying.
                if not self._connected_once or attempt >= self._options.retries:
                    raise
                failure = IbConnectionLostError()
            if attempt >= self._options.retries:
                raise self._gave_up(what, failure)
            attempt += 1
            self.retries += 1
            if isinstance(failure, IbConnectionLostError):
                self.reconnects += 1
            delay = self._options.backoff_seconds * 2 ** (attempt - 1)
            log.warning("%s: %s; retrying in %.1f s", what, type(failure).__name__, delay)
            self._clock.sleep(delay)

    def _gave_up(self, what: str, failure: Exception) -> NtraderError:
        tries = self._options.retries + 1
        resume = "The chunks stored so far are whole; run the same command again to continue."
        if isinstance(failure, IbRequestError):
            return ServiceUnavailableError(
                f"IB refused {what} for pacing (error 162) {tries} times in a row.",
                hint=f"Wait a few minutes, or set NTRADER_IB_PACING=strict. {resume}",
            )
        if isinstance(failure, IbTimeoutError):
            return ServiceUnavailableError(
                f"IB did not answer {what} within {self._options.request_timeout:g} s, "
                f"{tries} times in a row.",
                hint=f"Check the gateway, or raise NTRADER_IB_REQUEST_TIMEOUT. {resume}",
            )
        return ServiceUnavailableError(
            f"The connection to {self._config.address} dropped during {what} and could not "
            f"be restored in {tries} attempts.",
            hint=f"Check that TWS / IB Gateway is running and logged in. {resume}",
        )


class IbFetchService:
    def __init__(
        self,
        database: Database,
        gateway: GatewayConfig,
        options: FetchOptions,
        clock: Clock | None = None,
    ) -> None:
        self._database = database
        self._data = DataService(database)
        self._gateway = gateway
        self._options = options
        self._clock = clock or SystemClock()

    def fetch(
        self,
        request: FetchRequest,
        on_progress: Callable[[FetchProgress], None] | None = None,
    ) -> FetchReport:
        request = checked(request)
        started = time.perf_counter()
        report = on_progress or (lambda _progress: None)
        session = _Session(self._gateway, self._options, self._clock)
        results: list[InstrumentFetch] = []
        try:
            for text in request.instruments:
                result = InstrumentFetch(instrument=text)
                results.append(result)
                self._fetch_instrument(session, request, text, result, report)
        except (KeyboardInterrupt, ImportInterruptedError) as exc:
            stored = sum(r.chunks_fetched for r in results)
            bars = sum(r.bars_stored for r in results)
            raise FetchInterruptedError(
                f"The fetch was interrupted after {stored:,} whole chunks ({bars:,} bars) "
                "were stored; no chunk is stored in part.",
                hint="Run the same command again: it fetches only what is missing.",
            ) from exc
        finally:
            session.close()
        return FetchReport(
            request.end, results, session.pacer.waited, time.perf_counter() - started
        )

    def _fetch_instrument(
        self,
        session: _Session,
        request: FetchRequest,
        text: str,
        result: InstrumentFetch,
        report: Callable[[FetchProgress], None],
    ) -> None:
        started = time.perf_counter()
        retries, reconnects = session.retries, session.reconnects
        resolved = self._resolve(session, text)
        chunks = split_days(request.start, request.end, request.timeframe)
        result.chunks = len(chunks)
        result.instrument_id, stored_days = self._stored_days(resolved, request)
        for done, chunk in enumerate(chunks, start=1):
            sessions = session_days(resolved.asset_class, chunk.first, chunk.last)
            if not sessions:
                result.chunks_without_sessions += 1
            elif stored_days.issuperset(sessions):
                result.chunks_already_stored += 1
            else:
                self._fetch_chunk(session, request, resolved, chunk, result)
            report(FetchProgress(text, done, len(chunks), result.bars_stored))
        result.retries = session.retries - retries
        result.reconnects = session.reconnects - reconnects
        result.seconds = time.perf_counter() - started

    def _fetch_chunk(
        self,
        session: _Session,
        request: FetchRequest,
        resolved: ResolvedContract,
        chunk: DayChunk,
        result: InstrumentFetch,
    ) -> None:
        timeframe = request.timeframe
        start, end = chunk_window(resolved.asset_class, chunk)
        label = f"IB {resolved.text} {timeframe.value} {chunk.first}..{chunk.last}"
        end_text = end.strftime("%Y%m%d-%H:%M:%S")
        contract_key = (resolved.contract.conId, BAR_SIZE[timeframe], resolved.what_to_show)
        request_key = (*contract_key, end_text, chunk.duration, request.regular_hours)

        def ask(client: IbClient) -> list[IbBar]:
            session.pacer.before_request(contract_key, request_key)
            return client.historical_bars(
                resolved.contract,
                end=end_text,
                duration=chunk.duration,
                bar_size=BAR_SIZE[timeframe],
                what_to_show=resolved.what_to_show,
                use_rth=request.regular_hours,
            )

        try:
            bars = session.call(label.removeprefix("IB "), ask)
        except IbRequestError as exc:
            raise _request_error(resolved.text, exc) from None
        rows = _rows_in(bars, timeframe, chunk, start, end)
        if not rows:
            raise IbNoDataError(
                f"IB returned no {timeframe.value} bars of {resolved.text} for "
                f"{chunk.first}..{chunk.last}, although the market was open then.",
                hint="Check the market data subscription and the dates; nothing was stored "
                "for those days, and running the command again retries them.",
            )
        imported = self._data.import_csv(
            ImportRequest(
                file=Path(label),
                instrument=resolved.contract.symbol + resolved.currency
                if resolved.asset_class is AssetClass.FX
                else resolved.contract.symbol,
                timeframe=timeframe,
                venue=resolved.venue,
                asset_class=resolved.asset_class,
                currency=resolved.currency,
                content=_csv(rows),
            )
        )
        result.instrument_id = imported.instrument_id
        result.chunks_fetched += 1
        result.bars_stored += imported.rows_imported

    def _resolve(self, session: _Session, text: str) -> ResolvedContract:
        symbol, venue = split_instrument(text)
        query = Contract()
        if is_fx_pair(symbol):
            query.symbol, query.secType, query.currency = symbol[:3], "CASH", symbol[3:]
            query.exchange = "IDEALPRO"
        else:
            query.symbol, query.secType, query.currency = symbol, "STK", "USD"
            query.exchange, query.primaryExchange = "SMART", venue or ""
        try:
            details = session.call(f"the contract of {symbol}", lambda c: c.contract_details(query))
        except IbRequestError as exc:
            raise _request_error(text, exc) from None
        distinct = {d.contract.conId: d for d in details}
        if not distinct:
            raise _request_error(text, IbRequestError(NO_SECURITY_DEFINITION, ""))
        if len(distinct) > 1:
            names = ", ".join(
                f"{symbol}.{d.contract.primaryExchange} (conId {d.contract.conId})"
                for d in distinct.values()
            )
            raise UserInputError(
                f"{symbol} is ambiguous at IB: {names}.",
                hint=f"Name one, for example --instruments {symbol}."
                f"{next(iter(distinct.values())).contract.primaryExchange}.",
            )
        found = next(iter(distinct.values()))
        contract = Contract()
        contract.conId = found.contract.conId
        contract.symbol, contract.secType = found.contract.symbol, found.contract.secType
        contract.currency, contract.exchange = found.contract.currency, query.exchange
        contract.primaryExchange = found.contract.primaryExchange
        fx = contract.secType == "CASH"
        return ResolvedContract(
            text=text.strip().upper(),
            contract=contract,
            asset_class=AssetClass.FX
            if fx
            else AssetClass.ETF
            if found.stockType == "ETF"
            else AssetClass.EQUITY,
            currency=contract.currency,
            what_to_show="MIDPOINT" if fx else "TRADES",
            venue=venue,
        )

    def _stored_days(
        self, resolved: ResolvedContract, request: FetchRequest
    ) -> tuple[str, set[date]]:
        """The stored instrument's id, and the session days in the range it has bars on."""
        symbol = resolved.contract.symbol + (
            resolved.currency if resolved.asset_class is AssetClass.FX else ""
        )
        with self._database.transaction() as repos:
            stored = repos.instruments.by_symbol(symbol)
            if resolved.venue:
                stored = [s for s in stored if s.spec.venue == resolved.venue]
            if len(stored) != 1:
                # Nothing stored yet; or several venues, and the import says to name one.
                return "", set()
            first, _ = chunk_window(resolved.asset_class, DayChunk(request.start, request.start))
            _, last = chunk_window(resolved.asset_class, DayChunk(request.end, request.end))
            data = repos.bars.load(
                stored[0],
                request.timeframe,
                min(int(first.timestamp()) * 10**9, date_to_ns(request.start)),
                int(last.timestamp()) * 10**9,
            )
        days = days_of_bars(resolved.asset_class, request.timeframe, data.ts)
        return stored[0].spec.instrument_id, days


def checked(request: FetchRequest) -> FetchRequest:
    """The request, its end moved back to yesterday: a session still trading would be
    stored in part, and then count as fetched."""
    if not request.instruments:
        raise UserInputError(
            "No instrument to fetch.", hint="Pass --instruments, e.g. --instruments AAPL,SPY."
        )
    if request.end < request.start:
        raise UserInputError(
            f"The end date {request.end} is before the start date {request.start}.",
            hint="Swap --start and --end.",
        )
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    if request.start > yesterday:
        raise UserInputError(
            f"The start date {request.start} is not in the past: ntrader fetches finished "
            "sessions only.",
            hint=f"Pick a --start up to {yesterday}.",
        )
    return replace(request, end=min(request.end, yesterday))


def _request_error(text: str, exc: IbRequestError) -> NtraderError:
    if exc.code == NO_SECURITY_DEFINITION:
        return NotFoundError(
            f"IB has no security definition for {text} (error 200).",
            hint="Check the symbol; name the exchange for a US listing (AAPL.NASDAQ) or write "
            "an FX pair as EURUSD.",
        )
    if exc.code == NO_MARKET_DATA_PERMISSION:
        return ServiceUnavailableError(
            f"The IB account has no market data subscription for {text} (error 354).",
            hint="Subscribe to the exchange's data in IB's Client Portal (Settings → Market "
            "Data Subscriptions), then run the command again.",
        )
    return ServiceUnavailableError(
        f"IB refused the request for {text}: error {exc.code}: {exc.text}",
        hint="Check the gateway's log for the request.",
    )


def _rows_in(
    bars: list[IbBar], timeframe: Timeframe, chunk: DayChunk, start: datetime, end: datetime
) -> list[tuple[str, IbBar]]:
    """The bars inside the chunk, with their CSV timestamp: IB's spans are approximate."""
    rows = []
    for bar in bars:
        if timeframe is Timeframe.DAILY:
            day = datetime.strptime(bar.date[:8], "%Y%m%d").date()
            if chunk.first <= day <= chunk.last:
                rows.append((day.isoformat(), bar))
        else:
            stamp = int(bar.date)
            if start.timestamp() <= stamp < end.timestamp():
                rows.append((str(stamp), bar))
    return rows


def _csv(rows: list[tuple[str, IbBar]]) -> bytes:
    """The rows as the CSV ``data import`` reads: epoch seconds, or the day for daily bars."""
    lines = ["timestamp,open,high,low,close,volume"]
    for stamp, bar in rows:
        # MIDPOINT bars (FX) carry volume -1: IB's "no volume".
        volume = max(bar.volume, 0)
        lines.append(f"{stamp},{bar.open!r},{bar.high!r},{bar.low!r},{bar.close!r},{volume}")
    return ("\n".join(lines) + "\n").encode()
