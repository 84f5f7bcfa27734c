"""`backtest run` when something goes wrong, as a user sees it: a failing plug-in strategy,
bad settings, SIGTERM. One sentence, the right exit code, and a store that says exactly
what happened."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from ntrader.db.engine import create_db_engine, ensure_schema
from tests.e2e.conftest import RUN_2020, RunCli, stock
from tests.e2e.signals import resume_stalled, run_statuses, start_running_backtest
from tests.integration.faulty_strategy import FAULTY_STRATEGY, raise_line


@pytest.fixture
def aapl_store(database_url: str) -> str:
    return stock(database_url, "AAPL")


def test_a_failing_strategy_fails_the_run_with_its_error_and_exit_1(
    run_cli: RunCli, aapl_store: str, tmp_path: Path
) -> None:
    strategy = tmp_path / "faulty.py"
    strategy.write_text(FAULTY_STRATEGY)
    failures = (
        ("raise", "ValueError: faulty strategy gave up in on_bar", "FAIL-RAISE"),
        ("exit", "SystemExit (sys.exit(3) in a handler)", "FAIL-EXIT"),
    )
    for how, cause, marker in failures:
        result = run_cli(
            "--strategy-path",
            str(strategy),
            *RUN_2020,
            "--strategy",
            "faulty",
            "--param",
            f"fail_in=on_bar,how={how}",
            database_url=aapl_store,
            check_exit=1,
        )
        run_id, status, error = run_statuses(aapl_store)[-1]
        location = f"{strategy}:{raise_line(marker)} in _fail_if"
        assert status == "FAILED"
        assert error == f"Strategy error: {cause} at {location}"
        message = " ".join(result.stderr.split())
        assert (
            f"Backtest {run_id[:8]} failed and is saved as FAILED: the strategy raised {cause} "
            f"at {location}." in message
        )
        assert "Fix the strategy" in message
        assert "Unexpected error" not in message
        assert "Traceback" not in result.stderr


def test_an_instrument_named_twice_is_refused_before_a_run_is_stored(
    invoke_cli: RunCli, aapl_store: str
) -> None:
    result = invoke_cli(
        "backtest",
        "run",
        "--instruments",
        "AAPL,aapl.nasdaq",
        "--start",
        "2020-01-01",
        "--end",
        "2020-12-31",
        database_url=aapl_store,
        check_exit=1,
    )
    assert "The instruments name AAPL.NASDAQ twice (AAPL and AAPL.NASDAQ)" in result.stderr
    assert "Remove the duplicate" in result.stderr
    assert run_statuses(aapl_store) == []


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--capital", "inf", "Invalid backtest settings: --capital: Input should be a finite"),
        (
            "--capital",
            "2e13",
            "Invalid backtest settings: --capital: Input should be less than or equal to "
            "17014118346046",
        ),
        ("--slippage-bps", "nan", "Invalid backtest settings: --slippage-bps: Input should be a"),
        ("--commission", "inf", "Invalid commission 'inf': value: Input should be a finite"),
    ],
)
def test_non_finite_or_oversized_settings_are_refused_before_a_run_is_stored(
    invoke_cli: RunCli, tmp_path: Path, flag: str, value: str, words: str
) -> None:
    """Refused by the configuration before the store is opened; checked on SQLite."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_db_engine(url)
    ensure_schema(engine)
    engine.dispose()
    result = invoke_cli(*RUN_2020, flag, value, database_url=url, check_exit=1)
    assert words in result.stderr
    assert "Traceback" not in result.stderr
    assert run_statuses(url) == []


