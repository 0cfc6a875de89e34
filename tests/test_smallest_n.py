"""The closed-form sample-size search (simtrial.stats.closed_form.smallest_n): the answer does
not depend on the guess it starts from, and the assurance N (guided by a coarse assurance) is
exactly the smallest N whose reported 20,000-node assurance reaches the target."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simtrial.model.design import build_design
from simtrial.oc.closed_form import analytic_assurance, analytic_assurance_n
from simtrial.scenario import load_scenario
from simtrial.stats.closed_form import smallest_n


def brute(fn, target, n_max, lo=3):
    return next((n for n in range(lo, n_max + 1) if fn(n) >= target), None)


@pytest.mark.parametrize("cross", [3, 4, 5, 17, 64, 65, 99, 100, None])
def test_answer_does_not_depend_on_the_guess(cross):
    n_max = 100
    fn = (lambda n: 0.0) if cross is None else (lambda n: float(n >= cross))
    want = brute(fn, 0.5, n_max)
    assert smallest_n(fn, 0.5, n_max) == want
    for g in [-5, 3, 4, 10, 50, 98, 99, 100, 500]:
        assert smallest_n(fn, 0.5, n_max, guess=g) == want, g


def test_smooth_function_from_every_guess():
    fn = lambda n: 1 - math.exp(-n / 37.0)      # noqa: E731  (increasing)
    for t in (0.05, 0.5, 0.9, 0.999):
        want = brute(fn, t, 400)
        assert all(smallest_n(fn, t, 400, guess=g) == want for g in range(3, 401, 7))


def test_a_good_guess_needs_few_evaluations():
    calls = []

    def fn(n):
        calls.append(n)
        return float(n >= 250)
    assert smallest_n(fn, 0.5, 10_000) == 250
    plain = len(calls)
    calls.clear()
    assert smallest_n(fn, 0.5, 10_000, guess=251) == 250
    assert len(calls) <= 4 < plain


@pytest.mark.parametrize("target", [0.5, 0.6, 0.65])
def test_assurance_n_is_the_smallest_reaching_the_target(target):
    dm = build_design(load_scenario("scenarios/t1d_hba1c_12m_predictive.toml"))
    m = dm.models[0]
    n_msc = m.scenario.design.n_msc
    n = analytic_assurance_n(m, target, 2000)
    if n is None:
        assert analytic_assurance(m, 2000, n_msc(2000)) < target
        return
    assert analytic_assurance(m, n, n_msc(n)) >= target
    assert n == 3 or analytic_assurance(m, n - 1, n_msc(n - 1)) < target
    # identical to the unguided search on the reported values
    assert n == smallest_n(lambda k: analytic_assurance(m, k, n_msc(k)), target, 2000)
    assert np.isfinite(analytic_assurance(m, n, n_msc(n)))
