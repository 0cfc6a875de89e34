"""Multiplicity procedures: published critical values, independent re-implementations, FWER.

Every Monte Carlo tolerance is 3 MC SE of the checked rate, computed here from the number of
trials; oracles are written here from the textbook definitions, not imported from the package.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, special, stats

from simtrial.stats.multiplicity import (adjust, adjusted_p, dunnett, dunnett_corr, dunnett_critical,
                                   dunnett_stepdown, fixed_sequence, hierarchical, summarise)

from .helpers import binom_tol

ALPHA = 0.05
R_FWER = 100_000

# ---------------------------------------------------------------------------------------------
# independent oracles
# ---------------------------------------------------------------------------------------------

_GL_X, _GL_W = np.polynomial.legendre.leggauss(301)


def dunnett_box_quadrature(c, lam, df, sides):
    """P(all T_i < c) or P(all |T_i| < c) for corr_ij = lam_i lam_j, by Dunnett's (1955) integral.

    Z_i = lam_i Z + sqrt(1 - lam_i^2) e_i, so conditionally on Z the events are independent; the
    t case integrates the normal one over S = sqrt(chi2_df / df). Gauss-Legendre, 301 nodes each.
    """
    lam = np.asarray(lam, float)[:, None, None]
    r = np.sqrt(1 - lam ** 2)
    z, wz = 9 * _GL_X, 9 * _GL_W
    if math.isinf(df):
        s, ws = np.array([1.0]), np.array([1.0])
    else:
        lo, hi = stats.chi.ppf([1e-15, 1 - 1e-15], df) / math.sqrt(df)
        s = (hi - lo) / 2 * _GL_X + (hi + lo) / 2
        ws = (hi - lo) / 2 * _GL_W * stats.chi.pdf(s * math.sqrt(df), df) * math.sqrt(df)
    cs, zz = c * s[None, :, None], z[None, None, :]
    pr = special.ndtr((cs - lam * zz) / r)
    if sides == 2:
        pr = pr - special.ndtr((-cs - lam * zz) / r)
    inner = (np.prod(pr, axis=0) * np.exp(-z * z / 2) / math.sqrt(2 * math.pi) * wz).sum(-1)
    return float((inner * ws).sum())


def dunnett_quadrature_critical(lam, df, alpha, sides):
    return optimize.brentq(lambda c: 1 - dunnett_box_quadrature(c, lam, df, sides) - alpha,
                           1.0, 6.0, xtol=1e-12)


def loop_adjusted(p, method):
    """Adjusted p-values row by row from the sorted-p definitions (Wright 1992)."""
    out = np.empty_like(p)
    h = p.shape[1]
    for i, row in enumerate(p):
        row = np.where(np.isnan(row), 1.0, row)
        order = sorted(range(h), key=lambda j: (row[j], j))
        adj = {}
        for k, j in enumerate(order):
            if method == "bonferroni":
                adj[j] = min(1.0, h * row[j])
            elif method == "holm":
                adj[j] = max(min(1.0, (h - m) * row[order[m]]) for m in range(k + 1))
            else:  # hochberg
                adj[j] = min(min(1.0, (h - m) * row[order[m]]) for m in range(k, h))
        out[i] = [adj[j] for j in range(h)]
    return out


def loop_reject(p, method, alpha):
    """The sequential procedures as usually stated, one row at a time."""
    out = np.zeros(p.shape, dtype=bool)
    h = p.shape[1]
    for i, row in enumerate(p):
        row = np.where(np.isnan(row), 1.0, row)
        order = np.argsort(row, kind="stable")
        if method == "holm":          # step down: stop at the first non-rejection
            for k, j in enumerate(order):
                if row[j] <= alpha / (h - k):
                    out[i, j] = True
                else:
                    break
        elif method == "hochberg":    # step up: largest k with p_(k) <= alpha / (h - k + 1)
            for k in range(h - 1, -1, -1):
                if row[order[k]] <= alpha / (h - k):
                    out[i, order[:k + 1]] = True
                    break
    return out


def equicorrelated_z(rng, n, h, rho):
    z0 = rng.standard_normal((n, 1))
    return math.sqrt(rho) * z0 + math.sqrt(1 - rho) * rng.standard_normal((n, h))


def many_to_one_t(rng, n_trials, k, n_per_arm):
    """t statistics of k arms vs control from normal data (global null), pooled s, df."""
    y = rng.standard_normal((n_trials, k + 1, n_per_arm))
    means = y.mean(axis=2)
    ss = ((y - means[..., None]) ** 2).sum(axis=(1, 2))
    df = (k + 1) * (n_per_arm - 1)
    s = np.sqrt(ss / df)
    t = (means[:, 1:] - means[:, :1]) / (s[:, None] * math.sqrt(2 / n_per_arm))
    return t, df


# ---------------------------------------------------------------------------------------------
# Dunnett critical values
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sides,k,df,table", [
    # Dunnett CW (1955) JASA 50:1096-1121, Table 1a (one-sided, alpha = 0.05), 2 decimals
    (1, 2, math.inf, 1.92), (1, 3, math.inf, 2.06), (1, 2, 20, 2.03), (1, 3, 20, 2.19),
    (1, 4, 10, 2.47),
    # Dunnett CW (1964) Biometrics 20:482-491, Table II (exact two-sided, alpha = 0.05); quoted
    # from the table as reprinted in textbooks, not from a retrieved copy of the paper
    (2, 2, math.inf, 2.21), (2, 3, math.inf, 2.35), (2, 4, math.inf, 2.44), (2, 2, 20, 2.38),
    (2, 3, 20, 2.54), (2, 2, 10, 2.57), (2, 3, 10, 2.76),
])
def test_dunnett_critical_matches_published_two_decimal_tables(sides, k, df, table):
    c = dunnett_critical(dunnett_corr(10, [10] * k), df, 0.05, sides)
    assert abs(c - table) <= 0.005 + 2e-4, c  # half a unit of the table's last digit


@pytest.mark.parametrize("sides,k,df,ref", [
    # three-decimal df = inf values (equicoordinate normal quantiles, rho = 1/2), confirmed below
    # against the quadrature oracle: 2.2121, 2.3490, 1.9163
    (2, 2, math.inf, 2.212), (2, 3, math.inf, 2.349), (1, 2, math.inf, 1.916),
    # MCPMod::critVal(rbind(-1, diag(3)), n = 30, alpha = 0.05) = 2.084034 (package example:
    # 3 doses + placebo, 30 per group, one-sided; df = 116); mvtnorm's QMC error is ~1e-3
    (1, 3, 116, 2.084034),
])
def test_dunnett_critical_matches_published_precise_values(sides, k, df, ref):
    c = dunnett_critical(dunnett_corr(30, [30] * k), df, 0.05, sides)
    assert abs(c - ref) <= 2e-3, c


@pytest.mark.parametrize("n0,ns,df,alpha,sides", [
    (10, [10, 10], math.inf, 0.05, 2), (10, [10, 10, 10], 20, 0.05, 1),
    (30, [20, 30, 45], 25, 0.05, 2), (20, [20, 20, 20, 20], 76, 0.025, 1),
    (40, [20, 20], 60, 0.01, 2),
])
def test_dunnett_critical_matches_quadrature_of_dunnett_integral(n0, ns, df, alpha, sides):
    ns = np.asarray(ns, float)
    lam = np.sqrt(ns / (ns + n0))
    exact = dunnett_quadrature_critical(lam, df, alpha, sides)
    c = dunnett_critical(dunnett_corr(n0, ns), df, alpha, sides)
    assert abs(c - exact) <= 2e-4, (c, exact)


@pytest.mark.parametrize("sizes,sides", [((8, 8, 8, 8), 2), ((12, 6, 9), 2), ((10, 10, 10), 1)])
def test_dunnett_critical_is_where_scipy_dunnett_p_equals_alpha(sizes, sides):
    """Data built so that arm 1 has t = c and the others t = 0: scipy's Dunnett p is alpha."""
    n0, ns = sizes[0], sizes[1:]
    df = sum(sizes) - len(sizes)
    c = dunnett_critical(dunnett_corr(n0, ns), df, ALPHA, sides)
    base = [np.linspace(-1, 1, m) for m in sizes]   # zero means, fixed within-group spread
    s = math.sqrt(sum(float((b ** 2).sum()) for b in base) / df)
    shift = c * s * math.sqrt(1 / ns[0] + 1 / n0)
    samples = [base[1] + shift] + base[2:]
    res = stats.dunnett(*samples, control=base[0],
                        alternative="two-sided" if sides == 2 else "greater", rng=1)
    assert res.statistic[0] == pytest.approx(c, rel=1e-12)
    assert abs(res.pvalue[0] - ALPHA) <= 5e-4, res.pvalue


