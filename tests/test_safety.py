"""Safety events (issue 15 items 1, 2 and 5, safety half): closed forms against scipy and
independent re-implementations, the simulated counts against the closed forms within 3 MC SE,
the harm-monitoring rule against its exact one-look probability, power lost per trial, seeds,
and the one-line errors of the [[safety]] keys and of `simtrial safety`."""

from __future__ import annotations

import copy
import json
import math
import os
from fractions import Fraction

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import beta, binom, binomtest, chi2, gamma, poisson

from simtrial.cli import main
from simtrial.errors import ScenarioError
from simtrial.model.design import build_design, group_sizes
from simtrial.oc.run import power
from simtrial.oc.safety import event_trials, exact_p_stop_one_look, _Event
from simtrial.scenario import parse_scenario
from simtrial.stats import safety as cf

from .helpers import BASE, binom_tol

# ---------------------------------------------------------------------------------------------
# closed forms
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p,n", [(0.01, 279), (0.05, 45), (0.3, 10), (1e-6, 1000), (0.5, 1)])
def test_p_any_event_is_one_minus_q_to_the_n(p, n):
    exact = float(1 - (1 - Fraction(p)) ** n)     # exact rational arithmetic, then rounded
    assert cf.p_any_event(p, n) == pytest.approx(exact, rel=1e-13)
    assert cf.p_any_event_rate(p, n, 1.5) == pytest.approx(1.0 - math.exp(-p * n * 1.5),
                                                            rel=1e-13)


@pytest.mark.parametrize("x,n", [(0, 279), (0, 15), (3, 14), (1, 61), (10, 10), (7, 40), (0, 1)])
@pytest.mark.parametrize("c", [0.95, 0.9, 0.99])
def test_clopper_pearson_matches_scipy_binomtest(x, n, c):
    # scipy's exact interval: alternative="less" gives the one-sided upper bound,
    # "greater" the one-sided lower bound (scipy.stats.binomtest, method="exact")
    up = binomtest(x, n, alternative="less").proportion_ci(confidence_level=c,
                                                           method="exact").high
    lo = binomtest(x, n, alternative="greater").proportion_ci(confidence_level=c,
                                                              method="exact").low
    assert abs(float(cf.cp_upper(x, n, c)) - up) < 1e-10
    assert abs(float(cf.cp_lower(x, n, c)) - lo) < 1e-10


def test_clopper_pearson_vectorised_and_zero_events_formula():
    n = np.array([15, 45, 279, 1000])
    got = cf.cp_upper(np.zeros(4), n, 0.95)
    np.testing.assert_allclose(got, 1.0 - 0.05 ** (1.0 / n), rtol=1e-12)
    # the rule of three beside it: 3/n, and -ln(0.05)/n < 3/n is the large-n limit of the bound
    np.testing.assert_allclose(cf.rule_of_three(n), 3.0 / n, rtol=0)
    assert np.all(got < cf.rule_of_three(n))
    assert got[-1] == pytest.approx(-math.log(0.05) / 1000, rel=2e-3)
    # Kashbour 2025: 0 SAEs in 279 treated -> 1.07% (safety.csv note)
    assert round(float(got[2]), 4) == 0.0107


@pytest.mark.parametrize("p,c,k", [(0.01, 0.95, 0), (0.05, 0.95, 0), (0.1, 0.9, 0),
                                   (0.02, 0.95, 1), (0.05, 0.99, 3), (0.2, 0.95, 5)])
def test_n_to_rule_out_is_the_smallest_n(p, c, k):
    n = int(cf.n_to_rule_out(p, c, k))
    # independent: the binomial tail at n is <= 1 - c, at n - 1 it is not
    assert binom.cdf(k, n, p) <= 1 - c < binom.cdf(k, n - 1, p)
    # and so the Clopper-Pearson bound of k/n is <= p (k/(n-1) is not)
    assert float(cf.cp_upper(k, n, c)) <= p + 1e-12
    if k == 0:
        assert n == math.ceil(math.log(1 - c) / math.log(1 - p))


def test_n_to_rule_out_textbook_values():
    # rule of three: about 3/p patients with no event rule out p at 95%
    assert int(cf.n_to_rule_out(0.01)) == 299
    assert int(cf.n_to_rule_out(0.05)) == 59
    np.testing.assert_array_equal(cf.n_to_rule_out([0.01, 0.05], 0.95, [0, 0]), [299, 59])


