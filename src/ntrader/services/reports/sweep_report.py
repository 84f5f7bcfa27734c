"""The sweep HTML report: a heatmap of the objective over two parameters, and how the
objective changes around the best point along each varied parameter (its stability).

In a screened sweep the points the engine did not run show the screen's figure for the
objective (when the screen ranks by it), marked as screened, so the landscape covers the
whole grid and not only the few confirmed points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ntrader.core.errors import UserInputError
from ntrader.models.sweep import SweepRunView
from ntrader.services.reports import charts
from ntrader.services.reports.catalog import Kind, Metric, format_value, objective_metric
from ntrader.services.reports.files import write_atomic
from ntrader.services.reports.html import Cell, card, chart, grid, kpi, page, table
from ntrader.services.screen import screened_objective
from ntrader.services.sweep_history import SweepSummary

HEATMAP_ID = "sweep-heatmap"
STABILITY_PREFIX = "sweep-stability-"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _sorted_values(values: set[Any]) -> list[Any]:
    """Numbers in order; anything else (None, flags, text) after them, by its text."""
    numbers = sorted(v for v in values if _is_number(v))
    others = sorted((v for v in values if not _is_number(v)), key=repr)
    return [*numbers, *others]


def _distinct(rows: tuple[SweepRunView, ...], name: str) -> list[Any]:
    return _sorted_values({row.parameters.get(name) for row in rows})


def varied_parameters(rows: tuple[SweepRunView, ...]) -> list[str]:
    """The parameters with more than one value, the most varied first."""
    names = list(rows[0].parameters) if rows else []
    counts = {name: len(_distinct(rows, name)) for name in names}
    return sorted((n for n in names if counts[n] > 1), key=lambda n: (-counts[n], names.index(n)))


def heatmap_axes(rows: tuple[SweepRunView, ...], x: str | None, y: str | None) -> tuple[str, str]:
    """``x`` and ``y`` as given, checked, or the two most varied parameters (a fixed one
    fills in when only one varies)."""
    names = list(rows[0].parameters) if rows else []
    for flag, name in (("--x", x), ("--y", y)):
        if name is not None and name not in names:
            raise UserInputError(
                f"{flag} {name!r} is not a parameter of this sweep; its parameters: "
                f"{', '.join(names)}.",
                hint="Give one of them, or leave the flag out for the most varied.",
            )
    order = [*varied_parameters(rows), *(n for n in names if n not in varied_parameters(rows))]
    chosen_x = x or next((n for n in order if n != y), None)
    chosen_y = y or next((n for n in order if n != chosen_x), None)
    if chosen_x is None or chosen_y is None or chosen_x == chosen_y:
        raise UserInputError(
            "A heatmap needs two different parameters.",
            hint="Give --x and --y different parameter names.",
        )
    return chosen_x, chosen_y


def _label(value: Any) -> str:
    return "none" if value is None else str(value)


def landscape(summary: SweepSummary) -> dict[int, tuple[float, str]]:
    """Each point's objective for the heatmap and the stability view, and where it comes
    from: the engine's run, or the screen's figure for a point only the screen ran (when
    the screen ranks by this objective; otherwise it ranks by the Sharpe ratio, which
    cannot stand in for another objective)."""
    screened = screened_objective(summary.objective) == summary.objective
    values = {}
    for row in summary.rows:
        if row.objective is not None:
            values[row.index] = (row.objective, "engine")
        elif screened and row.screen is not None and row.screen["objective"] is not None:
            values[row.index] = (float(row.screen["objective"]), "screened")
    return values


def heatmap_figure(
    rows: tuple[SweepRunView, ...],
    values: dict[int, tuple[float, str]],
    x: str,
    y: str,
    objective: Metric,
) -> charts.Figure:
    """Each cell: the best objective among the points with that x and y (over the other
    parameters), and whether the engine or the screen gave it; empty where no point of the
    pair has one."""
    xs, ys = _distinct(rows, x), _distinct(rows, y)
    z: list[list[float | None]] = [[None] * len(xs) for _ in ys]
    source: list[list[str]] = [[""] * len(xs) for _ in ys]
    for row in rows:
        if row.index not in values:
            continue
        value, where = values[row.index]
        i, j = ys.index(row.parameters.get(y)), xs.index(row.parameters.get(x))
        current = z[i][j]
        if current is None or value > current:
            z[i][j], source[i][j] = value, where
    trace = {
        "type": "heatmap",
        "x": [_label(v) for v in xs],
        "y": [_label(v) for v in ys],
        "z": z,
        "text": source,
        "colorscale": "RdYlGn",
        "colorbar": {"title": {"text": objective.label}},
        "hovertemplate": f"{x}=%{{x}}<br>{y}=%{{y}}<br>{objective.label} %{{z:.3f}} "
        "(%{text})<extra></extra>",
    }
    return charts.figure(
        [trace],
        360,
        hovermode="closest",
        xaxis=charts.axis(title={"text": x}, type="category"),
        yaxis=charts.axis(title={"text": y}, type="category"),
    )


def neighbours(rows: tuple[SweepRunView, ...], best: SweepRunView, name: str) -> list[SweepRunView]:
    """The points equal to ``best`` in every parameter but ``name``, in ``name``'s order."""
    same = [
        row
        for row in rows
        if all(row.parameters.get(n) == v for n, v in best.parameters.items() if n != name)
    ]
    order = _distinct(tuple(same), name)
    return sorted(same, key=lambda row: order.index(row.parameters.get(name)))


