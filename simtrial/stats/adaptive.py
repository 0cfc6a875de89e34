"""Two-stage adaptive designs: conditional and predictive power, stage-2 size rules and the
final combination test, vectorised over trials.

Conventions. Everything is on the *benefit* scale: a stage statistic ``z > 0`` favours MSC
(for an outcome where lower is better the sign of the t statistic is flipped before it gets
here). The final test is one-sided at level ``alpha`` with critical value ``crit`` on the scale
of the combined statistic ``Z = w1 z1 + w2 z2`` (``w1^2 + w2^2 = 1``). Stage sizes are per
control arm; the MSC arm has ``ratio`` times as many patients. ``theta_std`` is the standardised
effect ``theta / sigma`` of one patient (benefit scale). Stage 2 with ``n2`` control patients
has information ``n2 r / ((1 + r) sigma^2)``, so its z statistic has mean
``theta_std sqrt(n2 r / (1 + r))``.

Notes
-----
Conditional power of the combination test given the stage-1 statistic ``z1`` and a stage-2 size
``n2`` at standardised effect ``theta_std`` (Proschan & Hunsberger 1995; Mehta & Pocock 2011)::

    c2 = (crit - w1 z1) / w2                        # conditional critical value of z2
    CP = 1 - Phi(c2 - theta_std sqrt(n2 r / (1 + r)))

At the observed effect ``theta_std = t1 sqrt((1 + r) / (r n1))`` (the stage-1 estimate over its
SD: ``t1`` is the stage-1 t statistic; rpact uses the same with a known SD). Predictive power averages
CP over the flat-prior posterior of the effect given stage 1, ``N(theta_hat, var_1)``::

    PP = 1 - Phi((c2 - t1 sqrt(n2 / n1)) / sqrt(1 + n2 / n1))

The stage-2 size reaching a conditional power ``cp`` (rpact's
``.getSimulationMeansStageSubjects``, per control arm)::

    n2 = (1 + r) / r * max(0, c2 + Phi^-1(cp))^2 / max(theta_std, 1e-12)^2

The inverse-normal combination (Lehmacher & Wassmer 1999) combines the stage-wise one-sided
p-values with pre-specified weights; the stage-2 p-value is computed from stage-2 patients only,
so given stage 1 it is uniform under H0 whatever stage-2 size stage 1 chose, and the test has
level alpha exactly. The Cui-Hung-Wang (1999) statistic is the weighted z statistic with the
*planned* stage sizes as weights, i.e. the inverse-normal test with ``w1 = sqrt(n1 / n)``.
The unweighted test pools all patients with the conventional statistic; with a data-dependent
stage-2 size it does not keep its level in general (Cui, Hung & Wang 1999; Proschan &
Hunsberger 1995).
"""

from __future__ import annotations

import numpy as np

from . import distributions as dist
from .roots import brentq

__all__ = ["stage_z", "conditional_power", "observed_theta", "predictive_power",
           "stage2_for_cp", "promising_zone_n2", "target_cp_n2", "combine_inverse_normal",
           "weights", "futility_z_bound", "binding_critical", "blinded_sd", "blinded_n2"]


def stage_z(t: np.ndarray, df) -> np.ndarray:
    """The normal score ``Phi^-1(1 - p)`` of the one-sided p-value ``p = P(T_df >= t)`` of a
    benefit-scale t statistic (exact p-value conversion: uniform p gives a standard normal)."""
    return dist.norm.isf(dist.t.sf(t, df))


def weights(interim_fraction: float) -> tuple[float, float]:
    """Inverse-normal weights ``(sqrt(f), sqrt(1 - f))`` for stage-1 fraction ``f``."""
    return float(np.sqrt(interim_fraction)), float(np.sqrt(1.0 - interim_fraction))


def observed_theta(t1: np.ndarray, n1: float, ratio: float = 1.0) -> np.ndarray:
    """Standardised effect estimated at stage 1 from its t statistic:
    ``t1 sqrt((1 + r) / (r n1))``."""
    return np.asarray(t1) * np.sqrt((1.0 + ratio) / (ratio * n1))


