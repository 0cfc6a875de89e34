"""Trial conduct (simtrial.sim.conduct) and its link to the design engine.

What is proved here:

* exact event traces of the SimPy processes on hand-built cases (every day below is worked out
  by hand in the comments: batch calendar, chair queue, bed blocking, regimen spacing, site
  activation and arrival order, visit days, look days);
* the unlimited-capacity, instant-recruitment conduct path reproduces the plain design path bit
  for bit (fixed designs, with and without [dropout]);
* stochastic parts (Poisson arrivals, screen failures, withdrawal, windows) against their
  distributions, with tolerances computed from the Monte Carlo SE in the test;
* reproducibility (same seed, replicate prefix, chunk order), the MC SE of a median, the
  [conduct] error messages, and `simtrial run` writing the conduct outputs.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from simtrial.cli import main
from simtrial.sim.conduct import (MONTH_DAYS, conduct_design, link_chunk, median_mc_se,
                              parse_conduct, simulate_conduct)
from simtrial.errors import ScenarioError
from simtrial.scenario import parse_scenario
from simtrial.model.design import build_design
from simtrial.sim.driver import kernel_for
from simtrial.oc.run import simulate


def simulate_design(sc, n=None, **kw):
    """The full patient kernel at one control-arm size (default the design N)."""
    n = (sc.scenario if hasattr(sc, "models") else sc).design.n_per_arm if n is None else n
    return simulate(sc, [n], kernel="full", keep=[n], **kw)[n]

from .helpers import BASE, binom_tol, scenario

M = MONTH_DAYS
H = 2.0 / 24.0           # default infusion time (2 hours) in days
VISITS = (3, 6, 12)


def _cfg(**c):
    data = {"sites": 1, "rate_per_site_month": 1.0}
    data.update(c)
    return parse_conduct({"conduct": data}, VISITS)


def _approx(trace):
    return [(pytest.approx(t, abs=1e-9), k, ev, pytest.approx(d, abs=1e-9))
            for t, k, ev, d in trace]


# ----------------------------------------------------------------------------------------------
# exact event traces
# ----------------------------------------------------------------------------------------------

def test_trace_batches_chair_queue_and_bed_blocking():
    # 1 site, one candidate every 10 days (days 10, 20, 30), no screen failures, 3 MSC patients.
    # GMP batches on days 2, 9, 16, 23, 30, ... with 1 dose each, released 5 days after the start;
    # one lot covers both infusions (14 days apart); 1 chair (2 h) and 1 bed (24 h).
    cfg = _cfg(rate_per_site_month=M / 10, arrivals="regular", chairs=1, beds=1,
               manufacturing={"batch_capacity": 1, "batch_day": 2, "release_delay_days": 5,
                              "doses_per_patient": 1},
               regimen={"infusions": 2, "interval_days": 14})
    res = simulate_conduct(cfg, [[0, 3]], replicates=1, trace=True)
    expected = [
        (10, 0, "screen_pass", 0), (10, 0, "randomised", 1),
        (10, 0, "dose_booked", 21),          # first batch on/after day 10: 16; + 5
        (20, 1, "screen_pass", 0), (20, 1, "randomised", 1),
        (20, 1, "dose_booked", 28),          # batch 23 + 5
        (21, 0, "infusion_start", 0), (21 + H, 0, "bed_start", 0), (22 + H, 0, "bed_end", 0),
        (28, 1, "infusion_start", 0), (28 + H, 1, "bed_start", 0), (29 + H, 1, "bed_end", 0),
        (30, 2, "screen_pass", 0), (30, 2, "randomised", 1),
        (30, 2, "dose_booked", 35),          # a batch starts on day 30 itself
        # day 35: patient 0's second infusion (21 + 14) and patient 2's dose; patient 0 was
        # scheduled first, so takes the chair; patient 2 gets it when patient 0 moves to the bed
        (35, 0, "infusion_start", 1), (35 + H, 0, "bed_start", 1),
        (35 + H, 2, "infusion_start", 0),
        # patient 2's infusion ends at 35 + 2H but the bed is busy until 36 + H: it keeps the chair
        (36 + H, 0, "bed_end", 1), (36 + H, 2, "bed_start", 0), (37 + H, 2, "bed_end", 0),
        (42, 1, "infusion_start", 1), (42 + H, 1, "bed_start", 1), (43 + H, 1, "bed_end", 1),
        # 14 days after patient 2's actual first infusion
        (49 + H, 2, "infusion_start", 1), (49 + 2 * H, 2, "bed_start", 1),
        (50 + 2 * H, 2, "bed_end", 1),
    ]
    assert list(res.trace) == _approx(expected)
    np.testing.assert_allclose(res.infusion_day[0], [[21, 35], [28, 42], [35 + H, 49 + H]])
    np.testing.assert_allclose(res.wait_chair[0], [[0, 0], [0, 0], [H, 0]], atol=1e-12)
    np.testing.assert_allclose(res.wait_bed[0], [[0, 0], [0, 0], [1 - H, 0]], atol=1e-12)
    np.testing.assert_allclose(res.wait_dose[0], [[11, 0], [8, 0], [5, 0]], atol=1e-12)
    # visits 3, 6, 12 months after the first infusion, no window
    first = np.array([21, 28, 35 + H])
    np.testing.assert_allclose(res.visit_day[0], first[:, None] + np.array(VISITS) * M)
    assert res.observed.all()
    assert res.lplv()[0] == pytest.approx(35 + H + 12 * M)
    # chair busy: 5 x 2 h + patient 2's blocked wait (1 - H); bed busy 6 x 1 day
    assert res.chair_busy[0] == pytest.approx(6 * H + (1 - H))
    assert res.bed_busy[0] == pytest.approx(6.0)
    assert res.doses[0] == 3 and res.batches[0] == 3        # batches 2, 3, 4 (days 16, 23, 30)


def test_trace_batch_capacity_and_dose_per_infusion():
    # instant recruitment: 3 MSC patients randomised on day 0 in order 0, 1, 2. Batches every 7
    # days from day 0 with 2 doses, released 3 days later; a fresh dose per infusion (2 infusions
    # 7 days apart). FIFO: patient 0 fills batch 0 (days 3, 3), patient 1 batch 1 (10, 10),
    # patient 2 batch 2 (17, 17). Unlimited chairs and beds.
    cfg = _cfg(rate_per_site_month=math.inf,
               manufacturing={"batch_capacity": 2, "release_delay_days": 3,
                              "doses_per_patient": 2},
               regimen={"infusions": 2, "interval_days": 7})
    res = simulate_conduct(cfg, [[0, 3]], replicates=1, trace=True)
    booked = [(t, k, d) for t, k, ev, d in res.trace if ev == "dose_booked"]
    assert booked == [(0, 0, 3), (0, 0, 3), (0, 1, 10), (0, 1, 10), (0, 2, 17), (0, 2, 17)]
    np.testing.assert_allclose(res.rand_day[0], 0.0)
    np.testing.assert_allclose(res.infusion_day[0], [[3, 10], [10, 17], [17, 24]])
    assert res.doses[0] == 6 and res.batches[0] == 3
    mu = res.per_replicate()["manufacturing_utilisation"][0]
    assert mu == pytest.approx(1.0)


def test_trace_site_activation_ramp_and_arrival_order():
    # 3 sites opening at months 0, 1, 2 (ramp 2 months); each sends one candidate a month after
    # opening. Arrivals: s0 at M, 2M, 3M; s1 at 2M, 3M; s2 at 3M. Ties are served in SimPy's
    # scheduling order: at 2M s0 then s1; at 3M s2 first (its timeout was scheduled when it
    # opened at 2M, before s0 and s1 scheduled theirs).
    cfg = _cfg(sites=3, ramp_months=2, arrivals="regular", rate_per_site_month=1.0)
    res = simulate_conduct(cfg, [[6, 0]], replicates=1)
    np.testing.assert_allclose(res.rand_day[0], np.array([1, 2, 2, 3, 3, 3]) * M)
    assert res.site[0].tolist() == [0, 0, 1, 2, 0, 1]
    assert cfg.activation_days == pytest.approx((0.0, M, 2 * M))
    assert res.screened[0] == 6


def test_instant_recruitment_and_screening_delay():
    # rate = inf: every patient is randomised when the first site opens (+ screening_days)
    cfg = _cfg(sites=4, rate_per_site_month=math.inf, screening_days=14)
    res = simulate_conduct(cfg, [[5, 5]], replicates=2)
    np.testing.assert_allclose(res.rand_day, 14.0)
    np.testing.assert_allclose(res.screen_day, 0.0)
    # round-robin over the sites open at day 0
    assert res.site[0].tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]


def test_look_days_and_patients_with_data_exact():
    # one candidate every 10 days, 4 placebo patients infused on randomisation (no capacity
    # limit): endpoint visits at 10 k + 12 M. Looks at 0.5 and 1.0: the 2nd endpoint visit
    # (day 20 + 12 M) and the last visit (day 40 + 12 M).
    cfg = _cfg(rate_per_site_month=M / 10, arrivals="regular")
    res = simulate_conduct(cfg, [[4, 0]], fractions=(0.5, 1.0), replicates=1)
    np.testing.assert_allclose(res.look_day[0], [20 + 12 * M, 40 + 12 * M])
    lc = res.look_counts()
    assert lc["randomised"][0].tolist() == [4, 4]
    assert lc["with_data"][0].tolist() == [4, 4]        # 3-month visits all done by look 1
    assert lc["with_endpoint"][0].tolist() == [2, 4]


def test_withdrawn_patient_gets_no_later_infusion_or_visit():
    cfg = _cfg(sites=2, rate_per_site_month=3.0, withdrawal_per_month=0.3,
               regimen={"infusions": 3, "interval_days": 28})
    res = simulate_conduct(cfg, [[20, 20]], replicates=20, seed=3)
    w = res.withdraw_day
    given = np.isfinite(res.infusion_day)
    assert np.all(res.infusion_day[given] < np.broadcast_to(w[..., None], given.shape)[given])
    np.testing.assert_array_equal(res.observed, res.visit_day < w[..., None])
    # a withdrawn patient misses every later infusion: given infusions form a prefix
    assert np.all(given[..., 1:] <= given[..., :-1])
    assert (~given).any() and given.any()


def test_control_without_placebo_has_no_infusion_and_visits_from_randomisation():
    cfg = _cfg(rate_per_site_month=M / 10, arrivals="regular", regimen={"placebo": False})
    res = simulate_conduct(cfg, [[2, 0]], replicates=1)
    assert np.isnan(res.infusion_day).all()
    np.testing.assert_allclose(res.visit_day[0], np.array([[10], [20]]) + np.array(VISITS) * M)


# ----------------------------------------------------------------------------------------------
# stochastic parts against their distributions (tolerance from the MC SE)
# ----------------------------------------------------------------------------------------------

def test_poisson_arrivals_have_the_configured_rate():
    rate = 2.0
    res = simulate_conduct(_cfg(rate_per_site_month=rate), [[30, 30]], replicates=40, seed=5)
    gaps = np.diff(np.concatenate([np.zeros((40, 1)), res.screen_day], axis=1), axis=1).ravel()
    mean = M / rate                                     # exponential gaps: mean = SD = M / rate
    assert abs(gaps.mean() - mean) <= 3 * mean / math.sqrt(gaps.size)


def test_screen_failures_follow_the_probability():
    p = 0.3
    res = simulate_conduct(_cfg(rate_per_site_month=5.0, screen_fail=p), [[20, 20]],
                           replicates=50, seed=7)
    screened = int(res.screened.sum())
    failed = screened - res.n_patients * res.replicates
    assert abs(failed / screened - p) <= binom_tol(p, screened)


def test_screen_fail_default_comes_from_the_population_model():
    sc = scenario(conduct={"sites": 2, "rate_per_site_month": 1.0, "replicates": 3})
    dm = build_design(sc)
    res = conduct_design(dm)
    assert res.screen_fail == pytest.approx(dm.models[0].screen_fail_prob)
    assert res.replicates == 3 and res.n_patients == 60


def test_withdrawal_is_exponential():
    # instant recruitment, unlimited capacity, placebo arm: the 12-month visit is exactly on day
    # 12 M after randomisation, so it is done with probability exp(-12 h)
    h = 0.02
    res = simulate_conduct(_cfg(rate_per_site_month=math.inf, withdrawal_per_month=h),
                           [[50, 0]], replicates=40, seed=11)
    p = math.exp(-12 * h)
    obs = res.observed[..., 2]
    assert abs(obs.mean() - p) <= binom_tol(p, obs.size)


def test_visit_windows_are_uniform_around_the_target():
    w = 14.0
    res = simulate_conduct(_cfg(rate_per_site_month=math.inf, visit_window_days=w),
                           [[50, 0]], replicates=20, seed=2)
    off = res.visit_day - np.array(VISITS) * M             # anchor = day 0
    assert np.all(np.abs(off) <= w)
    # uniform(-w, w): mean 0, SD w / sqrt(3)
    assert abs(off.mean()) <= 3 * (w / math.sqrt(3)) / math.sqrt(off.size)
    assert off.std() == pytest.approx(w / math.sqrt(3), rel=0.05)


def test_randomisation_list_has_the_exact_group_sizes():
    sizes = [[7, 3, 5]]
    res = simulate_conduct(_cfg(rate_per_site_month=4.0), sizes, replicates=25, seed=4)
    for r in range(res.replicates):
        assert np.bincount(res.group[r], minlength=3).tolist() == [7, 3, 5]
    assert len({tuple(g) for g in res.group.tolist()}) > 1     # the order is random


# ----------------------------------------------------------------------------------------------
# reproducibility
# ----------------------------------------------------------------------------------------------

def _realistic(**extra):
    c = {"sites": 3, "ramp_months": 2, "rate_per_site_month": 2.0, "screen_fail": 0.2,
         "withdrawal_per_month": 0.01, "visit_window_days": 10, "chairs": 1, "beds": 1,
         "manufacturing": {"batch_capacity": 3, "release_delay_days": 10},
         "regimen": {"infusions": 3, "interval_days": 7}}
    c.update(extra)
    return parse_conduct({"conduct": c}, VISITS)


ARRAYS = ("site", "group", "screen_day", "rand_day", "infusion_day", "wait_dose", "wait_chair",
          "wait_bed", "withdraw_day", "visit_day", "observed", "screened", "look_day")


def test_same_seed_same_conduct_and_replicate_prefix():
    cfg = _realistic()
    a = simulate_conduct(cfg, [[10, 10]], fractions=(0.5, 1.0), replicates=6, seed=9)
    b = simulate_conduct(cfg, [[10, 10]], fractions=(0.5, 1.0), replicates=6, seed=9)
    c = simulate_conduct(cfg, [[10, 10]], fractions=(0.5, 1.0), replicates=3, seed=9)
    d = simulate_conduct(cfg, [[10, 10]], fractions=(0.5, 1.0), replicates=6, seed=10)
    for k in ARRAYS:
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)
        np.testing.assert_array_equal(getattr(a, k)[:3], getattr(c, k), err_msg=k)
    assert not np.array_equal(a.rand_day, d.rand_day)


def test_design_with_conduct_independent_of_chunk_order():
    sc = scenario(n_trials=2000, conduct={"sites": 3, "rate_per_site_month": 2.0,
                                          "withdrawal_per_month": 0.02, "replicates": 7})
    a = simulate_design(sc)
    b = simulate_design(sc, chunks=[1, 0])
    for k in a.trials:
        np.testing.assert_array_equal(a.trials[k], b.trials[k], err_msg=k)
    # trial i uses conduct replicate i mod R
    np.testing.assert_array_equal(a.trials["conduct_rep"], np.arange(2000) % 7)


def test_link_puts_each_group_in_enrolment_order():
    sc = scenario(**{"design.n_per_arm": 6},
                  conduct={"sites": 2, "rate_per_site_month": 1.0, "replicates": 4})
    res = conduct_design(build_design(sc))
    link = link_chunk(res, 0, 8)
    assert link.rep.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    for t in range(8):
        r = t % 4
        for sl in (slice(0, 6), slice(6, 12)):          # control, MSC
            assert np.all(np.diff(link.rand_day[t, sl]) >= 0)
        ctrl = np.sort(res.rand_day[r][res.arm[r] == 0])
        np.testing.assert_array_equal(link.rand_day[t, :6], ctrl)


# ----------------------------------------------------------------------------------------------
# link to power: the equivalence test
# ----------------------------------------------------------------------------------------------

UNLIMITED = {"sites": 3, "rate_per_site_month": math.inf, "replicates": 50}
MAR = {"rate": 0.3, "mechanism": "mar", "strength": 1.0, "intermittent": 0.05}


@pytest.mark.parametrize("changes", [
    {},
    {"endpoint.analysis": "mmrm", "dropout": MAR},
    {"dropout": {"rate": 0.2}, "arms": [{"name": "low", "effect_scale": 0.5}, {"name": "high"}],
     "multiplicity": {"method": "holm"}, "design.allocation_ratio": None},
], ids=["ancova", "mmrm_mar_dropout", "two_arms_holm_mcar"])
def test_unlimited_capacity_instant_recruitment_reproduces_plain_path(changes):
    plain = scenario(n_trials=1000, **changes)
    conduct = scenario(n_trials=1000, conduct=UNLIMITED, **changes)
    a = simulate_design(plain)
    b = simulate_design(conduct)
    assert a.trials.keys() <= b.trials.keys()
    for k in a.trials:
        np.testing.assert_array_equal(a.trials[k], b.trials[k], err_msg=k)
    ra = {(r["hypothesis"], r["metric"], r["visit"]): r["estimate"] for r in a.rows()}
    rb = {(r["hypothesis"], r["metric"], r["visit"]): r["estimate"] for r in b.rows()}
    for key, v in ra.items():
        assert rb[key] == v or (math.isnan(v) and math.isnan(rb[key])), key
    # and the trial lasts exactly 12 months (everyone randomised and infused on day 0)
    np.testing.assert_allclose(b.trials["conduct_duration"], 12 * M)


def test_gsd_with_instant_recruitment_interim_sees_the_final_data():
    # every endpoint visit falls on day 12 M, so the 50% look already has all the data: the
    # interim z equals the final z exactly
    sc = scenario(n_trials=1000, **{"design.sides": 1, "design.alpha": 0.025},
                  sequential={"fractions": [0.5, 1.0]}, conduct=UNLIMITED)
    res = simulate_design(sc)
    z = res.trials["point_gsd_z"]
    np.testing.assert_array_equal(z[:, 0], z[:, 1])
    np.testing.assert_allclose(res.trials["conduct_look_day"], 12 * M)


def test_gsd_interim_has_half_the_endpoint_data():
    # staggered recruitment, windows (no ties): look 1 is at the ceil(C / 2)-th endpoint visit
    cfg = {"sites": 4, "rate_per_site_month": 2.0, "visit_window_days": 10,
           "withdrawal_per_month": 0.01, "replicates": 30}
    sc = scenario(n_trials=1000, **{"design.sides": 1, "design.alpha": 0.025},
                  sequential={"fractions": [0.5, 1.0]}, conduct=cfg)
    c = conduct_design(build_design(sc))
    C = c.observed[..., 2].sum(axis=1)
    np.testing.assert_array_equal(c.look_counts()["with_endpoint"][:, 0], np.ceil(C / 2))
    res = simulate_design(sc)
    z = res.trials["point_gsd_z"]
    assert np.all(z[:, 0] != z[:, 1])
    ld = res.trials["conduct_look_day"]
    assert np.all(ld[:, 0] < ld[:, 1])
    # the trial ends at the stopping look
    look = res.trials["point_gsd_look"]
    np.testing.assert_array_equal(res.trials["conduct_duration"], ld[np.arange(1000), look])


def test_conduct_withdrawal_reduces_observed_data_as_expected():
    h = 0.03
    sc = scenario(n_trials=1000, conduct={**UNLIMITED, "withdrawal_per_month": h,
                                          "replicates": 200})
    res = simulate_design(sc)
    p = math.exp(-12 * h)
    est, _ = res.metric("observed_fraction")           # control arm, month 3 first
    rows = [r for r in res.rows() if r["metric"] == "observed_fraction" and r["visit"] == 12]
    # the 1000 trials reuse 200 conducts x 60 patients: the tolerance counts those patients
    for r in rows:
        assert abs(r["estimate"] - p) <= binom_tol(p, 200 * 30), r
    assert 0 < est < 1


def test_design_rows_report_duration_and_conduct_metrics():
    sc = scenario(n_trials=1000, conduct={"sites": 4, "ramp_months": 3,
                                          "rate_per_site_month": 1.5, "replicates": 40})
    res = simulate_design(sc)
    rows = [r for r in res.rows() if r["hypothesis"] == "conduct"]
    names = {r["metric"] for r in rows}
    assert {"duration_days", "mean_duration_days", "last_randomisation_day",
            "first_infusion_delay_days", "screened"} <= names
    for r in rows:
        if math.isfinite(r["estimate"]) and not r["metric"].startswith("mean_"):
            assert r["q10"] <= r["estimate"] <= r["q90"], r
    d = next(r for r in rows if r["metric"] == "duration_days")
    x = res.trials["conduct_duration"]
    assert d["estimate"] == pytest.approx(np.median(x))
    assert d["estimate"] > 12 * M                      # recruitment takes time
    assert "duration" in res.summary() and "last patient last visit" in res.summary()


# ----------------------------------------------------------------------------------------------
# summaries
# ----------------------------------------------------------------------------------------------

def test_median_mc_se_matches_the_spread_of_medians():
    # 400 independent samples of 500 normals: the SD of their medians is the true MC SE of a
    # median; the reported SE should match it (the SD's own relative SE is 1/sqrt(2 * 399))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 500))
    sd = np.median(x, axis=1).std(ddof=1)
    se = np.mean([median_mc_se(row) for row in x])
    assert abs(se / sd - 1) <= 3 / math.sqrt(2 * 399) + 0.05
    assert math.isnan(median_mc_se(np.arange(5.0)))


def test_conduct_rows_are_medians_with_bands():
    res = simulate_conduct(_realistic(), [[10, 10]], fractions=(0.5, 1.0), replicates=30,
                           seed=1, name="x", design_point=10)
    pr = res.per_replicate()
    rows = {(r["metric"], r["visit"]): r for r in res.rows()}
    r = rows[("lplv_day", "")]
    assert r["estimate"] == pytest.approx(np.median(pr["lplv_day"]))
    assert r["q10"] == pytest.approx(np.quantile(pr["lplv_day"], 0.1))
    assert r["mc_se"] == pytest.approx(median_mc_se(pr["lplv_day"]))
    looks = [rows[("look_day", f"look {i} ({f})")]["estimate"] for i, f in ((1, 0.5), (2, 1))]
    assert looks[0] < looks[1]
    cur = res.enrolment_curve(points=50)
    assert cur["randomised_median"].iloc[-1] == 20
    assert np.all(np.diff(cur["randomised_median"]) >= 0)
    assert np.all(cur["randomised_q10"] <= cur["randomised_q90"])
    assert 0 < np.nanmedian(pr["bed_utilisation"]) < 1


# ----------------------------------------------------------------------------------------------
# [conduct] validation
# ----------------------------------------------------------------------------------------------

GOOD = {"sites": 4, "rate_per_site_month": 1.0}


@pytest.mark.parametrize("conduct, match", [
    ({**GOOD, "chair": 2}, r"conduct\.chair is not a known key \(did you mean chairs\?\)"),
    ({"rate_per_site_month": 1.0}, r"conduct\.sites is required"),
    ({"sites": 4}, r"conduct\.rate_per_site_month is required"),
    ({**GOOD, "sites": 0}, r"conduct\.sites = 0 must be >= 1 \(e\.g\. sites = 10\)"),
    ({**GOOD, "rate_per_site_month": -1}, r"conduct\.rate_per_site_month = -1\.0 must be >= 0\.01"),
    ({**GOOD, "activation_months": [0, 1]},
     r"conduct\.activation_months = \[0, 1\] must list one month per site \(4 numbers"),
    ({**GOOD, "activation_months": [0, 1, 2, 3], "ramp_months": 3},
     r"conduct\.ramp_months = 3 cannot be combined with activation_months"),
    ({**GOOD, "activation_months": [0, 1, -2, 3]},
     r"conduct\.activation_months\[2\] = -2\.0 must be >= 0"),
    ({**GOOD, "chairs": 0}, r"conduct\.chairs = 0 must be >= 1 \(e\.g\. chairs = 2 \(or inf\)\)"),
    ({**GOOD, "beds": 1.5}, r"conduct\.beds = 1\.5 must be an integer"),
    ({**GOOD, "arrivals": "poison"}, r'conduct\.arrivals = "poison" must be one of .*did you '
                                     r'mean "poisson"\?'),
    ({**GOOD, "visit_window_days": 50},
     r"conduct\.visit_window_days = 50\.0 must be < 45\.6562 \(half the shortest gap"),
    ({**GOOD, "screen_fail": 1.0}, r"conduct\.screen_fail = 1\.0 must be <= 0\.99"),
    ({**GOOD, "manufacturing": {"doses_per_patient": 2}, "regimen": {"infusions": 3}},
     r"conduct\.manufacturing\.doses_per_patient = 2 must be 1 \(one lot .*\) or 3"),
    ({**GOOD, "manufacturing": {"batch_day": 7}},
     r"conduct\.manufacturing\.batch_day = 7\.0 must be < batch_interval_days = 7"),
    ({**GOOD, "manufacturing": {"batch_capacity": 2}, "regimen": {"infusions": 3}},
     r"conduct\.manufacturing\.batch_capacity = 2 must be >= doses_per_patient = 3"),
    ({**GOOD, "manufacturing": {"release_delay": 21}},
     r"conduct\.manufacturing\.release_delay is not a known key \(did you mean "
     r"release_delay_days\?\)"),
    ({**GOOD, "regimen": {"infusion": 3}},
     r"conduct\.regimen\.infusion is not a known key \(did you mean infusions\?\)"),
    ({**GOOD, "regimen": {"interval_days": 0.5}},
     r"conduct\.regimen\.interval_days = 0\.5 must be >= the chair \+ bed time"),
    ({**GOOD, "regimen": {"placebo": "yes"}}, r'conduct\.regimen\.placebo = "yes" must be true '
                                              r"or false"),
    (5, r"conduct = 5 must be a table"),
])
def test_bad_conduct_keys_give_one_line_errors(conduct, match):
    data = copy.deepcopy(BASE)
    data["conduct"] = conduct
    with pytest.raises(ScenarioError, match=match) as exc:
        parse_scenario(data)
    assert "\n" not in str(exc.value)
    assert str(exc.value).startswith("scenario error: ")


def test_conduct_round_trip_hash_and_full_kernel():
    c = {"sites": 3, "activation_months": [0, 1.5, 4], "rate_per_site_month": 0.8,
         "chairs": 2, "beds": math.inf, "screen_fail": 0.1,
         "manufacturing": {"batch_capacity": 4, "release_delay_days": 21},
         "regimen": {"infusions": 3}}
    sc = scenario(conduct=c)
    assert kernel_for(build_design(sc)) == "full"
    again = parse_scenario(sc.to_dict())
    assert again.conduct == sc.conduct
    assert again.hash() == sc.hash()
    plain = sc.replace(conduct=None)
    assert plain.conduct is None and plain.hash() != sc.hash()
    assert sc.conduct.manufacturing.doses_per_patient == 3        # default: one per infusion
    assert sc.conduct.activation_days == pytest.approx((0.0, 1.5 * M, 4 * M))
    json.dumps(sc.to_dict(), default=str)


# ----------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------

CONDUCT_TOML = """\
name = "cli_conduct"
seed = 7
n_trials = 200

