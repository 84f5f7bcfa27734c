"""Sweeps as jobs of the HTTP API, on a real server: the same runs as `backtest sweep`, the
CLI's refusals as 422 with nothing stored, cancel and resume of only the missing points."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ntrader.db.database import Database
from ntrader.models.enums import RunStatus
from ntrader.services.data_service import DataService, ImportRequest
from ntrader.services.instruments import find_stored
from ntrader.services.run_history import RunHistory
from tests.api.server import (
    Server,
    assert_problem,
    cli_stdout,
    events_of,
    gated_server,
    wait_for_progress,
)
from tests.conftest import SAMPLE_DIR
from tests.factories import delete_stored_bars
from tests.inprocess_cli import invoke_ntrader
from tests.integration.sweep_support import running_sweep_and_analysis

V1 = "/api/v1"
BODY: dict[str, Any] = {
    "strategy": {"type": "sma"},
    "instruments": ["AAPL"],
    "period": {"start": "2020-01-01", "end": "2021-06-30"},
    "sweep": {
        "grid": {"fast_period": [5, 10], "slow_period": "20,30"},
        "objective": "total_return",
    },
}


def _submit(client: httpx.Client, body: dict[str, Any]) -> str:
    response = client.post(f"{V1}/sweeps", json=body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert response.headers["location"] == f"{V1}/sweeps/{accepted['id']}"
    assert accepted["status"] == "PENDING"
    return str(accepted["id"])


def _runs_by_point(client: httpx.Client, sweep: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each ranked point's stored run, by its parameters."""
    return {
        json.dumps(row["parameters"], sort_keys=True): client.get(
            f"{V1}/backtests/{row['run_id']}"
        ).json()
        for row in sweep["runs"]
    }


def _counts(database_url: str) -> tuple[int, int]:
    database = Database(database_url)
    with database.transaction() as repos:
        counts = len(repos.sweeps.list(1000)), len(repos.backtests.list(last=10_000))
    database.dispose()
    return counts


def test_a_sweep_over_http_stores_what_backtest_sweep_stores(
    sqlite_server: Server, tmp_path: Path
) -> None:
    url = sqlite_server.database_url
    with sqlite_server.client() as client:
        sweep_id = _submit(client, {**BODY, "screen": False})
        events = events_of(client, f"{V1}/sweeps/{sweep_id}/events")
        assert events[0][0] == "status" and events[-1] == (
            "done",
            {"status": "COMPLETED", "error_message": None},
        )
        progress = [data for name, data in events if name == "progress"]
        assert progress[-1]["runs"] == progress[-1]["total"] == 4
        assert progress[-1]["best"]["objective"] is not None
        shown = client.get(f"{V1}/sweeps/{sweep_id[:8]}").json()
        assert shown["status"] == "COMPLETED" and shown["objective"] == "total_return"
        objectives = [row["objective"] for row in shown["runs"]]
        assert objectives == sorted(objectives, reverse=True)
        assert shown["statistics"]["best_run_id"] == shown["runs"][0]["run_id"]
        assert shown == json.loads(cli_stdout(url, "backtest", "sweep", "show", sweep_id, "--json"))
        over_http = _runs_by_point(client, shown)

        config = tmp_path / "sweep.yaml"
        config.write_text(yaml.safe_dump(BODY))
        cli_stdout(
            url, "backtest", "sweep", "--config", str(config), "--no-screen", "--workers", "1"
        )
        by_cli = _runs_by_point(client, client.get(f"{V1}/sweeps/latest").json())
        assert over_http.keys() == by_cli.keys()
        for point, run in over_http.items():
            other = by_cli[point]
            assert other["id"] != run["id"] and other["status"] == run["status"] == "COMPLETED"
            assert other["config"] == run["config"]
            assert other["data_fingerprint"] == run["data_fingerprint"]
            assert other["metrics"] == run["metrics"]

        page = client.get(f"{V1}/sweeps", params={"limit": 1}).json()
        second = client.get(f"{V1}/sweeps", params={"limit": 1, "cursor": page["next_cursor"]})
        listed = [page["items"][0]["sweep_id"], second.json()["items"][0]["sweep_id"]]
        assert listed[1] == sweep_id and second.json()["next_cursor"] is None
        assert_problem(client.get(f"{V1}/sweeps/ffffffff"), 404)


