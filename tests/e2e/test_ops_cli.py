"""Operations end to end: a backtest's metrics read back from a real Pushgateway, its logs
(one correlation id, the run id, nautilus' lines relayed, no password), health-check and the
config precedence through the installed command."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from ntrader.db.database import Database
from ntrader.db.engine import SCHEMA_HEAD
from ntrader.services.data_service import DataService, ImportRequest
from tests.conftest import IN_CI, REPO_ROOT
from tests.e2e.conftest import NTRADER, RUN_2020, RunCli

PASSWORD = "S3cret-Pw9"
PUSHGATEWAY = "prometheus-pushgateway"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def pushgateway() -> Iterator[str]:
    """A real Pushgateway on a free loopback port (Debian's prometheus-pushgateway), in
    memory only, stopped after the session."""
    binary = shutil.which(PUSHGATEWAY)
    if binary is None:
        message = f"{PUSHGATEWAY} is not installed (apt-get install prometheus-pushgateway)"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: services must be up)")
        pytest.skip(message)
    url = f"http://127.0.0.1:{_free_port()}"
    process = subprocess.Popen(
        [binary, f"--web.listen-address={url.removeprefix('http://')}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"{PUSHGATEWAY} did not start on {url}")
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _samples(exposition: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric in Prometheus' text format."""
    found = {}
    for line in exposition.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, _, value = line.rpartition(" ")
            found[labels.removeprefix(name)] = float(value)
    return found


@pytest.mark.postgres
def test_a_backtest_reports_to_the_pushgateway_and_logs_without_secrets(
    run_cli: RunCli, fresh_postgres_url: str, sample_dir: Path, tmp_path: Path, pushgateway: str
) -> None:
    # Trust authentication ignores the password: it is there to be kept out of every log.
    url = make_url(fresh_postgres_url).set(password=PASSWORD).render_as_string(False)
    database = Database(url)
    DataService(database).import_csv(
        ImportRequest(file=sample_dir / "AAPL_daily.csv", instrument="AAPL")
    )
    database.dispose()
    log_file, textfile = tmp_path / "logs" / "ntrader.jsonl", tmp_path / "ntrader.prom"
    result = run_cli(
        *RUN_2020,
        "--json",
        "--log-file",
        str(log_file),
        "--log-format",
        "json",
        database_url=url,
        env_extra={
            "NTRADER_PUSHGATEWAY_URL": pushgateway,
            "NTRADER_METRICS_TEXTFILE": str(textfile),
            # nautilus' INFO lines go to the file; the terminal keeps its WARNING threshold.
            "NTRADER_NAUTILUS_LOG_LEVEL": "INFO",
        },
    )
    run_id = json.loads(result.stdout)["id"]
    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    for text in (result.stdout, result.stderr, log_file.read_text(), textfile.read_text()):
        assert PASSWORD not in text
    assert not result.stderr.strip()  # nothing at WARNING: the terminal is not flooded
    assert len({event["correlation_id"] for event in events}) == 1
    by_name = {event["event"]: event for event in events if event["logger"] != "ntrader.nautilus"}
    assert by_name["command.started"]["command"] == "backtest run"
    assert by_name["run.started"]["run_id"] == by_name["run.completed"]["run_id"] == run_id
    assert by_name["command.completed"]["exit_code"] == 0
    relayed = [event for event in events if event["logger"] == "ntrader.nautilus"]
    assert relayed and all(event["run_id"] == run_id for event in relayed)
    assert any(event["component"] == "BacktestEngine" for event in relayed)

    with urllib.request.urlopen(f"{pushgateway}/metrics", timeout=5) as response:
        exposition = response.read().decode()
    for source in (exposition, textfile.read_text()):
        runs = _samples(source, "ntrader_runs_total")
        assert [value for labels, value in runs.items() if 'status="completed"' in labels] == [1]
        assert sum(_samples(source, "ntrader_bars_processed_total").values()) == 253
        assert sum(_samples(source, "ntrader_run_duration_seconds_count").values()) == 1
    pushed = next(iter(_samples(exposition, "ntrader_runs_total")))
    assert 'job="ntrader"' in pushed and 'command="backtest"' in pushed


def test_health_check_fails_with_exit_3_and_no_password(run_cli: RunCli) -> None:
    url = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{_free_port()}/ntrader"
    result = run_cli("health-check", "--json", database_url=url, check_exit=3)
    payload = json.loads(result.stdout)
    checks = {check["name"]: check for check in payload["checks"]}
    assert payload["healthy"] is False
    assert checks["database"]["status"] == "fail"
    assert {checks["disk"]["status"], checks["memory"]["status"]} <= {"ok", "warn"}
    assert "redis" not in checks  # not configured
    assert PASSWORD not in result.stdout + result.stderr


def test_config_show_marks_each_source_in_precedence_order(
    run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    config_file = Path(cli_env["XDG_CONFIG_HOME"]) / "ntrader" / "config.toml"
    config_file.parent.mkdir(parents=True)
    config_file.write_text(
        'log_level = "ERROR"\nlog_format = "json"\nsqlite_busy_timeout_ms = 1\n'
        "health_min_free_disk_mb = 5\n"
    )
    (tmp_path / ".env").write_text(  # run_cli runs in tmp_path
        "NTRADER_LOG_FORMAT=console\nNTRADER_SQLITE_BUSY_TIMEOUT_MS=2\n"
        "NTRADER_HEALTH_MIN_FREE_DISK_MB=6\n"
    )
    result = run_cli(
        "config",
        "show",
        "--json",
        "--database-url",
        f"postgresql://flag:{PASSWORD}@db/ntrader",
        env_extra={
            "NTRADER_SQLITE_BUSY_TIMEOUT_MS": "3",
            "NTRADER_REDIS_URL": f"redis://:{PASSWORD}@cache:6379/0",
        },
    )
    shown = json.loads(result.stdout)["settings"]
    assert {name: (s["value"], s["source"]) for name, s in shown.items()} | {} == {
        **{name: (s["value"], s["source"]) for name, s in shown.items()},
        "log_level": ("ERROR", "config file"),
        "log_format": ("console", ".env"),
        "health_min_free_disk_mb": (6, ".env"),
        "sqlite_busy_timeout_ms": (3, "environment"),
        "redis_url": ("redis://:***@cache:6379/0", "environment"),
        "database_url": ("postgresql://flag:***@db/ntrader", "flag"),
        "log_file": (None, "default"),
    }
    assert PASSWORD not in result.stdout + result.stderr


def test_deploy_script_validates_migrates_checks_and_says_what_next(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    script = REPO_ROOT / "scripts" / "deploy.sh"
    env = {**cli_env, "NTRADER": str(NTRADER)}
    database = Path(cli_env["XDG_DATA_HOME"]) / "ntrader" / "ntrader.db"
    refused = subprocess.run(
        [str(script)],
        env={**env, "NTRADER_LOG_FORMAT": "xml"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 1 and "log_format" in refused.stderr
    assert not database.exists()  # nothing migrated with bad settings
    deployed = subprocess.run(
        [str(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert deployed.returncode == 0, deployed.stderr
    assert f"to {SCHEMA_HEAD}" in deployed.stderr and "Deployed. Next:" in deployed.stdout
    assert database.exists()
