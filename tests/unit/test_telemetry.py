"""Metrics export: only when something was recorded; the textfile written whole; a
Pushgateway that is down costs the command nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ntrader.models.enums import RunStatus
from ntrader.services import telemetry
from ntrader.utils.settings import Settings
from tests.fakes.tws import refused_port


def test_nothing_recorded_means_nothing_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telemetry._Recorded, "value", False)
    textfile = tmp_path / "ntrader.prom"
    assert telemetry.export(Settings(metrics_textfile=textfile), "backtest") == (
        telemetry.ExportResult()
    )
    assert not textfile.exists()


def test_recorded_values_reach_the_textfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telemetry._Recorded, "value", False)
    sample = telemetry.REGISTRY.get_sample_value
    before = sample("ntrader_import_rows_total", {"outcome": "replaced"}) or 0.0
    runs_before = sample("ntrader_runs_total", {"status": "failed"}) or 0.0
    telemetry.record_import(imported=5, replaced=2, unchanged=1)
    telemetry.record_run(RunStatus.FAILED, seconds=0.5)
    telemetry.record_cache(hit=True)
    telemetry.record_error("UserInputError")
    textfile = tmp_path / "metrics" / "ntrader.prom"
    textfile.parent.mkdir()
    result = telemetry.export(Settings(metrics_textfile=textfile), "data")
    assert result.textfile == str(textfile)
    assert sample("ntrader_import_rows_total", {"outcome": "replaced"}) == before + 2
    assert sample("ntrader_runs_total", {"status": "failed"}) == runs_before + 1
    text = textfile.read_text()
    for line in (
        'ntrader_import_rows_total{outcome="replaced"}',
        'ntrader_cache_requests_total{result="hit"}',
        'ntrader_errors_total{type="UserInputError"}',
        "ntrader_run_duration_seconds_count",
    ):
        assert line in text
    assert [p.name for p in textfile.parent.iterdir()] == ["ntrader.prom"]  # no temp left


def test_an_unreachable_pushgateway_or_unwritable_textfile_is_only_a_warning(
    tmp_path: Path,
) -> None:
    telemetry.record_error("ServiceUnavailableError")
    with refused_port() as port:
        settings = Settings(
            pushgateway_url=f"http://127.0.0.1:{port}",
            metrics_textfile=tmp_path / "missing-dir" / "ntrader.prom",
        )
        assert telemetry.export(settings, "backtest") == telemetry.ExportResult()