def conditional_power(z1, n2, theta_std, w1: float, w2: float, crit: float,
                      ratio: float = 1.0) -> np.ndarray:
    """Conditional power of the combination test (see the module Notes).

    Parameters
    ----------
    z1 : array
        Stage-1 statistics (benefit scale).
    n2 : array or float
        Stage-2 control-arm sizes.
    theta_std : array or float
        Standardised effect (benefit scale) the power is computed at.
    w1, w2, crit : float
        Weights and critical value of the final test.

    Returns
    -------
    ndarray, broadcast shape of the inputs
    """
    c2 = (crit - w1 * np.asarray(z1)) / w2
    return dist.norm.sf(c2 - np.asarray(theta_std) * np.sqrt(np.asarray(n2) * ratio
                                                             / (1.0 + ratio)))


def predictive_power(z1, n1: float, n2, w1: float, w2: float, crit: float,
                     t1=None) -> np.ndarray:
    """Predictive power under a flat prior on the effect (see the module Notes); ``t1``, the
    stage-1 t statistic, gives the observed effect (default ``z1``: known variance)."""
    z1 = np.asarray(z1)
    t1 = z1 if t1 is None else np.asarray(t1)
    q = np.asarray(n2) / n1
    c2 = (crit - w1 * z1) / w2
    return dist.norm.sf((c2 - t1 * np.sqrt(q)) / np.sqrt(1.0 + q))


def stage2_for_cp(z1, cp: float, theta_std, w1: float, w2: float, crit: float,
                  ratio: float = 1.0) -> np.ndarray:
    """Stage-2 control-arm size (continuous) giving conditional power ``cp``; ``inf`` never
    occurs (a non-positive effect is floored at 1e-12, then capped by the caller)."""
    c2 = (crit - w1 * np.asarray(z1)) / w2
    th = np.maximum(np.asarray(theta_std, dtype=float), 1e-12)
    return (1.0 + ratio) / ratio * np.maximum(0.0, c2 + dist.norm.ppf(cp)) ** 2 / th ** 2


def _ceil(x: np.ndarray, hi: int) -> np.ndarray:
    """Round a size up to an integer, capped at ``hi`` first (no float overflow)."""
    return np.ceil(np.minimum(x, float(hi)) - 1e-9).astype(np.int64)


def promising_zone_n2(cp_planned: np.ndarray, n2_cp: np.ndarray, n2_planned: int,
                      max_stage2: int, zone: tuple[float, float]) -> np.ndarray:
    """Mehta-Pocock promising zone: where ``zone[0] <= CP < zone[1]`` (CP at the planned stage-2
    size), the size reaching the target CP (``n2_cp``), between the planned size and
    ``max_stage2``; elsewhere the planned size."""
    inc = (cp_planned >= zone[0]) & (cp_planned < zone[1])
    grown = np.clip(_ceil(n2_cp, max_stage2), n2_planned, max_stage2)
    return np.where(inc, grown, n2_planned)


def target_cp_n2(n2_cp: np.ndarray, min_stage2: int, max_stage2: int) -> np.ndarray:
    """The size reaching the target CP, rounded up and bounded by ``[min_stage2, max_stage2]``."""
    return np.clip(_ceil(n2_cp, max_stage2), min_stage2, max_stage2)


def combine_inverse_normal(z1, z2, w1: float, w2: float) -> np.ndarray:
    """``w1 z1 + w2 z2`` (reject H0 where it is at least the critical value)."""
    return w1 * np.asarray(z1) + w2 * np.asarray(z2)


