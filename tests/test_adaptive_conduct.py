"""[adaptive] on the [conduct] calendar: the interim is a calendar day, stage 1 the patients
with the endpoint visit done by then, the pipeline patients in stage 2.

Oracles: the patients path without conduct (on a calendar with no pipeline patient, whose
stage 1 is the first ``group_sizes(n1)`` patients of each group, the two give the same numbers,
trial for trial); the conduct replicates' own arrays (the interim day, the pipeline and the
duration recomputed from them here); the null calibration of the inverse-normal test with MAR
dropout, conduct withdrawal and pipeline patients (type I error within 3 MC SE of alpha).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from simtrial.errors import SimtrialError
from simtrial.model.design import build_design, group_sizes
from simtrial.oc import adaptive as OA
from simtrial.oc.run import power
from simtrial.scenario import parse_scenario
from simtrial.sim.conduct import MONTH_DAYS, conduct_design

from .helpers import assert_same_arrays, assert_scenario_error, changed
from .test_adaptive import BASE, DESIGN_A
from .test_adaptive_selection import ARMS, MAR

ALPHA = 0.025
CONDUCT = {"sites": 6, "ramp_months": 3, "rate_per_site_month": 2.0, "screening_days": 14,
           "withdrawal_per_month": 0.005, "visit_window_days": 14, "replicates": 100}
"""About 12 randomised a month: a large pipeline at a 12-month interim."""
SELECT = {"interim": 0.5, "selection": "epsilon", "epsilon": 0.1, "select_threshold": 0.0,
          "select_visit_months": 6}


def _dm(adaptive: dict, conduct: dict | None = CONDUCT, arms=None, **changes):
    d = changed(BASE, adaptive=adaptive, **changes)
    if conduct is not None:
        d["conduct"] = conduct
    if arms is not None:
        d["arms"] = arms
    return build_design(parse_scenario(d))


def _staged(cres, dm, n1: int, seed: int = 7):
    """``cres`` with a calendar that has no pipeline patient: in every replicate the first
    ``M = sum(group_sizes(n1))`` randomised are the first ``group_sizes(n1)`` of each group (in
    a random order), one a day from day 0, and everyone else is randomised after the last of
    their endpoint visits; no visit window, no withdrawal."""
    sizes = group_sizes(dm, n1).ravel()
    top = np.asarray(cres.sizes).ravel()
    first = np.repeat(np.arange(top.size), sizes)
    rest = np.repeat(np.arange(top.size), top - sizes)
    R, N = cres.rand_day.shape
    M = first.size
    g = np.random.default_rng(seed)
    group = np.stack([np.r_[g.permutation(first), g.permutation(rest)] for _ in range(R)])
    k = np.arange(N, dtype=float)
    gap = M + max(cres.visits) * MONTH_DAYS + 1.0
    rand = np.broadcast_to(np.where(k < M, k, gap + k), (R, N)).copy()
    vd = rand[..., None] + np.asarray(cres.visits, dtype=float) * MONTH_DAYS
    return dataclasses.replace(cres, group=group, rand_day=rand, visit_day=vd,
                               observed=np.ones(vd.shape, dtype=bool),
                               withdraw_day=np.full((R, N), np.inf))


# ---------------------------------------------------------------------------------------------
# (1) no pipeline: the conduct path is the patients path, trial for trial
# ---------------------------------------------------------------------------------------------

# Why a built calendar: a real conduct's randomisation list is a random permutation, so the
# first M patients to reach the endpoint are not exactly group_sizes(n1) per group (the patients
# path's stage 1), and a conduct whose recruitment stops before the interim still has everyone
# else randomised without the endpoint (pipeline). The built calendar keeps the conduct path's
# every step (link, interim day, stage masks, visits done by the day, recruitment, duration)
# and removes only those two differences.
@pytest.mark.parametrize("case", ["ssr_mar_futility", "ssr_mmrm_obf", "selection_6m_mar"])
def test_without_pipeline_the_calendar_changes_no_decision(case):
    if case == "ssr_mar_futility":
        kw = dict(adaptive=dict(DESIGN_A, futility="cp", futility_cp=0.2), dropout=MAR)
    elif case == "ssr_mmrm_obf":
        kw = dict(adaptive={"interim": 0.5, "rule": "promising_zone", "max_n_per_arm": 120,
                            "efficacy": "obf"},
                  dropout={"rate": 0.15}, **{"endpoint.analysis": "mmrm"})
    else:
        kw = dict(adaptive=SELECT, dropout=MAR, arms=ARMS,
                  **{"effect.md": -0.4, "design.n_per_arm": 40})
    dm_c = _dm(conduct=dict(CONDUCT, replicates=40), **kw)
    dm_0 = _dm(conduct=None, **kw)
    n = dm_c.scenario.design.n_per_arm
    p = OA.simulate(dm_0, n, n_trials=1000, seed=3, kernel="full").plan
    n_max = p.n1 + p.max_stage2
    cres = _staged(conduct_design(dm_c, n_max, replicates=40, seed=3), dm_c, p.n1)
    a = OA.simulate(dm_c, n, n_trials=2000, seed=3, workers=2, conduct=cres)
    b = OA.simulate(dm_0, n, n_trials=2000, seed=3, workers=2, kernel="full")
    assert a.plan.kernel == b.plan.kernel == "patients"
    assert not a.arrays["effect_pipeline"].any()
    assert_same_arrays(b.arrays, a.arrays, 1e-12)
    # the decisions are not all alike (the comparison can fail)
    assert 0 < a.arrays["effect_reject"].mean() < 1
    M = int(group_sizes(dm_c, p.n1).sum())
    k_sel = dm_c.visits.index(6) if case.startswith("selection") else dm_c.visits.index(12)
    day = (M - 1) + dm_c.visits[k_sel] * MONTH_DAYS
    np.testing.assert_allclose(a.arrays["null_interim_day"], day, rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# (3) the interim day and the calendar outcomes from the conduct arrays
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("adaptive", [dict(DESIGN_A, futility="cp", futility_cp=0.2), SELECT],
                         ids=["ssr", "selection_6m"])
def test_interim_day_is_the_m_th_visit_done_in_the_conduct(adaptive):
    sel = "selection" in adaptive
    kw = dict(arms=ARMS, **{"effect.md": -0.4, "design.n_per_arm": 40}) if sel else {}
    dm = _dm(adaptive, dropout=MAR, **kw)
    n = dm.scenario.design.n_per_arm
    r = 1500
    sim = OA.simulate(dm, n, n_trials=r, seed=11, workers=2)
    cres = sim.conduct
    p = sim.plan
    assert cres.replicates == CONDUCT["replicates"]
    assert np.array_equal(cres.sizes, group_sizes(dm, p.n1 + p.max_stage2))
    M = int(group_sizes(dm, p.n1).sum())
    k = dm.visits.index(6 if sel else 12)
    rep = np.arange(r) % cres.replicates
    done = np.where(cres.observed[..., k], cres.visit_day[..., k], np.inf)[rep]   # (r, N)
    want = np.sort(done, axis=1)[:, M - 1]
    for cond in ("effect", "null"):
        day = sim.arrays[f"{cond}_interim_day"]
        np.testing.assert_array_equal(day, want)
        fin = np.where(np.isfinite(done), done, -np.inf).max(axis=1)
        assert np.all(done.min(axis=1) <= day) and np.all(day <= fin)
        assert np.all((done <= day[:, None]).sum(axis=1) >= M)
        pipe = ((cres.rand_day[rep] <= day[:, None]) & ~(done <= day[:, None])).sum(axis=1)
        np.testing.assert_array_equal(sim.arrays[f"{cond}_pipeline"], pipe)
        dur = sim.arrays[f"{cond}_duration_day"]
        stop = sim.arrays[f"{cond}_futility"] | sim.arrays[f"{cond}_efficacy"]
        np.testing.assert_array_equal(dur[stop], day[stop])
        lplv = cres.lplv()[rep]
        assert np.all(dur[~stop] > day[~stop]) and np.all(dur <= lplv + 1e-9)
    assert sim.arrays["null_pipeline"].mean() > 10          # the pipeline is real here
    assert 0 < sim.arrays["null_futility"].mean() < 1


def test_same_numbers_for_any_workers_and_chunk_order():
    dm = _dm(dict(DESIGN_A, futility="cp", futility_cp=0.2), dropout=MAR)
    a = OA.simulate(dm, 60, n_trials=2000, seed=5, workers=1)
    b = OA.simulate(dm, 60, n_trials=2000, seed=5, workers=2)
    c = OA.simulate(dm, 60, n_trials=2000, seed=5, workers=1, chunks=[1, 0])
    assert "null_interim_day" in a.arrays
    for k in a.arrays:
        assert np.array_equal(a.arrays[k], b.arrays[k], equal_nan=True), k
        assert np.array_equal(a.arrays[k], c.arrays[k], equal_nan=True), k


# ---------------------------------------------------------------------------------------------
# (2) null calibration with conduct, MAR dropout and pipeline patients
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_ssr_inverse_normal_keeps_alpha_on_the_calendar():
    """Design A (target CP 0.8, stage 2 30..120) on a 6-site conduct with withdrawal and
    visit windows, 20% MAR dropout: the interim at the 60th endpoint visit, about 140 patients
    in the pipeline; the inverse-normal test keeps alpha."""
    r = 40_000
    dm = _dm(dict(DESIGN_A), dropout=MAR, conduct=dict(CONDUCT, replicates=400))
    sim = OA.simulate(dm, 60, n_trials=r, seed=20261202, workers=2)
    rows = {(x["design_point"].split()[1], x["metric"]): x for x in OA.rows(dm, sim)}
    t1e = rows[("null", "type_i_error")]["estimate"]
    assert rows[("null", "pipeline_at_interim")]["estimate"] > 50
    assert abs(t1e - ALPHA) < 3 * math.sqrt(ALPHA * (1 - ALPHA) / r), t1e


# ---------------------------------------------------------------------------------------------
# (4) rows and text
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("arms", [None, ARMS], ids=["ssr", "selection"])
def test_calendar_rows_and_text_lines(arms):
    ad = dict(DESIGN_A) if arms is None else SELECT
    kw = {} if arms is None else {"effect.md": -0.4, "design.n_per_arm": 40}
    dm = _dm(ad, arms=arms, dropout=MAR, n_trials=1000, **kw)
    n = dm.scenario.design.n_per_arm
    sim = OA.simulate(dm, n, n_trials=1000, seed=dm.scenario.seed, workers=2)
    res = power(dm.scenario, n_trials=1000, workers=2)
    rows = {(r["design_point"].split()[1], r["metric"]): r for r in res.rows()
            if r["hypothesis"] == "adaptive"}
    for cond in ("effect", "null"):
        im, du = rows[(cond, "interim_month")], rows[(cond, "duration_months")]
        assert 0 < im["q10"] <= im["estimate"] <= im["q90"], im
        assert im["q90"] < du["estimate"] < 80 and du["q10"] <= du["q90"], du
        for row in (im, du, rows[(cond, "median_duration_months")],
                    rows[(cond, "pipeline_at_interim")]):
            assert math.isfinite(row["mc_se"]) and row["mc_se"] > 0, row
    # the MC SE counts the 100 conducts, not the 1000 trials
    dur = sim.arrays["null_duration_day"] / MONTH_DAYS
    se = OA.rows(dm, sim)
    row = next(r for r in se if r["design_point"].endswith("null")
               and r["metric"] == "duration_months")
    assert row["estimate"] == pytest.approx(rows[("null", "duration_months")]["estimate"])
    assert row["mc_se"] == pytest.approx(np.std(dur, ddof=1) / math.sqrt(100), rel=1e-12)
    text = res.summary()
    lines = [ln for ln in text.splitlines() if "interim month" in ln]
    assert len(lines) == 2, text
    du = rows[("effect", "duration_months")]
    assert f"duration {du['estimate']:.1f} ({du['mc_se']:.2f}) months" in lines[0]
    im = rows[("null", "interim_month")]
    assert f"interim month {im['estimate']:.1f} ({im['mc_se']:.1f}" in lines[1]


# ---------------------------------------------------------------------------------------------
# (5) refused combinations
# ---------------------------------------------------------------------------------------------

def test_blinded_sd_with_conduct_is_a_one_line_error():
    bl = {"interim": 0.5, "rule": "target_cp", "at": "planned", "planned_effect": -0.3,
          "blinded_sd": True, "min_stage2": 20, "max_stage2": 100}
    d = changed(BASE, adaptive=bl)
    parse_scenario(d)                       # valid without [conduct]
    d["conduct"] = CONDUCT
    assert_scenario_error(lambda: parse_scenario(d), "adaptive.blinded_sd = true is not "
                          "combined with [conduct] (blinded re-estimation is simulated on the "
                          "prefix path")


def test_conduct_replicates_must_fit_the_design():
    dm = _dm(dict(DESIGN_A))
    wrong = conduct_design(dm, 60, replicates=5)
    with pytest.raises(SimtrialError, match=r"^error: the conduct replicates have groups "
                                            r"\[\[60, 60\]\]; the adaptive design needs those "
                                            r"of n1 \+ max_stage2 = 150 per control arm"):
        OA.simulate(dm, 60, n_trials=100, seed=1, conduct=wrong)
    dm0 = _dm(dict(DESIGN_A), conduct=None)
    with pytest.raises(SimtrialError, match=r"^error: conduct replicates were given for a "
                                            r"scenario without \[conduct\]"):
        OA.simulate(dm0, 60, n_trials=100, seed=1, conduct=wrong)
