"""A fake TWS / IB Gateway: the TWS API wire protocol (text framing) on a loopback socket.

It speaks server version 200 by default (201+ switches the wire format to protobuf): the
``API\\0`` handshake, startApi → nextValidId + managedAccounts, reqContractDetails →
contractData + contractDataEnd, reqHistoricalData → historicalData + historicalDataEnd, and
error messages. Faults are scripted per historical request (``script``), so a test decides
that the 3rd request gets error 162 and the 5th loses the connection half-way.

Bars are a pure function of (symbol, bar open time): ``expected_bar`` gives the value a test
must find in the store.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from ntrader.core.calendars import TradingCalendar, trading_days

NEW_YORK = ZoneInfo("America/New_York")

# ibapi's message ids (ibapi/message.py): outgoing from the client, incoming to it.
REQ_CONTRACT_DATA = 9
REQ_HISTORICAL_DATA = 20
CANCEL_HISTORICAL_DATA = 25
START_API = 71
ERR_MSG = 4
NEXT_VALID_ID = 9
CONTRACT_DATA = 10
MANAGED_ACCTS = 15
HISTORICAL_DATA = 17
CONTRACT_DATA_END = 52
HISTORICAL_DATA_END = 108


@dataclass(frozen=True)
class FakeContract:
    symbol: str
    sec_type: str  # STK or CASH
    currency: str
    primary_exchange: str
    con_id: int
    stock_type: str = "COMMON"
    min_tick: float = 0.01
    isin: str = ""  # nautilus' adapter names stocks by it


DEFAULT_CONTRACTS = (
    FakeContract("AAPL", "STK", "USD", "NASDAQ", 265598, isin="US0378331005"),
    FakeContract("SPY", "STK", "USD", "ARCA", 756733, stock_type="ETF", isin="US78462F1030"),
    FakeContract("EUR", "CASH", "USD", "IDEALPRO", 12087792, min_tick=0.00005),
    # Two listings of one symbol: resolution must ask which.
    FakeContract("DUAL", "STK", "USD", "NYSE", 1001),
    FakeContract("DUAL", "STK", "USD", "NASDAQ", 1002),
)


@dataclass
class Fault:
    """What happens to one historical-data request instead of (or before) its answer."""

    error: int | None = None  # 162, 200, 354 ...: answered with this error, no bars
    drop_after: int | None = None  # bars sent before the connection is cut
    delay: float = 0.0  # seconds before answering
    silent: bool = False  # never answered
    empty: bool = False  # historicalDataEnd with no bars


@dataclass
class HistoricalRequest:
    req_id: int
    symbol: str
    sec_type: str
    end: str
    bar_size: str
    duration: str
    use_rth: bool
    what_to_show: str
    format_date: int


@dataclass
class FakeTws:
    server_version: int = 200
    accounts: tuple[str, ...] = ("DU1234567",)
    contracts: tuple[FakeContract, ...] = DEFAULT_CONTRACTS
    mode: str = "ok"  # ok | silent | api_disabled | client_id_in_use
    script: deque[Fault | None] = field(default_factory=deque)
    """Faults for the next historical requests, in order (None: answer normally)."""
    history_requests: list[HistoricalRequest] = field(default_factory=list)
    sessions: int = 0
    """API sessions: connections that completed the handshake."""

    def __post_init__(self) -> None:
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = int(self._listener.getsockname()[1])
        self._stopping = threading.Event()
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def close(self) -> None:
        self._stopping.set()
        self._listener.close()
        with self._lock:
            for client in self._clients:
                _close(client)

    def __enter__(self) -> FakeTws:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- sockets ---------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            # Each answer is several messages written back to back: without TCP_NODELAY
            # Nagle's algorithm holds the last one for the client's delayed ACK (~40 ms).
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._clients.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            self._handshake(client)
            while not self._stopping.is_set():
                fields = _read_message(client)
                if fields is None:
                    return
                self._dispatch(client, fields)
        except (OSError, _DroppedError):
            pass
        finally:
            _close(client)

    def _handshake(self, client: socket.socket) -> None:
        prefix = _read_exact(client, 4)
        if prefix != b"API\0":
            raise _DroppedError
        size = struct.unpack("!I", _read_exact(client, 4))[0]
        versions = _read_exact(client, size).decode()
        if self.mode == "api_disabled":
            raise _DroppedError
        if self.mode == "silent":
            self._stopping.wait()
            raise _DroppedError
        low, high = versions.split()[0].lstrip("v").split("..")
        if not int(low) <= self.server_version <= int(high):
            raise _DroppedError
        stamp = datetime.now(UTC).strftime("%Y%m%d %H:%M:%S UTC")
        _send(client, [str(self.server_version), stamp])
        with self._lock:
            self.sessions += 1

    def _dispatch(self, client: socket.socket, fields: list[str]) -> None:
        message = int(fields[0])
        if message == START_API:
            if self.mode == "client_id_in_use":
                self._error(client, -1, 326, "Unable to connect as the client id is in use.")
                raise _DroppedError
            _send(client, [NEXT_VALID_ID, 1, 1])
            _send(client, [MANAGED_ACCTS, 1, ",".join(self.accounts)])
        elif message == REQ_CONTRACT_DATA:
            self._contract_details(client, fields)
        elif message == REQ_HISTORICAL_DATA:
            self._historical(client, fields)

    def _error(self, client: socket.socket, req_id: int, code: int, text: str) -> None:
        _send(client, [ERR_MSG, req_id, code, text, "", int(time.time() * 1000)])

    # --- contracts ---------------------------------------------------------------------------

    def _contract_details(self, client: socket.socket, fields: list[str]) -> None:
        # version, reqId, conId, symbol, secType, lastTrade, strike, right, multiplier,
        # exchange, primaryExchange, currency, ...
        req_id, con_id, symbol, sec_type = int(fields[2]), int(fields[3] or 0), fields[4], fields[5]
        primary, currency = fields[11], fields[12]
        found = [
            c
            for c in self.contracts
            if (c.con_id == con_id if con_id else c.symbol == symbol and c.sec_type == sec_type)
            and (not primary or c.primary_exchange == primary)
            and (not currency or c.currency == currency)
        ]
        if not found:
            self._error(client, req_id, 200, "No security definition has been found")
            return
        for contract in found:
            _send(client, _contract_data(req_id, contract))
        _send(client, [CONTRACT_DATA_END, 1, req_id])

    # --- history -----------------------------------------------------------------------------

    def _historical(self, client: socket.socket, fields: list[str]) -> None:
        # reqId, conId, symbol, secType, lastTrade, strike, right, multiplier, exchange,
        # primaryExchange, currency, localSymbol, tradingClass, includeExpired, endDateTime,
        # barSize, duration, useRTH, whatToShow, formatDate, keepUpToDate, chartOptions
        request = HistoricalRequest(
            req_id=int(fields[1]),
            symbol=fields[3],
            sec_type=fields[4],
            end=fields[15],
            bar_size=fields[16],
            duration=fields[17],
            use_rth=fields[18] == "1",
            what_to_show=fields[19],
            format_date=int(fields[20]),
        )
        self.history_requests.append(request)
        fault = self.script.popleft() if self.script else None
        fault = fault or Fault()
        if fault.delay:
            time.sleep(fault.delay)
        if fault.silent:
            return
        if fault.error is not None:
            texts = {
                162: "Historical Market Data Service error message:API historical data query "
                "cancelled: pacing violation",
                200: "No security definition has been found for the request",
                354: "Requested market data is not subscribed.",
            }
            self._error(client, request.req_id, fault.error, texts.get(fault.error, "error"))
            return
        bars = [] if fault.empty else self.bars_for(request)
        daily = request.bar_size == "1 day"
        if fault.drop_after is not None:
            _send(client, _history_message(request.req_id, bars[: fault.drop_after], daily))
            raise _DroppedError
        _send(client, _history_message(request.req_id, bars, daily))
        _send(client, [HISTORICAL_DATA_END, request.req_id, "", ""])

    def bars_for(self, request: HistoricalRequest) -> list[tuple[int, tuple[str, ...]]]:
        """(open time in UTC seconds, or the day as yyyymmdd for daily bars; fields)."""
        end = _end_time(request.end)
        start = end - _duration(request.duration)
        step = _bar_seconds(request.bar_size)
        fx = request.sec_type == "CASH"
        return [
            (stamp, expected_bar(request.symbol, stamp, step))
            for stamp in bar_times(fx, request.use_rth, start, end, step)
        ]


class _DroppedError(Exception):
    """The fake cuts this connection."""


def bar_times(fx: bool, use_rth: bool, start: datetime, end: datetime, step: int) -> list[int]:
    """Bar open times (UTC seconds) in [start, end): US equity sessions (09:30-16:00 New
    York, 04:00-20:00 with all hours) on NYSE days; FX from Sunday 17:00 to Friday 17:00
    New York. Daily bars: one per session day, stamped at the day's UTC midnight."""
    first_day = (start - timedelta(days=1)).date()
    last_day = (end + timedelta(days=1)).date()
    calendar = TradingCalendar.WEEKDAYS if fx else TradingCalendar.XNYS
    days = [d.date() for d in trading_days(calendar, first_day, last_day)]
    lo, hi = int(start.timestamp()), int(end.timestamp())
    stamps: list[int] = []
    for day in days:
        if step == 86_400:
            # A daily bar belongs to the request whose span holds the session's close.
            close = datetime.combine(day, datetime.min.time(), NEW_YORK) + timedelta(
                hours=17 if fx else 16
            )
            if lo < close.timestamp() <= hi:
                stamps.append(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()))
            continue
        if fx:
            opens = datetime.combine(day - timedelta(days=1), datetime.min.time(), NEW_YORK)
            session = (opens + timedelta(hours=17), opens + timedelta(hours=41))
        else:
            midnight_ny = datetime.combine(day, datetime.min.time(), NEW_YORK)
            session = (
                _regular_session(day)
                if use_rth
                else (midnight_ny + timedelta(hours=4), midnight_ny + timedelta(hours=20))
            )
        first = int(session[0].timestamp())
        stamps.extend(t for t in range(first, int(session[1].timestamp()), step) if lo <= t < hi)
    return stamps


