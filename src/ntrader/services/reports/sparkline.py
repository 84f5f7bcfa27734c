"""A terminal-sized picture of a curve in unicode block characters."""

from __future__ import annotations

import numpy as np

BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: np.ndarray, width: int = 48) -> str:
    """``values`` squeezed to ``width`` characters (the last value of each slice, so the
    final character is the final value), scaled from the minimum to the maximum."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return ""
    if values.size > width:
        edges = np.linspace(0, values.size, width + 1).astype(int)
        values = values[edges[1:] - 1]
    low, high = float(values.min()), float(values.max())
    if high - low <= 1e-12 * max(abs(high), 1.0):
        return BLOCKS[0] * values.size
    levels = np.round((values - low) / (high - low) * (len(BLOCKS) - 1)).astype(int)
    return "".join(BLOCKS[level] for level in levels)
