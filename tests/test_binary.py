"""Responder-endpoint tests: scipy oracles, published examples, exact enumerated sizes.

Monte Carlo tolerances are 3 MC SE of the checked rate, computed here from the number of trials.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, special, stats

from simtrial.stats.binary import (STATUS_OK, STATUS_SEPARATION, STATUS_SINGULAR, chisq_test,
                             cmh_test, fisher_test, logistic_test, risk_difference)

from .helpers import binom_tol

ALPHA = 0.05
R_SIZE = 100_000


def _table(x0, n0, x1, n1):
    """The 2x2 table in scipy's orientation: rows treatment/control, columns yes/no."""
    return [[int(x1), int(n1 - x1)], [int(x0), int(n0 - x0)]]


def _random_tables(rng, n, nmax):
    n0 = rng.integers(0, nmax, n)
    n1 = rng.integers(0, nmax, n)
    x0 = rng.binomial(n0, rng.uniform(size=n))
    x1 = rng.binomial(n1, rng.uniform(size=n))
    return x0, n0, x1, n1


# ---------------------------------------------------------------------------------------------
# two-arm tables vs scipy
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_fisher_matches_scipy_fisher_exact(alternative):
    rng = np.random.default_rng(1)
    x0, n0, x1, n1 = _random_tables(rng, 1500, 30)
    # equal arms (mathematically tied probabilities), degenerate margins, larger tables
    eq = np.full(500, 25)
    big0, big1 = rng.integers(100, 400, 200), rng.integers(100, 400, 200)
    x0 = np.r_[x0, rng.binomial(eq, 0.4), 0, 5, 0, rng.binomial(big0, 0.3)]
    n0 = np.r_[n0, eq, 10, 5, 0, big0]
    x1 = np.r_[x1, rng.binomial(eq, 0.4), 0, 7, 3, rng.binomial(big1, 0.36)]
    n1 = np.r_[n1, eq, 10, 7, 9, big1]
    p = fisher_test(x0, n0, x1, n1, alternative, max_cells=5000)   # small chunks on purpose
    ref = np.array([stats.fisher_exact(_table(*row), alternative=alternative).pvalue
                    for row in zip(x0, n0, x1, n1)])
    assert np.abs(p - ref).max() <= 1e-10
    assert np.all((p > 0) & (p <= 1))


@pytest.mark.parametrize("correction", [False, True])
def test_chisq_matches_scipy_chi2_contingency(correction):
    rng = np.random.default_rng(2)
    x0, n0, x1, n1 = _random_tables(rng, 800, 60)
    stat, p = chisq_test(x0, n0, x1, n1, correction=correction)
    for i in range(len(x0)):
        tab = np.array(_table(x0[i], n0[i], x1[i], n1[i]))
        if (tab.sum(0) == 0).any() or (tab.sum(1) == 0).any():
            assert stat[i] == 0 and p[i] == 1        # scipy raises on zero expected counts
            continue
        ref = stats.chi2_contingency(tab, correction=correction)
        assert stat[i] == pytest.approx(ref.statistic, rel=1e-12, abs=1e-12)
        assert p[i] == pytest.approx(ref.pvalue, rel=1e-10, abs=1e-14)


def test_chisq_one_sided_is_pooled_z_and_degenerate_tables_give_p_one():
    x0, n0, x1, n1 = np.array([8, 12]), np.array([40, 40]), np.array([15, 9]), np.array([40, 35])
    p0, p1 = x0 / n0, x1 / n1
    pbar = (x0 + x1) / (n0 + n1)
    z = (p1 - p0) / np.sqrt(pbar * (1 - pbar) * (1 / n0 + 1 / n1))
    _, pg = chisq_test(x0, n0, x1, n1, alternative="greater")
    _, pl = chisq_test(x0, n0, x1, n1, alternative="less")
    assert np.allclose(pg, stats.norm.sf(z), rtol=1e-12)
    assert np.allclose(pl, stats.norm.cdf(z), rtol=1e-12)
    stat, p = chisq_test([0, 30], [30, 30], [0, 30], [30, 30])
    assert np.array_equal(stat, [0, 0]) and np.array_equal(p, [1, 1])
    with pytest.raises(ValueError, match="alternative"):
        chisq_test(1, 2, 1, 2, alternative="two.sided")


