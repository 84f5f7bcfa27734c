"""Starting the API server: the address check, then uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import ipaddress

import uvicorn

from ntrader.api.app import create_app
from ntrader.core.errors import UserInputError
from ntrader.services.store import Database
from ntrader.utils.settings import Settings

_OPEN_CONNECTIONS_WAIT_S = 5  # on shutdown, how long open requests (event streams) may last


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(database: Database, settings: Settings, *, host: str, port: int, jobs: int) -> None:
    """Serve until stopped; another address than loopback needs a token."""
    if not is_loopback(host) and settings.api_token is None:
        raise UserInputError(
            f"Refusing to listen on {host} without a token: anyone who can reach it could "
            "run backtests and read every stored run.",
            hint="Set NTRADER_API_TOKEN (clients then send `Authorization: Bearer TOKEN`), "
            "or keep the default --host 127.0.0.1.",
        )
    app = create_app(database, settings, jobs=jobs)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=_OPEN_CONNECTIONS_WAIT_S,
        server_header=False,
    )
