"""The config file and the settings' sources: precedence, masking, set, validate, export,
and hostile keys, values and files."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntrader.core.errors import UserInputError
from ntrader.services import config_service
from ntrader.services.config_service import Source
from ntrader.utils.settings import config_file_path, load_settings


@pytest.fixture(autouse=True)
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No NTRADER_* variables, no .env, a config dir of the test's own."""
    for name in list(os.environ):
        if name.startswith("NTRADER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    return config_file_path()


def _sources(flags: dict[str, object] | None = None) -> dict[str, tuple[object, Source]]:
    return {v.name: (v.value, v.source) for v in config_service.describe(flags or {})}


def test_precedence_defaults_file_dotenv_environment_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_service.set_value("log_level", "error")
    config_service.set_value("log_format", "json")
    config_service.set_value("sqlite_busy_timeout_ms", "1")
    (tmp_path / ".env").write_text("NTRADER_LOG_FORMAT=console\nNTRADER_SQLITE_BUSY_TIMEOUT_MS=2\n")
    monkeypatch.setenv("NTRADER_SQLITE_BUSY_TIMEOUT_MS", "3")
    monkeypatch.setenv("NTRADER_DATABASE_URL", "sqlite:///env.db")
    shown = _sources({"database_url": "sqlite:///flag.db"})
    assert shown["log_level"] == ("ERROR", Source.CONFIG_FILE)
    assert shown["log_format"] == ("console", Source.DOTENV)
    assert shown["sqlite_busy_timeout_ms"] == (3, Source.ENVIRONMENT)
    assert shown["database_url"] == ("sqlite:///flag.db", Source.FLAG)
    assert shown["nautilus_log_level"] == ("OFF", Source.DEFAULT)
    effective = load_settings(database_url="sqlite:///flag.db")
    assert (effective.log_level, effective.sqlite_busy_timeout_ms) == ("ERROR", 3)


def test_secrets_are_masked_in_show_and_export(tmp_path: Path) -> None:
    config_service.set_value("database_url", "postgresql+psycopg://trader:Pw-123@db/ntrader")
    config_service.set_value("api_token", "Tok-789")
    path, view = config_service.set_value("redis_url", "redis://:Redis-456@cache:6379/0")
    assert view.value == "redis://:***@cache:6379/0"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    shown = _sources()
    assert shown["database_url"][0] == "postgresql+psycopg://trader:***@db/ntrader"
    masked = config_service.export_config({}, tmp_path / "masked.toml")
    assert shown["api_token"][0] == config_service.MASK
    assert not {"Pw-123", "Redis-456", "Tok-789"} & set(masked.read_text().split('"'))
    full = config_service.export_config({}, tmp_path / "full.toml", include_secrets=True)
    exported = tomllib.loads(full.read_text())
    assert exported["redis_url"] == "redis://:Redis-456@cache:6379/0"
    assert exported["api_token"] == "Tok-789"
    with pytest.raises(UserInputError, match="exists already"):
        config_service.export_config({}, full)


def test_set_keeps_the_files_comments_and_other_values(config_file: Path) -> None:
    config_service.init_config()
    comments = config_file.read_text().count("\n#")
    config_service.set_value("NTRADER_LOG_FORMAT", "json")  # the variable's name works too
    config_service.set_value("health_min_free_disk_mb", "2048")
    text = config_file.read_text()
    assert text.count("\n#") == comments
    assert tomllib.loads(text) == {"log_format": "json", "health_min_free_disk_mb": 2048}
    with pytest.raises(UserInputError, match="exists already"):
        config_service.init_config()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("no_such_setting", "1", "There is no setting"),
        ("__class__", "x", "There is no setting"),
        ("sqlite_busy_timeout_ms", "-1", "greater than or equal to 0"),
        ("sqlite_busy_timeout_ms", "1e999", "valid integer"),
        ("log_format", "xml", "'console' or 'json'"),
        ("redis_url", "http://cache:6379", "must start with redis://"),
        ("pushgateway_url", "file:///etc/passwd", "must start with http://"),
        ("log_file", "logs/a\nb.log", "control character"),
        ("database_url", "sqlite:///x.db\x00", "control character"),
    ],
)
def test_set_refuses_bad_values_and_writes_nothing(
    config_file: Path, key: str, value: str, message: str
) -> None:
    config_service.set_value("log_level", "info")
    before = config_file.read_text()
    with pytest.raises(UserInputError, match=message):
        config_service.set_value(key, value)
    assert config_file.read_text() == before


def test_set_checks_the_files_values_not_the_environments(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NTRADER_SQLITE_BUSY_TIMEOUT_MS", "5")
    config_file.parent.mkdir(parents=True)
    config_file.write_text("sqlite_busy_timeout_ms = -7\n")
    with pytest.raises(UserInputError, match="sqlite_busy_timeout_ms"):
        config_service.set_value("log_level", "info")


def test_validate_names_each_bad_setting_and_its_reason(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert config_service.validate({}) == []
    monkeypatch.setenv("NTRADER_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("NTRADER_REDIS_URL", "http://:Secret-9@cache")
    problems = {p.setting: p.reason for p in config_service.validate({})}
    assert set(problems) == {"log_level", "redis_url"}
    assert "Secret-9" not in str(problems)
    monkeypatch.delenv("NTRADER_LOG_LEVEL")
    monkeypatch.delenv("NTRADER_REDIS_URL")
    config_file.parent.mkdir(parents=True)
    config_file.write_text('log_level = "INFO\n')  # unterminated string
    [problem] = config_service.validate({})
    assert problem.setting == str(config_file) and "not valid TOML" in problem.reason
    with pytest.raises(UserInputError, match="not valid TOML"):
        load_settings()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(max_size=40))
def test_any_text_is_either_refused_or_stored_exactly(config_file: Path, value: str) -> None:
    try:
        _path, view = config_service.set_value("log_file", value)
    except UserInputError:
        return
    stored = tomllib.loads(config_file.read_text())["log_file"]
    assert stored == view.value == str(Path(value))
