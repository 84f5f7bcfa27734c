"""The gate every request passes: the bearer token, and the request body's size limit.

Plain ASGI, so streamed responses (bars, server-sent events) pass through untouched.
"""

from __future__ import annotations

import hmac
import json
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ntrader.api.problems import PROBLEM_JSON

OPEN_PATHS = frozenset({"/health"})  # what a load balancer may probe without the token
# The dashboard's shell and its static assets hold no data: they load before the user has
# given the token (the shell asks for it).
OPEN_PAGES = frozenset({"/"})
OPEN_PREFIX = "/dashboard/assets/"


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path in OPEN_PAGES or path.startswith(OPEN_PREFIX)


class BodyTooLargeError(HTTPException):
    """Raised from inside a request's body read; an HTTPException so that FastAPI's form
    parsing passes it on (it turns other errors into 400) to the problem handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))


def too_large(limit: int) -> str:
    return f"The request body is larger than the server's limit of {limit:,} bytes."


class Guard:
    def __init__(self, app: ASGIApp, *, token: str | None, max_body_bytes: int) -> None:
        self._app = app
        self._token = token.encode() if token else None
        self._max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        guarded = self._token is not None and not is_open(scope["path"])
        if guarded and not bearer_matches(scope, self._token):
            await _problem(send, 401, "A valid bearer token is required.", bearer=True)
            return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self._max_body):
            await _problem(send, 413, too_large(self._max_body))
            return
        started = False
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._max_body:
                    raise BodyTooLargeError(self._max_body)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, counted_receive, watched_send)
        except BodyTooLargeError:
            if not started:
                await _problem(send, 413, too_large(self._max_body))


def bearer_matches(scope: Scope, token: bytes) -> bool:
    """Whether the request carries ``Authorization: Bearer TOKEN``."""
    header = _header(scope, b"authorization") or ""
    scheme, _, credentials = header.partition(" ")
    # compare_digest on bytes: constant time whatever the sent token's content.
    given = credentials.strip().encode("utf-8", "replace")
    return scheme.lower() == "bearer" and hmac.compare_digest(given, token)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _problem(send: Send, status: int, detail: str, *, bearer: bool = False) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
        }
    ).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if bearer:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
