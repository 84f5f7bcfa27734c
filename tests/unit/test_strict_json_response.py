"""The API's JSON body: the same bytes whether or not the content needed cleaning, and
never a NaN or Infinity (JSON has neither)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ntrader.api.state import StrictJSONResponse
from ntrader.utils.json_safe import json_safe

_plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _rendered(content: Any) -> bytes:
    return StrictJSONResponse(content).body


def _through_json_safe(content: Any) -> bytes:
    clean, _notes = json_safe(content)
    return json.dumps(clean, allow_nan=False, separators=(",", ":")).encode()


@given(_plain)
def test_plain_content_renders_as_json_safe_would(content: Any) -> None:
    assert _rendered(content) == _through_json_safe(content)


@given(
    st.dictionaries(
        st.text(max_size=8),
        st.floats() | st.decimals() | st.datetimes(timezones=st.just(UTC)),
        min_size=1,
        max_size=6,
    )
)
def test_content_needing_care_renders_as_json_safe_would(content: dict[str, Any]) -> None:
    assert _rendered(content) == _through_json_safe(content)


def test_non_finite_numbers_become_null() -> None:
    content = {
        "profit_factor": math.inf,
        "sharpe_ratio": math.nan,
        "sortino_ratio": -math.inf,
        "fees": Decimal("1.50"),
        "at": datetime(2024, 1, 2, tzinfo=UTC),
    }
    assert json.loads(_rendered(content)) == {
        "profit_factor": None,
        "sharpe_ratio": None,
        "sortino_ratio": None,
        "fees": "1.50",
        "at": "2024-01-02T00:00:00+00:00",
    }