def test_risk_difference_and_wald_se():
    est, se = risk_difference([6, 0], [20, 10], [12, 0], [25, 10])
    assert est[0] == pytest.approx(12 / 25 - 6 / 20)
    assert se[0] == pytest.approx(math.sqrt(0.3 * 0.7 / 20 + 0.48 * 0.52 / 25))
    assert est[1] == 0 and se[1] == 0
    with pytest.raises(ValueError):
        risk_difference(5, 4, 1, 2)


# ---------------------------------------------------------------------------------------------
# Cochran-Mantel-Haenszel
# ---------------------------------------------------------------------------------------------

def test_cmh_chinese_smoking_example_matches_published_sas_output():
    # Lung cancer and smoking in eight Chinese cities (Agresti, Categorical Data Analysis), run
    # through SAS PROC FREQ / CMH in the Stanford ED257 handout "A.4 SAS file for CMH analysis of
    # Chinese smoking data in Table 3.3": CMH = 280.138, Mantel-Haenszel odds ratio = 2.174.
    #            smoker: case, control   non-smoker: case, control
    d = np.array([[126, 100, 35, 61], [908, 688, 497, 807], [913, 747, 336, 598],
                  [235, 172, 58, 121], [402, 308, 121, 215], [182, 156, 72, 98],
                  [60, 99, 11, 43], [104, 89, 21, 36]])
    x1, n1, x0, n0 = d[:, 0], d[:, 0] + d[:, 1], d[:, 2], d[:, 2] + d[:, 3]
    r = cmh_test(x0[None], n0[None], x1[None], n1[None])
    assert r.stat[0] == pytest.approx(280.138, abs=5e-4)
    assert r.odds_ratio[0] == pytest.approx(2.174, abs=5e-4)
    assert r.p[0] < 1e-60


def test_cmh_rabbits_example_matches_r_documentation():
    # R stats::mantelhaen.test example (Agresti 1990, pp. 231-237, penicillin and rabbits):
    # continuity-corrected CMH "=> p = 0.047". Treatment = immediate injection, response = cured.
    # MH odds ratio by hand: sum(ad/N) = 18/12 + 24/12, sum(bc/N) = 6/12 -> 7.
    cured_now, cured_late = np.array([0, 3, 6, 5, 2]), np.array([0, 0, 2, 6, 5])
    died_now, died_late = np.array([6, 3, 0, 1, 0]), np.array([5, 6, 4, 0, 0])
    r = cmh_test(cured_late[None], (cured_late + died_late)[None], cured_now[None],
                 (cured_now + died_now)[None], correction=True)
    assert round(float(r.p[0]), 3) == 0.047
    assert r.odds_ratio[0] == pytest.approx(7.0, rel=1e-14)


# R 4.2.2 (Debian r-base-core 4.2.2.20221110-2), computed once for this file:
# mantelhaen.test(x, correct = TRUE, alternative = ALT) with x[1, 1, ] = x1, x[1, 2, ] = n1 - x1,
# x[2, 1, ] = x0, x[2, 2, ] = n0 - x0; values printed with sprintf("%.12g"). R's rule (stats
# source): YATES <- if (correct && (abs(DELTA) >= .5)) .5 else 0; STATISTIC <- (abs(DELTA) -
# YATES)^2 / sum(V), so |DELTA| < 1/2 is left uncorrected (not set to 0).
#   (x1, n1, x0, n0) per stratum -> DELTA, (statistic, p) for two.sided, greater, less
R_CMH_CORRECTED = [
    (([3, 5], [10, 12], [3, 4], [11, 10]), 0.233766233766,
     [(0.0218255304816, 0.882552175123), (0.0218255304816, 0.441276087561),
      (0.0218255304816, 0.558723912439)]),
    (([4, 6, 2], [9, 11, 7], [4, 5, 2], [10, 10, 8]), 0.581954887218,
     [(0.00199131967943, 0.964406849007), (0.00199131967943, 0.482203424504),
      (0.00199131967943, 0.517796575496)]),
    (([7, 9], [12, 14], [4, 5], [12, 13]), 3.24074074074,
     [(2.27491815493, 0.131482065879), (2.27491815493, 0.0657410329397),
      (2.27491815493, 0.93425896706)]),
    (([5, 5], [10, 10], [5, 5], [10, 10]), 0.0, [(0.0, 1.0), (0.0, 0.5), (0.0, 0.5)]),
]


