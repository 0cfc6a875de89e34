"""[bayes]: MAP priors, conjugate and mixture posteriors, the Go / No-Go rule and its operating
characteristics, each against a closed form or an independent computation.

Oracles: closed forms (the conjugate normal update; the normal prior's ESS); scipy.integrate
quadrature written here from the model's definition (mixture posteriors; the MAP prior as a
double integral over (mu, tau)); the t distribution (the flat-prior rule's type I error with a
plug-in SE); the engine itself re-run at another fixed effect (the exact-shift route).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from simtrial.errors import SimtrialError
from simtrial.model.design import build_design
from simtrial.oc import bayes as ob
from simtrial.oc.run import power, simulate
from simtrial.scenario import load_scenario, parse_scenario
from simtrial.stats import bayes as B

from .helpers import BASE, assert_scenario_error, binom_tol, run_refused, scenario

SHIPPED = "scenarios/t1d_hba1c_12m_phase2_map.toml"

# historical estimates and SEs for the MAP tests (illustrative values, not evidence)
Y = np.array([0.10, 0.32, 0.05, -0.20, 0.25])
S = np.array([0.18, 0.25, 0.15, 0.30, 0.22])


def _sc(bayes: dict, **changes) -> "object":
    """The test scenario with ``[bayes]`` and dotted-key changes."""
    return scenario(bayes=bayes, **changes)


# ---------------------------------------------------------------------------------------------
# posteriors
# ---------------------------------------------------------------------------------------------

def test_conjugate_normal_posterior_matches_closed_form():
    rng = np.random.default_rng(1)
    m0, s0 = 0.3, 0.4
    y = rng.normal(0.0, 1.0, 50)
    se = rng.uniform(0.1, 1.0, 50)
    m, s = B.normal_update(m0, s0, y, se)
    prec = 1 / s0 ** 2 + 1 / se ** 2
    np.testing.assert_allclose(m, (m0 / s0 ** 2 + y / se ** 2) / prec, rtol=0, atol=1e-10)
    np.testing.assert_allclose(s, prec ** -0.5, rtol=0, atol=1e-10)
    # the mixture update with one component is the same posterior, weight 1
    w, mm, ss = B.mixture_update(np.array([1.0]), np.array([m0]), np.array([s0]), y, se)
    np.testing.assert_allclose(w[:, 0], 1.0, atol=1e-12)
    np.testing.assert_allclose(mm[:, 0], m, atol=1e-10)
    np.testing.assert_allclose(ss[:, 0], s, atol=1e-10)
    # P(theta < c) and the median are the normal's
    c = -0.1
    np.testing.assert_allclose(B.mixture_cdf(w, mm, ss, np.full((50, 1), c)),
                               stats.norm.cdf(c, m, s), atol=1e-10)
    np.testing.assert_allclose(B.mixture_quantile(w, mm, ss, 0.5), m, atol=1e-10)


def _quad_posterior(prior: B.Mixture, y: float, se: float, c: float):
    """Posterior mean, P(theta < c) and median by scipy quadrature of prior x likelihood."""
    def dens(t):
        return float(prior.pdf(t)) * stats.norm.pdf(y, t, se)
    lo, hi = -15.0, 15.0
    pts = sorted(set(prior.m.tolist() + [y]))
    z = integrate.quad(dens, lo, hi, points=pts, limit=400, epsabs=1e-13, epsrel=1e-12)[0]
    mean = integrate.quad(lambda t: t * dens(t), lo, hi, points=pts, limit=400,
                          epsabs=1e-13, epsrel=1e-12)[0] / z

    def cdf(x):
        return integrate.quad(dens, lo, x, limit=400, epsabs=1e-13, epsrel=1e-12)[0] / z
    med = optimize.brentq(lambda x: cdf(x) - 0.5, -10, 10, xtol=1e-12)
    return mean, cdf(c), med


def test_mixture_posterior_matches_numerical_integration():
    prior = B.Mixture(np.array([0.2, 0.5, 0.3]), np.array([0.0, -0.6, 0.4]),
                      np.array([1.0, 0.2, 0.3]))
    ys = np.array([-1.2, -0.3, 0.5, 2.0])
    ses = np.array([0.3, 0.25, 0.5, 0.4])
    c = -0.2
    w, m, s = B.mixture_update(prior.w, prior.m, prior.s, ys, ses)
    mean = B.mixture_mean(w, m, s)
    pc = B.mixture_cdf(w, m, s, np.full((ys.size, 1), c))
    med = B.mixture_quantile(w, m, s, 0.5)
    for i in range(ys.size):
        qm, qc, qmed = _quad_posterior(prior, ys[i], ses[i], c)
        assert abs(mean[i] - qm) < 1e-6
        assert abs(pc[i] - qc) < 1e-6
        assert abs(med[i] - qmed) < 1e-6


def test_control_posterior_independent_arms_matches_integration():
    """Flat prior on the MSC arm, mixture prior on the control arm, independent arm means
    (c01 = 0): P(effect < 0) = integral of P(theta1 < theta0) over theta0's posterior."""
    prior = B.Mixture(np.array([0.3, 0.7]), np.array([0.1, 0.25]), np.array([0.7, 0.15]))
    m0, m1, v0, v1 = np.array([0.4]), np.array([-0.5]), np.array([0.05]), np.array([0.04])
    w, m, s = B.control_posterior(prior, m0, m1, v0, v1, np.zeros(1))
    got = float(B.mixture_cdf(w, m, s, np.zeros((1, 1)))[0])

    def post0(t):
        return float(prior.pdf(t)) * stats.norm.pdf(m0[0], t, math.sqrt(v0[0]))
    z = integrate.quad(post0, -10, 10, points=[0.1, 0.25, 0.4], limit=400, epsabs=1e-13)[0]
    want = integrate.quad(lambda t: post0(t) * stats.norm.cdf(t, m1[0], math.sqrt(v1[0])),
                          -10, 10, points=[0.1, 0.25, 0.4], limit=400, epsabs=1e-13)[0] / z
    assert abs(got - want) < 1e-8