@cache
def _nyse_schedule(year: int) -> dict[date, tuple[datetime, datetime]]:
    import exchange_calendars

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        calendar = exchange_calendars.get_calendar(
            "XNYS", start=f"{year}-01-01", end=f"{year}-12-31"
        )
    return {
        day.date(): (row.open.to_pydatetime(), row.close.to_pydatetime())
        for day, row in calendar.schedule.iterrows()
    }


def _regular_session(day: date) -> tuple[datetime, datetime]:
    """The NYSE's open and close that day (13:00 on half days), as IB's RTH bars follow."""
    return _nyse_schedule(day.year)[day]


def expected_bar(symbol: str, stamp: int, step: int) -> tuple[str, str, str, str, str]:
    """open, high, low, close, volume texts of the bar opening at ``stamp`` (UTC seconds)."""
    fx = symbol == "EUR"
    scale = 100_000 if fx else 100
    base = 110_000 if fx else 10_000 + 100 * (sum(map(ord, symbol)) % 50)
    k = stamp // 60
    open_ = base + (k * 7919) % 1000
    close = open_ + (k * 31) % 21 - 10
    high = max(open_, close) + 5 + (k % 3)
    low = min(open_, close) - 5 - (k % 4)
    volume = 0 if fx else 100 + (k * 13) % 997 + step // 60
    decimals = 5 if fx else 2
    return (
        *(f"{value / scale:.{decimals}f}" for value in (open_, high, low, close)),
        str(volume),
    )  # type: ignore[return-value]