@pytest.mark.parametrize("table,delta,expected", R_CMH_CORRECTED,
                         ids=["delta-0.23", "delta-0.58", "delta-3.2", "delta-0"])
def test_cmh_continuity_correction_follows_r_mantelhaen_test(table, delta, expected):
    x1, n1, x0, n0 = (np.array(v)[None] for v in table)
    e_a = n1 * (x1 + x0) / (n0 + n1)
    assert float((x1 - e_a).sum()) == pytest.approx(delta, abs=1e-11)
    for alternative, (stat, p) in zip(("two-sided", "greater", "less"), expected):
        r = cmh_test(x0, n0, x1, n1, correction=True, alternative=alternative)
        assert r.stat[0] == pytest.approx(stat, rel=1e-10, abs=1e-15), alternative
        assert r.p[0] == pytest.approx(p, rel=1e-10), alternative
    # |DELTA| < 1/2: no correction at all, the same statistic as correction=False
    if abs(delta) < 0.5:
        plain = cmh_test(x0, n0, x1, n1)
        assert cmh_test(x0, n0, x1, n1, correction=True).stat[0] == plain.stat[0]


def loop_cmh(x0, n0, x1, n1):
    """One trial at a time, straight from the formulas (Agresti 2013 6.4; RBG 1986; Sato 1989)."""
    num = var = r_sum = s_sum = 0.0
    pr = ps_qr = qs = 0.0
    w_sum = wd = p_s = q_s = 0.0
    for k in range(len(x0)):
        a, b, c, d = x1[k], n1[k] - x1[k], x0[k], n0[k] - x0[k]
        n = a + b + c + d
        if n == 0:
            continue
        if n > 1:
            num += a - (a + b) * (a + c) / n
            var += (a + b) * (c + d) * (a + c) * (b + d) / (n * n * (n - 1))
        r, s = a * d / n, b * c / n
        p, q = (a + d) / n, (b + c) / n
        r_sum += r
        s_sum += s
        pr += p * r
        ps_qr += p * s + q * r
        qs += q * s
        m1, m0 = a + b, c + d
        w = m1 * m0 / n
        if w > 0:
            w_sum += w
            wd += w * (a / m1 - c / m0)
        p_s += (m1 * m1 * c - m0 * m0 * a + m1 * m0 * (m0 - m1) / 2) / n ** 2
        q_s += (a * (m0 - c) + c * (m1 - a)) / (2 * n)
    stat = num * num / var if var > 0 else 0.0
    if r_sum == 0 or s_sum == 0:
        return stat, math.nan, math.nan, math.nan, math.nan
    v_log = pr / (2 * r_sum ** 2) + ps_qr / (2 * r_sum * s_sum) + qs / (2 * s_sum ** 2)
    rd = wd / w_sum
    return stat, r_sum / s_sum, math.sqrt(v_log), rd, math.sqrt(rd * p_s + q_s) / w_sum


def test_cmh_matches_loop_implementation():
    rng = np.random.default_rng(5)
    t, s = 300, 3
    n0, n1 = rng.integers(4, 30, (t, s)), rng.integers(4, 30, (t, s))
    x0 = rng.binomial(n0, rng.uniform(0.1, 0.9, (t, s)))
    x1 = rng.binomial(n1, rng.uniform(0.1, 0.9, (t, s)))
    r = cmh_test(x0, n0, x1, n1)
    got = np.c_[r.stat, r.odds_ratio, r.log_or_se, r.risk_difference, r.risk_difference_se]
    want = np.array([loop_cmh(*(v[i] for v in (x0, n0, x1, n1))) for i in range(t)])
    fine = np.isfinite(want).all(axis=1)
    assert fine.mean() > 0.95
    assert np.allclose(got[fine], want[fine], rtol=1e-10, atol=1e-12)
    assert np.allclose(r.p, stats.chi2.sf(want[:, 0], 1), rtol=1e-9)


