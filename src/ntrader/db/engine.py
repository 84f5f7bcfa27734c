"""Engine factory and schema migration on first use."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ntrader.core.errors import ServiceUnavailableError, UserInputError
from ntrader.db import faults

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# The newest migration. Checking it with one query keeps alembic out of every command's
# start-up; a test asserts it equals alembic's own head.
SCHEMA_HEAD = "0015"


DEFAULT_SQLITE_BUSY_TIMEOUT_MS = 10_000

SUPPORTED_URLS = (
    "sqlite:///PATH/TO/FILE.db, or postgresql://USER:PASSWORD@HOST:PORT/DBNAME (postgres:// and "
    "postgresql+psycopg:// mean the same)"
)

# Any fixed 64-bit key: every ntrader process asks for the same advisory lock before migrating.
_MIGRATION_LOCK_KEY = 0x6E74726164657231

# libpq waits for the OS's TCP timeout (minutes) on a host that drops packets; say so sooner.
_PG_CONNECT_TIMEOUT_S = 10


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # First, so that even switching the journal mode waits for a busy file.
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        # WAL lets `data list` read while an import writes; NORMAL is durable enough under WAL.
        _use_wal(cursor, busy_timeout_ms / 1000)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return set_pragmas


def _use_wal(cursor: Any, timeout_s: float) -> None:
    """Switch the file to WAL (it stays so), waiting out another connection doing the same.

    Two processes opening a new file at once both switch it; SQLite answers the loser
    "database is locked" at once, without its busy handler, so the wait is here.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def describe_url(url: str | URL) -> str:
    """The URL without its password, safe for messages and logs."""
    if isinstance(url, URL):
        return faults.describe_url(url)
    try:
        return faults.describe_url(make_url(url))
    except (ArgumentError, ValueError):
        return "<unparseable database URL>"


def normalise_url(url: str | URL) -> URL:
    """``url`` parsed, on a driver ntrader ships: pysqlite for SQLite, psycopg 3 for PostgreSQL.

    Refuses anything else as bad input (exit 1), naming the URL without its password.
    """
    given = url.strip() if isinstance(url, str) else ""
    if _password_needs_encoding(given):
        raise UserInputError(
            "The database URL has an '@' after its host part, so its password (or user name) "
            "holds characters that must be percent-encoded.",
            hint="Encode them in the URL: @ as %40, / as %2F, : as %3A, % as %25, # as %23.",
        )
    try:
        parsed = make_url(given) if isinstance(url, str) else url
    except (ArgumentError, ValueError) as exc:
        raise UserInputError(
            f"The database URL {_quote_unparsed(given)} is not a URL ntrader can use; it "
            f"supports {SUPPORTED_URLS}.",
            hint=_path_hint(given),
        ) from exc
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if _is_sqlite_file(parsed):
            parsed = parsed.set(database=str(Path(parsed.database or "").expanduser()))
        return parsed.set(drivername="sqlite")
    raise UserInputError(
        f"The database URL {describe_url(parsed)} uses {backend!r}, which ntrader does not "
        f"support; it supports {SUPPORTED_URLS}.",
        hint=f"Fix {faults.URL_SETTING}.",
    )


def _password_needs_encoding(text: str) -> bool:
    scheme, separator, rest = text.partition("://")
    if not separator or scheme.lower().startswith("sqlite"):  # a file name may hold "@"
        return False
    return "@" in rest.partition("?")[0].partition("/")[2]


def _quote_unparsed(text: str) -> str:
    # A URL that does not parse may still hold a password: show its scheme only.
    scheme, separator, _rest = text.partition("://")
    if separator:
        return f"{scheme[:40]}://…"
    if "@" in text:
        return "given"
    return repr(text) if len(text) <= 200 else repr(text[:200] + "…")


def _is_sqlite_file(url: URL) -> bool:
    """A plain file path: not in memory, not a ``file:`` URI (``?uri=true``)."""
    uri = str(url.query.get("uri", "")).lower() in ("true", "1")
    return bool(url.database) and url.database != ":memory:" and not uri


def _path_hint(text: str) -> str:
    if "://" not in text and ("/" in text or text.endswith(".db")):
        return f"For an SQLite file there, use sqlite:///{Path(text).expanduser().absolute()}."
    return f"Fix {faults.URL_SETTING}."


def sqlite_file(url: str | URL) -> Path | None:
    """The file an SQLite URL names; None for another backend, memory or a ``file:`` URI."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite" and _is_sqlite_file(parsed):
        return Path(parsed.database or "")
    return None


def create_db_engine(
    url: str | URL, *, sqlite_busy_timeout_ms: int = DEFAULT_SQLITE_BUSY_TIMEOUT_MS
) -> Engine:
    """An engine for ``url``; SQLite files get their directory created.

    ``sqlite_busy_timeout_ms``: how long an SQLite command waits for another process's write
    lock before giving up (PostgreSQL waits for locks on its own).
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None:
            _prepare_sqlite_path(path)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas(sqlite_busy_timeout_ms))
        return engine
    connect_args = (
        {} if "connect_timeout" in parsed.query else {"connect_timeout": _PG_CONNECT_TIMEOUT_S}
    )
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def _prepare_sqlite_path(path: Path) -> None:
    if path.is_dir():
        raise UserInputError(
            f"The SQLite database path {path} is a directory.",
            hint=f"Name a file in it, e.g. sqlite:///{path / 'ntrader.db'}.",
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ServiceUnavailableError(
            f"Cannot create the directory {path.parent} for the SQLite database: "
            f"{exc.strerror or type(exc).__name__}.",
            hint=f"Create it yourself, or point {faults.URL_SETTING} at another location.",
        ) from exc


def _alembic_config(engine: Engine):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser treats "%" as interpolation; URL-encoded passwords are full of them.
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with faults.database_errors(engine.url), connect(engine) as connection:
        return _revision(connection)


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Migrate the schema to the newest revision, one process at a time.

    The revision is checked again under the lock: a process that waited while another one
    migrated finds the schema at head and leaves it alone.
    """
    if current_revision(engine) == SCHEMA_HEAD:
        return  # without the lock, which a read-only store cannot take
    with (
        faults.database_errors(engine.url),
        connect(engine) as connection,
        connection.begin(),
    ):
        _take_migration_lock(connection)
        revision = _revision(connection)
        if revision != SCHEMA_HEAD:
            _migrate(engine, connection, revision)


def _take_migration_lock(connection: Connection) -> None:
    """A lock held until the migration transaction ends, which one process at a time gets."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        # The database's write lock, taken now rather than at the first write; others wait
        # for it through the busy timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _migrate(engine: Engine, connection: Connection, revision: str | None) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    config = _alembic_config(engine)
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if revision is not None and revision not in known:
        raise ServiceUnavailableError(
            f"The database at {describe_url(engine.url)} has schema revision {revision}, which "
            f"this version of ntrader does not know (its newest is {SCHEMA_HEAD}).",
            hint="A newer ntrader migrated it: upgrade ntrader, or point "
            f"{faults.URL_SETTING} at another database.",
        )
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def ensure_schema(engine: Engine) -> None:
    """Migrate on first use, so a new database needs no set-up step."""
    if current_revision(engine) != SCHEMA_HEAD:
        upgrade(engine)


def connect(engine: Engine) -> Connection:
    """A connection; failing to get one raises a ServiceUnavailableError saying why."""
    with faults.database_errors(engine.url, connecting=True):
        return engine.connect()
