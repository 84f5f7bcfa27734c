"""The HTTP API on a real uvicorn server, driven with httpx, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import os
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from ntrader.api.app import create_app
from ntrader.api.server import serve
from ntrader.core.errors import ServiceUnavailableError, UserInputError
from ntrader.db.database import Database
from ntrader.models.enums import Timeframe
from ntrader.services.data_service import DataService
from ntrader.utils.settings import Settings
from tests.api.conftest import TOKEN, UPLOAD_LIMIT
from tests.api.server import (
    SMA_BODY,
    Server,
    assert_problem,
    cli_stdout,
    events_of,
    wait_for_end,
)
from tests.conftest import SAMPLE_DIR
from tests.inprocess_cli import invoke_ntrader

V1 = "/api/v1"
EXAMPLES = 6  # per operation and mode (valid, hostile): the whole run stays well under a minute
# What the contract promises: no 5xx, and every status, content type, header and body as
# documented. Not "positive_data_acceptance": a request can match the schema and still be
# refused by the same rules as the CLI's (an unknown instrument, an end before the start).
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def _http_run_matches_the_cli_run(sqlite_server: Server) -> None:
    """202 with the run stored PENDING and a Location; live events to the end; the stored
    run, its trades and equity; and the same run by `backtest run` stores the same
    fingerprint, metrics and trades."""
    with sqlite_server.client() as client:
        response = client.post(f"{V1}/backtests", json=SMA_BODY)
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert response.headers["location"] == f"{V1}/backtests/{accepted['id']}"
        assert accepted["status"] == "PENDING"
        events = events_of(client, f"{V1}/backtests/{accepted['id']}/events")
        names = [name for name, _ in events]
        assert names[0] == "status" and names[-1] == "done"
        assert ("progress" in names) or events[0][1]["status"] == "COMPLETED"
        run = wait_for_end(client, accepted["id"][:8])
        assert run["status"] == "COMPLETED"
        trades = client.get(f"{V1}/backtests/{run['id']}/trades", params={"limit": 2}).json()
        assert len(trades["items"]) == 2 and trades["total"] >= run["trades_count"]
        every = list(trades["items"])
        while trades["next_cursor"]:
            trades = client.get(
                f"{V1}/backtests/{run['id']}/trades",
                params={"limit": 2, "cursor": trades["next_cursor"]},
            ).json()
            every += trades["items"]
        assert len(every) == trades["total"]
        equity = client.get(f"{V1}/backtests/latest/equity").json()
        assert equity["run_id"] == run["id"] and len(equity["points"]) > 100

    cli_run = json.loads(
        cli_stdout(
            sqlite_server.database_url,
            "backtest", "run", "--json", "--strategy", "sma", "--instruments", "AAPL",
            "--start", "2020-01-01", "--end", "2021-06-30",
            "--fast-period", "10", "--slow-period", "30",
        )
    )  # fmt: skip
    with sqlite_server.client() as client:
        other = client.get(f"{V1}/backtests/latest").json()
        assert other["id"] != run["id"]
        assert other["config"] == run["config"]
        assert other["data_fingerprint"] == run["data_fingerprint"]
        assert other["metrics"] == run["metrics"]
        cli_trades = client.get(f"{V1}/backtests/{other['id']}/trades").json()["items"]
        assert cli_trades == every
    assert cli_run["id"] == other["id"]
    assert cli_run["data_fingerprint"] == run["data_fingerprint"]


def _reports_and_comparison_are_what_the_cli_writes(sqlite_server: Server, tmp_path: Path) -> None:
    today = datetime.now(UTC).date().isoformat()
    stamp = re.compile(rf"{today}[T ][0-9:.]+(\+00:00|Z)?")
    with sqlite_server.client() as client:
        completed = client.get(f"{V1}/backtests", params={"status": "COMPLETED"}).json()
        run_id = completed["items"][0]["id"]
        pair = [run["id"][:8] for run in completed["items"][:2]]
        compared = client.get(f"{V1}/backtests/compare", params={"ids": pair})
        assert compared.status_code == 200, compared.text
        assert compared.json() == json.loads(
            cli_stdout(sqlite_server.database_url, "backtest", "compare", "--json", *pair)
        )
        for fmt, name in (("text", "r.txt"), ("json", "r.json"), ("html", "r.html")):
            response = client.get(f"{V1}/backtests/{run_id[:10]}/report", params={"format": fmt})
            assert response.status_code == 200
            cli_stdout(
                sqlite_server.database_url,
                "report", "generate", "--backtest", run_id, "--format", fmt,
                "--output", str(tmp_path / name),
            )  # fmt: skip
            written = (tmp_path / name).read_text(encoding="utf-8")
            assert stamp.sub("T", response.text) == stamp.sub("T", written)
            if fmt == "html":
                assert "https://" not in response.text.split("<script")[0]
        response = client.get(f"{V1}/backtests/{run_id}/report", params={"format": "csv"})
        cli_stdout(
            sqlite_server.database_url,
            "report", "generate", "--backtest", run_id, "--format", "csv",
            "--output", str(tmp_path / "csv"),
        )  # fmt: skip
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        assert sorted(archive.namelist()) == sorted(p.name for p in (tmp_path / "csv").iterdir())
        for name in archive.namelist():
            assert archive.read(name) == (tmp_path / "csv" / name).read_bytes()


def _queue_cancel_and_cursor_pages(sqlite_server: Server) -> None:
    """One job at a time: the next submissions queue; a queued one cancelled is
    INTERRUPTED at once; pages of one run list every run once, newest first."""
    with sqlite_server.client() as client:
        ids = [client.post(f"{V1}/backtests", json=SMA_BODY).json()["id"] for _ in range(3)]
        over = assert_problem(client.post(f"{V1}/backtests", json=SMA_BODY), 429)
        assert "3 jobs queued or running" in str(over["detail"])
        cancelled = client.post(f"{V1}/backtests/{ids[2]}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "INTERRUPTED"
        again = client.post(f"{V1}/backtests/{ids[2]}/cancel")
        assert_problem(again, 409)
        assert client.post(f"{V1}/backtests/{ids[1]}/cancel").json()["status"] == "INTERRUPTED"
        wait_for_end(client, ids[0])
        seen: list[str] = []
        page = client.get(f"{V1}/backtests", params={"limit": 2}).json()
        seen += [run["id"] for run in page["items"]]
        while page["next_cursor"]:
            page = client.get(
                f"{V1}/backtests", params={"limit": 2, "cursor": page["next_cursor"]}
            ).json()
            seen += [run["id"] for run in page["items"]]
        assert len(seen) == len(set(seen)) and set(ids) <= set(seen)
        assert seen[:3] == ids[::-1]
        assert_problem(client.get(f"{V1}/backtests", params={"cursor": "garbage!"}), 400)
        interrupted = client.get(f"{V1}/backtests", params={"status": "INTERRUPTED"}).json()
        assert {run["id"] for run in interrupted["items"]} >= set(ids[1:])
        deleted = client.delete(f"{V1}/backtests/{ids[2]}")
        assert deleted.json()["run_ids"] == [ids[2]]
        assert_problem(client.get(f"{V1}/backtests/{ids[2]}"), 404)


def _token_is_required_and_never_hinted(sqlite_server: Server) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = httpx.get(f"{sqlite_server.url}{V1}/backtests", headers=headers)
        body = assert_problem(response, 401)
        assert TOKEN not in response.text and "wrong" not in str(body)
        assert response.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{sqlite_server.url}/openapi.json").status_code == 401
    assert TOKEN not in sqlite_server.log.read_text()


def _metrics_count_the_servers_jobs(sqlite_server: Server) -> None:
    """Jobs run in worker processes; the server records each one's end in its registry
    (the runs of the steps before: completed ones, and cancelled ones INTERRUPTED)."""
    with sqlite_server.client() as client:
        text = client.get("/metrics").text
    for sample in (
        r'ntrader_runs_total\{status="completed"\}',
        r'ntrader_runs_total\{status="interrupted"\}',
        "ntrader_run_duration_seconds_count",
        "ntrader_bars_processed_total",
        "ntrader_api_job_queue_seconds_count",
    ):
        assert re.search(rf"^{sample} [1-9]", text, re.M), sample


def _upload_limit_and_server_only_keys(sqlite_server: Server) -> None:
    big = (SAMPLE_DIR / "AAPL_1min.csv").read_bytes()
    assert len(big) > UPLOAD_LIMIT
    with sqlite_server.client() as client:
        response = client.post(
            f"{V1}/data/import",
            files={"file": ("AAPL_1min.csv", big, "text/csv")},
            data={"instrument": "AAPL", "timeframe": "1MIN"},
        )
        assert_problem(response, 413)
        for key, value in (
            ("output", {"directory": "/etc"}),
            ("strategy_path", "/tmp/evil.py"),
            ("database_url", "sqlite:////tmp/other.db"),
        ):
            response = client.post(f"{V1}/backtests", json={**SMA_BODY, key: value})
            body = assert_problem(response, 422)
            assert key in str(body["detail"])


def _errors_carry_the_cli_sentence(pg_server: Server) -> None:
    with pg_server.client() as client:
        body = assert_problem(client.get(f"{V1}/backtests/ffffffff"), 404)
        assert body["detail"] == "No backtest matches 'ffffffff'."
        assert "backtest list" in str(body["hint"])
        created = client.post(
            f"{V1}/strategies",
            json={"name": "fast", "type": "sma", "parameters": {"fast_period": 5}},
        )
        assert created.status_code == 201, created.text
        body = assert_problem(client.get(f"{V1}/strategies/fsat"), 404)
        assert "Stored strategies: fast." in str(body["detail"])
        assert_problem(client.post(f"{V1}/strategies", json={"name": "fast", "type": "sma"}), 409)
        bad = client.patch(f"{V1}/strategies/fast", json={"parameters": {"fast_period": 500}})
        assert "Invalid parameters" in str(assert_problem(bad, 422)["detail"])
        assert client.post(f"{V1}/strategies/fast/archive").json()["status"] == "archived"
        listed = client.get(f"{V1}/strategies", params={"status": "archived", "type": "sma"})
        assert [s["name"] for s in listed.json()] == ["fast"]
        archived = client.post(f"{V1}/backtests", json={**SMA_BODY, "strategy": {"name": "fast"}})
        assert "archived" in str(assert_problem(archived, 409)["detail"])
        assert_problem(
            client.patch(f"{V1}/strategies/fast", json={"parameters": {"fast_period": 6}}), 409
        )
        missing = client.post(f"{V1}/backtests", json={**SMA_BODY, "instruments": ["MSFT"]})
        assert "MSFT" in str(assert_problem(missing, 404)["detail"])
        hostile = client.post(
            f"{V1}/backtests",
            json={
                **SMA_BODY,
                "instruments": ["'; DROP TABLE backtest_results; --", "../../etc/passwd"],
                "period": {"start": "2021-01-01", "end": "2020-01-01"},
            },
        )
        assert_problem(hostile, 422)
        nested = client.post(
            f"{V1}/backtests",
            content=b'{"strategy":' * 5000,
            headers={"content-type": "application/json"},
        )
        assert_problem(nested, 400)
        types = client.get(f"{V1}/strategy-types").json()
        sma = next(t for t in types if t["name"] == "sma_crossover")
        assert {"fast_period", "slow_period"} <= {p["name"] for p in sma["parameters"]}
        assert sma["parameters_schema"]["properties"]["fast_period"]


def _data_import_and_bars_by_accept(pg_server: Server, tmp_path: Path) -> None:
    minute = (SAMPLE_DIR / "AAPL_1min.csv").read_bytes()
    with pg_server.client() as client:
        imported = client.post(
            f"{V1}/data/import",
            files={"file": ("AAPL_1min.csv", minute, "text/csv")},
            data={"instrument": "AAPL", "timeframe": "1MIN"},
        )
        assert imported.status_code == 201, imported.text
        assert imported.json()["rows_imported"] == 7620
        broken = minute.replace(b"223.05", b"-1", 1)
        changed = client.post(
            f"{V1}/data/import",
            files={"file": ("AAPL_1min.csv", minute.replace(b"223.05", b"223.07", 1))},
            data={"instrument": "AAPL", "timeframe": "1MIN"},
        )
        assert "nothing was imported" in str(assert_problem(changed, 409)["detail"])
        invalid = client.post(
            f"{V1}/data/import",
            files={"file": ("bad.csv", broken)},
            data={"instrument": "MSFT", "timeframe": "1MIN"},
        )
        refused = assert_problem(invalid, 422)
        assert str(refused["detail"]).startswith("bad.csv")
        violations = list(refused["errors"])  # type: ignore[call-overload]
        assert violations and all(v["lines"] == [2] and v["rows"] == 1 for v in violations)
        assert all(v["rule"] in str(refused["detail"]) for v in violations)
        names = [row["instrument_id"] for row in client.get(f"{V1}/data/instruments").json()]
        assert "MSFT.NASDAQ" not in names and "AAPL.NASDAQ" in names

        params = {"instrument": "AAPL", "timeframe": "1MIN"}
        as_csv = client.get(f"{V1}/data/bars", params=params, headers={"Accept": "text/csv"})
        database = Database(pg_server.database_url)
        DataService(database).export_csv("AAPL", Timeframe.MINUTE_1, None, None, tmp_path / "e.csv")
        assert as_csv.content == (tmp_path / "e.csv").read_bytes()
        as_json = client.get(f"{V1}/data/bars", params=params).json()
        assert len(as_json) == 7620 and as_json[0]["high"] == 223.05
        arrow = client.get(
            f"{V1}/data/bars",
            params=params,
            headers={"Accept": "application/vnd.apache.arrow.stream"},
        )
        table = pa.ipc.open_stream(arrow.content).read_all()
        assert table.num_rows == 7620 and table.column("close").to_pylist()[0] == 222.74
        stream = DataService(database).open_bars("AAPL", Timeframe.MINUTE_1, chunk_rows=2000)
        chunks = list(stream.chunks())
        assert len(chunks) > 3 and max(len(c) for c in chunks) <= 2000
        assert sum(len(c) for c in chunks) == 7620
        database.dispose()
        assert_problem(client.get(f"{V1}/data/bars", params={"instrument": "NOPE"}), 404)


def _docs_work_offline(pg_server: Server) -> None:
    with pg_server.client() as client:
        page = client.get("/docs")
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
        assert urls and all(url.startswith("/") and not url.startswith("//") for url in urls)
        assert "http://" not in page.text and "https://" not in page.text
        for url in urls:
            assert client.get(url).status_code == 200, url
        schema = client.get("/openapi.json").json()
        assert {"/api/v1/backtests", "/api/v1/data/bars", "/api/v1/strategies"} <= set(
            schema["paths"]
        )


def _every_endpoint_keeps_its_contract(pg_server: Server) -> None:
    """Schemathesis over every operation, valid and hostile requests: no 5xx, every status,
    content type, header and body as documented."""
    # Each operation in turn (schemathesis' pytest plugin does not load on this pytest).
    schema = schemathesis.openapi.from_url(f"{pg_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def keeps_contract(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS, timeout=30)

        try:
            keeps_contract()
        except Unsatisfiable:  # nothing to break in an operation without inputs
            assert mode is GenerationMode.NEGATIVE, operation.label


def test_other_addresses_need_a_token() -> None:
    with pytest.raises(UserInputError, match="without a token"):
        serve(None, Settings(), host="0.0.0.0", port=1, jobs=1)  # type: ignore[arg-type]


def test_on_sqlite(sqlite_server: Server, tmp_path: Path) -> None:
    """One server, one after the other: the later steps read the runs the first stores (and
    one test keeps the server's start-up, the slow part, to one per backend)."""
    _http_run_matches_the_cli_run(sqlite_server)
    _reports_and_comparison_are_what_the_cli_writes(sqlite_server, tmp_path)
    _queue_cancel_and_cursor_pages(sqlite_server)
    _token_is_required_and_never_hinted(sqlite_server)
    _metrics_count_the_servers_jobs(sqlite_server)
    _upload_limit_and_server_only_keys(sqlite_server)


@dataclass(frozen=True)
class _Refusal:
    """A well-formed body a service refuses for its content, and the same refusal by the
    CLI (``{file}``: where the body is written as a YAML configuration file)."""

    method: str
    path: str
    cli: tuple[str, ...]
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    csv: bytes | None = None
    file_body: dict[str, Any] | None = None  # the file's keys, when not the whole body


_WALK_FORWARD_FILE = {**SMA_BODY, "sweep": {"grid": {"fast_period": [5, 10]}}}


_SWEEP_BODY = {**SMA_BODY, "sweep": {"grid": {"fast_period": [0, 5]}}}
_REFUSALS = (
    _Refusal(
        "POST",
        "/strategies",
        ("strategy", "create", "--name", "odd", "--type", "no_such_type"),
        json={"name": "odd", "type": "no_such_type"},
    ),
    _Refusal(
        "PATCH",
        "/strategies/{name}",
        ("strategy", "edit", "refusals", "--params", "fast_period=500"),
        json={"parameters": {"fast_period": 500}},
    ),
    _Refusal(
        "POST",
        "/backtests",
        ("backtest", "run", "--config", "{file}"),
        json={**SMA_BODY, "strategy": {"type": "sma", "parameters": {"fast_period": 0}}},
    ),
    _Refusal("POST", "/sweeps", ("backtest", "sweep", "--config", "{file}"), json=_SWEEP_BODY),
    _Refusal(
        "POST",
        "/walk-forwards",
        ("backtest", "walk-forward", "--config", "{file}", "--train", "3Y", "--test", "6M"),
        json={**_WALK_FORWARD_FILE, "train": "3Y", "test": "6M"},
        file_body=_WALK_FORWARD_FILE,
    ),
    _Refusal(
        "POST",
        "/data/import",
        ("data", "import", "--file", "{file}", "--instrument", "ODD", "--timezone", "Mars/Base"),
        form={"instrument": "ODD", "timezone": "Mars/Base"},
        csv=(SAMPLE_DIR / "AAPL_daily.csv").read_bytes()[:2000].rsplit(b"\n", 1)[0],
    ),
    _Refusal(
        "POST",
        "/data/ib/fetch",
        ("data", "fetch", "--instruments", "AAPL", "--start", "2023-11-17", "--end", "2023-11-13"),
        json={"instruments": ["AAPL"], "start": "2023-11-17", "end": "2023-11-13"},
    ),
)


def test_every_refused_body_is_422_with_the_clis_sentence(
    sqlite_server: Server, tmp_path: Path
) -> None:
    """One rule for every route that takes a body: content the services refuse is a 422
    whose detail and hint are the CLI's, and nothing is stored. A route without a case here
    fails the test."""
    url = sqlite_server.database_url
    with sqlite_server.client() as client:
        schema = client.get("/openapi.json").json()
        with_body = {
            (method.upper(), path.removeprefix(V1))
            for path, operations in schema["paths"].items()
            for method, operation in operations.items()
            if "requestBody" in operation
        }
        assert with_body == {(r.method, r.path) for r in _REFUSALS}
        stored = client.post(f"{V1}/strategies", json={"name": "refusals", "type": "sma"})
        assert stored.status_code == 201, stored.text
        before = _stored_counts(url)
        for refusal in _REFUSALS:
            file = tmp_path / ("body.csv" if refusal.csv else "body.yaml")
            if refusal.csv is not None:
                file.write_bytes(refusal.csv)
            else:
                file.write_text(json.dumps(refusal.file_body or refusal.json))  # JSON is YAML
            args = ("--database-url", url, "--json", *refusal.cli)
            by_cli = invoke_ntrader(
                tuple(arg.replace("{file}", str(file)) for arg in args),
                env=os.environ,
                cwd=tmp_path,
            )
            assert by_cli.returncode == 1, (refusal.path, by_cli.stdout, by_cli.stderr)
            cli = json.loads(by_cli.stdout)
            files = {"file": (file.name, refusal.csv)} if refusal.csv is not None else None
            response = client.request(
                refusal.method,
                V1 + refusal.path.replace("{name}", "refusals"),
                json=refusal.json,
                data=refusal.form,
                files=files,
            )
            problem = assert_problem(response, 422)
            sentence = str(cli["error"]).replace(str(file), "request body")
            assert (problem["detail"], problem.get("hint")) == (sentence, cli["hint"]), refusal
        assert _stored_counts(url) == before
        assert client.get(f"{V1}/strategies/refusals").json()["parameters"]["fast_period"] != 500


def _stored_counts(database_url: str) -> tuple[int, ...]:
    database = Database(database_url)
    with database.transaction() as repos:
        counts = (
            len(repos.backtests.list(last=10_000)),
            len(repos.sweeps.list(1000)),
            len(repos.strategies.list()),
            len(DataService(database).coverage()),
            len(repos.fetch_jobs.list(1000)),
        )
    database.dispose()
    return counts


@pytest.mark.postgres
def test_on_postgresql(pg_server: Server, tmp_path: Path) -> None:
    _errors_carry_the_cli_sentence(pg_server)
    _data_import_and_bars_by_accept(pg_server, tmp_path)
    _docs_work_offline(pg_server)
    _every_endpoint_keeps_its_contract(pg_server)  # last: it deletes and archives at random


def test_a_database_fault_does_not_name_the_servers_database(tmp_path: Path) -> None:
    """The CLI's sentence for an unreachable store names it; the API's does not."""
    database = Database(f"sqlite:///{tmp_path / 'ntrader.db'}")
    app = create_app(database, Settings(), jobs=1)
    path = str(database.engine.url.database)

    @app.get("/fault")
    def fault() -> None:
        raise ServiceUnavailableError(
            f"The SQLite database {path} is locked by another process.",
            hint=f"Close what holds {path}.",
        )

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get("/fault")

    body = assert_problem(asyncio.run(call()), 503)
    assert body["detail"] == "The SQLite database <hidden> is locked by another process."
    assert path not in str(body)
    database.dispose()


@pytest.mark.parametrize("origins", [[], ["http://notebook.example"]])
def test_cors_is_off_unless_configured(tmp_path: Path, origins: list[str]) -> None:
    database = Database(f"sqlite:///{tmp_path / 'ntrader.db'}")
    app = create_app(database, Settings(api_cors_origins=origins), jobs=1)

    async def preflight() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.options(
                f"{V1}/backtests",
                headers={
                    "Origin": "http://notebook.example",
                    "Access-Control-Request-Method": "POST",
                },
            )

    allowed = asyncio.run(preflight()).headers.get("access-control-allow-origin")
    assert allowed == (origins[0] if origins else None)
    database.dispose()