def test_dunnett_corr_formula():
    assert np.allclose(dunnett_corr(20, [20, 20, 20]), np.where(np.eye(3) > 0, 1.0, 0.5))
    corr = dunnett_corr(30, [10, 40])
    assert corr[0, 1] == pytest.approx(math.sqrt(10 * 40 / (40 * 70)))
    with pytest.raises(ValueError):
        dunnett_corr(0, [10])


def test_dunnett_critical_edge_cases():
    # one hypothesis: the unadjusted quantile; bounds: unadjusted <= c <= Bonferroni
    assert dunnett_critical([[1.0]], 15, 0.05, 2) == pytest.approx(stats.t.isf(0.025, 15))
    corr = dunnett_corr(10, [10, 10, 10])
    c = dunnett_critical(corr, math.inf, 0.05, 2)
    assert stats.norm.isf(0.025) < c < stats.norm.isf(0.05 / 6)
    # independent statistics: Sidak is exact
    c0 = dunnett_critical(np.eye(3), math.inf, 0.05, 1)
    assert c0 == pytest.approx(stats.norm.isf(1 - 0.95 ** (1 / 3)), abs=1e-4)
    # deterministic
    assert dunnett_critical(corr, 20, 0.05, 2) == dunnett_critical(corr.copy(), 20, 0.05, 2)
    with pytest.raises(ValueError, match="sides"):
        dunnett_critical(corr, 20, 0.05, 3)
    with pytest.raises(ValueError, match="positive definite"):
        dunnett_critical(np.ones((2, 2)), 20, 0.05, 2)


