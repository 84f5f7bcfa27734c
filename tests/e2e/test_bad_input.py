"""SPEC §9 via the CLI: one message naming file, rule and lines; exit 1; store unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import RunCli, import_bars

pytestmark = pytest.mark.slow

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = "2024-01-02,10,11,9,10.5,100\n"

CASES = {
    "missing column": (
        "timestamp,open,high,low,volume\n2024-01-02,10,11,9,100\n",
        ["missing", "close"],
    ),
    "non-numeric value": (HEADER + GOOD + "2024-01-03,10,eleven,9,10.5,100\n", ["high", "line 3"]),
    "high below low": (
        HEADER + GOOD + "2024-01-03,10,8,9,8.5,100\n",
        ["high is below low", "line 3"],
    ),
    "negative volume": (
        HEADER + GOOD + "2024-01-03,10,11,9,10.5,-5\n",
        ["volume is negative", "line 3"],
    ),
    "duplicate timestamps": (HEADER + GOOD + GOOD, ["duplicate", "lines 2, 3"]),
    "unsorted timestamps": (HEADER + "2024-01-03,10,11,9,10.5,100\n" + GOOD, ["order", "line 3"]),
    "mixed time zones": (
        HEADER + "2024-01-02T10:00:00Z,10,11,9,10.5,1\n2024-01-02T11:00:00,10,11,9,10.5,1\n",
        ["mixed time zones"],
    ),
    "empty file": ("", ["empty"]),
    "wrong delimiter": (
        "timestamp;open;high;low;close;volume\n2024-01-02;10;11;9;10.5;100\n",
        ["semicolons", "commas"],
    ),
    "field count mismatch": (
        HEADER + GOOD + "2024-01-03,10.5,11.5,10,11,1,200\n",
        ["number of fields differs from the header's 6", "line 3"],
    ),
    "duplicate header column": (
        "timestamp,open,high,low,close,close,volume\n2024-01-02,10,11,9,10.5,10.5,100\n",
        ["more than once", "close (close, close)"],
    ),
    "zero price": (
        HEADER + GOOD + "2024-01-03,0,11,0,10.5,100\n",
        ["zero or negative", "line 3"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_is_refused_and_nothing_is_written(
    invoke_cli: RunCli, database_url: str, sample_dir: Path, tmp_path: Path, case: str
) -> None:
    content, words = CASES[case]
    import_bars(invoke_cli, sample_dir / "SPY_daily.csv", "SPY", database_url=database_url)
    before = invoke_cli("data", "list", "--json", database_url=database_url).stdout
    bad = tmp_path / "bad_bars.csv"
    bad.write_text(content)
    result = import_bars(invoke_cli, bad, "SPY", database_url=database_url, check_exit=1)
    message = result.stderr
    assert "bad_bars.csv" in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert "Traceback" not in message
    assert invoke_cli("data", "list", "--json", database_url=database_url).stdout == before


def test_missing_file(run_cli: RunCli, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    result = import_bars(run_cli, tmp_path / "nope.csv", "AAPL", database_url=url, check_exit=1)
    assert "nope.csv" in result.stderr
    assert json.loads(run_cli("data", "list", "--json", database_url=url).stdout) == []


def test_json_error_of_a_bad_file_lists_every_broken_rule_with_its_lines(
    invoke_cli: RunCli, database_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad_bars.csv"
    bad.write_text(
        HEADER + GOOD + "2024-01-03,10,8,9,8.5,100\n2024-01-04,10,11,9,10.5,-5\n"
        "2024-01-05,10,11,9,10.5,-7\n"
    )
    result = import_bars(invoke_cli, bad, "SPY", "--json", database_url=database_url, check_exit=1)
    payload = json.loads(result.stdout)
    assert payload["exit_code"] == 1
    assert payload["error"].endswith(
        "bad_bars.csv: volume is negative on lines 4, 5 (2 rows); high is below low on line 3 "
        "(1 row)."
    )
    found = [(error["rule"], error["lines"], error["rows"]) for error in payload["errors"]]
    assert found == [("volume is negative", [4, 5], 2), ("high is below low", [3], 1)]
    assert json.loads(invoke_cli("data", "list", "--json", database_url=database_url).stdout) == []
