"""``ntrader strategy types``: each type's parameters with the defaults, ranges and
descriptions of their one declaration, as text and JSON, hostile text printed as itself."""

from __future__ import annotations

import json

import pytest

from ntrader.cli.render_strategy import range_text, render_strategy_type, render_strategy_types
from ntrader.core import strategy_registry
from ntrader.core.strategy_registry import ParameterSpec, StrategyType


@pytest.mark.parametrize(
    ("bounds", "text"),
    [
        ({"minimum": 1, "maximum": 10_000}, "[1, 10,000]"),
        ({"exclusive_minimum": 0.0, "exclusive_maximum": 100.0}, "(0, 100)"),
        ({"minimum": 0.0, "exclusive_maximum": 1.0}, "[0, 1)"),
        ({"minimum": 2}, "[2, ∞)"),
        ({"maximum": -0.5}, "(-∞, -0.5]"),
        ({}, ""),
    ],
)
def test_ranges_read_as_intervals(bounds: dict[str, float], text: str) -> None:
    assert range_text(ParameterSpec(name="p", kind=float, default=0, **bounds)) == text


def test_the_list_and_one_type_show_defaults_ranges_and_descriptions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sma = strategy_registry.resolve("sma")
    render_strategy_types([sma], json_output=False)
    listed = capsys.readouterr().out
    assert "fast_period=12 [1, 10,000]" in listed
    assert "entry_threshold=0 [0, 1)" in listed
    render_strategy_type(sma, json_output=False)
    shown = capsys.readouterr().out
    assert "trend_filter_period" in shown and "unset" in shown
    assert "Bars in the" in shown  # the description (wrapped at 80 columns)
    render_strategy_type(sma, json_output=True)
    payload = json.loads(capsys.readouterr().out)
    fast = payload["parameters"]["fast_period"]
    assert (fast["minimum"], fast["maximum"], fast["default"]) == (1, 10_000, 12)
    assert fast["description"].startswith("Bars in the fast SMA")


def test_hostile_declarations_print_as_themselves(capsys: pytest.CaptureFixture[str]) -> None:
    kind = StrategyType(
        name="odd",
        aliases=("[bold]x",),
        description="[/] closes nothing [red]",
        strategy_class="ntrader.core.strategies.momentum:Momentum",
        config_class="ntrader.core.strategies.momentum:MomentumConfig",
        source="[link]here",
    )
    render_strategy_type(kind, json_output=False)
    shown = capsys.readouterr().out
    assert "[/] closes nothing [red]" in shown and "[link]here" in shown