def _history_message(
    req_id: int, bars: list[tuple[int, tuple[str, ...]]], daily: bool
) -> list[object]:
    """Intraday bars dated in epoch seconds (formatDate 2), daily bars as yyyymmdd (as TWS)."""
    fields: list[object] = [HISTORICAL_DATA, req_id, len(bars)]
    for stamp, (open_, high, low, close, volume) in bars:
        when = datetime.fromtimestamp(stamp, UTC).strftime("%Y%m%d") if daily else str(stamp)
        fields += [when, open_, high, low, close, volume, close, 1]
    return fields


def _contract_data(req_id: int, c: FakeContract) -> list[object]:
    exchange = "IDEALPRO" if c.sec_type == "CASH" else "SMART"
    long_name = "European Monetary Union Euro" if c.sec_type == "CASH" else f"{c.symbol} INC"
    return [
        CONTRACT_DATA, req_id, c.symbol, c.sec_type,
        "", "",  # lastTradeDateOrContractMonth, lastTradeDate
        0.0, "", exchange, c.currency, c.symbol, c.symbol, c.symbol, c.con_id, c.min_tick,
        "", "LMT,MKT", f"{exchange},{c.primary_exchange}", 1, 0, long_name, c.primary_exchange,
        "", "", "", "",  # contractMonth, industry, category, subcategory
        "US/Eastern", "", "",  # timeZoneId, tradingHours, liquidHours
        "", 0,  # evRule, evMultiplier
        *([1, "ISIN", c.isin] if c.isin else [0]),  # secIdList
        1, "", "", "26", "", c.stock_type,  # aggGroup..stockType
        "1", "1", "1",  # minSize, sizeIncrement, suggestedSizeIncrement
        0,  # ineligibility reasons
    ]  # fmt: skip


def _end_time(text: str) -> datetime:
    """IB's two UTC spellings: ``20231129-04:00:00`` (ours) and ``20231129 04:00:00 UTC``
    (nautilus' adapter)."""
    pattern = "%Y%m%d %H:%M:%S UTC" if text.endswith(" UTC") else "%Y%m%d-%H:%M:%S"
    return datetime.strptime(text, pattern).replace(tzinfo=UTC)


def _duration(text: str) -> timedelta:
    count, unit = text.split()
    days = {"S": 1 / 86_400, "D": 1, "W": 7, "M": 30, "Y": 365}[unit]
    return timedelta(days=int(count) * days)


def _bar_seconds(text: str) -> int:
    return {"1 min": 60, "5 mins": 300, "1 hour": 3600, "1 day": 86_400}[text]


def _send(client: socket.socket, fields: list[object]) -> None:
    """One length-prefixed message of NUL-terminated fields (the handshake reply too)."""
    payload = "".join(f"{_text(f)}\0" for f in fields).encode()
    client.sendall(struct.pack("!I", len(payload)) + payload)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return str(int(value))
    return str(value)


def _read_exact(client: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = client.recv(size - len(data))
        if not chunk:
            raise _DroppedError
        data += chunk
    return data


def _read_message(client: socket.socket) -> list[str] | None:
    try:
        size = struct.unpack("!I", _read_exact(client, 4))[0]
        payload = _read_exact(client, size)
    except _DroppedError:
        return None
    return payload.decode().split("\0")[:-1]


def _close(client: socket.socket) -> None:
    with contextlib.suppress(OSError):
        client.shutdown(socket.SHUT_RDWR)
    client.close()


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the block runs: bound but not
    listening, so no other test can take it meanwhile (a closed port can be reused at once)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])
