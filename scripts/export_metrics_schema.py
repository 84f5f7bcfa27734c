"""Write the JSON schema of a run's metrics to ``docs/schemas/metrics.schema.json``.

The schema is generated from ``ntrader.models.metrics.Metrics``; tests/unit/test_metrics_model.py
fails when the checked-in file is out of date. Rerun after changing the model:

    uv run python scripts/export_metrics_schema.py
"""

from __future__ import annotations

from pathlib import Path

from ntrader.models.metrics import metrics_json_schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "docs" / "schemas" / "metrics.schema.json"

if __name__ == "__main__":
    SCHEMA_FILE.write_text(metrics_json_schema(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
