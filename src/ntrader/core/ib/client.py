"""A blocking client for TWS / IB Gateway on ibapi's ``EClient``.

nautilus' ``HistoricInteractiveBrokersClient`` drives this same ``EClient`` but hides the
failures a fetch must see: a request answered with error 162 or 200 resolves, after its 120 s
timeout, to an empty list, and after a reconnect its next request stalls. Here every request
ends within ``timeout`` seconds in its bars, or in ``IbRequestError`` (with IB's code),
``IbConnectionLostError`` or ``IbTimeoutError``.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ibapi.client import EClient
from ibapi.common import BarData, TickerId
from ibapi.contract import Contract, ContractDetails
from ibapi.wrapper import EWrapper

# ibapi logs every message it sends and receives (account ids included) at INFO/DEBUG, and
# warns about disconnects this module reports itself.
logging.getLogger("ibapi").setLevel(logging.ERROR)

CONNECT_FAILED = 502  # ibapi: could not open the socket
CLIENT_ID_IN_USE = 326
PACING_VIOLATION = 162
NO_SECURITY_DEFINITION = 200
NO_MARKET_DATA_PERMISSION = 354
# Notices TWS sends with every connection ("market data farm connection is OK", ...).
_NOTICE_CODES = range(2100, 2200)


class IbConnectError(Exception):
    """The gateway could not be reached or refused the session; ``reason`` says which."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class IbRequestError(Exception):
    """The gateway answered a request with an error message."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"error {code}: {text}")
        self.code = code
        self.text = text


class IbConnectionLostError(Exception):
    """The connection closed while a request was waiting for its answer."""


class IbTimeoutError(Exception):
    """No complete answer within the client's timeout."""


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    server_version: int
    connection_time: str
    accounts: tuple[str, ...]
    seconds: float


@dataclass(frozen=True, slots=True)
class IbBar:
    """One bar as TWS sends it: ``date`` is epoch seconds (intraday) or yyyymmdd (daily)."""

    date: str
    open: float
    high: float
    low: float
    close: float
    volume: Decimal


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    items: list[Any] = field(default_factory=list)
    error: BaseException | None = None

    def fail(self, error: BaseException) -> None:
        if not self.done.is_set():
            self.error = error
            self.done.set()