# ---------------------------------------------------------------------------------------------
# p-value procedures: exact re-implementations
# ---------------------------------------------------------------------------------------------

def _random_p(rng, n, h):
    p = rng.uniform(size=(n, h)) ** 3                  # many small p-values
    p[rng.uniform(size=(n, h)) < 0.1] = 0.01           # ties
    p[rng.uniform(size=(n, h)) < 0.03] = np.nan        # failed fits
    return p


@pytest.mark.parametrize("method", ["bonferroni", "holm", "hochberg"])
def test_adjusted_p_agrees_with_loop_implementation(method):
    p = _random_p(np.random.default_rng(3), 300, 5)
    assert np.allclose(adjusted_p(p, method), loop_adjusted(p, method), rtol=0, atol=1e-15)


@pytest.mark.parametrize("method", ["holm", "hochberg"])
@pytest.mark.parametrize("alpha", [0.01, 0.025, 0.05, 0.1])
def test_rejections_agree_with_sequential_procedures(method, alpha):
    rng = np.random.default_rng(4)
    p = rng.uniform(size=(400, 4)) ** 4
    p[rng.uniform(size=p.shape) < 0.03] = np.nan
    assert np.array_equal(adjust(p, method, alpha), loop_reject(p, method, alpha))


def test_nan_p_is_never_rejected_and_none_is_unadjusted():
    p = np.array([[np.nan, 0.001, 0.02], [0.04, np.nan, np.nan]])
    for m in ("none", "bonferroni", "holm", "hochberg"):
        r = adjust(p, m, 0.05)
        assert not r[np.isnan(p)].any()
    assert np.array_equal(adjust(p, "none", 0.05), [[False, True, True], [True, False, False]])
    # 1-D input is one hypothesis per trial
    assert adjust(np.array([0.01, 0.2]), "holm").shape == (2, 1)


def test_superset_relations_hold_trial_by_trial():
    p = _random_p(np.random.default_rng(5), 50_000, 4)
    for alpha in (0.01, 0.05, 0.2):
        bonf = adjust(p, "bonferroni", alpha)
        holm = adjust(p, "holm", alpha)
        hoch = adjust(p, "hochberg", alpha)
        assert not (bonf & ~holm).any()
        assert not (holm & ~hoch).any()
        assert (holm & ~bonf).any() and (hoch & ~holm).any()   # and strictly more sometimes
    ap = {m: adjusted_p(p, m) for m in ("bonferroni", "holm", "hochberg")}
    assert (ap["hochberg"] <= ap["holm"]).all() and (ap["holm"] <= ap["bonferroni"]).all()