@pytest.mark.parametrize("x,e", [(0, 45.0), (3, 20.5), (12, 100.0)])
def test_garwood_bounds_against_chi2_and_poisson(x, e):
    c = 0.95
    up = float(cf.garwood_upper(x, e, c))
    assert up == pytest.approx(chi2.ppf(c, 2 * x + 2) / (2 * e), rel=1e-12)
    # the defining property: P(X <= x | mean = up * E) = 1 - C
    assert poisson.cdf(x, up * e) == pytest.approx(1 - c, abs=1e-10)
    lo = float(cf.garwood_lower(x, e, c))
    if x == 0:
        assert lo == 0.0
    else:
        assert poisson.sf(x - 1, lo * e) == pytest.approx(1 - c, abs=1e-10)
    need = float(cf.exposure_to_rule_out(0.05, c, 0))
    assert need == pytest.approx(-math.log(0.05) / 0.05, rel=1e-12)


def test_beta_and_gamma_posteriors_closed_form():
    a, b = cf.beta_posterior(2, 30)
    assert (a, b) == (2.5, 28.5)
    a, b = cf.beta_posterior(0, 279, 0.5 + 0.0, 0.5)
    assert (a, b) == (0.5, 279.5)
    s, r = cf.gamma_posterior(4, 37.5)
    assert (s, r) == (4.5, 37.5)
    # prior predictive P(>= 1 event in n): numerical integration of 1 - (1 - p)^n
    for (pa, pb, n) in [(0.5, 140.0, 45), (2.0, 30.0, 10), (0.5, 0.5, 3)]:
        num = integrate.quad(lambda p: (1 - (1 - p) ** n) * beta.pdf(p, pa, pb), 0, 1,
                             limit=200, points=[1e-4, 1e-2])[0]
        assert float(cf.beta_p_any_event(pa, pb, n)) == pytest.approx(num, abs=1e-8)
    num = integrate.quad(lambda lam: -math.expm1(-lam * 20.0) * gamma.pdf(lam, 1.5, scale=1 / 8.0),
                         0, np.inf)[0]
    assert float(cf.gamma_p_any_event(1.5, 8.0, 20.0)) == pytest.approx(num, abs=1e-8)


@pytest.mark.parametrize("a1,b1,a0,b0,m", [(1.5, 30, 0.5, 30, 0.0), (3.5, 20, 0.5, 25, 0.05),
                                           (0.5, 22.5, 1.5, 21.5, 0.0), (10, 90, 8, 92, -0.02),
                                           (0.5, 279.5, 0.5, 228.5, 0.0)])
def test_beta_difference_matches_numerical_integration(a1, b1, a0, b0, m):
    ref = integrate.quad(lambda p0: beta.pdf(p0, a0, b0) * beta.sf(p0 + m, a1, b1), 0, 1,
                         limit=400, points=[1e-8, 1e-5, 1e-3, 0.05])[0]
    assert float(cf.p_beta_difference(a1, b1, a0, b0, m)) == pytest.approx(ref, abs=1e-6)


def test_gamma_difference_matches_numerical_integration():
    ref = integrate.quad(lambda l0: gamma.pdf(l0, 2.5, scale=1 / 40.0)
                         * gamma.sf(l0 + 0.01, 4.5, scale=1 / 45.0), 0, np.inf, limit=400)[0]
    assert float(cf.p_gamma_difference(4.5, 45.0, 2.5, 40.0, 0.01)) == pytest.approx(ref,
                                                                                     abs=1e-6)


def test_newcombe_interval_published_example():
    # Newcombe 1998 Stat Med 17:873, Table II example (a): 56/70 - 48/80, method 10:
    # 0.0524 to 0.3339
    lo, hi = cf.newcombe_interval(56, 70, 48, 80, 0.95)
    assert float(lo) == pytest.approx(0.0524, abs=1e-4)
    assert float(hi) == pytest.approx(0.3339, abs=1e-4)


def test_closed_form_answers_units():
    a = cf.closed_form_answers(279, 0.01)
    assert a["n_to_rule_out"] == 299 and a["upper_bound"] == pytest.approx(0.010680, abs=1e-6)
    assert "per patient" in a["unit"]
    b = cf.closed_form_answers(45, 0.05, years=1.0)
    assert b["unit"] == "events per patient-year"
    assert b["p_any_event"] == pytest.approx(1 - math.exp(-0.05 * 45), rel=1e-12)
    assert b["n_to_rule_out"] == math.ceil(-math.log(0.05) / 0.05)


