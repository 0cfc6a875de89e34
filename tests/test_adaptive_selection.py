"""[adaptive] on the full kernel's patients: treatment selection in multi-arm designs with
closed testing, and sample-size re-estimation with dropout, MMRM and strata.

Oracles: the intersection tests and the closed test written again here from their definitions
(scipy's multivariate normal for Dunnett, a per-trial loop over the intersections); the patients
path against the prefix path on every design both serve (the same patients: equal numbers); the
null calibration of every valid design (family-wise error within 3 MC SE of alpha, or below it
where the design can only be conservative); rpact 3.3.4's ``getSimulationMultiArmMeans``
(computed once with R 4; values and calls recorded below; R is never run by the tests).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from simtrial.cli import main
from simtrial.model.design import build_design
from simtrial.oc import adaptive as OA
from simtrial.oc.run import power
from simtrial.scenario import load_scenario, parse_scenario
from simtrial.stats import adaptive as A

from .helpers import assert_same_arrays, assert_scenario_error, changed, run_refused
from .test_adaptive import BASE, DESIGN_A

SHIPPED = "scenarios/t1d_hba1c_12m_two_dose_selection.toml"
ARMS = [{"name": "low", "effect_scale": 0.5}, {"name": "high", "effect_scale": 1.0}]
MAR = {"rate": 0.2, "mechanism": "mar", "strength": 1.0}
ALPHA = 0.025


def _two_dose(adaptive: dict, **changes):
    """Control and two MSC doses (0.2 and 0.4 % HbA1c benefit), 80 per arm planned."""
    d = changed(BASE, adaptive=adaptive, **{"effect.md": -0.4, "design.n_per_arm": 80,
                                            "endpoint.analysis": "ttest_change", **changes})
    d["arms"] = ARMS
    return build_design(parse_scenario(d))


def _one_arm(adaptive: dict, **changes):
    return build_design(parse_scenario(changed(BASE, adaptive=adaptive, **changes)))


def _rows(dm, n_trials, seed=20261202, workers=2, kernel=None):
    sim = OA.simulate(dm, dm.scenario.design.n_per_arm, n_trials=n_trials, seed=seed,
                      workers=workers, kernel=kernel)
    return sim, {(r["design_point"].split()[1], r["metric"]): r for r in OA.rows(dm, sim)}


def _se(p, r):
    return math.sqrt(p * (1 - p) / r)


# ---------------------------------------------------------------------------------------------
# intersection tests, selection rules and the closed test, from their definitions
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("df", [math.inf, 25.0, 447.0, 5000.0])
def test_dunnett_p_is_the_multivariate_tail(df):
    """Against scipy's multivariate normal / t cdf (Genz-Bretz, tight tolerance)."""
    rng = np.random.default_rng(1)
    for k in (2, 3):
        n0, n = 40.0, rng.integers(20, 80, k).astype(float)
        lam = np.sqrt(n / (n + n0))
        corr = np.outer(lam, lam)
        np.fill_diagonal(corr, 1.0)
        t = rng.normal(1.0, 1.0, (5, k))
        act = np.ones((5, k), dtype=bool)
        act[0, 0] = False
        got = A.dunnett_p(t, np.broadcast_to(lam, (5, k)), act, np.full(5, df))
        for i in range(5):
            j = np.flatnonzero(act[i])
            m = np.full(j.size, t[i, j].max())
            sub = corr[np.ix_(j, j)]
            if j.size == 1:
                want = stats.norm.sf(m[0]) if math.isinf(df) else stats.t.sf(m[0], df)
            elif math.isinf(df):
                want = 1 - stats.multivariate_normal(np.zeros(j.size), sub, maxpts=10 ** 5,
                                                     abseps=1e-9, releps=0).cdf(
                    m, rng=np.random.default_rng(0))
            else:
                want = 1 - stats.multivariate_t(np.zeros(j.size), sub, df=df).cdf(
                    m, maxpts=10 ** 5, random_state=np.random.default_rng(0))
            assert abs(got[i] - want) < (1e-7 if math.isinf(df) else 1e-6), (k, i, got[i], want)


