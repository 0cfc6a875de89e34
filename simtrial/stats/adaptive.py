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

Treatment selection (Bauer & Kieser 1999; Posch et al. 2005; rpact's
``getSimulationMultiArmMeans``): K MSC arms against one control; at the interim the arms are
selected by a rule (:func:`select_arms`), only the selected arms and control get stage-2
patients, and each elementary hypothesis ``H_k`` is tested by closed testing over the
intersection hypotheses ``H_J``, ``J`` a non-empty subset of the arms (:func:`closed_test`).
``H_J`` is rejected when the inverse-normal combination of its stage-1 p-value (an intersection
test over ``J``: Dunnett, Bonferroni or Simes) and its stage-2 p-value (the same test over ``J``
intersected with the selected arms, on stage-2 patients only) reaches the critical value; an
``H_J`` none of whose arms is selected cannot be rejected. ``H_k`` is rejected when every
``H_J`` with ``k`` in ``J`` is. Each stage's p-values are independent of the other stage's
patients, so the family-wise error is at most alpha whatever the selection rule (strong control).
The Dunnett intersection p-value of ``J`` with stage t statistics ``t_k`` on ``df`` degrees of
freedom is ``1 - P(max_{k in J} T_k < max_{k in J} t_k)`` for ``T`` multivariate t (one pooled
variance estimate shared by the arms) with the many-to-one correlation ``lam_i lam_j``,
``lam_k = sqrt(n_k / (n_k + n_0))`` of the stage's analysed sizes (Dunnett 1955: the one-factor
integral over the shared control and the chi-square, by quadrature); exact for a stage's
t tests, where rpact uses z tests with a known SD. Bonferroni and Simes use the stage-wise
p-values ``P(T_df >= t_k)``.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from scipy import special

from . import distributions as dist
from .roots import brentq

__all__ = ["stage_z", "conditional_power", "observed_theta", "predictive_power",
           "stage2_for_cp", "promising_zone_n2", "target_cp_n2", "combine_inverse_normal",
           "weights", "futility_z_bound", "binding_critical", "blinded_sd", "blinded_n2",
           "select_arms", "SELECTIONS", "INTERSECTIONS", "intersections", "intersection_p",
           "dunnett_p", "closed_test"]


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


SELECTIONS = ("best", "r_best", "epsilon", "all")
INTERSECTIONS = ("dunnett", "bonferroni", "simes")


def select_arms(effect: np.ndarray, how: str, r: int = 1, epsilon: float = 0.0,
                threshold: float = -math.inf) -> np.ndarray:
    """Arms kept at the interim, (trials, K) bool, from each arm's benefit-scale effect measure
    (the stage-1 estimate or statistic; larger is better), as rpact's ``.selectTreatmentArms``:
    ``best`` the largest, ``r_best`` the ``r`` largest, ``epsilon`` every arm within ``epsilon``
    of the largest, ``all`` every arm; then every arm at or below ``threshold`` is dropped (no arm
    left: the trial stops for futility). Ties go to the lower arm index (``best``, ``r_best``)."""
    e = np.asarray(effect, dtype=float)
    trials, k = e.shape
    if how == "all":
        keep = np.ones(e.shape, dtype=bool)
    elif how == "epsilon":
        keep = e.max(axis=1, keepdims=True) - e <= epsilon
    elif how in ("best", "r_best"):
        rr = 1 if how == "best" else int(r)
        order = np.argsort(-e, axis=1, kind="stable")[:, :rr]
        keep = np.zeros(e.shape, dtype=bool)
        np.put_along_axis(keep, order, True, axis=1)
    else:
        raise ValueError(f"selection = {how!r} must be one of {SELECTIONS}")
    return keep & (e > threshold)


def intersections(k: int) -> np.ndarray:
    """Every non-empty subset of ``k`` arms as rows of a (2^k - 1, k) bool matrix, the global
    intersection first (rpact's order of ``indices``)."""
    rows = [c for c in itertools.product((True, False), repeat=k) if any(c)]
    return np.array(rows, dtype=bool)


P_NODES = (40, 16)
"""Gauss-Hermite nodes over the common factor and over the chi-square's normal quantile (the
chi-square of :func:`dunnett_p` at ``df`` is ``chi2.ppf(Phi(z), df)``, a smooth function of
a standard normal ``z``, so Gauss-Hermite converges fast at every df and never overflows, as
generalised Gauss-Laguerre does beyond df ~ 300): p-values to 1e-12 at df >= 15 and 1e-8 at
df = 8 against 80 x 60 generalised Gauss-Laguerre nodes."""


@functools.lru_cache(maxsize=4096)
def _p_nodes(df: float) -> tuple[np.ndarray, ...]:
    """``(z, wz, s, ws)`` of :func:`dunnett_p` at ``df`` (inf: one node ``S = 1``)."""
    z, wz = special.roots_hermitenorm(P_NODES[0])
    wz = wz / math.sqrt(2.0 * math.pi)
    if math.isinf(df):
        return z, wz, np.ones(1), np.ones(1)
    u, wu = special.roots_hermitenorm(P_NODES[1])
    s = np.sqrt(dist.chi2.ppf(special.ndtr(u), df) / df)
    return z, wz, s, wu / wu.sum()