class _Wrapper(EWrapper):
    """Routes ibapi's callbacks (on its message thread) to the requests waiting for them."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.pending: dict[int, _Pending] = {}
        self.accounts: tuple[str, ...] | None = None
        self.next_id: int | None = None
        self.ready = threading.Event()
        self.session_error: IbConnectError | None = None

    def _settle_session(self) -> None:
        if self.accounts is not None and self.next_id is not None:
            self.ready.set()

    def nextValidId(self, orderId: int) -> None:  # noqa: N802, N803 (ibapi's names)
        self.next_id = orderId
        self._settle_session()

    def managedAccounts(self, accountsList: str) -> None:  # noqa: N802, N803
        self.accounts = tuple(a for a in accountsList.split(",") if a)
        self._settle_session()

    def contractDetails(self, reqId: int, contractDetails: ContractDetails) -> None:  # noqa: N802, N803
        with self.lock:
            pending = self.pending.get(reqId)
        if pending is not None:
            pending.items.append(contractDetails)

    def contractDetailsEnd(self, reqId: int) -> None:  # noqa: N802, N803
        self._finish(reqId)

    def historicalData(self, reqId: int, bar: BarData) -> None:  # noqa: N802, N803
        with self.lock:
            pending = self.pending.get(reqId)
        if pending is not None:
            pending.items.append(
                IbBar(bar.date, bar.open, bar.high, bar.low, bar.close, Decimal(bar.volume))
            )

    def historicalDataEnd(self, reqId: int, start: str, end: str) -> None:  # noqa: N802, N803
        self._finish(reqId)

    def error(
        self,
        reqId: TickerId,  # noqa: N803
        errorTime: int,  # noqa: N803
        errorCode: int,  # noqa: N803
        errorString: str,  # noqa: N803
        advancedOrderRejectJson: str = "",  # noqa: N803
    ) -> None:
        if errorCode in _NOTICE_CODES:
            return
        with self.lock:
            pending = self.pending.get(reqId)
        if pending is not None:
            pending.fail(IbRequestError(errorCode, errorString))
            return
        if errorCode == CONNECT_FAILED:
            self.session_error = IbConnectError("refused", errorString)
        elif errorCode == CLIENT_ID_IN_USE:
            self.session_error = IbConnectError("client id in use", errorString)
        else:
            return
        self.ready.set()

    def connectionClosed(self) -> None:  # noqa: N802
        with self.lock:
            waiting = list(self.pending.values())
        for pending in waiting:
            pending.fail(IbConnectionLostError())
        if not self.ready.is_set():
            self.session_error = self.session_error or IbConnectError("closed")
            self.ready.set()

    def _finish(self, req_id: int) -> None:
        with self.lock:
            pending = self.pending.get(req_id)
        if pending is not None:
            pending.done.set()


class IbClient:
    """One API session with TWS / IB Gateway. ``before_send`` runs before every message sent
    (the message rate limit hangs there)."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: int,
        *,
        connect_timeout: float,
        timeout: float,
        before_send: Callable[[], None] = lambda: None,
    ) -> None:
        self._host = host
        self._port = port
        self._client_id = client_id
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._before_send = before_send
        self._wrapper = _Wrapper()
        self._eclient = EClient(self._wrapper)
        self._thread: threading.Thread | None = None
        self._next_req_id = 1

    def connect(self) -> GatewayInfo:
        """Open the session: handshake, startApi, then wait for the account list."""
        started = time.perf_counter()
        self._check_listening()
        self._before_send()
        self._thread = threading.Thread(target=self._run, name="ibapi-session", daemon=True)
        self._thread.start()
        if not self._wrapper.ready.wait(self._connect_timeout):
            self.close()
            raise IbConnectError("silent", f"no answer within {self._connect_timeout:g} s")
        if self._wrapper.session_error is not None:
            self.close()
            raise self._wrapper.session_error
        return GatewayInfo(
            server_version=int(self._eclient.serverVersion()),
            connection_time=_text(self._eclient.connTime),
            accounts=self._wrapper.accounts or (),
            seconds=time.perf_counter() - started,
        )

    def _check_listening(self) -> None:
        """ibapi opens its socket without a timeout and reports a refused one nowhere."""
        try:
            probe = socket.create_connection((self._host, self._port), self._connect_timeout)
        except TimeoutError:
            raise IbConnectError("silent", "the connection attempt timed out") from None
        except OSError as exc:
            raise IbConnectError("refused", exc.strerror or str(exc)) from None
        probe.close()

    def _run(self) -> None:
        # Ctrl-C and SIGTERM must reach the main thread: taken by this thread, they would
        # wake no one, and the caller waiting on a silent gateway would not stop until its
        # request timed out.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            self._eclient.connect(self._host, self._port, self._client_id)
            if self._eclient.isConnected():
                self._eclient.run()
        except (AttributeError, OSError):
            # close() during the handshake pulls the connection from under ibapi's loop.
            pass
        # ibapi reports no error when the peer closes the socket during the handshake.
        self._wrapper.connectionClosed()

    @property
    def is_connected(self) -> bool:
        return bool(self._eclient.isConnected())

    def close(self) -> None:
        self._eclient.disconnect()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def contract_details(self, contract: Contract) -> list[ContractDetails]:
        return self._request(lambda req_id: self._eclient.reqContractDetails(req_id, contract))

    def historical_bars(
        self,
        contract: Contract,
        *,
        end: str,
        duration: str,
        bar_size: str,
        what_to_show: str,
        use_rth: bool,
    ) -> list[IbBar]:
        """Bars ending at ``end`` (yyyymmdd-HH:MM:SS UTC); intraday dates in epoch seconds."""

        def send(req_id: int) -> None:
            self._eclient.reqHistoricalData(
                req_id, contract, end, duration, bar_size, what_to_show, int(use_rth), 2,
                False, [],
            )  # fmt: skip

        def cancel(req_id: int) -> None:
            self._before_send()
            self._eclient.cancelHistoricalData(req_id)

        return self._request(send, on_timeout=cancel)

    def _request(
        self,
        send: Callable[[int], None],
        on_timeout: Callable[[int], None] | None = None,
    ) -> list[Any]:
        if not self.is_connected:
            raise IbConnectionLostError
        req_id = self._next_req_id
        self._next_req_id += 1
        pending = _Pending()
        with self._wrapper.lock:
            self._wrapper.pending[req_id] = pending
        try:
            self._before_send()
            send(req_id)
            if not pending.done.wait(self._timeout):
                if on_timeout is not None and self.is_connected:
                    on_timeout(req_id)
                raise IbTimeoutError(f"no complete answer within {self._timeout:g} s")
        finally:
            with self._wrapper.lock:
                del self._wrapper.pending[req_id]
        if pending.error is not None:
            raise pending.error
        return pending.items


def _text(value: str | bytes) -> str:
    """ibapi hands the handshake's connection time over as the raw bytes it read."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
