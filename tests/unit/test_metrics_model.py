"""The typed metrics model: stored rows of every age load and serialise back unchanged, the
checked-in JSON schema is the model's, and what --json prints validates against it."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from ntrader.cli.output import json_safe
from ntrader.cli.render import summary_rows, trade_count
from ntrader.models.metrics import (
    Annualisation,
    Exposure,
    InstrumentFigures,
    Metrics,
    metrics_json_schema,
)
from ntrader.services.metrics import compute_metrics
from tests.factories import (
    METRICS_SCHEMA,
    METRICS_SCHEMA_FILE,
    OLD_ROW,
    TODAY_ROW,
    trade_with_pnl,
)


def test_the_checked_in_schema_is_the_models() -> None:
    assert METRICS_SCHEMA_FILE.read_text(encoding="utf-8") == metrics_json_schema(), (
        "docs/schemas/metrics.schema.json is stale: run "
        "`uv run python scripts/export_metrics_schema.py`"
    )


@pytest.mark.parametrize("row", [TODAY_ROW, OLD_ROW], ids=["today", "old"])
def test_a_stored_row_loads_and_serialises_back_byte_for_byte(row: dict[str, Any]) -> None:
    metrics = Metrics.model_validate(row)
    assert json.dumps(metrics.stored()) == json.dumps(row)
    # Read through JSON text, as the store hands it back.
    assert Metrics.model_validate_json(json.dumps(row)) == metrics
    METRICS_SCHEMA.validate(row)
    METRICS_SCHEMA.validate(metrics.model_dump(mode="json"))


def test_freshly_computed_metrics_have_todays_stored_shape() -> None:
    """Every key of a stored row, in the same order, and nothing else."""
    computed = compute_metrics(
        np.linspace(1e5, 1.02e5, 30), [trade_with_pnl(20.0), trade_with_pnl(None, is_open=True)]
    ).model_copy(
        update={
            "annualisation": Annualisation(calendar="XNYS", periods_per_year=252.5),
            "per_instrument": {
                "MOCK.SIM": InstrumentFigures.model_validate(
                    TODAY_ROW["per_instrument"]["MOCK.SIM"]
                )
            },
            "exposure": Exposure(average=0.1, maximum=0.2),
        }
    )

    def shape(value: Any) -> Any:
        return [(k, shape(v)) for k, v in value.items()] if isinstance(value, dict) else None

    assert shape(computed.stored()) == shape(TODAY_ROW)


def test_an_old_row_renders_with_what_it_has() -> None:
    metrics = Metrics.model_validate(OLD_ROW)
    assert metrics.trading.open_trades is None and metrics.annualisation is None
    assert trade_count(metrics.trading) == "4"
    assert trade_count(Metrics.model_validate(TODAY_ROW).trading) == "4 closed, 1 open"
    rows = {label: text for label, text, _ in summary_rows(metrics, 98_750.0, 100_000.0)}
    assert rows["Final equity"] == "$98,750.00"
    assert rows["Profit factor"] == "2.67"
    assert rows["Total return"] == "-1.25%"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("trading", "surprise"), 1),  # a key no version ever wrote
        (("risk", "sharpe_ratio"), "high"),
        (("trading", "total_trades"), 2.5),
        (("returns",), None),
    ],
)
def test_a_malformed_row_is_refused(path: tuple[str, ...], value: Any) -> None:
    row = copy.deepcopy(TODAY_ROW)
    target = row
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError):
        Metrics.model_validate(row)


def test_non_finite_figures_print_as_null_with_a_note_and_still_validate() -> None:
    metrics = Metrics.model_validate(TODAY_ROW).model_copy(
        update={
            "risk": Metrics.model_validate(TODAY_ROW).risk.model_copy(
                update={"sortino_ratio": math.inf, "volatility": math.nan}
            )
        }
    )
    clean, notes = json_safe({"metrics": metrics})
    assert clean["metrics"]["risk"]["sortino_ratio"] is None
    assert clean["metrics"]["risk"]["volatility"] is None
    assert notes == [
        "metrics.risk.sortino_ratio is infinite (no losing days)",
        "metrics.risk.volatility is not a number (NaN)",
    ]
    METRICS_SCHEMA.validate(clean["metrics"])
