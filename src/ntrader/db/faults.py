"""Database failures as one sentence each: what broke and what to do, never SQL or a password.

Every driver error on the way out of ``ntrader.db`` passes through :func:`database_errors`.
Errors are told apart by SQLite result code and PostgreSQL SQLSTATE, not by message text
(localised, and it carries statements). libpq reports no SQLSTATE for a failed login, so a
failed connection is diagnosed by probing: is the port open, does a maintenance database
accept the same credentials, does the named database exist.
"""

from __future__ import annotations

import getpass
import socket
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from ntrader.core.errors import NtraderError, ServiceUnavailableError, UserInputError

# The store names its settings, not the flags or variables that set them: the CLI adds those.
URL_SETTING = "the database URL"
SCHEMA_REVISION = "the database's schema revision"
BUSY_TIMEOUT_VARIABLE = "NTRADER_SQLITE_BUSY_TIMEOUT_MS"

# SQLite primary result codes (https://sqlite.org/rescode.html); extended codes keep these
# in their low byte.
_SQLITE_PERM = 3
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26

# PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_PG_SESSION_ENDED = {"57P01", "57P02", "57P03"}  # admin/crash shutdown, cannot connect now
_PG_AUTH_FAILED = {"28000", "28P01"}
_PG_NO_DATABASE = "3D000"
_PG_TOO_MANY_CONNECTIONS = "53300"
_PG_DISK_FULL = "53100"
_PG_READ_ONLY = "25006"
_PG_NO_PRIVILEGE = "42501"
_PG_CONFLICT = {"40001", "40P01"}  # serialization failure, deadlock
_PG_CANCELLED = "57014"

_PROBE_TIMEOUT_S = 3


def describe_url(url: URL) -> str:
    """The URL without password or query (libpq also takes ``?password=``), for messages."""
    return url.set(query={}).render_as_string(hide_password=True)


@contextmanager
def database_errors(
    url: URL, *, connecting: bool = False, keep_integrity_errors: bool = False
) -> Iterator[None]:
    """Turn driver errors raised in the block into :class:`ServiceUnavailableError`.

    Errors that are not the database's pass through untouched, and so do integrity errors
    when ``keep_integrity_errors`` (a caller may catch one to report a conflicting name).
    """
    try:
        yield
    except NtraderError:
        raise
    except Exception as exc:
        if keep_integrity_errors and _is_integrity_error(exc):
            raise
        translated = translate(exc, url, connecting=connecting)
        if translated is None:
            raise
        raise translated from exc


