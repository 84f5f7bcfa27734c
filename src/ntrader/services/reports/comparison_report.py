"""Comparison reports: a text file or an HTML page with the runs' curves overlaid."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ntrader.services.reports import charts
from ntrader.services.reports.analytics import underwater
from ntrader.services.reports.catalog import (
    GROUPS,
    Kind,
    by_key,
    format_metric,
    format_value,
    metric_tone,
)
from ntrader.services.reports.comparison import (
    SIGNIFICANCE_LEVEL,
    T_TEST,
    WILCOXON,
    Comparison,
    PairTest,
)
from ntrader.services.reports.html import Cell, card, chart, grid, kpi, page, table
from ntrader.services.reports.json_report import metrics_document
from ntrader.services.reports.text import heading, pairs
from ntrader.services.reports.text import table as text_table


def describe_run(comparison: Comparison, position: int) -> str:
    config = comparison.runs[position].run.config
    return (
        f"{config.strategy_type} {json.dumps(config.parameters, sort_keys=True)} on "
        f"{', '.join(config.instruments)} {config.timeframe.value} {config.start} → {config.end}"
    )


def p_value(value: float | None) -> str:
    if value is None:
        return "—"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def verdict(test: PairTest) -> str:
    if test.significant is None:
        return test.note or "not testable"
    return "yes" if test.significant else "no"


def pair_label(comparison: Comparison, test: PairTest) -> str:
    return f"{comparison.labels[test.first]} vs {comparison.labels[test.second]}"


def mean_difference_bp(test: PairTest) -> str:
    """Mean daily return difference in basis points a day."""
    if test.mean_difference is None:
        return "—"
    return f"{test.mean_difference * 1e4:+.2f}"


def significance_rows(comparison: Comparison) -> list[list[str]]:
    return [
        [
            pair_label(comparison, test),
            f"{test.common_days:,}",
            mean_difference_bp(test),
            p_value(test.t_pvalue),
            p_value(test.wilcoxon_pvalue),
            verdict(test),
        ]
        for test in comparison.tests
    ]


SIGNIFICANCE_HEADER = (
    "Pair",
    "Days",
    "Mean diff (bp/day)",
    "t-test p",
    "Wilcoxon p",
    "Significant",
)
PSR_NOTE = (
    "Probabilistic Sharpe: the probability that the true Sharpe ratio is above 0, given the "
    "record's length, skew and fat tails (Bailey & López de Prado)."
)
METHOD_NOTE = (
    f"Daily returns on the days both runs have. Significance: {T_TEST} at the "
    f"{SIGNIFICANCE_LEVEL:.0%} level; {WILCOXON} as a check that does not assume normal "
    "returns. p-values are per pair, not corrected for testing several pairs."
)


def render_comparison_text(comparison: Comparison, generated_at: datetime) -> str:
    title = f"Backtest comparison · {len(comparison.runs)} runs"
    lines = [title, "=" * len(title)]
    lines += pairs(
        [(label, describe_run(comparison, i)) for i, label in enumerate(comparison.labels)],
        indent=0,
    )
    lines += pairs(
        [
            ("Risk-free rate", format_value(Kind.RATE, comparison.risk_free_rate)),
            ("Generated", generated_at.isoformat(timespec="seconds")),
        ],
        indent=0,
    )
    for group, label in GROUPS:
        lines += heading(label)
        rows = [
            [
                row.metric.label,
                *(
                    f"{text} *" if i in row.best else f"{text}  "
                    for i, text in enumerate(row.texts)
                ),
            ]
            for row in comparison.rows
            if row.metric.group == group
        ]
        lines += text_table(("Metric", *comparison.labels), rows)
    lines.append("  * best of the row")
    lines.append(PSR_NOTE)
    lines += heading("Are the differences significant?")
    lines += text_table(SIGNIFICANCE_HEADER, significance_rows(comparison))
    lines.append("")
    lines.append(METHOD_NOTE)
    return "\n".join(lines) + "\n"


def _metric_table(comparison: Comparison) -> str:
    header = ["Metric", *comparison.labels]
    rows: list[list[Cell | str]] = []
    for group, label in GROUPS:
        rows.append([Cell(label, "group")] + [Cell("", "group")] * len(comparison.labels))
        for row in comparison.rows:
            if row.metric.group != group:
                continue
            rows.append(
                [
                    row.metric.label,
                    *(
                        Cell(text, "best" if i in row.best else "")
                        for i, text in enumerate(row.texts)
                    ),
                ]
            )
    return table(header, rows)


def _overlay(comparison: Comparison) -> tuple[charts.Figure, charts.Figure]:
    growth, drawdowns = [], []
    for i, run in enumerate(comparison.runs):
        series = run.curve.series()
        color = charts.PALETTE[i % len(charts.PALETTE)]
        x = charts.days(series.index)
        growth.append(
            charts.line(
                x,
                charts.values(series / series.iloc[0] - 1.0),
                run.short_id,
                color,
                hovertemplate="%{y:+.2%}",
            )
        )
        drawdowns.append(
            charts.line(
                x, charts.values(underwater(series)), run.short_id, color, hovertemplate="%{y:.2%}"
            )
        )
    return (
        charts.figure(growth, 400, yaxis=charts.axis(tickformat="+.0%")),
        charts.figure(drawdowns, 260, yaxis=charts.axis(tickformat=".0%")),
    )


def render_comparison_html(comparison: Comparison, generated_at: datetime) -> str:
    growth, drawdowns = _overlay(comparison)
    runs_rows = [
        [
            label,
            Cell(describe_run(comparison, i), "text"),
            Cell(comparison.runs[i].run.data_fingerprint or "—", "mono"),
        ]
        for i, label in enumerate(comparison.labels)
    ]
    total = by_key("total_return")
    tiles = [
        kpi(
            f"{label} {total.label.lower()}",
            format_metric(run.metrics, total),
            metric_tone(run.metrics, total),
        )
        for label, run in zip(comparison.labels, comparison.runs, strict=True)
    ]
    body = "".join(
        [
            card(
                "Cumulative return",
                chart("fig-growth"),
                wide=True,
                small="each run from its own start",
            ),
            card("Drawdown", chart("fig-drawdown"), wide=True),
            grid(
                card(
                    "Metrics",
                    _metric_table(comparison),
                    note=f"Highlighted: best of the row. {PSR_NOTE}",
                ),
                card(
                    "Are the differences significant?",
                    table(list(SIGNIFICANCE_HEADER), significance_rows(comparison)),
                    note=METHOD_NOTE,
                ),
            ),
            card(
                "Runs",
                table(["Run", Cell("Configuration", "text"), "Data fingerprint"], runs_rows),
                wide=True,
            ),
        ]
    )
    return page(
        title="Backtest comparison",
        subtitle=f"{len(comparison.runs)} runs · risk-free rate "
        f"{format_value(Kind.RATE, comparison.risk_free_rate)} · generated "
        f"{generated_at.isoformat(timespec='seconds')}",
        tag=", ".join(comparison.labels),
        kpis=tiles,
        body=body,
        figures={"fig-growth": growth, "fig-drawdown": drawdowns},
    )


def comparison_document(comparison: Comparison) -> dict[str, Any]:
    """The comparison as JSON (``--json``)."""

    def pair_document(test: PairTest) -> dict[str, Any]:
        return {
            "first": comparison.labels[test.first],
            "second": comparison.labels[test.second],
            "common_days": test.common_days,
            "mean_difference": test.mean_difference,
            "t_statistic": test.t_statistic,
            "t_pvalue": test.t_pvalue,
            "wilcoxon_statistic": test.wilcoxon_statistic,
            "wilcoxon_pvalue": test.wilcoxon_pvalue,
            "significant": test.significant,
            "note": test.note,
        }

    return {
        "risk_free_rate": comparison.risk_free_rate,
        "runs": [
            {
                "id": run.run.id,
                "label": run.short_id,
                "configuration": run.run.config.model_dump(mode="json"),
                "metrics": metrics_document(run.metrics),
                "probabilistic_sharpe": psr,
            }
            for run, psr in zip(comparison.runs, comparison.probabilistic_sharpe, strict=True)
        ],
        "best": {
            f"{row.metric.group}.{row.metric.key}": [comparison.labels[i] for i in sorted(row.best)]
            for row in comparison.rows
        },
        "tests": {
            "methods": {"t_test": T_TEST, "wilcoxon": WILCOXON},
            "significance_level": SIGNIFICANCE_LEVEL,
            "pairs": [pair_document(test) for test in comparison.tests],
        },
    }
