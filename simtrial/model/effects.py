"""Effect-size distributions for the true effect of a future trial, and the effect over time.

Distributions (``[effect] distribution = ...``), for the natural-scale MD at the endpoint visit:

``point``
    The pooled MD itself (power is conditional on it).
``pooled``
    ``N(MD, SE^2)``: uncertainty of the pooled mean.
``predictive``
    The effect in a new study: ``N(MD, SE^2 + tau^2)``, or, with ``predictive_dist = "t"``,
    ``MD + sqrt(SE^2 + tau^2) * t_{k-2}`` (Higgins, Thompson & Spiegelhalter 2009).
    tau^2 is taken from ``effect.tau2`` if given, else DERIVED from I^2, k and SE by
    ``tau^2 = I^2 / (1 - I^2) * v`` with the typical within-study variance ``v`` recovered from the
    random-effects SE (``SE^2 = (v + tau^2) / k``), i.e. ``tau^2 = I^2 * k * SE^2``. The route
    assumes studies of similar size. A row without I^2 needs ``effect.i2`` or ``effect.tau2`` in
    the scenario (an explicit assumption); a row without k takes ``effect.k`` or, failing that,
    the number of Kashbour 2025 trials of that population (T1DM 7, T2DM 7, all 13: 6 + 6 trials
    of one type plus one mixed trial; an upper bound, ASSUMED), recorded in the manifest.
``custom``
    ``family = "normal"`` (mean, sd), ``"t"`` (mean, sd = scale, df) or ``"mixture"`` of normals
    (``components = [{weight, mean, sd}, ...]``).

Discounts (any distribution except ``point``), because pooled effects of small trials tend to be
inflated: ``discount = f`` multiplies the centre by f; ``sceptical_sd = s`` combines the centre
(with its SE) with a sceptical prior N(0, s^2) (precision weighting) before tau^2 is added.

Effect over time: the MD at month t is piecewise linear through (0, 0) and the evidence points
(months 3, 6, 12 where rows exist), so onset is linear from baseline and a gain seen at 3 months
that is absent at 12 months fades between them. After the last evidence point the effect either
holds (``after_last = "hold"``) or wanes exponentially towards 0 with ``half_life_months``
(default ``"wane"``, 12 months: ASSUMED, between the waning within 3-6 months reported for
UC-MSC in T2D (seed 004) and effects persisting to 24 months in new-onset T1D (Hu 2013)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["EffectDistribution", "time_profile", "tau2_from_i2", "KASHBOUR_TRIALS"]

KASHBOUR_TRIALS = {"T1DM": 7, "T2DM": 7, "all": 13}
"""Upper bound on k when a row gives none (6 trials of one type + 1 mixed; 13 in all)."""


def tau2_from_i2(i2_percent: float, k: int, se: float) -> float:
    """Between-study variance from I^2 (percent), k and the pooled random-effects SE.

    Notes
    -----
    With equal within-study variances v, ``I^2 = tau^2 / (tau^2 + v)`` and the random-effects
    SE satisfies ``SE^2 = (v + tau^2) / k``; hence ``tau^2 = I^2 k SE^2``.

    Examples
    --------
    Kashbour 2025 12-month HbA1c: I^2 = 56%, k = 11, SE = 0.199:

    >>> round(tau2_from_i2(56, 11, 0.199), 4)
    0.2439
    """
    return (i2_percent / 100.0) * k * se * se


@dataclass(frozen=True)
class EffectDistribution:
    """Distribution of the true natural-scale MD of a future trial.

    Attributes
    ----------
    kind : {"point", "pooled", "predictive", "custom"}
    point : float
        The point estimate power is computed at.
    family : {"point", "normal", "t", "mixture"}
    mean, scale : float
        Location and scale (SD for normal; scale for t).
    df : float
        Degrees of freedom for ``family = "t"``.
    components : tuple of (weight, mean, sd)
        For ``family = "mixture"``.
    provenance : dict
        How each number was obtained (for the manifest).
    """

    kind: str
    point: float
    family: str
    mean: float
    scale: float = 0.0
    df: float = math.inf
    components: tuple[tuple[float, float, float], ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def is_point(self) -> bool:
        return self.family == "point"

    def sd(self) -> float:
        """Standard deviation of the distribution (inf for t with df <= 2)."""
        if self.family == "point":
            return 0.0
        if self.family == "normal":
            return self.scale
        if self.family == "t":
            return self.scale * math.sqrt(self.df / (self.df - 2)) if self.df > 2 else math.inf
        w = np.array([c[0] for c in self.components])
        m = np.array([c[1] for c in self.components])
        s = np.array([c[2] for c in self.components])
        mu = float(w @ m)
        return float(math.sqrt(w @ (s * s + m * m) - mu * mu))

    def expectation(self) -> float:
        """Mean of the distribution."""
        if self.family == "mixture":
            return float(sum(w * m for w, m, _ in self.components))
        return self.mean

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` independent draws (always consumes the same amount of the stream)."""
        if self.family == "point":
            return np.full(size, self.point)
        if self.family == "normal":
            return self.mean + self.scale * rng.standard_normal(size)
        if self.family == "t":
            return self.mean + self.scale * rng.standard_t(self.df, size)
        u = rng.random(size)
        z = rng.standard_normal(size)
        cw = np.cumsum([c[0] for c in self.components])
        idx = np.minimum(np.searchsorted(cw, u, side="right"), len(self.components) - 1)
        m = np.array([c[1] for c in self.components])[idx]
        s = np.array([c[2] for c in self.components])[idx]
        return m + s * z

    def ppf_range(self, p: float = 1e-7) -> tuple[float, float]:
        """A range holding all but ``2p`` of the mass."""
        if self.family == "point":
            return (self.point, self.point)
        if self.family == "normal":
            d = stats.norm(self.mean, self.scale)
        elif self.family == "t":
            d = stats.t(self.df, self.mean, self.scale)
        else:
            lo = min(m - 6 * s for _, m, s in self.components)
            hi = max(m + 6 * s for _, m, s in self.components)
            return (lo, hi)
        return (float(d.ppf(p)), float(d.isf(p)))

    def average(self, f, nodes: int = 20_000) -> float:
        """E[f(theta)] by the midpoint rule on the quantile scale (f vectorised, bounded).

        ``E f = int_0^1 f(F^-1(u)) du`` with ``nodes`` midpoints; for a bounded f such as power
        the error is far below Monte Carlo error (about 1e-6 here).
        """
        if self.family == "point":
            return float(f(np.asarray(self.point)))
        u = (np.arange(nodes) + 0.5) / nodes
        if self.family == "mixture":
            return float(sum(w * np.mean(f(m + s * stats.norm.ppf(u)))
                             for w, m, s in self.components))
        if self.family == "normal":
            x = self.mean + self.scale * stats.norm.ppf(u)
        else:
            x = self.mean + self.scale * stats.t.ppf(u, self.df)
        return float(np.mean(f(x)))

    def to_dict(self) -> dict[str, Any]:
        """Plain summary for manifests."""
        out: dict[str, Any] = {"kind": self.kind, "family": self.family, "point": self.point,
                               "mean": self.expectation(), "sd": self.sd()}
        if self.family == "t":
            out.update({"scale": self.scale, "df": self.df})
        if self.family == "mixture":
            out["components"] = [list(c) for c in self.components]
        out["provenance"] = self.provenance
        return out


def time_profile(points: dict[int, float], months, after_last: str = "wane",
                 half_life: float = 12.0) -> np.ndarray:
    """Natural-scale MD at each month in ``months`` from evidence ``points`` {month: MD}.

    Piecewise linear through (0, 0) and the points; after the last point the MD is held
    (``after_last = "hold"``) or decays as ``MD_last * 2 ** (-(t - t_last) / half_life)``.
    """
    t = np.asarray(months, dtype=float)
    if not points:
        return np.zeros_like(t)
    xs = [0.0] + sorted(float(m) for m in points)
    ys = [0.0] + [points[m] for m in sorted(points)]
    out = np.interp(t, xs, ys)
    last = xs[-1]
    if after_last == "wane":
        late = t > last
        out[late] = ys[-1] * np.power(2.0, -(t[late] - last) / half_life)
    return out