def stability_figure(
    line: list[SweepRunView],
    values: dict[int, tuple[float, str]],
    best: SweepRunView,
    name: str,
    objective: Metric,
) -> Any:
    shown = [row for row in line if row.index in values]
    x = [_label(row.parameters.get(name)) for row in shown]
    y = [values[row.index][0] for row in shown]
    sources = [values[row.index][1] for row in shown]
    traces = [
        charts.line(
            x,
            y,
            objective.label,
            charts.BLUE,
            mode="lines+markers",
            text=sources,
            hovertemplate=f"{name}=%{{x}}<br>%{{y:.3f}} (%{{text}})<extra></extra>",
        ),
        {
            "type": "scatter",
            "mode": "markers",
            "x": [_label(best.parameters.get(name))],
            "y": [best.objective],
            "name": "best",
            "marker": {"color": charts.GREEN, "size": 11},
        },
    ]
    return charts.figure(
        traces,
        260,
        hovermode="closest",
        xaxis=charts.axis(title={"text": name}, type="category"),
    )


def screen_column(objective: str) -> tuple[Metric, str]:
    """The figure a ranking's screened column shows for ``objective``, and its header
    (which names the figure when the screen ranks by the Sharpe ratio instead)."""
    metric = objective_metric(screened_objective(objective))
    return metric, "Screened" if metric.key == objective else f"Screened {metric.label}"


def render(summary: SweepSummary, x: str | None = None, y: str | None = None) -> str:
    rows = summary.rows
    if not rows:
        raise UserInputError("The sweep has no points.", hint="Start a new sweep.")
    objective = objective_metric(summary.objective)
    values = landscape(summary)
    chosen_x, chosen_y = heatmap_axes(rows, x, y)
    best = next((row for row in rows if row.objective is not None), None)
    figures = {HEATMAP_ID: heatmap_figure(rows, values, chosen_x, chosen_y, objective)}
    stability_cards = []
    if best is not None:
        for name in varied_parameters(rows):
            figure_id = f"{STABILITY_PREFIX}{name}"
            figures[figure_id] = stability_figure(
                neighbours(rows, best, name), values, best, name, objective
            )
            stability_cards.append(
                card(name, chart(figure_id), small=f"{objective.label} around the best")
            )
    varied = varied_parameters(rows) or list(rows[0].parameters)
    screened = any(row.screen is not None for row in rows)
    screen_metric, screen_header = screen_column(summary.objective)
    headers: list[str | Cell] = ["#", Cell(", ".join(varied), "text"), objective.label]
    if screened:
        headers.append(screen_header)
    headers += ["Return", Cell("Run", "text")]

    def cells(position: int, row: SweepRunView) -> list[Cell]:
        found = [
            Cell(str(position), sort=position),
            Cell(", ".join(str(row.parameters.get(n)) for n in varied), "text"),
            Cell(objective.format(row.objective), sort=row.objective),
        ]
        if screened:
            figure = row.screen["objective"] if row.screen else None
            found.append(Cell(screen_metric.format(figure), sort=figure))
        status = "screened only" if row.screen is not None else "not run"
        return [
            *found,
            Cell(format_value(Kind.PERCENT, row.metrics.get("total_return"))),
            Cell(row.run_id[:8] if row.run_id else status, "text"),
        ]

    ranking = table(
        headers,
        (cells(position, row) for position, row in enumerate(rows, start=1)),
        css="sortable",
    )
    screened_cells = sum(1 for _, where in values.values() if where == "screened")
    heatmap_note = "Each cell is the best point with those two values (over the other parameters)."
    if screened_cells:
        heatmap_note += (
            f" {screened_cells} of the points show the screen's figure (a proxy; hover shows "
            "which), the others the engine's run."
        )
    elif screened:
        heatmap_note += (
            f" The screen ranked by the {screen_metric.label.lower()}, which cannot stand in "
            f"for the {objective.label.lower()}: only the engine's runs are shown."
        )
    statistics = summary.sweep.statistics or {}
    config = summary.sweep.base_config
    body = (
        card(
            f"{objective.label} over {chosen_x} and {chosen_y}",
            chart(HEATMAP_ID),
            note=heatmap_note,
            wide=True,
        )
        + (
            card(
                "Parameter stability",
                grid(*stability_cards),
                note="Each chart moves one parameter away from the best point, the others "
                "held at the best point's values: a narrow peak is a fragile optimum.",
                wide=True,
            )
            if stability_cards
            else ""
        )
        + card("Ranking", ranking, wide=True)
    )
    kpis = [
        kpi(f"Best {objective.label.lower()}", objective.format(best.objective if best else None)),
        kpi("Points", str(len(rows))),
        kpi("Deflated Sharpe", format_value(Kind.RATIO, statistics.get("deflated_sharpe_ratio"))),
        kpi("PBO", format_value(Kind.RATE, statistics.get("probability_of_overfitting"))),
    ]
    return page(
        title=f"Sweep {summary.sweep.id[:8]}",
        subtitle=f"{config.strategy_type} on {', '.join(config.instruments)} · "
        f"{config.start} → {config.end} · {summary.sweep.status.value}",
        tag="sweep",
        kpis=kpis,
        body=body,
        figures=figures,
    )


def write(summary: SweepSummary, output: Path, x: str | None, y: str | None) -> Path:
    path = output.expanduser().resolve()
    write_atomic(path, render(summary, x, y))
    return path