# ---------------------------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------------------------

def _data(safety, n_trials=4000, n=30, **top):
    d = copy.deepcopy(BASE)
    d["n_trials"] = n_trials
    d["design"]["n_per_arm"] = n
    d["safety"] = safety
    d.update(top)
    return d


def _sc(safety, **kw):
    return parse_scenario(_data(safety, **kw))


def _rows(p, name):
    return {(r["arm"], r["visit"], r["metric"]): (r["estimate"], r["mc_se"]) for r in p.safety
            if r["endpoint"] == name}


def _within(est, se, truth, k=3.0):
    assert abs(est - truth) <= k * se + 1e-12, (est, se, truth)


def test_simulated_counts_match_closed_forms():
    sc = _sc([{"name": "sae", "rate_control": 0.04, "rate_msc": 0.08},
              {"name": "infection", "per": "patient_year", "rate_control": 0.3,
               "rate_msc": 0.5, "years": 0.5}])
    p = power(sc)
    n = 30
    r = _rows(p, "sae")
    for arm, q in (("control", 0.04), ("MSC", 0.08)):
        m, se = r[(arm, "", "mean_events")]
        _within(m, se, n * q)
        pa, pse = r[(arm, "", "p_any_event")]
        truth = 1 - (1 - q) ** n
        assert abs(pa - truth) <= binom_tol(truth, 4000)
        assert r[(arm, "", "analytic_p_any_event")][0] == pytest.approx(truth, rel=1e-12)
    r = _rows(p, "infection")
    for arm, lam in (("control", 0.3), ("MSC", 0.5)):
        m, se = r[(arm, "", "mean_events")]
        _within(m, se, lam * n * 0.5)
        truth = 1 - math.exp(-lam * n * 0.5)
        pa, _ = r[(arm, "", "p_any_event")]
        assert abs(pa - truth) <= binom_tol(truth, 4000)
        assert r[(arm, "", "exposure_patient_years")][0] == 15.0


def test_per_trial_counts_are_binomial_and_bounds_are_exact():
    sc = _sc([{"name": "sae", "rate_control": 0.1, "rate_msc": 0.2}], n_trials=3000)
    dm = build_design(sc)
    t = event_trials(dm, group_sizes(dm, 30), 3000, sc.seed, 0)
    x = t["counts"][:, :, -1]
    assert x.shape == (3000, 2) and x.min() >= 0 and x.max() <= 30
    # variance of a binomial count within 3 SE of n p (1 - p): SE of a sample variance
    for a, q in ((0, 0.1), (1, 0.2)):
        v = np.var(x[:, a], ddof=1)
        mu4 = 30 * q * (1 - q) * (1 + 3 * (30 - 2) * q * (1 - q))   # binomial 4th central moment
        se = math.sqrt((mu4 - (30 * q * (1 - q)) ** 2) / 3000)
        _within(v, se, 30 * q * (1 - q))
    p = power(sc)
    ux = np.unique(x[:, 1])
    r = _rows(p, "sae")
    cp = np.array([binomtest(int(k), 30, alternative="less").proportion_ci(method="exact").high
                   for k in ux])
    mean_cp = float(np.mean(cp[np.searchsorted(ux, x[:, 1])]))
    assert r[("MSC", "", "cp_upper_mean")][0] == pytest.approx(mean_cp, abs=1e-10)


def test_evidence_prior_draws_rates_and_matches_the_prior_predictive():
    sc = _sc([{"name": "sae", "prior": "evidence", "evidence": "k25seed_sae_all",
               "evidence_weight": 0.5, "rate_control": 0.01}], n_trials=6000, n=45)
    p = power(sc)
    r = _rows(p, "sae")
    a, b = 0.5, 0.5 + 0.5 * 279            # Jeffreys + weight 0.5 x (0 events in 279)
    m, se = r[("MSC", "", "true_rate_mean")]
    _within(m, se, a / (a + b))
    truth = float(cf.beta_p_any_event(a, b, 45))
    assert r[("MSC", "", "analytic_p_any_event")][0] == pytest.approx(truth, rel=1e-12)
    pa, _ = r[("MSC", "", "p_any_event")]
    assert abs(pa - truth) <= binom_tol(truth, 6000)
    assert r[("control", "", "true_rate_mean")] == (0.01, r[("control", "", "true_rate_mean")][1])


