"""`ntrader demo`: import the bundled sample data (idempotently) and backtest it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ntrader
from ntrader.core.errors import ServiceUnavailableError
from ntrader.db.database import Database
from ntrader.models.backtest import BacktestConfig, ReportRecord
from ntrader.models.enums import ReportType, Timeframe
from ntrader.services.backtest_service import BacktestOutcome, BacktestService, StageCallback
from ntrader.services.data_service import DataService, ImportRequest, ImportResult, ProgressCallback
from ntrader.services.reports.service import ReportService

SAMPLE_FILES = (
    ("AAPL_daily.csv", "AAPL", Timeframe.DAILY),
    ("SPY_daily.csv", "SPY", Timeframe.DAILY),
    ("AAPL_1min.csv", "AAPL", Timeframe.MINUTE_1),
)

DEMO_CONFIG = BacktestConfig(
    strategy_type="sma_crossover",
    parameters={"fast_period": 12, "slow_period": 26},
    instruments=("AAPL",),
    timeframe=Timeframe.DAILY,
    benchmark="SPY",
)


def sample_data_dir() -> Path:
    """Bundled data: inside an installed wheel, or ``data/`` of a source checkout.

    The wheel ships data/*.csv as ``ntrader/_sample_data`` (pyproject.toml, force-include).
    """
    package_dir = Path(ntrader.__file__).parent
    candidates = (package_dir / "_sample_data", package_dir.parents[1] / "data")
    for candidate in candidates:
        if candidate.is_dir():
            missing = [name for name, _, _ in SAMPLE_FILES if not (candidate / name).is_file()]
            # A partial bundle would import some files and then fail: refuse it up front.
            if missing:
                raise ServiceUnavailableError(
                    f"The bundled sample data in {candidate} lacks {', '.join(missing)}.",
                    hint="Reinstall ntrader, or run from a source checkout that has data/.",
                )
            return candidate
    raise ServiceUnavailableError(
        "The bundled sample data is missing from this installation "
        f"(looked in {' and '.join(str(c) for c in candidates)}).",
        hint="Reinstall ntrader, or run from a source checkout that has data/.",
    )


@dataclass(frozen=True, slots=True)
class DemoResult:
    imports: list[ImportResult]
    outcome: BacktestOutcome
    report: ReportRecord


def run_demo(
    database: Database,
    on_progress: ProgressCallback | None = None,
    on_stage: StageCallback | None = None,
) -> DemoResult:
    directory = sample_data_dir()
    data_service = DataService(database)
    imports = [
        data_service.import_csv(
            ImportRequest(file=directory / name, instrument=symbol, timeframe=timeframe),
            on_progress,
        )
        for name, symbol, timeframe in SAMPLE_FILES
    ]
    outcome = BacktestService(database).run(DEMO_CONFIG, on_stage)
    if on_stage:
        on_stage("Writing the HTML report")
    report = ReportService(database).generate(outcome.run.id, ReportType.HTML)
    return DemoResult(imports=imports, outcome=outcome, report=report)