def test_control_posterior_flat_limit_is_the_frequentist_estimate():
    """With correlated adjusted arm means and a (numerically) flat control prior the effect
    posterior is N(m1 - m0, v0 + v1 - 2 c01): the ANCOVA estimate and its SE."""
    rng = np.random.default_rng(3)
    t = 7
    m0, m1 = rng.normal(0, 0.3, t), rng.normal(-0.5, 0.3, t)
    v0, v1 = rng.uniform(0.03, 0.06, t), rng.uniform(0.03, 0.06, t)
    c01 = rng.uniform(-0.004, 0.004, t)
    w, m, s = B.control_posterior(B.Mixture.normal(0.0, 1e7), m0, m1, v0, v1, c01)
    np.testing.assert_allclose(m[:, 0], m1 - m0, atol=1e-9)
    np.testing.assert_allclose(s[:, 0], np.sqrt(v0 + v1 - 2 * c01), atol=1e-9)


def test_vectorised_rule_equals_a_scalar_loop():
    prior = B.robustify(B.Mixture(np.array([0.6, 0.4]), np.array([0.15, 0.2]),
                                  np.array([0.12, 0.3])), 0.2, 0.8)
    rng = np.random.default_rng(5)
    t = 6
    m0, m1 = rng.normal(0.2, 0.3, t), rng.normal(-0.4, 0.3, t)
    v0, v1, c01 = np.full(t, 0.045), np.full(t, 0.04), np.full(t, -0.001)
    rule = dict(go_prob=0.975, go_value=-0.3, nogo_threshold=-0.3, nogo_prob=0.1,
                lower_better=True)
    vec = B.decide(*B.control_posterior(prior, m0, m1, v0, v1, c01), **rule)
    for i in range(t):
        one = B.decide(*B.control_posterior(prior, m0[i:i + 1], m1[i:i + 1], v0[i:i + 1],
                                            v1[i:i + 1], c01[i:i + 1]), **rule)
        for k in ("p_benefit", "median", "p_nogo"):
            assert vec[k][i] == pytest.approx(one[k][0], abs=1e-12)
        assert vec["decision"][i] == one["decision"][0]