def test_the_clis_refusals_are_422_and_store_nothing(sqlite_server: Server, tmp_path: Path) -> None:
    url = sqlite_server.database_url
    bad_grid = {**BODY, "sweep": {"grid": {"fast_period": [0, 5]}}}
    bad_constraint = {**BODY, "sweep": {**BODY["sweep"], "constraints": ["__import__('os')"]}}
    before = _counts(url)
    with sqlite_server.client() as client:
        for body in (bad_grid, bad_constraint):
            config = tmp_path / "bad.yaml"
            config.write_text(yaml.safe_dump(body))
            args = ("--database-url", url, "backtest", "sweep", "--config", str(config), "--json")
            refused = invoke_ntrader(args, env=os.environ, cwd=tmp_path)
            assert refused.returncode == 1, refused.stderr
            cli = json.loads(refused.stdout)
            problem = assert_problem(client.post(f"{V1}/sweeps", json=body), 422)
            assert problem["detail"] == cli["error"] and problem["hint"] == cli["hint"]
        missing = assert_problem(
            client.post(f"{V1}/sweeps", json={**BODY, "instruments": ["MSFT"]}), 404
        )
        assert "MSFT" in str(missing["detail"])
        server_only = {**BODY, "strategy_path": "/tmp/evil.py"}
        assert_problem(client.post(f"{V1}/sweeps", json=server_only), 422)
    assert _counts(url) == before


