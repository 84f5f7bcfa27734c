"""/health, /metrics and the contract's run metrics, in process (no server start-up)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from ntrader.api.app import create_app
from ntrader.db.database import Database
from ntrader.models.enums import RunStatus
from ntrader.services import telemetry
from ntrader.utils.settings import Settings
from tests.factories import METRICS_SCHEMA_FILE

TOKEN = "ops-token-71be"


def _get(database: Database, settings: Settings, path: str, **headers: str) -> httpx.Response:
    app = create_app(database, settings, jobs=1)

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(call())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Database]:
    (tmp_path / "server-data").mkdir()
    database = Database(f"sqlite:///{tmp_path / 'server-data' / 'ntrader.db'}")
    yield database
    database.dispose()


def test_health_runs_the_checks_and_hides_the_servers_places(
    store: Database, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "server-data")
    response = _get(store, settings, "/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["healthy"] is True
    checks = {check["name"]: check for check in body["checks"]}
    assert {"database", "disk", "memory"} <= set(checks)
    assert "revision" in checks["database"]["detail"]
    assert "MiB free at <hidden>" in checks["disk"]["detail"]
    assert str(tmp_path) not in response.text


def test_health_is_open_but_details_need_the_token(store: Database) -> None:
    settings = Settings(api_token=SecretStr(TOKEN))
    anonymous = _get(store, settings, "/health")
    assert anonymous.status_code == 200
    assert all(check["detail"] is None for check in anonymous.json()["checks"])
    bearer = _get(store, settings, "/health", Authorization=f"Bearer {TOKEN}")
    assert all(check["detail"] for check in bearer.json()["checks"])


def test_health_answers_503_when_a_check_fails(tmp_path: Path) -> None:
    empty = tmp_path / "never-migrated.db"
    sqlite3.connect(empty).close()  # a store that exists, with no schema
    database = Database(f"sqlite:///{empty}", migrate=False)
    response = _get(database, Settings(), "/health")
    database.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["healthy"] is False
    [failed] = [check for check in body["checks"] if check["status"] == "fail"]
    assert failed["name"] == "database" and "ntrader db upgrade" in failed["detail"]
    assert str(tmp_path) not in response.text


def test_metrics_are_prometheus_text_behind_the_token(store: Database) -> None:
    telemetry.record_run(RunStatus.COMPLETED, 1.5, 250)
    settings = Settings(api_token=SecretStr(TOKEN))
    assert _get(store, settings, "/metrics").status_code == 401
    response = _get(store, settings, "/metrics", Authorization=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'ntrader_runs_total{status="completed"}' in response.text
    assert "ntrader_api_job_queue_seconds_bucket" in response.text


def test_the_contract_types_run_metrics_as_the_cli_json_does(store: Database) -> None:
    """RunRecord.metrics in /openapi.json is the typed Metrics model, with exactly the
    properties of docs/schemas/metrics.schema.json (what --json prints)."""
    schema = create_app(store, Settings(), jobs=1).openapi()
    components = schema["components"]["schemas"]
    run_metrics = json.dumps(components["RunRecord"]["properties"]["metrics"])
    assert "#/components/schemas/Metrics" in run_metrics
    cli_schema = json.loads(METRICS_SCHEMA_FILE.read_text())
    assert set(components["Metrics"]["properties"]) == set(cli_schema["properties"])
    for name, definition in cli_schema["$defs"].items():
        assert set(components[name].get("properties", {})) == set(
            definition.get("properties", {})
        ), name


def test_the_dashboard_shell_is_open_and_its_data_needs_the_token(store: Database) -> None:
    settings = Settings(api_token=SecretStr(TOKEN))
    shell = _get(store, settings, "/")
    assert shell.status_code == 200 and shell.headers["content-type"].startswith("text/html")
    assert 'id="login"' in shell.text and TOKEN not in shell.text
    assert "http://" not in shell.text and "https://" not in shell.text  # nothing from a CDN
    for asset in ("dashboard.js", "dashboard.css", "report.js"):
        assert _get(store, settings, f"/dashboard/assets/{asset}").status_code == 200
    assert _get(store, settings, "/dashboard/assets/app.py").status_code == 422
    for fragment in ("/dashboard/runs", "/dashboard/new", "/dashboard/runs/latest"):
        assert _get(store, settings, fragment).status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    runs = _get(store, settings, "/dashboard/runs", **bearer)
    assert runs.status_code == 200 and "No backtests match" in runs.text
    missing = _get(store, settings, "/dashboard/runs/latest", **bearer)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert "/dashboard" not in json.dumps(create_app(store, settings, jobs=1).openapi())
