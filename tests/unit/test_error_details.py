"""The fields an error adds to the --json error object (``NtraderError.details``): what a
script needs to act on a failure without parsing its sentence."""

from __future__ import annotations

import json
import signal

import pytest

from ntrader.cli.output import print_json_error
from ntrader.core.errors import DataValidationError, NotFoundError, NtraderError
from ntrader.services.backtest_service import RunFailedError, RunInterruptedError, RunSavedError
from ntrader.services.sweep_service import SweepInterruptedError
from ntrader.services.walk_forward import WalkForwardInterruptedError

RUN_ID = "0123abcd-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("error", "details"),
    [
        (NotFoundError("No backtest matches 'x'."), {}),
        (DataValidationError("f.csv: empty."), {}),
        (
            DataValidationError("f.csv: ...", violations=[("high is below low", [3, 9], 2)]),
            {"errors": [{"rule": "high is below low", "lines": [3, 9], "rows": 2}]},
        ),
        (RunInterruptedError(RUN_ID, signal.SIGTERM), {"run_id": RUN_ID}),
        (RunFailedError(RUN_ID, "the engine stopped", None), {"run_id": RUN_ID}),
        (RunSavedError(RUN_ID, "printing", OSError("closed")), {"run_id": RUN_ID}),
        (
            SweepInterruptedError("sweep-id", 3, 90),
            {"sweep_id": "sweep-id", "runs_done": 3, "runs": 90},
        ),
        (
            WalkForwardInterruptedError("wf-id", 2, 6),
            {"walk_forward_id": "wf-id", "windows_done": 2, "windows": 6},
        ),
    ],
)
def test_each_error_adds_the_fields_a_script_acts_on(
    error: NtraderError, details: dict[str, object]
) -> None:
    assert error.details() == details


def test_the_json_error_object_keeps_its_own_three_fields_whatever_the_details_say(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_json_error("It failed.", 1, None, {"error": "forged", "exit_code": 0, "run_id": "r"})
    assert json.loads(capsys.readouterr().out) == {
        "error": "It failed.",
        "exit_code": 1,
        "hint": None,
        "run_id": "r",
    }
