"""Walk-forward analyses as jobs of the HTTP API, on a real server: cancelled in the middle
of a window's training sweep and resumed, they complete with every window, keeping what
they had finished; listed a page at a time (a bad cursor is a 400); unknown ids are 404s,
and cancelling or resuming an analysis in the wrong state is a 409 that changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from ntrader.db.database import Database
from ntrader.services.run_history import RunHistory
from tests.api.server import (
    Server,
    assert_problem,
    cli_stdout,
    events_of,
    gated_server,
    wait_for_progress,
)

V1 = "/api/v1"
# Sixteen points a window, none screened (the sizing is the default).
BODY: dict[str, Any] = {
    "strategy": {"type": "sma"},
    "instruments": ["AAPL"],
    "period": {"start": "2019-01-01", "end": "2020-12-31"},
    "sweep": {"grid": {"fast_period": "5:20:5", "slow_period": "30:60:10"}},
    "train": "12M",
    "test": "6M",
}


def _submit(client: httpx.Client, body: dict[str, Any] = BODY) -> str:
    response = client.post(f"{V1}/walk-forwards", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def test_cancel_keeps_the_finished_windows_and_resume_completes_every_window(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    # Window 1 is 16 training runs and a test run; the 19th run, window 2's second point,
    # is held in the engine: the cancel lands with window 1 and one point of window 2 done.
    body = {**BODY, "strategy": {"type": "gated"}, "sweep": {"grid": {"period": "1:16:1"}}}
    with (
        gated_server(fresh_postgres_url, tmp_path, stall_run=19) as server,
        server.client() as client,
    ):
        walk_forward_id = _submit(client, body)
        wait_for_progress(
            client,
            f"{V1}/walk-forwards/{walk_forward_id}/events",
            lambda progress: (progress["windows_done"], progress["runs"]) == (1, 1),
        )
        cancelled = client.post(f"{V1}/walk-forwards/{walk_forward_id[:8]}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        stopped = cancelled.json()
        assert stopped["status"] == "INTERRUPTED" and len(stopped["windows"]) == 1
        assert stopped["efficiency"] is None
        again = assert_problem(client.post(f"{V1}/walk-forwards/{walk_forward_id}/cancel"), 409)
        assert "is INTERRUPTED" in str(again["detail"])
        assert client.get(f"{V1}/walk-forwards/{walk_forward_id}").json() == stopped

        resumed_at = datetime.now(UTC)
        resumed = client.post(f"{V1}/walk-forwards/{walk_forward_id[:8]}/resume")
        assert resumed.status_code == 202, resumed.text
        accepted = resumed.json()
        location = f"{V1}/walk-forwards/{walk_forward_id}"
        assert accepted == {
            "id": walk_forward_id,
            "status": "PENDING",
            "location": location,
            "events": f"{location}/events",
        }
        assert resumed.headers["location"] == location
        twice = assert_problem(client.post(f"{V1}/walk-forwards/{walk_forward_id}/resume"), 409)
        assert "only an INTERRUPTED or FAILED one can be resumed" in str(twice["detail"])
        events = events_of(client, f"{location}/events")
        assert events[-1] == ("done", {"status": "COMPLETED", "error_message": None})
        progress = [data for name, data in events if name == "progress"]
        # It went on in window 2's sweep, where it was cancelled, not at its start.
        assert (progress[0]["windows_done"], progress[0]["runs"]) == (1, 1)
        done = client.get(location).json()
        assert done["status"] == "COMPLETED" and len(done["windows"]) == 2
        assert done["windows"][0] == stopped["windows"][0]
        refused = assert_problem(client.post(f"{location}/resume"), 409)
        assert "is COMPLETED" in str(refused["detail"])
        assert "walk-forward show" in str(refused["hint"])
        assert done == json.loads(
            cli_stdout(fresh_postgres_url, "backtest", "walk-forward", "show", location[-36:],
                       "--json")
        )  # fmt: skip
        second = done["windows"][1]["sweep_id"]
        sweep = client.get(f"{V1}/sweeps/{second}").json()
    assert sweep["status"] == "COMPLETED" and len(sweep["runs"]) == 16
    # Window 2's first point, finished before the cancel, was kept; the resume ran the rest.
    database = Database(fresh_postgres_url)
    history = RunHistory(database)
    for row in sweep["runs"]:
        completed_at = history.get(row["run_id"]).completed_at
        assert completed_at is not None and (completed_at < resumed_at) is (row["index"] == 0)
    database.dispose()


def test_analyses_are_listed_a_page_at_a_time_and_unknown_ids_are_404(
    sqlite_server: Server,
) -> None:
    with sqlite_server.client() as client:
        assert client.get(f"{V1}/walk-forwards").json() == {"items": [], "next_cursor": None}
        # One job at a time on this server: the first runs, the second waits.
        ids = [_submit(client) for _ in range(2)]
        first = client.get(f"{V1}/walk-forwards", params={"limit": 1}).json()
        assert [item["walk_forward_id"] for item in first["items"]] == ids[1:]
        item = first["items"][0]
        assert "windows" not in item and item["windows_done"] == 0
        assert (item["train"], item["test"], item["step"], item["anchored"]) == (
            "12M",
            "6M",
            "6M",
            False,
        )
        second = client.get(
            f"{V1}/walk-forwards", params={"limit": 1, "cursor": first["next_cursor"]}
        ).json()
        assert [item["walk_forward_id"] for item in second["items"]] == ids[:1]
        assert second["next_cursor"] is None
        bad = assert_problem(client.get(f"{V1}/walk-forwards", params={"cursor": "nope"}), 400)
        assert bad["detail"] == "'nope' is not a cursor this server gave out."
        assert_problem(client.get(f"{V1}/walk-forwards", params={"limit": 0}), 422)
        for method, path in (
            ("GET", "ffffffff"),
            ("POST", "ffffffff/cancel"),
            ("POST", "ffffffff/resume"),
        ):
            missing = assert_problem(client.request(method, f"{V1}/walk-forwards/{path}"), 404)
            assert missing["detail"] == "No walk-forward analysis matches 'ffffffff'."
        # Cancelled while queued, it never started: INTERRUPTED without a window.
        queued = client.post(f"{V1}/walk-forwards/{ids[1]}/cancel")
        assert queued.status_code == 200, queued.text
        assert queued.json()["status"] == "INTERRUPTED" and queued.json()["windows"] == []
        assert queued.json()["error_message"] == "cancelled before it started"
        # Stopped wherever its worker was (most likely still starting up, before it stored
        # anything), it is INTERRUPTED by the time the cancel answers.
        running = client.post(f"{V1}/walk-forwards/{ids[0]}/cancel")
        assert running.status_code == 200, running.text
        assert running.json()["status"] == "INTERRUPTED"
