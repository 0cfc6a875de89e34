"""Monte Carlo standard errors and intervals: every simulated number travels with one.

``rate_se`` binomial SE of a proportion, ``wilson`` its 95% score interval, ``mean_se`` a mean
and ``SD / sqrt(R)``, ``median_mc_se`` the SE of a median from the order-statistic interval,
``quantiles`` median and 10/90% quantiles, ``calendar_summary`` a per-trial calendar outcome
whose trials share conduct replicates.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Z975", "MONTH_DAYS", "rate_se", "wilson", "mean_se", "median_mc_se", "quantiles",
           "calendar_summary"]

Z975 = 1.959963984540054
"""The 97.5% standard normal quantile."""
MONTH_DAYS = 365.25 / 12
"""Days per month (calendar outputs)."""


def rate_se(p: float, n: int) -> float:
    """Binomial Monte Carlo SE ``sqrt(p (1 - p) / n)`` (NaN for n < 1)."""
    if n < 1 or p != p:
        return float("nan")
    return math.sqrt(max(p * (1.0 - p), 0.0) / n)


def wilson(k: int, n: int, z: float = Z975) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1.0 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def mean_se(x: np.ndarray) -> tuple[float, float]:
    """Mean of the finite values and its MC SE ``SD / sqrt(n)`` (NaN for fewer than 2)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return float("nan"), float("nan")
    return float(np.mean(x)), float(np.std(x, ddof=1) / math.sqrt(x.size))


def median_mc_se(x: np.ndarray, z: float = Z975) -> float:
    """Monte Carlo SE of a sample median from the distribution-free order-statistic interval.

    Notes
    -----
    The ranks ``l = floor(n/2 - z sqrt(n)/2)`` and ``u = ceil(n/2 + z sqrt(n)/2)`` bound a
    95% confidence interval for the median (binomial(n, 1/2) ranks; Conover, *Practical
    Nonparametric Statistics*, 3rd ed., 1999, sec. 3.2); SE = (x_(u) - x_(l)) / (2 z). NaN for
    fewer than 10 finite values.
    """
    x = np.sort(np.asarray(x, dtype=float)[np.isfinite(x)])
    n = x.size
    if n < 10:
        return float("nan")
    h = z * math.sqrt(n) / 2.0
    lo = max(int(math.floor(n / 2.0 - h)), 1)
    hi = min(int(math.ceil(n / 2.0 + h)), n)
    return float((x[hi - 1] - x[lo - 1]) / (2.0 * z))


def quantiles(x: np.ndarray) -> tuple[float, float, float]:
    """Median, 10% and 90% quantiles of the finite values (NaN if none)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (float("nan"),) * 3
    q = np.quantile(x, [0.5, 0.1, 0.9])
    return float(q[0]), float(q[1]), float(q[2])


def calendar_summary(x: np.ndarray, n_eff: int, mean: bool = False
                     ) -> tuple[float, float, float, float]:
    """``(estimate, mc_se, q10, q90)`` of a per-trial calendar outcome (a day, a count) over the
    finite values of ``x``: the median (``mean``: the mean), its MC SE with ``n_eff``
    independent conducts, and the 10/90% quantiles.

    Notes
    -----
    Trials that share a conduct replicate share its calendar, so the SE counts the ``n_eff``
    distinct replicates, not the trials (the conservative choice): the mean's SE is
    ``SD / sqrt(n_eff)``, the median's :func:`median_mc_se` scaled by ``sqrt(n / n_eff)``.
    """
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    m, q10, q90 = quantiles(x)
    if mean:
        est = float(np.mean(x)) if x.size else float("nan")
        se = (float(np.std(x, ddof=1) / math.sqrt(n_eff)) if x.size > 1 and n_eff > 1
              else float("nan"))
        return est, se, q10, q90
    scale = math.sqrt(x.size / n_eff) if n_eff and x.size else float("nan")
    return m, median_mc_se(x) * scale, q10, q90
