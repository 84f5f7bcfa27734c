"""The look-ahead check's table and JSON: literal text, the list cut at --show, the verdict."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ntrader.cli.lookahead import _payload, _render
from ntrader.services.lookahead import LookaheadFinding, LookaheadResult

BAR = datetime(2020, 3, 4, 21, tzinfo=UTC)
CUT = datetime(2020, 3, 5, tzinfo=UTC)


def _result(count: int) -> LookaheadResult:
    findings = tuple(
        LookaheadFinding("AAPL.NASDAQ", BAR, CUT, f"[b]v{i}[/]", "1.5", "nan") for i in range(count)
    )
    return LookaheadResult("peeking", ("AAPL.NASDAQ",), 253, (CUT,), 250, findings)


def test_flagged_values_print_literally_up_to_show(capsys: pytest.CaptureFixture[str]) -> None:
    _render(_result(3), shown=2)
    out = capsys.readouterr().out
    assert "[b]v0[/]" in out and "[b]v1[/]" in out
    assert "v2[/]" not in out
    assert "Look-ahead bias: 3 values changed (1 more not listed" in out


def test_a_clean_result_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    _render(_result(0), shown=20)
    out = capsys.readouterr().out
    assert "No look-ahead bias found." in out and "Values that changed" not in out


def test_json_lists_every_finding() -> None:
    payload = _payload(_result(3))
    assert payload["lookahead_bias"] is True
    assert len(payload["findings"]) == 3
    assert payload["findings"][0]["bar_time"] == "2020-03-04T21:00:00+00:00"
