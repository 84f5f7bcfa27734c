"""Reading a generated HTML report back: its chart divs and the figures they draw."""

from __future__ import annotations

import json
from html.parser import HTMLParser


class ReportCharts(HTMLParser):
    """The ids of the chart divs and the figures JSON of a report page."""

    def __init__(self) -> None:
        super().__init__()
        self.chart_ids: list[str] = []
        self.figures: dict[str, object] = {}
        self._in_figures = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "div" and found.get("class") == "chart":
            self.chart_ids.append(str(found["id"]))
        self._in_figures = tag == "script" and found.get("id") == "figures"

    def handle_data(self, data: str) -> None:
        if self._in_figures:
            self.figures = json.loads(data)
            self._in_figures = False
