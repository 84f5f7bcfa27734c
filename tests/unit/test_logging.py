"""The logging set-up: formats, the file, context ids, levels, redaction, nautilus' lines."""

from __future__ import annotations

import json
import logging
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ntrader.utils.logging import (
    bind_invocation,
    bound,
    configure_logging,
    get_logger,
    redact_text,
)

pytestmark = pytest.mark.usefixtures("restore_log_handlers")


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_file_gets_json_lines_with_the_correlation_and_run_ids(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "ntrader.jsonl"
    configure_logging(level="WARNING", log_file=log_file)
    correlation_id = "c0ffee"
    bind_invocation(correlation_id)
    log = get_logger("ntrader.tests")
    with bound(run_id="run-1"):
        log.info("run.started", bars=3)
    log.info("command.completed")
    log.debug("hidden without --debug")
    events = _lines(log_file)
    assert [e["event"] for e in events] == ["run.started", "command.completed"]
    assert all(e["correlation_id"] == correlation_id for e in events)
    assert events[0]["run_id"] == "run-1" and "run_id" not in events[1]
    assert events[0]["level"] == "info" and events[0]["bars"] == 3


def test_stream_level_format_and_debug(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="WARNING", log_format="json")
    log = get_logger("ntrader.tests")
    log.info("quiet by default")
    log.warning("shown", detail="x")
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout is the command's
    assert [json.loads(line)["event"] for line in captured.err.splitlines()] == ["shown"]
    configure_logging(level="WARNING", log_format="console", debug=True)
    log.debug("debug shown")
    err = capsys.readouterr().err
    assert "debug shown" in err and not err.lstrip().startswith("{")


def test_secrets_are_masked_in_messages_fields_and_foreign_records(tmp_path: Path) -> None:
    log_file = tmp_path / "ntrader.jsonl"
    configure_logging(level="WARNING", log_file=log_file)
    log = get_logger("ntrader.tests")
    log.info(
        "connect to postgresql+psycopg://trader:Hunter2pw@db:5432/ntrader",
        url="redis://:R3dispw@cache:6379/0",
        account="DU1234567",
        api_token="tok-abc-123",
        nested={"password": "Nested9pw", "note": "password=Inline7pw for U7654321"},
        error=RuntimeError("login U1234567 failed token=Exc5pw"),
    )
    # A standard-library record under ntrader's logger (alembic-style, or nautilus relayed).
    logging.getLogger("ntrader.nautilus").warning("account DU7777777 secret=Foreign3pw")
    text = log_file.read_text()
    for secret in (
        "Hunter2pw",
        "R3dispw",
        "DU1234567",
        "tok-abc-123",
        "Nested9pw",
        "Inline7pw",
        "U7654321",
        "U1234567",
        "Exc5pw",
        "DU7777777",
        "Foreign3pw",
    ):
        assert secret not in text
    assert "postgresql+psycopg://trader:***@db:5432/ntrader" in text


_PASSWORD = st.text(
    alphabet=string.ascii_letters + string.digits + "!$%^*()-_=+[]{}~.",
    min_size=4,
    max_size=30,
)


@given(password=_PASSWORD, user=st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True))
def test_no_url_password_survives(password: str, user: str) -> None:
    line = f"failed: postgresql://{user}:{password}@10.0.0.1:5432/db?sslmode=require"
    masked = redact_text(line)
    assert f":{password}@" not in masked
    assert masked == f"failed: postgresql://{user}:***@10.0.0.1:5432/db?sslmode=require"


@given(st.text(max_size=200))
def test_redaction_never_fails_and_is_stable(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once


def test_ordinary_text_is_left_alone() -> None:
    text = "run 3f2a-91 on AAPL.NASDAQ 1MIN: 98,280 bars, U.S. session, user=alice"
    assert redact_text(text) == text


def test_nautilus_lines_are_relayed_once_each_and_a_partial_line_waits(tmp_path: Path) -> None:
    from ntrader.core.nautilus_logs import NautilusLogRelay

    log_file = tmp_path / "ntrader.jsonl"
    configure_logging(level="WARNING", log_file=log_file)
    relay = NautilusLogRelay(tmp_path)
    written = tmp_path / "nautilus.jsonl"
    warn = {"level": "WARN", "component": "RiskEngine", "message": "denied for DU1234567"}
    written.write_text(json.dumps(warn) + "\nnot json\n" + '{"level": "INFO", "mess')
    assert relay.relay() == 2
    written.write_text(written.read_text() + 'age": "done", "component": "Trader"}\n')
    assert relay.relay() == 1
    assert relay.relay() == 0
    events = _lines(log_file)
    assert [(e["level"], e["event"]) for e in events] == [
        ("warning", "denied for ***"),
        ("warning", "not json"),
        ("info", "done"),
    ]
    assert {e["logger"] for e in events} == {"ntrader.nautilus"}
    assert events[0]["component"] == "RiskEngine"