def test_box_p_is_the_prior_predictive_tail():
    prior = B.Mixture.normal(0.2, 0.3)
    y, se = np.array([0.2, 0.9, -0.6]), np.array([0.2, 0.2, 0.25])
    p = B.box_p(prior.w, prior.m, prior.s, y, se)
    sd = np.sqrt(0.09 + se ** 2)
    np.testing.assert_allclose(p, 2 * stats.norm.sf(np.abs(y - 0.2) / sd), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# MAP prior
# ---------------------------------------------------------------------------------------------

def _dbl(f, tau_sd):
    """Integral of f(z, tau) over tau in [0, 6 tau_sd] (the half-normal keeps 2e-9 beyond),
    z in [-7, 7] (scipy dblquad)."""
    return integrate.dblquad(f, 0.0, 6.0 * tau_sd, -7.0, 7.0, epsabs=1e-8, epsrel=1e-7)[0]


def test_map_prior_matches_double_quadrature_over_mu_and_tau():
    """p(theta_new | y) = int int N(theta; mu, tau^2) p(mu, tau | y) dmu dtau with flat mu and
    half-normal tau, by dblquad. Substituting mu = theta + tau z makes the integrand smooth
    at tau -> 0: phi(z) prod_i N(y_i; theta + tau z, s_i^2 + tau^2) HN(tau)."""
    tau_sd = 0.3
    mp = B.map_prior(Y, S, tau_prior_sd=tau_sd)

    s2 = S ** 2

    def lik(mu, tau):      # prod_i N(y_i; mu, s_i^2 + tau^2) x half-normal kernel of tau
        v = s2 + tau * tau
        return math.exp(-0.5 * float(np.sum((Y - mu) ** 2 / v)) - 0.5 * (tau / tau_sd) ** 2) \
            / math.sqrt(float(np.prod(v)))

    # normaliser and moments of mu over (mu, tau): mu = 0.1 + z (z wide enough)
    def over_mu(g):
        return integrate.dblquad(lambda z, tau: g(0.1 + z, tau) * lik(0.1 + z, tau), 0.0,
                                 6.0 * tau_sd, -1.5, 1.5, epsabs=1e-9, epsrel=1e-8)[0]
    zn = over_mu(lambda mu, tau: 1.0)
    mean = over_mu(lambda mu, tau: mu) / zn
    second = over_mu(lambda mu, tau: mu * mu + tau * tau) / zn
    assert abs(mp.mixture.mean - mean) < 1e-4
    assert abs(mp.mixture.sd - math.sqrt(second - mean ** 2)) < 1e-4
    for theta in (-0.6, 0.12, 0.9):
        dens = _dbl(lambda z, tau: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
                    * lik(theta + tau * z, tau), tau_sd) / zn
        assert abs(float(mp.mixture.pdf(theta)) - dens) < 1e-4, theta


def test_map_prior_with_a_normal_prior_on_mu():
    """A normal prior on mu is one more study of variance mu_sd^2 that does not depend on tau:
    at a tiny tau_prior_sd the MAP is the fixed-effect posterior of mu."""
    mp = B.map_prior(Y, S, tau_prior_sd=1e-6, mu_prior=(0.0, 0.5))
    prec = (1 / S ** 2).sum() + 1 / 0.25
    assert mp.mixture.mean == pytest.approx((Y / S ** 2).sum() / prec, abs=1e-8)
    assert mp.mixture.sd == pytest.approx(prec ** -0.5, abs=1e-8)


def test_mixture_approximation_reports_its_error():
    mp = B.map_prior(Y, S, tau_prior_sd=0.3)
    approx, err = B.approximate(mp.mixture, tolerance=0.005)
    assert err <= 0.005
    # independently: the largest CDF difference on another grid is the one reported
    g = np.linspace(-3, 3, 6007)
    diff = np.max(np.abs(stats.norm.cdf((g[:, None] - approx.m) / approx.s) @ approx.w
                         - stats.norm.cdf((g[:, None] - mp.mixture.m) / mp.mixture.s)
                         @ mp.mixture.w))
    assert diff <= err + 1e-6
    assert approx.w.sum() == pytest.approx(1.0, abs=1e-12)
    assert approx.mean == pytest.approx(mp.mixture.mean, abs=1e-3)
    assert approx.sd == pytest.approx(mp.mixture.sd, abs=1e-3)


# ---------------------------------------------------------------------------------------------
# effective sample size
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 7, 25])
def test_ess_of_the_posterior_of_n_unit_observations_is_n(n):
    sigma = 0.8
    prior = B.Mixture.normal(0.3, sigma / math.sqrt(n))   # flat prior + n observations
    for method in B.ESS_METHODS:
        assert B.ess(prior, sigma, method) == pytest.approx(n, rel=1e-10)


