"""Mixed model for repeated measures (MMRM), multiple imputation and OLS, vectorised over trials.

Data layout (shared by every function here)
-------------------------------------------
``y`` : float, shape (trials, patients, V)
    Outcome at each post-baseline visit; values at missing cells are ignored (may be NaN).
``observed`` : bool, shape (trials, patients, V)
    False at missing cells. A padding patient (to make trials the same size) has all False.
``z`` : float, shape (trials, patients, q)
    Patient-level covariates *including* an intercept column, e.g. ``[1, arm, baseline]``.
    Rows of padding patients are ignored but must be finite.

Model
-----
``y_ij = z_i' B_j + e_ij`` with ``B`` of shape (q, V) (every covariate interacts with visit:
treatment-by-visit means, baseline-by-visit slopes) and ``e_i ~ N(0, Sigma)``, ``Sigma`` an
unstructured V x V covariance estimated by REML. The estimand is ``B[c, k]`` for the requested
covariate columns ``c`` at visit ``k``. This is the usual "MMRM" of regulatory trials
(Mallinckrodt et al. 2008), e.g. R ``mmrm(y ~ (arm + base) * visit + us(visit | id))``.

Sufficient statistics
---------------------
Write ``beta = vec(B)`` visit-major (index ``j q + a`` for visit j, covariate a), so patient i
has design ``X_i`` = the observed rows of ``I_V kron z_i'``. Patients sharing a missingness
pattern ``p`` (set ``O_p`` of observed visits) share ``W_p = Sigma[O_p, O_p]^{-1}`` (embedded in
V x V with zeros at missing visits), hence with

``S_zz[p] = sum_i z_i z_i'``, ``S_zr[p] = sum_i z_i r_i'``, ``S_rr[p] = sum_i r_i r_i'``, ``n_p``

(``r_i`` = outcome with missing cells set to 0):

* ``H = X'V^{-1}X = sum_p W_p kron S_zz[p]`` and ``(X'V^{-1}r)_{ja} = sum_p (S_zr[p] W_p)_{aj}``;
* ``C = H^{-1}``, ``beta_hat = C X'V^{-1}r`` (GLS);
* ``R_p = sum_i (r_i - B'z_i)(r_i - B'z_i)' = S_rr - B'S_zr - S_zr'B + B'S_zz B``;
* ``-2 l_R = sum_p n_p log|Sigma_p| + sum_p tr(W_p R_p) + log|H| + (n_obs - Vq) log(2 pi)``.

Everything is a small-matrix numpy operation on arrays of shape (trials, patterns, ...), so a
fit never loops over patients. Before the sums are formed the outcome is centred per visit by a
per-trial available-case OLS fit ``B0`` (``r = y - z B0``; the fit is equivariant, so ``B = B0 +
B_r``), which keeps cancellation in ``S_rr`` small whatever the outcome's mean.

How it is computed (issue 14; the numbers are those of the straightforward implementation to
round-off, ``tests/test_mmrm_fast.py``): the pattern sums are one ``(q, n) x (n, q + V)``
matrix product per (trial, pattern) of the pattern's rows of ``z'`` (then ``r'``) with ``[z,
y]`` (then ``[z, r]``), over sub-chunks of trials sized from the number of patients (no
(trials, patients, (q + V)^2) array); the pattern-level algebra of the fit runs with the trials
on the last axis ("SoA": each small-matrix operation is a few numpy operations on contiguous
rows of trials), small symmetric matrices are inverted by Gauss-Jordan sweeps in that layout
(log-determinant and positive definiteness from the pivots) instead of one LAPACK call each,
the eigenvalue tests for positive definiteness and rank use ``eigvalsh`` only where trace
bounds on the eigenvalues are not conclusive, and the products with ``C`` (size Vq) are
batched ``matmul`` over blocks of trials that stay in cache.

REML optimisation
-----------------
The parameters are the ``V(V+1)/2`` distinct elements ``theta`` of ``Sigma`` (``dSigma/dtheta_r
= E_r``, the symmetric unit matrix). With ``P = V^{-1} - V^{-1}XCX'V^{-1}`` the analytic
derivatives of ``f = -2 l_R`` are (Harville 1977; Jennrich & Schluchter 1986)::

    df/dtheta_r          = tr(P V_r) - y'P V_r P y
    expected  d2f         = tr(P V_r P V_s)                       (Fisher information x 2)
    observed  d2f         = 2 y'P V_r P V_s P y - tr(P V_r P V_s)

and each trace reduces to pattern sums, e.g. ``tr(PV_r) = sum_p tr(E_r W_p (n_p I - (R_p + D_p)
W_p))`` with ``D_p[j, k] = tr(C_{jk} S_zz[p])``. Iterations are Newton steps with the observed
Hessian when it is positive definite (Fisher scoring otherwise), with step halving so that ``f``
decreases and ``Sigma`` stays positive definite, vectorised over the trials still iterating.
The start is the pairwise available-case moment estimate ``sum r_j r_k / (n_jk - q)`` of the
per-visit OLS residuals (the diagonal of it if not positive definite); with no missing data it
is already the REML estimate ``RSS / (n - q)``. A trial has converged when the last step changed
``l_R`` by less than ``tol (1 + |l_R|)`` *and* the Newton decrement ``g' A^{-1} g`` (a
scale-free size of the gradient in units of ``-2 l_R``) is below ``tol``.

Standard errors and degrees of freedom
--------------------------------------
``se = sqrt(L'CL)`` is the model-based GLS standard error at ``Sigma_hat`` (with
``df="satterthwaite"`` or ``"residual"``). ``df="satterthwaite"`` (the default of SAS
``DDFM=SATTERTHWAITE``, R's ``mmrm`` and lmerTest) is ``df = 2 (L'CL)^2 / (g' A g)``,
``g_r = d(L'CL)/dtheta_r = L'C Q_r C L`` with ``Q_r = sum_p W_p E_r W_p kron S_zz[p]``, and
``A = Cov(theta_hat)`` the inverse of the *observed* REML information (the Hessian of
``-l_R``; the expected information is used only if the Hessian is not positive definite).
Because ``theta_hat`` is a stationary point, ``g'Ag`` does not depend on the parametrisation of
``Sigma``. With complete data it equals ``n - q`` exactly.
``df="residual"`` is ``n_k - q`` with ``n_k`` the patients observed at the analysis visit: no
derivatives, and never larger than the complete-case ANCOVA df (conservative-ish).

``df="kenward-roger"`` (Kenward & Roger 1997) replaces ``C`` by the bias-corrected

    Phi_A = C + 2 C [sum_rs W_rs (Q_rs - P_r C P_s - R_rs / 4)] C

with ``P_r = X' dV^{-1}/dtheta_r X = -Q_r``, ``Q_rs = X'V^{-1}V_r V^{-1}V_s V^{-1}X = sum_p
(W_p E_r W_p E_s W_p) kron S_zz[p]``, ``R_rs = X'V^{-1} d2V/dtheta_r dtheta_s V^{-1}X = 0``
(``Sigma`` is linear in ``theta``) and ``W = A = Cov(theta_hat)`` as above (the inverse of the
observed information, the expected one where that is not PD), so ``se = sqrt(L'Phi_A L)``. For
one contrast the KR F scale is ``lambda = 1`` and the KR df ``m = 2/A_2 = 2 (L'CL)^2 / (g'Wg)``
is the Satterthwaite df above (computed with the unadjusted ``C``, as ``pbkrtest::Lb_ddf`` and
R ``mmrm`` do), so only the SE changes. These are the conventions of R ``mmrm`` with
``method = "Kenward-Roger-Linear"`` and of SAS ``DDFM=KR`` with ``TYPE=UN``: the ``P``, ``Q``
and ``W`` terms do not depend on the parametrisation at a stationary point, ``R`` does, and it
is 0 for the elements of ``Sigma`` (``mmrm``'s ``"Kenward-Roger"`` keeps the ``R`` of its
Cholesky parametrisation and gives slightly different SEs); ``pbkrtest`` uses the expected
information for ``W``. ``Phi_A - C`` is positive semidefinite, and zero with complete data
when every visit has the same covariates (GLS is then OLS and ``C`` linear in ``Sigma``). It
costs up to about 10% of a fit (``benchmarks/bench_mmrm.py``). :func:`small_sample_method` resolves
``df="auto"``.

Status codes (``MMRMResult.status``)
------------------------------------
``0`` converged; ``1`` not converged within ``max_iter`` (or step halving failed); ``2`` not
estimable: a visit with fewer than ``q + 1`` observed patients or a rank-deficient covariate
matrix among them, two visits never observed together, non-finite data in used cells, zero
residual variance, a singular information matrix, or (``df="kenward-roger"``) a Kenward-Roger
variance that is not finite and positive. Any status other than 0 gives NaN
``est``, ``se`` and ``df`` (and ``converged`` False), never an exception or a warning; callers
count them.

Reproducibility
---------------
A trial's numbers are bit-for-bit the same whatever other trials share its call (and however
the call is chunked internally): sums over missingness patterns are taken one pattern at a time
in a fixed order (a pattern a trial lacks adds exact zeros), every other contraction is a
``matmul`` over a fixed-size axis of C-contiguous arrays, whose shapes do not depend on the
patterns present (inputs are copied to C order, so the caller's memory layout does not matter
either), or an explicit elementwise sum in a fixed order in the SoA layout (never a numpy
reduction over a small axis, whose summation order can depend on the array's shape), and
:func:`mi_ancova` draws each trial's random numbers from its own stream (:func:`mi_seeds`).
The test suite checks this on random subsets and with one trial per chunk. (:func:`mi_ancova`'s
draws of ``B*`` use an eigenvector factor of ``C*``, whose signs LAPACK may choose differently
after any round-off change, so across implementations or machines a few trials' imputations
can differ beyond round-off, with the same distribution.)

References
----------
Harville DA (1977). Maximum likelihood approaches to variance component estimation. JASA 72.
Jennrich RI, Schluchter MD (1986). Unbalanced repeated-measures models with structured
covariance matrices. Biometrics 42, 805-820.
Mallinckrodt CH et al. (2008). Recommendations for the primary analysis of continuous endpoints
in longitudinal clinical trials. Drug Inf J 42, 303-319.
Satterthwaite FE (1946). Biometrics Bulletin 2, 110-114; Kuznetsova A et al. (2017). lmerTest.
J Stat Softw 82(13).
Kenward MG, Roger JH (1997). Small sample inference for fixed effects from restricted maximum
likelihood. Biometrics 53, 983-997; Halekoh U, Hojsgaard S (2014). pbkrtest. J Stat Softw
59(9); Sabanes Bove D et al. mmrm (R package), vignette "Kenward-Roger".
Rubin DB (1987). Multiple Imputation for Nonresponse in Surveys. Wiley.
Barnard J, Rubin DB (1999). Small-sample degrees of freedom with multiple imputation.
Biometrika 86, 948-955.
Schafer JL (1997). Analysis of Incomplete Multivariate Data. Chapman & Hall, ch. 5-6.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["MMRMResult", "MIResult", "mmrm", "mi_ancova", "mi_seeds", "ols", "small_sample_method",
           "MMRM_DF_METHODS", "KENWARD_ROGER_BELOW",
           "STATUS_OK", "STATUS_NOT_CONVERGED", "STATUS_NOT_ESTIMABLE"]

STATUS_OK, STATUS_NOT_CONVERGED, STATUS_NOT_ESTIMABLE = 0, 1, 2
_RUNNING = -1
_CHUNK_ELEMS = 1_000_000  # largest temporary of a fit chunk, in array elements (~8 MB)
_STATS_ELEMS = 250_000    # per-patient temporaries of a sufficient-statistics sub-chunk (~2 MB)
_MAX_HALVINGS = 30
_RANK_TOL = 1e-10


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MMRMResult:
    """REML MMRM fit of each trial.

    Attributes
    ----------
    est, se, df : ndarray, shape (trials, len(columns))
        ``B[c, visit]``, its model-based SE ``sqrt(L'CL)`` and the denominator df; NaN unless
        ``status == 0``.
    converged : ndarray of bool, shape (trials,)
        ``status == 0``.
    status : ndarray of int, shape (trials,)
        0 ok, 1 not converged, 2 not estimable (see the module docstring).
    n_iter : ndarray of int, shape (trials,)
        Newton/scoring iterations used (0 if not estimable before starting).
    sigma : ndarray, shape (trials, V, V)
        REML ``Sigma`` (status 0), the last iterate (status 1) or NaN (status 2).
    coef : ndarray, shape (trials, q, V)
        All of ``B_hat``; NaN unless ``status == 0``.
    loglik : ndarray, shape (trials,)
        REML log-likelihood including its constant ``-(n_obs - Vq)/2 log(2 pi)`` (as R's
        ``mmrm`` reports it); NaN unless ``status == 0``.
    """

    est: np.ndarray
    se: np.ndarray
    df: np.ndarray
    converged: np.ndarray
    status: np.ndarray
    n_iter: np.ndarray
    sigma: np.ndarray
    coef: np.ndarray
    loglik: np.ndarray


@dataclass(frozen=True)
class MIResult:
    """Multiple-imputation ANCOVA of each trial combined by Rubin's rules.

    Attributes
    ----------
    est, se, df : ndarray, shape (trials, len(columns))
        Pooled estimate ``Qbar``, ``sqrt(T)`` with ``T = Ubar + (1 + 1/m) B``, and the
        Barnard-Rubin (1999) df; NaN unless ``status == 0``.
    lam : ndarray, shape (trials, len(columns))
        ``(1 + 1/m) B / T``, the proportion of the variance due to the missing data.
    converged, status : ndarray, shape (trials,)
        Of the MMRM fit that the imputations are drawn from (codes as :class:`MMRMResult`).
    m : int
        Number of imputations.
    """

    est: np.ndarray
    se: np.ndarray
    df: np.ndarray
    lam: np.ndarray
    converged: np.ndarray
    status: np.ndarray
    m: int


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------

def _full_rank(s: np.ndarray, inverse: bool = False):
    """Whether each PSD matrix in ``s`` (..., q, q) has full rank: the smallest eigenvalue of
    ``s`` scaled to unit diagonal above ``_RANK_TOL`` (a scale-free test). With ``inverse``,
    also ``s^{-1}`` (the identity where not of full rank).

    The eigenvalue is bounded by the sweep inverse ``N^{-1}`` of the scaled matrix,
    ``1 / tr(N^{-1}) <= lam_min <= 1 / max diag(N^{-1})``; only matrices whose bounds straddle
    the tolerance get ``eigvalsh``."""
    q = s.shape[-1]
    lead = s.shape[:-2]
    d = np.diagonal(s, axis1=-2, axis2=-1)
    good = np.all(np.isfinite(s), axis=(-2, -1)) & np.all(d > 0, axis=-1)
    d = np.where(d > 0, d, 1.0)
    sc = 1.0 / np.sqrt(d)
    sn = s * sc[..., :, None] * sc[..., None, :]
    sn = np.where(good[..., None, None], sn, np.eye(q))
    w = _soa(sn.reshape((-1, q, q)))                                      # (q, q, B)
    _, pd = _sweep(w)
    with np.errstate(all="ignore"):
        di = w[np.arange(q), np.arange(q)]                               # (q, B)
        lo, hi = 1.0 / _ssum(di, 0), 1.0 / np.max(di, axis=0)
    good = good.ravel() & pd & np.all(di > 0, axis=0)
    ok = good & (lo > 2.0 * _RANK_TOL)
    amb = np.flatnonzero(good & ~ok & ~(hi < 0.5 * _RANK_TOL))
    if amb.size:
        ok[amb] = np.linalg.eigvalsh(sn.reshape((-1, q, q))[amb])[:, 0] > _RANK_TOL
    ok = ok.reshape(lead)
    if not inverse:
        return ok
    inv = _tf(w).reshape(lead + (q, q)) * sc[..., :, None] * sc[..., None, :]
    return ok, np.where(ok[..., None, None], inv, np.eye(q))


def _inv_sym(a: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Inverse of each matrix flagged ``ok``; the identity where not ``ok`` (those trials are
    already flagged not estimable, and the identity keeps ``inv`` from failing on them)."""
    eye = np.eye(a.shape[-1])
    return np.linalg.inv(np.where(ok[..., None, None], a, eye))


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    """A factor ``F`` with ``F F' = a`` for symmetric PSD ``a`` (negative eigenvalues from
    rounding clipped to 0; non-finite input gives the identity). Never raises."""
    fin = np.all(np.isfinite(a), axis=(-2, -1))
    lam, vec = np.linalg.eigh(np.where(fin[..., None, None], a, np.eye(a.shape[-1])))
    return vec * np.sqrt(np.maximum(lam, 0.0))[..., None, :]


def _c(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a)


def _mv(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Batched matrix-vector product ``a @ x`` (..., n, k) x (..., k) -> (..., n)."""
    return _c((a @ x[..., None])[..., 0])


def _psum(x: np.ndarray) -> np.ndarray:
    """Sum over axis 1 (the patterns), in ascending pattern order, one elementwise add at a
    time. A pattern a trial does not have contributes exact zeros, so (with every other
    contraction over a fixed-size axis through ``matmul``) a trial's numbers are bit-for-bit
    the same whatever other trials share its batch."""
    acc = x[:, 0].copy()
    for p in range(1, x.shape[1]):
        acc += x[:, p]
    return acc


def _kron_psum(a: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``sum_p a[:, p] kron s[:, p]``: a (t, P, *e, V, V), s (t, P, q, q) -> (t, *e, V, q, V, q).

    Each pattern's term is formed as a (t, E V^2, 1) x (t, 1, q^2) product with contiguous
    inner axes and added in pattern order; the Kronecker index order is made once at the end."""
    t, npat = a.shape[:2]
    e, v, q = a.shape[2:-2], a.shape[-1], s.shape[-1]
    af = a.reshape(t, npat, -1, 1)
    sf = s.reshape(t, npat, 1, q * q)
    acc = af[:, 0] * sf[:, 0]
    for p in range(1, npat):
        acc += af[:, p] * sf[:, p]
    acc = acc.reshape((t, -1, v, v, q, q)).transpose(0, 1, 2, 4, 3, 5)
    return _c(acc).reshape((t,) + e + (v, q, v, q))


def _sweep(w: np.ndarray):
    """Invert in place each symmetric matrix of ``w`` (..., n, n, N), stored with the batch axis
    N innermost, by Gauss-Jordan elimination without pivoting (stable for positive definite
    matrices). Returns ``(logdet, pd)`` of shape (..., N): the log-determinant and whether every
    pivot was positive (where not, the outputs are meaningless but nothing raises). Each pivot
    is a few numpy operations on contiguous data instead of one LAPACK call per small matrix,
    and every matrix sees the same arithmetic whatever the batch."""
    n = w.shape[-2]
    logdet = np.zeros(w.shape[:-3] + w.shape[-1:])
    pd = np.ones(logdet.shape, dtype=bool)
    with np.errstate(all="ignore"):
        for k in range(n):
            piv = w[..., k, k, :].copy()
            pd &= piv > 0
            logdet += np.log(piv)
            w[..., k, k, :] = 1.0
            w[..., k, :, :] /= piv[..., None, :]
            f = w[..., :, k, :].copy()
            f[..., k, :] = 0.0
            w[..., :, k, :] = 0.0
            w[..., k, k, :] = 1.0 / piv
            w -= f[..., :, None, :] * w[..., k, None, :, :]
    return logdet, pd


def _spd_inverse(a: np.ndarray):
    """:func:`_sweep` for matrices stored the usual way, ``a`` (..., n, n): ``(inverse, logdet,
    pd)``."""
    n = a.shape[-1]
    lead = a.shape[:-2]
    w = np.array(np.moveaxis(a.reshape((-1, n, n)), 0, -1), order="C")   # (n, n, B), a copy
    logdet, pd = _sweep(w)
    inv = _c(np.moveaxis(w, -1, 0)).reshape(lead + (n, n))
    return inv, logdet.reshape(lead), pd.reshape(lead)


# --- batch-innermost ("SoA") layout: arrays (..., N) with the N trials on the last axis, so that
# small-matrix algebra is elementwise numpy on contiguous length-N rows. Every contraction is
# an explicit sum in a fixed order (never a numpy reduction, whose order can depend on shape).

def _soa(a: np.ndarray) -> np.ndarray:
    """(N, ...) -> (..., N)."""
    return _c(np.moveaxis(a, 0, -1))


def _tf(a: np.ndarray) -> np.ndarray:
    """(..., N) -> (N, ...)."""
    return _c(np.moveaxis(a, -1, 0))


def _smm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Matrix products ``a @ b`` in SoA layout: a (..., n, k, N), b (..., k, m, N)."""
    acc = a[..., :, 0, None, :] * b[..., None, 0, :, :]
    for j in range(1, a.shape[-2]):
        acc += a[..., :, j, None, :] * b[..., None, j, :, :]
    return acc


def _ssum(x: np.ndarray, axis: int) -> np.ndarray:
    """Sum over one axis (not the last) in index order."""
    x = np.moveaxis(x, axis, 0)
    acc = x[0].copy()
    for i in range(1, x.shape[0]):
        acc += x[i]
    return acc


def _as_columns(columns, q: int) -> np.ndarray:
    cols = np.atleast_1d(np.asarray(columns, dtype=int))
    if cols.ndim != 1 or cols.size == 0:
        raise ValueError(f"columns = {columns!r} must be a non-empty sequence of column indices")
    if np.any(cols < -q) or np.any(cols >= q):
        raise ValueError(f"columns = {columns!r} out of range for q = {q} covariates")
    return cols % q


class _Par:
    """Index helpers for the unique elements ``theta`` of a V x V symmetric matrix."""

    def __init__(self, v: int):
        self.v = v
        self.iu, self.iv = np.triu_indices(v)
        self.m = self.iu.size
        self.c = np.where(self.iu == self.iv, 0.5, 1.0)  # E_r = c_r (e_u e_v' + e_v e_u')
        self.cc = self.c[:, None] * self.c[None, :]
        u, w = self.iu[:, None], self.iv[:, None]       # r = (u, w), s = (k, l)
        k, l = self.iu[None, :], self.iv[None, :]
        # flat (row-major V x V) positions of l u, w k, k u, w l, l w, u k, k w, u l for tr_aebe
        self.flat = tuple(x * v + y for x, y in ((l, u), (w, k), (k, u), (w, l), (l, w),
                                                  (u, k), (k, w), (u, l)))
        ru, rs = np.triu_indices(self.m)              # the (r, s) pairs with r <= s
        lu, vk, ku, vl, lv, uk, kv, ul = (f[ru, rs] for f in self.flat)
        # positions in the flat (V^2 x V^2) outer product A kron B of the four tr_aebe terms
        self.outer_upper = (lu * v * v + vk, ku * v * v + vl, lv * v * v + uk, kv * v * v + ul)
        self.cc_upper = self.cc[ru, rs][:, None]
        self.mirror = np.zeros((self.m, self.m), dtype=int)
        self.mirror[ru, rs] = self.mirror[rs, ru] = np.arange(ru.size)

    def tr_aebe_psum_soa(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``sum_p tr(A_p E_r B_p E_s)`` in SoA layout: a (P, k, V, V, N), b (P, V, V, N) ->
        (k, m, m, N). The sum over p is taken of ``A_p kron B_p`` first (the four terms of
        :meth:`tr_aebe` are entries of it), then the entries for r <= s are picked and
        mirrored."""
        npat, k, v = a.shape[:3]
        n = a.shape[-1]
        af = a.reshape(npat, k, v * v, 1, n)
        bf = b.reshape(npat, 1, 1, v * v, n)
        o = af[0] * bf[0]
        for p in range(1, npat):
            o += af[p] * bf[p]
        o = o.reshape(k, -1, n)
        i1, i2, i3, i4 = self.outer_upper
        out = (o[:, i1] + o[:, i2] + o[:, i3] + o[:, i4]) * self.cc_upper
        return out[:, self.mirror]

    def web_soa(self, w: np.ndarray) -> np.ndarray:
        """:meth:`web` in SoA layout: (..., V, V, N) -> (..., m, V, V, N)."""
        g = w[..., self.iu, :, None, :] * w[..., self.iv, None, :, :]
        return (g + np.swapaxes(g, -2, -3)) * self.c[:, None, None, None]

    def sigma(self, theta: np.ndarray) -> np.ndarray:
        s = np.zeros(theta.shape[:-1] + (self.v, self.v))
        s[..., self.iu, self.iv] = theta
        s[..., self.iv, self.iu] = theta
        return s

    def theta(self, sigma: np.ndarray) -> np.ndarray:
        return sigma[..., self.iu, self.iv]

    def tr_aebe(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``M[..., r, s] = tr(A E_r B E_s)`` for symmetric ``A, B`` (..., V, V)."""
        af = a.reshape(a.shape[:-2] + (-1,))
        bf = b.reshape(b.shape[:-2] + (-1,))
        lu, vk, ku, vl, lv, uk, kv, ul = self.flat
        out = (af[..., lu] * bf[..., vk] + af[..., ku] * bf[..., vl]
               + af[..., lv] * bf[..., uk] + af[..., kv] * bf[..., ul])
        return out * self.cc

    def web(self, w: np.ndarray) -> np.ndarray:
        """``W E_r W`` for every r: (..., V, V) -> (..., m, V, V) (``W`` symmetric: its rows
        u and v are the columns; no sums)."""
        g = w[..., self.iu, :, None] * w[..., self.iv, None, :]             # (..., m, V, V)
        return (g + np.swapaxes(g, -1, -2)) * self.c[:, None, None]

    def ew(self, w: np.ndarray) -> np.ndarray:
        """``E_r W`` for every r: (..., V, V) -> (..., m, V, V) (rows u, v of ``E_r W`` are
        ``c_r`` times rows v, u of ``W``; no sums except ``0.5 x + 0.5 x`` on the diagonal)."""
        r = np.arange(self.m)
        out = np.zeros(w.shape[:-2] + (self.m,) + w.shape[-2:])
        out[..., r, self.iu, :] = self.c[:, None] * w[..., self.iv, :]
        out[..., r, self.iv, :] += self.c[:, None] * w[..., self.iu, :]
        return out


# ---------------------------------------------------------------------------------------------
# sufficient statistics
# ---------------------------------------------------------------------------------------------

@dataclass
class _Stats:
    szz: np.ndarray      # (T, P, q, q)
    szr: np.ndarray      # (T, P, q, V)
    srr: np.ndarray      # (T, P, V, V)
    n: np.ndarray        # (T, P)
    masks: np.ndarray    # (P, V) bool
    b0: np.ndarray       # (T, q, V)
    n_visit: np.ndarray  # (T, V)
    n_obs: np.ndarray    # (T,)
    sigma0: np.ndarray   # (T, V, V)
    status: np.ndarray   # (T,) 2 = not estimable, -1 = to fit
    soa: tuple | None = None   # szz, szr, srr, n with the trials last (built by with_soa)

    def take(self, idx: np.ndarray) -> "_Stats":
        soa = None if self.soa is None else tuple(a[..., idx] for a in self.soa)
        return _Stats(self.szz[idx], self.szr[idx], self.srr[idx], self.n[idx], self.masks,
                      self.b0[idx], self.n_visit[idx], self.n_obs[idx], self.sigma0[idx],
                      self.status[idx], soa)

    def view(self, idx: np.ndarray) -> "_Stats":
        """What :func:`_evaluate` reads (the SoA sums and the masks) of trials ``idx``."""
        if idx.size == self.n.shape[0] and self.soa is not None:     # all, in order
            soa = self.soa
        else:
            soa = tuple(_soa(a[idx]) for a in (self.szz, self.szr, self.srr, self.n))
        return _Stats(None, None, None, None, self.masks, None, None, None, None, None, soa)

    def with_soa(self) -> "_Stats":
        if self.soa is None:
            self.soa = tuple(_soa(a) for a in (self.szz, self.szr, self.srr, self.n))
        return self


def _pattern_codes(observed: np.ndarray) -> np.ndarray:
    """Bit j of a patient's code is set if visit j is observed (0: no visit, padding)."""
    codes = observed[..., 0].astype(np.int64)
    for j in range(1, observed.shape[-1]):
        codes |= observed[..., j].astype(np.int64) << j
    return codes


def _present(codes: np.ndarray) -> np.ndarray:
    """The codes > 0 that occur, ascending."""
    return np.flatnonzero(np.bincount(codes.ravel())[1:]) + 1


def _masks(present: np.ndarray, v: int) -> np.ndarray:
    return ((present[:, None] >> np.arange(v)) & 1).astype(bool)


def _patient_rows(y, observed, z, codes):
    """``u' = [z, y]'`` of a sub-chunk as (t, q + v, n) rows (zeros for padding patients and
    missing cells), whether each trial's used cells are finite, and ``max |y|`` of each."""
    t, n, v = y.shape
    q = z.shape[-1]
    ut = np.empty((t, q + v, n))
    zt, yt = ut[:, :q], ut[:, q:]
    np.copyto(zt, np.swapaxes(z, 1, 2))
    np.copyto(zt, 0.0, where=(codes == 0)[:, None, :])
    np.copyto(yt, np.swapaxes(y, 1, 2))
    np.copyto(yt, 0.0, where=~np.swapaxes(observed, 1, 2))
    with np.errstate(invalid="ignore"):
        scale = np.maximum(np.max(yt, axis=(1, 2)), -np.min(yt, axis=(1, 2))) + 1e-300
    finite = np.isfinite(ut)
    if finite.all():
        finite = np.ones(t, dtype=bool)
    else:                                     # rare: such trials are flagged, their cells zeroed
        ut[~finite] = 0.0
        finite = finite.all(axis=(1, 2))
    return ut, finite, scale


def _chunk_stats(y, observed, z, codes, present, keep_r: bool = False):
    """Pattern sums of a chunk of trials. Returns the stats and (``keep_r``) the per-patient
    residual ``r = y - z B0`` (zeros at missing cells), which multiple imputation reuses.

    The per-patient work runs over sub-chunks of trials sized from the number of patients, so
    that its temporaries stay near :data:`_STATS_ELEMS` elements (cache-sized, and bounded
    however many patients a trial has); the per-trial work (centring, estimability, start)
    over all trials at once. Every trial's sums are its own, so the sub-chunking changes no
    bit."""
    t, n, v = y.shape
    q = z.shape[-1]
    masks = _masks(present, v)
    npp = present.size
    k1 = q + v
    subs = list(_chunks(t, n * (2 * k1 + npp * (1 + max(q, v))), _STATS_ELEMS))
    # pattern sums S[p] = sum over the pattern's patients of x u' (x = z, then x = r): each
    # pattern's rows of x' (zero for the patients not in it) times u, one (q, n) x (n, q + v)
    # product per (trial, pattern) - the same shapes whatever the other trials and patterns
    s1 = np.empty((t, npp, q, k1))
    s2 = np.empty((t, npp, v, k1))
    npat = np.empty((t, npp))
    finite = np.empty(t, dtype=bool)
    scale = np.empty(t)
    rows = []
    for sl in subs:
        ut, finite[sl], scale[sl] = _patient_rows(y[sl], observed[sl], z[sl], codes[sl])
        sel = (codes[sl, None, :] == present[None, :, None]).astype(float)  # (t, P, n)
        npat[sl] = sel @ np.ones(n)
        s1[sl] = (sel[:, :, None, :] * ut[:, None, :q]) @ np.swapaxes(ut, 1, 2)[:, None]
        rows.append((ut, sel))
    szz = s1[..., :q]
    # per-visit available-case OLS (sums over the patterns observed at each visit) -> the
    # centring B0 and visit-level estimability
    masks_f = masks.astype(float)
    svv = np.zeros((t, v, q, q))
    szy_v = np.zeros((t, v, q))
    for p in range(npp):
        svv += masks_f[p][:, None, None] * szz[:, p, None]
        szy_v += masks_f[p][:, None] * _c(np.swapaxes(s1[:, p, :, q:], 1, 2))
    n_visit = npat @ masks_f
    rank_ok, svv_inv = _full_rank(svv, inverse=True)
    b0 = _mv(svv_inv, szy_v)
    b0 = _c(np.where(rank_ok[..., None], b0, 0.0).transpose(0, 2, 1))    # (t, q, v)
    b0t = _c(np.swapaxes(b0, 1, 2))                                      # (t, v, q)
    r = np.empty((t, n, v)) if keep_r else None
    for sl, (ut, sel) in zip(subs, rows):
        rt = ut[:, q:]
        rt -= b0t[sl] @ ut[:, :q]
        np.copyto(rt, 0.0, where=~np.swapaxes(observed[sl], 1, 2))
        s2[sl] = (sel[:, :, None, :] * rt[:, None]) @ np.swapaxes(ut, 1, 2)[:, None]
        if keep_r:
            r[sl] = np.swapaxes(rt, 1, 2)
    del rows
    szr = _c(np.swapaxes(s2[..., :q], -1, -2))                             # (t, P, q, v)
    szz = 0.5 * (szz + np.swapaxes(szz, -1, -2))
    srr = s2[..., q:]
    srr = 0.5 * (srr + np.swapaxes(srr, -1, -2))                           # (t, P, v, v)
    # pairwise start
    pair_n = np.einsum("tp,pj,pk->tjk", npat, masks.astype(float), masks.astype(float))
    ssum = _psum(srr)
    sigma0 = ssum / np.maximum(pair_n - q, 1.0)
    diag0 = np.diagonal(sigma0, axis1=1, axis2=2)
    ok = (finite & np.all(rank_ok, axis=1) & np.all(n_visit > q, axis=1)
          & np.all(pair_n > 0, axis=(1, 2))
          & np.all(diag0 > 1e-24 * scale[:, None] ** 2, axis=1))
    pd = _cond_ok(_soa(np.where(ok[:, None, None], sigma0, np.eye(v))), 1e-8)[2]
    diag = np.eye(v) * np.where(diag0 > 0, diag0, 1.0)[:, :, None]
    sigma0 = np.where(pd[:, None, None], sigma0, diag)
    status = np.where(ok, _RUNNING, STATUS_NOT_ESTIMABLE)
    st = _Stats(szz, szr, srr, npat, masks, b0, n_visit, n_visit.sum(1), sigma0, status)
    return st, r


# ---------------------------------------------------------------------------------------------
# REML objective and derivatives
# ---------------------------------------------------------------------------------------------

def _masked_inverse(sigma: np.ndarray, masks: np.ndarray):
    """``W_p`` (embedded inverse of ``Sigma[O_p, O_p]``) and ``log|Sigma[O_p, O_p]|``."""
    v = sigma.shape[-1]
    mm = masks[:, :, None] & masks[:, None, :]
    off = np.eye(v) * (~masks)[:, :, None]
    sp = np.where(mm, sigma[:, None], 0.0) + off
    inv, logdet, _ = _spd_inverse(sp)
    return inv - off, logdet


_BLOCK = 128
"""Trials per block of the ``Q_r`` products (their arrays then stay in cache)."""


def _q_terms(g: np.ndarray, szz: np.ndarray, c: np.ndarray):
    """``Q_r = sum_p (W_p E_r W_p) kron S_zz[p]`` (t, m, vq, vq) and ``tr(C Q_r C Q_s)``
    (t, m, m) from ``g`` = :meth:`_Par.web_soa` (P, m, v, v, t), ``szz`` (P, q, q, t) and
    ``c`` (t, vq, vq), over blocks of :data:`_BLOCK` trials (the same arithmetic per trial)."""
    npat, m, v = g.shape[:3]
    t, vq = c.shape[:2]
    qr = np.empty((t, m, vq, vq))
    t3 = np.empty((t, m, m))
    for a in range(0, t, _BLOCK):
        sl = slice(a, min(t, a + _BLOCK))
        gb, sb = g[..., sl], szz[..., sl]
        acc = gb[0][:, :, None, :, None] * sb[0][None, None, :, None]
        for p in range(1, npat):
            acc += gb[p][:, :, None, :, None] * sb[p][None, None, :, None]
        qb = qr[sl]
        qb[...] = np.moveaxis(acc.reshape(m, vq, vq, -1), -1, 0)
        cq = c[sl, None] @ qb
        tb = cq.shape[0]
        t3[sl] = cq.reshape(tb, m, vq * vq) @ np.swapaxes(
            _c(np.swapaxes(cq, -1, -2)).reshape(tb, m, vq * vq), -1, -2)  # tr(CQ_r CQ_s)
    return qr, t3


def _evaluate(sigma: np.ndarray, st: _Stats, par: _Par, full: bool) -> dict:
    """``f = -2 l_R`` (constants dropped), GLS ``B`` and ``C``; with ``full`` also the gradient,
    the expected and observed Hessians of ``f`` and the ``Q_r`` matrices.

    The pattern-level algebra runs in SoA layout (trials last); the products with ``C`` of
    size Vq run as batched ``matmul`` in the usual layout."""
    t, v = sigma.shape[0], sigma.shape[-1]
    szz, szr, srr, npt = st.with_soa().soa      # (P, q, q, t), (P, q, v, t), (P, v, v, t), (P, t)
    q = szz.shape[1]
    vq, m = v * q, par.m
    sig = _soa(sigma)                                                    # (v, v, t)
    ok = _cond_ok(sig, 1e-12)[2]
    sig = np.where(ok, sig, np.eye(v)[..., None])
    # W_p: inverse of Sigma[O_p, O_p] embedded in v x v (identity at the missing visits, swept
    # and removed again)
    mm = st.masks[:, :, None] & st.masks[:, None, :]
    off = (np.eye(v) * (~st.masks)[:, :, None])[..., None]                 # (P, v, v, 1)
    w = np.where(mm[..., None], sig[None], 0.0) + off
    logdet_p, _ = _sweep(w)
    w -= off
    # H = sum_p W_p kron S_zz[p] -> C = H^{-1}
    h = w[0][:, None, :, None] * szz[0][None, :, None]
    for p in range(1, w.shape[0]):
        h += w[p][:, None, :, None] * szz[p][None, :, None]
    h = h.reshape(vq, vq, t)
    logdet_h, hpd = _sweep(h)
    ok &= hpd & np.isfinite(logdet_h)
    c = np.where(ok, h, np.eye(vq)[..., None])                             # (vq, vq, t)
    xvr = _c(np.swapaxes(_ssum(_smm(szr, w), 0), 0, 1)).reshape(vq, t)    # X'V^{-1}r
    beta = c[:, 0] * xvr[0]
    for j in range(1, vq):
        beta += c[:, j] * xvr[j]
    bt = _c(beta.reshape(v, q, t).transpose(1, 0, 2))                    # (q, v, t)
    quad = _ssum(_ssum((w * srr).reshape(-1, v * v, t), 1), 0) - _ssum(beta * xvr, 0)
    f = _ssum(npt * logdet_p, 0) + quad + logdet_h
    f = np.where(ok & np.isfinite(f), f, np.inf)
    out = {"f": f, "c": _tf(c), "bt": _tf(bt), "ok": ok}
    if not full:
        return out
    btt = _c(bt.transpose(1, 0, 2))[None]                                 # (1, v, q, t)
    btszr = _smm(btt, szr)                                               # (P, v, v, t)
    zb = _smm(szz, bt[None])                                             # (P, q, v, t)
    rp = srr - btszr - np.swapaxes(btszr, 1, 2) + _smm(btt, zb)
    # D_p[j, k] = tr(C_jk S_zz[p])
    c5 = c.reshape(v, q, v, q, t)
    d = c5[None, :, 0, :, 0] * szz[:, 0, 0][:, None, None]
    for ia in range(q):
        for ib in range(q):
            if ia or ib:
                d += c5[None, :, ia, :, ib] * szz[:, ib, ia][:, None, None]
    wx = _smm(_smm(w[:, None], np.stack([rp, d], axis=1)), w[:, None])   # (P, 2, v, v, t)
    wrw, wdw = wx[:, 0], wx[:, 1]
    nw = npt[:, None, None] * w
    gmat = _ssum(nw - wrw - wdw, 0)
    grad = _tf(2.0 * par.c[:, None] * gmat[par.iu, par.iv])
    # tr(A E_r W_p E_s) summed over p for A = n_p W_p - 2 W_p D_p W_p (the expected
    # information without its C term) and A = W_p R_p W_p (the observed one)
    trs = par.tr_aebe_psum_soa(np.stack([nw - 2.0 * wdw, wrw], axis=1), w)
    trs = _tf(trs)                                                       # (t, 2, m, m)
    g = par.web_soa(w)                                                   # (P, m, v, v, t)
    ct = out["c"]
    qr, t3 = _q_terms(g, szz, ct)
    fisher = trs[:, 0] + t3
    szr_res = szr - zb                                                   # (P, q, v, t)
    a = _ssum(_smm(szr_res[:, None], g), 0)                              # (m, q, v, t)
    a = _tf(a.transpose(0, 2, 1, 3)).reshape(t, m, vq)
    o2 = a @ ct @ np.swapaxes(a, -1, -2)
    hess = 2.0 * (trs[:, 1] - o2) - fisher
    out.update(grad=grad, fisher=_c(0.5 * (fisher + np.swapaxes(fisher, 1, 2))),
               hess=_c(0.5 * (hess + np.swapaxes(hess, 1, 2))), qr=qr)
    return out


def _cond_ok(a: np.ndarray, tol: float):
    """Inverse (SoA, a (n, n, N) -> (n, n, N)), log-determinant and whether each symmetric
    matrix is positive definite with ``lam_min > tol |lam_max|`` (its eigenvalues).

    The test needs no eigenvalues where it is clear-cut: with all sweep pivots positive,
    ``max diag(A) max diag(A^{-1}) <= lam_max / lam_min <= tr(A) tr(A^{-1})``, and a matrix
    whose pivots are not all positive is not positive definite. Only matrices between the
    bounds (a condition number within a factor n of ``1/tol``) get ``eigvalsh``."""
    n = a.shape[0]
    fin = np.all(np.isfinite(a), axis=(0, 1))
    eye = np.eye(n)[..., None]
    a = np.where(fin, a, eye)
    w = a.copy()
    logdet, pd = _sweep(w)
    with np.errstate(all="ignore"):
        ia = np.arange(n)
        da, di = a[ia, ia], w[ia, ia]                                    # (n, N)
        lo = np.max(da, axis=0) * np.max(di, axis=0)
        hi = _ssum(da, 0) * _ssum(di, 0)
        pd &= fin & np.all(da > 0, axis=0)
        sure = pd & (hi < 0.5 / tol)
        amb = np.flatnonzero(pd & ~sure & ~(lo > 2.0 / tol))
    ok = sure
    if amb.size:
        lam = np.linalg.eigvalsh(_tf(a[..., amb]))
        ok[amb] = (lam[:, 0] > tol * np.abs(lam[:, -1])) & (lam[:, -1] > 0)
    return np.where(ok, w, eye), logdet, ok


def _pd_inverse(a: np.ndarray):
    """Inverse of each symmetric matrix (N, n, n) and whether it is (numerically) positive
    definite: eigenvalues ``lam_min > 1e-10 |lam_max|`` and ``lam_max > 0`` (the identity
    where not)."""
    inv, _, ok = _cond_ok(_soa(a), 1e-10)
    return _tf(inv), ok


@dataclass
class _Fit:
    status: np.ndarray   # (T,)
    n_iter: np.ndarray   # (T,)
    sigma: np.ndarray    # (T, V, V)
    bt: np.ndarray       # (T, q, V) residual-scale B (add st.b0)
    c: np.ndarray        # (T, Vq, Vq)
    ainv: np.ndarray     # (T, m, m) inverse of the d2f matrix used (observed if PD)
    qr: np.ndarray       # (T, m, Vq, Vq)
    f: np.ndarray        # (T,)


def _fit(st: _Stats, par: _Par, max_iter: int, tol: float) -> _Fit:
    """Newton / Fisher-scoring REML with step halving, vectorised over the trials of ``st``."""
    t, v = st.sigma0.shape[:2]
    q = st.szz.shape[-1]
    vq, m = v * q, par.m
    status = st.status.copy()
    theta = _c(par.theta(st.sigma0))
    n_iter = np.zeros(t, dtype=int)
    f_prev = np.full(t, np.inf)
    res = _Fit(status, n_iter, np.full((t, v, v), np.nan), np.full((t, q, v), np.nan),
               np.full((t, vq, vq), np.nan), np.full((t, m, m), np.nan),
               np.full((t, m, vq, vq), np.nan), np.full(t, np.nan))
    act = np.flatnonzero(status == _RUNNING)
    e = _evaluate(par.sigma(theta[act]), st.view(act), par, full=True) if act.size else None
    for it in range(1, max_iter + 1):
        if act.size == 0:
            break
        hinv, hpd = _pd_inverse(e["hess"])
        # the expected information is needed only where the observed one is not PD
        ainv, fpd = hinv.copy(), np.zeros_like(hpd)
        need = np.flatnonzero(~hpd)
        if need.size:
            finv, fpd[need] = _pd_inverse(e["fisher"][need])
            ainv[need] = finv
        usable = np.isfinite(e["f"]) & (hpd | fpd) & np.all(np.isfinite(e["grad"]), axis=1)
        step = -_mv(ainv, e["grad"])
        dec = -(e["grad"] * step).sum(-1)
        f = e["f"]
        conv = usable & (np.abs(f_prev[act] - f) <= tol * (1.0 + np.abs(f))) & (dec <= tol)
        n_iter[act] = it
        bad = act[~usable]
        status[bad] = STATUS_NOT_ESTIMABLE
        done = np.flatnonzero(conv)
        if done.size:
            ia = act[done]
            status[ia] = STATUS_OK
            res.sigma[ia] = par.sigma(theta[ia])
            res.bt[ia] = e["bt"][done]
            res.c[ia] = e["c"][done]
            res.ainv[ia] = ainv[done]
            res.qr[ia] = e["qr"][done]
            res.f[ia] = f[done]
        go = usable & ~conv
        act, step, f = act[go], step[go], f[go]
        if act.size == 0 or it == max_iter:
            break
        # The full step is tried with a full evaluation, which then serves the next iteration
        # (most steps are accepted, so the objective is not evaluated twice at the same point);
        # where f does not decrease (or Sigma is not PD, f = inf), the step is halved with
        # objective-only evaluations and the accepted point evaluated in full afterwards.
        slack = 1e-11 * (1.0 + np.abs(f))
        cand = theta[act] + step
        e1 = _evaluate(par.sigma(cand), st.view(act), par, full=True)
        accepted = e1["f"] <= f + slack
        first = accepted.copy()                   # accepted at the full step: e1 holds them
        theta[act[accepted]] = cand[accepted]
        lam = np.full(act.size, 0.5)
        for _ in range(_MAX_HALVINGS - 1):
            todo = np.flatnonzero(~accepted)
            if todo.size == 0:
                break
            cand = theta[act[todo]] + lam[todo, None] * step[todo]
            fc = _evaluate(par.sigma(cand), st.view(act[todo]), par, full=False)["f"]
            good = fc <= f[todo] + slack[todo]
            gi = todo[good]
            theta[act[gi]] = cand[good]
            accepted[gi] = True
            lam[todo[~good]] *= 0.5
        f_prev[act] = f
        stuck = act[~accepted]
        status[stuck] = STATUS_NOT_CONVERGED
        res.sigma[stuck] = par.sigma(theta[stuck])
        later = np.flatnonzero(accepted & ~first)
        e = e1 if first.all() else {k: a[first] for k, a in e1.items()}
        if later.size:
            e2 = _evaluate(par.sigma(theta[act[later]]), st.view(act[later]), par, full=True)
            keep = np.concatenate([np.flatnonzero(first), later])
            order = np.argsort(keep, kind="stable")
            e = {k: np.concatenate([e[k], e2[k]])[order] for k in e}
        act = act[accepted]
    status[act] = STATUS_NOT_CONVERGED
    res.sigma[act] = par.sigma(theta[act])
    res.status = status
    return res


# ---------------------------------------------------------------------------------------------
# input checks and chunking
# ---------------------------------------------------------------------------------------------

def _check(y, observed, z, visit):
    # C order: results must not depend on the caller's memory layout (see Reproducibility)
    y = np.ascontiguousarray(y, dtype=float)
    observed = np.ascontiguousarray(observed, dtype=bool)
    z = np.ascontiguousarray(z, dtype=float)
    if y.ndim != 3 or observed.shape != y.shape:
        raise ValueError(f"y {y.shape} and observed {observed.shape} must both be "
                         "(trials, patients, visits)")
    if z.ndim != 3 or z.shape[:2] != y.shape[:2]:
        raise ValueError(f"z {z.shape} must be (trials, patients, q) matching y {y.shape}")
    v = y.shape[-1]
    if v > 16:
        raise ValueError(f"{v} visits: at most 16 are supported")
    if not -v <= int(visit) < v:
        raise ValueError(f"visit = {visit} out of range for {v} visits")
    return y, observed, z, int(visit) % v


def _chunks(t: int, per_trial: int, limit: int | None = None, start: int = 0):
    """Slices of trials ``start .. start + t`` with at most ``limit`` (default
    :data:`_CHUNK_ELEMS`) temporary elements each."""
    limit = _CHUNK_ELEMS if limit is None else limit
    size = int(max(1, min(t, limit // max(per_trial, 1))))
    for a in range(start, start + t, size):
        yield slice(a, min(start + t, a + size))


def _per_trial_elems(n, v, q, npat, m_imp=1):
    """Largest temporary of one trial in the fit (its per-patient rows, kept between the two
    passes of :func:`_chunk_stats`, included; and, with ``m_imp``, the imputations)."""
    mp = v * (v + 1) // 2
    return max(npat * mp * v * v * q, mp * (v * q) ** 2, npat * mp * mp, n * (q + v + npat),
               (m_imp > 1) * m_imp * (n * v + npat * v * v + (v * q) ** 2))


def _stats(y, observed, z, codes, present, sl: slice, keep_r: bool = False):
    """:func:`_chunk_stats` of the trials ``sl``."""
    return _chunk_stats(y[sl], observed[sl], z[sl], codes[sl], present, keep_r)


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------

MMRM_DF_METHODS = ("satterthwaite", "kenward-roger", "residual")
KENWARD_ROGER_BELOW = 200


def small_sample_method(df: str, n_patients: int) -> str:
    """The df / standard-error method an MMRM of ``n_patients`` patients uses for ``df``.

    ``"auto"`` is ``"kenward-roger"`` when ``n_patients < KENWARD_ROGER_BELOW`` (200, i.e.
    fewer than 100 per arm in a two-arm trial) and ``"satterthwaite"`` otherwise; any of
    :data:`MMRM_DF_METHODS` is returned unchanged. The engine passes the number of patients in
    the analysis (``endpoint.df = "auto"``). The threshold comes from the type I error of both
    methods at alpha = 0.05 with 3 visits and 30% MAR dropout, 200,000 trials each
    (``benchmarks/bench_kenward_roger.py``, README "Kenward-Roger"): Satterthwaite with the
    unadjusted SE is liberal at 20, 30 and 50 per arm (0.0521, 0.0511, 0.0512; z = +4.4, +2.3,
    +2.5) and nominal at 100 per arm (0.0502, z = +0.5), where Kenward-Roger gives 0.0492,
    0.0493, 0.0503 and 0.0497. At 100 per arm the two differ by 0.0005, so larger trials keep
    Satterthwaite (and their numbers from before Kenward-Roger existed).
    """
    if df == "auto":
        return "kenward-roger" if int(n_patients) < KENWARD_ROGER_BELOW else "satterthwaite"
    if df not in MMRM_DF_METHODS:
        raise ValueError(f'df = "{df}" must be "auto", "satterthwaite", "kenward-roger" or '
                         '"residual"')
    return df


def mmrm(y: np.ndarray, observed: np.ndarray, z: np.ndarray, *, columns: Sequence[int],
         visit: int = -1, df: str = "satterthwaite", max_iter: int = 50,
         tol: float = 1e-8) -> MMRMResult:
    """REML MMRM with unstructured covariance, every trial fitted separately (vectorised).

    Parameters
    ----------
    y : ndarray, shape (trials, patients, V)
        Outcomes at the post-baseline visits (missing cells ignored, may be NaN).
    observed : ndarray of bool, shape (trials, patients, V)
        Observed cells; all-False rows are padding.
    z : ndarray, shape (trials, patients, q)
        Covariates including an intercept column.
    columns : sequence of int
        Columns ``c`` of ``z`` whose visit-specific coefficient ``B[c, visit]`` is reported.
    visit : int, default -1
        Analysis visit index (negative counts from the last visit).
    df : {"satterthwaite", "kenward-roger", "residual", "auto"}
        Small-sample method: denominator degrees of freedom and, for ``"kenward-roger"``, the
        bias-corrected SE (see Notes). ``"auto"`` is resolved by :func:`small_sample_method`
        from the number of patients (the ``patients`` axis, padding included).
    max_iter : int
        Newton/scoring iterations before a trial is declared not converged (status 1).
    tol : float
        Convergence tolerance (change in ``l_R`` relative to ``1 + |l_R|`` and Newton
        decrement).

    Returns
    -------
    MMRMResult
        ``est, se, df`` of shape (trials, len(columns)); per-trial ``status``, ``converged``,
        ``n_iter``, ``sigma`` (trials, V, V), ``coef`` (trials, q, V), ``loglik``.

    Notes
    -----
    Model, sufficient statistics, optimiser and df are described in the module docstring.
    ``se`` is the model-based ``sqrt(L'CL)`` at the REML ``Sigma``; ``df="satterthwaite"``
    (default, as SAS PROC MIXED ``DDFM=SATTERTHWAITE`` and the R ``mmrm`` package) uses the
    observed REML information; ``df="kenward-roger"`` reports the Kenward-Roger SE
    ``sqrt(L'Phi_A L)`` with the same (Satterthwaite = one-contrast KR) df, as R ``mmrm``
    ``method = "Kenward-Roger-Linear"`` and SAS ``DDFM=KR``; ``df="residual"`` is ``n_k - q``
    with ``n_k`` the patients observed at ``visit``. Estimates, ``sigma``, ``coef`` and
    ``loglik`` do not depend on ``df`` (but a trial whose Kenward-Roger SE is not finite is
    status 2). Trials that cannot be fitted get NaN and a non-zero ``status``; no exception or
    warning is raised for them.
    """
    y, observed, z, k = _check(y, observed, z, visit)
    t, n, v = y.shape
    df = small_sample_method(df, n)
    q = z.shape[-1]
    cols = _as_columns(columns, q)
    par = _Par(v)
    codes = _pattern_codes(observed)
    present = _present(codes)
    est = np.full((t, cols.size), np.nan)
    se = np.full_like(est, np.nan)
    dfo = np.full_like(est, np.nan)
    status = np.full(t, STATUS_NOT_ESTIMABLE, dtype=int)
    n_iter = np.zeros(t, dtype=int)
    sigma = np.full((t, v, v), np.nan)
    coef = np.full((t, q, v), np.nan)
    loglik = np.full(t, np.nan)
    if present.size == 0:
        return MMRMResult(est, se, dfo, status == STATUS_OK, status, n_iter, sigma, coef, loglik)
    with np.errstate(all="ignore"):
        for sl in _chunks(t, _per_trial_elems(n, v, q, present.size)):
            st, _ = _stats(y, observed, z, codes, present, sl)
            fit = _fit(st, par, max_iter, tol)
            e, s, d, b = _summarise(fit, st, par, cols, k, df)
            est[sl], se[sl], dfo[sl], coef[sl] = e, s, d, b
            status[sl], n_iter[sl], sigma[sl] = fit.status, fit.n_iter, fit.sigma
            ll = -0.5 * (fit.f + (st.n_obs - v * q) * np.log(2 * np.pi))
            loglik[sl] = np.where(fit.status == STATUS_OK, ll, np.nan)
    return MMRMResult(est, se, dfo, status == STATUS_OK, status, n_iter, sigma, coef, loglik)


def _summarise(fit: _Fit, st: _Stats, par: _Par, cols: np.ndarray, k: int, df: str):
    q = st.szz.shape[-1]
    ok = fit.status == STATUS_OK
    x = k * q + cols                                     # positions of B[c, k] in beta
    coef = np.where(ok[:, None, None], fit.bt + st.b0, np.nan)
    est = coef[:, cols, k]
    var = fit.c[:, x, x]
    if df == "residual":
        d = np.broadcast_to((st.n_visit[:, k] - q)[:, None], est.shape).astype(float)
    else:
        cx = _c(fit.c[:, :, x])                          # (t, vq, c)
        qcx = fit.qr @ cx[:, None]                       # (t, m, vq, c) = Q_r C L
        qc = _c(qcx.transpose(0, 3, 1, 2))                                # (t, c, m, vq)
        g = (qc * _c(cx.transpose(0, 2, 1))[:, :, None, :]).sum(-1)   # (t, c, m) = L'CQ_rCL
        d = var ** 2 / ((g @ fit.ainv) * g).sum(-1)
        if df == "kenward-roger":
            var = var + _kr_adjustment(fit, st, par, cx, _c(qcx))
            bad = ok & ~np.all(np.isfinite(var) & (var > 0), axis=1)
            fit.status[bad] = STATUS_NOT_ESTIMABLE
            ok = fit.status == STATUS_OK
            est = np.where(ok[:, None], est, np.nan)
            coef = np.where(ok[:, None, None], coef, np.nan)
    se = np.where(ok[:, None], np.sqrt(var), np.nan)
    d = np.where(ok[:, None], d, np.nan)
    fit.sigma[fit.status == STATUS_NOT_ESTIMABLE] = np.nan
    return est, se, d, coef


def _kr_adjustment(fit: _Fit, st: _Stats, par: _Par, cx: np.ndarray, qcx: np.ndarray
                   ) -> np.ndarray:
    """Kenward-Roger (1997) bias correction ``L'(Phi_A - Phi)L`` of each reported coefficient.

    ``Phi_A - Phi = 2 Phi [sum_rs W_rs (Q_rs - P_r Phi P_s)] Phi`` with ``Phi = C``,
    ``P_r = -Q_r`` (``fit.qr``), ``Q_rs = X'V^{-1}V_r V^{-1}V_s V^{-1}X = sum_p (W_p E_r W_p
    E_s W_p) kron S_zz[p]``, no ``R_rs`` term (``Sigma`` is linear in ``theta``) and ``W =
    Cov(theta_hat) = 2 fit.ainv`` (``fit.ainv`` inverts the Hessian of ``-2 l_R``).
    ``cx = C L`` (t, vq, c), ``qcx = Q_r C L`` (t, m, vq, c). Returns (t, c); only the trials
    with status 0 are meaningful.
    """
    t, vq, nc = cx.shape
    v = st.masks.shape[-1]
    npat, m = st.szz.shape[1], par.m
    ok = fit.status == STATUS_OK
    sig = np.where(ok[:, None, None], fit.sigma, np.eye(v))
    w, _ = _masked_inverse(sig, st.masks)                                 # (t, P, v, v)
    wcov = _c(np.where(ok[:, None, None], 2.0 * fit.ainv, 0.0))[:, None]  # (t, 1, m, m)
    # sum_rs W_rs Q_rs = sum_p K_p kron S_zz[p], K_p = sum_r (W_p E_r W_p)(sum_s W_rs E_s W_p)
    ews = (wcov @ par.ew(w).reshape(t, npat, m, v * v)).reshape(t, npat, m * v, v)
    web = _c(par.web(w).transpose(0, 1, 3, 2, 4)).reshape(t, npat, v, m * v)
    kq = _kron_psum(web @ ews, st.szz).reshape(t, vq, vq)
    term_q = _c(np.swapaxes(cx, 1, 2)) @ kq @ cx                           # (t, c, c)
    # L'C [sum_rs W_rs Q_r C Q_s] C L = sum_r (Q_r C L)' C (sum_s W_rs Q_s C L)
    cqc = (fit.c[:, None] @ qcx).reshape(t, 1, m, vq * nc)
    wcqc = (wcov @ cqc).reshape(t, m * vq, nc)
    term_p = _c(qcx.transpose(0, 3, 1, 2)).reshape(t, nc, m * vq) @ wcqc
    return 2.0 * np.diagonal(term_q - term_p, axis1=1, axis2=2)


def _ols_shared(ys: np.ndarray, mask: np.ndarray, z: np.ndarray, cols: np.ndarray):
    """OLS of each ``ys[:, j]`` (trials, M, patients) on the shared design ``z[mask]``."""
    q = z.shape[-1]
    zm = np.where(mask[..., None], z, 0.0)
    zm = np.where(np.isfinite(zm), zm, np.nan)
    ym = np.where(mask[:, None, :], ys, 0.0)
    zt = _c(np.swapaxes(zm, 1, 2))                                      # (t, q, n)
    s = zt @ zm
    n = mask.sum(1).astype(float)
    ok = _full_rank(s) & (n > q)
    sinv = _inv_sym(s, ok)
    b = sinv @ (zt @ _c(np.swapaxes(ym, 1, 2)))                         # (t, q, M)
    resid = np.where(mask[:, None, :], ym - _c(np.swapaxes(zm @ b, 1, 2)), 0.0)
    dfr = n - q
    s2 = (resid * resid).sum(-1) / np.where(ok, dfr, 1.0)[:, None]
    diag = _c(np.diagonal(sinv, axis1=1, axis2=2)[:, cols])             # (t, c)
    est = _c(np.swapaxes(b, 1, 2)[..., cols])                           # (t, M, c)
    se = np.sqrt(s2[..., None] * diag[:, None, :])
    bad = ~ok | ~np.all(np.isfinite(est), axis=(1, 2)) | ~np.all(np.isfinite(se), axis=(1, 2))
    est = np.where(bad[:, None, None], np.nan, est)
    se = np.where(bad[:, None, None], np.nan, se)
    dfo = np.where(bad, np.nan, dfr)
    return est, se, dfo


def ols(y: np.ndarray, mask: np.ndarray, z: np.ndarray, columns: Sequence[int]
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Complete-case OLS (e.g. ANCOVA ``y ~ arm + baseline``) of every trial.

    Parameters
    ----------
    y : ndarray, shape (trials, patients)
    mask : ndarray of bool, shape (trials, patients)
        Patients used (values of ``y`` and ``z`` elsewhere are ignored).
    z : ndarray, shape (trials, patients, q)
        Design including the intercept column.
    columns : sequence of int
        Coefficients reported.

    Returns
    -------
    est, se, df : ndarray, shape (trials, len(columns))
        ``b = (Z'Z)^{-1} Z'y``, ``se = sqrt(s^2 [(Z'Z)^{-1}]_cc)`` with
        ``s^2 = RSS / (n - q)``, ``df = n - q``. NaN (never an exception) where ``Z'Z`` is
        singular, ``n <= q`` or a used value is not finite.
    """
    y = np.ascontiguousarray(y, dtype=float)
    mask = np.ascontiguousarray(mask, dtype=bool)
    z = np.ascontiguousarray(z, dtype=float)
    if y.ndim != 2 or mask.shape != y.shape or z.ndim != 3 or z.shape[:2] != y.shape:
        raise ValueError(f"ols needs y (trials, patients) {y.shape}, mask of the same shape "
                         f"{mask.shape} and z (trials, patients, q) {z.shape}")
    cols = _as_columns(columns, z.shape[-1])
    with np.errstate(all="ignore"):
        y = np.where(mask, y, 0.0)
        est, se, dfo = _ols_shared(y[:, None, :], mask, z, cols)
    return est[:, 0], se[:, 0], np.broadcast_to(dfo[:, None], est[:, 0].shape).copy()


def _trial_draws(seeds: np.ndarray, nu: np.ndarray, m: int, n: int, vq: int, v: int):
    """Every random number of one chunk, trial i from its own ``PCG64(seeds[i])`` stream:
    imputation normals (m, n), coefficient normals (m, vq), Bartlett normals (m, v, v) and
    Bartlett chi-squares (m, v) with df ``nu_i - j``."""
    tc = seeds.size
    e_imp = np.empty((tc, m, n))
    e_b = np.empty((tc, m, vq))
    e_w = np.empty((tc, m, v, v))
    chi = np.empty((tc, m, v))
    size = m * (n + vq + v * v)
    for i in range(tc):
        g = np.random.Generator(np.random.PCG64(int(seeds[i])))
        e = g.standard_normal(size)
        e_imp[i] = e[:m * n].reshape(m, n)
        e_b[i] = e[m * n:m * (n + vq)].reshape(m, vq)
        e_w[i] = e[m * (n + vq):].reshape(m, v, v)
        chi[i] = g.chisquare(nu[i] - np.arange(v), size=(m, v))
    return e_imp, e_b, e_w, chi


def mi_seeds(rng: np.random.Generator, trials: int) -> np.ndarray:
    """The per-trial stream seeds :func:`mi_ancova` draws from ``rng`` for ``trials`` trials
    (``mi_ancova(..., seeds=mi_seeds(rng, t)[sl])`` on a slice of trials gives exactly those
    trials' results of ``mi_ancova(..., rng=rng)`` on all ``t``)."""
    return rng.integers(0, 2 ** 64, size=int(trials), dtype=np.uint64)


def mi_ancova(y: np.ndarray, observed: np.ndarray, z: np.ndarray, *, columns: Sequence[int],
              visit: int = -1, m: int = 20, rng: np.random.Generator | None = None,
              seeds: np.ndarray | None = None, population: np.ndarray | None = None,
              max_iter: int = 50, tol: float = 1e-8) -> MIResult:
    """Multiple imputation under MAR from the MMRM, ANCOVA at ``visit``, Rubin's rules.

    Parameters
    ----------
    y, observed, z : ndarray
        As :func:`mmrm`.
    columns : sequence of int
        Coefficients of the ANCOVA ``y[:, :, visit] ~ z`` that are reported.
    visit : int, default -1
        Analysis visit.
    m : int, default 20
        Number of imputations (>= 2).
    rng : numpy.random.Generator
        Source of the random draws. ``trials`` 64-bit seeds are drawn from it, and trial i
        draws everything from its own ``PCG64(seed_i)`` stream, so a trial's result depends
        only on its own data, the generator's state and its index i (not on the other trials
        in the batch, nor on the internal chunking).
    seeds : ndarray of uint64, shape (trials,), optional
        Instead of ``rng``: the per-trial seeds themselves (:func:`mi_seeds`), e.g. a slice of
        those of a larger batch.
    population : ndarray of bool, shape (trials, patients), optional
        Patients analysed (imputed where missing at ``visit``). Default: patients with at least
        one observed visit (all-missing rows are taken to be padding).
    max_iter, tol : as :func:`mmrm`.

    Returns
    -------
    MIResult
        ``est, se, df, lam`` (trials, len(columns)); ``status``/``converged`` of the MMRM fit.

    Notes
    -----
    Per trial, after the REML fit (``Sigma_hat``, ``B_hat``), each imputation ``l``:

    1. draws ``Sigma* ~ InvWishart(nu, nu Sigma_hat)``. With complete data the posterior under
       the Jeffreys prior is exactly ``InvWishart(n - q, RSS)`` (Schafer 1997, 5.2) and
       ``RSS = (n - q) Sigma_hat``. With missing data ``nu`` is *information matched*:
       ``nu = 2 Sigma_hat_kk^2 / Var(Sigma_hat_kk)`` with ``Var`` from the inverse observed
       REML information (``= n - q`` with complete data), clipped below at V. This is an
       approximation: one df for the whole matrix, matched at the analysis visit;
    2. draws ``vec(B*) ~ N(B_hat(Sigma*), C(Sigma*))``, the exact conditional posterior of
       ``B`` given ``Sigma*`` under a flat prior (GLS at ``Sigma*``);
    3. imputes each missing ``y_ik`` (k = ``visit``) from its conditional normal given the
       patient's observed visits, ``N(z_i'B*_k + Sigma*_kO Sigma*_OO^{-1}(y_O - B*_O'z_i),
       Sigma*_kk - Sigma*_kO Sigma*_OO^{-1} Sigma*_Ok)``, vectorised by missingness pattern.

    Each completed data set is analysed by OLS of ``y_k`` on ``z`` (the complete-data ANCOVA,
    ``nu_com = n - q``) and the results are combined with Rubin's rules: ``Qbar``, ``Ubar``,
    ``B`` (between-imputation variance), ``T = Ubar + (1 + 1/m) B``, ``lam = (1 + 1/m) B/T``,
    and the Barnard-Rubin df ``1 / (lam^2/(m-1) + 1/nu_obs)`` with
    ``nu_obs = (nu_com + 1)/(nu_com + 3) nu_com (1 - lam)``.
    """
    if int(m) < 2:
        raise ValueError(f"m = {m} imputations: need at least 2")
    if (rng is None) == (seeds is None):
        raise ValueError("give one of rng (a numpy.random.Generator) and seeds")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator")
    m = int(m)
    y, observed, z, k = _check(y, observed, z, visit)
    t, n, v = y.shape
    q = z.shape[-1]
    cols = _as_columns(columns, q)
    if population is None:
        population = observed.any(-1)
    population = np.ascontiguousarray(population, dtype=bool)
    if population.shape != (t, n):
        raise ValueError(f"population {population.shape} must be (trials, patients) {(t, n)}")
    par = _Par(v)
    codes = _pattern_codes(observed)
    present = _present(codes)
    est = np.full((t, cols.size), np.nan)
    se, dfo, lam = (np.full_like(est, np.nan) for _ in range(3))
    status = np.full(t, STATUS_NOT_ESTIMABLE, dtype=int)
    if present.size == 0:
        return MIResult(est, se, dfo, lam, status == STATUS_OK, status, m)
    all_pat = np.concatenate([[0], present])           # pattern 0: no observed visit
    masks_all = _masks(all_pat, v)
    pat_index = np.searchsorted(all_pat, codes)         # (t, n) index into all_pat
    vq = v * q
    ikk = int(np.flatnonzero((par.iu == k) & (par.iv == k))[0])
    if seeds is None:
        seeds = mi_seeds(rng, t)                        # one stream per trial
    seeds = np.asarray(seeds, dtype=np.uint64)
    if seeds.shape != (t,):
        raise ValueError(f"seeds {seeds.shape} must be (trials,) = {(t,)}")
    with np.errstate(all="ignore"):
        for sl in _chunks(t, _per_trial_elems(n, v, q, all_pat.size, m)):
            st, r = _stats(y, observed, z, codes, present, sl, keep_r=True)
            fit = _fit(st, par, max_iter, tol)
            tc = r.shape[0]
            ok = fit.status == STATUS_OK
            status[sl] = fit.status
            sig_hat = np.where(ok[:, None, None], fit.sigma, np.eye(v))
            nu = sig_hat[:, k, k] ** 2 / fit.ainv[:, ikk, ikk]
            nu = np.where(ok & np.isfinite(nu), np.maximum(nu, v), v + 10.0)
            e_imp, e_b, e_w, chi = _trial_draws(seeds[sl], nu, m, n, vq, v)
            # --- Sigma* ~ IW(nu, nu Sigma_hat) by the Bartlett decomposition: with A A' ~
            # Wishart(nu, I) and any K K' = nu Sigma_hat, K (A A')^{-1} K' ~ IW(nu, nu Sigma_hat)
            bart = np.tril(e_w, -1) + np.sqrt(chi)[..., None] * np.eye(v)
            kchol = _sqrt_psd(nu[:, None, None] * sig_hat)                 # (tc, v, v)
            aat_inv = np.linalg.inv(bart @ np.swapaxes(bart, -1, -2))
            sig_star = kchol[:, None] @ aat_inv @ np.swapaxes(kchol, -1, -2)[:, None]
            sig_star = 0.5 * (sig_star + np.swapaxes(sig_star, -1, -2))
            # --- B* | Sigma* ~ N(B_hat(Sigma*), C(Sigma*)) ---
            rep = np.repeat(np.arange(tc), m)
            sub = st.take(rep)
            e = _evaluate(sig_star.reshape(tc * m, v, v), sub, par, full=False)
            cstar = np.where(e["ok"][:, None, None], e["c"], np.eye(vq))
            lc = _sqrt_psd(0.5 * (cstar + np.swapaxes(cstar, -1, -2)))
            beta = e["bt"].transpose(0, 2, 1).reshape(tc * m, vq) \
                + _mv(lc, e_b.reshape(tc * m, vq))
            bstar = beta.reshape(tc, m, v, q).transpose(0, 1, 3, 2)         # (tc, m, q, v)
            ok &= e["ok"].reshape(tc, m).all(1)
            # --- conditional normal of visit k given each pattern's observed visits ---
            sig_star = np.where(e["ok"].reshape(tc, m)[..., None, None], sig_star, np.eye(v))
            w, _ = _masked_inverse(sig_star.reshape(tc * m, v, v), masks_all)
            w = w.reshape(tc, m, all_pat.size, v, v)
            sk = sig_star[..., :, k]                                        # (tc, m, v)
            sk = _c(sk)
            coef = _mv(w, sk[:, :, None, :])                                # (tc, m, P, v)
            cvar = sig_star[..., k, k][..., None] - (coef * sk[:, :, None, :]).sum(-1)
            pi = pat_index[sl]
            gather = np.broadcast_to(pi[:, None, :], (tc, m, n))
            coef_i = _c(np.take_along_axis(coef, gather[..., None], axis=2))  # (tc, m, n, v)
            cvar_i = np.take_along_axis(cvar, gather, axis=2)               # (tc, m, n)
            zf = np.where(np.isfinite(z[sl]), z[sl], 0.0)
            mu = zf[:, None] @ _c(bstar)                                    # (tc, m, n, v)
            obs = observed[sl]
            resid = np.where(obs[:, None], r[:, None] - mu, 0.0)
            mean_k = mu[..., k] + (coef_i * resid).sum(-1)
            draw = mean_k + np.sqrt(np.maximum(cvar_i, 0.0)) * e_imp
            yk = np.where(obs[:, None, :, k], r[:, None, :, k], draw)
            # --- ANCOVA per imputation and Rubin's rules ---
            pop = population[sl]
            qhat, uhat, dcom = _ols_shared(yk, pop, z[sl], cols)            # (tc, m, c)
            qhat = _c(qhat.transpose(0, 2, 1))                              # (tc, c, m)
            uhat = _c(uhat.transpose(0, 2, 1))
            qbar = qhat.sum(-1) / m
            ubar = (uhat * uhat).sum(-1) / m
            dev = qhat - qbar[..., None]
            bvar = (dev * dev).sum(-1) / (m - 1)
            tvar = ubar + (1.0 + 1.0 / m) * bvar
            lm = (1.0 + 1.0 / m) * bvar / tvar
            nu_com = dcom[:, None]
            nu_obs = (nu_com + 1.0) / (nu_com + 3.0) * nu_com * (1.0 - lm)
            dbr = 1.0 / (lm ** 2 / (m - 1) + 1.0 / nu_obs)
            ok &= np.all(np.isfinite(qbar) & np.isfinite(tvar), axis=1)
            good = ok[:, None]
            est[sl] = np.where(good, qbar + st.b0[:, cols, k], np.nan)
            se[sl] = np.where(good, np.sqrt(tvar), np.nan)
            dfo[sl] = np.where(good, dbr, np.nan)
            lam[sl] = np.where(good, lm, np.nan)
            st_sl = status[sl]
            st_sl[(st_sl == STATUS_OK) & ~ok] = STATUS_NOT_ESTIMABLE
            status[sl] = st_sl
    return MIResult(est, se, dfo, lam, status == STATUS_OK, status, m)
