"""Engine progress: what the engine reports, and how the CLI shows it off a terminal."""

from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from ntrader.cli.progress import RunProgress, run_progress
from ntrader.core import strategy_registry
from ntrader.core.runner import EngineSettings, InstrumentBars, run_engine
from ntrader.models.enums import Timeframe
from tests.integration.strategy_support import SPEC, daily_bars


def test_progress_reports_every_bar_and_leaves_the_results_alone() -> None:
    closes = np.round(100 + 8 * np.sin(np.arange(700) / 9), 2)
    inputs = [InstrumentBars(spec=SPEC, timeframe=Timeframe.DAILY, bars=daily_bars(closes))]
    kind = strategy_registry.resolve("sma")
    parameters = kind.validate({"allow_short": True}).model_dump()
    heard: list[tuple[int, int]] = []
    watched = run_engine(
        kind, parameters, inputs, EngineSettings(), lambda done, total: heard.append((done, total))
    )
    plain = run_engine(kind, parameters, inputs, EngineSettings())
    assert watched.trades == plain.trades and len(plain.trades) > 10
    assert np.array_equal(watched.fills.ts, plain.fills.ts)
    assert np.array_equal(watched.fills.price, plain.fills.price)
    done = [d for d, _total in heard]
    assert {total for _done, total in heard} == {700}
    assert done[0] == 0 and done[-1] == 700
    assert done == sorted(done)
    assert 100 <= len(heard) <= 202  # a checkpoint per few bars, not a call per bar


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_off_a_terminal_a_plain_line_at_most_every_interval_with_an_eta() -> None:
    out = io.StringIO()
    clock = _Clock()
    progress = RunProgress(Console(file=out, width=200), live=None, interval=5.0, clock=clock)
    progress.stage("Running the engine")
    progress.bars(0, 10_000)
    for step in range(1, 11):
        clock.now += 1.0
        progress.bars(step * 1_000, 10_000)
    assert out.getvalue().splitlines() == [
        "Running the engine: 5,000 of 10,000 bars (50%), about 5 s left",
        "Running the engine: 10,000 of 10,000 bars (100%)",
    ]


def test_a_short_run_prints_nothing_and_disabled_progress_is_silent() -> None:
    for enabled in (True, False):
        out = io.StringIO()
        with run_progress(enabled=enabled, console=Console(file=out)) as progress:
            progress.stage("Running the engine")
            progress.bars(0, 500)
            progress.bars(500, 500)
        assert out.getvalue() == ""


def test_on_a_terminal_a_bar_with_bars_percent_and_eta() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=150, color_system=None)
    with run_progress(enabled=True, console=console) as progress:
        progress.stage("Running the engine")
        progress.bars(250, 1_000)
        console.file.flush()
    shown = out.getvalue()
    assert "Running the engine" in shown
    assert "250/1000 bars" in shown
    assert "25%" in shown
    assert "ETA" in shown