def test_ess_elir_of_a_mixture_matches_numerical_integration():
    """ELIR = sigma^2 E_p[-(log p)''], (log p)'' by central differences, E_p by quad."""
    mix = B.Mixture(np.array([0.2, 0.8]), np.array([0.0, 0.2]), np.array([0.8, 0.15]))
    sigma, h = 0.8, 1e-4

    def info(t):
        lp = [math.log(float(mix.pdf(t + d))) for d in (-h, 0.0, h)]
        return -(lp[0] - 2 * lp[1] + lp[2]) / h ** 2
    want = sigma ** 2 * integrate.quad(lambda t: float(mix.pdf(t)) * info(t), -6, 6,
                                       points=[0.0, 0.2], limit=400)[0]
    assert B.ess(mix, sigma, "elir") == pytest.approx(want, rel=1e-5)
    assert B.ess(mix, sigma, "moment") == pytest.approx(sigma ** 2 / mix.sd ** 2, rel=1e-12)


def test_scenario_reports_ess_with_its_method():
    sc = load_scenario(SHIPPED)
    r = power(sc, n_trials=1000)
    rows = {(x["design_point"], x["metric"]): x["estimate"] for x in r.rows()
            if x["hypothesis"] == "bayes"}
    prior = ob.prior_for(r.design)
    assert rows[("n_per_arm=15 prior", "prior_ess_elir")] == pytest.approx(
        B.ess(prior.mixture, prior.sigma_unit, "elir"))
    assert rows[("n_per_arm=15 prior", "prior_ess_moment")] == pytest.approx(
        prior.sigma_unit ** 2 / prior.mixture.sd ** 2)
    assert rows[("n_per_arm=15 prior", "map_approx_max_cdf_error")] <= 0.005


# ---------------------------------------------------------------------------------------------
# operating characteristics
# ---------------------------------------------------------------------------------------------

VAGUE = {"prior": "vague", "go_prob": 0.975, "go_value": 0.0, "oc_effects": [0.0]}


def _p_go(res, label: str) -> tuple[float, float]:
    for x in res.rows():
        if x["hypothesis"] == "bayes" and x["design_point"].endswith(label) \
                and x["metric"] == "p_go":
            return x["estimate"], x["mc_se"]
    raise KeyError(label)


def test_vague_rule_has_the_one_sided_type_i_error():
    """P(effect < 0 | data) > 0.975 with a flat prior and a large trial (df 797, so the
    plug-in SE's t-versus-z excess is 0.0002): type I error 0.025 within 3 MC SE."""
    r = 60_000
    res = power(_sc(VAGUE, **{"design.n_per_arm": 400}), n_trials=r)
    p, se = _p_go(res, "effect=0")
    assert abs(p - 0.025) <= binom_tol(0.025, r)
    assert se == pytest.approx(math.sqrt(p * (1 - p) / r))