def test_evidence_control_arm_drawn_from_the_row():
    sc = _sc([{"name": "dka", "prior": "evidence", "evidence": "hu13_dka_t1dm"}], n_trials=4000,
             n=15)
    r = _rows(power(sc), "dka")
    # Hu 2013: 3/14 control, 0/15 MSC; Jeffreys, weight 1
    _within(*r[("control", "", "true_rate_mean")], 3.5 / 15.0)
    _within(*r[("MSC", "", "true_rate_mean")], 0.5 / 16.0)


def _mon(rule="bayes", looks=(1.0,), **extra):
    m = {"rule": rule, "looks": list(looks)}
    m.update(extra)
    return m


def _exact_stop_independent(n0, n1, p0, p1, thr, margin=0.0):
    """P(stop) of the one-look Bayes rule by enumeration with scipy quadrature per cell."""
    tot = 0.0
    for x0 in range(n0 + 1):
        w0 = binom.pmf(x0, n0, p0)
        for x1 in range(n1 + 1):
            w = w0 * binom.pmf(x1, n1, p1)
            if w < 1e-14:
                continue
            post = integrate.quad(lambda q: beta.pdf(q, 0.5 + x0, 0.5 + n0 - x0)
                                  * beta.sf(q + margin, 0.5 + x1, 0.5 + n1 - x1), 0, 1,
                                  limit=200)[0]
            tot += w * (post > thr)
    return tot


def test_one_look_bayes_rule_stops_at_its_exact_binomial_probability():
    sc = _sc([{"name": "sae", "rate_control": 0.05, "rate_msc": 0.15,
               "monitoring": _mon(threshold=0.9), "oc_rates": [0.05, 0.3]}],
             n_trials=5000, n=15)
    p = power(sc)
    r = _rows(p, "sae")
    ex = r[("MSC", "", "analytic_p_stop_harm")][0]
    assert ex == pytest.approx(_exact_stop_independent(15, 15, 0.05, 0.15, 0.9), abs=1e-12)
    est, _ = r[("MSC", "", "p_stop_harm")]
    assert abs(est - ex) <= binom_tol(ex, 5000)
    for rate in (0.05, 0.3):
        lab = f"rate_msc={rate:g}"
        ex = r[("MSC", lab, "oc_analytic_p_stop_harm")][0]
        assert ex == pytest.approx(_exact_stop_independent(15, 15, 0.05, rate, 0.9), abs=1e-12)
        assert abs(r[("MSC", lab, "oc_p_stop_harm")][0] - ex) <= binom_tol(ex, 5000)


def test_one_look_spending_rule_against_exact_enumeration():
    sc = _sc([{"name": "sae", "rate_control": 0.1, "rate_msc": 0.1,
               "monitoring": _mon("spending", alpha=0.05)}], n_trials=4000, n=20)
    dm = build_design(sc)
    ev = _Event(dm, sc.safety[0], 0, group_sizes(dm, 20).sum(axis=0))
    # independent: z = (p1 - p0) / sqrt(pbar (1 - pbar) (2/20)) >= z_0.95 (one look: no spending)
    z95 = 1.6448536269514722
    tot = 0.0
    for x0 in range(21):
        for x1 in range(21):
            pbar = (x0 + x1) / 40
            if 0 < pbar < 1:
                z = (x1 / 20 - x0 / 20) / math.sqrt(pbar * (1 - pbar) * 0.1)
                if z >= z95:
                    tot += binom.pmf(x0, 20, 0.1) * binom.pmf(x1, 20, 0.1)
    assert exact_p_stop_one_look(ev, 0.1, 0.1) == pytest.approx(tot, abs=1e-12)
    r = _rows(power(sc), "sae")
    assert abs(r[("MSC", "", "p_stop_harm")][0] - tot) <= binom_tol(tot, 4000)