def dunnett_p(t: np.ndarray, lam: np.ndarray, active: np.ndarray, df=None) -> np.ndarray:
    """One-sided Dunnett p-value of the intersection of the ``active`` arms, per trial:
    ``1 - P(max_{active} T_k < m)``, ``m`` the largest active statistic, for ``T_k = Z_k / S``
    with ``Z_k = lam_k U + sqrt(1 - lam_k^2) E_k`` (the many-to-one correlation
    ``lam_i lam_j``) and ``S = sqrt(chi2_df / df)`` shared by the arms (one pooled variance
    estimate; ``df`` None or inf: z statistics; a df is rounded to 0.01), by one-factor
    quadrature (Dunnett 1955; :data:`P_NODES`). ``t``, ``lam``, ``active``: (trials, K),
    ``df``: (trials,); a trial with no active arm gets NaN."""
    t = np.asarray(t, dtype=float)
    act = np.asarray(active, dtype=bool)
    trials = t.shape[0]
    m = np.where(act, t, -np.inf).max(axis=1)
    lam = np.clip(np.broadcast_to(np.asarray(lam, dtype=float), t.shape), 0.0, 1.0 - 1e-12)
    rt = np.sqrt(1.0 - lam * lam)
    dfs = (np.full(trials, np.inf) if df is None
           else np.broadcast_to(np.asarray(df, dtype=float), (trials,)))
    key = np.where(np.isfinite(dfs) & (dfs > 0), np.round(dfs, 2), np.inf)
    p = np.full(trials, np.nan)
    ok = act.any(axis=1) & np.isfinite(m)
    for d in np.unique(key[ok]):
        rows = np.flatnonzero(ok & (key == d))
        z, wz, s, ws = _p_nodes(float(d))
        for blk in np.array_split(rows, max(1, rows.size // 256)):
            # (trials, S nodes, Z nodes): prod over active arms of Phi((m S - lam u) / r)
            ms = m[blk, None, None] * s[None, :, None]
            f = np.ones((blk.size, s.size, z.size))
            for k in range(t.shape[1]):
                a = act[blk, k]
                arg = (ms - lam[blk, k, None, None] * z[None, None, :]) / rt[blk, k, None, None]
                f *= np.where(a[:, None, None], special.ndtr(arg), 1.0)
            p[blk] = 1.0 - np.einsum("tsz,s,z->t", f, ws, wz)
    return np.clip(p, 0.0, 1.0)


def intersection_p(t: np.ndarray, active: np.ndarray, method: str,
                   lam: np.ndarray | None = None, df=None) -> np.ndarray:
    """Stage-wise p-value of the intersection hypothesis of the ``active`` arms, (trials,):
    Dunnett (:func:`dunnett_p`, needs ``lam``), Bonferroni ``min(1, |J| min p_k)`` or Simes
    ``min_i |J| p_(i) / i`` over the one-sided p-values ``p_k = P(T_df >= t_k)`` (normal for
    ``df`` None or inf); NaN where no arm is active."""
    act = np.asarray(active, dtype=bool)
    if method == "dunnett":
        return dunnett_p(t, lam, act, df)
    t = np.asarray(t, dtype=float)
    if df is None:
        pk = special.ndtr(-t)
    else:
        d = np.asarray(df, dtype=float)[:, None]
        pk = np.where(np.isfinite(d), dist.t.sf(t, np.where(np.isfinite(d), d, 1.0)),
                      special.ndtr(-t))
    p = np.where(act, pk, np.inf)
    j = act.sum(axis=1)
    with np.errstate(invalid="ignore"):
        if method == "bonferroni":
            out = np.minimum(1.0, j * p.min(axis=1))
        elif method == "simes":
            ps = np.sort(p, axis=1)
            i = np.arange(1, p.shape[1] + 1)
            out = np.minimum(1.0, np.min(j[:, None] * ps / i, axis=1))
        else:
            raise ValueError(f"intersection = {method!r} must be one of {INTERSECTIONS}")
    return np.where(j > 0, out, np.nan)


def _score(p: np.ndarray) -> np.ndarray:
    """``Phi^-1(1 - p)`` with p kept inside (0, 1) (an extreme p gives a large finite score)."""
    return dist.norm.isf(np.clip(p, 1e-300, 1.0 - 1e-16))


def closed_test(t1: np.ndarray, t2: np.ndarray, selected: np.ndarray, method: str,
                w1: float, w2: float, crit: float, lam1: np.ndarray | None = None,
                lam2: np.ndarray | None = None, df1=None, df2=None) -> np.ndarray:
    """Closed combination test of every elementary hypothesis (see the module Notes).

    Parameters
    ----------
    t1, t2 : (trials, K)
        Stage-wise t statistics (benefit scale; ``t2`` is ignored where an arm is not selected).
    selected : (trials, K) bool
        Arms continued into stage 2 (no arm: the trial stopped; nothing is rejected).
    method : str
        Intersection test (:data:`INTERSECTIONS`).
    w1, w2, crit : float
        Inverse-normal weights and the critical value of the combined statistic.
    lam1, lam2 : (trials, K)
        Dunnett correlation factors of each stage.
    df1, df2 : (trials,) or None
        Degrees of freedom of each stage's pooled variance (None: z statistics).

    Returns
    -------
    (trials, K) bool
        ``H_k`` rejected.
    """
    sel = np.asarray(selected, dtype=bool)
    trials, k = sel.shape
    reject = np.ones((trials, k), dtype=bool)
    for row in intersections(k):
        j = np.broadcast_to(row, (trials, k))
        p1 = intersection_p(t1, j, method, lam1, df1)
        j2 = j & sel
        p2 = intersection_p(t2, j2, method, lam2, df2)
        ok = j2.any(axis=1)
        comb = w1 * _score(p1) + w2 * _score(np.where(ok, p2, 0.5))
        rej = ok & (comb >= crit)
        reject &= np.where(row[None, :], rej[:, None], True)
    return reject & sel
