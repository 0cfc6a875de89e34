"""Calibration against real MSC trials (issue 11): the shipped scenarios in
``scenarios/calibration/`` reproduce each published figure within its tolerance.

Every figure is an arm-level rate or mean of the trial. The model's value is computed on the
patients the engine analyses (:func:`simtrial.sim.full.draw_patients`, one chunk of 1,000 replicate
trials at the trial's own size: 45,000+ patients per arm, so the Monte Carlo error is small and is
allowed for). Tolerance: a count must pass the exact two-sided binomial test of the observed
count at the model's probability at the 1% level (the model probability taken at the end of its
3-MC-SE interval nearest the observation); a mean must lie within z = 2.576 (99%) sampling SDs
of the trial *given the model* (``SD / sqrt(n)`` of the model's per-patient values) plus 3 Monte
Carlo SEs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import simtrial
from simtrial.sim.full import draw_patients

CAL = Path(__file__).resolve().parents[1] / "scenarios" / "calibration"
Z99 = 2.576


def _arms(path: Path):
    sc = simtrial.load_scenario(path)
    dm = simtrial.build_design(sc)
    d = draw_patients(dm, sc.seed, sc.design.n_per_arm)
    k = dm.visits.index(sc.endpoint.visit_months)
    out = {}
    for a, name in ((0, "control"), (1, "msc")):
        m = d.arm == a
        per = {"insulin_pct": 100.0 * (d.vals["insulin_dose"][:, m, k] - d.base["insulin_dose"][:, m])
               / d.base["insulin_dose"][:, m]}
        if "hba1c" in d.vals:
            per["hba1c_change"] = d.vals["hba1c"][:, m, k] - d.base["hba1c"][:, m]
            per["hba1c"] = d.vals["hba1c"][:, m, k]
        per["insulin_free"] = d.vals["insulin_dose"][:, m, k] == 0.0
        out[name] = {key: v.ravel() for key, v in per.items()}
    return sc, out


def _check_rate(x: np.ndarray, k_obs: int, n_obs: int, what: str) -> str:
    p = float(np.mean(x))
    mc = math.sqrt(max(p * (1 - p), 1e-12) / x.size)
    obs = k_obs / n_obs
    p_near = min(max(obs, p - 3 * mc), p + 3 * mc)
    pv = stats.binomtest(k_obs, n_obs, min(max(p_near, 1e-9), 1 - 1e-9)).pvalue
    assert pv >= 0.01, (f"{what}: simulated {p:.3f}, observed {k_obs}/{n_obs} = {obs:.3f} "
                        f"(binomial test p = {pv:.2g} < 0.01)")
    return f"{what}: simulated {p:.3f} vs observed {k_obs}/{n_obs} = {obs:.3f} (p = {pv:.2f})"


def _check_mean(x: np.ndarray, obs: float, n_obs: int, what: str) -> str:
    m, sd = float(np.mean(x)), float(np.std(x))
    tol = Z99 * sd / math.sqrt(n_obs) + 3 * sd / math.sqrt(x.size)
    assert abs(m - obs) <= tol, f"{what}: simulated {m:.3f}, observed {obs:.3f} (tolerance {tol:.3f})"
    return f"{what}: simulated {m:.3f} vs observed {obs:.3f}"


@pytest.fixture(scope="module")
def zang():
    return _arms(CAL / "zang2022_t2d.toml")


@pytest.fixture(scope="module")
def hu():
    return _arms(CAL / "hu2013_t1d_new_onset.toml")


def test_zang_2022(zang):
    sc, a = zang
    c, t = a["control"], a["msc"]
    assert (sc.design.n_per_arm, sc.design.n_msc(sc.design.n_per_arm)) == (46, 45)
    lines = [
        _check_mean(t["hba1c_change"], -1.31, 45, "HbA1c change MSC"),
        _check_mean(c["hba1c_change"], -0.63, 46, "HbA1c change placebo"),
        # composite HbA1c < 7% and insulin -50%: 20% (9/45) vs 4.55% (2/44)
        _check_rate((t["hba1c"] < 7.0) & (t["insulin_pct"] <= -50.0), 9, 45, "composite MSC"),
        _check_rate((c["hba1c"] < 7.0) & (c["insulin_pct"] <= -50.0), 2, 44, "composite placebo"),
        _check_mean(t["insulin_pct"], -27.78, 45, "insulin % change MSC"),
        _check_mean(c["insulin_pct"], -15.62, 46, "insulin % change placebo"),
        _check_rate(t["insulin_free"], 5, 45, "insulin-free MSC"),
    ]
    print("\n".join(lines))


def test_hu_2013(hu):
    sc, a = hu
    c, t = a["control"], a["msc"]
    assert (sc.design.n_per_arm, sc.design.n_msc(sc.design.n_per_arm)) == (14, 15)
    lines = [
        _check_rate(t["insulin_free"], 3, 15, "insulin-free MSC"),
        _check_rate(t["insulin_pct"] <= -50.0, 11, 15, "insulin down >= 50% MSC"),
        _check_rate(t["insulin_pct"] >= 15.0, 0, 15, "insulin up >= 15% MSC"),
        _check_rate(c["insulin_pct"] >= 15.0, 14, 14, "insulin up >= 15% control"),
        _check_rate(c["insulin_pct"] >= 45.0, 7, 14, "insulin up about 50% control"),
        _check_rate(c["insulin_free"], 0, 14, "insulin-free control"),
    ]
    print("\n".join(lines))


@pytest.mark.parametrize("path", sorted(CAL.glob("*.toml")), ids=lambda p: p.stem)
def test_calibration_scenarios_say_what_was_fitted(path):
    text = path.read_text()
    assert "FITTED" in text and "Observed" in text


def test_calibration_fails_when_the_model_is_wrong(zang):
    """The tolerance can fail: the old model's behaviour (no shared response, so the insulin
    effect is spread over everyone) misses the composite."""
    sc = simtrial.load_scenario(CAL / "zang2022_t2d.toml").replace(
        **{"outcome_model.heterogeneity": "none", "outcome_model.responder_fraction": None})
    dm = simtrial.build_design(sc)
    d = draw_patients(dm, sc.seed, 46)
    m = d.arm == 1
    comp = (d.vals["hba1c"][:, m, -1] < 7.0) & (
        100 * (d.vals["insulin_dose"][:, m, -1] - d.base["insulin_dose"][:, m])
        / d.base["insulin_dose"][:, m] <= -50.0)
    with pytest.raises(AssertionError):
        _check_rate(comp.ravel(), 9, 45, "composite MSC without shared response")