[population]
preset = "t1d"

[endpoint]
outcome = "hba1c"
visit_months = 12

[effect]
source = "fixed"
md = -1.0

[design]
n_per_arm = 12
target_power = [0.5]

[conduct]
sites = 3
ramp_months = 2
rate_per_site_month = 1.0
beds = 1
replicates = 30

[conduct.manufacturing]
batch_capacity = 3
release_delay_days = 14

[conduct.regimen]
infusions = 3
interval_days = 7
"""


def test_cli_run_writes_conduct_outputs(tmp_path, capsys):
    path = tmp_path / "cli_conduct.toml"
    path.write_text(CONDUCT_TOML)
    rc = main(["run", str(path), "--out", str(tmp_path / "o"), "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    folder = tmp_path / "o" / "cli_conduct"
    assert {"results.csv", "power_curve.png", "manifest.json", "conduct.png"} <= {
        p.name for p in folder.iterdir()}
    assert "last patient last visit" in out and "duration" in out
    import pandas as pd
    df = pd.read_csv(folder / "results.csv")
    d = df[(df["table"] == "design") & (df["hypothesis"] == "conduct")]
    assert {"duration_days", "mean_duration_days", "screened"} <= set(d["metric"])
    assert {"q10", "q90"} <= set(df.columns)
    man = json.loads((folder / "manifest.json").read_text())
    assert man["conduct"]["config"]["sites"] == 3
    assert man["conduct"]["replicates"] == 30
    assert "conduct.png" in man["files"]


def test_placebo_doses_share_the_batches():
    # blinded supply: 2 placebo patients on day 0 also take batch slots (capacity 1 a week,
    # released 2 days after the batch start): infusions on days 2 and 9
    cfg = _cfg(rate_per_site_month=math.inf,
               manufacturing={"batch_capacity": 1, "release_delay_days": 2,
                              "placebo_doses": True})
    res = simulate_conduct(cfg, [[2, 0]], replicates=1)
    np.testing.assert_allclose(res.infusion_day[0, :, 0], [2, 9])
    no = simulate_conduct(_cfg(rate_per_site_month=math.inf,
                               manufacturing={"batch_capacity": 1, "release_delay_days": 2}),
                          [[2, 0]], replicates=1)
    np.testing.assert_allclose(no.infusion_day[0, :, 0], [0, 0])
