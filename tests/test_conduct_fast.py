"""The conduct engines agree bit for bit (simtrial.sim.conduct, module docstring: *Engines*).

``engine="auto"`` (arithmetic, with events only for the patients of crowded infusion units),
``engine="lean"`` (the processes on simtrial's own event loop) and ``engine="simpy"`` (the
reference) must give the same bytes in every array of the ConductResult and the same event
trace, on configurations chosen to stress what the fast path has to get right: chairs and beds
that fill up and that never do, per site and central, Poisson, regular (ties between sites) and
instant arrivals, withdrawal, screen failures, batch limits, one lot or a dose per infusion,
placebo with and without doses, intervals as short as the chair + bed time, zero observation
time, several strata and arms; then a seeded sweep of random configurations.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from simtrial.sim import conduct as C
from simtrial.sim.conduct import parse_conduct, simulate_conduct

VISITS = (3, 6, 12)
SKIP = {"elapsed_s", "paths"}           # diagnostics, not results


def _cfg(**c):
    data = {"sites": 3, "rate_per_site_month": 2.0}
    data.update(c)
    return parse_conduct({"conduct": data}, VISITS)


def _run(cfg, sizes, engine, **kw):
    kw = {"replicates": 6, "seed": 11, "fractions": (0.5, 1.0), **kw}
    return simulate_conduct(cfg, sizes, engine=engine, **kw)


def assert_same(a, b):
    """Every field of two ConductResults equal: arrays to the byte (NaN, -0.0 included)."""
    for f in dataclasses.fields(a):
        if f.name in SKIP:
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=f.name)
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), f.name
        else:
            assert x == y, f.name


LIMITED = {"chairs": 1, "beds": 1,
           "manufacturing": {"batch_capacity": 3, "release_delay_days": 7},
           "regimen": {"infusions": 3, "interval_days": 7}}

CASES = {
    # chairs and beds that fill up, per site
    "site_binding": ({**LIMITED, "screening_days": 14}, [[10, 10]]),
    # as in the benchmark: releases on one day crowd a site's chairs and beds
    "site_weekly_batches": ({"sites": 4, "rate_per_site_month": 3.0, "chairs": 2, "beds": 2,
                             "manufacturing": {"batch_capacity": 8, "release_delay_days": 21,
                                               "doses_per_patient": 3},
                             "regimen": {"infusions": 3, "interval_days": 28}},
                            [[15, 15]]),
    "site_never_full": ({**LIMITED, "chairs": 6, "beds": 6}, [[8, 8]]),
    "central_binding": ({**LIMITED, "infusion_unit": "central", "chairs": 2}, [[10, 10]]),
    "central_unlimited": ({"infusion_unit": "central", "withdrawal_per_month": 0.05},
                          [[10, 10]]),
    "chairs_only": ({**LIMITED, "beds": math.inf}, [[10, 10]]),
    "beds_only": ({**LIMITED, "chairs": math.inf}, [[10, 10]]),
    # regular arrivals from sites opening a month apart: simultaneous candidates
    "regular_ramp_ties": ({**LIMITED, "sites": 4, "ramp_months": 3, "arrivals": "regular",
                           "rate_per_site_month": 1.0}, [[8, 8]]),
    "regular_same_day_sites": ({**LIMITED, "arrivals": "regular", "rate_per_site_month": 1.5,
                                "screen_fail": 0.3}, [[8, 8]]),
    "activation_months": ({**LIMITED, "sites": 4, "activation_months": [0, 1, 1, 2.5]},
                          [[8, 8]]),
    # everyone at once: every event of a patient ties with others
    "instant": ({**LIMITED, "rate_per_site_month": math.inf, "chairs": 2}, [[6, 6]]),
    "instant_screening_withdrawal": ({"rate_per_site_month": math.inf, "screening_days": 14,
                                      "withdrawal_per_month": 0.2, "chairs": 1, "beds": 2,
                                      "infusion_unit": "central",
                                      "regimen": {"infusions": 2, "interval_days": 3}},
                                     [[6, 6]]),
    "instant_unlimited": ({"rate_per_site_month": math.inf, "screening_days": 5},
                          [[6, 6]]),
    "withdrawal_heavy": ({**LIMITED, "withdrawal_per_month": 0.5}, [[10, 10]]),
    "screen_failures": ({**LIMITED, "screen_fail": 0.5, "rate_per_site_month": 4.0},
                        [[10, 10]]),
    "placebo_doses": ({**LIMITED, "manufacturing": {"batch_capacity": 1,
                                                    "release_delay_days": 3,
                                                    "doses_per_patient": 1,
                                                    "placebo_doses": True}}, [[6, 6]]),
    "no_placebo": ({**LIMITED, "regimen": {"infusions": 3, "interval_days": 7,
                                           "placebo": False}}, [[8, 8]]),
    "one_lot": ({**LIMITED, "manufacturing": {"batch_capacity": 1, "release_delay_days": 10,
                                              "doses_per_patient": 1}}, [[6, 6]]),
    "dose_per_infusion_unlimited_batches": (
        {"chairs": 1, "beds": 1, "manufacturing": {"release_delay_days": 14, "batch_day": 3},
         "regimen": {"infusions": 3, "interval_days": 14}}, [[8, 8]]),
    # bed time zero: beds are held for an instant
    "zero_observation": ({**LIMITED, "regimen": {"infusions": 2, "interval_days": 1,
                                                 "observation_hours": 0}}, [[8, 8]]),
    # the next infusion is due the moment the bed is released
    "tight_interval": ({**LIMITED, "rate_per_site_month": 6.0,
                        "regimen": {"infusions": 3, "interval_days": 2,
                                    "infusion_hours": 24, "observation_hours": 24}},
                       [[8, 8]]),
    "chair_as_long_as_bed": ({**LIMITED, "chairs": 2,
                              "regimen": {"infusions": 2, "interval_days": 7,
                                          "infusion_hours": 12, "observation_hours": 12}},
                             [[8, 8]]),
    "strata_three_arms": ({**LIMITED, "chairs": 2, "beds": 2, "visit_window_days": 10},
                          [[4, 4, 4], [3, 3, 3]]),
    "many_sites_few_patients": ({"sites": 15, "ramp_months": 4, "rate_per_site_month": 0.5,
                                 "chairs": 1, "beds": 1,
                                 "manufacturing": {"batch_capacity": 3,
                                                   "release_delay_days": 21},
                                 "regimen": {"infusions": 2, "interval_days": 28}},
                                [[10, 10]]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_engines_agree(name):
    c, sizes = CASES[name]
    cfg = _cfg(**c)
    ref = _run(cfg, sizes, "simpy")
    assert ref.paths["simpy"] == ref.replicates
    for engine in ("lean", "auto"):
        assert_same(_run(cfg, sizes, engine), ref)


@pytest.mark.parametrize("name", ["site_binding", "regular_ramp_ties", "instant",
                                  "tight_interval", "strata_three_arms"])
def test_traces_agree(name):
    c, sizes = CASES[name]
    cfg = _cfg(**c)
    ref = _run(cfg, sizes, "simpy", replicates=2, trace=True)
    assert len(ref.trace) > 0
    for engine in ("lean", "auto"):
        got = _run(cfg, sizes, engine, replicates=2, trace=True)
        assert got.trace == ref.trace
        assert_same(got, ref)
    # tracing changes nothing else
    assert_same(dataclasses.replace(_run(cfg, sizes, "auto", replicates=2), trace=ref.trace), ref)


def test_fast_path_is_taken():
    # nothing to fill up: every replicate is arithmetic
    free = _run(_cfg(**CASES["central_unlimited"][0]), [[10, 10]], "auto", replicates=8)
    assert free.paths["arithmetic"] == 8
    never_full = _run(_cfg(**CASES["site_never_full"][0]), [[8, 8]], "auto", replicates=8)
    assert never_full.paths["arithmetic"] == 8
    # crowded units: some patients as events, the rest arithmetic
    busy = _run(_cfg(**CASES["site_weekly_batches"][0]), [[15, 15]], "auto", replicates=8)
    assert busy.paths["mixed"] > 0 and busy.paths["event_units"] > 0
    assert busy.paths["events"] + busy.paths["simpy"] < 8
    # tracing runs replicate 0 as events
    traced = _run(_cfg(**CASES["central_unlimited"][0]), [[10, 10]], "auto", replicates=3,
                  trace=True)
    assert traced.paths["events"] == 1 and traced.paths["arithmetic"] == 2


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="engine = 'fastest' must be one of auto, lean, simpy"):
        simulate_conduct(_cfg(), [[2, 2]], replicates=1, engine="fastest")


def test_chair_total_settles_or_gives_up():
    day = np.array([1.0, 2.0, 2.0, 2.0, 3.0])
    v = np.array([0.5, 1e16, 1.0, -1e16, 0.25])
    # one event run lists the terms of day 2 in its order: summed in that order
    one = C._chair_total(day, v, np.array([0, 0, 0, 0, 0]))
    assert one == ((((0.0 + 0.5) + 1e16) + 1.0) - 1e16) + 0.25
    # from different runs (or arithmetic) their order is open and changes the sum: no answer
    assert C._chair_total(day, v, np.array([-1, 0, 1, 2, -1])) is None
    assert C._chair_total(day, v, np.array([-1, -1, -1, -1, -1])) is None
    # equal terms on one day, or terms whose order cannot change the sum, settle
    assert C._chair_total(day, np.array([0.5, 2.0, 2.0, 2.0, 1.0]),
                          np.array([-1] * 5)) == 7.5
    assert C._chair_total(day, np.array([0.5, 1.0, 0.25, 2.0, 1.0]),
                          np.array([-1, 0, 1, -1, 3])) == 4.75


def test_ledger_book_many_matches_book():
    for cap in (math.inf, 1.0, 3.0):
        man = parse_conduct({"conduct": {"sites": 1, "rate_per_site_month": 1.0,
                                         "manufacturing": {"batch_capacity": cap,
                                                           "batch_day": 2,
                                                           "release_delay_days": 5.5}}},
                            VISITS).manufacturing
        days = np.sort(np.random.default_rng(3).uniform(0, 60, 40)).repeat(2)
        one, many = C._BatchLedger(man), C._BatchLedger(man)
        a = np.array([one.book(t) for t in days[:30]] + many.book_many(days[:0]).tolist())
        b = np.concatenate([many.book_many(days[:11]), many.book_many(days[11:30])])
        np.testing.assert_array_equal(a, b)
        assert (one.doses, one.batches) == (many.doses, many.batches)
        assert one.book(days[30]) == many.book_many(days[30:31])[0]


def _random_config(rng):
    sites = int(rng.integers(1, 6))
    infusions = int(rng.integers(1, 4))
    hours = float(rng.choice([1.0, 2.0, 12.0, 24.0]))
    obs = float(rng.choice([0.0, 2.0, 12.0, 24.0]))
    c = {"sites": sites,
         "rate_per_site_month": float(rng.choice([0.7, 2.0, 5.0, math.inf])),
         "arrivals": str(rng.choice(["poisson", "regular"])),
         "screen_fail": float(rng.choice([0.0, 0.2, 0.6])),
         "screening_days": float(rng.choice([0.0, 7.0, 21.0])),
         "withdrawal_per_month": float(rng.choice([0.0, 0.02, 0.3])),
         "chairs": float(rng.choice([1, 2, 3, math.inf])),
         "beds": float(rng.choice([1, 2, math.inf])),
         "infusion_unit": str(rng.choice(["site", "central"])),
         "manufacturing": {"batch_capacity": float(rng.choice([infusions, 4, 8, math.inf])),
                           "batch_interval_days": float(rng.choice([1.0, 7.0])),
                           "release_delay_days": float(rng.choice([0.0, 3.0, 21.0])),
                           "doses_per_patient": int(rng.choice([1, infusions])),
                           "placebo_doses": bool(rng.random() < 0.3)},
         "regimen": {"infusions": infusions, "infusion_hours": hours,
                     "observation_hours": obs,
                     "interval_days": float(rng.choice([(hours + obs) / 24.0, 7.0, 28.0]))}}
    if rng.random() < 0.5 and sites > 1:
        c["ramp_months"] = float(rng.choice([1.0, 3.0]))
    if rng.random() < 0.3:
        c["visit_window_days"] = 10.0
    if c["manufacturing"]["batch_interval_days"] == 1.0:
        c["manufacturing"]["batch_day"] = 0.0
    arms = int(rng.integers(1, 3))
    strata = int(rng.integers(1, 3))
    sizes = rng.integers(1, 7, (strata, arms + 1)).tolist()
    return _cfg(**c), sizes


def _sweep(start, count):
    for i in range(start, start + count):
        cfg, sizes = _random_config(np.random.default_rng(1000 + i))
        ref = _run(cfg, sizes, "simpy", replicates=4, seed=i)
        for engine in ("lean", "auto"):
            try:
                assert_same(_run(cfg, sizes, engine, replicates=4, seed=i), ref)
            except AssertionError as exc:
                raise AssertionError(f"config {i} ({engine}): {cfg.to_toml()} {sizes}") from exc


def test_random_configurations_agree():
    _sweep(0, 40)


@pytest.mark.slow
def test_random_configurations_agree_many():
    _sweep(40, 400)
