"""Closed-form power and sample size, printed beside every simulated figure.

* ``ttest_change``: Student two-sample t-test on change from baseline. With change SD ``s`` in both
  arms, the t statistic is noncentral t with ``df = n0 + n1 - 2`` and noncentrality
  ``ncp = md / (s sqrt(1/n0 + 1/n1))``; power is exact for normal changes.
* ``ancova``: change regressed on baseline and arm. The residual SD is ``sigma = s1 sqrt(1-rho^2)``
  (variance reduced by ``1 - rho^2``). The variance of the adjusted difference is
  ``sigma^2 (1/n0 + 1/n1 + (xbar1 - xbar0)^2 / Sxx)``; with normal baselines the last term has
  expectation ``(1/n0 + 1/n1) / (N - 4)``, so we use ``ncp = md / (sigma sqrt((1/n0 + 1/n1)
  (1 + 1/(N - 4))))`` and ``df = N - 3``.

One-sided tests reject only in the direction of benefit (``better = "lower"``: t < -c).

References
----------
Chow S-C, Shao J, Wang H. Sample Size Calculations in Clinical Research. 2nd ed. 2008, ch. 3.
Borm GF, Fransen J, Lemmens WAJG. A simple sample size formula for analysis of covariance in
randomized clinical trials. J Clin Epidemiol 2007;60:1234-8.
"""

from __future__ import annotations

import math

import numpy as np
from . import distributions as stats

__all__ = ["power_ttest", "power_ancova", "critical_value", "smallest_n", "ohagan_assurance"]


def critical_value(alpha: float, sides: int, df: float) -> float:
    """Critical |t| for a test of size ``alpha`` with ``sides`` tails."""
    return float(stats.t.isf(alpha / sides, df))


def _power_nct(ncp, df: float, alpha: float, sides: int, better: str):
    """Power from the noncentral t; float for scalar ``ncp``, array otherwise."""
    c = critical_value(alpha, sides, df)

    def upper():
        return _tail(stats.nct.sf(c, df, ncp), stats.norm.sf(c - np.asarray(ncp)))

    def lower():
        return _tail(stats.nct.cdf(-c, df, ncp), stats.norm.cdf(-c - np.asarray(ncp)))

    if sides == 2:
        p = upper() + lower()
    elif better == "lower":
        p = lower()
    else:
        p = upper()
    return float(p) if np.ndim(p) == 0 else p


def _tail(exact, approx):
    """scipy's noncentral t returns nan far in the tail (|ncp| >~ 9); the normal limit is then
    accurate to well below 1e-12."""
    return np.where(np.isnan(exact), approx, exact)


def power_ttest(md: float, sd: float, n0: int, n1: int, alpha: float = 0.05, sides: int = 2,
                better: str = "lower") -> float:
    """Exact power of the two-sample t-test on change from baseline.

    Parameters
    ----------
    md : float
        True mean difference (MSC - control), natural units.
    sd : float
        SD of change from baseline (common to both arms).
    n0, n1 : int
        Control and MSC arm sizes.
    alpha : float
        Size of the test.
    sides : {1, 2}
    better : {"lower", "higher"}
        Direction of benefit for a one-sided test.

    Returns
    -------
    float
    """
    df = n0 + n1 - 2
    ncp = np.asarray(md) / (sd * math.sqrt(1.0 / n0 + 1.0 / n1))
    return _power_nct(ncp, df, alpha, sides, better)


def power_ancova(md: float, sd_resid: float, n0: int, n1: int, alpha: float = 0.05, sides: int = 2,
                 better: str = "lower") -> float:
    """Approximate power of ANCOVA (change on baseline and arm), see the module notes.

    Parameters
    ----------
    md : float
        True mean difference, natural units.
    sd_resid : float
        Residual SD of the ANCOVA model, ``s1 sqrt(1 - rho^2)``.
    n0, n1 : int
        Arm sizes (n0 + n1 >= 5).
    """
    n = n0 + n1
    df = n - 3
    infl = 1.0 + 1.0 / (n - 4) if n > 4 else float("inf")
    ncp = np.asarray(md) / (sd_resid * math.sqrt((1.0 / n0 + 1.0 / n1) * infl))
    return _power_nct(ncp, df, alpha, sides, better)


def smallest_n(fn, target: float, n_max: int, lo: int = 3, guess: int | None = None
               ) -> int | None:
    """Smallest n in [lo, n_max] with ``fn(n) >= target`` for increasing ``fn`` (None if none):
    doubling search, then bisection; from ``guess`` (any n in [lo, n_max]) galloping away from
    it, then bisection. The answer does not depend on ``guess``, only the number of calls."""
    if guess is not None:
        return _gallop(fn, target, n_max, lo, min(max(int(guess), lo), n_max))
    if fn(lo) >= target:
        return lo
    hi = lo
    while fn(hi) < target:
        lo = hi
        hi *= 2
        if hi > n_max:
            if fn(n_max) < target:
                return None
            hi = n_max
            break
    return _bisect(fn, target, lo, hi)


def _bisect(fn, target: float, lo: int, hi: int) -> int:
    """Smallest n in (lo, hi] with fn(n) >= target, given fn(lo) < target <= fn(hi)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fn(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def _gallop(fn, target: float, n_max: int, lo: int, g: int) -> int | None:
    step = 1
    if fn(g) >= target:             # the answer is g or below: step down until fn < target
        hi = g
        while True:
            probe = hi - step
            if probe <= lo:
                return lo if fn(lo) >= target else _bisect(fn, target, lo, hi)
            if fn(probe) < target:
                return _bisect(fn, target, probe, hi)
            hi, step = probe, step * 2
    low = g                         # fn(g) < target: step up until fn >= target
    while True:
        probe = low + step
        if probe >= n_max:
            return None if fn(n_max) < target else _bisect(fn, target, low, n_max)
        if fn(probe) >= target:
            return _bisect(fn, target, low, probe)
        low, step = probe, step * 2


def ohagan_assurance(m: float, v: float, sigma_n: float, alpha: float = 0.05, sides: int = 1,
                     better: str = "lower") -> float:
    """O'Hagan, Stevens & Campbell (2005) assurance of a z-test with known SE ``sigma_n``.

    ``theta ~ N(m, v)``; the estimate is ``N(theta, sigma_n^2)``, so marginally
    ``N(m, sigma_n^2 + v)``. One-sided (benefit = lower): ``Phi((-z sigma_n - m) / s)``,
    ``s = sqrt(sigma_n^2 + v)``; two-sided adds the other tail.
    """
    z = stats.norm.isf(alpha / sides)
    s = math.sqrt(sigma_n * sigma_n + v)
    low = stats.norm.cdf((-z * sigma_n - m) / s)
    high = stats.norm.sf((z * sigma_n - m) / s)
    if sides == 2:
        return float(low + high)
    return float(low if better == "lower" else high)
