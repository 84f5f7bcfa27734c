"""Reading the run history. Kept free of the engine so `backtest list/show` start fast."""

from __future__ import annotations

import os
import socket

from ntrader.core import strategy_registry
from ntrader.core.errors import UserInputError
from ntrader.db.database import Database
from ntrader.models.backtest import RunRecord
from ntrader.models.enums import RunStatus


def is_stale(run: RunRecord) -> bool:
    """A RUNNING run whose process on this host is gone (killed, crashed, power cut)."""
    if run.status is not RunStatus.RUNNING or run.host_pid is None:
        return False
    if run.host != socket.gethostname():
        return False
    try:
        os.kill(run.host_pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by someone else
        return False
    return False


class RunHistory:
    def __init__(self, database: Database) -> None:
        self._database = database

    def get(self, run_ref: str) -> RunRecord:
        """A run by full id, unique prefix, or ``latest``."""
        with self._database.transaction() as repos:
            return repos.backtests.get(run_ref)

    def list(
        self, *, status: RunStatus | None = None, strategy: str | None = None, last: int = 20
    ) -> list[RunRecord]:
        """Newest first. ``strategy`` is a strategy type or a stored strategy's name."""
        strategy_type = strategy_name = None
        if strategy:
            try:
                strategy_type = strategy_registry.resolve(strategy).name
            except UserInputError:
                strategy_name = strategy
        with self._database.transaction() as repos:
            return repos.backtests.list(
                status=status,
                strategy_type=strategy_type,
                strategy_name=strategy_name,
                last=last,
            )
