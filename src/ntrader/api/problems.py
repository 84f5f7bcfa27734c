"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error a request can meet becomes one body: ``title`` (the HTTP reason), ``status``,
``detail`` (the sentence the CLI prints) and ``hint`` (its next step). Never a traceback,
SQL, or a path of the server.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ntrader.api.jobs import ShuttingDownError, TooManyJobsError
from ntrader.core.errors import (
    ConflictError,
    DataValidationError,
    NotFoundError,
    NtraderError,
    ServiceUnavailableError,
    UserInputError,
)
from ntrader.services.store import Database

log = logging.getLogger("ntrader.api")

PROBLEM_JSON = "application/problem+json"
HIDDEN = "<hidden>"
# An absolute file path: a slash that starts a word (not one inside a URL or after a host).
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])/[^\s,;:()]+")


def hide_server_places(text: str, database: Database) -> str:
    """``text`` without where the server keeps its data: the database's URL and file, and
    any absolute path. The CLI names them to its own user; a client learns none of them."""
    for where in filter(None, (database.display_url, database.engine.url.database)):
        text = text.replace(where, HIDDEN)
    return _ABSOLUTE_PATH.sub(HIDDEN, text)


class Problem(BaseModel):
    """An error (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    hint: str | None = None
    errors: list[dict[str, Any]] | None = None


# Most specific first: a BarsDifferError is both a conflict and a data validation error.
_STATUS_OF: tuple[tuple[type[NtraderError], int], ...] = (
    (TooManyJobsError, 429),
    (NotFoundError, 404),
    (ConflictError, 409),
    (DataValidationError, 422),
    (ServiceUnavailableError, 503),
    (ShuttingDownError, 503),
    (NtraderError, 400),
)


def status_of(error: NtraderError, *, takes_body: bool = False) -> int:
    """The status of an error. One rule for every route: bad input refusing a well-formed
    body's content (a parameter out of range, an unknown strategy type) is a 422, as
    pydantic's own body errors are; bad input elsewhere (a query string, an ambiguous id
    prefix) stays a 400. ``takes_body``: the route of the request takes a body."""
    status = next(status for kind, status in _STATUS_OF if isinstance(error, kind))
    return 422 if takes_body and status == 400 and isinstance(error, UserInputError) else status


def _takes_body(request: Request) -> bool:
    route = request.scope.get("route")
    return isinstance(route, APIRoute) and route.body_field is not None


def problem(
    status: int,
    detail: str,
    hint: str | None = None,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        title=HTTPStatus(status).phrase, status=status, detail=detail, hint=hint, errors=errors
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _where(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path")]
    return ".".join(parts) or "request"


async def _ntrader_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NtraderError)
    message, hint = exc.message, exc.hint
    if isinstance(exc, ServiceUnavailableError):
        # The CLI names the store (user, host, database, SQLite file) to its own user; a
        # client of the server learns nothing of where the server keeps its data.
        database = request.app.state.api.database
        message = hide_server_places(message, database)
        hint = hide_server_places(hint, database) if hint else hint
    errors = exc.details().get("errors")
    return problem(status_of(exc, takes_body=_takes_body(request)), message, hint, errors=errors)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Each error's place and message only: pydantic's "input" echoes what was sent.
    errors = [
        {"loc": [str(part) for part in error["loc"]], "msg": str(error["msg"])}
        for error in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    count = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return problem(
        422,
        f"{_where(first['loc'])}: {first['msg']}{count}.",
        "Fix the request; `errors` lists every problem.",
        errors=errors,
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem(exc.status_code, detail, headers=exc.headers)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.error("Unexpected error: %s", type(exc).__name__, exc_info=exc)
    return problem(
        500,
        "Unexpected error in the server; the request may not have been carried out.",
        "The server's log has the details; please report it.",
    )


def install(app: FastAPI) -> None:
    """Map every error to a problem body, in one place."""
    app.add_exception_handler(NtraderError, _ntrader_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": text}
    for status, text in (
        (400, "Bad input outside a body: a malformed query string, cursor or id prefix"),
        (401, "Missing or wrong bearer token"),
        (404, "Not found"),
        (409, "Conflicts with what is stored"),
        (413, "Request body too large"),
        (422, "A body that breaks the schema, or whose content the services refuse"),
        (429, "Too many jobs for this client"),
        (503, "A service (the database) is unreachable, or the server is stopping"),
    )
}
