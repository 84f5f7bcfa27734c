"""NautilusTrader's own log lines, relayed into ntrader's log stream.

nautilus logs from Rust: straight to stdout/stderr (which would break ``--json``), not through
Python's logging. So its console output is switched off and it writes JSON lines at the chosen
level to a private file instead; after each engine is disposed (which flushes it) the new lines
are read back and re-emitted as ntrader events (logger ``ntrader.nautilus``), redacted and
formatted like every other event. nautilus sets its logger up once per process, so the file and
the level are per process too. Level ``OFF`` bypasses nautilus' logging altogether.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path

from nautilus_trader.config import LoggingConfig

from ntrader.utils.logging import get_logger
from ntrader.utils.settings import get_settings

_LEVELS = {"TRACE": "debug", "DEBUG": "debug", "INFO": "info", "WARN": "warning", "ERROR": "error"}
_FILE_NAME = "nautilus"


class NautilusLogRelay:
    def __init__(self, directory: Path | None = None) -> None:
        """``directory``: where nautilus writes; a temporary one, made on first use, if None."""
        self._directory = directory
        self._offset = 0
        self._log = get_logger("ntrader.nautilus")

    def logging_config(self) -> LoggingConfig:
        level = get_settings().nautilus_log_level
        if level == "OFF":
            return LoggingConfig(log_level="ERROR", bypass_logging=True)
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="ntrader-nautilus-"))
            atexit.register(shutil.rmtree, self._directory, ignore_errors=True)
        return LoggingConfig(
            log_level="OFF",
            log_level_file=level,
            log_directory=str(self._directory),
            log_file_name=_FILE_NAME,
            log_file_format="JSON",
            log_colors=False,
            fileout_sync_on_flush=False,
        )

    def relay(self) -> int:
        """Re-emit the lines nautilus wrote since the last call; how many there were."""
        if self._directory is None:
            return 0
        path = self._directory / f"{_FILE_NAME}.jsonl"
        if not path.exists():
            return 0
        with path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        # A line still being written (no newline yet) waits for the next call.
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        lines = complete.decode("utf-8", errors="replace").splitlines()
        for line in lines:
            self._emit(line)
        return len(lines)

    def _emit(self, line: str) -> None:
        try:
            record = json.loads(line)
        except ValueError:
            self._log.warning(line)
            return
        method = _LEVELS.get(str(record.get("level", "")).upper(), "info")
        getattr(self._log, method)(
            str(record.get("message", "")),
            component=record.get("component"),
            nautilus_time=record.get("timestamp"),
        )


nautilus_logs = NautilusLogRelay()
