"""health-check's probes against real servers, and how results are judged and timed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ntrader.db.engine import create_db_engine, ensure_schema
from ntrader.services.health import (
    DEFAULT_CHECKS,
    CheckStatus,
    HealthCheck,
    Probe,
    check_disk,
    run_check,
    run_health_checks,
)
from ntrader.utils.settings import Settings
from tests.conftest import IN_CI
from tests.fakes.tws import FakeTws, refused_port

REDIS_URL = "redis://127.0.0.1:6379/0"


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", **values)  # type: ignore[arg-type]


def test_a_migrated_store_and_live_redis_are_healthy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ntrader.db'}"
    engine = create_db_engine(url)
    ensure_schema(engine)
    engine.dispose()
    report = run_health_checks(_settings(tmp_path, database_url=url, redis_url=REDIS_URL))
    checks = {check.name: check for check in report.checks}
    if checks["redis"].status is CheckStatus.FAIL and not IN_CI:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    assert [c.name for c in report.checks] == ["database", "redis", "disk", "memory"]
    assert checks["database"].status is CheckStatus.OK, checks["database"].detail
    assert checks["redis"].status is CheckStatus.OK
    assert report.healthy and all(check.seconds >= 0 for check in report.checks)


def test_an_unmigrated_store_and_unreachable_redis_fail(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # a store that exists, with no schema
    url = f"sqlite:///{empty}"
    with refused_port() as port:
        redis_url = f"redis://:Redis-Pw7@127.0.0.1:{port}/0"
        report = run_health_checks(_settings(tmp_path, database_url=url, redis_url=redis_url))
    checks = {check.name: check for check in report.checks}
    assert not report.healthy
    assert checks["database"].status is CheckStatus.FAIL
    assert "ntrader db upgrade" in checks["database"].detail
    assert checks["redis"].status is CheckStatus.FAIL
    assert "Redis-Pw7" not in checks["redis"].detail


def test_an_sqlite_store_not_made_yet_is_a_warning_and_is_not_made(tmp_path: Path) -> None:
    """A laptop before its first command: the store is made (and migrated) on first use, so
    its absence is no failure, and the check does not leave an empty file behind."""
    path = tmp_path / "data" / "ntrader.db"
    report = run_health_checks(_settings(tmp_path, database_url=f"sqlite:///{path}"))
    [database] = [check for check in report.checks if check.name == "database"]
    assert database.status is CheckStatus.WARN
    assert database.detail == (
        f"no store yet at {path}: the first command that uses it makes and migrates it"
    )
    assert report.healthy
    assert not path.exists()


def test_an_sqlite_store_that_cannot_be_made_fails(tmp_path: Path) -> None:
    """Where the first command could not make the store (a file where its directory should
    be, or a directory this user cannot write), the check fails, naming the place."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    path = blocker / "ntrader.db"
    report = run_health_checks(_settings(tmp_path, database_url=f"sqlite:///{path}"))
    [database] = [check for check in report.checks if check.name == "database"]
    assert database.status is CheckStatus.FAIL
    assert database.detail == (
        f"no store at {path}, and none can be made there: {blocker} is not a directory this "
        "user can write to"
    )
    assert not report.healthy


def test_redis_is_not_checked_unless_configured(tmp_path: Path) -> None:
    names = [c.name for c in DEFAULT_CHECKS if c.applies(_settings(tmp_path))]
    assert names == ["database", "disk", "memory"]


def test_little_free_disk_warns_then_fails(tmp_path: Path) -> None:
    assert check_disk(_settings(tmp_path, health_min_free_disk_mb=0)).status is CheckStatus.OK
    huge = 10**12  # MiB: more than any disk here
    assert check_disk(_settings(tmp_path, health_min_free_disk_mb=huge)).status is CheckStatus.FAIL
    probe = check_disk(_settings(tmp_path, health_min_free_disk_mb=10**6))
    assert probe.status in {CheckStatus.WARN, CheckStatus.FAIL}
    assert "want at least 1,000,000 MiB" in probe.detail


def test_a_probe_that_raises_is_a_failure_with_a_redacted_reason(tmp_path: Path) -> None:
    def broken(_settings: Settings) -> Probe:
        raise OSError("cannot log in to postgresql://u:Probe-Pw3@gw:4002 as DU1234567")

    result = run_check(HealthCheck("gateway", broken), _settings(tmp_path))
    assert result.status is CheckStatus.FAIL
    assert "Probe-Pw3" not in result.detail and "DU1234567" not in result.detail
    assert result.detail.startswith("OSError: cannot log in")


def test_a_warning_is_still_healthy(tmp_path: Path) -> None:
    warns = HealthCheck("extra", lambda _s: Probe(CheckStatus.WARN, "degraded"))
    report = run_health_checks(_settings(tmp_path), [warns])
    assert report.healthy and report.checks[0].detail == "degraded"


def test_a_configured_gateway_is_checked_against_a_real_socket(tmp_path: Path) -> None:
    with FakeTws() as tws:
        settings = _settings(tmp_path, ib_host="127.0.0.1", ib_port=tws.port)
        report = run_health_checks(settings, [c for c in DEFAULT_CHECKS if c.name == "ib_gateway"])
    (result,) = report.checks
    assert result.status is CheckStatus.OK, result.detail
    assert f"127.0.0.1:{tws.port}: server version 200" in result.detail
    assert "DU1234567" not in result.detail

    with refused_port() as port:
        down = _settings(tmp_path, ib_port=port)
        gateway_only = [c for c in DEFAULT_CHECKS if c.name == "ib_gateway"]
        (failed,) = run_health_checks(down, gateway_only).checks
    assert failed.status is CheckStatus.FAIL and "Nothing accepts connections" in failed.detail


def test_the_gateway_is_checked_only_once_configured(tmp_path: Path) -> None:
    applies = next(c for c in DEFAULT_CHECKS if c.name == "ib_gateway").applies
    assert not applies(_settings(tmp_path))
    assert applies(_settings(tmp_path, ib_port=4002))
