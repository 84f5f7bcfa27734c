"""The same sweep on every executor gives the same runs, run for run (metrics and trades):
in this process, on the local process pool, and on a real local Ray head on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ntrader.db.database import Database
from ntrader.services.sweep_executors import InProcessExecutor, LocalPoolExecutor, RayExecutor
from ntrader.services.sweep_service import SweepService
from tests.integration.sweep_support import BASE, SPEC, stored_runs


@pytest.fixture(scope="session")
def ray_head() -> Iterator[None]:
    """One local Ray head for the session (starting one costs seconds), on loopback."""
    import ray  # after ntrader's sweep executors set how Ray starts its workers

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )
    yield
    ray.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_executor_gives_the_same_runs(database: Database, ray_head: None) -> None:
    service = SweepService(database)
    here = service.start(BASE, SPEC, InProcessExecutor())
    expected = stored_runs(database, here.sweep.id)
    assert expected.keys() == {0, 1, 2, 3}
    for executor in (LocalPoolExecutor(2), RayExecutor()):
        summary = service.start(BASE, SPEC, executor)
        assert summary.sweep.executor == executor.name
        found = stored_runs(database, summary.sweep.id)
        assert found.keys() == expected.keys()
        for index, (metrics, trades) in expected.items():
            assert found[index][0] == metrics, (executor.name, index)
            assert [t.model_dump() for t in found[index][1]] == [t.model_dump() for t in trades]
        # Ranked alike, with the same statistics (the best run's id aside).
        assert [r.index for r in summary.rows] == [r.index for r in here.rows]
        statistics = dict(summary.sweep.statistics or {})
        assert statistics.pop("best_run_id") == summary.rows[0].run_id
        assert statistics == {
            k: v for k, v in (here.sweep.statistics or {}).items() if k != "best_run_id"
        }
    import ray

    assert ray.is_initialized()  # a Ray instance the sweep did not start is left running