def test_bonferroni_and_simes_by_hand():
    z = np.array([[2.0, 1.0, 0.5], [0.1, 2.5, -1.0]])
    p = stats.norm.sf(z)
    pt = stats.t.sf(z, 30.0)
    np.testing.assert_allclose(A.intersection_p(z, np.ones((2, 3), dtype=bool), "bonferroni",
                                                df=np.full(2, 30.0)),
                               np.minimum(1, 3 * pt.min(axis=1)), atol=1e-15)
    act = np.array([[True, True, False], [True, True, True]])
    b = A.intersection_p(z, act, "bonferroni")
    assert b[0] == pytest.approx(min(1, 2 * p[0, :2].min()), abs=1e-15)
    assert b[1] == pytest.approx(min(1, 3 * p[1].min()), abs=1e-15)
    s = A.intersection_p(z, act, "simes")
    ps = np.sort(p[1])
    assert s[1] == pytest.approx(min(3 * ps[0], 3 * ps[1] / 2, ps[2]), abs=1e-15)
    assert np.isnan(A.intersection_p(z, np.zeros((2, 3), dtype=bool), "simes")).all()


def test_selection_rules_as_rpact():
    e = np.array([[0.1, 0.4, 0.35], [0.5, 0.2, -0.1], [-0.2, -0.1, -0.3]])
    np.testing.assert_array_equal(A.select_arms(e, "best"), [[0, 1, 0], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(A.select_arms(e, "r_best", r=2),
                                  [[0, 1, 1], [1, 1, 0], [1, 1, 0]])
    np.testing.assert_array_equal(A.select_arms(e, "epsilon", epsilon=0.1),
                                  [[0, 1, 1], [1, 0, 0], [1, 1, 0]])
    np.testing.assert_array_equal(A.select_arms(e, "all", threshold=0.0),
                                  [[1, 1, 1], [1, 1, 0], [0, 0, 0]])


def _closed_by_loop(z1, z2, sel, method, w1, w2, crit, lam1, lam2, df1, df2):
    """The closed test trial by trial and hypothesis by hypothesis."""
    trials, k = z1.shape
    out = np.zeros((trials, k), dtype=bool)
    subsets = [s for r in range(1, k + 1) for s in itertools.combinations(range(k), r)]
    for t in range(trials):
        rejected = {}
        for s in subsets:
            act1 = np.zeros((1, k), dtype=bool)
            act1[0, list(s)] = True
            act2 = act1 & sel[t]
            if not act2.any():
                rejected[s] = False
                continue
            p1 = A.intersection_p(z1[t:t + 1], act1, method, lam1[t:t + 1], df1[t:t + 1])[0]
            p2 = A.intersection_p(z2[t:t + 1], act2, method, lam2[t:t + 1], df2[t:t + 1])[0]
            c = w1 * stats.norm.isf(max(p1, 1e-300)) + w2 * stats.norm.isf(max(p2, 1e-300))
            rejected[s] = c >= crit
        for j in range(k):
            out[t, j] = sel[t, j] and all(v for s, v in rejected.items() if j in s)
    return out


@pytest.mark.parametrize("method", ["dunnett", "bonferroni", "simes"])
def test_closed_test_equals_the_loop(method):
    rng = np.random.default_rng(7)
    trials, k = 300, 3
    z1 = rng.normal(1.2, 1.0, (trials, k))
    z2 = rng.normal(1.2, 1.0, (trials, k))
    sel = A.select_arms(z1, "epsilon", epsilon=0.8)
    lam = np.full((trials, k), math.sqrt(0.5))
    w1, w2 = A.weights(0.5)
    df1, df2 = rng.integers(20, 60, trials).astype(float), np.full(trials, np.inf)
    got = A.closed_test(z1, z2, sel, method, w1, w2, 1.96, lam, lam, df1, df2)
    want = _closed_by_loop(z1, z2, sel, method, w1, w2, 1.96, lam, lam, df1, df2)
    np.testing.assert_array_equal(got, want)
    assert 0 < got.sum() < got.size


# ---------------------------------------------------------------------------------------------
# one engine: the patients path equals the prefix path where both apply
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("adaptive", [
    dict(DESIGN_A, futility="cp", futility_cp=0.1),
    {"interim": 0.5, "rule": "promising_zone", "max_n_per_arm": 120, "efficacy": "obf",
     "futility": "pp", "futility_pp": 0.05},
    {"interim": 0.4, "rule": "target_cp", "at": "planned", "planned_effect": -0.4,
     "planned_sd": 1.1, "min_stage2": 20, "max_stage2": 100, "test": "chw"},
], ids=["target_cp_cp_futility", "pz_obf_pp", "planned_chw"])
def test_patients_path_equals_prefix_path(adaptive):
    dm = _one_arm(adaptive, **{"design.allocation_ratio": 1.5})
    a, _ = _rows(dm, 2000, workers=1)
    b, _ = _rows(dm, 2000, workers=1, kernel="full")
    assert (a.plan.kernel, b.plan.kernel) == ("prefix", "patients")
    assert_same_arrays(a.arrays, b.arrays, 1e-10)


def test_selection_same_numbers_for_any_workers_and_chunk_order():
    dm = _two_dose({"interim": 0.5, "selection": "epsilon", "epsilon": 0.1,
                    "select_threshold": 0.0}, dropout=MAR, n_trials=2000,
                   **{"design.n_per_arm": 40})
    a = OA.simulate(dm, 40, n_trials=2000, seed=5, workers=1)
    b = OA.simulate(dm, 40, n_trials=2000, seed=5, workers=2)
    c = OA.simulate(dm, 40, n_trials=2000, seed=5, workers=1, chunks=[1, 0])
    for k in a.arrays:
        assert np.array_equal(a.arrays[k], b.arrays[k], equal_nan=True), k
        assert np.array_equal(a.arrays[k], c.arrays[k], equal_nan=True), k


def test_selection_bookkeeping():
    """Only the selected arm and control get stage-2 patients: N total = 3 n1 + 2 n2 with best;
    the dropped arm is never rejected; the selected arm's naive estimate over-states the benefit
    (winner's curse) under the null."""
    dm = _two_dose({"interim": 0.5, "selection": "best"}, n_trials=4000)
    sim, rows = _rows(dm, 4000)
    for cond in ("effect", "null"):
        sel = sim.arrays[f"{cond}_selected"]
        assert np.all(sel.sum(axis=1) == 1)
        assert not np.any(sim.arrays[f"{cond}_reject_arm"] & ~sel)
        assert np.all(sim.arrays[f"{cond}_n_total"] == 3 * 40 + 2 * 40)
    b = rows[("null", "bias_selected_high")]
    assert b["estimate"] < -3 * b["mc_se"]       # HbA1c: lower is benefit
    assert rows[("effect", "p_selected_high")]["estimate"] > 0.7


# ---------------------------------------------------------------------------------------------
# null calibration with MAR dropout, MMRM and strata
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("case", ["best_dunnett", "epsilon_bonferroni_threshold",
                                  "r_best_simes_3arms", "best_6m_mmrm"])
def test_selection_keeps_familywise_error(case):
    """Global null, MAR dropout 20%. Selecting the best arm on the endpoint's own stage-1
    estimate, the closed test's family-wise error is alpha: the selected arm is (nearly always)
    the one with the largest stage-1 statistic, so its own stage-1 p-value is at most the
    intersection's and the selected arm is rejected exactly when the global intersection is,
    whose combination test has level alpha. A threshold, keeping several arms (r_best: the
    Simes intersection of the two kept), or selecting on another visit (6 months: the selected
    arm is then not always the stage-1 maximum at 12) can only lower it."""
    arms, r, changes = None, 100_000, {"dropout": MAR}
    if case == "best_dunnett":
        ad = {"interim": 0.5, "selection": "best"}
    elif case == "epsilon_bonferroni_threshold":
        ad = {"interim": 0.5, "selection": "epsilon", "epsilon": 0.15, "select_threshold": 0.0,
              "intersection": "bonferroni"}
    elif case == "r_best_simes_3arms":
        ad = {"interim": 0.4, "selection": "r_best", "select_r": 2, "intersection": "simes"}
        arms = ARMS + [{"name": "top", "effect_scale": 1.5}]
        r = 60_000
    else:
        ad = {"interim": 0.5, "selection": "best", "select_visit_months": 6}
        changes["endpoint.analysis"] = "mmrm"
        changes["design.n_per_arm"] = 40
        r = 20_000
    if arms is None:
        dm = _two_dose(ad, **changes)
    else:
        d = changed(BASE, adaptive=ad, dropout=MAR, **{"effect.md": -0.4,
                                                       "design.n_per_arm": 60})
        d["arms"] = arms
        dm = build_design(parse_scenario(d))
    _, rows = _rows(dm, r)
    fwer = rows[("null", "type_i_error")]["estimate"]
    tol = 3 * _se(ALPHA, r)
    if case != "best_dunnett":
        assert fwer < ALPHA + tol, fwer
    else:
        assert abs(fwer - ALPHA) < tol, fwer


@pytest.mark.slow
@pytest.mark.parametrize("case", ["mar_ancova", "mar_mmrm", "strata"])
def test_ssr_inverse_normal_keeps_alpha_with_dropout_mmrm_strata(case):
    """Sample-size re-estimation by conditional power (design A) on the patients path: MAR
    dropout with complete-case ANCOVA (MAR given the baseline), with MMRM, and a stratified
    T1D/T2D population: the inverse-normal test keeps alpha; the unweighted test still
    inflates it."""
    r = 100_000
    ch = {"dropout": MAR}
    if case == "mar_mmrm":
        ch["endpoint.analysis"] = "mmrm"
        r = 20_000
    if case == "strata":
        ch = {"population": {"preset": "t1d", "strata": {"t1d": 0.5, "t2d": 0.5}},
              "effect": {"source": "evidence"}}
    dm = _one_arm(dict(DESIGN_A), **ch)
    sim, rows = _rows(dm, r)
    assert sim.plan.kernel == "patients"
    t1e = rows[("null", "type_i_error")]["estimate"]
    assert abs(t1e - ALPHA) < 3 * _se(ALPHA, r), t1e
    if case == "mar_ancova":
        unw = rows[("null", "p_reject_unweighted")]["estimate"]
        assert unw > ALPHA + 3 * _se(ALPHA, r), unw


# ---------------------------------------------------------------------------------------------
# rpact getSimulationMultiArmMeans
# ---------------------------------------------------------------------------------------------

# rpact 3.3.4 (R 4), computed once, 200,000 iterations each, seed 20261202:
#   d <- getDesignInverseNormal(kMax = 2, alpha = 0.025, typeOfDesign = "noEarlyEfficacy",
#                               informationRates = c(0.5, 1))
#   run <- function(mu, n, ...) getSimulationMultiArmMeans(design = d, activeArms = 2,
#       typeOfShape = "userDefined", effectMatrix = matrix(mu, nrow = 1), stDev = 1.1,
#       plannedSubjects = n, maxNumberOfIterations = 200000, seed = 20261202, ...)
#   D1: run(c(0.1, 0.2), c(150, 300), intersectionTest = "Dunnett", typeOfSelection = "best")
#       and run(c(0, 0), ...) (the global null)
#   D2: run(c(0.1, 0.2), c(150, 300), intersectionTest = "Bonferroni", typeOfSelection =
#           "epsilon", epsilonValue = 0.08, threshold = 0), and at c(0, 0)
# printed: rejectAtLeastOne, rejectedArmsPerStage[, 2] (each arm), selectedArms[, 2] (each
# arm), expectedNumberOfSubjects (all arms), futilityStop.
# Why comparable: analysis = "ttest_change" makes simtrial's stage statistics two-sample t tests
# of real patients' changes (SD of change 1.1 in the t2d preset), rpact's are z tests with the
# SD known; the selection is on the stage-1 effect estimates (rpact's effectEstimate), the
# threshold and epsilon on the benefit scale (natural units), the closed test over the same
# intersection tests with the weights sqrt(0.5). The t tests cost a little power against
# rpact's known-SD z tests, about 0.007 at D1's size with 40 + 40 per arm (df 117 / 78:
# simtrial 0.533, rpact 0.540, the z-scored t tests an upper bound 0.544; D2 by Bonferroni with
# epsilon 0.15: 0.511 against 0.516), so both are compared at 150 + 150 per arm (df 447 / 298),
# where the gap is below 0.002.
RPACT = {
    "D1": ({"interim": 0.5, "selection": "best"}, {"effect.md": -0.2, "design.n_per_arm": 300},
           {"effect": (0.512895, (0.058745, 0.45415), (0.21472, 0.78528), 750.0, 0.0),
            "null": (0.02515, (0.012645, 0.012505), (0.498545, 0.501455), 750.0, 0.0)}),
    "D2": ({"interim": 0.5, "selection": "epsilon", "epsilon": 0.08, "select_threshold": 0.0,
            "intersection": "bonferroni"}, {"effect.md": -0.2, "design.n_per_arm": 300},
           {"effect": (0.487305, (0.101125, 0.458275), (0.40006, 0.88231), 787.218, 0.03425),
            "null": (0.02074, (0.01101, 0.011395), (0.43264, 0.435615), 680.1113, 0.33418)}),
}
RPACT_ITER = 200_000


@pytest.mark.slow
@pytest.mark.parametrize("name", ["D1", "D2"])
def test_selection_agrees_with_rpact(name):
    adaptive, changes, want = RPACT[name]
    r = 50_000
    _, rows = _rows(_two_dose(adaptive, **changes), r)
    for cond, (rej, arm_rej, arm_sel, en, fut) in want.items():
        head = "power" if cond == "effect" else "type_i_error"
        checks = [(rows[(cond, head)]["estimate"], rej)]
        for k, arm in enumerate(("low", "high")):
            checks.append((rows[(cond, f"p_reject_{arm}")]["estimate"], arm_rej[k]))
            checks.append((rows[(cond, f"p_selected_{arm}")]["estimate"], arm_sel[k]))
        checks.append((rows[(cond, "p_futility")]["estimate"], fut))
        for got, w in checks:
            tol = 3 * math.sqrt(_se(got, r) ** 2 + _se(w, RPACT_ITER) ** 2) + 1e-12
            assert abs(got - w) < tol, (cond, got, w, tol)
        row = rows[(cond, "expected_n_total")]
        tol = 3 * row["mc_se"] * math.sqrt(1 + r / RPACT_ITER) + 1e-9
        assert abs(row["estimate"] - en) < tol, (cond, row["estimate"], en)


# ---------------------------------------------------------------------------------------------
# the shipped scenario, the CLI and bad input
# ---------------------------------------------------------------------------------------------

def test_shipped_two_dose_scenario(capsys):
    sc = load_scenario(SHIPPED)
    res = power(sc, n_trials=1000)
    ad = {(r["design_point"].split()[1], r["metric"]): r for r in res.rows()
          if r["hypothesis"] == "adaptive"}
    for cond in ("effect", "null"):
        for m in ("p_selected_low_dose", "p_selected_high_dose", "p_reject_high_dose",
                  "bias_selected_high_dose", "expected_n_total"):
            assert (cond, m) in ad, (cond, m)
    sel = ad[("effect", "p_selected_high_dose")]
    assert sel["estimate"] > 0.7 and sel["mc_se"] > 0
    assert ad[("effect", "expected_n_total")]["estimate"] == 3 * 12 + 2 * 12
    rc = main(["power", SHIPPED, "--n-trials", "300"])
    out = capsys.readouterr().out
    assert rc == 0 and "selection best on the 6-month analysis" in out
    assert "high_dose      selected" in out


@pytest.mark.parametrize("bad, msg", [
    ({"interim": 0.5, "max_n_per_arm": 90},
     'adaptive = "[adaptive]" with 2 MSC [[arms]] needs adaptive.selection'),
    ({"interim": 0.5, "selection": "best", "rule": "promising_zone", "max_n_per_arm": 120},
     'adaptive.rule = "promising_zone" is not combined with adaptive.selection yet'),
    ({"interim": 0.5, "selection": "r_best"}, 'adaptive.selection = "r_best" needs select_r'),
    ({"interim": 0.5, "selection": "r_best", "select_r": 2},
     "adaptive.select_r = 2 must be < the 2 MSC arms"),
    ({"interim": 0.5, "selection": "epsilon"}, 'adaptive.selection = "epsilon" needs epsilon'),
    ({"interim": 0.5, "selection": "best", "epsilon": 0.1},
     'adaptive.epsilon = 0.1 is only used with selection = "epsilon"'),
    ({"interim": 0.5, "selection": "best", "intersection": "sidak"},
     'adaptive.intersection = "sidak" must be one of "dunnett" | "bonferroni" | "simes"'),
    ({"interim": 0.5, "selection": "best", "select_visit_months": 9},
     "adaptive.select_visit_months = 9 must be one of the visits 3, 6, 12"),
    ({"interim": 0.5, "selection": "best", "futility": "cp", "futility_cp": 0.1},
     'adaptive.futility = "cp" is not combined with adaptive.selection yet'),
])
def test_bad_selection_keys_are_one_line_errors(bad, msg):
    def build():
        d = changed(BASE, adaptive=bad)
        d["arms"] = ARMS
        parse_scenario(d)
    assert_scenario_error(build, msg)


def test_selection_keys_need_several_arms():
    assert_scenario_error(lambda: parse_scenario(changed(
        BASE, adaptive={"interim": 0.5, "selection": "best"})),
        'adaptive.selection = "best" needs two or more MSC [[arms]]')
    assert_scenario_error(lambda: parse_scenario(changed(
        BASE, adaptive={"interim": 0.5, "max_n_per_arm": 90, "intersection": "simes"})),
        'adaptive.intersection = "simes" is only used with adaptive.selection')


def test_cli_bad_selection_key_exits_2_without_files(tmp_path, capsys):
    run_refused(tmp_path, capsys, SHIPPED, ('selection = "best" ', 'selection = "worst" '),
                'scenario error: adaptive.selection = "worst" must be one of "best" | "r_best" '
                '| "epsilon" | "all" (e.g. selection = "best")')


def test_unsupported_patient_designs_are_one_line_errors():
    d = changed(BASE, adaptive={"interim": 0.5, "max_n_per_arm": 90},
                **{"dropout.rate": 0.2, "endpoint.analysis": "mi"})
    from simtrial.errors import SimtrialError
    with pytest.raises(SimtrialError, match=r'^scenario error: \[adaptive\] is not simulated '
                                            r'with endpoint.analysis = "mi"'):
        power(parse_scenario(d), n_trials=100)
