"""An API session with TWS / IB Gateway, as `data connect --json` and
``GET /api/v1/data/ib/connection`` show it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AccountView(BaseModel):
    model_config = ConfigDict(frozen=True)

    account_id: str
    kind: Literal["paper", "live"] = Field(description="From the account id: DU… is paper.")


class ConnectionView(BaseModel):
    """The gateway answered: where, which session, and how long connecting took."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    client_id: int
    mode: Literal["paper", "live"] = Field(description="The mode the session was asked for.")
    server_version: int
    connection_time: str = Field(description="The gateway's own clock at connection.")
    accounts: list[AccountView]
    seconds: float = Field(description="Connecting took this long (to 0.1 ms).")