def test_vague_rule_small_trial_is_the_plug_in_z_test():
    """At 15 per arm the rule is a z test on a t statistic (df 27): its type I error is
    P(T_27 < -1.96) = 0.0298, not 0.025 (the plug-in SE is an estimate), within 3 MC SE."""
    r = 40_000
    res = power(_sc(VAGUE, **{"design.n_per_arm": 15}), n_trials=r)
    p, _ = _p_go(res, "effect=0")
    want = stats.t.cdf(-stats.norm.ppf(0.975), 27)
    assert abs(p - want) <= binom_tol(want, r)


def test_grid_effects_equal_re_running_the_engine():
    """A condition effect=x is the same trials shifted; re-running the engine at md = x (same
    seed, same patients) gives the same estimates and the same P(Go)."""
    bay = {"prior": "robust_map", "target": "control", "tau_prior_sd": 0.3,
           "studies": [{"study": f"s{i}", "y": float(y), "se": float(s), "flag": "ASSUMED",
                        "source": "test"} for i, (y, s) in enumerate(zip(Y, S))],
           "oc_effects": [-0.2], "go_value": -0.1, "nogo_threshold": -0.1}
    a = power(_sc(bay), n_trials=2000)
    b = power(_sc(bay, **{"effect.md": -0.2}), n_trials=2000)
    np.testing.assert_allclose(b.trials["point_est"][:, 0], a.trials["point_est"][:, 0] + 0.3,
                               atol=1e-9)
    np.testing.assert_allclose(b.trials["arm_means"][:, [0, 1, 3, 4, 5]],
                               a.trials["arm_means"][:, [0, 1, 3, 4, 5]], atol=1e-9)
    assert _p_go(a, "effect=-0.2") == _p_go(b, "effect=-0.2 (scenario)")


def test_borrowing_a_matching_prior_with_no_conflict_and_inflation_under_drift():
    """The shipped MAP prior (mean +0.16, near the simulated control drift +0.2): borrowing
    keeps P(Go | null) at or below the flat rule's; a control arm that truly does better than
    the historical ones (shift -0.4) inflates it (the prior pulls the control estimate up, the
    effect down). P(Go) + P(No-Go) + P(consider) = 1 in every condition."""
    sc = load_scenario(SHIPPED)
    r = power(sc, n_trials=4000)
    rows = {(x["design_point"], x["metric"]): (x["estimate"], x["mc_se"]) for x in r.rows()
            if x["hypothesis"] == "bayes"}
    base = "n_per_arm=15 "
    infl0, se0 = rows[(base + "effect=0", "go_inflation")]
    infl, se = rows[(base + "control_shift=-0.4 effect=0", "go_inflation")]
    assert infl0 < 3 * se0
    assert infl > 3 * se
    for dp in ("effect=0", "design_prior", "control_shift=+0.4 effect=0"):
        tot = sum(rows[(base + dp, m)][0] for m in ("p_go", "p_nogo", "p_consider"))
        assert tot == pytest.approx(1.0, abs=1e-12)


def test_same_seed_same_numbers_whatever_the_chunk_order():
    sc = load_scenario(SHIPPED)
    a = simulate(sc, [15], n_trials=3000, keep=(15,))[15]
    b = simulate(sc, [15], n_trials=3000, keep=(15,), chunks=[2, 0, 1])[15]
    ra = [x for x in a.rows() if x["hypothesis"] == "bayes"]
    rb = [x for x in b.rows() if x["hypothesis"] == "bayes"]
    assert ra == rb and len(ra) > 50


def test_results_table_and_json_carry_the_bayes_rows():
    from simtrial.oc.run import run
    res = run(load_scenario(SHIPPED), n_trials=1000)
    f = res.to_frame()
    b = f[f["table"] == "bayes"]
    assert set(b["metric"]) >= {"p_go", "p_nogo", "p_consider", "prior_ess_elir"}
    assert b[b["metric"] == "p_go"]["mc_se"].notna().all()
    assert not (f[f["table"] == "design"]["hypothesis"] == "bayes").any()


