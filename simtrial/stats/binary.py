"""Responder (binary) endpoint analyses, vectorised over replicate trials.

Inputs are per-trial counts: ``x0`` responders out of ``n0`` in the control arm and ``x1`` out of
``n1`` in the treatment arm, arrays of shape ``(trials,)`` (any common broadcastable shape works);
for :func:`cmh_test` a trailing strata axis, ``(trials, S)``. Patient-level data for
:func:`logistic_test` are ``(trials, patients)`` arrays. Nothing loops over trials.

Conventions
-----------
* Effects are treatment minus (or over) control: ``p1 - p0``, ``odds1 / odds0``.
* ``alternative="greater"`` is the one-sided test of a higher response rate on treatment,
  ``"less"`` of a lower one; ``"two-sided"`` is the default.
* Degenerate data never raise and never give NaN p-values: a table without responders or
  without non-responders (the test statistic's variance is 0) gives ``stat = 0`` and ``p = 1``.

Tests
-----
``risk_difference``  ``p1 - p0`` with the unpooled Wald SE.
``chisq_test``       Pearson chi-square without continuity correction (Yates optional).
``fisher_test``      Fisher's exact conditional test (hypergeometric), as ``fisher_exact``.
``cmh_test``         Cochran-Mantel-Haenszel test, Mantel-Haenszel odds ratio (Robins-Breslow-
                     Greenland SE) and risk difference (Sato SE) over strata.
``logistic_test``    Wald test of logistic-regression coefficients by vectorised Newton-Raphson
                     (IRLS) with step halving and separation detection.

References
----------
Agresti A (2013). Categorical Data Analysis, 3rd ed. Wiley: 3.2 (Pearson), 3.5 (Fisher),
6.4 (Cochran-Mantel-Haenszel), 5 (logistic regression).
Mantel N, Haenszel W (1959). J Natl Cancer Inst 22:719-748.
Robins J, Breslow N, Greenland S (1986). Estimators of the Mantel-Haenszel variance consistent in
both sparse data and large-strata limiting models. Biometrics 42:311-323.
Sato T (1989). On the variance estimator for the Mantel-Haenszel risk difference. Biometrics
45:1323-1324.
Albert A, Anderson JA (1984). On the existence of maximum likelihood estimates in logistic
regression models. Biometrika 71:1-10.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np
from scipy import special

from . import distributions as stats

__all__ = ["risk_difference", "chisq_test", "fisher_test", "cmh_test", "CMHResult",
           "logistic_test", "LogisticResult", "STATUS_OK", "STATUS_NOT_CONVERGED",
           "STATUS_SEPARATION", "STATUS_SINGULAR"]

ALTERNATIVES = ("two-sided", "greater", "less")

#: relative tolerance for ties in the two-sided Fisher p-value (R's fisher.test uses 1e-7)
FISHER_REL_TOL = 1e-7

STATUS_OK = 0
STATUS_NOT_CONVERGED = 1
STATUS_SEPARATION = 2
STATUS_SINGULAR = 3


def _check(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name} = {value!r} is not one of {', '.join(map(repr, allowed))}")


def _counts(x0, n0, x1, n1) -> tuple[np.ndarray, ...]:
    arrs = np.broadcast_arrays(*(np.asarray(a) for a in (x0, n0, x1, n1)))
    x0, n0, x1, n1 = (a.astype(np.int64) for a in arrs)
    if np.any(n0 < 0) or np.any(n1 < 0) or np.any(x0 < 0) or np.any(x1 < 0) \
            or np.any(x0 > n0) or np.any(x1 > n1):
        raise ValueError("counts must satisfy 0 <= x0 <= n0 and 0 <= x1 <= n1")
    return x0, n0, x1, n1


def _p_from_z(z: np.ndarray, alternative: str) -> np.ndarray:
    if alternative == "two-sided":
        return 2.0 * special.ndtr(-np.abs(z))
    if alternative == "greater":
        return special.ndtr(-z)
    return special.ndtr(z)


# ---------------------------------------------------------------------------------------------
# two-arm tables
# ---------------------------------------------------------------------------------------------

def risk_difference(x0, n0, x1, n1) -> tuple[np.ndarray, np.ndarray]:
    """Risk difference and its unpooled Wald standard error.

    Parameters
    ----------
    x0, n0, x1, n1 : array_like of int, shape (trials,)
        Responders and arm sizes, control (0) and treatment (1).

    Returns
    -------
    est, se : ndarrays, shape (trials,)
        ``est = x1/n1 - x0/n0``, ``se = sqrt(p0 (1 - p0)/n0 + p1 (1 - p1)/n1)``. The SE is 0 when
        both arms are all-responders or all-non-responders; an empty arm gives NaN.
    """
    x0, n0, x1, n1 = _counts(x0, n0, x1, n1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p0 = x0 / n0
        p1 = x1 / n1
        se = np.sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)
    return p1 - p0, se


def chisq_test(x0, n0, x1, n1, correction: bool = False, alternative: str = "two-sided"
               ) -> tuple[np.ndarray, np.ndarray]:
    """Pearson chi-square test of equal response rates in a 2x2 table.

    Parameters
    ----------
    x0, n0, x1, n1 : array_like of int, shape (trials,)
    correction : bool
        Yates continuity correction (default False: plain Pearson statistic, which is closer to
        the nominal level for trial-sized arms; Yates is markedly conservative).
    alternative : {"two-sided", "greater", "less"}
        One-sided versions use the signed root ``z = sign(p1 - p0) sqrt(X^2)``, i.e. the
        pooled two-proportion z test.

    Returns
    -------
    stat, p : ndarrays, shape (trials,)
        ``X^2`` and its p-value (chi-square with 1 df for two-sided). Tables without responders
        or without non-responders give ``stat = 0``, ``p = 1``.

    Notes
    -----
    With ``N = n0 + n1``, ``m1 = x0 + x1`` and ``m0 = N - m1``,
    ``X^2 = N (x1 (n0 - x0) - x0 (n1 - x1))^2 / (n0 n1 m0 m1)`` and with the correction
    ``X^2 = N max(0, |x1 (n0 - x0) - x0 (n1 - x1)| - N/2)^2 / (n0 n1 m0 m1)``, identical to
    ``scipy.stats.chi2_contingency(table, correction=...)``.
    """
    _check("alternative", alternative, ALTERNATIVES)
    x0, n0, x1, n1 = _counts(x0, n0, x1, n1)
    n = (n0 + n1).astype(float)
    m1 = (x0 + x1).astype(float)
    m0 = n - m1
    diff = (x1 * (n0 - x0) - x0 * (n1 - x1)).astype(float)
    den = n0.astype(float) * n1 * m0 * m1
    num = np.maximum(np.abs(diff) - n / 2.0, 0.0) if correction else np.abs(diff)
    ok = den > 0
    stat = np.where(ok, n * num * num / np.where(ok, den, 1.0), 0.0)
    if alternative == "two-sided":
        p = stats.chi2.sf(stat, 1)
    else:
        p = _p_from_z(np.sign(diff) * np.sqrt(stat), alternative)
    return stat, np.where(ok, p, 1.0)


def _log_factorials(nmax: int) -> np.ndarray:
    return special.gammaln(np.arange(nmax + 1, dtype=float) + 1.0)


def fisher_test(x0, n0, x1, n1, alternative: str = "two-sided",
                max_cells: int = 4_000_000) -> np.ndarray:
    """Fisher's exact conditional test of equal response rates, vectorised over trials.

    Parameters
    ----------
    x0, n0, x1, n1 : array_like of int, shape (trials,)
    alternative : {"two-sided", "greater", "less"}
        ``"greater"``: odds ratio ``odds1/odds0 > 1``, ``p = P(X1 >= x1)``; ``"less"``:
        ``p = P(X1 <= x1)``.
    max_cells : int
        Work in chunks of trials so that the (trials, support) pmf array stays below this size.

    Returns
    -------
    p : ndarray, shape (trials,)
        Exact p-value; 1 for tables with an empty margin.

    Notes
    -----
    Given the margins, ``X1`` (treatment responders) is hypergeometric:
    ``P(X1 = k) = C(m1, k) C(N - m1, n1 - k) / C(N, n1)`` on
    ``max(0, m1 - n0) <= k <= min(m1, n1)``, evaluated for every trial on a padded
    ``(trials, support)`` grid from a table of ``log k!``. The two-sided p-value sums the
    probabilities not exceeding the observed one, ``P(k) <= P(x1) (1 + 1e-7)`` (the relative
    tolerance of R's ``fisher.test``, which absorbs rounding in mathematically tied
    probabilities). It equals ``scipy.stats.fisher_exact([[x1, n1 - x1], [x0, n0 - x0]])``
    to 1e-10 (tested).
    """
    _check("alternative", alternative, ALTERNATIVES)
    x0, n0, x1, n1 = _counts(x0, n0, x1, n1)
    shape = x0.shape
    x0, n0, x1, n1 = (a.ravel() for a in (x0, n0, x1, n1))
    out = np.ones(x0.shape[0])
    if out.size == 0:
        return out.reshape(shape)
    n = n0 + n1
    m = x0 + x1
    lo = np.maximum(0, m - n0)
    hi = np.minimum(m, n1)
    width = int((hi - lo).max()) + 1
    lf = _log_factorials(int(n.max()))
    rows = max(1, max_cells // width)
    grid = np.arange(width)
    for s in range(0, x0.shape[0], rows):
        sl = slice(s, s + rows)
        k = lo[sl, None] + grid
        valid = k <= hi[sl, None]
        k = np.where(valid, k, lo[sl, None])
        mm, nn, a1, a0 = m[sl, None], n[sl, None], n1[sl, None], n0[sl, None]
        logp = (lf[mm] + lf[nn - mm] + lf[a1] + lf[a0] - lf[nn]
                - lf[k] - lf[mm - k] - lf[a1 - k] - lf[a0 - mm + k])
        pmf = np.where(valid, np.exp(logp), 0.0)
        obs = x1[sl, None]
        if alternative == "greater":
            p = np.where(k >= obs, pmf, 0.0).sum(axis=1)
        elif alternative == "less":
            p = np.where(k <= obs, pmf, 0.0).sum(axis=1)
        else:
            idx = obs - lo[sl, None]
            lobs = np.take_along_axis(logp, idx, axis=1)
            p = np.where(logp <= lobs + math.log1p(FISHER_REL_TOL), pmf, 0.0).sum(axis=1)
        out[sl] = np.minimum(p, 1.0)
    return out.reshape(shape)


# ---------------------------------------------------------------------------------------------
# stratified tables
# ---------------------------------------------------------------------------------------------

class _Keyed:
    """Results read as attributes (``r.p``), by field name (``r["p"]``) or unpacked."""

    __slots__ = ()

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self._fields:
                raise KeyError(f"{key!r} is not one of {', '.join(self._fields)}")
            return getattr(self, key)
        return tuple.__getitem__(self, key)

    def keys(self) -> tuple[str, ...]:
        return self._fields


class _CMHFields(NamedTuple):

    stat: np.ndarray                #: CMH chi-square (1 df)
    p: np.ndarray                   #: p-value
    odds_ratio: np.ndarray          #: Mantel-Haenszel common odds ratio (treatment / control)
    log_or_se: np.ndarray           #: Robins-Breslow-Greenland SE of log(odds_ratio)
    risk_difference: np.ndarray     #: Mantel-Haenszel risk difference p1 - p0
    risk_difference_se: np.ndarray  #: Sato (1989) SE of the risk difference


class CMHResult(_Keyed, _CMHFields):
    """Cochran-Mantel-Haenszel analysis; every field has shape (trials,).

    Fields: ``stat``, ``p``, ``odds_ratio``, ``log_or_se``, ``risk_difference``,
    ``risk_difference_se``; read as ``r.p``, ``r["p"]`` or by unpacking.
    """

    __slots__ = ()


def cmh_test(x0, n0, x1, n1, correction: bool = False, alternative: str = "two-sided"
             ) -> CMHResult:
    """Cochran-Mantel-Haenszel test and Mantel-Haenszel estimates over strata.

    Parameters
    ----------
    x0, n0, x1, n1 : array_like of int, shape (trials, S)
        Responders and arm sizes per stratum (last axis).
    correction : bool
        Continuity correction ``|sum(a - E a)| - 1/2``, applied only when ``|sum(a - E a)| >=
        1/2`` (R's ``mantelhaen.test``, whose default it is; below 1/2 the statistic is the
        uncorrected one). Default False, as SAS PROC FREQ.
    alternative : {"two-sided", "greater", "less"}
        One-sided versions use ``z = sum(a - E a) / sqrt(sum V)``.

    Returns
    -------
    CMHResult
        Fields of shape (trials,). ``stat = 0, p = 1`` when every stratum has a zero margin.
        ``odds_ratio`` is ``inf`` (or 0, or NaN for 0/0) when no stratum has discordant
        products; its SE is then NaN. ``risk_difference`` is NaN only when no stratum has
        both arms.

    Notes
    -----
    Per stratum, with treatment responders ``a = x1``, ``b = n1 - x1``, control ``c = x0``,
    ``d = n0 - x0``, ``N = n0 + n1``, ``m1 = a + c``, ``m0 = b + d``:

    * ``E a = n1 m1 / N``, ``V a = n1 n0 m1 m0 / (N^2 (N - 1))`` (strata with N < 2 add 0),
      ``CMH = (sum(a - E a))^2 / sum V``; corrected, ``(|sum(a - E a)| - 1/2)^2 / sum V`` if
      ``|sum(a - E a)| >= 1/2`` (R: ``YATES <- if (correct && (abs(DELTA) >= .5)) .5 else 0``).
    * ``OR_MH = sum(a d / N) / sum(b c / N)``; the RBG variance of ``log OR_MH`` with
      ``R = a d / N``, ``S = b c / N``, ``P = (a + d)/N``, ``Q = (b + c)/N`` is
      ``sum(P R)/(2 R+^2) + sum(P S + Q R)/(2 R+ S+) + sum(Q S)/(2 S+^2)``.
    * ``RD_MH = sum(w (a/n1 - c/n0)) / sum(w)`` with ``w = n1 n0 / N``; Sato's variance is
      ``(RD_MH sum(P') + sum(Q')) / (sum w)^2`` with
      ``P' = (n1^2 c - n0^2 a + n1 n0 (n0 - n1)/2) / N^2``,
      ``Q' = (a (n0 - c) + c (n1 - a)) / (2 N)`` (for one stratum with equal arms it is the
      Wald variance).
    """
    _check("alternative", alternative, ALTERNATIVES)
    x0, n0, x1, n1 = _counts(x0, n0, x1, n1)
    if x0.ndim < 1:
        raise ValueError("cmh_test needs a strata axis: arrays of shape (trials, S)")
    a, b, c, d = (v.astype(float) for v in (x1, n1 - x1, x0, n0 - x0))
    f0, f1 = n0.astype(float), n1.astype(float)
    n = f0 + f1
    m1 = a + c
    m0 = b + d
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_n = np.where(n > 0, 1.0 / np.where(n > 0, n, 1.0), 0.0)
        var = np.where(n > 1, f1 * f0 * m1 * m0 * inv_n * inv_n / np.where(n > 1, n - 1, 1.0), 0)
        dev = np.where(n > 0, a - f1 * m1 * inv_n, 0.0).sum(axis=-1)
        v = var.sum(axis=-1)
        ok = v > 0
        num = np.abs(dev)
        if correction:   # R's mantelhaen.test: no correction when |sum(a - E a)| < 1/2
            num = np.where(num >= 0.5, num - 0.5, num)
        stat = np.where(ok, num * num / np.where(ok, v, 1.0), 0.0)
        if alternative == "two-sided":
            p = stats.chi2.sf(stat, 1)
        else:
            p = _p_from_z(np.sign(dev) * np.sqrt(stat), alternative)
        p = np.where(ok, p, 1.0)

        r, s = a * d * inv_n, b * c * inv_n
        pp, qq = (a + d) * inv_n, (b + c) * inv_n
        rs, ss = r.sum(axis=-1), s.sum(axis=-1)
        odds_ratio = rs / ss
        var_log = ((pp * r).sum(-1) / (2 * rs * rs) + (pp * s + qq * r).sum(-1) / (2 * rs * ss)
                   + (qq * s).sum(-1) / (2 * ss * ss))
        log_or_se = np.where((rs > 0) & (ss > 0), np.sqrt(var_log), np.nan)

        w = f1 * f0 * inv_n
        both = (f0 > 0) & (f1 > 0)
        diff = np.where(both, a / np.where(f1 > 0, f1, 1) - c / np.where(f0 > 0, f0, 1), 0.0)
        ws = w.sum(axis=-1)
        rd = (w * diff).sum(axis=-1) / ws
        p_sato = ((f1 * f1 * c - f0 * f0 * a + f1 * f0 * (f0 - f1) / 2) * inv_n * inv_n).sum(-1)
        q_sato = ((a * (f0 - c) + c * (f1 - a)) * inv_n / 2).sum(-1)
        rd_se = np.sqrt(np.maximum(rd * p_sato + q_sato, 0.0)) / ws
    return CMHResult(stat, p, odds_ratio, log_or_se, rd, rd_se)


# ---------------------------------------------------------------------------------------------
# logistic regression
# ---------------------------------------------------------------------------------------------

class _LogisticFields(NamedTuple):
    est: np.ndarray     #: coefficient (log odds ratio for the arm column); NaN unless status 0
    se: np.ndarray      #: Wald SE from the inverse information at the MLE
    z: np.ndarray       #: est / se
    p: np.ndarray       #: Wald p-value; 1 unless status 0
    status: np.ndarray  #: 0 ok, 1 not converged, 2 separation (infinite MLE), 3 singular design
    n_iter: np.ndarray  #: Newton iterations used


class LogisticResult(_Keyed, _LogisticFields):
    """Wald inference on logistic-regression coefficients.

    ``est``, ``se``, ``z``, ``p`` have shape (trials,) for a single requested column, else
    (trials, k); ``status`` and ``n_iter`` have shape (trials,). Read as ``r.p``, ``r["p"]`` or
    by unpacking.
    """

    __slots__ = ()


def _design(arm, covariates, x, y_shape) -> np.ndarray:
    if x is not None:
        if arm is not None or covariates is not None:
            raise ValueError("give either the design x or arm (and covariates), not both")
        x = np.asarray(x, dtype=float)
        if x.ndim == 2:
            x = x[None]
        return np.broadcast_to(x, y_shape + (x.shape[-1],))
    if arm is None:
        raise ValueError("logistic_test needs arm (and optional covariates) or a design x")
    cols = [np.ones(y_shape), np.broadcast_to(np.asarray(arm, dtype=float), y_shape)]
    if covariates is not None:
        cv = np.asarray(covariates, dtype=float)
        if cv.ndim == len(y_shape):
            cv = cv[..., None]
        cv = np.broadcast_to(cv, y_shape + (cv.shape[-1],))
        cols += [cv[..., j] for j in range(cv.shape[-1])]
    return np.stack(cols, axis=-1)


def _loglik(eta: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (w * (y * eta - np.logaddexp(0.0, eta))).sum(axis=-1)


def _fit_chunk(y, x, w, max_iter: int, tol: float, sep_eta: float):
    """Newton-Raphson with step halving for one chunk of trials; returns beta, cov, status, it."""
    t, _, q = x.shape
    beta = np.zeros((t, q))
    eta = np.zeros(y.shape)
    ll = _loglik(eta, y, w)
    status = np.full(t, STATUS_NOT_CONVERGED, dtype=np.int64)
    n_iter = np.zeros(t, dtype=np.int64)
    act = np.arange(t)
    for _ in range(max_iter):
        if act.size == 0:
            break
        xa, ya, wa, ea = x[act], y[act], w[act], eta[act]
        mu = special.expit(ea)
        score = np.einsum("tnq,tn->tq", xa, wa * (ya - mu))
        info = np.matmul(xa.transpose(0, 2, 1), xa * (wa * mu * (1.0 - mu))[..., None])
        # scale-free singularity check: the correlation form of the information
        dg = np.einsum("tii->ti", info)
        bad = ~(dg > 1e-300).all(axis=1)
        sc = 1.0 / np.sqrt(np.where(bad[:, None], 1.0, dg))
        cinfo = info * sc[:, :, None] * sc[:, None, :]
        sign, logdet = np.linalg.slogdet(cinfo)
        bad |= (sign <= 0) | (logdet < math.log(1e-13))
        if bad.any():
            # singular at the start: the design itself; later: weights of separated patients
            # have underflowed on the way to an infinite MLE
            later = bad & (n_iter[act] > 0)
            later &= ((np.abs(ea) > sep_eta) & (wa > 0)).any(axis=1)
            status[act[bad]] = np.where(later[bad], STATUS_SEPARATION, STATUS_SINGULAR)
            keep = ~bad
            act, xa, ya, wa, info, score = (v[keep] for v in (act, xa, ya, wa, info, score))
            if act.size == 0:
                break
        n_iter[act] += 1
        step = np.linalg.solve(info, score[..., None])[..., 0]
        b0, l0 = beta[act], ll[act]
        frac = np.ones(act.size)
        b1 = b0 + step
        e1 = np.einsum("tnq,tq->tn", xa, b1)
        l1 = _loglik(e1, ya, wa)
        for _h in range(30):  # step halving until the log-likelihood does not decrease
            worse = l1 < l0 - 1e-12 * np.abs(l0)
            if not worse.any():
                break
            frac[worse] *= 0.5
            b1[worse] = b0[worse] + frac[worse, None] * step[worse]
            e1[worse] = np.einsum("tnq,tq->tn", xa[worse], b1[worse])
            l1[worse] = _loglik(e1[worse], ya[worse], wa[worse])
        beta[act], eta[act], ll[act] = b1, e1, l1
        done = np.abs(step).max(axis=1) < tol
        status[act[done]] = STATUS_OK
        act = act[~done]
    # still running after max_iter: separation if some included fitted probability is ~0 or 1
    if act.size:
        extreme = ((np.abs(eta[act]) > sep_eta) & (w[act] > 0)).any(axis=1)
        status[act[extreme]] = STATUS_SEPARATION
    cov = np.full((t, q, q), np.nan)
    ok = np.flatnonzero(status == STATUS_OK)
    if ok.size:
        mu = special.expit(eta[ok])
        info = np.matmul(x[ok].transpose(0, 2, 1), x[ok] * (w[ok] * mu * (1 - mu))[..., None])
        cov[ok] = np.linalg.inv(info)
    return beta, cov, status, n_iter


def logistic_test(y, arm=None, covariates=None, mask=None, *, x=None,
                  columns: int | Sequence[int] = 1, alternative: str = "two-sided",
                  max_iter: int = 25, tol: float = 1e-8, sep_eta: float = 15.0,
                  max_cells: int = 2_000_000) -> LogisticResult:
    """Wald tests from logistic regressions fitted to every trial at once.

    Parameters
    ----------
    y : array_like, shape (trials, patients)
        0/1 responses.
    arm : array_like, shape (trials, patients) or (trials, patients, q)
        0/1 treatment indicator; the design is then ``[1, arm, covariates...]`` and the default
        ``columns = 1`` is the arm's log odds ratio. A 3-D array is the full design instead
        (same as ``x``); the call then reads ``logistic_test(y, x, mask)``: the third
        positional argument is the mask, since covariates belong in the design.
    covariates : array_like, shape (trials, patients) or (trials, patients, c), optional
    mask : array_like, shape (trials, patients), optional
        Included patients (bool), or non-negative frequency weights (grouped data give the same
        fit as the expanded patients). Default: everyone. The ``y`` and covariates of excluded
        patients are ignored and may be NaN (e.g. dropouts).
    x : array_like, shape (trials, patients, q) or (patients, q), optional
        Full design (with its intercept) instead of ``arm``/``covariates``, e.g. several arm
        indicators for multi-arm trials.
    columns : int or sequence of int
        Coefficients to report.
    alternative : {"two-sided", "greater", "less"}
    max_iter, tol : int, float
        Newton iterations; converged when the largest coefficient update is below ``tol``.
    sep_eta : float
        Separation threshold on the linear predictor (see Notes).
    max_cells : int
        Fit in chunks of trials of at most this many patient-by-column cells.

    Returns
    -------
    LogisticResult
        ``est``, ``se``, ``z``, ``p``: (trials,) for an int ``columns``, (trials, k) for a
        sequence; ``status``, ``n_iter``: (trials,). Unless ``status == 0`` the estimates are
        NaN and ``p = 1`` (counted as not rejected).

    Notes
    -----
    Newton-Raphson on the log-likelihood ``l(b) = sum w (y eta - log(1 + e^eta))``,
    ``eta = X b``, from ``b = 0``: ``b <- b + I^-1 U`` with ``U = X' W (y - mu)``,
    ``I = X' diag(w mu (1 - mu)) X`` (IRLS), halving the step while ``l`` decreases. The Wald
    SE is ``sqrt(diag(I^-1))`` at the MLE, ``z = b / se``. Status codes:

    * 0: converged (``max |step| < tol``).
    * 2: separation. Under complete or quasi-complete separation the MLE is infinite (Albert &
      Anderson 1984); Newton steps then tend to a constant length along the separating
      direction, so the iteration never converges and fitted probabilities head to 0 or 1. A
      trial that has not converged after ``max_iter`` iterations and has an included patient
      with ``|eta| > sep_eta`` (fitted probability within 3e-7 of 0 or 1) is declared
      separated. With ``max_iter >= 20`` this catches separation reliably; a finite-MLE fit of
      trial-sized data does not come near such probabilities.
    * 1: not converged after ``max_iter`` without signs of separation.
    * 3: singular information (e.g. a covariate constant among the included patients or an
      arm with no included patients): the coefficients are not identifiable.
    """
    _check("alternative", alternative, ALTERNATIVES)
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[None]
    if x is None and arm is not None and np.ndim(arm) == 3:
        if covariates is not None and mask is not None:
            raise ValueError("with a full design (3-D arm/x) pass no covariates: "
                             "call logistic_test(y, x, mask)")
        x, arm, mask, covariates = arm, None, covariates if mask is None else mask, None
    xd = _design(arm, covariates, x, y.shape)
    w = np.ones(y.shape) if mask is None else np.broadcast_to(np.asarray(mask, dtype=float),
                                                              y.shape)
    if np.any(w < 0):
        raise ValueError("mask must be boolean or non-negative weights")
    single = np.ndim(columns) == 0
    cols = [int(columns)] if single else [int(c) for c in columns]
    q = xd.shape[-1]
    if any(c < 0 or c >= q for c in cols):
        raise ValueError(f"columns = {columns!r} outside the design's 0..{q - 1}")
    t, npat = y.shape
    rows = max(1, max_cells // max(1, npat * q))
    beta = np.empty((t, q))
    se = np.empty((t, q))
    status = np.empty(t, dtype=np.int64)
    n_iter = np.empty(t, dtype=np.int64)
    for s in range(0, t, rows):
        sl = slice(s, s + rows)
        wc = w[sl]
        inc = wc > 0        # excluded patients are ignored, whatever their (possibly NaN) data
        b, cov, st, it = _fit_chunk(np.where(inc, y[sl], 0.0),
                                    np.where(inc[..., None], xd[sl], 0.0), wc, max_iter, tol,
                                    sep_eta)
        beta[sl], status[sl], n_iter[sl] = b, st, it
        se[sl] = np.sqrt(np.einsum("tii->ti", cov))
    good = status == STATUS_OK
    est = np.where(good[:, None], beta, np.nan)[:, cols]
    se = np.where(good[:, None], se, np.nan)[:, cols]
    z = est / se
    p = np.where(good[:, None], _p_from_z(z, alternative), 1.0)
    if single:
        est, se, z, p = est[:, 0], se[:, 0], z[:, 0], p[:, 0]
    return LogisticResult(est, se, z, p, status, n_iter)
