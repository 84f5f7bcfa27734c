"""The CLI's shared context: flags over settings, and a log file that cannot be written."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ntrader.cli.context import AppContext
from ntrader.core.errors import UserInputError
from ntrader.utils.logging import ROOT_LOGGER


def test_flags_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NTRADER_LOG_FORMAT", "console")
    app = AppContext(log_format="json", database_url="sqlite:///flag.db")
    settings = app.settings()
    assert (settings.log_format, settings.database_url) == ("json", "sqlite:///flag.db")


@pytest.mark.usefixtures("restore_log_handlers")
def test_an_unwritable_log_file_is_a_user_error_and_logging_still_works(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    app = AppContext(log_file=blocker / "ntrader.jsonl")
    with pytest.raises(UserInputError, match="Cannot write the log file"):
        app.apply_logging()
    assert app.logging_ready
    handlers = logging.getLogger(ROOT_LOGGER).handlers
    assert [type(h).__name__ for h in handlers] == ["StreamHandler"]