def test_bad_method_names_raise_one_line_value_errors():
    p = np.full((2, 2), 0.01)
    for call in (lambda: adjust(p, "sidak"), lambda: adjusted_p(p, "Holm"),
                 lambda: hierarchical(p, [[0], [1]], within="fdr"),
                 lambda: dunnett(p, sides=1, better="up")):
        with pytest.raises(ValueError) as err:
            call()
        msg = str(err.value)
        assert "\n" not in msg and "not one of" in msg


# ---------------------------------------------------------------------------------------------
# FWER under the global null
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_fwer_equicorrelated_normal(rho):
    """One-sided z tests of H = 3 equicorrelated statistics, 100,000 trials."""
    rng = np.random.default_rng(int(rho * 10) + 11)
    h = 3
    z = equicorrelated_z(rng, R_FWER, h, rho)
    p = stats.norm.sf(z)
    tol = binom_tol(ALPHA, R_FWER)
    fwer = {m: adjust(p, m, ALPHA).any(axis=1).mean() for m in ("bonferroni", "holm", "hochberg")}
    for m, f in fwer.items():
        assert f <= ALPHA + tol, (m, f)
    # global null: Holm rejects something iff Bonferroni does
    assert fwer["holm"] == fwer["bonferroni"]
    corr = np.full((h, h), rho) + (1 - rho) * np.eye(h)
    f_dun = dunnett(z, math.inf, corr, ALPHA, sides=1).any(axis=1).mean()
    assert abs(f_dun - ALPHA) <= tol, f_dun
    if rho == 0.0:   # independent: Bonferroni's FWER is 1 - (1 - alpha/3)^3 exactly
        exact = 1 - (1 - ALPHA / h) ** h
        assert abs(fwer["bonferroni"] - exact) <= binom_tol(exact, R_FWER)


@pytest.mark.parametrize("sides", [1, 2])
def test_fwer_many_to_one_t_from_normal_data(sides):
    """3 arms + control, n = 20 per arm, pooled-variance t (df = 76): Dunnett is exact."""
    rng = np.random.default_rng(21 + sides)
    t, df = many_to_one_t(rng, R_FWER, 3, 20)
    corr = dunnett_corr(20, [20, 20, 20])
    p = stats.t.sf(t, df) if sides == 1 else 2 * stats.t.sf(np.abs(t), df)
    tol = binom_tol(ALPHA, R_FWER)
    single = dunnett(t, df, corr, ALPHA, sides)
    f_dun = single.any(axis=1).mean()
    assert abs(f_dun - ALPHA) <= tol, f_dun
    step = dunnett_stepdown(t, df, corr, ALPHA, sides)
    assert not (single & ~step).any()
    # under the global null step-down rejects something exactly when single-step does
    assert np.array_equal(step.any(axis=1), single.any(axis=1))
    for m in ("bonferroni", "holm", "hochberg"):
        f = adjust(p, m, ALPHA).any(axis=1).mean()
        assert f <= ALPHA + tol, (m, f)
        assert f <= f_dun + tol       # Dunnett is the sharpest single-step test here


def test_dunnett_direction_and_nan():
    corr = dunnett_corr(10, [10, 10])
    c = dunnett_critical(corr, math.inf, ALPHA, 1)
    t = np.array([[c + 0.01, -c - 0.01], [np.nan, c - 0.01]])
    assert np.array_equal(dunnett(t, sides=1, corr=corr), [[True, False], [False, False]])
    assert np.array_equal(dunnett(t, sides=1, corr=corr, better="lower"),
                          [[False, True], [False, False]])
    c2 = dunnett_critical(corr, math.inf, ALPHA, 2)
    assert np.array_equal(dunnett(np.array([[c2 + 1e-6, -c2 - 1e-6]]), corr=corr), [[True, True]])