def test_cancel_interrupts_and_resume_runs_only_the_missing_points(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    # Sixteen points run one after another; the ninth run (point 8) is held in the engine,
    # so the cancel lands with points 0 to 7 finished, never after the last.
    body = {
        **BODY,
        "strategy": {"type": "gated"},
        "sweep": {"grid": {"period": "1:16:1"}, "objective": "total_return"},
        "screen": False,
    }
    with (
        gated_server(fresh_postgres_url, tmp_path, stall_run=9) as server,
        server.client() as client,
    ):
        sweep_id = _submit(client, body)
        events = f"{V1}/sweeps/{sweep_id}/events"
        wait_for_progress(client, events, lambda progress: progress["runs"] == 8)
        cancelled = client.post(f"{V1}/sweeps/{sweep_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        stopped = cancelled.json()
        assert stopped["status"] == "INTERRUPTED"
        kept = {r["index"]: r["run_id"] for r in stopped["runs"] if r["status"] == "COMPLETED"}
        assert sorted(kept) == list(range(8))
        assert Counter(r["status"] for r in stopped["runs"]) == {"COMPLETED": 8, "INTERRUPTED": 8}
        assert_problem(client.post(f"{V1}/sweeps/{sweep_id}/cancel"), 409)

        resumed_at = datetime.now(UTC)
        resumed = client.post(f"{V1}/sweeps/{sweep_id}/resume")
        assert resumed.status_code == 202, resumed.text
        assert_problem(client.post(f"{V1}/sweeps/{sweep_id}/resume"), 409)
        stream = events_of(client, events)
        assert stream[-1][0] == "done"
        # It went on from the eight points it had finished.
        assert next(data["runs"] for name, data in stream if name == "progress") == 8
        done = client.get(f"{V1}/sweeps/{sweep_id}").json()
    assert done["status"] == "COMPLETED"
    assert {r["status"] for r in done["runs"]} == {"COMPLETED"}
    assert {r["index"]: r["run_id"] for r in done["runs"] if r["index"] in kept} == kept
    database = Database(fresh_postgres_url)
    history = RunHistory(database)
    # One run per point: the finished ones kept, the interrupted ones run again in place.
    runs = [history.get(r["run_id"]) for r in done["runs"]]
    assert len({run.id for run in runs}) == 16
    assert all(run.status is RunStatus.COMPLETED for run in runs)
    for run in runs:
        assert run.completed_at is not None
        assert (run.completed_at < resumed_at) is (run.id in kept.values())
    database.dispose()


def test_a_walk_forward_over_http_is_what_the_cli_finds(pg_server: Server) -> None:
    body = {
        **BODY,
        "period": {"start": "2019-01-01", "end": "2020-12-31"},
        "sweep": {"grid": {"fast_period": [5, 10], "slow_period": [20, 40]}},
        "train": "12M",
        "test": "6M",
    }
    with pg_server.client() as client:
        refused = client.post(f"{V1}/walk-forwards", json={**body, "train": "3Y"})
        assert "shorter than the training window 3Y" in str(assert_problem(refused, 422)["detail"])
        response = client.post(f"{V1}/walk-forwards", json=body)
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert response.headers["location"] == f"{V1}/walk-forwards/{accepted['id']}"
        events = events_of(client, f"{V1}/walk-forwards/{accepted['id']}/events")
        assert events[-1][0] == "done"
        assert {"windows_done": 2, "windows": 2, "runs": 0, "total": 0} in [d for _, d in events]
        over_http = client.get(f"{V1}/walk-forwards/{accepted['id'][:8]}").json()
    assert over_http["status"] == "COMPLETED" and len(over_http["windows"]) == 2
    by_cli = json.loads(
        cli_stdout(
            pg_server.database_url,
            "backtest", "walk-forward", "--json", "--strategy", "sma", "--instruments", "AAPL",
            "--start", "2019-01-01", "--end", "2020-12-31", "--grid", "fast_period=5,10",
            "--grid", "slow_period=20,40", "--train", "12M", "--test", "6M", "--workers", "1",
        )
    )  # fmt: skip
    ids = ("walk_forward_id", "sweep_id", "test_run_id")
    assert by_cli.pop("report") is None
    for document in (over_http, by_cli):
        for item in (document, *document["windows"]):
            for key in ids:
                item.pop(key, None)
    assert over_http == by_cli


@pytest.mark.parametrize(
    "backend", ["sqlite_server", pytest.param("pg_server", marks=pytest.mark.postgres)]
)
def test_a_sweep_whose_bars_vanish_says_why_it_stopped(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """A sweep resumed after its bars were deleted is refused before a point runs: it is
    INTERRUPTED with the CLI's sentence, in GET, in the `failed` event and in `sweep show`."""
    server: Server = request.getfixturevalue(backend)
    symbol = f"GONE{backend[:2].upper()}"
    database = Database(server.database_url)
    DataService(database).import_csv(
        ImportRequest(file=SAMPLE_DIR / "AAPL_daily.csv", instrument=symbol)
    )
    body = {
        **BODY,
        "instruments": [symbol],
        "sweep": {"grid": {"fast_period": [5, 10], "slow_period": [30]}},
        "screen": False,
    }
    with server.client() as client:
        sweep_id = _submit(client, body)
        assert events_of(client, f"{V1}/sweeps/{sweep_id}/events")[-1][0] == "done"
        with database.transaction() as repos:
            stored = find_stored(repos.instruments, symbol)
            delete_stored_bars(repos.connection, stored.pk)
        resumed = client.post(f"{V1}/sweeps/{sweep_id}/resume")
        assert resumed.status_code == 202, resumed.text
        name, ended = events_of(client, f"{V1}/sweeps/{sweep_id}/events")[-1]
        shown = client.get(f"{V1}/sweeps/{sweep_id}").json()
        listed = client.get(f"{V1}/sweeps", params={"limit": 500}).json()["items"]
    database.dispose()
    sentence = ended["error_message"]
    assert name == "failed" and ended["status"] == "INTERRUPTED"
    assert isinstance(sentence, str) and symbol in sentence and "bars" in sentence
    assert shown["status"] == "INTERRUPTED" and shown["error_message"] == sentence
    [item] = [item for item in listed if item["sweep_id"] == sweep_id]
    assert item["error_message"] == sentence
    url = server.database_url
    assert json.loads(cli_stdout(url, "backtest", "sweep", "show", sweep_id, "--json")) == shown
    assert f"Stopped: {sentence}" in cli_stdout(url, "backtest", "sweep", "show", sweep_id)


def test_resume_with_force_takes_over_a_record_held_on_another_machine(
    sqlite_server: Server,
) -> None:
    """The resume routes' ``force``: 409 with the CLI's hint without it, then the job runs
    the sweep or the analysis to its end."""
    sweep_id, walk_forward_id = running_sweep_and_analysis(
        sqlite_server.database_url, "far.example", 4242
    )
    with sqlite_server.client() as client:
        for path in (f"{V1}/sweeps/{sweep_id}", f"{V1}/walk-forwards/{walk_forward_id}"):
            refused = assert_problem(client.post(f"{path}/resume"), 409)
            assert "process 4242 on far.example, another machine" in str(refused["detail"])
            assert "--force`" in str(refused["hint"])
            taken = client.post(f"{path}/resume", params={"force": "true"})
            assert taken.status_code == 202, taken.text
            assert events_of(client, f"{path}/events")[-1][0] == "done"
            assert client.get(path).json()["status"] == "COMPLETED"
