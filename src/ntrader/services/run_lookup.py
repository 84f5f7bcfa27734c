"""Finding one stored run by reference, for every service that takes a run id from the user."""

from __future__ import annotations

from ntrader.core.errors import NotFoundError
from ntrader.db.database import Repositories
from ntrader.models.backtest import RunRecord

RUN_LIST_HINT = "Run `ntrader backtest list` to see the stored runs."


def find_run(repos: Repositories, run_ref: str) -> RunRecord:
    """A run by full id, unique prefix, or ``latest``; a miss says where to look."""
    try:
        return repos.backtests.get(run_ref)
    except NotFoundError as error:
        # The store knows no commands, so the hint is added here.
        error.hint = RUN_LIST_HINT
        raise