def futility_z_bound(crit: float, threshold: float, kind: str, n1: float, n2: float,
                     w1: float, w2: float, df1: float | None = None) -> float:
    """The stage-1 statistic ``z1`` below which a futility rule stops: CP at the observed
    effect (``kind = "cp"``) or predictive power (``"pp"``) at the planned stage-2 size ``n2``
    is below ``threshold`` exactly when ``z1`` is below this bound (both increase with z1).
    With ``df1`` the observed effect is the stage-1 t statistic ``t1`` (``z1`` is its p-value's
    normal score, a monotone map), and the bound is found by root finding; without it
    ``t1 = z1`` and the bound is closed-form."""
    q = n2 / n1
    zf = float(dist.norm.isf(threshold))
    if df1 is None:
        if kind == "cp":
            return (crit / w2 - zf) / (w1 / w2 + np.sqrt(q))
        return (crit / w2 - zf * np.sqrt(1.0 + q)) / (w1 / w2 + np.sqrt(q))

    def value(z: float) -> float:
        t1 = float(dist.t.isf(dist.norm.sf(z), df1))
        if kind == "cp":
            return float(conditional_power(z, n2, observed_theta(t1, n1), w1, w2, crit)) - threshold
        return float(predictive_power(z, n1, n2, w1, w2, crit, t1)) - threshold
    lo, hi = -8.0, 8.0
    if value(lo) > 0:
        return -np.inf
    if value(hi) < 0:
        return np.inf
    return brentq(value, lo, hi)


_GL_X, _GL_W = np.polynomial.legendre.leggauss(200)


def _level(crit: float, b: float, w1: float, w2: float) -> float:
    """``P(Z1 >= b, w1 Z1 + w2 Z2 >= crit)`` for independent standard normals (quadrature
    over z1 on ``[b, 12]``)."""
    lo = max(b, -12.0)
    z = 0.5 * (12.0 - lo) * _GL_X + 0.5 * (12.0 + lo)
    f = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi) * dist.norm.sf((crit - w1 * z) / w2)
    return float(0.5 * (12.0 - lo) * np.dot(_GL_W, f))


def binding_critical(alpha: float, threshold: float, kind: str, n1: float, n2: float,
                     w1: float, w2: float, df1: float | None = None) -> float:
    """Critical value of the combined statistic when the futility rule is binding: the ``c``
    with ``P_H0(z1 >= b(c), Z >= c) = alpha``, where ``b(c)`` is :func:`futility_z_bound`
    (the bound moves with ``c``, so both are solved together). Lower than ``Phi^-1(1 -
    alpha)``: trials the rule stops can no longer reject."""
    top = float(dist.norm.isf(alpha))

    def gap(c: float) -> float:
        return _level(c, futility_z_bound(c, threshold, kind, n1, n2, w1, w2, df1), w1,
                      w2) - alpha
    if gap(top - 3.0) < 0:      # the rule stops (almost) everything: no valid lower value
        return top
    return brentq(gap, top - 3.0, top)


def blinded_sd(s: np.ndarray, n, method: str) -> np.ndarray:
    """Blinded ("lumped") SD from the pooled stage-1 sums ``(Sx, Sy, Sxx, Syy, Sxy)`` of both
    arms, ignoring the arm (Kieser & Friede 2003): for ``ancova`` the residual SD of the one-group
    regression of the change on the baseline (``n - 2`` df), for ``ttest_change`` the one-sample
    SD of the change. It includes the effect: with allocation r its square exceeds the residual
    variance by about ``theta^2 r / (1 + r)^2``."""
    n = np.asarray(n, dtype=float)
    sx, sy, sxx, syy, sxy = (s[..., i] for i in range(5))
    vyy = syy - sy * sy / n
    if method == "ttest_change":
        return np.sqrt(np.maximum(vyy, 0.0) / (n - 1.0))
    vxx = sxx - sx * sx / n
    vxy = sxy - sx * sy / n
    return np.sqrt(np.maximum(vyy - vxy * vxy / vxx, 0.0) / (n - 2.0))


def blinded_n2(sd, effect: float, power: float, alpha: float, n1: int, min_stage2: int,
               max_stage2: int, ratio: float = 1.0) -> np.ndarray:
    """Blinded sample-size re-estimation: the fixed-design control-arm size
    ``(1 + r) / r (z_{1-alpha} + z_power)^2 sd^2 / effect^2`` (rounded up) minus ``n1``, within
    ``[min_stage2, max_stage2]``."""
    z = float(dist.norm.isf(alpha) + dist.norm.ppf(power))
    need = (1.0 + ratio) / ratio * z * z * np.asarray(sd) ** 2 / (effect * effect)
    return np.clip(_ceil(need, n1 + max_stage2) - n1, min_stage2, max_stage2)