def test_power_with_monitoring_is_success_and_not_stopped_per_trial():
    sc = _sc([{"name": "sae", "rate_control": 0.05, "rate_msc": 0.2,
               "monitoring": _mon(looks=(0.5, 1.0), threshold=0.8)}], n_trials=3000)
    p = power(sc)
    dm = p.design
    t = event_trials(dm, p.sizes, p.n_trials, p.seed, 0)
    stopped = t["stop_look"] >= 0
    success = np.asarray(p.trials["point_success"][:, 0], dtype=bool)
    r = _rows(p, "sae")
    assert r[("MSC", "", "power_with_monitoring")][0] == float(np.mean(success & ~stopped))
    assert r[("MSC", "", "power_lost")][0] == float(np.mean(success & stopped))
    assert r[("MSC", "", "power_efficacy")][0] == float(np.mean(success)) == p.power
    assert r[("MSC", "", "p_stop_harm")][0] == float(np.mean(stopped))
    for k, f in enumerate((0.5, 1.0)):
        assert r[("MSC", f"look {k + 1} ({f:g})", "p_stop_look")][0] == \
            float(np.mean(t["stop_look"] == k))
    assert 0.0 < float(np.mean(stopped)) < 1.0
    # the looks' counts are nested: look 1 never exceeds the final count
    assert np.all(t["counts"][:, :, 0] <= t["counts"][:, :, 1])
    # OC grid defaults around the control rate, each with its MC SE
    oc = [k for k in r if k[2] == "oc_p_stop_harm"]
    assert len(oc) == 6 and all(r[k][1] >= 0 for k in oc)
    stops = [r[k][0] for k in sorted(oc, key=lambda k: float(k[1].split("=")[1]))]
    assert stops[-1] > stops[0]


def test_safety_draws_move_no_efficacy_number_and_use_chunked_streams():
    plain = power(parse_scenario({k: v for k, v in _data([]).items() if k != "safety"}))
    sc = _sc([{"name": "sae", "rate_control": 0.05, "rate_msc": 0.1}])
    withs = power(sc)
    assert plain.rows() == withs.rows() and plain.safety == ()
    np.testing.assert_array_equal(plain.trials["point_est"], withs.trials["point_est"])
    dm = build_design(sc)
    sizes = group_sizes(dm, 30)
    a = event_trials(dm, sizes, 2500, sc.seed, 0)["counts"]
    b = event_trials(dm, sizes, 1200, sc.seed, 0)["counts"]
    np.testing.assert_array_equal(a[:1200], b)      # trial i's events do not depend on R


@pytest.mark.slow
def test_safety_rows_do_not_depend_on_workers():
    sc = _sc([{"name": "sae", "rate_control": 0.05, "rate_msc": 0.1,
               "monitoring": _mon(looks=(0.5, 1.0))}], n_trials=2500)
    assert power(sc, workers=1).safety == power(sc, workers=2).safety


def test_run_frame_json_and_report_carry_the_safety_table(tmp_path, capsys):
    from simtrial.oc.run import run
    sc = _sc([{"name": "sae", "rate_control": 0.05, "rate_msc": 0.1,
               "monitoring": _mon()}], n_trials=500)
    res = run(sc)
    df = res.to_frame()
    s = df[df["table"] == "safety"]
    assert not s.empty and set(s["hypothesis"]) == {"safety"} and set(s["endpoint"]) == {"sae"}
    assert s[s["metric"] == "p_stop_harm"]["mc_se"].notna().all()
    d = res.to_dict()["design"]
    assert any(r["metric"] == "power_lost" for r in d["safety"])


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------

