"""The look-ahead check: does the strategy decide anything on a bar that later bars change?

The strategy runs once on the whole range and again on ranges cut short at several points,
in memory (nothing is stored). A strategy that only looks back makes, on every bar before a
cut, the same decision with the same indicator values in both runs, and its fills before
the cut's last bar are the same. Any difference is a bar whose outcome depended on bars
after it: look-ahead bias.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from ntrader.core import strategy_registry
from ntrader.core.errors import UserInputError
from ntrader.core.nautilus_bars import close_times_ns
from ntrader.core.runner import EngineOutput, InstrumentBars, ProgressCallback, run_engine
from ntrader.core.strategies.base import SignalRecord
from ntrader.db.database import Database
from ntrader.models.backtest import BacktestConfig
from ntrader.services.backtest_service import BacktestService, StageCallback
from ntrader.services.simulation import engine_settings
from ntrader.utils.timeutil import ns_to_datetime

DEFAULT_CUTS = 20


@dataclass(frozen=True, slots=True)
class LookaheadFinding:
    """One value that changed on a bar when the bars from ``cut_time`` on were removed."""

    instrument_id: str
    bar_time: datetime  # the bar's close (a fill's time for a fill)
    cut_time: datetime  # the first bar removed
    value: str  # "decision", "fill", or an indicator's name
    full: str  # in the run on the whole range
    truncated: str  # in the run cut short


@dataclass(frozen=True, slots=True)
class LookaheadResult:
    strategy_type: str
    instruments: tuple[str, ...]
    bars: int  # bars of the full run
    cut_times: tuple[datetime, ...]
    bars_compared: int  # bar records compared over all cuts
    findings: tuple[LookaheadFinding, ...]

    @property
    def biased(self) -> bool:
        return bool(self.findings)


def check_lookahead(
    database: Database,
    config: BacktestConfig,
    cuts: int = DEFAULT_CUTS,
    on_stage: StageCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> LookaheadResult:
    """Load ``config``'s bars once, then compare the full run with ``cuts`` shortened ones."""
    check_cut_count(cuts)
    service = BacktestService(database)
    config, _stored_id = service.prepare(config)
    loaded = service.load(config)
    return find_lookahead(config, loaded.inputs, loaded.conversions, cuts, on_stage, on_progress)


def check_cut_count(cuts: int) -> None:
    if cuts < 1:
        raise UserInputError(
            f"The number of cuts must be at least 1, not {cuts}.",
            hint=f"Use the default of {DEFAULT_CUTS} cuts spread over the range.",
        )


def find_lookahead(
    config: BacktestConfig,
    inputs: Sequence[InstrumentBars],
    conversions: Sequence[InstrumentBars] = (),
    cuts: int = DEFAULT_CUTS,
    on_stage: StageCallback | None = None,
    on_progress: ProgressCallback | None = None,
) -> LookaheadResult:
    """The check on bars already loaded (``config`` prepared: its strategy resolved)."""
    check_cut_count(cuts)
    stage = on_stage or (lambda _text: None)
    strategy_type = strategy_registry.resolve(config.strategy_type)
    settings = engine_settings(config, record_signals=True)
    cut_ns = cut_points(inputs, cuts)
    stage(f"Full run (1 of {cut_ns.size + 1})")
    full = run_engine(strategy_type, config.parameters, inputs, settings, on_progress, conversions)
    findings: list[LookaheadFinding] = []
    compared = 0
    for number, cut in enumerate(cut_ns.tolist(), start=2):
        stage(f"Cut at {ns_to_datetime(cut):%Y-%m-%d %H:%M} ({number} of {cut_ns.size + 1})")
        shortened = [_before(item, cut) for item in inputs]
        run = run_engine(
            strategy_type, config.parameters, shortened, settings, on_progress, conversions
        )
        count, found = compare_runs(full, run, shortened, ns_to_datetime(cut))
        compared += count
        findings.extend(found)
    return LookaheadResult(
        strategy_type=config.strategy_type,
        instruments=tuple(item.spec.instrument_id for item in inputs),
        bars=sum(len(item.bars) for item in inputs),
        cut_times=tuple(ns_to_datetime(cut) for cut in cut_ns.tolist()),
        bars_compared=compared,
        findings=tuple(findings),
    )


def cut_points(inputs: Sequence[InstrumentBars], cuts: int) -> np.ndarray:
    """``cuts`` bar times (ns) spread evenly over the run: each shortened run keeps the bars
    before one of them. Every instrument keeps at least one bar, and a cut at the start
    would keep none, so the candidates are the bar times after every instrument's first."""
    times = np.unique(np.concatenate([item.bars.ts for item in inputs]))
    candidates = times[times > max(int(item.bars.ts[0]) for item in inputs)]
    if cuts > candidates.size:
        raise UserInputError(
            f"{cuts} cuts are more than the {candidates.size} bars a run of this range can "
            "be cut before.",
            hint=f"Use {candidates.size} cuts or fewer, or widen the range.",
        )
    # Evenly spaced in integers: steps of at least one candidate while cuts < candidates,
    # every candidate when they are as many.
    picks = np.arange(1, cuts + 1, dtype=np.int64) * candidates.size // (cuts + 1)
    return candidates[picks]