def translate(exc: BaseException, url: URL, *, connecting: bool = False) -> NtraderError | None:
    """The user-facing error for a driver error, or None when it is not a database fault."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    if isinstance(orig, sqlite3.Error):
        return _sqlite_error(orig, url)
    psycopg = sys.modules.get("psycopg")  # not loaded means it cannot be a psycopg error
    if psycopg is not None and isinstance(orig, psycopg.Error):
        return _postgres_error(orig, url, connecting=connecting)
    if isinstance(exc, DBAPIError):
        return _generic(url, type(orig).__name__)
    return None


def _is_integrity_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import IntegrityError

    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(exc, IntegrityError) or isinstance(orig, sqlite3.IntegrityError):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(orig, psycopg.IntegrityError)


def _sqlite_error(error: sqlite3.Error, url: URL) -> NtraderError:
    path = url.database or ":memory:"
    code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return ServiceUnavailableError(
            f"The SQLite database {path} is locked by another process.",
            hint="Wait for the other command using it (an import or a backtest) to finish, or "
            f"stop it, then run this again; {BUSY_TIMEOUT_VARIABLE} sets how long to wait.",
        )
    if code in (_SQLITE_READONLY, _SQLITE_PERM):
        return ServiceUnavailableError(
            f"The SQLite database {path} is read-only: ntrader cannot write to the file or to "
            "its directory.",
            hint=f"Give your user write access to both (SQLite keeps {Path(path).name}-wal and "
            f"{Path(path).name}-shm beside the file), or point {URL_SETTING} at another file.",
        )
    if code == _SQLITE_CANTOPEN:
        return ServiceUnavailableError(
            f"Cannot open the SQLite database {path}: the file or its directory is not accessible.",
            hint="Check that the directory exists and that your user may read and write there, "
            f"or point {URL_SETTING} at another file.",
        )
    if code == _SQLITE_NOTADB:
        return ServiceUnavailableError(
            f"{path} is not an SQLite database.",
            hint=f"Point {URL_SETTING} at an ntrader database file, or move this file away so "
            "a new database can be created there.",
        )
    if code == _SQLITE_CORRUPT:
        return ServiceUnavailableError(
            f"The SQLite database {path} is damaged.",
            hint="Restore it from a backup (the sqlite3 shell's .recover can rescue data), or "
            f"point {URL_SETTING} at another file.",
        )
    if code == _SQLITE_FULL:
        return ServiceUnavailableError(
            f"The disk holding the SQLite database {path} is full.",
            hint="Free some space and run the command again; the unfinished change was not saved.",
        )
    if code == _SQLITE_IOERR:
        return ServiceUnavailableError(
            f"Reading or writing the SQLite database {path} failed with a disk or file-system "
            "error.",
            hint="Check the disk and the file system (a network drive?), then run again.",
        )
    # SQLite's own messages name tables and columns but never bound values.
    return _generic(url, f"{getattr(error, 'sqlite_errorname', type(error).__name__)}: {error}")


def _postgres_error(error: Any, url: URL, *, connecting: bool) -> NtraderError:
    state: str | None = error.sqlstate
    server = _server(url)
    if state in _PG_AUTH_FAILED:
        return _auth_failed(url)
    if state == _PG_NO_DATABASE:
        return _no_database(url)
    if state is None and connecting:
        return _diagnose_failed_connection(url)
    if state is None and isinstance(error, sys.modules["psycopg"].DataError):
        # Refused by the driver before it was sent (text with a NUL character): the input's
        # fault, not the connection's.
        return UserInputError(
            f"The database refused a value: {error}.",
            hint="Remove control characters such as NUL from names and ids.",
        )
    if state is None or state.startswith("08") or state in _PG_SESSION_ENDED:
        return _connection_lost(url)
    if state == _PG_TOO_MANY_CONNECTIONS:
        return ServiceUnavailableError(
            f"PostgreSQL at {server} has no connection slots left.",
            hint="Close idle sessions or raise max_connections on the server, then run again.",
        )
    if state == _PG_DISK_FULL:
        return ServiceUnavailableError(
            f"PostgreSQL at {server} is out of disk space.",
            hint="Free space on the server, then run the command again; the unfinished change "
            "was not saved.",
        )
    if state == _PG_READ_ONLY:
        return ServiceUnavailableError(
            f"The database at {describe_url(url)} is read-only (a standby, or "
            "default_transaction_read_only is on).",
            hint=f"Point {URL_SETTING} at the primary server.",
        )
    if state == _PG_NO_PRIVILEGE:
        return ServiceUnavailableError(
            f'PostgreSQL user "{_user(url)}" lacks a privilege ntrader needs on '
            f"{describe_url(url)}.",
            hint="Grant it the right to create and write tables in that database (or use its "
            "owner).",
        )
    if state in _PG_CONFLICT:
        return ServiceUnavailableError(
            f"The change conflicted with another session on {describe_url(url)} and was rolled "
            "back.",
            hint="Run the command again.",
        )
    if state == _PG_CANCELLED:
        return ServiceUnavailableError(
            f"PostgreSQL at {server} cancelled the statement (statement_timeout, or an "
            "administrator).",
            hint="Raise statement_timeout for this user, or run the command again.",
        )
    # The class name (e.g. UndefinedTable) says what failed without the statement's values.
    return _generic(url, f"SQLSTATE {state}, {type(error).__name__}")


def _server(url: URL) -> str:
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _user(url: URL) -> str:
    return url.username or getpass.getuser()


def _database_name(url: URL) -> str:
    return url.database or _user(url)  # libpq's default


def _auth_failed(url: URL) -> NtraderError:
    return ServiceUnavailableError(
        f"PostgreSQL at {_server(url)} refused the login: authentication failed for user "
        f'"{_user(url)}".',
        hint=f"Check the user name and password in {URL_SETTING} (and the server's pg_hba.conf).",
    )


def _no_database(url: URL) -> NtraderError:
    name, host, port = _database_name(url), url.host or "localhost", url.port or 5432
    return ServiceUnavailableError(
        f'The PostgreSQL database "{name}" does not exist on {host}:{port}.',
        hint=f"Create it with `createdb -h {host} -p {port} -U {_user(url)} {name}` (or "
        f'CREATE DATABASE "{name}"; in psql), then run the command again.',
    )


def _connection_lost(url: URL) -> NtraderError:
    return ServiceUnavailableError(
        f"The connection to the database at {describe_url(url)} was lost mid-transaction, so "
        "the server discarded that transaction's changes.",
        hint="Check that the server is still running (or who ended the session), then run the "
        "command again.",
    )


def _generic(url: URL, what: str) -> NtraderError:
    return ServiceUnavailableError(
        f"The database at {describe_url(url)} failed the operation ({what}).",
        hint=f"Check {SCHEMA_REVISION}; the traceback has the details.",
    )


def _diagnose_failed_connection(url: URL) -> NtraderError:
    """Why libpq could not connect: no listener, a bad login, or a missing database."""
    host, port = url.host, url.port or 5432
    if host and not host.startswith("/"):
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            return ServiceUnavailableError(
                f"Cannot reach the database at {describe_url(url)}: the host name {host} does "
                "not resolve.",
                hint=f"Check the host in {URL_SETTING}.",
            )
        try:
            socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S).close()
        except OSError:
            return ServiceUnavailableError(
                f"Cannot reach the database at {describe_url(url)}: nothing is listening at "
                f"{host}:{port}.",
                hint=f"Start PostgreSQL there, or fix the host and port in {URL_SETTING}.",
            )
    import psycopg

    name = _database_name(url)
    for maintenance in ("postgres", "template1"):
        if maintenance == name:
            continue
        try:
            with psycopg.connect(**_libpq_params(url, maintenance)) as probe:
                found = probe.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
                ).fetchone()
        except psycopg.Error:
            continue
        if found is None:
            return _no_database(url)
        return ServiceUnavailableError(
            f'PostgreSQL at {_server(url)} refused the connection to database "{name}" as '
            f'user "{_user(url)}".',
            hint="Check the user's CONNECT privilege on that database and the server's "
            "connection limit.",
        )
    if host and not host.startswith("/"):
        return _auth_failed(url)
    return ServiceUnavailableError(
        f"Cannot connect to PostgreSQL at {describe_url(url)}.",
        hint=f"Check that the server is running and the user, password and socket directory "
        f"in {URL_SETTING}.",
    )


def _libpq_params(url: URL, dbname: str) -> dict[str, Any]:
    params: dict[str, Any] = {k: v for k, v in url.query.items() if isinstance(v, str)}
    params.update(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=dbname,
        connect_timeout=_PROBE_TIMEOUT_S,
    )
    return {k: v for k, v in params.items() if v is not None}
