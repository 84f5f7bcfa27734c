"""Which executor the sweep flags choose, and the flag combinations refused."""

from __future__ import annotations

import pytest

from ntrader.core.errors import UserInputError
from ntrader.services.sweep_executors import (
    InProcessExecutor,
    LocalPoolExecutor,
    RayExecutor,
    make_executor,
)


def test_flags_choose_the_executor() -> None:
    assert isinstance(make_executor("local", 1, None), InProcessExecutor)
    pool = make_executor("local", 3, None)
    assert isinstance(pool, LocalPoolExecutor)
    assert pool.workers == 3
    ray = make_executor("ray", 2, "ray://127.0.0.1:10001")
    assert isinstance(ray, RayExecutor)
    assert (ray.address, ray.workers) == ("ray://127.0.0.1:10001", 2)


def test_a_ray_address_without_the_ray_executor_is_refused() -> None:
    with pytest.raises(UserInputError, match="--ray-address applies to --executor ray only"):
        make_executor("local", 2, "auto")