def _before(item: InstrumentBars, cut_ns: int) -> InstrumentBars:
    """``item`` with only its bars stamped before ``cut_ns`` (and higher bars likewise)."""
    kept = int(np.searchsorted(item.bars.ts, cut_ns, side="left"))
    higher = item.higher
    if higher is not None:
        higher = higher.slice(0, int(np.searchsorted(higher.ts, cut_ns, side="left")))
    return replace(item, bars=item.bars.slice(0, kept), higher=higher)


def compare_runs(
    full: EngineOutput,
    truncated: EngineOutput,
    shortened: Sequence[InstrumentBars],
    cut_time: datetime,
) -> tuple[int, list[LookaheadFinding]]:
    """(bar records compared, differences) between the full run and one cut short.

    Every bar of the shortened run is compared: its decision and indicator values. Fills
    are compared before the shortened run's last bar closes: a signal on that bar fills at
    the next open, which only the full run has.
    """
    findings: list[LookaheadFinding] = []
    compared = 0
    for instrument_id, records in truncated.signals.items():
        reference = full.signals.get(instrument_id, [])
        for mine, theirs in zip(records, reference, strict=False):
            compared += 1
            findings.extend(_record_differences(instrument_id, cut_time, theirs, mine))
        if len(records) > len(reference):
            findings.append(
                LookaheadFinding(
                    instrument_id,
                    ns_to_datetime(records[len(reference)].ts),
                    cut_time,
                    "bars seen",
                    str(len(reference)),
                    str(len(records)),
                )
            )
    last_close = min(
        int(close_times_ns(item.spec, item.timeframe, item.bars.ts)[-1]) for item in shortened
    )
    mismatch = _first_fill_difference(full, truncated, last_close, cut_time)
    if mismatch is not None:
        findings.append(mismatch)
    return compared, findings


def _record_differences(
    instrument_id: str, cut_time: datetime, full: SignalRecord, truncated: SignalRecord
) -> list[LookaheadFinding]:
    bar_time = ns_to_datetime(truncated.ts)

    def finding(value: str, in_full: object, in_truncated: object) -> LookaheadFinding:
        return LookaheadFinding(
            instrument_id, bar_time, cut_time, value, _text(in_full), _text(in_truncated)
        )

    if full.ts != truncated.ts:
        return [finding("bar time", ns_to_datetime(full.ts), bar_time)]
    found = []
    if full.decision != truncated.decision:
        found.append(finding("decision", full.decision, truncated.decision))
    for name in sorted(full.values.keys() | truncated.values.keys()):
        left, right = full.values.get(name), truncated.values.get(name)
        if not _same(left, right):
            found.append(finding(name, left, right))
    return found


def _same(left: float | None, right: float | None) -> bool:
    """Exactly equal (the same arithmetic on the same bars gives the same bits); NaN
    matches NaN."""
    if left is None or right is None:
        return left is right
    return left == right or (math.isnan(left) and math.isnan(right))


def _first_fill_difference(
    full: EngineOutput, truncated: EngineOutput, before_ns: int, cut_time: datetime
) -> LookaheadFinding | None:
    """The first fill, before ``before_ns``, that one run has and the other has not."""
    left, right = _fill_rows(full, before_ns), _fill_rows(truncated, before_ns)
    for index in range(max(len(left), len(right))):
        mine = right[index] if index < len(right) else None
        theirs = left[index] if index < len(left) else None
        if mine != theirs:
            shown = theirs if theirs is not None else mine
            assert shown is not None
            return LookaheadFinding(
                shown[0],
                ns_to_datetime(shown[1]),
                cut_time,
                "fill",
                _fill_text(theirs),
                _fill_text(mine),
            )
    return None


_FillRow = tuple[str, int, float, float]


def _fill_rows(output: EngineOutput, before_ns: int) -> list[_FillRow]:
    fills = output.fills
    return sorted(
        (str(fills.instrument_id[i]), int(fills.ts[i]), float(fills.signed_qty[i]), float(p))
        for i, p in enumerate(fills.price.tolist())
        if fills.ts[i] < before_ns
    )


def _fill_text(row: _FillRow | None) -> str:
    if row is None:
        return "none"
    return f"{row[2]:+g} @ {row[3]:g}"


def _text(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return repr(value)
    return str(value)
