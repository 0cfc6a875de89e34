"""The design engine (simtrial.sim.full): dropout, MMRM / MI, arms, strata, responders,
multiplicity, interim looks and margins.

Statistical checks compare simulated rates with alpha (or a closed form) using tolerances computed
from the Monte Carlo SE in the test (``binom_tol``); the MMRM and tests themselves are checked
against independent fits in test_mmrm.py / test_binary.py / test_multiplicity.py / test_gsd.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simtrial.stats.closed_form import power_ancova
from simtrial.errors import ScenarioError
from simtrial.model.design import build_design, dropout_hazards, group_sizes
from simtrial.sim.driver import kernel_for
from simtrial.oc.run import simulate

from .helpers import binom_tol, scenario


def simulate_design(sc, n=None, **kw):
    """The full patient kernel at one control-arm size (default the design N)."""
    dm = sc if not hasattr(sc, "design") or not hasattr(sc, "models") else sc
    n = (dm.scenario if hasattr(dm, "models") else dm).design.n_per_arm if n is None else n
    return simulate(dm, [n], kernel="full", keep=[n], **kw)[n]

ALPHA = 0.05


def _null(**changes):
    base = {"effect.md": 0.0, "design.n_per_arm": 40, "n_trials": 4000}
    base.update(changes)
    return scenario(**base)


MCAR = {"dropout": {"rate": 0.25, "intermittent": 0.05}}
MAR = {"dropout": {"rate": 0.3, "mechanism": "mar", "strength": 1.5, "intermittent": 0.05}}


def _with(sc_changes: dict, extra: dict):
    ch = dict(sc_changes)
    for k, v in extra.items():
        ch[k] = v
    return _null(**ch)


def _power(res, label="primary"):
    return res.metric("power", label)


# ----------------------------------------------------------------------------------------------
# type I error of every analysis under MCAR and MAR dropout
# ----------------------------------------------------------------------------------------------

CONTINUOUS = ["ancova", "ttest_change", "mmrm"]


@pytest.mark.parametrize("analysis", CONTINUOUS)
@pytest.mark.parametrize("mech", ["mcar", "mar"])
def test_type_i_error_continuous_analyses_with_dropout(analysis, mech):
    drop = MCAR if mech == "mcar" else MAR
    sc = _with({"endpoint.analysis": analysis}, drop)
    res = simulate_design(sc)
    p, se = _power(res)
    assert abs(p - ALPHA) <= binom_tol(ALPHA, res.n_trials), (analysis, mech, p)
    assert res.metric("not_fitted", "primary")[0] == 0


@pytest.mark.slow
@pytest.mark.parametrize("mech", ["mcar", "mar"])
def test_type_i_error_multiple_imputation_with_dropout(mech):
    drop = MCAR if mech == "mcar" else MAR
    sc = _with({"endpoint.analysis": "mi", "endpoint.imputations": 10, "n_trials": 3000}, drop)
    res = simulate_design(sc)
    p, _ = _power(res)
    # Rubin's rules with Barnard-Rubin df are close to nominal, slightly conservative
    assert abs(p - ALPHA) <= binom_tol(ALPHA, res.n_trials), (mech, p)


RESP = {"endpoint.type": "responder", "endpoint.outcome": None,
        "endpoint.responder": [{"outcome": "hba1c", "max": 7.5}]}


@pytest.mark.parametrize("analysis", ["chisq", "fisher", "cmh", "logistic"])
@pytest.mark.parametrize("mech", ["mcar", "mar"])
def test_type_i_error_responder_tests_with_dropout(analysis, mech):
    drop = MCAR if mech == "mcar" else MAR
    sc = _with({**RESP, "endpoint.analysis": analysis, "design.n_per_arm": 60}, drop)
    res = simulate_design(sc)
    p, _ = _power(res)
    tol = binom_tol(ALPHA, res.n_trials)
    if analysis == "fisher":        # exact conditional test: conservative
        assert p <= ALPHA + tol, p
    else:
        assert abs(p - ALPHA) <= tol, (analysis, mech, p)


def test_responder_rates_are_equal_under_the_null_and_nri_counts_missing_as_failures():
    sc = _with({**RESP, "endpoint.analysis": "chisq"}, MCAR)
    res = simulate_design(sc)
    r0, s0 = res.metric("responder_rate", "primary")
    rows = [r for r in res.rows() if r["metric"] == "responder_rate"]
    assert {r["arm"] for r in rows} == {"control", "MSC"}
    r1 = [r for r in rows if r["arm"] == "MSC"][0]["estimate"]
    assert abs(r0 - r1) < 4 * s0 * math.sqrt(2)
    cc = simulate_design(_with({**RESP, "endpoint.analysis": "chisq",
                                "endpoint.missing": "complete_case"}, MCAR))
    # non-responder imputation lowers the rate by the missing fraction (MCAR)
    rcc = cc.metric("responder_rate", "primary")[0]
    # observed fraction of the control arm at the final (endpoint) visit
    obs = [r["estimate"] for r in res.rows() if r["metric"] == "observed_fraction"
           and r["arm"] == "control" and r["visit"] == 12][0]
    assert 0.5 < obs < 1
    assert r0 == pytest.approx(rcc * obs, abs=0.01)


# ----------------------------------------------------------------------------------------------
# MMRM is unbiased under MAR where complete-case ANCOVA is not
# ----------------------------------------------------------------------------------------------

def test_mmrm_unbiased_under_mar_where_complete_case_is_biased():
    strong = {"dropout": {"rate": 0.45, "mechanism": "mar", "strength": 2.5}}
    common = {"effect.md": -0.8, "design.n_per_arm": 60, "n_trials": 3000,
              "outcome_model.visit_correlation": 0.9}
    mm = simulate_design(scenario(**{**common, **strong, "endpoint.analysis": "mmrm"}))
    cc = simulate_design(scenario(**{**common, **strong, "endpoint.analysis": "ancova"}))
    b_mm, se_mm = mm.metric("bias", "primary")
    b_cc, se_cc = cc.metric("bias", "primary")
    assert abs(b_mm) <= 3 * se_mm, (b_mm, se_mm)
    assert abs(b_cc) >= 8 * se_cc, (b_cc, se_cc)


# ----------------------------------------------------------------------------------------------
# plain design: the design engine agrees with the closed form
# ----------------------------------------------------------------------------------------------

def test_no_dropout_single_arm_ancova_matches_closed_form_power():
    sc = scenario(**{"endpoint.scale": "natural", "design.n_per_arm": 25, "n_trials": 6000,
                     "dropout": {"rate": 0.0}})
    assert kernel_for(build_design(sc)) == "suffstat"     # a no-op dropout keeps the fast path
    res = simulate_design(sc)                             # ... and the full kernel agrees
    vm = build_design(sc).models[0].endpoint
    k = build_design(sc).models[0].k_end
    exact = power_ancova(-0.5, float(vm.sigma[k]), 25, 25, ALPHA, 2)
    p, se = _power(res)
    assert abs(p - exact) <= 3 * se + 0.005, (p, exact)   # + O(1/n) covariate term


def test_log_scale_cpeptide_estimates_the_log_ratio():
    sc = scenario(**{"endpoint.outcome": "fasting_cpeptide", "endpoint.scale": "log",
                     "effect.md": 0.1, "design.n_per_arm": 40, "n_trials": 3000})
    res = simulate_design(sc)
    truth = res.design.hypotheses[0].truth
    m, s = res.metric("mean_estimate", "primary")
    assert truth == pytest.approx(float(res.design.models[0].delta["fasting_cpeptide"][-1]))
    assert abs(m - truth) <= 3 * s


# ----------------------------------------------------------------------------------------------
# dropout model
# ----------------------------------------------------------------------------------------------

def test_dropout_rate_is_spread_by_elapsed_time_and_observed_fraction_matches():
    sc = scenario(**{"dropout": {"rate": 0.2, "intermittent": 0.1}, "n_trials": 2000})
    p = dropout_hazards(sc, (3, 6, 12))
    assert 1 - np.prod(1 - p) == pytest.approx(0.2)
    assert p[2] > p[1] == pytest.approx(p[0])
    res = simulate_design(sc)
    obs, se = res.metric("observed_fraction")
    # month 3 row first: in study (1 - p1) and visit not missed (0.9)
    assert abs(obs - (1 - p[0]) * 0.9) <= 4 * se
    last = [r for r in res.rows() if r["metric"] == "observed_fraction" and r["visit"] == 12]
    for r in last:
        assert abs(r["estimate"] - 0.8 * 0.9) <= 4 * r["mc_se"] + 1e-3


def test_mar_dropout_depends_on_arm_through_observed_values():
    sc = scenario(**{"effect.md": -1.0, "dropout": {"rate": 0.3, "mechanism": "mar",
                                                   "strength": 2.0}, "n_trials": 1000})
    res = simulate_design(sc)
    last = {r["arm"]: r["estimate"] for r in res.rows() if r["metric"] == "observed_fraction"
            and r["visit"] == 12}
    assert last["MSC"] > last["control"] + 0.02     # better HbA1c -> fewer dropouts


# ----------------------------------------------------------------------------------------------
# arms, strata, enrichment
# ----------------------------------------------------------------------------------------------

THREE = {"arms": [{"name": "low", "effect_scale": 0.5}, {"name": "high", "effect_scale": 1.0}]}


def test_three_arm_power_increases_with_dose_and_sizes_follow_ratios():
    sc = scenario(**{"arms": [{"name": "low", "effect_scale": 0.5},
                              {"name": "high", "effect_scale": 1.0, "ratio": 2.0}],
                     "effect.md": -0.6, "n_trials": 2000})
    dm = build_design(sc)
    assert group_sizes(dm, 30).tolist() == [[30, 30, 60]]
    res = simulate_design(dm)
    lo, _ = res.metric("power", "primary:low")
    hi, _ = res.metric("power", "primary:high")
    assert hi > lo + 0.2
    assert res.design.hypotheses[0].truth == pytest.approx(-0.3)


def test_stratified_groups_are_exactly_balanced_and_effect_is_fraction_weighted():
    # at 100 per arm: the stratum-adjusted ANCOVA weights strata by their size only up to an
    # O(1/n) term (chance baseline imbalance is larger in smaller strata); about -0.008% at 25
    # per arm, -0.002% here, well inside 3 MC SE
    sc = scenario(**{"population.strata": {"t1d": 0.6, "t2d": 0.4}, "effect.source": "evidence",
                     "effect.md": None, "design.n_per_arm": 100, "n_trials": 2000})
    dm = build_design(sc)
    assert group_sizes(dm, 25).tolist() == [[15, 15], [10, 10]]
    assert dm.strata == ("t1d", "t2d")
    md = [float(m.md["hba1c"][-1]) for m in dm.models]
    assert dm.hypotheses[0].truth == pytest.approx(0.6 * md[0] + 0.4 * md[1])
    res = simulate_design(dm)
    m, s = res.metric("mean_estimate", "primary")
    assert abs(m - dm.hypotheses[0].truth) <= 3 * s


def test_enrichment_criteria_raise_screen_failures():
    plain = build_design(scenario(**{"dropout": {"rate": 0.1}}))
    enriched = build_design(scenario(**{"dropout": {"rate": 0.1},
                                        "population.criteria": {"fasting_cpeptide": [0.3, math.inf]}}))
    assert enriched.models[0].screen_fail_prob > plain.models[0].screen_fail_prob + 0.05


# ----------------------------------------------------------------------------------------------
# multiplicity under the global null
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["none", "bonferroni", "holm", "hochberg", "dunnett"])
def test_fwer_three_arms_global_null(method):
    ch = {"arms": [{"name": "a"}, {"name": "b"}, {"name": "c"}], "n_trials": 6000,
          "design.n_per_arm": 20}
    if method != "none":
        ch["multiplicity"] = {"method": method}
    res = simulate_design(_null(**ch))
    fwer, se = res.metric("fwer", "family")
    tol = binom_tol(ALPHA, res.n_trials)
    if method == "none":
        assert fwer > ALPHA + 5 * se          # the problem multiplicity solves
    elif method == "dunnett":
        assert abs(fwer - ALPHA) <= tol       # exact for normal data
    else:
        assert fwer <= ALPHA + tol


def test_hierarchical_gatekeeping_never_tests_after_a_failed_gate():
    ch = {"arms": [{"name": "a"}, {"name": "b"}], "multiplicity": {"method": "hierarchical",
                                                                   "within": "holm"},
          "endpoints": [{"name": "ins", "outcome": "insulin_dose", "visit_months": 12},
                        {"name": "fbg", "outcome": "fbg", "visit_months": 6}],
          "effect.md": -0.4, "effect.outcomes": {"insulin_dose": 0.0, "fbg": 0.0},
          "n_trials": 3000}
    res = simulate_design(scenario(**ch))
    rej = res.trials["point_reject"]
    tested = res.trials["point_tested"]
    assert not (rej & ~tested).any()
    gate1 = rej[:, 0:2].all(axis=1)
    assert (tested[:, 2:4] == gate1[:, None]).all()
    gate2 = gate1 & rej[:, 2:4].all(axis=1)
    assert (tested[:, 4:6] == gate2[:, None]).all()
    fwer, se = res.metric("fwer", "family")       # insulin and FBG hypotheses are true nulls
    assert fwer <= ALPHA + binom_tol(ALPHA, res.n_trials)


def test_fixed_sequence_fwer_under_global_null():
    ch = {"multiplicity": {"method": "fixed_sequence"},
          "endpoints": [{"name": "ins", "outcome": "insulin_dose", "visit_months": 12}],
          "effect.outcomes": {"insulin_dose": 0.0}, "n_trials": 6000}
    res = simulate_design(_null(**ch))
    fwer, _ = res.metric("fwer", "family")
    assert fwer <= ALPHA + binom_tol(ALPHA, res.n_trials)


# ----------------------------------------------------------------------------------------------
# group-sequential design
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spending", ["obf", "pocock"])
def test_group_sequential_null_rejects_at_alpha(spending):
    sc = _null(**{"sequential": {"looks": 2, "spending": spending}, "design.alpha": 0.025,
                  "design.sides": 1, "n_trials": 8000, **MCAR})
    res = simulate_design(sc)
    p, _ = _power(res)
    assert abs(p - 0.025) <= binom_tol(0.025, res.n_trials), p
    e1 = res.metric("stop_efficacy")[0]
    assert e1 == pytest.approx(res.design.boundaries.cumulative_alpha[0], abs=binom_tol(0.01, 8000))


def test_group_sequential_futility_stops_and_expected_patients():
    sc = scenario(**{"sequential": {"fractions": [0.5, 1.0], "futility": [0.0]},
                     "design.alpha": 0.025, "design.sides": 1, "n_trials": 3000})
    res = simulate_design(sc)
    en, _ = res.metric("expected_patients")
    full = res.metric("max_patients")[0]
    stops = res.trials["point_gsd_look"] == 0
    assert en == pytest.approx(full - stops.mean() * full / 2, abs=1.0)
    assert res.metric("stop_futility")[0] > 0


# ----------------------------------------------------------------------------------------------
# margins
# ----------------------------------------------------------------------------------------------

def test_noninferiority_at_the_margin_rejects_at_alpha():
    # HbA1c: lower is better; MSC worse by exactly the margin is the NI null boundary
    sc = scenario(**{"effect.md": 0.3, "endpoint.hypothesis": "noninferiority",
                     "endpoint.margin": 0.3, "design.sides": 1, "design.alpha": 0.025,
                     "n_trials": 8000})
    res = simulate_design(sc)
    assert res.design.hypotheses[0].true_null
    p, _ = _power(res)
    assert abs(p - 0.025) <= binom_tol(0.025, res.n_trials)
    better = simulate_design(sc.replace(**{"effect.md": 0.0}))
    assert _power(better)[0] > p + 0.05


def test_superiority_margin_at_its_boundary_rejects_at_alpha():
    sc = scenario(**{"effect.md": -0.3, "endpoint.margin": 0.3, "design.sides": 1,
                     "design.alpha": 0.025, "n_trials": 8000})
    res = simulate_design(sc)
    assert res.design.hypotheses[0].m0 == pytest.approx(-0.3)
    p, _ = _power(res)
    assert abs(p - 0.025) <= binom_tol(0.025, res.n_trials)


# ----------------------------------------------------------------------------------------------
# reproducibility
# ----------------------------------------------------------------------------------------------

def test_same_seed_same_numbers_any_workers_and_chunk_order():
    sc = scenario(**{**MAR, "endpoint.analysis": "mmrm", "n_trials": 2500, **THREE,
                     "multiplicity": {"method": "holm"}})
    a = simulate_design(sc)
    b = simulate_design(sc, workers=2)
    c = simulate_design(sc, chunks=[2, 0, 1])
    for k in a.trials:
        np.testing.assert_array_equal(a.trials[k], b.trials[k])
        np.testing.assert_array_equal(a.trials[k], c.trials[k])
    d = simulate_design(sc, n_trials=1200)
    np.testing.assert_array_equal(a.trials["point_est"][:1200], d.trials["point_est"])


def test_assurance_with_a_predictive_distribution_and_dropout():
    sc = scenario(**{"effect.source": "evidence", "effect.md": None,
                     "effect.distribution": "predictive", "dropout": {"rate": 0.2},
                     "design.n_per_arm": 20, "n_trials": 3000})
    res = simulate_design(sc)
    a, sa = res.metric("assurance", "primary")
    p, sp = res.metric("power", "primary")
    assert a < p - 3 * math.hypot(sa, sp)     # uncertainty about the effect lowers success
    assert res.trials["theta"].std() > 0.2


# ----------------------------------------------------------------------------------------------
# scenario errors (one line, key path, value, rule)
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"dropout": {"rate": 1.2}}, r"^scenario error: dropout\.rate = 1\.2 must be < 1"),
    ({"dropout": {"rate": 0.1, "mechanism": "mar"}}, r"dropout\.strength is required"),
    ({"dropout": {"rate": 0.1, "per_visit": [0.1, 0.1, 0.1]}}, r"exactly one of rate"),
    ({"dropout": {"per_visit": [0.1, 0.1]}}, r"dropout\.per_visit = \[0\.1, 0\.1\] must be 3 numbers"),
    ({"endpoint.analysis": "mmrmm"}, r'did you mean "mmrm"'),
    ({"endpoint.scale": "log"}, r"endpoint\.scale = \"log\" is only for outcomes on a ratio scale"),
    ({"endpoint.hypothesis": "noninferiority"}, r"endpoint\.margin is required"),
    ({"endpoint.hypothesis": "noninferiority", "endpoint.margin": 0.3},
     r"design\.sides = 2 must be 1"),
    ({"arms": [{"name": "control"}]}, r'arms\[0\]\.name = "control" must be a short unique name'),
    ({"arms": [{"name": "a"}], "design.allocation_ratio": 2.0},
     r"design\.allocation_ratio is not used with \[\[arms\]\]"),
    ({"multiplicity": {"method": "dunnett"}}, r"needs at least two \[\[arms\]\]"),
    ({"multiplicity": {"method": "holm"}}, r"needs at least two hypotheses"),
    ({"sequential": {"looks": 2, "fractions": [0.5, 1]}}, r"exactly one of looks"),
    ({"sequential": {"fractions": [0.6, 0.5, 1.0]}}, r"must increase and end at 1\.0"),
    ({"sequential": {"looks": 2, "spending": "hsd"}}, r"sequential\.gamma is required"),
    ({"sequential": {"looks": 2, "futility": [0.0]}}, r"design\.sides = 2 must be 1"),
    ({"population.strata": {"t1d": 0.5, "t2d": 0.4}}, r"fractions must sum to 1"),
    ({"population.strata": {"t1d": 0.5, "t3d": 0.5}}, r"t3d is not a known key"),
    ({"endpoints": [{"name": "x", "type": "responder", "visit_months": 12}]},
     r"endpoints\[0\]\.responder = None must be a non-empty list"),
    ({"endpoint.type": "responder", "endpoint.outcome": None,
      "endpoint.responder": [{"outcome": "hba1c"}]},
     r"needs a bound"),
    ({"effect.outcomes": {"hba1c": 0.0}}, r"names the primary outcome"),
])
def test_design_keys_give_one_line_errors(changes, message):
    with pytest.raises(ScenarioError, match=message) as ei:
        scenario(**changes)
    assert "\n" not in str(ei.value)


def test_scenario_with_design_keys_round_trips():
    sc = scenario(**{**THREE, **MAR, "multiplicity": {"method": "hochberg"},
                     "endpoints": [{"name": "ins", "outcome": "insulin_dose", "visit_months": 6}],
                     "effect.outcomes": {"insulin_dose": -5.0}})
    from simtrial.scenario import parse_scenario
    again = parse_scenario(sc.to_dict())
    assert again == sc.replace()
    assert again.hash() == sc.hash()
    assert sc.visit_months == (3, 6, 12)
