"""Reaching TWS / IB Gateway: the connection settings, ``data connect`` and the health probe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ntrader.core.errors import ServiceUnavailableError
from ntrader.core.ib.client import GatewayInfo, IbClient, IbConnectError
from ntrader.models.ib_connection import AccountView, ConnectionView
from ntrader.utils.settings import Settings

Mode = Literal["paper", "live"]
DEFAULT_PORTS: dict[str, int] = {"paper": 7497, "live": 7496}
PORTS_HINT = "TWS listens on 7497 (paper) / 7496 (live), IB Gateway on 4002 (paper) / 4001 (live)"


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    host: str
    port: int
    client_id: int
    mode: Mode
    connect_timeout: float

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        host: str | None = None,
        port: int | None = None,
        client_id: int | None = None,
        mode: Mode | None = None,
    ) -> GatewayConfig:
        """Command-line values win over ``NTRADER_IB_*``; the port defaults by mode."""
        chosen_mode: Mode = mode or settings.ib_mode
        return cls(
            host=host or settings.ib_host,
            port=port or settings.ib_port or DEFAULT_PORTS[chosen_mode],
            client_id=settings.ib_client_id if client_id is None else client_id,
            mode=chosen_mode,
            connect_timeout=settings.ib_connect_timeout,
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    kind: Mode


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    host: str
    port: int
    client_id: int
    mode: Mode
    server_version: int
    connection_time: str
    accounts: tuple[Account, ...]
    seconds: float

    def view(self) -> ConnectionView:
        return ConnectionView(
            host=self.host,
            port=self.port,
            client_id=self.client_id,
            mode=self.mode,
            server_version=self.server_version,
            connection_time=self.connection_time,
            accounts=[AccountView(account_id=a.account_id, kind=a.kind) for a in self.accounts],
            seconds=round(self.seconds, 4),
        )


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """For ``ntrader health-check``: whether the configured gateway answers, and how fast."""

    reachable: bool
    address: str
    server_version: int | None
    seconds: float | None
    error: str | None


def account_kind(account_id: str) -> Mode:
    """IB's paper accounts start with DU (DF for paper advisor masters)."""
    return "paper" if account_id.upper().startswith(("DU", "DF")) else "live"


def mask_account(account_id: str) -> str:
    """``DU1234567`` → ``DU****567``: enough to tell accounts apart in a log."""
    if len(account_id) <= 5:
        return "*" * len(account_id)
    return account_id[:2] + "*" * (len(account_id) - 5) + account_id[-3:]


def open_session(
    config: GatewayConfig,
    *,
    request_timeout: float = 30.0,
    before_send: Callable[[], None] = lambda: None,
) -> tuple[IbClient, GatewayInfo]:
    """A connected client, or ``ServiceUnavailableError`` saying what to check."""
    client = IbClient(
        config.host,
        config.port,
        config.client_id,
        connect_timeout=config.connect_timeout,
        timeout=request_timeout,
        before_send=before_send,
    )
    try:
        info = client.connect()
    except IbConnectError as exc:
        raise _unavailable(config, exc) from None
    kinds = {account_kind(a) for a in info.accounts}
    if kinds and config.mode not in kinds:
        client.close()
        other = "live" if config.mode == "paper" else "paper"
        raise ServiceUnavailableError(
            f"{config.address} is a {other} session, but {config.mode} was asked for.",
            hint=f"Pass --{other} (or set NTRADER_IB_MODE={other}), or connect to the "
            f"{config.mode} gateway; {PORTS_HINT}.",
        )
    return client, info


def connect(config: GatewayConfig) -> ConnectionReport:
    """Connect once and describe the session (for ``ntrader data connect``)."""
    client, info = open_session(config)
    client.close()
    return ConnectionReport(
        host=config.host,
        port=config.port,
        client_id=config.client_id,
        mode=config.mode,
        server_version=info.server_version,
        connection_time=info.connection_time,
        accounts=tuple(Account(a, account_kind(a)) for a in info.accounts),
        seconds=info.seconds,
    )


def probe_gateway(settings: Settings) -> GatewayStatus:
    """Whether the configured gateway accepts an API session; never raises for a down one."""
    config = GatewayConfig.from_settings(settings)
    try:
        report = connect(config)
    except ServiceUnavailableError as exc:
        return GatewayStatus(False, config.address, None, None, exc.message)
    return GatewayStatus(True, config.address, report.server_version, report.seconds, None)


def _unavailable(config: GatewayConfig, exc: IbConnectError) -> ServiceUnavailableError:
    where = config.address
    if exc.reason == "refused":
        return ServiceUnavailableError(
            f"Nothing accepts connections at {where}.",
            hint=f"Start TWS or IB Gateway and log in; check the port ({PORTS_HINT}) and "
            "pass --port or set NTRADER_IB_PORT.",
        )
    if exc.reason == "client id in use":
        return ServiceUnavailableError(
            f"{where} refused client id {config.client_id}: another API session uses it.",
            hint="Pass another --client-id (or set NTRADER_IB_CLIENT_ID), or close the "
            "other session.",
        )
    if exc.reason == "silent":
        return ServiceUnavailableError(
            f"{where} accepted the connection but did not answer the API handshake within "
            f"{config.connect_timeout:g} s.",
            hint="Check that the port belongs to TWS or IB Gateway and that it is logged in "
            f"({PORTS_HINT}).",
        )
    return ServiceUnavailableError(
        f"{where} closed the connection during the API handshake.",
        hint="Enable the API in TWS / IB Gateway (Configure → Settings → API → Settings: "
        "'Enable ActiveX and Socket Clients') and add this machine to the Trusted IPs.",
    )
