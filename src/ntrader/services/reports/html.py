"""The self-contained HTML page around a report: styles, plotly.js inline, small helpers.

Nothing is fetched when the page opens: plotly.js is embedded, fonts are the system's,
and the figures travel as JSON in the page itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from html import escape

from ntrader import __version__
from ntrader.services.reports.catalog import Tone
from ntrader.services.reports.charts import Figure

CSS = """
:root {
  --ink: #0f172a; --muted: #64748b; --line: #e2e8f0; --bg: #f1f5f9; --card: #ffffff;
  --accent: #2563eb; --good: #15803d; --bad: #b91c1c;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue",
    Arial, sans-serif;
}
header.hero {
  background: linear-gradient(135deg, #0f172a 0%, #1e3a8a 100%); color: #fff;
  padding: 28px 32px 24px;
}
header.hero h1 { margin: 0 0 4px; font-size: 22px; font-weight: 650; letter-spacing: -0.01em; }
header.hero .sub { margin: 0; color: #cbd5e1; font-size: 13px; }
header.hero .tag {
  display: inline-block; margin-left: 8px; padding: 1px 8px; border-radius: 999px;
  background: rgba(255, 255, 255, 0.14); font-size: 12px; vertical-align: middle;
}
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 10px;
  margin-top: 20px; }
.kpi { background: rgba(255, 255, 255, 0.08); border: 1px solid rgba(255, 255, 255, 0.12);
  border-radius: 10px; padding: 10px 14px; }
.kpi .label { color: #cbd5e1; font-size: 11px; text-transform: uppercase; letter-spacing: .06em; }
.kpi .value { font-size: 20px; font-weight: 650; font-variant-numeric: tabular-nums; }
.kpi .value.good { color: #4ade80; } .kpi .value.bad { color: #f87171; }
main { max-width: 1280px; margin: 0 auto; padding: 20px 24px 40px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px;
  margin-bottom: 16px; }
.grid.three { grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); }
.grid.four { grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px;
  padding: 16px 18px; box-shadow: 0 1px 2px rgba(15, 23, 42, 0.04); min-width: 0;
  overflow-x: auto; }
.card.wide { margin-bottom: 16px; }
.card h2 { margin: 0 0 10px; font-size: 15px; font-weight: 650; }
.card h2 small { color: var(--muted); font-weight: 400; font-size: 12px; margin-left: 6px; }
.note { color: var(--muted); font-size: 12px; margin: 8px 0 0; }
.note.warn { color: #92400e; background: #fffbeb; border: 1px solid #fde68a; padding: 6px 10px;
  border-radius: 8px; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: right;
  white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
td.text, th.text { text-align: left; }
td.text, td.mono { white-space: normal; overflow-wrap: anywhere; }
tr:last-child td { border-bottom: none; }
table.kv td:first-child { color: var(--muted); }
table.kv td { white-space: normal; word-break: break-word; }
table.props td:first-child { width: 200px; }
table.props td { text-align: left; }
.js-plotly-plot .plotly .modebar { opacity: 0; transition: opacity 0.2s; }
.js-plotly-plot:hover .plotly .modebar { opacity: 1; }
.good { color: var(--good); } .bad { color: var(--bad); }
.best { font-weight: 700; background: #ecfdf5; }
td.group { font-weight: 650; color: var(--ink); background: #f8fafc; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.scroll { max-height: 560px; overflow: auto; border: 1px solid var(--line); border-radius: 8px; }
.scroll table th { position: sticky; top: 0; background: #f8fafc; z-index: 1; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th:hover { color: var(--ink); }
table.sortable th[aria-sort="ascending"]::after { content: " ▲"; }
table.sortable th[aria-sort="descending"]::after { content: " ▼"; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 0 24px 32px; }
@page { size: A4 landscape; margin: 12mm; }
@media print {
  body { background: #fff; font-size: 12px; }
  header.hero { background: #fff; color: var(--ink); border-bottom: 2px solid var(--ink);
    padding: 0 0 12px; }
  header.hero .sub, .kpi .label { color: var(--muted); }
  .kpi { border-color: var(--line); background: #fff; }
  .kpi .value.good { color: var(--good); } .kpi .value.bad { color: var(--bad); }
  main { max-width: none; padding: 12px 0; }
  .card { box-shadow: none; break-inside: avoid; }
  .scroll { max-height: none; overflow: visible; border: none; }
  .modebar-container { display: none !important; }
}
"""

# Draws the figures, keeps them sized to their cards (also for printing), sorts tables.
SCRIPT = """
(function () {
  var figures = JSON.parse(document.getElementById("figures").textContent);
  var config = {displaylogo: false, responsive: true,
                modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d"]};
  Object.keys(figures).forEach(function (id) {
    var figure = figures[id];
    Plotly.newPlot(id, figure.data, figure.layout, config);
  });
  window.addEventListener("beforeprint", function () {
    Object.keys(figures).forEach(function (id) { Plotly.Plots.resize(id); });
  });
  function key(row, index, numeric) {
    var cell = row.cells[index];
    var raw = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
    return numeric ? (raw === "" ? NaN : parseFloat(raw)) : raw;
  }
  document.querySelectorAll("table.sortable th").forEach(function (th) {
    th.addEventListener("click", function () {
      var table = th.closest("table"), body = table.tBodies[0];
      var index = Array.prototype.indexOf.call(th.parentNode.children, th);
      var numeric = th.getAttribute("data-type") === "num";
      var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      th.parentNode.querySelectorAll("th").forEach(function (h) {
        h.removeAttribute("aria-sort");
      });
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a, index, numeric), y = key(b, index, numeric);
        if (numeric) {
          if (isNaN(x)) { return isNaN(y) ? 0 : 1; }  // blanks last either way
          if (isNaN(y)) { return -1; }
          return (x - y) * dir;
        }
        return x.localeCompare(y) * dir;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
})();
"""


@cache
def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def tone_class(tone: Tone) -> str:
    return "" if tone is Tone.NEUTRAL else tone.value


@dataclass(frozen=True, slots=True)
class Cell:
    """A table cell: shown text, optional CSS class, optional raw value to sort by."""

    text: str
    css: str = ""
    sort: float | str | None = None


def _cell(cell: Cell | str) -> str:
    if isinstance(cell, str):
        cell = Cell(cell)
    css = f' class="{cell.css}"' if cell.css else ""
    sort = f' data-v="{escape(str(cell.sort))}"' if cell.sort is not None else ""
    return f"<td{css}{sort}>{escape(cell.text)}</td>"


def _header(cell: Cell | str, sortable: bool) -> str:
    """A header cell; in a sortable table it tells the script to sort as text or numbers."""
    if isinstance(cell, str):
        cell = Cell(cell)
    css = f' class="{cell.css}"' if cell.css else ""
    kind = f' data-type="{"text" if cell.css == "text" else "num"}"' if sortable else ""
    return f"<th{css}{kind}>{escape(cell.text)}</th>"


def table(
    header: Sequence[Cell | str] | None,
    rows: Iterable[Sequence[Cell | str]],
    *,
    css: str = "",
) -> str:
    """Text columns carry the ``text`` class; a ``sortable`` table sorts on header clicks."""
    sortable = "sortable" in css.split()
    head = (
        f"<thead><tr>{''.join(_header(h, sortable) for h in header)}</tr></thead>" if header else ""
    )
    body = "".join(f"<tr>{''.join(_cell(c) for c in row)}</tr>" for row in rows)
    css_attr = f' class="{css}"' if css else ""
    return f"<table{css_attr}>{head}<tbody>{body}</tbody></table>"


def key_values(rows: Iterable[tuple[str, Cell | str]], *, css: str = "") -> str:
    return table(None, ([label, value] for label, value in rows), css=f"kv {css}".strip())


def card(title: str, body: str, *, note: str = "", wide: bool = False, small: str = "") -> str:
    heading = escape(title) + (f"<small>{escape(small)}</small>" if small else "")
    notes = f"<p class='note'>{escape(note)}</p>" if note else ""
    css = "card wide" if wide else "card"
    return f"<section class='{css}'><h2>{heading}</h2>{body}{notes}</section>"


def warning(text: str) -> str:
    return f"<p class='note warn'>{escape(text)}</p>"


def chart(figure_id: str) -> str:
    return f"<div class='chart' id='{figure_id}'></div>"


def grid(*cards: str) -> str:
    """Cards side by side: two, three or four to a row on a wide screen."""
    width = {3: " three", 4: " four"}.get(len(cards), "")
    return f"<div class='grid{width}'>{''.join(cards)}</div>"


def kpi(label: str, value: str, tone: Tone = Tone.NEUTRAL) -> str:
    return (
        f"<div class='kpi'><div class='label'>{escape(label)}</div>"
        f"<div class='value {tone_class(tone)}'>{escape(value)}</div></div>"
    )


def figures_json(figures: Mapping[str, Figure]) -> str:
    """The figures as JSON to place inside a ``<script>`` element."""
    text = json.dumps(figures, separators=(",", ":"), allow_nan=False)
    # JSON inside <script> must not close the tag early.
    return text.replace("</", "<\\/")


def page(
    *,
    title: str,
    subtitle: str,
    tag: str,
    kpis: Sequence[str],
    body: str,
    figures: Mapping[str, Figure],
) -> str:
    """The whole document. Figure ids must match the ``chart(...)`` divs in ``body``."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<meta name='generator' content='ntrader {escape(__version__)}'>"
        f"<title>{escape(title)}</title><style>{CSS}</style>"
        f"<script>{plotly_js()}</script></head><body>"
        f"<header class='hero'><h1>{escape(title)}<span class='tag'>{escape(tag)}</span></h1>"
        f"<p class='sub'>{escape(subtitle)}</p><div class='kpis'>{''.join(kpis)}</div></header>"
        f"<main>{body}</main>"
        f"<footer>Generated by ntrader {escape(__version__)} · self-contained, works offline"
        "</footer>"
        f"<script type='application/json' id='figures'>{figures_json(figures)}</script>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