BAD = [
    ({"name": "sae", "rate_control": 0.05, "rate_msc": 0.1, "rate_mcs": 1},
     r"^scenario error: safety\[0\]\.rate_mcs is not a known key \(did you mean rate_msc\?\)"),
    ({"name": "SAE!", "rate_control": 0.05, "rate_msc": 0.1},
     r"^scenario error: safety\[0\]\.name = \"SAE!\" must be a snake_case"),
    ({"name": "sae", "rate_control": 0.05}, r"safety\[0\]\.rate_msc is required"),
    ({"name": "sae", "rate_control": 1.5, "rate_msc": 0.1},
     r"safety\[0\]\.rate_control = 1\.5 must be < 1 for per = \"patient\""),
    ({"name": "sae", "rate_control": -0.1, "rate_msc": 0.1},
     r"safety\[0\]\.rate_control = -0\.1 must be >= 0"),
    ({"name": "sae", "per": "year", "rate_control": 0.1, "rate_msc": 0.1},
     r"safety\[0\]\.per = \"year\" must be one of \"patient\" \| \"patient_year\""),
    ({"name": "sae", "rate_control": 0.1, "rate_msc": 0.1, "years": 1.0},
     r"safety\[0\]\.years = 1\.0 is only used with per = \"patient_year\""),
    ({"name": "sae", "prior": "evidence", "rate_control": 0.1},
     r"safety\[0\]\.evidence is required with prior = \"evidence\""),
    ({"name": "sae", "rate_control": 0.1, "rate_msc": 0.1, "evidence": "k25seed_sae_all"},
     r"safety\[0\]\.evidence = \"k25seed_sae_all\" needs prior = \"evidence\""),
    ({"name": "sae", "rate_control": 0.1, "rate_msc": 0.1, "evidence_weight": 2.0},
     r"safety\[0\]\.evidence_weight = 2\.0 must be <= 1"),
    ({"name": "sae", "rate_control": 0.1, "rate_msc": 0.1, "oc_rates": [0.1]},
     r"safety\[0\]\.oc_rates = \[0\.1\] needs \[safety\.monitoring\]"),
    ({"name": "sae", "rate_control": 0.1, "rate_msc": 0.1, "monitoring": {"rule": "x"}},
     r"safety\[0\]\.monitoring\.rule = \"x\" must be one of \"bayes\" \| \"spending\""),
    ({"name": "sae", "rate_control": 0.1, "rate_msc": 0.1, "monitoring": {}},
     r"safety\[0\]\.monitoring\.rule is required"),
    ({"name": "sae", "rate_control": 0.1, "rate_msc": 0.1,
      "monitoring": {"rule": "bayes", "threshold": 1.2}},
     r"safety\[0\]\.monitoring\.threshold = 1\.2 must be < 1"),
    ({"name": "sae", "rate_control": 0.1, "rate_msc": 0.1,
      "monitoring": {"rule": "bayes", "alpha": 0.05}},
     r"safety\[0\]\.monitoring\.alpha = 0\.05 is only used with rule = \"spending\""),
    ({"name": "sae", "rate_control": 0.1, "rate_msc": 0.1,
      "monitoring": {"rule": "bayes", "looks": [0.6, 0.5, 1.0]}},
     r"safety\[0\]\.monitoring\.looks = \[0\.6, 0\.5, 1\.0\] must increase, end at 1\.0"),
    ({"name": "sae", "rate_control": 0.1, "rate_msc": 0.1,
      "monitoring": {"rule": "bayes", "thresh": 0.9}},
     r"safety\[0\]\.monitoring\.thresh is not a known key \(did you mean threshold\?\)"),
    ({"name": "sae", "rate_control": 0.1, "rate_msc": 0.1, "monitoring": 3},
     r"safety\[0\]\.monitoring = 3 must be a table"),
]