@pytest.mark.slow
def test_sigterm_marks_the_run_interrupted_and_resume_completes_it(
    run_cli: RunCli, database_url: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    process = start_running_backtest(run_cli, cli_env, database_url, tmp_path)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    [(run_id, status, error)] = run_statuses(database_url)
    assert (status, error) == ("INTERRUPTED", "interrupted by SIGTERM")
    message = " ".join(stderr.split())
    assert f"Backtest {run_id} was stopped by SIGTERM and is stored as INTERRUPTED." in message
    assert f"ntrader backtest resume {run_id[:8]}" in message
    assert "Traceback" not in stderr
    resumed = resume_stalled(run_cli, tmp_path, run_id, database_url)
    assert (resumed["id"], resumed["status"]) == (run_id, "COMPLETED")


SHORTING_ON_CASH = '''
from nautilus_trader.model.data import Bar
from nautilus_trader.model.enums import OrderSide

from ntrader.core.strategies.base import SignalStrategy, SignalStrategyConfig
from ntrader.core.strategy_registry import register_strategy


class ShortSellerConfig(SignalStrategyConfig, frozen=True):
    at_bar: int = 5


@register_strategy(name="short_seller", config=ShortSellerConfig)
class ShortSeller(SignalStrategy):
    """Sells short on bar ``at_bar``, which a cash account does not allow."""

    def on_reset(self) -> None:
        super().on_reset()
        self._bars = 0

    def update_signal(self, bar: Bar) -> None:
        self._bars += 1
        if self._bars == self.config.at_bar:
            order = self.order_factory.market(
                instrument_id=self.config.instrument_id,
                order_side=OrderSide.SELL,
                quantity=self.instrument.make_qty(10),
            )
            self.submit_order(order)
'''


def test_orders_nautilus_refuses_are_reported_not_dropped(
    invoke_cli: RunCli, aapl_store: str, tmp_path: Path
) -> None:
    strategy = tmp_path / "short_seller.py"
    strategy.write_text(SHORTING_ON_CASH)
    args = ("--strategy-path", str(strategy), *RUN_2020, "--strategy", "short_seller")
    shown = invoke_cli(*args, database_url=aapl_store)
    message = " ".join(shown.stderr.split())
    assert (
        "nautilus refused 1 order (1 rejected by the venue); the results are without them."
        in message
    )
    assert "First: SELL 10 AAPL.NASDAQ on 2020-01-08 21:00 UTC" in message
    assert "SHORT SELLING not permitted on a CASH account" in message
    assert message.count("nautilus refused") == 1
    payload = json.loads(invoke_cli(*args, "--json", database_url=aapl_store).stdout)
    # After the missing-benchmark note the sample store gives every run.
    warning = payload["warnings"][-1]
    assert warning.startswith("nautilus refused 1 order (1 rejected by the venue)")
    assert payload["trades_count"] == 0


def test_a_sweep_names_each_run_in_which_nautilus_refused_orders(
    invoke_cli: RunCli, aapl_store: str, tmp_path: Path
) -> None:
    strategy = tmp_path / "short_seller.py"
    strategy.write_text(SHORTING_ON_CASH)
    ran = invoke_cli(
        "--strategy-path",
        str(strategy),
        "backtest",
        "sweep",
        "--strategy",
        "short_seller",
        *RUN_2020[2:],
        "--grid",
        "at_bar=5,6",
        "--workers",
        "1",
        "--json",
        database_url=aapl_store,
    )
    payload = json.loads(ran.stdout)
    runs = {run["parameters"]["at_bar"]: run["run_id"] for run in payload["runs"]}
    refusals = [w for w in payload["warnings"] if "nautilus refused" in w]
    assert refusals == [
        f"Run {runs[5][:8]}: nautilus refused 1 order (1 rejected by the venue); the results "
        "are without them. First: SELL 10 AAPL.NASDAQ on 2020-01-08 21:00 UTC: SHORT SELLING "
        f"not permitted on a CASH account{refusals[0].split('CASH account', 1)[1]}",
        f"Run {runs[6][:8]}: nautilus refused 1 order (1 rejected by the venue); the results "
        "are without them. First: SELL 10 AAPL.NASDAQ on 2020-01-09 21:00 UTC: SHORT SELLING "
        f"not permitted on a CASH account{refusals[1].split('CASH account', 1)[1]}",
    ]
