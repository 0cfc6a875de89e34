"""One worker pool per command (issue 14 item 5): a sample-size search or a ``run`` starts its
process pool once, not once per design point, and gives the numbers of one worker."""

from __future__ import annotations

import pytest

import simtrial
from simtrial.sim import driver
from tests.helpers import scenario

# full kernel (MAR dropout, MMRM): the search evaluates design points one call at a time
FULL = {"dropout": {"rate": 0.2, "mechanism": "mar", "strength": 0.5},
        "endpoint.analysis": "mmrm", "n_trials": 2000, "design.target_power": [0.8, 0.9]}


@pytest.fixture
def pools(monkeypatch):
    """Counts the process pools the driver starts."""
    made = []
    real = driver.ProcessPoolExecutor

    def counting(*a, **k):
        ex = real(*a, **k)
        made.append(ex)
        return ex
    monkeypatch.setattr(driver, "ProcessPoolExecutor", counting)
    return made


def test_run_starts_one_pool_and_matches_one_worker(pools):
    sc = scenario(**FULL)
    two = simtrial.run(sc, workers=2)
    assert len(two.curve) >= 3, "the search should evaluate several design points"
    assert len(pools) == 1
    one = simtrial.run(sc, workers=1)
    assert two.to_frame().equals(one.to_frame())


def test_sample_size_search_starts_one_pool(pools):
    s2 = simtrial.sample_size(scenario(**FULL), 0.8, workers=2)
    assert len(pools) == 1
    assert s2 == simtrial.sample_size(scenario(**FULL), 0.8, workers=1)


def test_outside_a_session_each_call_has_its_own_pool_and_none_is_left(pools):
    sc = scenario(**FULL)
    simtrial.power(sc, 20, workers=2)
    simtrial.power(sc, 24, workers=2)
    assert len(pools) == 2
    assert driver._SESSION == {"depth": 0, "pools": {}}


def test_an_interrupted_session_kills_its_pool(pools):
    sc = scenario(**FULL)
    with pytest.raises(KeyboardInterrupt):
        with driver.pool_session():
            simtrial.power(sc, 20, workers=2)
            assert len(driver._SESSION["pools"]) == 1
            raise KeyboardInterrupt
    assert driver._SESSION == {"depth": 0, "pools": {}}
    ex = pools[0]
    assert all(not p.is_alive() for p in (ex._processes or {}).values())