def test_cmh_single_stratum_identities():
    rng = np.random.default_rng(6)
    n0, n1 = rng.integers(10, 50, 200), rng.integers(10, 50, 200)
    x0, x1 = rng.binomial(n0, 0.3), rng.binomial(n1, 0.5)
    ok = (x0 > 0) & (x0 < n0) & (x1 > 0) & (x1 < n1)
    x0, n0, x1, n1 = x0[ok], n0[ok], x1[ok], n1[ok]
    r = cmh_test(x0[:, None], n0[:, None], x1[:, None], n1[:, None])
    n = n0 + n1
    pearson, _ = chisq_test(x0, n0, x1, n1)
    assert np.allclose(r.stat, pearson * (n - 1) / n, rtol=1e-12)       # (N-1)/N X^2
    a, b, c, d = x1, n1 - x1, x0, n0 - x0
    assert np.allclose(r.odds_ratio, a * d / (b * c), rtol=1e-12)
    assert np.allclose(r.log_or_se, np.sqrt(1 / a + 1 / b + 1 / c + 1 / d), rtol=1e-12)  # Woolf
    rd, se = risk_difference(x0, n0, x1, n1)
    assert np.allclose(r.risk_difference, rd, rtol=1e-12)
    _, se_eq = risk_difference(x0, n0, np.minimum(x1, n0), n0)
    eq = cmh_test(x0[:, None], n0[:, None], np.minimum(x1, n0)[:, None], n0[:, None])
    assert np.allclose(eq.risk_difference_se, se_eq, rtol=1e-12)   # Sato = Wald when n0 = n1


def test_cmh_degenerate_strata_never_raise():
    x0 = np.array([[0, 0], [5, 5], [0, 3]])
    n0 = np.array([[5, 5], [5, 5], [0, 6]])
    x1 = np.array([[0, 0], [5, 5], [2, 0]])
    n1 = np.array([[5, 5], [5, 5], [4, 0]])
    r = cmh_test(x0, n0, x1, n1)
    assert np.array_equal(r.stat, [0, 0, 0]) and np.array_equal(r.p, [1, 1, 1])
    assert np.isnan(r.risk_difference[2])     # no stratum has both arms


# ---------------------------------------------------------------------------------------------
# logistic regression
# ---------------------------------------------------------------------------------------------

def scipy_logistic(x, y, w):
    """Weighted logistic MLE by scipy.optimize (trust-exact) and its inverse-information SE."""
    def f(b):
        e = x @ b
        return -(w * (y * e - np.logaddexp(0, e))).sum()

    def g(b):
        return -x.T @ (w * (y - special.expit(x @ b)))

    def h(b):
        m = special.expit(x @ b)
        return (x * (w * m * (1 - m))[:, None]).T @ x

    o = optimize.minimize(f, np.zeros(x.shape[1]), jac=g, hess=h, method="trust-exact",
                          options={"gtol": 1e-11})
    return o.x, np.sqrt(np.diag(np.linalg.inv(h(o.x))))