def test_stepdown_dunnett_under_partial_null_controls_fwer():
    """Arm 1 strongly effective, arms 2-3 null: step-down FWER over arms 2-3 stays <= alpha."""
    rng = np.random.default_rng(31)
    t, df = many_to_one_t(rng, R_FWER, 3, 20)
    t[:, 0] += 4.0
    corr = dunnett_corr(20, [20, 20, 20])
    rej = dunnett_stepdown(t, df, corr, ALPHA, 2)
    s = summarise(rej, np.array([False, True, True]))
    assert s["fwer"] <= ALPHA + binom_tol(ALPHA, R_FWER), s["fwer"]
    assert s["marginal"][0] > 0.9


# ---------------------------------------------------------------------------------------------
# gatekeeping
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("within", ["bonferroni", "holm", "hochberg", ["holm", "none", "hochberg"]])
def test_hierarchical_tests_a_family_only_after_all_earlier_rejections(within):
    rng = np.random.default_rng(41)
    p = _random_p(rng, 20_000, 5) ** 2
    families = [[3, 0], [2], [4, 1]]
    rej, tested = hierarchical(p, families, ALPHA, within)
    methods = [within] * 3 if isinstance(within, str) else within
    gate = np.ones(p.shape[0], bool)
    for fam, m in zip(families, methods):
        assert np.array_equal(tested[:, fam], np.repeat(gate[:, None], len(fam), axis=1))
        own = adjust(p[:, fam], m, ALPHA)
        assert np.array_equal(rej[:, fam], own & gate[:, None])
        gate &= rej[:, fam].all(axis=1)
    assert not (rej & ~tested).any()
    # every gate outcome occurs in the sample
    assert tested[:, 4].any() and (~tested[:, 2]).any() and (tested[:, 2] & ~tested[:, 4]).any()


def test_hierarchical_columns_outside_families_are_never_tested():
    p = np.full((3, 4), 0.001)
    rej, tested = hierarchical(p, [[2], [0]], ALPHA)
    assert not tested[:, [1, 3]].any() and not rej[:, [1, 3]].any()
    assert rej[:, [0, 2]].all()
    with pytest.raises(ValueError):
        hierarchical(p, [[0, 1], [1]], ALPHA)
    with pytest.raises(ValueError):
        hierarchical(p, [[0], [4]], ALPHA)


def test_fixed_sequence_is_sequential_testing():
    rng = np.random.default_rng(43)
    p = rng.uniform(size=(5000, 3)) ** 3
    order = [2, 0, 1]
    rej, tested = fixed_sequence(p, order, ALPHA)
    expect = np.zeros_like(rej)
    go = np.ones(p.shape[0], bool)
    for j in order:
        expect[:, j] = go & (p[:, j] <= ALPHA)
        go = expect[:, j]
    assert np.array_equal(rej, expect)
    assert np.array_equal(tested[:, order[1]], rej[:, order[0]])


def test_hierarchical_with_dunnett_family():
    rng = np.random.default_rng(45)
    t, df = many_to_one_t(rng, 20_000, 3, 20)
    t[:, :2] += 2.5                             # doses 1-2 effective: family 1 = both doses
    p_key = stats.norm.sf(rng.standard_normal((t.shape[0], 1)) + 2.0)   # key secondary
    tt = np.concatenate([t[:, :2], np.zeros((t.shape[0], 1))], axis=1)
    p = np.concatenate([2 * stats.t.sf(np.abs(t[:, :2]), df), p_key], axis=1)
    corr = np.eye(3)
    corr[:2, :2] = dunnett_corr(20, [20, 20])
    rej, tested = hierarchical(p, [[0, 1], [2]], ALPHA, ["dunnett", "none"], t=tt, df=df,
                               corr=corr, sides=2)
    d = dunnett(t[:, :2], df, dunnett_corr(20, [20, 20]), ALPHA, 2)
    assert np.array_equal(rej[:, :2], d)
    assert np.array_equal(tested[:, 2], d.all(axis=1))
    assert np.array_equal(rej[:, 2], d.all(axis=1) & (p_key[:, 0] <= ALPHA))
    with pytest.raises(ValueError, match="statistics"):
        hierarchical(p, [[0, 1]], ALPHA, "dunnett")


