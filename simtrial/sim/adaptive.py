"""Two-stage adaptive trials on the prefix-sum kernel's patients, vectorised over trials.

Each chunk draws every trial once at the largest final size (``n1 + max_stage2`` per control
arm) with the prefix kernel's streams (:func:`simtrial.sim.prefix.chunk_sums`: the same patients
``simtrial simulate`` exports), so a trial's first ``k`` patients of an arm are the same for
every ``k``. Stage 1 is the sums at ``n1``; the rule sets each trial's stage-2 size from its
stage-1 statistic; the trial's final sums are gathered at its own final size with one fancy
index into the cumulative sums, and stage 2 is the final sums minus the stage-1 sums (the
stage-2 patients alone: independent increments). No Python loop runs per trial.

Two conditions are analysed on the same patients: the scenario's effect and the null, the MSC
arm's change shifted by minus the true effect (exact on a linear-normal design: a location shift
of an arm moves its sums and nothing else; :func:`shift`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import functools

import numpy as np

from ..stats import adaptive as A
from ..stats import distributions as dist
from ..stats.gsd import boundaries
from ..stats.sums import IDX_X, IDX_XY, IDX_Y, IDX_YY, analyse_sums
from ..spec.adaptive import stage_sizes
from . import prefix

__all__ = ["Plan", "plan_for", "run_chunk", "shift", "CONDITIONS", "FIELDS"]

CONDITIONS = ("effect", "null")
FIELDS = ("n_final", "reject", "reject_inverse_normal", "reject_chw", "reject_unweighted",
          "futility", "efficacy", "increase", "decrease", "estimate", "cp_interim", "z1",
          "sd_interim")
"""Per-trial arrays of each condition (``<condition>_<field>`` in the chunk's output)."""


@dataclass(frozen=True)
class Plan:
    """Everything the chunk function needs, resolved once (picklable)."""

    n: int                  # planned control-arm size
    n1: int
    n2_planned: int
    min_stage2: int
    max_stage2: int
    msc: tuple[int, ...]    # MSC-arm size for each control size 0..n1 + max_stage2
    ratio: float
    sign: float             # +1 if higher values are better, -1 if lower
    alpha: float            # one-sided level of the final test
    rule: str
    zone: tuple[float, float]
    target: float
    at: str
    planned_effect: float   # natural units (at = "planned")
    planned_sd: float       # at = "planned": the SD used as known (NaN: the stage-1 estimate)
    test: str
    futility: str
    threshold: float
    binding: bool
    truth: float            # the scenario's true MD (natural units of the change)
    method: str             # ancova | ttest_change
    fraction: float         # adaptive.interim (the inverse-normal weights)
    efficacy: str           # none | obf | pocock (early efficacy stop)
    blinded: bool           # blinded_sd: the blinded re-estimation

    @property
    def df1(self) -> float:
        """Degrees of freedom of the stage-1 analysis."""
        return self.n1 + self.msc[self.n1] - (3.0 if self.method == "ancova" else 2.0)

    def weights(self, test: str) -> tuple[float, float]:
        """Stage weights: the pre-specified fraction (inverse normal) or the planned stage
        sizes (CHW; the unweighted test's CP uses them too)."""
        f = self.n1 / self.n if test != "inverse_normal" else self.fraction
        return A.weights(f)

    def bounds(self, test: str) -> tuple[float, float]:
        """``(early, final)`` z bounds: the interim efficacy bound (``inf`` without
        ``efficacy``) and the final critical value of the combined statistic."""
        if self.efficacy == "none":
            return math.inf, self.crit(test)
        return _spending_bounds(self.weights(test)[0] ** 2, self.alpha, self.efficacy)

    def crit(self, test: str) -> float:
        """Critical value of the combined statistic (lowered by a binding futility rule; the
        spending design's final bound with an early efficacy stop)."""
        w1, w2 = self.weights(test)
        if self.efficacy != "none":
            return self.bounds(test)[1]
        if self.binding and self.futility != "none":
            return A.binding_critical(self.alpha, self.threshold, self.futility, self.n1,
                                      self.n2_planned, w1, w2, self.df1)
        return float(dist.norm.isf(self.alpha))


@functools.lru_cache(maxsize=64)
def _spending_bounds(fraction: float, alpha: float, spending: str) -> tuple[float, float]:
    """Lan-DeMets one-sided bounds at fractions ``(fraction, 1)`` (simtrial.stats.gsd)."""
    b = boundaries([fraction, 1.0], alpha=alpha, sides=1, spending=spending)
    return float(b.z[0]), float(b.z[1])


def plan_for(dm, n: int) -> Plan:
    """The :class:`Plan` of design ``dm`` at planned control-arm size ``n``."""
    sc = dm.scenario
    cfg = sc.adaptive
    m = dm.models[0]
    n1, n2p, lo, hi = stage_sizes(cfg, n)
    msc = tuple(sc.design.n_msc(k) if k else 0 for k in range(n1 + hi + 1))
    sign = -1.0 if m.outcome_def.better == "lower" else 1.0
    thr = cfg.futility_cp if cfg.futility == "cp" else (cfg.futility_pp or 0.0)
    pe = cfg.planned_effect if cfg.planned_effect is not None else float(m.endpoint_md)
    if cfg.at == "planned" and (pe == 0.0 or sign * pe < 0):
        raise ValueError(f"adaptive.planned_effect = {pe:g} must be an effect in the direction "
                         f"of benefit ({'< 0' if sign < 0 else '> 0'}: "
                         f"{m.outcome_def.better} is better; the scenario effect is the default)")
    return Plan(n, n1, n2p, lo, hi, msc, float(sc.design.allocation_ratio), sign,
                float(sc.design.alpha) / sc.design.sides, cfg.rule, tuple(cfg.cp_zone),
                cfg.target(), cfg.at, float(pe),
                float(cfg.planned_sd) if cfg.planned_sd is not None else float("nan"), cfg.test, cfg.futility, float(thr),
                bool(cfg.binding), float(m.endpoint_md), sc.endpoint.analysis,
                float(cfg.interim), cfg.efficacy, bool(cfg.blinded_sd))


def shift(s: np.ndarray, n: np.ndarray, d: float) -> np.ndarray:
    """Sums ``(Sx, Sy, Sxx, Syy, Sxy)`` of ``n`` patients after adding ``d`` to every change
    ``y``: ``Sy + n d``, ``Syy + 2 d Sy + n d^2``, ``Sxy + d Sx``."""
    out = s.copy()
    out[..., IDX_Y] = s[..., IDX_Y] + n * d
    out[..., IDX_YY] = s[..., IDX_YY] + 2.0 * d * s[..., IDX_Y] + n * d * d
    out[..., IDX_XY] = s[..., IDX_XY] + d * s[..., IDX_X]
    return out


def _condition(p: Plan, s0: np.ndarray, s1: np.ndarray, d: float) -> dict[str, np.ndarray]:
    """Per-trial results of one condition (``d``: shift of the MSC arm's change)."""
    trials = s0.shape[1]
    idx = np.arange(trials)
    msc = np.asarray(p.msc)
    n1, m1 = p.n1, int(msc[p.n1])
    a0 = s0[n1 - 1]
    a1 = shift(s1[m1 - 1], float(m1), d)
    est1, se1, df1 = analyse_sums(a0, a1, n1, m1, p.method)
    t1 = p.sign * est1 / se1
    z1 = A.stage_z(t1, df1)
    r = m1 / n1
    w1, w2 = p.weights(p.test)
    crit = p.crit(p.test)
    sigma = se1 / np.sqrt(1.0 / n1 + 1.0 / m1)      # the SD the stage-1 SE implies
    if p.blinded:
        sigma = A.blinded_sd(a0 + a1, n1 + m1, p.method)
    elif not np.isnan(p.planned_sd):
        sigma = np.full(trials, p.planned_sd)
    if p.at == "observed":
        theta = A.observed_theta(t1, n1, r)
    else:
        theta = p.sign * p.planned_effect / sigma
    cp = A.conditional_power(z1, p.n2_planned, theta, w1, w2, crit, r)
    if p.futility == "cp":
        stop = cp < p.threshold
    elif p.futility == "pp":
        stop = A.predictive_power(z1, n1, p.n2_planned, w1, w2, crit, t1) < p.threshold
    else:
        stop = np.zeros(trials, dtype=bool)
    early = z1 >= p.bounds(p.test)[0]          # early efficacy stop (never without efficacy)
    stop = stop & ~early
    if p.rule == "none":
        n2 = np.full(trials, p.n2_planned, dtype=np.int64)
    elif p.blinded:
        n2 = A.blinded_n2(sigma, p.planned_effect, p.target, p.alpha, n1, p.min_stage2,
                          p.max_stage2, r)
    else:
        need = A.stage2_for_cp(z1, p.target, theta, w1, w2, crit, r)
        if p.rule == "promising_zone":
            n2 = A.promising_zone_n2(cp, need, p.n2_planned, p.max_stage2, p.zone)
        else:
            n2 = A.target_cp_n2(need, p.min_stage2, p.max_stage2)
    n2 = np.where(stop | early, 0, n2)
    nf = n1 + n2
    mf = msc[nf]
    f0 = s0[nf - 1, idx]
    f1 = shift(s1[mf - 1, idx], mf.astype(float), d)
    est, se, df = analyse_sums(f0, f1, nf, mf, p.method)
    go = ~(stop | early)
    # stage 2: the stage-2 patients alone (the sums at the final size minus those at n1); a
    # stopped trial has none, so its stage-2 numbers are computed on 2 dummy patients and unused
    g0 = np.where(go[:, None], f0 - a0, s0[1])
    g1 = np.where(go[:, None], f1 - a1, shift(s1[1], 2.0, d))
    c0 = np.where(go, nf - n1, 2)
    c1 = np.where(go, mf - m1, 2)
    est2, se2, df2 = analyse_sums(g0, g1, c0, c1, p.method)
    z2 = A.stage_z(p.sign * est2 / se2, df2)
    out = {"n_final": nf, "futility": stop, "efficacy": early,
           "increase": go & (n2 > p.n2_planned), "decrease": go & (n2 < p.n2_planned),
           "estimate": est, "cp_interim": cp, "z1": z1, "sd_interim": sigma}
    # every test on the same trials: the chosen test's interim decisions, each test's final
    # critical value (the naive test: the conventional one, or the spending design's nominal
    # final level with an early efficacy stop)
    for test in ("inverse_normal", "chw"):
        wa, wb = p.weights(test)
        out[f"reject_{test}"] = early | (go & (A.combine_inverse_normal(z1, z2, wa, wb)
                                               >= p.bounds(test)[1]))
    t_final = p.sign * est / se
    lvl = p.alpha if p.efficacy == "none" else float(dist.norm.sf(p.bounds("chw")[1]))
    out["reject_unweighted"] = early | (go & (t_final > dist.t.isf(lvl, df)))
    out["reject"] = out[f"reject_{p.test}"]
    return out


def run_chunk(dm, seed: int, chunk: int, n_trials: int, p: Plan) -> dict:
    """Per-trial arrays of both :data:`CONDITIONS` for chunk ``chunk``
    (``<condition>_<field>``, :data:`FIELDS`) and the candidates screened and accepted."""
    n_max = p.n1 + p.max_stage2
    s0, s1, scr, acc = prefix.chunk_sums(dm.models[0], seed, chunk, n_trials, n_max,
                                         p.msc[n_max])
    out: dict = {"screened": scr, "accepted": acc}
    for cond, d in (("effect", 0.0), ("null", -p.truth)):
        for k, v in _condition(p, s0, s1, d).items():
            out[f"{cond}_{k}"] = v
    return out