def test_logistic_matches_scipy_optimize_per_trial():
    rng = np.random.default_rng(7)
    t, n = 8, 70
    arm = (np.arange(n) % 2 == 0).astype(float) * np.ones((t, 1))
    cov = rng.normal(size=(t, n, 2))
    y = (rng.uniform(size=(t, n)) < special.expit(-0.4 + 0.9 * arm + cov @ [0.6, -0.3])) * 1.0
    mask = rng.uniform(size=(t, n)) < 0.85
    y_obs, cov_obs = y.copy(), cov.copy()
    y_obs[~mask] = np.nan                          # excluded patients' data are ignored
    cov_obs[~mask] = np.nan
    r = logistic_test(y_obs, arm, cov_obs, mask, columns=[0, 1, 2, 3])
    assert (r.status == STATUS_OK).all()
    for i in range(t):
        x = np.c_[np.ones(n), arm[i], cov[i]]
        b, se = scipy_logistic(x, y[i], mask[i] * 1.0)
        assert np.allclose(r.est[i], b, atol=1e-5, rtol=0)
        assert np.allclose(r.se[i], se, atol=1e-5, rtol=0)
    assert np.allclose(r.z, r.est / r.se)
    assert np.allclose(r.p, 2 * stats.norm.sf(np.abs(r.z)))


def test_logistic_multi_arm_design_matches_scipy():
    rng = np.random.default_rng(8)
    t, n = 5, 90
    grp = np.arange(n) % 3
    x = np.stack([np.ones(n), grp == 1, grp == 2, rng.normal(size=n)], axis=1).astype(float)
    y = (rng.uniform(size=(t, n)) < special.expit(x @ [-0.5, 0.7, 1.1, 0.4])) * 1.0
    r = logistic_test(y, x=x, columns=[1, 2])
    for i in range(t):
        b, se = scipy_logistic(x, y[i], np.ones(n))
        assert np.allclose(r.est[i], b[1:3], atol=1e-5) and np.allclose(r.se[i], se[1:3], atol=1e-5)
    g = logistic_test(y, x=x, columns=2, alternative="greater")
    assert g.est.shape == (t,) and np.allclose(g.p, stats.norm.sf(r.z[:, 1]))
    # the positional form logistic_test(y, x3d, mask) and keyed access used by simtrial.sim.full
    mask = np.ones((t, n), bool)
    mask[:, :9] = False
    pos = logistic_test(y, np.broadcast_to(x, (t, n, 4)), mask, columns=[1])
    kw = logistic_test(y, x=x, mask=mask, columns=[1])
    assert np.array_equal(pos["est"], kw.est) and pos["est"].shape == (t, 1)
    assert np.array_equal(pos["status"], kw.status)


def test_logistic_arm_only_is_the_woolf_log_odds_ratio():
    rng = np.random.default_rng(9)
    t, n = 400, 40
    arm = np.r_[np.zeros(n), np.ones(n)] * np.ones((t, 1))
    y = (rng.uniform(size=(t, 2 * n)) < np.where(arm > 0, 0.45, 0.3)) * 1.0
    r = logistic_test(y, arm)
    a, c = y[:, n:].sum(1), y[:, :n].sum(1)
    b, d = n - a, n - c
    fine = (a > 0) & (b > 0) & (c > 0) & (d > 0)
    assert np.array_equal(r.status == STATUS_OK, fine)
    assert np.allclose(r.est[fine], np.log(a * d / (b * c))[fine], atol=1e-9)
    assert np.allclose(r.se[fine], np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)[fine], atol=1e-9)


def test_logistic_grouped_weights_equal_expanded_patients():
    rng = np.random.default_rng(10)
    t = 50
    counts = rng.integers(1, 15, (t, 8)).astype(float)
    arm = np.array([0, 0, 1, 1, 0, 0, 1, 1.0])
    strat = np.array([0, 0, 0, 0, 1, 1, 1, 1.0])
    yy = np.array([1, 0, 1, 0, 1, 0, 1, 0.0])
    g = logistic_test(yy * np.ones((t, 1)), arm * np.ones((t, 1)), strat * np.ones((t, 1)),
                      counts)
    for i in range(0, t, 10):
        rep = counts[i].astype(int)
        e = logistic_test(np.repeat(yy, rep)[None], np.repeat(arm, rep)[None],
                          np.repeat(strat, rep)[None])
        assert e.status[0] == g.status[i]
        if e.status[0] == STATUS_OK:
            assert e.est[0] == pytest.approx(g.est[i], abs=1e-10)
            assert e.se[0] == pytest.approx(g.se[i], abs=1e-10)