# ---------------------------------------------------------------------------------------------
# input errors
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, msg", [
    ({"prior": "mapp"}, 'bayes.prior = "mapp" must be one of "vague" | "normal" | "map" | '
                        '"robust_map"'),
    ({"prior": "map", "tau_prior_sd": 0.5}, 'bayes.prior = "map" needs exactly one of studies'),
    ({"robust_weight": 0.5}, 'bayes.robust_weight = 0.5 is only used with prior = "robust_map"'),
    ({"prior": "normal", "prior_mean": 0.0}, 'bayes.prior = "normal" needs prior_mean and '
                                             'prior_sd'),
    ({"go_prob": 1.2}, "bayes.go_prob = 1.2 must be < 1"),
    ({"oc_effects": "x"}, 'bayes.oc_effects = "x" must be a list of numbers'),
    ({"conflict_shifts": [0.1]}, 'bayes.conflict_shifts = [0.1] is only used with target = '
                                 '"control"'),
    ({"gp_prob": 0.9}, "bayes.gp_prob is not a known key (did you mean go_prob?)"),
    ({"prior": "map", "tau_prior_sd": 0.3, "studies": [{"study": "a", "y": 0.1, "se": -1,
                                                        "flag": "ASSUMED", "source": "x"}]},
     "bayes.studies[0].se = -1.0 must be > 0"),
    ({"prior": "map", "tau_prior_sd": 0.3, "studies": [{"study": "a", "y": 0.1, "se": 0.2,
                                                        "flag": "GUESS", "source": "x"}]},
     'bayes.studies[0].flag = "GUESS" must be one of "REPORTED" | "DERIVED" | "ASSUMED"'),
    ({"prior": "map", "evidence": "k25abs_hba1c_12m_allx"},
     'bayes.evidence = "k25abs_hba1c_12m_allx" is not an evidence row id'),
    ({"prior": "map", "target": "control", "evidence": "k25abs_hba1c_12m_all"},
     'bayes.evidence = "k25abs_hba1c_12m_all" gives an effect; it needs target = "effect"'),
    ({"prior": "map", "studies_file": "nope.csv", "tau_prior_sd": 0.3},
     'bayes.studies_file = "nope.csv": file = "nope.csv" cannot be read'),
])
def test_bad_keys_are_one_line_errors(bad, msg):
    """Keys at parse time; a studies file or an evidence row when the design is built (before
    anything is simulated or written: the CLI builds the design first)."""
    assert_scenario_error(lambda: build_design(_sc(bad)), msg)


def test_cli_bad_bayes_key_exits_2_without_files(tmp_path, capsys):
    run_refused(tmp_path, capsys, SHIPPED, ("go_prob = 0.975", "go_prob = 2"),
                "scenario error: bayes.go_prob = 2.0 must be < 1 (e.g. go_prob = 0.975)")


def test_unsupported_design_is_a_one_line_error():
    sc = _sc(VAGUE, **{"outcome_model.heterogeneity": "responders",
                       "outcome_model.responder_fraction": 0.5})
    with pytest.raises(SimtrialError, match=r"^scenario error: \[bayes\] needs a design the "
                                            r"sufficient-statistics kernel serves"):
        power(sc, n_trials=100)
    with pytest.raises(SimtrialError, match='kernel = "full" does not keep the per-arm sums'):
        power(_sc(VAGUE), n_trials=100, kernel="full")


def test_studies_file_relative_to_the_scenario(tmp_path):
    (tmp_path / "controls.csv").write_text("study,md,se\n" + "".join(
        f"s{i},{y},{s}\n" for i, (y, s) in enumerate(zip(Y, S))))
    d = copy.deepcopy(BASE)
    d["bayes"] = {"prior": "map", "target": "control", "tau_prior_sd": 0.3,
                  "studies_file": "controls.csv"}
    sc = parse_scenario(d, origin=str(tmp_path / "s.toml"))
    prior = ob.prior_for(build_design(sc))
    assert prior.map.mixture.mean == pytest.approx(
        B.map_prior(Y, S, tau_prior_sd=0.3).mixture.mean, abs=1e-12)
