"""The store under concurrency and faults: one migration for many processes, typed errors."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from ntrader.cli.main import cli_hint
from ntrader.core.errors import ServiceUnavailableError, UserInputError
from ntrader.core.instrument_catalog import default_spec
from ntrader.db import faults
from ntrader.db.database import Database
from ntrader.db.engine import SCHEMA_HEAD, create_db_engine, describe_url, normalise_url
from ntrader.db.faults import database_errors

PROCESSES = 4


def _first_use(url: str, barrier: Barrier) -> None:
    barrier.wait(timeout=30)
    Database(url).dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store nobody has used yet: no file, or an empty PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return request.getfixturevalue("fresh_postgres_url")


def test_first_use_by_many_processes_migrates_once(fresh_url: str) -> None:
    # spawn, not fork: a fork of this threaded test process (xdist, IB client threads of
    # earlier tests) can deadlock on a lock one of those threads held.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    workers = [
        context.Process(target=_first_use, args=(fresh_url, barrier)) for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES
    engine = create_db_engine(fresh_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [(SCHEMA_HEAD,)]


def _open_together(url: str) -> list[BaseException]:
    """Open the store from two threads at the same moment; what either raised."""
    barrier = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def first_open() -> None:
        barrier.wait()
        try:
            Database(url).dispose()
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=first_open) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_two_first_opens_of_a_new_sqlite_file_both_succeed(tmp_path: Path) -> None:
    """Both connections switch the new file to WAL; SQLite answers the second "locked"
    without waiting (about one round in ten did so), and neither may fail for it."""
    for round_ in range(50):
        assert _open_together(f"sqlite:///{tmp_path / f'new-{round_}.db'}") == [], round_


def test_a_schema_newer_than_this_ntrader_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'future.db'}"
    Database(url).dispose()
    with sqlite3.connect(tmp_path / "future.db") as raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(ServiceUnavailableError, match="schema revision 9999, which this version"):
        Database(url)


def test_integrity_errors_reach_the_caller_untranslated(database_url: str) -> None:
    # The strategy service turns a concurrent duplicate name into its own message.
    database = Database(database_url)
    with database.transaction() as repos:
        repos.strategies.add("twin", "SMA_CROSSOVER", {"fast_period": 5})
    with pytest.raises(IntegrityError), database.transaction() as repos:
        repos.strategies.add("twin", "SMA_CROSSOVER", {"fast_period": 5})
    database.dispose()


def test_a_read_only_sqlite_file_is_an_environment_error(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    Database(f"sqlite:///{path}").dispose()
    # mode=ro refuses writes even to root, which chmod would not.
    database = Database(f"sqlite:///file:{path}?mode=ro&uri=true")
    with (
        pytest.raises(ServiceUnavailableError, match=r"is read-only: ntrader cannot write"),
        database.transaction() as repos,
    ):
        repos.connection.execute(text("DELETE FROM instruments"))
    database.dispose()


def test_sqlite_waits_for_a_write_lock_released_within_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    database = Database(f"sqlite:///{path}", sqlite_busy_timeout_ms=10_000)
    # Another process's write transaction, ended half a second into our wait.
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.5, holder.execute, args=("ROLLBACK",))
    started = time.monotonic()
    releaser.start()
    with database.transaction() as repos:
        repos.instruments.add(default_spec("AAPL"))
    waited = time.monotonic() - started
    releaser.join()
    holder.close()
    assert waited >= 0.4
    with database.transaction() as repos:
        assert [s.spec.symbol for s in repos.instruments.all()] == ["AAPL"]
    database.dispose()


def test_a_short_busy_timeout_gives_up_with_the_locked_file_named(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    database = Database(f"sqlite:///{path}", sqlite_busy_timeout_ms=50)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with (
            pytest.raises(ServiceUnavailableError, match=f"{path} is locked by another process"),
            database.transaction() as repos,
        ):
            repos.instruments.add(default_spec("AAPL"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    database.dispose()


@pytest.mark.postgres
def test_a_dropped_postgres_session_is_reported_as_lost(postgres_session_url: str) -> None:
    database = Database(postgres_session_url)
    admin = create_db_engine(postgres_session_url)

    def query_after_the_session_is_ended() -> None:
        with database.transaction() as repos:
            pid = repos.connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with admin.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            repos.connection.execute(text("SELECT 1"))

    with pytest.raises(ServiceUnavailableError, match="was lost mid-transaction") as raised:
        query_after_the_session_is_ended()
    assert "SELECT" not in f"{raised.value.message} {raised.value.hint}"
    database.dispose()
    admin.dispose()


_SECRET = st.text(min_size=8, max_size=40).filter(lambda s: s.strip() == s and "\x00" not in s)


@given(password=_SECRET, scheme=st.sampled_from(["postgres", "postgresql", "postgresql+psycopg"]))
def test_postgres_urls_normalise_to_psycopg_and_never_show_the_password(
    password: str, scheme: str
) -> None:
    url = URL.create(scheme, username="u", password=password, host="db.example", database="d")
    rendered = url.render_as_string(hide_password=False)
    encoded = rendered.removeprefix(f"{scheme}://u:").removesuffix("@db.example/d")
    normalised = normalise_url(rendered)
    assert normalised.drivername == "postgresql+psycopg"
    assert normalised.password == password
    shown = describe_url(normalised)
    assert shown == "postgresql+psycopg://u:***@db.example/d"
    assume(password not in shown and encoded not in shown)
    assert password not in describe_url(rendered)


@given(
    password=_SECRET,
    scheme=st.sampled_from(["mysql", "oracle", "mssql+pyodbc", "http", "https", "ftp"]),
)
def test_other_dialects_are_bad_input_without_the_password(password: str, scheme: str) -> None:
    def refusal(secret: str) -> str:
        url = URL.create(scheme, username="u", password=secret, host="h", database="d")
        with pytest.raises(UserInputError) as raised:
            normalise_url(url.render_as_string(hide_password=False))
        return f"{raised.value.message} {raised.value.hint}"

    said = refusal(password)
    assume(password not in refusal("X"))  # a password that is a word of the sentence itself
    assert password not in said
    assert "sqlite:///" in said and "postgresql://" in said


@given(raw=st.text(max_size=200))
def test_any_text_is_a_url_or_one_clear_refusal(raw: str) -> None:
    try:
        normalise_url(raw)
    except UserInputError as refusal:
        message = refusal.message
    else:
        return
    assert "supports sqlite:///" in message


def test_database_errors_leave_non_database_errors_alone(tmp_path: Path) -> None:
    with pytest.raises(KeyError), database_errors(URL.create("sqlite", database="x.db")):
        raise KeyError("not the database's")


def test_the_cli_names_the_flags_behind_the_stores_hints() -> None:
    """The store says "the database URL"; the CLI adds the flag and the variable."""
    hint = f"Point {faults.URL_SETTING} at another file; check {faults.SCHEMA_REVISION}."
    assert cli_hint(hint) == (
        "Point the database URL (--database-url or NTRADER_DATABASE_URL) at another file; "
        "check the database's schema revision (`ntrader db current`)."
    )
    assert cli_hint(None) is None
