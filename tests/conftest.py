"""Shared fixtures: real SQLite files and a real PostgreSQL database per test session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from ntrader.db.engine import create_db_engine, ensure_schema
from ntrader.db.tables import metadata

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO_ROOT / "data"
POSTGRES_ADMIN_URL = os.environ.get(
    "NTRADER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    # In CI a missing service is a failure, never a silent skip.
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: services must be up)")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _no_user_config_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The user's own ntrader config file (XDG config dir) must not change what tests see."""
    previous = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg-config"))
    yield
    if previous is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = previous


@contextmanager
def _new_postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"ntrader_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        _unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc.orig}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (per xdist worker), dropped after."""
    with _new_postgres_database() as url:
        engine = create_db_engine(url)
        ensure_schema(engine)
        engine.dispose()
        yield url


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A new PostgreSQL database for one test, not yet migrated, dropped after."""
    with _new_postgres_database() as url:
        yield url


def _empty_postgres(url: str) -> None:
    engine = create_db_engine(url)
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated store: a SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ntrader.db'}"
    url = request.getfixturevalue("postgres_session_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def sample_dir() -> Path:
    return SAMPLE_DIR


REDIS_URL = os.environ.get("NTRADER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_key_prefix() -> Iterator[str]:
    """A key prefix of this test session (per xdist worker) on the real Redis; its keys are
    deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1.0)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        _unavailable(f"Redis is not reachable at {REDIS_URL}: {type(exc).__name__}")
    prefix = f"ntrader-test-{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
        client.close()
