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
    the scenario (an explicit assumption). k comes from ``effect.k`` if the scenario sets it,
    else from the row, capped by the seed's number of studies for that outcome and time
    (:data:`SEED_K`; :func:`simtrial.model.evidence.k_for`); a row without k takes the cap
    itself (ASSUMED, recorded in the manifest). For a T1DM or T2DM row the cap is also the
    number of Kashbour 2025 trials of that type (:data:`KASHBOUR_TRIALS`: 6 of one type plus
    the mixed trial) and, when the other type has a row at that cell (so holds at least one
    study), one less than the overall k (ASSUMED: the type subgroups partition the studies).
    ``predictive_dist = "t"`` needs k >= 3 (df = k - 2) and is refused; a normal predictive with
    k < 3 from the table is refused too (tau^2 from I^2 on one or two studies, with tails too
    light), unless the scenario sets ``effect.k`` (then allowed, with a WARNING in the manifest's
    k provenance) or ``effect.tau2``.
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

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import EvidenceError, fmt_value
from ..stats import distributions as stats

__all__ = ["EffectDistribution", "time_profile", "tau2_from_i2", "KASHBOUR_TRIALS", "SEED_K",
           "k_cap", "seed_time_point"]

KASHBOUR_TRIALS = {"T1DM": 7, "T2DM": 7, "all": 13}
"""Kashbour 2025 trials by population (6 trials of one type + 1 mixed; 13 in all): the cap on a
subgroup's k (:func:`k_cap`)."""

_S = "REPORTED-SEED: seed 000"
SEED_K: dict[tuple[str, int], tuple[int, str]] = {
    ("hba1c", 3): (9, "ASSUMED: seed 000 gives no 3-month k; the 6-month k"),
    ("hba1c", 6): (9, f"{_S}, 6-month HbA1c '九項研究'"),
    ("hba1c", 12): (11, f"{_S}, 12-month HbA1c '11項試驗匯總'"),
    ("fbg", 3): (7, "ASSUMED: seed 000 gives no 3-month k; the 6-month k"),
    ("fbg", 6): (7, f"{_S}, 6-month FBG '七項研究'"),
    ("fbg", 12): (9, f"{_S}, 12-month FBG '九項研究'"),
    ("ppbg", 3): (3, "ASSUMED: seed 000 gives no 3-month k (the T2DM subgroup is '單研究'); the "
                     "6-month k"),
    ("ppbg", 6): (3, f"{_S}, 6-month PPBG '三項研究匯總'"),
    ("ppbg", 12): (3, f"{_S}, 12-month PPBG '三項研究'"),
    ("fasting_cpeptide", 3): (8, "ASSUMED: seed 000 gives no 3-month k; the 6-month k"),
    ("fasting_cpeptide", 6): (8, f"{_S}, 6-month fasting C-peptide '八項研究'"),
    ("fasting_cpeptide", 12): (10, f"{_S}, 12-month fasting C-peptide '十項研究' (293 "
                                   "patients)"),
    ("insulin_dose", 3): (6, "ASSUMED: seed 000 gives no 3-month k; the 6-month k"),
    ("insulin_dose", 6): (6, f"{_S}, 6-month insulin '六項研究'"),
    ("insulin_dose", 12): (7, f"{_S}, 12-month insulin '七項研究'"),
    ("stimulated_cpeptide", 3): (2, f"{_S}, 3-month stimulated C-peptide '僅含兩項研究'"),
    ("stimulated_cpeptide", 6): (2, "ASSUMED: seed 000 gives no 6-month k; the 3-month k (the "
                                    "nearest time point)"),
    ("stimulated_cpeptide", 12): (3, f"{_S}, 12-month stimulated C-peptide '三項研究' (69 "
                                     "patients)"),
    ("homa_b", 3): (3, "ASSUMED: seed 000 gives k only at 12 months"),
    ("homa_b", 6): (3, "ASSUMED: seed 000 gives k only at 12 months"),
    ("homa_b", 12): (3, f"{_S}, 12-month HOMA-B '三項研究'"),
    ("homa_ir", 3): (4, "ASSUMED: seed 000 gives k only at 12 months (3 months: n = 81)"),
    ("homa_ir", 6): (4, "ASSUMED: seed 000 gives k only at 12 months"),
    ("homa_ir", 12): (4, f"{_S}, 12-month HOMA-IR '四項研究'"),
}
"""Number of studies in the Kashbour 2025 analysis of each (outcome, month), with its source:
the cap on k for the predictive distribution (:func:`simtrial.model.evidence.k_for`). Where seed
000 names no k at a time point, the k of the nearest time point that has one is used (ASSUMED)."""


def seed_time_point(time_months: int) -> int:
    """The seed time point (3, 6, 12) nearest a visit; ties go to the later one."""
    return min((3, 6, 12), key=lambda t: (abs(t - time_months), -t))


def k_cap(outcome: str, time_months: int, population: str, *,
          other_subgroup: bool = False) -> tuple[int, str]:
    """Largest number of studies an estimate of (outcome, month, population) can rest on.

    Parameters
    ----------
    outcome : str
        A simulated outcome (a key of :data:`SEED_K`).
    time_months : int
        The estimate's month; a visit other than 3, 6, 12 uses the nearest of them.
    population : str
        ``all``, ``T1DM`` or ``T2DM``.
    other_subgroup : bool
        For a T1DM/T2DM estimate: whether the other type has a Kashbour row at this cell (then
        that type holds at least one of the studies, and this subgroup at most k - 1).

    Returns
    -------
    (int, str)
        The cap (>= 1) and how it was obtained.

    Examples
    --------
    T2DM 12-month PPBG: 3 studies in all, the T1DM subgroup holds at least one:

    >>> k_cap("ppbg", 12, "T2DM", other_subgroup=True)[0]
    2
    """
    t = seed_time_point(int(time_months))
    if (outcome, t) not in SEED_K:
        outcomes = ", ".join(dict.fromkeys(o for o, _ in SEED_K))
        raise EvidenceError(f"evidence error: outcome = {fmt_value(outcome)} has no seed k; must "
                            f"be one of {outcomes}")
    k, src = SEED_K[(outcome, t)]
    why = f"seed k = {k} for {outcome} at {t} months ({src})"
    if population == "all":
        return min(k, KASHBOUR_TRIALS["all"]), why
    cap = min(k - 1 if other_subgroup else k, KASHBOUR_TRIALS[population])
    parts = [why]
    if other_subgroup:
        parts.append(f"a {population} subgroup holds at most k - 1 = {k - 1} (the other type has "
                     "a row at this cell)")
    parts.append(f"at most {KASHBOUR_TRIALS[population]} {population} trials")
    return max(cap, 1), "; ".join(parts)


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
        if self.family == "mixture":
            z = _quantile_nodes("normal", math.inf, nodes)
            return float(sum(w * np.mean(f(m + s * z)) for w, m, s in self.components))
        x = self.mean + self.scale * _quantile_nodes(self.family, self.df, nodes)
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


@functools.lru_cache(maxsize=32)
def _quantile_nodes(family: str, df: float, nodes: int) -> np.ndarray:
    """The standard normal or t quantiles at the ``nodes`` midpoints of (0, 1), computed once
    (a closed-form assurance curve averages over the same nodes at every N)."""
    u = (np.arange(nodes) + 0.5) / nodes
    z = stats.norm.ppf(u) if family == "normal" else stats.t.ppf(u, df)
    z.setflags(write=False)
    return z


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
