"""The content-keyed calibration memo (simtrial._memo): models built with and without it are
identical, equal inputs held by different objects hit, and cached arrays cannot be changed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simtrial._memo import by_content
from simtrial.model.outcomes import calibrate_delta, remission_intercepts
from simtrial.model.stratum import build_model
from simtrial.scenario import load_scenario


def _clear():
    calibrate_delta.cache_clear()
    remission_intercepts.cache_clear()


@pytest.mark.parametrize("name", ["t1d_insulin_12m", "t2d_insulin_12m"])
def test_models_of_a_sweep_are_identical_with_the_memo(name):
    sc = load_scenario(f"scenarios/{name}.toml")
    _clear()
    cold = json.dumps(build_model(sc).to_dict(), sort_keys=True, default=str)
    misses = calibrate_delta.cache_info()["misses"]
    assert misses > 0 and remission_intercepts.cache_info()["misses"] > 0
    other = sc.replace(**{"design.n_per_arm": sc.design.n_per_arm + 7, "n_trials": 333})
    warm = build_model(other)
    warm.to_dict()                                              # calibrates every outcome
    assert calibrate_delta.cache_info()["hits"] >= misses     # every calibration reused
    assert calibrate_delta.cache_info()["misses"] == misses
    _clear()
    fresh = build_model(other)
    for field in ("md", "delta_model_scale", "md_source", "analytic_moments", "remission"):
        assert (json.dumps(warm.to_dict()[field], sort_keys=True, default=str)
                == json.dumps(fresh.to_dict()[field], sort_keys=True, default=str))
    assert json.loads(cold)["md"] == warm.to_dict()["md"]


def test_equal_content_hits_and_arrays_are_read_only():
    calls = []

    @by_content(maxsize=2)
    def f(a, k=1.0):
        calls.append(1)
        return a * k

    x = np.arange(5.0)
    y = f(x, k=2.0)
    assert f(x.copy(), k=2.0) is y and len(calls) == 1          # another object, same bytes
    assert not y.flags.writeable
    with pytest.raises(ValueError):
        y[0] = 9.0
    f(x, k=3.0)
    f(x, k=4.0)                                                 # evicts k = 2.0
    f(x, k=2.0)
    assert len(calls) == 4 and f.cache_info()["size"] == 2

    @by_content()
    def h(fn):
        calls.append(1)
        return fn()
    n = len(calls)
    assert h(lambda: 7) == 7 and h(lambda: 7) == 7 and len(calls) == n + 2   # unpicklable
    assert h.cache_info()["size"] == 0


def test_exceptions_are_not_cached():
    calls = []

    @by_content()
    def g(v):
        calls.append(v)
        raise ArithmeticError("no")

    for _ in range(2):
        with pytest.raises(ArithmeticError):
            g(1.0)
    assert len(calls) == 2
