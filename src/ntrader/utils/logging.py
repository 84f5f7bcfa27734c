"""One logging set-up for the whole program (structlog over the standard library's handlers).

Events go to stderr (stdout belongs to the command's output and ``--json``): readable
key-values by default, JSON lines with ``log_format="json"``. With a log file, events of INFO
and up (DEBUG with ``--debug``) are also appended there as JSON lines, whatever the stream's
format. Every event carries the invocation's correlation id and, inside a backtest, the run id
(structlog context variables). A redaction step runs last before rendering, on ntrader's events
and on foreign ones (alembic, nautilus relayed) alike.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import structlog
from structlog.typing import EventDict, Processor

# Handlers hang off this logger, not the root: libraries' own chatter stays out unless it is
# relayed under a name below it (ntrader.nautilus).
ROOT_LOGGER = "ntrader"
MASK = "***"

_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)[^@/\s]*(?=@)", re.I)
_SECRET_PAIR = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|token|secret|api[_-]?key)\b[\"']?\s*[=:]\s*[\"']?)"
    r"[^\s&,;\"']+",
    re.I,
)
# Interactive Brokers account ids: U1234567 (live), DU1234567 (paper), F/DF for advisors.
_ACCOUNT_ID = re.compile(r"\b(?:DU|DF|U|F)\d{5,9}\b")
_SECRET_KEY = re.compile(r"password|passwd|token|secret|api_?key|account_?id", re.I)


def redact_text(text: str) -> str:
    """``text`` with URL passwords, ``key=value`` secrets and IB account ids masked."""
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    text = _SECRET_PAIR.sub(lambda m: m["head"] + MASK, text)
    return _ACCOUNT_ID.sub(MASK, text)


def _redact_value(key: str, value: Any) -> Any:
    if isinstance(value, str):
        return MASK if value and _SECRET_KEY.search(key) else redact_text(value)
    if isinstance(value, MutableMapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    if isinstance(value, Path | BaseException):
        return redact_text(str(value))
    return value


def redact(_logger: object, _method: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: no password, token or account id leaves in any field."""
    return {key: _redact_value(key, value) for key, value in event_dict.items()}


_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.format_exc_info,
]


def _formatter(renderer: Processor) -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, redact, renderer],
    )


def _console_renderer(stream: Any) -> Processor:
    colors = "NO_COLOR" not in os.environ and bool(getattr(stream, "isatty", lambda: False)())
    return structlog.dev.ConsoleRenderer(colors=colors, sort_keys=False)


def configure_logging(
    *,
    level: str = "WARNING",
    log_format: Literal["console", "json"] = "console",
    log_file: Path | None = None,
    debug: bool = False,
) -> None:
    """(Re)build the handlers; safe to call again when a later flag changes the choice."""
    stream_level = logging.DEBUG if debug else logging.getLevelNamesMapping()[level]
    file_level = logging.DEBUG if debug else min(stream_level, logging.INFO)
    logger = logging.getLogger(ROOT_LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    stream = logging.StreamHandler(sys.stderr)
    stream.setLevel(stream_level)
    json_renderer = structlog.processors.JSONRenderer()
    stream.setFormatter(
        _formatter(json_renderer if log_format == "json" else _console_renderer(sys.stderr))
    )
    logger.addHandler(stream)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setLevel(file_level)
        to_file.setFormatter(_formatter(json_renderer))
        logger.addHandler(to_file)
    logger.setLevel(min(stream_level, file_level if log_file is not None else stream_level))
    logger.propagate = False


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger under the ``ntrader`` handlers (``name`` is a module's ``__name__``)."""
    if not name.startswith(ROOT_LOGGER):
        name = f"{ROOT_LOGGER}.{name}"
    # Wrapped explicitly rather than through structlog.configure: a service used as a library,
    # without configure_logging, still logs through the standard library and never to stdout.
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def bind_invocation(correlation_id: str) -> None:
    """Carry ``correlation_id`` (one per invocation) on every later event."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id)


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Carry ``values`` (a run id) on every event logged inside the block."""
    with structlog.contextvars.bound_contextvars(**values):
        yield