@pytest.mark.parametrize("table,msg", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_safety_keys_are_one_line_errors(table, msg):
    with pytest.raises(ScenarioError, match=msg) as e:
        _sc([table])
    assert "\n" not in str(e.value)


BAD_EVIDENCE = [
    ({"name": "sae", "prior": "evidence", "evidence": "nope", "rate_control": 0.1},
     r"safety\[0\]\.evidence = \"nope\" is not a safety\.csv id"),
    ({"name": "sae", "prior": "evidence", "evidence": "aringazina25_adverse_reaction_t2dm",
      "rate_control": 0.1}, r"has no MSC-arm counts"),
    ({"name": "sae", "prior": "evidence", "evidence": "matsuoka25_sae_t2dm"},
     r"safety\[0\]\.rate_control is required: evidence row \"matsuoka25_sae_t2dm\" has no "
     r"control arm"),
    ({"name": "sae", "per": "patient_year", "prior": "evidence", "evidence": "k25seed_sae_all",
      "rate_control": 0.1}, r"gives no follow-up"),
]


@pytest.mark.parametrize("table,msg", BAD_EVIDENCE, ids=[str(i) for i in range(len(BAD_EVIDENCE))])
def test_bad_evidence_rows_are_one_line_errors_at_validate(table, msg):
    sc = _sc([table])             # parses; the row is checked against safety.csv by the model
    with pytest.raises(ScenarioError, match=msg) as e:
        build_design(sc)
    assert "\n" not in str(e.value)


def test_bad_safety_section_shapes():
    with pytest.raises(ScenarioError, match=r"must be an array of tables \[\[safety\]\] \(write"):
        parse_scenario(_data({"name": "sae"}))
    with pytest.raises(ScenarioError, match=r"safety\[1\]\.name = \"sae\" must be unique"):
        _sc([{"name": "sae", "rate_control": 0.1, "rate_msc": 0.1}] * 2)
    with pytest.raises(ScenarioError, match=r"safety\[0\]\.name is required"):
        _sc([{"rate_control": 0.1, "rate_msc": 0.1}])


def test_safety_round_trips_and_absent_section_keeps_the_hash():
    sc = _sc([{"name": "sae", "prior": "evidence", "evidence": "k25seed_sae_all",
               "rate_control": 0.01, "monitoring": _mon(looks=(0.5, 1.0))}])
    again = parse_scenario(sc.to_dict())
    assert again == sc and again.hash() == sc.hash()
    plain = parse_scenario({k: v for k, v in _data([]).items() if k != "safety"})
    assert "safety" not in plain.to_dict()


# ---------------------------------------------------------------------------------------------
# simtrial safety
# ---------------------------------------------------------------------------------------------

def _cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_safety_answers_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = _cli(capsys, "safety", "--n-treated", 279, "--rate", 0.01, "--json")
    assert rc == 0 and err == ""
    d = json.loads(out)
    assert d["p_any_event"] == pytest.approx(1 - 0.99 ** 279, rel=1e-12)
    assert d["n_to_rule_out"] == 299
    assert d["upper_bound"] == pytest.approx(1 - 0.05 ** (1 / 279), rel=1e-12)
    assert d["rule_of_three"] == pytest.approx(3 / 279)
    rc, out, _ = _cli(capsys, "safety", "--n-treated", 45, "--rate", 0.05, "--years", 1)
    assert rc == 0 and "per patient-year" in out and "Garwood" in out
    rc, out, _ = _cli(capsys, "safety", "--n-treated", 30, "--rate", 0.02, "--events", 1)
    assert rc == 0 and "Clopper-Pearson" in out
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("argv,frag", [
    (["--n-treated", "0", "--rate", "0.1"], "--n-treated = 0 must be in [1,"),
    (["--n-treated", "ten", "--rate", "0.1"], "--n-treated = 'ten' must be an integer"),
    (["--n-treated", "10", "--rate", "1.5"], "--rate = 1.5 must be in (0, 1)"),
    (["--n-treated", "10", "--rate", "0"], "--rate = 0 must be in (0, 1)"),
    (["--n-treated", "10", "--rate", "x"], "--rate = 'x' must be a number"),
    (["--n-treated", "10", "--rate", "0.1", "--years", "-1"], "--years = -1 must be in (0, 100]"),
    (["--n-treated", "10", "--rate", "0.1", "--confidence", "1"],
     "--confidence = 1 must be in (0, 1)"),
    (["--n-treated", "10", "--rate", "0.1", "--events", "11"],
     "--events = 11 must be <= --n-treated = 10"),
    (["--n-treated", "10"], "the following arguments are required: --rate"),
])
def test_cli_safety_bad_input_is_one_line_exit_2(tmp_path, capsys, monkeypatch, argv, frag):
    monkeypatch.chdir(tmp_path)
    rc, out, err = _cli(capsys, "safety", *argv)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and frag in err
    assert os.listdir(tmp_path) == []


def test_harm_stop_after_an_efficacy_stop_does_not_count():
    # [sequential] efficacy looks at 1/2 and 1; the harm rule uses the same looks (default)
    sc = _sc([{"name": "sae", "rate_control": 0.05, "rate_msc": 0.25,
               "monitoring": {"rule": "spending", "alpha": 0.05}}], n_trials=600, n=30,
             sequential={"looks": 2})
    p = power(sc)
    eff = np.asarray(p.trials["point_gsd_look"])
    assert 0 < np.mean(eff == 0) < 1            # some trials stop for efficacy at look 1
    free = event_trials(p.design, p.sizes, 600, p.seed, 0)["stop_look"]
    want = (free >= 0) & (free <= eff)
    r = _rows(p, "sae")
    assert r[("MSC", "", "p_stop_harm")][0] == float(np.mean(want))
    assert float(np.mean(want)) < float(np.mean(free >= 0))
    success = np.asarray(p.trials["point_success"][:, 0], dtype=bool)
    assert r[("MSC", "", "power_with_monitoring")][0] == float(np.mean(success & ~want))


# ---------------------------------------------------------------------------------------------
# the conduct timeline (per patient-year events with [conduct])
# ---------------------------------------------------------------------------------------------

def _exposure_by_hand(c, arms: int, fractions) -> np.ndarray:
    """Independent scalar re-implementation of oc.safety.conduct_exposure: per replicate and
    patient, at risk from the first infusion to min(withdrawal, last visit); the look day by
    scipy's brentq on the total accrued patient-years."""
    from scipy.optimize import brentq
    R, N = c.group.shape
    out = np.zeros((R, arms, len(fractions)))
    for r in range(R):
        spans = []
        for k in range(N):
            s = c.infusion_day[r, k, 0]
            e = min(c.withdraw_day[r, k], c.visit_day[r, k, -1])
            if np.isfinite(s) and e > s:
                spans.append((int(c.group[r, k]) % arms, float(s), float(e)))

        def accrued(day, arm=None):
            return sum(max(0.0, min(day, e) - s) for a, s, e in spans
                       if arm is None or a == arm) / 365.25
        last = max(e for _, _, e in spans)
        for j, f in enumerate(fractions):
            day = last if f >= 1.0 else brentq(
                lambda d: accrued(d) - f * accrued(last), min(s for _, s, _ in spans), last,
                xtol=1e-9)
            for a in range(arms):
                out[r, a, j] = accrued(day, a)
    return out


@pytest.fixture(scope="module")
def conduct_point():
    from simtrial.scenario import load_scenario
    d = load_scenario("scenarios/conduct_t1d_hba1c_12m.toml").to_dict()
    d["n_trials"] = 1200
    d["conduct"]["replicates"] = 40
    d["design"]["n_grid"] = [30]
    d["design"]["n_per_arm"] = 30
    d["safety"] = [{"name": "infection", "per": "patient_year", "rate_control": 0.4,
                    "rate_msc": 0.6,
                    "monitoring": {"rule": "bayes", "margin": 0.0, "threshold": 0.9,
                                   "looks": [0.5, 1.0]}}]
    sc = parse_scenario(d)
    return sc, power(sc)


def test_conduct_exposure_matches_a_scalar_reimplementation(conduct_point):
    from simtrial.oc.safety import conduct_exposure
    _, p = conduct_point
    got = conduct_exposure(p.conduct, 2, (0.5, 1.0))
    want = _exposure_by_hand(p.conduct, 2, (0.5, 1.0))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    # 30 patients per arm followed about a year each: the visit window (+/- 14 days) allows a
    # little more per patient, withdrawal less, and on average less than 30 patient-years
    assert np.all(got[..., -1] <= 30 * (365.25 + 14) / 365.25) and np.all(got[..., -1] > 20)
    assert np.all(got[..., -1].mean(axis=0) < 30)
    np.testing.assert_allclose(got[..., 0].sum(axis=1), 0.5 * got[..., 1].sum(axis=1),
                               rtol=1e-9)


def test_conduct_events_follow_each_trials_exposure(conduct_point):
    from simtrial.oc.safety import conduct_exposure
    sc, p = conduct_point
    R = p.n_trials
    ex = conduct_exposure(p.conduct, 2, (0.5, 1.0))
    per_trial = ex[np.arange(R) % ex.shape[0]]                              # (R, A, K)
    r = _rows(p, "infection")
    for a, (arm, lam) in enumerate((("control", 0.4), ("MSC", 0.6))):
        e, e_se = r[(arm, "", "exposure_patient_years")]
        assert e == pytest.approx(per_trial[:, a, -1].mean(), rel=1e-12) and e_se > 0
        m, se = r[(arm, "", "mean_events")]
        _within(m, se, lam * per_trial[:, a, -1].mean())
        assert r[(arm, "", "analytic_mean_events")][0] == pytest.approx(lam * e, rel=1e-12)
        truth = float(np.mean(-np.expm1(-lam * per_trial[:, a, -1])))
        assert r[(arm, "", "analytic_p_any_event")][0] == pytest.approx(truth, rel=1e-12)
    t = event_trials(p.design, p.sizes, R, p.seed, 0, conduct=p.conduct)
    np.testing.assert_array_equal(t["exposure"], per_trial)
    # the harm rule of every trial uses that trial's patient-years (Jeffreys-type Gamma prior)
    X = t["counts"]
    s = sc.safety[0]
    post = cf.p_gamma_difference(s.prior_a + X[:, 1, :], s.prior_b + per_trial[:, 1, :],
                                 s.prior_a + X[:, 0, :], s.prior_b + per_trial[:, 0, :], 0.0)
    crossed = post > 0.9
    want = np.where(crossed.any(axis=1), np.argmax(crossed, axis=1), -1)
    np.testing.assert_array_equal(t["stop_look"], want)
    assert 0 < np.mean(want >= 0) < 1