def test_logistic_separation_and_singular_designs_are_flagged():
    rng = np.random.default_rng(11)
    t, n = 5, 40
    arm = np.r_[np.zeros(20), np.ones(20)] * np.ones((t, 1))
    cov = rng.normal(size=(t, n))
    y = (rng.uniform(size=(t, n)) < 0.4) * 1.0
    y[0] = arm[0]                                   # complete separation by arm
    y[1, arm[1] == 1] = 0                           # quasi-complete: no responders on treatment
    y[2] = cov[2] > 0.3                             # complete separation by the covariate
    cov[3] = 1.0                                    # covariate collinear with the intercept
    r = logistic_test(y, arm, cov)
    assert list(r.status) == [STATUS_SEPARATION] * 3 + [STATUS_SINGULAR, STATUS_OK]
    assert np.isnan(r.est[:4]).all() and (r.p[:4] == 1).all()
    alone = logistic_test(y[4:], arm[4:], cov[4:])   # a trial's fit ignores its neighbours
    assert alone.est[0] == r.est[4] and alone.se[0] == r.se[4]


# ---------------------------------------------------------------------------------------------
# size under the null: Monte Carlo vs exact enumeration
# ---------------------------------------------------------------------------------------------

def _rate(reject):
    return float(np.mean(reject))


def test_chisq_and_fisher_size_match_exact_enumeration():
    """p0 = p1 = 0.3, n = 40 per arm: exact size by summing binomial products over all tables."""
    n, pi = 40, 0.3
    k = np.arange(n + 1)
    w = np.outer(stats.binom.pmf(k, n, pi), stats.binom.pmf(k, n, pi))   # [x0, x1]
    rej_chi = np.zeros((n + 1, n + 1), bool)
    rej_fis = np.zeros((n + 1, n + 1), bool)
    for i in k:
        for j in k:
            tab = _table(i, n, j, n)
            if 0 < i + j < 2 * n:
                rej_chi[i, j] = stats.chi2_contingency(tab, correction=False).pvalue <= ALPHA
            rej_fis[i, j] = stats.fisher_exact(tab).pvalue <= ALPHA
    size_chi, size_fis = float((w * rej_chi).sum()), float((w * rej_fis).sum())
    assert size_fis <= ALPHA                        # Fisher is conservative, exactly

    rng = np.random.default_rng(12)
    x0, x1 = rng.binomial(n, pi, R_SIZE), rng.binomial(n, pi, R_SIZE)
    mc_chi = _rate(chisq_test(x0, n, x1, n)[1] <= ALPHA)
    mc_fis = _rate(fisher_test(x0, n, x1, n) <= ALPHA)
    assert abs(mc_chi - size_chi) <= binom_tol(size_chi, R_SIZE), (mc_chi, size_chi)
    assert abs(mc_fis - size_fis) <= binom_tol(size_fis, R_SIZE), (mc_fis, size_fis)
    assert mc_fis <= ALPHA + binom_tol(ALPHA, R_SIZE)


# two strata with different base rates, 20 per arm per stratum, no treatment effect
STRATA_RATES = (0.2, 0.5)
M = 20


def _enumerate_strata():
    """All (x0_1, x1_1, x0_2, x1_2) with their null probabilities."""
    k = np.arange(M + 1)
    g = np.meshgrid(k, k, k, k, indexing="ij")
    x0a, x1a, x0b, x1b = (v.ravel() for v in g)
    pa, pb = (stats.binom.pmf(k, M, r) for r in STRATA_RATES)
    prob = pa[x0a] * pa[x1a] * pb[x0b] * pb[x1b]
    return x0a, x1a, x0b, x1b, prob


