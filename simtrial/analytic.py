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
from scipy import stats

__all__ = ["power_ttest", "power_ancova", "analytic_power", "analytic_sample_size", "critical_value"]


def critical_value(alpha: float, sides: int, df: float) -> float:
    """Critical |t| for a test of size ``alpha`` with ``sides`` tails."""
    return float(stats.t.isf(alpha / sides, df))


def _power_nct(ncp: float, df: float, alpha: float, sides: int, better: str) -> float:
    c = critical_value(alpha, sides, df)
    if sides == 2:
        return float(stats.nct.sf(c, df, ncp) + stats.nct.cdf(-c, df, ncp))
    if better == "lower":
        return float(stats.nct.cdf(-c, df, ncp))
    return float(stats.nct.sf(c, df, ncp))


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
    ncp = md / (sd * math.sqrt(1.0 / n0 + 1.0 / n1))
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
    ncp = md / (sd_resid * math.sqrt((1.0 / n0 + 1.0 / n1) * infl))
    return _power_nct(ncp, df, alpha, sides, better)


def analytic_power(model, n0: int, n1: int, md: float | None = None) -> float:
    """Closed-form power for a resolved :class:`~simtrial.model.TrialModel` at arm sizes n0, n1."""
    sc = model.scenario
    md = model.endpoint_md if md is None else md
    better = model.outcome_def.better
    if sc.endpoint.analysis == "ttest_change":
        return power_ttest(md, model.analytic["sd_change"], n0, n1, sc.design.alpha,
                           sc.design.sides, better)
    return power_ancova(md, model.analytic["sd_resid_ancova"], n0, n1, sc.design.alpha,
                        sc.design.sides, better)


def analytic_sample_size(model, target: float, n_max: int = 1_000_000) -> int | None:
    """Smallest control-arm size whose closed-form power reaches ``target`` (None if > n_max).

    Power is increasing in n for these formulas, so a doubling search then bisection is exact.
    """
    ratio = model.scenario.design.n_msc

    def pw(n: int) -> float:
        return analytic_power(model, n, ratio(n))

    lo = 3
    if pw(lo) >= target:
        return lo
    hi = lo
    while pw(hi) < target:
        lo = hi
        hi *= 2
        if hi > n_max:
            if pw(n_max) < target:
                return None
            hi = n_max
            break
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pw(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def analytic_curve(model, ns: np.ndarray) -> np.ndarray:
    """Closed-form power at each control-arm size in ``ns``."""
    return np.array([analytic_power(model, int(n), model.scenario.design.n_msc(int(n))) for n in ns])