@pytest.mark.parametrize("within", ["holm", "hochberg", "dunnett"])
def test_gatekeeping_fwer_with_effective_primary_and_null_secondaries(within):
    """Family 1 (2 hypotheses) false nulls, families 2-3 true nulls with correlated z (rho 0.5):
    all families at full alpha, FWER over the true nulls still <= alpha."""
    rng = np.random.default_rng(47)
    z = equicorrelated_z(rng, R_FWER, 5, 0.5)
    z[:, :2] += 3.5
    p = stats.norm.sf(z)
    corr = np.full((5, 5), 0.5) + 0.5 * np.eye(5)
    rej, tested = hierarchical(p, [[0, 1], [2, 3], [4]], ALPHA, within, t=z, corr=corr, sides=1)
    s = summarise(rej, np.array([False, False, True, True, True]))
    assert s["fwer"] <= ALPHA + binom_tol(ALPHA, R_FWER), s
    assert s["conjunctive"] > 0.8
    # the secondaries are reached about as often as both primaries are rejected
    assert tested[:, 2].mean() == s["conjunctive"]


# ---------------------------------------------------------------------------------------------
# summaries
# ---------------------------------------------------------------------------------------------

def test_summarise_rates_and_standard_errors():
    rej = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]], bool)
    s = summarise(rej, np.array([False, False, True]))
    assert np.allclose(s["marginal"], [0.6, 0.4, 0.4])
    assert np.allclose(s["marginal_se"], np.sqrt(np.array([0.24, 0.24, 0.24]) / 5))
    assert s["disjunctive"] == pytest.approx(0.6)
    assert s["conjunctive"] == pytest.approx(0.4)
    assert s["fwer"] == pytest.approx(0.4)
    assert s["fwer_se"] == pytest.approx(math.sqrt(0.24 / 5))
    assert s["n_trials"] == 5
    none_false = summarise(rej, np.array([True, True, True]))
    assert math.isnan(none_false["disjunctive"]) and none_false["fwer"] == pytest.approx(0.8)
    assert summarise(rej, np.zeros(3, bool))["fwer"] == 0.0
    with pytest.raises(ValueError):
        summarise(rej, np.array([True, False]))


# ----------------------------------------------------------------------------------------------
# independent_test: the one-factor quadrature against scipy's quasi-Monte Carlo integration
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("df", [4.0, 17.0, 90.0, 400.0, math.inf])
@pytest.mark.parametrize("sides", [1, 2])
def test_one_factor_quadrature_matches_scipy_multivariate_t(df, sides):
    from scipy import stats
    from simtrial.stats.multiplicity import _box_prob_factor, _one_factor
    corr = dunnett_corr(20, [20, 30, 40])
    lam = _one_factor(corr)
    assert lam is not None
    c = 2.3
    upper = np.full(3, c)
    lower = -upper if sides == 2 else np.full(3, -np.inf)
    if math.isinf(df):
        ref = stats.multivariate_normal.cdf(upper, mean=np.zeros(3), cov=corr, lower_limit=lower,
                                            maxpts=2_000_000, abseps=1e-8, releps=0, rng=1)
    else:
        ref = stats.multivariate_t.cdf(upper, loc=np.zeros(3), shape=corr, df=df,
                                       lower_limit=lower, maxpts=2_000_000, random_state=1)
    # scipy's QMC error at 2e6 points is ~1e-6
    assert _box_prob_factor(c, lam, df, sides) == pytest.approx(ref, abs=2e-5)


def test_one_factor_detection_refuses_other_correlations():
    from simtrial.stats.multiplicity import _one_factor
    assert _one_factor(np.array([[1, 0.5, 0.1], [0.5, 1, 0.5], [0.1, 0.5, 1]])) is None
    assert _one_factor(np.array([[1, -0.3], [-0.3, 1]])) is None
    lam = _one_factor(dunnett_corr(10, [10, 20, 40]))
    np.testing.assert_allclose(lam, np.sqrt([10 / 20, 20 / 30, 40 / 50]))
    # two statistics: any non-negative correlation is one-factor (lam_1 = lam_2 = sqrt(rho))
    np.testing.assert_allclose(_one_factor(dunnett_corr(10, [10, 20])) ** 2,
                               np.sqrt(10 / 20 * 20 / 30))
