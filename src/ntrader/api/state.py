"""What every route reaches: the store, the job pool and the server's settings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from ntrader.api.jobs import JobRunner
from ntrader.services.store import Database
from ntrader.utils.json_safe import json_safe
from ntrader.utils.settings import Settings


@dataclass(frozen=True, slots=True)
class ApiState:
    database: Database
    jobs: JobRunner
    settings: Settings


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class StrictJSONResponse(JSONResponse):
    """JSON with NaN and Infinity written as null, as the CLI's --json does (JSON has
    neither; a metric can be infinite, e.g. the profit factor without a losing trade)."""

    def render(self, content: Any) -> bytes:
        try:  # the common case, plain and finite: no walk over every value
            return json.dumps(content, allow_nan=False, separators=(",", ":")).encode()
        except (TypeError, ValueError):
            clean, _notes = json_safe(content)
            return json.dumps(clean, allow_nan=False, separators=(",", ":")).encode()
