"""Validation of the vectorised MMRM, multiple imputation and OLS in :mod:`simtrial.stats.mmrm`.

Oracles are written here from the textbook definitions, not imported: a per-patient loop REML
that builds the stacked GLS design and maximises the REML log-likelihood with
``scipy.optimize.minimize`` over a Cholesky parametrisation, an explicit whitened least-squares
GLS solve, and finite-difference Satterthwaite df. Statistical tolerances are 3 Monte Carlo SE,
computed in the test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import linalg, optimize, stats

import simtrial.stats.mmrm as mm
from simtrial.stats.mmrm import (STATUS_NOT_CONVERGED, STATUS_NOT_ESTIMABLE, STATUS_OK, mi_ancova, mmrm,
                           ols)

from .helpers import binom_tol

SIGMA3 = np.array([[1.0, 0.6, 0.45], [0.6, 1.2, 0.75], [0.45, 0.75, 1.5]])


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------

def simulate(rng, n_trials, n_per_arm, *, effect=(0.0, 0.0, 0.0), sigma=SIGMA3, q_extra=0,
             dropout=None):
    """Trials with z = [1, arm, baseline (, stratum)], y_ij = mu_j + effect_j arm + 0.5 base + e.

    ``dropout(y_prev, arm, k)`` -> probability of dropping out before visit k (monotone MAR).
    """
    v = sigma.shape[0]
    n = 2 * n_per_arm
    arm = np.tile(np.r_[np.zeros(n_per_arm), np.ones(n_per_arm)], (n_trials, 1))
    base = rng.standard_normal((n_trials, n))
    cols = [np.ones_like(arm), arm, base]
    if q_extra:
        cols.append((rng.random((n_trials, n)) < 0.4).astype(float))
    z = np.stack(cols, axis=-1)
    mu = np.linspace(0.2, -0.3, v)
    e = rng.standard_normal((n_trials, n, v)) @ np.linalg.cholesky(sigma).T
    y = mu + np.asarray(effect) * arm[..., None] + 0.5 * base[..., None] + e
    if q_extra:
        y = y + 0.3 * z[..., 3:4]
    observed = np.ones(y.shape, dtype=bool)
    if dropout is not None:
        u = rng.random((n_trials, n, v))
        for k in range(1, v):
            drop = u[..., k] < dropout(y[..., k - 1], arm, k)
            observed[..., k] = observed[..., k - 1] & ~drop
    return y, observed, z


def oracle_data(seed, q_extra=0, n=60):
    """~25% missing cells: monotone dropout plus intermittent holes."""
    rng = np.random.default_rng(seed)
    y, obs, z = simulate(rng, 1, n // 2, effect=(0.0, -0.3, -0.5), q_extra=q_extra,
                         dropout=lambda yp, arm, k: 0.12 + 0.1 * (yp > 0.5))
    hole = rng.random(obs.shape) < 0.12
    hole[..., 0] &= rng.random(hole.shape[:2]) < 0.5
    obs &= ~hole
    y = np.where(obs, y, np.nan)        # missing values must be ignored
    return y[0], obs[0], z[0]


# ---------------------------------------------------------------------------------------------
# independent oracle: per-patient loop REML on the stacked design
# ---------------------------------------------------------------------------------------------

def stacked(y, obs, z):
    """Stacked outcome, design rows kron(e_j, z_i') (beta visit-major) and patient blocks."""
    v, q = y.shape[1], z.shape[1]
    ys, xs, blocks = [], [], []
    for i in range(y.shape[0]):
        vis = np.flatnonzero(obs[i])
        if vis.size == 0:
            continue
        blocks.append(vis)
        for j in vis:
            row = np.zeros(v * q)
            row[j * q:(j + 1) * q] = z[i]
            xs.append(row)
            ys.append(y[i, j])
    return np.array(ys), np.array(xs), blocks


def chol_sigma(phi, v):
    lo = np.zeros((v, v))
    lo[np.tril_indices(v)] = phi
    lo[np.diag_indices(v)] = np.exp(np.diag(lo))
    return lo @ lo.T


def reml_parts(sigma, ys, xs, blocks):
    """-2 REML log-likelihood (with its 2 pi constant), GLS beta and C = (X'V^{-1}X)^{-1}.

    V is block diagonal, so log|V|, X'V^{-1}X, X'V^{-1}y and y'V^{-1}y are sums over patients
    of their own blocks (a loop, not a dense solve: cheap and immune to BLAS oversubscription).
    """
    p = xs.shape[1]
    h, xvy, yvy, logdet, start = np.zeros((p, p)), np.zeros(p), 0.0, 0.0, 0
    for b in blocks:
        sl = slice(start, start + b.size)
        start += b.size
        sb = sigma[np.ix_(b, b)]
        si = np.linalg.inv(sb)
        logdet += np.linalg.slogdet(sb)[1]
        h += xs[sl].T @ si @ xs[sl]
        xvy += xs[sl].T @ si @ ys[sl]
        yvy += ys[sl] @ si @ ys[sl]
    c = np.linalg.inv(h)
    beta = c @ xvy
    neg2 = (logdet + np.linalg.slogdet(h)[1] + yvy - beta @ xvy
            + (len(ys) - p) * math.log(2 * math.pi))
    return neg2, beta, c


def oracle_reml(y, obs, z):
    """REML by BFGS over phi = (log-diagonal) Cholesky factor of Sigma, from Sigma = I."""
    v = y.shape[1]
    ys, xs, blocks = stacked(y, obs, z)
    f = lambda phi: reml_parts(chol_sigma(phi, v), ys, xs, blocks)[0]  # noqa: E731
    start = np.zeros(v * (v + 1) // 2)
    res = optimize.minimize(f, start, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000})
    assert res.success or res.status == 2, res.message   # 2: precision loss at the optimum
    sigma = chol_sigma(res.x, v)
    neg2, beta, c = reml_parts(sigma, ys, xs, blocks)
    return res.x, sigma, beta, c, -0.5 * neg2, (ys, xs, blocks, f)


@pytest.fixture(scope="module", params=[(11, 0), (23, 1), (37, 0)], ids=["q3a", "q4", "q3b"])
def oracle_case(request):
    seed, q_extra = request.param
    y, obs, z = oracle_data(seed, q_extra)
    return y, obs, z, oracle_reml(y, obs, z)


def test_oracle_data_have_intermittent_and_monotone_missingness(oracle_case):
    y, obs, z, _ = oracle_case
    frac = 1 - obs.mean()
    assert 0.15 < frac < 0.35, frac
    intermittent = (~obs[:, 0] & obs[:, 1]) | (~obs[:, 1] & obs[:, 2])
    assert intermittent.sum() >= 3
    assert (obs[:, 0] & ~obs[:, 2]).sum() >= 5


def test_reml_matches_loop_oracle(oracle_case):
    y, obs, z, (phi, sigma, beta, c, ll, _) = oracle_case
    v, q = y.shape[1], z.shape[1]
    cols = list(range(1, q))
    for visit in range(v):
        r = mmrm(y[None], obs[None], z[None], columns=cols, visit=visit)
        assert r.status[0] == STATUS_OK and r.converged[0]
        idx = [visit * q + c_ for c_ in cols]
        np.testing.assert_allclose(r.est[0], beta[idx], rtol=0, atol=1e-5)
        np.testing.assert_allclose(r.se[0], np.sqrt(np.diag(c)[idx]), rtol=1e-5)
    np.testing.assert_allclose(r.sigma[0], sigma, rtol=0, atol=1e-4)
    np.testing.assert_allclose(r.coef[0], beta.reshape(v, q).T, atol=1e-5)
    assert r.loglik[0] == pytest.approx(ll, abs=1e-6)   # includes the 2 pi constant
    assert r.loglik[0] >= ll - 1e-9                      # never below the oracle's maximum


def test_gls_given_sigma_matches_whitened_least_squares(oracle_case):
    y, obs, z, _ = oracle_case
    q, v = z.shape[1], y.shape[1]
    r = mmrm(y[None], obs[None], z[None], columns=[1])
    sig = r.sigma[0]
    ys, xs, blocks = stacked(y, obs, z)
    wy, wx, start = [], [], 0
    for b in blocks:                         # whiten each patient by its Cholesky factor
        lo = np.linalg.cholesky(sig[np.ix_(b, b)])
        sl = slice(start, start + b.size)
        wy.append(linalg.solve_triangular(lo, ys[sl], lower=True))
        wx.append(linalg.solve_triangular(lo, xs[sl], lower=True))
        start += b.size
    beta = np.linalg.lstsq(np.vstack(wx), np.concatenate(wy), rcond=None)[0]
    np.testing.assert_allclose(r.coef[0], beta.reshape(v, q).T, rtol=0, atol=1e-10)
    cov = np.linalg.inv(np.vstack(wx).T @ np.vstack(wx))
    assert r.se[0, 0] == pytest.approx(math.sqrt(cov[(v - 1) * q + 1, (v - 1) * q + 1]),
                                       rel=1e-9)


def test_satterthwaite_df_matches_finite_differences(oracle_case):
    """df = 2 v^2 / (g' Cov(phi) g), Cov = inverse Hessian of -l_R, all by finite differences
    in the oracle's Cholesky parametrisation (the df is invariant to the parametrisation)."""
    y, obs, z, (phi, sigma, beta, c, ll, (ys, xs, blocks, f)) = oracle_case
    q, v = z.shape[1], y.shape[1]
    idx = (v - 1) * q + 1
    vfun = lambda p: reml_parts(chol_sigma(p, v), ys, xs, blocks)[2][idx, idx]  # noqa: E731
    k, h = phi.size, 1e-4
    hess = np.zeros((k, k))
    grad = np.zeros(k)
    eye = np.eye(k) * h
    for a in range(k):
        grad[a] = (vfun(phi + eye[a]) - vfun(phi - eye[a])) / (2 * h)
        for b in range(a, k):
            hess[a, b] = hess[b, a] = (f(phi + eye[a] + eye[b]) - f(phi + eye[a] - eye[b])
                                       - f(phi - eye[a] + eye[b]) + f(phi - eye[a] - eye[b])
                                       ) / (4 * h * h)
    cov = np.linalg.inv(hess / 2)                         # f = -2 l_R
    df_fd = 2 * vfun(phi) ** 2 / (grad @ cov @ grad)
    r = mmrm(y[None], obs[None], z[None], columns=[1])
    assert r.df[0, 0] == pytest.approx(df_fd, rel=2e-3)
    n_last = obs[:, -1].sum()
    assert n_last - q < r.df[0, 0] < obs.any(1).sum()    # borrows strength, not beyond n
    rr = mmrm(y[None], obs[None], z[None], columns=[1], df="residual")
    assert rr.df[0, 0] == n_last - q
    np.testing.assert_array_equal(rr.est, r.est)


# ---------------------------------------------------------------------------------------------
# exact special cases
# ---------------------------------------------------------------------------------------------

def test_complete_data_equals_ols_ancova_and_closed_form_sigma():
    rng = np.random.default_rng(5)
    y, obs, z = simulate(rng, 20, 25, effect=(0.1, 0.3, 0.4), q_extra=1)
    n, q = y.shape[1], z.shape[-1]
    r_all = [mmrm(y, obs, z, columns=[1, 2, 3], visit=k) for k in range(3)]
    for k, r in enumerate(r_all):
        assert np.all(r.status == STATUS_OK)
        e, s, d = ols(y[..., k], np.ones(y.shape[:2], bool), z, [1, 2, 3])
        np.testing.assert_allclose(r.est, e, rtol=0, atol=1e-10)
        np.testing.assert_allclose(r.se, s, rtol=1e-9)
        np.testing.assert_allclose(r.df, n - q, rtol=0, atol=1e-6)   # Satterthwaite = n - q
        np.testing.assert_array_equal(d, n - q)
    # REML Sigma = RSS / (n - q) of the multivariate regression
    bhat = np.linalg.solve(np.einsum("tna,tnb->tab", z, z), np.einsum("tna,tnv->tav", z, y))
    res = y - z @ bhat
    np.testing.assert_allclose(r_all[0].sigma, np.einsum("tnj,tnk->tjk", res, res) / (n - q),
                               rtol=1e-10)
    assert np.all(r_all[0].n_iter <= 3)      # the moment start is already the REML solution


def test_ols_matches_lstsq_and_handles_singular():
    rng = np.random.default_rng(8)
    t, n, q = 6, 30, 3
    z = np.concatenate([np.ones((t, n, 1)), rng.standard_normal((t, n, q - 1))], -1)
    y = rng.standard_normal((t, n))
    mask = rng.random((t, n)) < 0.8
    z[1, :, 2] = z[1, :, 1] * 2              # singular design
    mask[2, 5:] = False                      # n = 5 -> df 2
    mask[3, 3:] = False                      # n = 3 = q -> not estimable
    y[4, ~mask[4]] = np.nan                  # NaN where unused is fine
    e, s, d = ols(y, mask, z, [1, 2])
    for i in (0, 2, 4, 5):
        zi, yi = z[i][mask[i]], y[i][mask[i]]
        b, rss = np.linalg.lstsq(zi, yi, rcond=None)[:2]
        cov = rss[0] / (len(yi) - q) * np.linalg.inv(zi.T @ zi)
        np.testing.assert_allclose(e[i], b[1:], atol=1e-12)
        np.testing.assert_allclose(s[i], np.sqrt(np.diag(cov)[1:]), rtol=1e-10)
        assert np.all(d[i] == len(yi) - q)
    assert np.all(np.isnan(e[[1, 3]])) and np.all(np.isnan(s[[1, 3]]))
    assert np.all(np.isnan(d[[1, 3]]))


def test_batch_composition_and_chunking_do_not_change_a_trial_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(9)
    y, obs, z = simulate(rng, 12, 30, dropout=lambda yp, arm, k: 0.15 + 0.2 * (yp > 0))
    full = mmrm(y, obs, z, columns=[1, 2])
    alone = mmrm(y[3:4], obs[3:4], z[3:4], columns=[1, 2])
    np.testing.assert_allclose(alone.est, full.est[3:4], rtol=1e-10)
    np.testing.assert_allclose(alone.df, full.df[3:4], rtol=1e-8)
    obs[8:, 0] = [False, False, True]                   # patterns only in later trials
    obs[10:, 1] = [False, True, False]
    full = mmrm(y, obs, z, columns=[1, 2])
    mi_full = mi_ancova(y, obs, z, columns=[1, 2], m=3, rng=np.random.default_rng(4))
    head = mmrm(y[:6], obs[:6], z[:6], columns=[1, 2])
    mi_head = mi_ancova(y[:6], obs[:6], z[:6], columns=[1, 2], m=3, rng=np.random.default_rng(4))
    for a, b in ((full, head), (mi_full, mi_head)):     # bit-identical, not just close
        np.testing.assert_array_equal(a.est[:6], b.est)
        np.testing.assert_array_equal(a.se[:6], b.se)
        np.testing.assert_array_equal(a.df[:6], b.df)
    # nor the caller's memory layout (here patients outermost, as a design engine may store)
    y2, obs2, z2 = simulate(np.random.default_rng(0), 12, 15,
                            dropout=lambda yp, arm, k: 0.15 + 0.2 * (yp > 0))
    yt, ot, zt = (np.ascontiguousarray(a.transpose(1, 0, 2)).transpose(1, 0, 2)
                  for a in (y2, obs2, z2))
    assert not yt.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(mmrm(yt, ot, zt, columns=[1, 2]).est,
                                  mmrm(y2, obs2, z2, columns=[1, 2]).est)
    np.testing.assert_array_equal(ols(yt[..., -1], ot[..., -1], zt, [1, 2])[1],
                                  ols(y2[..., -1], obs2[..., -1], z2, [1, 2])[1])
    monkeypatch.setattr(mm, "_CHUNK_ELEMS", 1)          # one trial per chunk
    chunked = mmrm(y, obs, z, columns=[1, 2])
    np.testing.assert_array_equal(chunked.est, full.est)
    np.testing.assert_array_equal(chunked.se, full.se)
    mi_chunked = mi_ancova(y, obs, z, columns=[1, 2], m=3, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(mi_chunked.est, mi_full.est)


# ---------------------------------------------------------------------------------------------
# degenerate input: NaN + status, never an exception or a warning
# ---------------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("error")
def test_degenerate_trials_are_flagged_not_raised():
    rng = np.random.default_rng(3)
    y, obs, z = simulate(rng, 7, 20, dropout=lambda yp, arm, k: np.full_like(yp, 0.2))
    obs[0, :, 1] = False                    # nobody observed at visit 1
    obs[1, 4:] = False                      # 4 patients (2 per arm, q = 3): too few
    y[2, 0, 0] = np.nan                     # NaN at an observed cell
    obs[3] = False                          # a trial of padding only
    z[4, :, 1] = 0.0                        # no treated patients: arm not estimable
    obs[5, :, 2] = obs[5, :, 0] = False     # visits 0 and 2 never observed together?
    obs[5, :10, 0] = True
    obs[5, 10:, 2] = True
    r = mmrm(y, obs, z, columns=[1])
    np.testing.assert_array_equal(r.status, [2, 2, 2, 2, 2, 2, 0])
    assert np.all(np.isnan(r.est[:6])) and np.all(np.isnan(r.se[:6]))
    assert np.all(np.isnan(r.df[:6])) and np.all(np.isnan(r.sigma[:6]))
    assert not r.converged[:6].any() and r.converged[6]
    np.testing.assert_allclose(r.est[6], mmrm(y[6:], obs[6:], z[6:], columns=[1]).est[0],
                               rtol=1e-10)
    mi = mi_ancova(y, obs, z, columns=[1], m=3, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(mi.status, r.status)
    assert np.all(np.isnan(mi.est[:6])) and np.isfinite(mi.est[6]).all()
    # all trials padding: still no exception
    none = mmrm(y, np.zeros_like(obs), z, columns=[1])
    assert np.all(none.status == STATUS_NOT_ESTIMABLE)


@pytest.mark.filterwarnings("error")
def test_tiny_noisy_trials_never_raise_or_warn():
    """n = 10 with dropout: some REML maxima lie on the boundary (singular Sigma) and are
    flagged 1 or 2; everything else is finite."""
    rng = np.random.default_rng(31)
    y, obs, z = simulate(rng, 400, 5, dropout=lambda yp, arm, k: np.full_like(yp, 0.2))
    r = mmrm(y, obs, z, columns=[1, 2])
    mi = mi_ancova(y, obs, z, columns=[1, 2], m=3, rng=np.random.default_rng(2))
    for res in (r, mi):
        good = res.status == STATUS_OK
        assert 0 < good.sum() < 400
        assert np.isfinite(res.est[good]).all() and np.isfinite(res.se[good]).all()
        assert np.isfinite(res.df[good]).all() and (res.df[good] > 0).all()
        assert np.isnan(res.est[~good]).all()


@pytest.mark.filterwarnings("error")
def test_iteration_cap_is_reported_as_not_converged():
    rng = np.random.default_rng(4)
    y, obs, z = simulate(rng, 5, 30, dropout=lambda yp, arm, k: 0.2 + 0.3 * (yp > 0))
    r = mmrm(y, obs, z, columns=[1], max_iter=1)
    assert np.all(r.status == STATUS_NOT_CONVERGED) and not r.converged.any()
    assert np.all(np.isnan(r.est)) and np.all(np.isfinite(r.sigma))   # last iterate kept
    ok = mmrm(y, obs, z, columns=[1])
    assert np.all(ok.status == STATUS_OK) and np.all(ok.n_iter <= 8)


def test_bad_arguments_raise_value_error():
    y, obs, z = simulate(np.random.default_rng(0), 2, 5)
    with pytest.raises(ValueError, match="df"):
        mmrm(y, obs, z, columns=[1], df="kr")
    with pytest.raises(ValueError, match="visit"):
        mmrm(y, obs, z, columns=[1], visit=3)
    with pytest.raises(ValueError, match="columns"):
        mmrm(y, obs, z, columns=[3])
    with pytest.raises(ValueError, match="m = 1"):
        mi_ancova(y, obs, z, columns=[1], m=1, rng=np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------
# multiple imputation: exact properties
# ---------------------------------------------------------------------------------------------

def test_mi_without_missing_data_is_the_ancova_and_deterministic():
    rng = np.random.default_rng(12)
    y, obs, z = simulate(rng, 8, 20, effect=(0, 0, 0.5))
    obs[:, :5, 0] = False                   # missing only at an earlier visit
    mi = mi_ancova(y, obs, z, columns=[1, 2], m=5, rng=np.random.default_rng(1))
    e, s, d = ols(y[..., -1], np.ones(y.shape[:2], bool), z, [1, 2])
    np.testing.assert_allclose(mi.est, e, atol=1e-12)
    np.testing.assert_allclose(mi.se, s, rtol=1e-10)
    np.testing.assert_allclose(mi.lam, 0.0, atol=1e-20)
    nu = d                                   # Barnard-Rubin with lam = 0
    np.testing.assert_allclose(mi.df, (nu + 1) / (nu + 3) * nu, rtol=1e-12)
    obs[:, :6, 2] = False
    a = mi_ancova(y, obs, z, columns=[1], m=5, rng=np.random.default_rng(7))
    b = mi_ancova(y, obs, z, columns=[1], m=5, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.est, b.est)
    np.testing.assert_array_equal(a.se, b.se)
    assert np.all(a.lam > 0) and np.all(a.df < nu[:, :1])


def test_mi_population_imputes_patients_with_no_observed_visit():
    rng = np.random.default_rng(13)
    y, obs, z = simulate(rng, 6, 30, dropout=mar)
    obs[:, :4] = False                       # 4 randomised patients without any follow-up
    default = mi_ancova(y, obs, z, columns=[1], m=4, rng=np.random.default_rng(3))
    pop = np.ones(y.shape[:2], dtype=bool)
    itt = mi_ancova(y, obs, z, columns=[1], m=4, rng=np.random.default_rng(3), population=pop)
    assert itt.converged.all() and default.converged.all()
    assert np.all(itt.est != default.est)
    assert np.all(itt.lam > 0)
    np.testing.assert_array_equal(itt.df < (60 + 1) / (60 + 3) * (60 - 3), True)


# ---------------------------------------------------------------------------------------------
# statistical properties under MAR dropout (3 MC SE tolerances)
# ---------------------------------------------------------------------------------------------

def mar(yp, arm, k):
    """Drop-out before visit k more likely after a high (bad) previous value: ~30% by the end."""
    return 1 / (1 + np.exp(-(-2.2 + 1.2 * yp)))


def mar_arm(yp, arm, k):
    """Only treated patients with a poor previous value drop out (MAR given arm and y_prev)."""
    return np.where(arm == 1, 1 / (1 + np.exp(-(-1.5 + 2.5 * yp))), 0.05)


def rejection(est, se, df, alpha=0.05):
    return np.abs(est / se) > stats.t.ppf(1 - alpha / 2, df)


def test_mmrm_unbiased_with_nominal_type_i_error_under_mar():
    rng = np.random.default_rng(2024)
    n_trials = 2000
    y, obs, z = simulate(rng, n_trials, 100, dropout=mar)
    miss = 1 - obs[..., -1].mean()
    assert 0.2 < miss < 0.4, miss
    r = mmrm(y, obs, z, columns=[1])
    assert r.converged.all()
    est = r.est[:, 0]
    mc_se = est.std(ddof=1) / math.sqrt(n_trials)
    assert abs(est.mean()) <= 3 * mc_se, (est.mean(), mc_se)
    rate = rejection(est, r.se[:, 0], r.df[:, 0]).mean()
    assert abs(rate - 0.05) <= binom_tol(0.05, n_trials), rate
    # the model SE matches the sampling SD (3 MC SE of an SD: sd / sqrt(2 (R - 1)))
    sd = est.std(ddof=1)
    assert abs(np.sqrt(np.mean(r.se[:, 0] ** 2)) - sd) <= 3 * sd / math.sqrt(2 * (n_trials - 1))


def test_complete_case_ancova_biased_where_mmrm_is_not():
    """True effect -0.5 at the last visit; treated patients with poor earlier values leave.

    40% of treated and 10% of control patients are missing at the last visit. Completers in the
    treated arm are selected for good outcomes, so the complete-case ANCOVA overstates the
    benefit (bias -0.315, MC SE 0.0045); MMRM, valid under MAR given arm and the observed
    history, is unbiased (bias -0.007, MC SE 0.0046).
    """
    rng = np.random.default_rng(77)
    n_trials, truth = 2000, -0.5
    y, obs, z = simulate(rng, n_trials, 100, effect=(-0.3, -0.4, truth), dropout=mar_arm)
    r = mmrm(y, obs, z, columns=[1])
    assert r.converged.all()
    cc, _, _ = ols(y[..., -1], obs[..., -1], z, [1])
    bias_mmrm = r.est[:, 0].mean() - truth
    bias_cc = cc[:, 0].mean() - truth
    se_mmrm = r.est[:, 0].std(ddof=1) / math.sqrt(n_trials)
    se_cc = cc[:, 0].std(ddof=1) / math.sqrt(n_trials)
    assert abs(bias_mmrm) <= 3 * se_mmrm, (bias_mmrm, se_mmrm)
    assert bias_cc < -10 * se_cc and bias_cc < -0.1, (bias_cc, se_cc)


def test_mi_type_i_error_and_unbiased_under_mar():
    rng = np.random.default_rng(99)
    n_trials = 2000
    y, obs, z = simulate(rng, n_trials, 100, dropout=mar)
    mi = mi_ancova(y, obs, z, columns=[1], m=10, rng=np.random.default_rng(5))
    assert mi.converged.all()
    est = mi.est[:, 0]
    mc_se = est.std(ddof=1) / math.sqrt(n_trials)
    assert abs(est.mean()) <= 3 * mc_se, (est.mean(), mc_se)
    rate = rejection(est, mi.se[:, 0], mi.df[:, 0]).mean()
    assert abs(rate - 0.05) <= binom_tol(0.05, n_trials), rate
    assert 0.0 < np.median(mi.lam) < 0.5


def test_mi_unbiased_where_complete_case_is_not():
    rng = np.random.default_rng(78)
    n_trials, truth = 500, -0.5
    y, obs, z = simulate(rng, n_trials, 100, effect=(-0.3, -0.4, truth), dropout=mar_arm)
    mi = mi_ancova(y, obs, z, columns=[1], m=5, rng=np.random.default_rng(6))
    est = mi.est[:, 0]
    assert mi.converged.all()
    assert abs(est.mean() - truth) <= 3 * est.std(ddof=1) / math.sqrt(n_trials)
