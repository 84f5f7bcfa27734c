"""Database faults through the CLI: one sentence, exit 3 (1 for a bad URL), no SQL, no password.

Every PostgreSQL URL here carries a password (trust auth ignores it), so each path also
shows that the password never reaches the terminal.
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import sqlite3
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from ntrader.core.instrument_catalog import default_spec
from ntrader.db.database import Database
from ntrader.db.engine import SCHEMA_HEAD
from tests.conftest import POSTGRES_ADMIN_URL, SAMPLE_DIR
from tests.e2e.conftest import NTRADER, RunCli, import_bars

PASSWORD = "pw:S3cr@t/x%y"


def _with_password(url: str, **changes: object) -> str:
    return make_url(url).set(password=PASSWORD, **changes).render_as_string(hide_password=False)


# How the password looks inside a rendered URL ("%40" for "@" ...): absent too.
ENCODED_PASSWORD = (
    _with_password("postgresql://u@h/d").removeprefix("postgresql://u:").removesuffix("@h/d")
)


def _assert_refused(result: subprocess.CompletedProcess[str], exit_code: int, *said: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == exit_code, output
    for phrase in said:
        assert phrase in result.stderr, result.stderr
    assert PASSWORD not in output and ENCODED_PASSWORD not in output
    for leak in ("[SQL", "Traceback", "INSERT", "COPY ", "SELECT"):
        assert leak not in output, output


def _import(
    cli: RunCli, url: str, *, check_exit: int | None = 0
) -> subprocess.CompletedProcess[str]:
    return import_bars(
        cli, SAMPLE_DIR / "AAPL_daily.csv", "AAPL", database_url=url, check_exit=check_exit
    )


# Set-up and checks run in this process, beside the commands under test.
def _seed(url: str, *symbols: str) -> None:
    """Migrate the store at ``url`` and add the instruments ``symbols``."""
    database = Database(url)
    with database.transaction() as repos:
        for symbol in symbols:
            repos.instruments.add(default_spec(symbol))
    database.dispose()


def _instruments(url: str) -> list[str]:
    database = Database(url)
    with database.transaction() as repos:
        stored = sorted(s.spec.instrument_id for s in repos.instruments.all())
        bars = repos.connection.execute(text("SELECT count(*) FROM bars")).scalar_one()
    database.dispose()
    assert bars == 0 or stored, "bars without an instrument"
    return stored


# --- URLs -----------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_scheme_from_providers_works_and_db_commands_speak_json(
    invoke_cli: RunCli, fresh_postgres_url: str
) -> None:
    provider_style = _with_password(fresh_postgres_url, drivername="postgres")
    upgraded = invoke_cli("db", "upgrade", "--json", database_url=provider_style)
    payload = json.loads(upgraded.stdout)
    assert (payload["from"], payload["to"]) == (None, SCHEMA_HEAD)
    assert payload["database"].startswith("postgresql+psycopg://postgres:***@")
    _import(invoke_cli, provider_style)
    assert _instruments(fresh_postgres_url) == ["AAPL.NASDAQ"]
    plain = _with_password(fresh_postgres_url, drivername="postgresql")
    current = json.loads(invoke_cli("db", "current", "--json", database_url=plain).stdout)
    assert current["current"] == current["head"] == SCHEMA_HEAD
    human = invoke_cli("db", "current", database_url=provider_style)
    for result in (upgraded, human):
        assert PASSWORD not in result.stdout + result.stderr
        assert ENCODED_PASSWORD not in result.stdout + result.stderr


SUPPORTED = ("supports sqlite:///", "postgresql://")


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (f"mysql://u:{ENCODED_PASSWORD}@localhost/ntrader", ("'mysql'", *SUPPORTED)),
        (f"oracle://u:{ENCODED_PASSWORD}@localhost/ntrader", ("'oracle'", *SUPPORTED)),
        (f"http://u:{ENCODED_PASSWORD}@example.com/ntrader", ("'http'", *SUPPORTED)),
        (
            f"postgresql://u:{ENCODED_PASSWORD}@localhost:notaport/ntrader",
            ("postgresql://… is not a URL", *SUPPORTED),
        ),
        ("not a url at all", ("'not a url at all' is not a URL", *SUPPORTED)),
        # Pasted without percent-encoding: which "@" ends the password is anyone's guess.
        (f"postgresql://u:{PASSWORD}@localhost/ntrader", ("must be percent-encoded", "%40")),
    ],
)
def test_unsupported_urls_are_bad_input(
    invoke_cli: RunCli, url: str, said: tuple[str, ...]
) -> None:
    result = invoke_cli("data", "list", database_url=url, check_exit=None)
    _assert_refused(result, 1, *said)


def test_a_bare_path_is_refused_with_the_sqlite_url_to_use(
    invoke_cli: RunCli, tmp_path: Path
) -> None:
    path = tmp_path / "bare.db"
    result = _import(invoke_cli, str(path), check_exit=None)
    _assert_refused(result, 1, f"'{path}' is not a URL", f"use sqlite:///{path}")
    assert not path.exists()


def test_a_bad_busy_timeout_setting_is_bad_input(
    invoke_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    cli_env["NTRADER_SQLITE_BUSY_TIMEOUT_MS"] = "soon"
    result = _import(invoke_cli, f"sqlite:///{tmp_path / 's.db'}", check_exit=None)
    _assert_refused(result, 1, "The setting NTRADER_SQLITE_BUSY_TIMEOUT_MS is not valid")
    assert not (tmp_path / "s.db").exists()


# --- SQLite ---------------------------------------------------------------------------------


def test_a_locked_sqlite_file_exits_3_after_the_busy_timeout(
    invoke_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    _seed(url)
    cli_env["NTRADER_SQLITE_BUSY_TIMEOUT_MS"] = "200"
    # Another process's write transaction, held while the import runs.
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = _import(invoke_cli, url, check_exit=None)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _assert_refused(
        result, 3, f"The SQLite database {path} is locked by another process", "BUSY_TIMEOUT_MS"
    )
    assert _instruments(url) == []


def _without_root_override() -> None:
    """In the child before exec: root loses the capability to write to read-only files, so
    permissions bite as they do for any user. CAP_DAC_OVERRIDE is capability 1;
    PR_CAPBSET_DROP is prctl option 24."""
    if os.geteuid() == 0 and ctypes.CDLL(None).prctl(24, 1, 0, 0, 0) != 0:
        raise OSError("prctl(PR_CAPBSET_DROP) failed")


def _run_unprivileged(
    cli_env: dict[str, str], cwd: Path, url: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NTRADER), *args, "--database-url", url],
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=cwd,
        timeout=120,
        check=False,
        preexec_fn=_without_root_override,
    )


@pytest.mark.parametrize(
    ("read_only", "reads"),
    [
        ("file", True),
        # WAL readers need the -shm file beside the database, which a read-only directory
        # cannot hold: reading is refused with the same message.
        ("directory", False),
    ],
)
def test_a_read_only_sqlite_database_exits_3_and_writes_nothing(
    cli_env: dict[str, str], tmp_path: Path, read_only: str, reads: bool
) -> None:
    folder = tmp_path / "store"
    path = folder / "ro.db"
    url = f"sqlite:///{path}"
    _seed(url, "SPY")
    target = path if read_only == "file" else folder
    mode = target.stat().st_mode
    target.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        sample = SAMPLE_DIR / "AAPL_daily.csv"
        result = _run_unprivileged(
            cli_env, tmp_path, url, "data", "import", "--file", str(sample), "--instrument", "AAPL"
        )
        listing = _run_unprivileged(cli_env, tmp_path, url, "data", "list", "--json")
    finally:
        target.chmod(mode)
    _assert_refused(result, 3, f"The SQLite database {path} is read-only")
    if reads:
        assert listing.returncode == 0, listing.stderr
    else:
        _assert_refused(listing, 3, f"The SQLite database {path} is read-only")
    assert _instruments(url) == [default_spec("SPY").instrument_id]


def test_a_file_that_is_not_a_database_exits_3_untouched(
    invoke_cli: RunCli, tmp_path: Path
) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"Shopping list: eggs, milk, flour.\n" * 200)
    before = path.read_bytes()
    result = _import(invoke_cli, f"sqlite:///{path}", check_exit=None)
    _assert_refused(result, 3, f"{path} is not an SQLite database")
    assert path.read_bytes() == before


# --- PostgreSQL -----------------------------------------------------------------------------


def _database_exists(name: str) -> bool:
    admin = create_engine(POSTGRES_ADMIN_URL)
    with admin.connect() as connection:
        found = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
    admin.dispose()
    return found is not None


@pytest.mark.postgres
def test_a_missing_postgres_database_is_named_with_how_to_create_it(
    invoke_cli: RunCli, postgres_session_url: str
) -> None:
    name = f"ntrader_absent_{uuid.uuid4().hex[:8]}"
    url = _with_password(postgres_session_url, database=name)
    result = _import(invoke_cli, url, check_exit=None)
    _assert_refused(result, 3, f'database "{name}" does not exist', "createdb -h ", name)
    assert not _database_exists(name)


@pytest.mark.postgres
def test_an_unknown_postgres_user_is_an_authentication_failure(
    invoke_cli: RunCli, postgres_session_url: str
) -> None:
    user = f"nobody_{uuid.uuid4().hex[:8]}"
    url = _with_password(postgres_session_url, username=user)
    result = invoke_cli("data", "list", database_url=url, check_exit=None)
    _assert_refused(result, 3, f'authentication failed for user "{user}"')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_dead_port_says_nothing_is_listening(invoke_cli: RunCli) -> None:
    port = _free_port()
    url = _with_password(f"postgresql://postgres@127.0.0.1:{port}/ntrader")
    result = invoke_cli("data", "list", database_url=url, check_exit=None)
    _assert_refused(result, 3, f"nothing is listening at 127.0.0.1:{port}")


@pytest.mark.postgres
@pytest.mark.parametrize(
    "lock_mode",
    [
        "SHARE",  # reading bars goes on; writing them (COPY / INSERT) waits: killed mid-COPY
        "ACCESS EXCLUSIVE",  # even reading bars waits: killed mid-transaction, before the COPY
    ],
)
def test_a_session_ended_mid_import_exits_3_and_stores_nothing(
    cli_env: dict[str, str],
    tmp_path: Path,
    fresh_postgres_url: str,
    lock_mode: str,
) -> None:
    url = _with_password(fresh_postgres_url)
    _seed(fresh_postgres_url)
    admin = create_engine(fresh_postgres_url)
    sample = SAMPLE_DIR / "AAPL_daily.csv"
    with admin.connect() as holder, holder.begin():
        holder.execute(text(f"LOCK TABLE bars IN {lock_mode} MODE"))
        importing = subprocess.Popen(
            [str(NTRADER), "data", "import", "--file", str(sample), "--instrument", "AAPL"],
            env={**cli_env, "NTRADER_DATABASE_URL": url},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _end_the_session_waiting_for_a_lock(admin, importing)
        except BaseException:
            importing.kill()
            raise
    stdout, stderr = importing.communicate(timeout=60)
    result = subprocess.CompletedProcess(importing.args, importing.returncode, stdout, stderr)
    admin.dispose()
    _assert_refused(result, 3, "was lost mid-transaction", "discarded")
    assert _instruments(fresh_postgres_url) == []


def _end_the_session_waiting_for_a_lock(admin: Engine, importing: subprocess.Popen[str]) -> None:
    """Terminate the import's backend once it waits for a lock."""
    # Its own autocommit connection: a transaction sees one snapshot of pg_stat_activity.
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert importing.poll() is None, importing.communicate()
            pid = watcher.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            ).scalar()
            if pid is not None:
                watcher.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                return
            time.sleep(0.05)
    pytest.fail("the import never waited for the lock")
