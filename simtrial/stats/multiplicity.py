"""Multiplicity adjustment for several hypotheses per trial, vectorised over replicate trials.

Every function takes arrays whose leading axis is the replicate trial and whose last axis is the
hypothesis: ``p`` or ``t`` of shape ``(trials, H)``. Nothing loops over trials; the only Python
loops are over hypotheses, families or (for step-down Dunnett) hypothesis subsets.

``adjust`` / ``adjusted_p``
    ``"none"``, ``"bonferroni"``, ``"holm"`` (step-down, Holm 1979) and ``"hochberg"`` (step-up,
    Hochberg 1988). A hypothesis is rejected when its adjusted p-value is ``<= alpha``.
``dunnett`` / ``dunnett_critical`` / ``dunnett_corr``
    Single-step many-to-one comparisons (Dunnett 1955) with the exact critical value of the
    multivariate t (or normal) distribution; ``dunnett_stepdown`` is the step-down version
    (Dunnett & Tamhane 1991).
``hierarchical`` / ``fixed_sequence``
    Serial gatekeeping over ordered families (Westfall & Krishen 2001; Dmitrienko, Tamhane &
    Wiens 2008): every family is tested at the full level ``alpha``, family ``f + 1`` only where
    every hypothesis of families ``1..f`` was rejected.
``summarise``
    Marginal, disjunctive and conjunctive power and the familywise error rate, each with its
    Monte Carlo SE ``sqrt(p (1 - p) / R)``.

NaN p-values (a failed fit) are treated as ``p = 1``: never rejected, and for Holm/Hochberg they
sort last, so they cost the other hypotheses exactly what a non-significant p-value would.

References
----------
Holm S (1979). A simple sequentially rejective multiple test procedure. Scand J Stat 6:65-70.
Hochberg Y (1988). A sharper Bonferroni procedure for multiple tests of significance.
Biometrika 75:800-802.
Dunnett CW (1955). A multiple comparison procedure for comparing several treatments with a
control. JASA 50:1096-1121. Dunnett CW (1964). New tables for multiple comparisons with a
control. Biometrics 20:482-491.
Dunnett CW, Tamhane AC (1991). Step-down multiple tests for comparing treatments with a control
in unbalanced one-way layouts. Stat Med 10:939-947.
Westfall PH, Krishen A (2001). Optimally weighted, fixed sequence and gatekeeper multiple testing
procedures. J Stat Plan Inference 99:25-40.
Dmitrienko A, Tamhane AC, Wiens BL (2008). General multistage gatekeeping procedures.
Biometrical Journal 50:667-677.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np
from scipy import special

from ..errors import SimtrialError
from . import distributions as stats
from .roots import brentq

__all__ = ["METHODS", "adjusted_p", "adjust", "dunnett_corr", "dunnett_critical", "dunnett",
           "dunnett_stepdown", "hierarchical", "fixed_sequence", "summarise"]

METHODS = ("none", "bonferroni", "holm", "hochberg")
WITHIN = ("none", "bonferroni", "holm", "hochberg", "dunnett")

#: quasi-Monte Carlo settings of the multivariate normal / t cdf behind ``dunnett_critical``;
#: the seed is fixed so that a critical value is a deterministic function of its inputs.
MVN_ABSEPS = 1e-6
MVN_MAXPTS = 100_000
MVT_MAXPTS = 25_000
CDF_SEED = 20240531


def _check(name: str, value, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} = {value!r} is not one of {', '.join(map(repr, allowed))}")


def _as_p(p) -> np.ndarray:
    """p as a float (trials, H) array with NaN replaced by 1 (a failed fit is never rejected)."""
    p = np.asarray(p, dtype=float)
    if p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2:
        raise ValueError(f"p must have shape (trials, H), got shape {p.shape}")
    return np.where(np.isnan(p), 1.0, p)


# ---------------------------------------------------------------------------------------------
# p-value based procedures
# ---------------------------------------------------------------------------------------------

def adjusted_p(p, method: str = "holm") -> np.ndarray:
    """Multiplicity-adjusted p-values, row by row.

    Parameters
    ----------
    p : array_like, shape (trials, H)
        Unadjusted p-values (one- or two-sided, as the tests were). NaN counts as 1. A 1-D array
        is read as ``(trials,)`` with a single hypothesis.
    method : {"none", "bonferroni", "holm", "hochberg"}

    Returns
    -------
    ndarray, shape (trials, H)
        Adjusted p-values, capped at 1. ``adjusted_p(p, m) <= alpha`` is the rejection rule of
        :func:`adjust`.

    Notes
    -----
    With the row's p-values sorted, ``p_(1) <= ... <= p_(H)``:

    * Bonferroni: ``min(1, H p_i)``.
    * Holm (step-down): ``q_(k) = max_{j <= k} min(1, (H - j + 1) p_(j))``.
    * Hochberg (step-up): ``q_(k) = min_{j >= k} min(1, (H - j + 1) p_(j))``.

    Hence ``hochberg <= holm <= bonferroni`` element-wise, exactly in floating point as well
    (the same products enter a running min / max), so each rejects a superset of the next.
    Bonferroni and Holm control the FWER under any dependence; Hochberg under independence and
    positive dependence (MTP2 / PRDS, Sarkar 1998), e.g. one-sided tests with non-negatively
    equicorrelated normal statistics.
    """
    _check("method", method, METHODS)
    p = _as_p(p)
    h = p.shape[1]
    if method == "none":
        return p.copy()
    if method == "bonferroni":
        return np.minimum(1.0, h * p)
    order = np.argsort(p, axis=1, kind="stable")
    ps = np.take_along_axis(p, order, axis=1)
    scaled = np.minimum(1.0, (h - np.arange(h)) * ps)
    if method == "holm":
        q = np.maximum.accumulate(scaled, axis=1)
    else:  # hochberg
        q = np.minimum.accumulate(scaled[:, ::-1], axis=1)[:, ::-1]
    out = np.empty_like(q)
    np.put_along_axis(out, order, q, axis=1)
    return out


def adjust(p, method: str = "holm", alpha: float = 0.05) -> np.ndarray:
    """Rejections after multiplicity adjustment.

    Parameters
    ----------
    p : array_like, shape (trials, H)
        Unadjusted p-values; NaN (failed fit) is treated as 1, i.e. not rejected.
    method : {"none", "bonferroni", "holm", "hochberg"}
    alpha : float
        Familywise level (use the one-sided level for one-sided p-values).

    Returns
    -------
    reject : ndarray of bool, shape (trials, H)
        ``adjusted_p(p, method) <= alpha``.
    """
    return adjusted_p(p, method) <= alpha


# ---------------------------------------------------------------------------------------------
# Dunnett
# ---------------------------------------------------------------------------------------------

def dunnett_corr(n_control, n_arms) -> np.ndarray:
    """Correlation of the many-to-one statistics sharing one control arm.

    Parameters
    ----------
    n_control : int
        Control arm size ``n0``.
    n_arms : sequence of int, length H
        Sizes ``n_i`` of the H treatment arms.

    Returns
    -------
    ndarray, shape (H, H)
        ``corr_ij = sqrt(n_i n_j / ((n_i + n0) (n_j + n0)))`` off the diagonal, 1 on it (equal
        arm sizes give 0.5).

    Notes
    -----
    ``cov(ybar_i - ybar_0, ybar_j - ybar_0) = sigma^2 / n0`` and
    ``var(ybar_i - ybar_0) = sigma^2 (1/n_i + 1/n0)``; the ratio is the formula above.
    """
    n0 = float(n_control)
    n = np.atleast_1d(np.asarray(n_arms, dtype=float))
    if n0 <= 0 or np.any(n <= 0):
        raise ValueError(f"arm sizes must be positive, got n_control = {n_control}, "
                         f"n_arms = {list(np.atleast_1d(n_arms))}")
    lam = np.sqrt(n / (n + n0))
    corr = np.outer(lam, lam)
    np.fill_diagonal(corr, 1.0)
    return corr


def _one_factor(corr: np.ndarray) -> np.ndarray | None:
    """``lam`` with ``corr_ij = lam_i lam_j`` (i != j), 0 <= lam_i < 1, or None if none exists."""
    h = corr.shape[0]
    if h < 2 or np.any(corr[~np.eye(h, dtype=bool)] < 0):
        return None
    if h == 2:
        lam = np.full(2, math.sqrt(corr[0, 1]))
    else:
        lam = np.empty(h)
        for i in range(h):
            j, k = [x for x in range(h) if x != i][:2]
            if corr[j, k] <= 0:
                return None
            lam[i] = math.sqrt(corr[i, j] * corr[i, k] / corr[j, k])
    rebuilt = np.outer(lam, lam)
    np.fill_diagonal(rebuilt, 1.0)
    if np.any(lam >= 1.0) or not np.allclose(rebuilt, corr, rtol=0.0, atol=1e-12):
        return None
    return lam


GH_NODES = 80        # Gauss-Hermite nodes over the common factor
GL_NODES = 60        # generalised Gauss-Laguerre nodes over chi-square / 2 (df <= 250)
GLEG_NODES = 2000    # Gauss-Legendre nodes over chi-square quantiles (df > 250)


def _box_prob_factor(c: float, lam: np.ndarray, df: float, sides: int) -> float:
    """:func:`_box_prob` for one-factor correlation by product quadrature (deterministic).

    With ``Z_i = lam_i Z_0 + sqrt(1 - lam_i^2) E_i`` and ``T_i = Z_i / S``,
    ``S = sqrt(chi2_df / df)``, ``P(all |T_i| < c) = E_{S, Z_0} prod_i [Phi((cS - lam_i Z_0) / r_i)
    - Phi((-cS - lam_i Z_0) / r_i)]`` (Dunnett 1955, eq. 2.2; the one-sided case drops the
    second term). Z_0 is integrated by Gauss-Hermite, chi2/2 ~ Gamma(df/2) by generalised
    Gauss-Laguerre quadrature (whose weight is exactly that density), which converges to machine
    precision for the smooth integrand; very large df use Gauss-Legendre over the quantiles.
    """
    z, wz, s, ws = _nodes(float(df))
    r = np.sqrt(1.0 - lam ** 2)
    cs = c * s[:, None, None]
    lz = lam[None, None, :] * z[None, :, None]
    pr = special.ndtr((cs - lz) / r)
    if sides == 2:
        pr = pr - special.ndtr((-cs - lz) / r)
    return float(ws @ pr.prod(axis=-1) @ wz)


@functools.lru_cache(maxsize=256)
def _nodes(df: float) -> tuple[np.ndarray, ...]:
    """Quadrature nodes and weights of :func:`_box_prob_factor` for ``df`` (computing them is
    about 0.1 s, 95% of a critical value; a root search calls the integrand about ten times)."""
    z, wz = special.roots_hermitenorm(GH_NODES)
    wz = wz / math.sqrt(2.0 * math.pi)
    if math.isinf(df):
        s, ws = np.ones(1), np.ones(1)
    elif df <= 250:
        a = df / 2.0 - 1.0
        x, wx = special.roots_genlaguerre(GL_NODES, a)
        s, ws = np.sqrt(2.0 * x / df), wx / wx.sum()
    else:
        u, wu = special.roots_legendre(GLEG_NODES)
        s, ws = np.sqrt(stats.chi2.ppf((u + 1.0) / 2.0, df) / df), wu / 2.0
    for a in (z, wz, s, ws):
        a.setflags(write=False)
    return z, wz, s, ws


def _box_prob(c: float, corr: np.ndarray, df: float, sides: int) -> float:
    """P(all T_i < c) (sides = 1) or P(all |T_i| < c) (sides = 2), T ~ MVT(df, corr).

    Many-to-one correlations are one-factor (``corr_ij = lam_i lam_j``): these use deterministic
    quadrature (:func:`_box_prob_factor`); any other correlation uses scipy's quasi-Monte Carlo
    multivariate normal / t integration (Genz & Bretz) with a fixed seed.
    """
    lam = _one_factor(corr)
    if lam is not None:
        return _box_prob_factor(c, lam, df, sides)
    h = corr.shape[0]
    upper = np.full(h, c)
    lower = -upper if sides == 2 else np.full(h, -np.inf)
    import scipy.stats      # Genz-Bretz integration: only for a correlation with no one factor
    if math.isinf(df):
        return float(scipy.stats.multivariate_normal.cdf(
            upper, mean=np.zeros(h), cov=corr, allow_singular=True, lower_limit=lower,
            maxpts=MVN_MAXPTS * h, abseps=MVN_ABSEPS, releps=0.0, rng=CDF_SEED))
    return float(scipy.stats.multivariate_t.cdf(upper, loc=np.zeros(h), shape=corr, df=df,
                                                lower_limit=lower, maxpts=MVT_MAXPTS * h,
                                                random_state=CDF_SEED))


@functools.lru_cache(maxsize=512)
def _critical_cached(corr_key: tuple, h: int, df: float, alpha: float, sides: int) -> float:
    corr = np.asarray(corr_key, dtype=float).reshape(h, h)
    marg = stats.norm if math.isinf(df) else stats.t(df)
    lo = float(marg.isf(alpha / sides))              # one hypothesis: no adjustment
    if h == 1:
        return lo
    hi = float(marg.isf(alpha / (sides * h)))        # Bonferroni bound, valid for any corr
    f = lambda c: (1.0 - _box_prob(c, corr, df, sides)) - alpha  # noqa: E731
    a, b = lo - 1e-3, hi + 1e-3
    # the cdf is a quasi-Monte Carlo estimate: widen the bracket if noise at an end flips a sign
    # (a bounded number of times: at an alpha below the integration error no bracket exists)
    for _ in range(_MAX_WIDEN):
        if f(a) >= 0:
            break
        a -= 0.05
    for _ in range(_MAX_WIDEN):
        if f(b) <= 0:
            break
        b += 0.05
    if f(a) < 0 or f(b) > 0:
        raise SimtrialError(f"multiplicity error: the Dunnett critical value at alpha = {alpha:g} "
                            f"({h} comparisons, df = {df:g}) is below the precision of the "
                            "multivariate integration; use alpha >= 1e-6")
    return float(brentq(f, a, b, xtol=1e-7, maxiter=200))


_MAX_WIDEN = 40
"""Bracket widenings (0.05 each) before the critical value is declared out of reach."""


def dunnett_critical(corr, df: float = math.inf, alpha: float = 0.05, sides: int = 2) -> float:
    """Single-step critical value of the max statistic over correlated t (or z) statistics.

    Parameters
    ----------
    corr : array_like, shape (H, H)
        Correlation matrix of the statistics (see :func:`dunnett_corr` for many-to-one).
    df : float
        Degrees of freedom of the common variance estimate; ``math.inf`` for z statistics.
    alpha : float
        Familywise level.
    sides : {1, 2}
        1: reject ``H_i`` when ``T_i > c``; 2: when ``|T_i| > c``.

    Returns
    -------
    float
        ``c`` solving ``P(max_i T_i > c) = alpha`` (sides = 1) or ``P(max_i |T_i| > c) = alpha``
        (sides = 2) under ``T ~ MVT_H(df, corr)`` (``MVN_H(0, corr)`` for ``df = inf``).

    Notes
    -----
    Solved by Brent's method between the unadjusted and the Bonferroni critical values, on
    ``scipy.stats.multivariate_normal.cdf`` (Genz-Bretz quasi-Monte Carlo, ``abseps = 1e-6``) or
    ``scipy.stats.multivariate_t.cdf`` (``maxpts = 25000 H``), both with a fixed random state so
    that the value is deterministic and smooth in ``c``. The probability is accurate to a few
    1e-5, the critical value to about 1e-4 (tested against Dunnett's tables, MCPMod and an
    independent quadrature of Dunnett's integral). Results are cached by
    ``(corr, df, alpha, sides)``. A singular ``corr`` is accepted only for ``df = inf``.
    """
    _check("sides", sides, (1, 2))
    corr = np.atleast_2d(np.asarray(corr, dtype=float))
    h = corr.shape[0]
    if corr.shape != (h, h) or not np.allclose(corr, corr.T) or not np.allclose(np.diag(corr), 1):
        raise ValueError(f"corr must be a symmetric (H, H) correlation matrix, got {corr!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha = {alpha} must lie in (0, 1)")
    if not df > 0:
        raise ValueError(f"df = {df} must be positive (math.inf for z statistics)")
    if not math.isinf(df) and np.linalg.eigvalsh(corr)[0] < 1e-10:
        # scipy's multivariate t cdf returns wrong values for a singular shape matrix
        raise ValueError("corr must be positive definite when df is finite")
    key = tuple(np.round(corr, 12).ravel().tolist())
    return _critical_cached(key, h, float(df), float(alpha), int(sides))


def _signed(t, sides: int, better: str) -> np.ndarray:
    _check("better", better, ("higher", "lower"))
    t = np.asarray(t, dtype=float)
    if t.ndim == 1:
        t = t[:, None]
    if sides == 2:
        return np.abs(t)
    return -t if better == "lower" else t


def dunnett(t, df: float = math.inf, corr=None, alpha: float = 0.05, sides: int = 2,
            better: str = "higher") -> np.ndarray:
    """Single-step Dunnett test of H many-to-one comparisons in every trial.

    Parameters
    ----------
    t : array_like, shape (trials, H)
        Test statistics ``(ybar_i - ybar_0) / (s sqrt(1/n_i + 1/n_0))`` with the pooled ``s``
        on ``df`` degrees of freedom. NaN is never rejected.
    df : float
        Error degrees of freedom (``math.inf`` for z statistics).
    corr : array_like, shape (H, H), optional
        Correlation of the statistics; default equal arms (0.5 off the diagonal).
    alpha : float
    sides : {1, 2}
    better : {"higher", "lower"}
        Direction of benefit for one-sided tests (as in :func:`simtrial.stats.sums.reject`).

    Returns
    -------
    reject : ndarray of bool, shape (trials, H)
        ``|t_i| > c`` (two-sided) or ``t_i > c`` / ``t_i < -c`` with ``c = dunnett_critical``.
        The FWER is exactly ``alpha`` under the global null with normal data.
    """
    s = _signed(t, sides, better)
    h = s.shape[1]
    if corr is None:
        corr = dunnett_corr(1, np.ones(h))
    c = dunnett_critical(corr, df, alpha, sides)
    return s > c


def dunnett_stepdown(t, df: float = math.inf, corr=None, alpha: float = 0.05, sides: int = 2,
                     better: str = "higher") -> np.ndarray:
    """Step-down Dunnett test (Dunnett & Tamhane 1991); arguments as :func:`dunnett`.

    Notes
    -----
    Order the statistics from most to least significant. At step ``k`` the hypotheses not yet
    rejected form the set ``R``; the most significant of them is rejected when its statistic
    exceeds ``dunnett_critical(corr[R][:, R])``, otherwise testing stops. It rejects a superset
    of the single-step test and controls the FWER strongly (closed testing). The critical value
    of each distinct set ``R`` is computed once (at most ``2^H - 1``), not once per trial.
    """
    s = _signed(t, sides, better)
    s = np.where(np.isnan(s), -np.inf, s)
    n, h = s.shape
    if corr is None:
        corr = dunnett_corr(1, np.ones(h))
    corr = np.asarray(corr, dtype=float)
    order = np.argsort(-s, axis=1, kind="stable")
    ss = np.take_along_axis(s, order, axis=1)
    bits = (1 << order).astype(np.int64)
    remaining = np.full(n, (1 << h) - 1, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    rej_sorted = np.zeros((n, h), dtype=bool)
    for k in range(h):
        crit = np.full(n, np.inf)
        for mask in np.unique(remaining[alive]):
            idx = [i for i in range(h) if mask >> i & 1]
            crit[alive & (remaining == mask)] = dunnett_critical(corr[np.ix_(idx, idx)], df,
                                                                 alpha, sides)
        ok = alive & (ss[:, k] > crit)
        rej_sorted[:, k] = ok
        remaining = np.where(ok, remaining - bits[:, k], remaining)
        alive = ok
    out = np.zeros_like(rej_sorted)
    np.put_along_axis(out, order, rej_sorted, axis=1)
    return out


# ---------------------------------------------------------------------------------------------
# gatekeeping
# ---------------------------------------------------------------------------------------------

def hierarchical(p, families: Sequence[Sequence[int]], alpha: float = 0.05,
                 within: str | Sequence[str] = "holm", *, t=None, df: float = math.inf,
                 corr=None, sides: int = 2, better: str = "higher"
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Serial gatekeeping over ordered families of hypotheses.

    Parameters
    ----------
    p : array_like, shape (trials, H) or None
        Unadjusted p-values (NaN = not rejected). May be None when every family uses
        ``"dunnett"``.
    families : sequence of sequences of int
        Column indices of each family, in testing order. A column may appear in one family only;
        columns in no family are never tested.
    alpha : float
        Each family is tested at the full level ``alpha``.
    within : str or sequence of str
        Procedure inside each family: one of ``"none"``, ``"bonferroni"``, ``"holm"``,
        ``"hochberg"``, ``"dunnett"``, or one name per family.
    t, df, corr, sides, better
        Only for ``"dunnett"`` families: statistics ``t`` of shape (trials, H), their df, the
        full (H, H) correlation matrix (the family's sub-matrix is used) and the test direction,
        as in :func:`dunnett` (single-step within the family).

    Returns
    -------
    reject : ndarray of bool, shape (trials, H)
    tested : ndarray of bool, shape (trials, H)
        Family ``f + 1`` is tested exactly where every hypothesis of families ``1..f`` was
        rejected; ``reject`` implies ``tested``.

    Notes
    -----
    The serial gatekeeper is a closed testing procedure (Westfall & Krishen 2001), so the FWER
    over all families is controlled strongly at ``alpha`` whenever each within-family procedure
    controls it. Fixed-sequence testing is the special case of one hypothesis per family
    (:func:`fixed_sequence`).
    """
    fams = [list(map(int, f)) for f in families]
    if not fams or any(len(f) == 0 for f in fams):
        raise ValueError(f"families = {families!r} must be non-empty lists of column indices")
    flat = [i for f in fams for i in f]
    if len(set(flat)) != len(flat):
        raise ValueError(f"families = {families!r} repeat a column index")
    methods = [within] * len(fams) if isinstance(within, str) else list(within)
    if len(methods) != len(fams):
        raise ValueError(f"within has {len(methods)} entries for {len(fams)} families")
    for m in methods:
        _check("within", m, WITHIN)
    if "dunnett" in methods and t is None:
        raise ValueError("within = 'dunnett' needs the test statistics t (and df, corr)")
    if any(m != "dunnett" for m in methods) and p is None:
        raise ValueError("p is required unless every family uses within = 'dunnett'")
    if p is not None:
        pa = _as_p(p)
    if t is not None:
        ta = np.asarray(t, dtype=float)
        ta = ta[:, None] if ta.ndim == 1 else ta
    ref = pa if p is not None else ta
    n, h = ref.shape
    if min(flat) < 0 or max(flat) >= h:
        raise ValueError(f"families = {families!r} index outside 0..{h - 1}")
    if corr is not None:
        corr = np.asarray(corr, dtype=float)
    reject = np.zeros((n, h), dtype=bool)
    tested = np.zeros((n, h), dtype=bool)
    gate = np.ones(n, dtype=bool)
    for fam, m in zip(fams, methods):
        tested[:, fam] = gate[:, None]
        if m == "dunnett":
            sub = None if corr is None else corr[np.ix_(fam, fam)]
            r = dunnett(ta[:, fam], df, sub, alpha, sides, better)
        else:
            r = adjust(pa[:, fam], m, alpha)
        reject[:, fam] = r & gate[:, None]
        gate = gate & r.all(axis=1)
    return reject, tested


def fixed_sequence(p, order: Sequence[int], alpha: float = 0.05
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-sequence testing: ``H_order[k]`` at level alpha once all earlier ones are rejected.

    Returns ``(reject, tested)`` as :func:`hierarchical` with one hypothesis per family.
    """
    return hierarchical(p, [[i] for i in order], alpha, within="none")


# ---------------------------------------------------------------------------------------------
# operating characteristics
# ---------------------------------------------------------------------------------------------

def summarise(reject, true_null) -> dict:
    """Operating characteristics of a multiple-testing procedure over replicate trials.

    Parameters
    ----------
    reject : array_like of bool, shape (trials, H)
    true_null : array_like of bool, shape (H,)
        Which hypotheses are true nulls in the simulated scenario.

    Returns
    -------
    dict
        ``n_trials``; ``marginal`` and ``marginal_se`` (arrays (H,)): rejection rate per
        hypothesis (power for false nulls, type I error for true nulls); ``disjunctive``: P(at
        least one false null rejected); ``conjunctive``: P(all false nulls rejected); ``fwer``:
        P(at least one true null rejected); each scalar with its ``*_se``.

    Notes
    -----
    Every SE is the binomial Monte Carlo SE ``sqrt(p (1 - p) / R)``. With no false nulls the
    disjunctive and conjunctive power are NaN; with no true nulls the FWER is 0 (nothing can be
    falsely rejected).
    """
    r = np.asarray(reject, dtype=bool)
    r = r[:, None] if r.ndim == 1 else r
    tn = np.asarray(true_null, dtype=bool).ravel()
    if tn.shape[0] != r.shape[1]:
        raise ValueError(f"true_null has {tn.shape[0]} entries for {r.shape[1]} hypotheses")
    n = r.shape[0]

    def se(p):
        return np.sqrt(p * (1.0 - p) / n)

    marginal = r.mean(axis=0)
    fn = ~tn
    if fn.any():
        disj = float(r[:, fn].any(axis=1).mean())
        conj = float(r[:, fn].all(axis=1).mean())
    else:
        disj = conj = math.nan
    fwer = float(r[:, tn].any(axis=1).mean()) if tn.any() else 0.0
    return {"n_trials": n, "marginal": marginal, "marginal_se": se(marginal),
            "disjunctive": disj, "disjunctive_se": float(se(disj)),
            "conjunctive": conj, "conjunctive_se": float(se(conj)),
            "fwer": fwer, "fwer_se": float(se(fwer))}