def test_cmh_size_matches_exact_enumeration():
    x0a, x1a, x0b, x1b, prob = _enumerate_strata()
    # oracle CMH statistic written out for two strata of 2M patients each (Agresti 2013, 6.4)
    num = var = 0.0
    for x0, x1 in ((x0a, x1a), (x0b, x1b)):
        m1 = x0 + x1
        num = num + x1 - m1 / 2
        var = var + M * M * m1 * (2 * M - m1) / ((2 * M) ** 2 * (2 * M - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(var > 0, num * num / var, 0.0)
    exact = float(prob[stats.chi2.sf(stat, 1) <= ALPHA].sum())

    rng = np.random.default_rng(13)
    x0 = rng.binomial(M, STRATA_RATES, (R_SIZE, 2))
    x1 = rng.binomial(M, STRATA_RATES, (R_SIZE, 2))
    r = cmh_test(x0, M, x1, M)
    mc = _rate(r.p <= ALPHA)
    assert abs(mc - exact) <= binom_tol(exact, R_SIZE), (mc, exact)
    assert mc <= ALPHA + binom_tol(ALPHA, R_SIZE)


@pytest.fixture(scope="module")
def enumerated_logistic():
    """Every 2-stratum table fitted as grouped data (8 weighted rows) with model arm + stratum."""
    x0a, x1a, x0b, x1b, prob = _enumerate_strata()
    arm = np.array([0, 0, 1, 1, 0, 0, 1, 1.0])
    strat = np.array([0, 0, 0, 0, 1, 1, 1, 1.0])
    yy = np.array([1, 0, 1, 0, 1, 0, 1, 0.0])
    counts = np.stack([x0a, M - x0a, x1a, M - x1a, x0b, M - x0b, x1b, M - x1b], axis=1)
    t = len(prob)
    fit = logistic_test(yy * np.ones((t, 1)), arm * np.ones((t, 1)), strat * np.ones((t, 1)),
                        counts)
    design = np.stack([np.ones(8), arm, strat], axis=1)
    return fit, prob, counts, design, yy


def lp_separated(x, y, w):
    """Exact separation check by linear programming (Konis 2007, safeBinaryRegression): the MLE
    is infinite iff some b != 0 has (2y - 1) x b >= 0 for every included patient."""
    s = (2 * y[w > 0] - 1)[:, None] * x[w > 0]
    res = optimize.linprog(-s.sum(axis=0), A_ub=-s, b_ub=np.zeros(len(s)),
                           bounds=[(-1, 1)] * x.shape[1], method="highs")
    return -res.fun > 1e-9


def test_logistic_separation_flag_agrees_with_linear_programming(enumerated_logistic):
    """Over all 194,481 tables: status 2 exactly where the LP finds separation (the LP depends
    only on which of the 8 cells are empty, so it runs once per zero pattern)."""
    fit, _, counts, design, yy = enumerated_logistic
    patterns, inverse = np.unique(counts > 0, axis=0, return_inverse=True)
    sep = np.array([lp_separated(design, yy, pat.astype(float)) for pat in patterns])
    assert np.array_equal(sep[inverse.ravel()], fit.status == STATUS_SEPARATION)
    assert (fit.status[~sep[inverse.ravel()]] == STATUS_OK).all()


def test_logistic_wald_with_covariate_size_matches_enumeration(enumerated_logistic):
    """Model arm + stratum on patient-level data vs the exact size of the same test.

    The exact size sums the null probabilities of the enumerated tables the grouped fit rejects
    (grouped = expanded fits is tested above); separated tables count as not rejected.
    """
    fit, prob, *_ = enumerated_logistic
    exact = float(prob[fit.p <= ALPHA].sum())
    assert abs(exact - ALPHA) < 0.01               # Wald is near nominal here

    rng = np.random.default_rng(14)
    arm_p = np.tile(np.r_[np.zeros(M), np.ones(M), np.zeros(M), np.ones(M)], (R_SIZE, 1))
    strat_p = np.tile(np.r_[np.zeros(2 * M), np.ones(2 * M)], (R_SIZE, 1))
    rate = np.where(strat_p > 0, STRATA_RATES[1], STRATA_RATES[0])
    y = (rng.uniform(size=arm_p.shape) < rate) * 1.0
    r = logistic_test(y, arm_p, strat_p)
    mc = _rate(r.p <= ALPHA)
    assert abs(mc - exact) <= binom_tol(exact, R_SIZE), (mc, exact)
