"""Two-stage adaptive trials on simulated patients, vectorised over trials.

Two paths give the same numbers wherever both apply (a test compares them):

* **prefix** (linear-normal two-arm designs, :func:`run_chunk`): each chunk draws every trial
  once at the largest final size (``n1 + max_stage2`` per control arm) with the prefix kernel's
  streams (:func:`simtrial.sim.prefix.chunk_sums`: the same patients ``simtrial simulate``
  exports), so a trial's first ``k`` patients of an arm are the same for every ``k``. Stage 1 is
  the sums at ``n1``; the rule sets each trial's stage-2 size from its stage-1 statistic; the
  trial's final sums are gathered at its own final size with one fancy index into the
  cumulative sums, and stage 2 is the final sums minus the stage-1 sums (the stage-2 patients
  alone: independent increments). The null is the MSC arm's change shifted by minus the true
  effect (exact on a linear-normal design: a location shift of an arm moves its sums and nothing
  else; :func:`shift`).
* **patients** (every other design: dropout, MMRM, strata, several MSC arms with treatment
  selection; :func:`run_chunk_patients`): the full kernel's patients
  (:func:`simtrial.sim.full.draw_conditions`, the same streams, so the same patients as a run
  of the design at the largest size), drawn once per condition (the null: every effect scaled
  by 0 on the same patients, dropout re-evaluated on their values). Patient ``i`` of a group is
  the ``i``-th enrolled; stage 1 is the first ``group_sizes(n1)`` patients of each group, a
  trial's final set the first ``group_sizes(N_final)``, and each analysis (complete-case ANCOVA
  or t-test, MMRM) is the full kernel's on a per-trial patient mask. Enrolled patients who drop
  out stay in their stage: the interim comes when ``n1`` per arm are due at the endpoint visit,
  with whatever data they have. Several MSC arms: only the selected arms and control get stage-2
  patients (the stage-2 model has those arms only), and the arms are tested by closed testing
  (:func:`simtrial.stats.adaptive.closed_test`).
* **patients with [conduct]** (the patients path on a calendar; ``conduct`` in
  :func:`run_chunk_patients`): trial ``i`` takes the calendar of conduct replicate ``i mod R``
  simulated at the largest final size (:func:`simtrial.sim.conduct.link_chunk`: the engine's
  patient ``i`` of a group is the group's ``i``-th randomised, with its visit days; conduct
  withdrawal removes the later visits, as in the fixed design). The **interim day** is the day
  the ``M``-th patient's endpoint visit (the selection visit with ``select_visit_months``) is
  done, ``M = sum(group_sizes(n1))`` (the planned stage-1 patients over all arms; a visit lost to
  conduct withdrawal does not count, one lost to ``[dropout]`` does, as in the patients path:
  the patient is due, with whatever data). **Stage 1** is every patient whose endpoint
  (selection) visit is done by that day (its arm mix is the randomisation list's, not exactly
  ``n1`` per arm), analysed with the visits done by then. Patients randomised by then without
  that visit (the **pipeline**, overrunning patients) belong to **stage 2**, with every
  patient recruited after the interim. A trial that continues recruits, in randomisation
  order, the first ``group_sizes(N_final)`` patients of each group (arms dropped by selection:
  none after the interim) and keeps everyone randomised before the interim; a trial that stops
  at the interim has those randomised by then, and its naive estimate is the stage-1
  statistic's. The final analysis is at the last visit done by a recruited patient; the
  trial's duration is that day, or the interim day for a trial that stops there.

  *Stage-1 p-value.* The combination test's stage-1 statistic is the interim analysis itself:
  every stage-1 patient has the endpoint visit done by the interim day, so this is the stage-1
  patients' data at their endpoint visit (their later visits, if any, are used by no test), and
  the conditional power is computed for the statistic that is combined. With an earlier
  selection visit, selection uses the interim's data at that visit and the stage-1 statistic
  is the stage-1 patients at the endpoint visit, as in the patients path. *Why the level
  holds:* who is in which stage depends only on the conduct calendar (drawn from its own
  streams, independent of the outcomes) and on the interim decision; stage 1 and stage 2 are
  disjoint sets of patients, so under the null the stage-1 p-value is uniform and the stage-2
  p-value is uniform given everything seen at the interim: the pipeline patients' early visits
  may be done by then but the interim analyses stage-1 patients only. Approximation: the
  calendar is the conduct at the largest size, so a trial that ends smaller keeps the calendar
  its first patients had with every patient competing for cells, chairs and beds.

No Python loop runs per trial (the patients path loops over the at most ``2^K - 1`` selection
patterns).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .._rng import CHUNK_TRIALS, imputation_code
from ..model.design import group_sizes
from ..stats import adaptive as A
from ..stats import distributions as dist
from ..stats.gsd import boundaries
from ..stats.sums import IDX_X, IDX_XY, IDX_Y, IDX_YY, analyse_sums
from ..spec.adaptive import stage_sizes
from . import full, prefix
from .conduct import ChunkLink, link_chunk

__all__ = ["Plan", "plan_for", "run_chunk", "run_chunk_patients", "shift", "CONDITIONS",
           "FIELDS", "ARM_FIELDS", "CALENDAR_FIELDS", "patients_reason"]

CONDITIONS = ("effect", "null")
FIELDS = ("n_final", "reject", "reject_inverse_normal", "reject_chw", "reject_unweighted",
          "futility", "efficacy", "increase", "decrease", "estimate", "cp_interim", "z1",
          "sd_interim", "n_total")
"""Per-trial arrays of each condition (``<condition>_<field>`` in the chunk's output); with
treatment selection also :data:`ARM_FIELDS`, shaped (trials, K)."""
ARM_FIELDS = ("selected", "reject_arm", "estimate_arm")
CALENDAR_FIELDS = ("interim_day", "duration_day", "pipeline")
"""With ``[conduct]``, per trial (days from day 0): the interim day, the day of the analysis
the trial ends with, and the pipeline patients at the interim (randomised, not in stage 1)."""


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
    kernel: str = "prefix"  # prefix | patients (the path, module docstring)
    truths: tuple[float, ...] = ()      # each MSC arm's true MD (natural units)
    selection: str | None = None        # treatment selection (several MSC arms)
    select_by: str = "estimate"
    select_r: int = 1
    epsilon: float = 0.0
    select_threshold: float = -math.inf
    intersection: str = "dunnett"
    select_visit: int = -1              # index of the selection visit (-1: the endpoint's)

    @property
    def arms(self) -> int:
        """MSC arms."""
        return max(1, len(self.truths))

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


def patients_reason(dm) -> str | None:
    """Why the patients path cannot simulate ``dm`` (None if it can)."""
    sc = dm.scenario
    e = sc.endpoint
    if e.type != "continuous":
        return f"endpoint.type = \"{e.type}\" (a continuous endpoint is needed)"
    if e.analysis not in ("ancova", "ttest_change", "mmrm"):
        return f"endpoint.analysis = \"{e.analysis}\" (ancova, ttest_change or mmrm)"
    if e.scale != "natural":
        return f"endpoint.scale = \"{e.scale}\" (the natural scale)"
    if e.hypothesis != "superiority" or e.margin != 0.0:
        return "a margin or non-inferiority hypothesis (superiority with no margin)"
    if sc.adaptive.blinded_sd:
        return "adaptive.blinded_sd = true (blinded re-estimation needs the two-arm " \
               "linear-normal design)"
    return None


def plan_for(dm, n: int, kernel: str = "prefix") -> Plan:
    """The :class:`Plan` of design ``dm`` at planned control-arm size ``n`` on path
    ``kernel``."""
    sc = dm.scenario
    cfg = sc.adaptive
    m = dm.models[0]
    n1, n2p, lo, hi = stage_sizes(cfg, n)
    msc = tuple(sc.design.n_msc(k) if k else 0 for k in range(n1 + hi + 1))
    sign = -1.0 if m.outcome_def.better == "lower" else 1.0
    thr = cfg.futility_cp if cfg.futility == "cp" else (cfg.futility_pp or 0.0)
    # the true MD: the strata's, weighted by their fractions (one stratum: its MD)
    md = float(sum(f * float(x.endpoint_md) for f, x in zip(dm.fractions, dm.models)))
    pe = cfg.planned_effect if cfg.planned_effect is not None else md
    if cfg.at == "planned" and (pe == 0.0 or sign * pe < 0):
        raise ValueError(f"adaptive.planned_effect = {pe:g} must be an effect in the direction "
                         f"of benefit ({'< 0' if sign < 0 else '> 0'}: "
                         f"{m.outcome_def.better} is better; the scenario effect is the default)")
    if kernel == "patients":
        sizes = np.stack([group_sizes(dm, k) for k in range(n1 + hi + 1)])
        if np.any(np.diff(sizes, axis=0) < 0):
            raise ValueError("population.strata fractions split a larger arm into a smaller "
                             "stratum group (largest-remainder rounding); choose other "
                             "fractions or sizes")
        if np.any(sizes[n1] < 1) or np.any(sizes[n1].sum(axis=0) < 2):
            raise ValueError(f"stage 1 (n1 = {n1} per control arm) needs >= 2 patients in "
                             "every arm and >= 1 in every stratum (e.g. a larger interim)")
    truths = tuple(float(a.effect_scale) * md for a in dm.arms)
    return Plan(n, n1, n2p, lo, hi, msc, float(sc.design.allocation_ratio), sign,
                float(sc.design.alpha) / sc.design.sides, cfg.rule, tuple(cfg.cp_zone),
                cfg.target(), cfg.at, float(pe),
                float(cfg.planned_sd) if cfg.planned_sd is not None else float("nan"),
                cfg.test, cfg.futility, float(thr), bool(cfg.binding), md,
                sc.endpoint.analysis, float(cfg.interim), cfg.efficacy, bool(cfg.blinded_sd),
                kernel, truths, cfg.selection, cfg.select_by,
                int(cfg.select_r or 1), float(cfg.epsilon or 0.0),
                -math.inf if cfg.select_threshold is None else float(cfg.select_threshold),
                cfg.intersection, -1 if cfg.select_visit_months is None
                else dm.visits.index(cfg.select_visit_months))


def shift(s: np.ndarray, n: np.ndarray, d: float) -> np.ndarray:
    """Sums ``(Sx, Sy, Sxx, Syy, Sxy)`` of ``n`` patients after adding ``d`` to every change
    ``y``: ``Sy + n d``, ``Syy + 2 d Sy + n d^2``, ``Sxy + d Sx``."""
    out = s.copy()
    out[..., IDX_Y] = s[..., IDX_Y] + n * d
    out[..., IDX_YY] = s[..., IDX_YY] + 2.0 * d * s[..., IDX_Y] + n * d * d
    out[..., IDX_XY] = s[..., IDX_XY] + d * s[..., IDX_X]
    return out


# ---------------------------------------------------------------------------------------------
# the decisions at the interim and the final tests: one implementation for both paths
# ---------------------------------------------------------------------------------------------

def _oriented(p: Plan, est, se, df) -> tuple[np.ndarray, np.ndarray]:
    """Benefit-scale t and its normal score; an analysis that did not fit (NaN) counts as
    t = 0, as in the fixed design's tests."""
    with np.errstate(invalid="ignore", divide="ignore"):
        t = p.sign * np.asarray(est) / np.asarray(se)
    t = np.where(np.isfinite(t), t, 0.0)
    return t, A.stage_z(t, np.where(np.isfinite(df), df, 1e9))


def _interim(p: Plan, est1, se1, df1, c0, c1, blinded_sd=None, e0=None
             ) -> dict[str, np.ndarray]:
    """Stage-2 sizes and stops of a one-MSC-arm design from its stage-1 analysis (``est1``,
    ``se1``, ``df1``: (trials,)) on ``c0`` control and ``c1`` MSC patients with the endpoint
    (the stage's enrolled patients without dropout). The conditional power counts stage-2
    information at the stage-1 completion rate ``c0 / e0`` (1 without dropout), ``e0`` the
    stage-1 control patients (``n1``; with [conduct] those the interim has, (trials,))."""
    trials = est1.shape[0]
    t1, z1 = _oriented(p, est1, se1, df1)
    keep = c0 / (p.n1 if e0 is None else np.maximum(e0, 1.0))   # no control patient: t = 0
    r = c1 / c0
    w1, w2 = p.weights(p.test)
    crit = p.crit(p.test)
    sigma = se1 / np.sqrt(1.0 / c0 + 1.0 / c1)      # the SD the stage-1 SE implies
    if p.blinded:
        sigma = blinded_sd
    elif not np.isnan(p.planned_sd):
        sigma = np.full(trials, p.planned_sd)
    if p.at == "observed":
        theta = A.observed_theta(t1, c0, r)
    else:
        theta = p.sign * p.planned_effect / sigma
    cp = A.conditional_power(z1, p.n2_planned * keep, theta, w1, w2, crit, r)
    if p.futility == "cp":
        stop = cp < p.threshold
    elif p.futility == "pp":
        stop = A.predictive_power(z1, c0, p.n2_planned * keep, w1, w2, crit, t1) < p.threshold
    else:
        stop = np.zeros(trials, dtype=bool)
    early = z1 >= p.bounds(p.test)[0]          # early efficacy stop (never without efficacy)
    stop = stop & ~early
    if p.rule == "none":
        n2 = np.full(trials, p.n2_planned, dtype=np.int64)
    elif p.blinded:
        n2 = A.blinded_n2(sigma, p.planned_effect, p.target, p.alpha, p.n1, p.min_stage2,
                          p.max_stage2, r)
    else:
        need = A.stage2_for_cp(z1, p.target, theta, w1, w2, crit, r) / keep
        if p.rule == "promising_zone":
            n2 = A.promising_zone_n2(cp, need, p.n2_planned, p.max_stage2, p.zone)
        else:
            n2 = A.target_cp_n2(need, p.min_stage2, p.max_stage2)
    n2 = np.where(stop | early, 0, n2)
    return {"z1": z1, "cp_interim": cp, "futility": stop, "efficacy": early, "n2": n2,
            "sd_interim": sigma}


def _final(p: Plan, it: dict, est, se, df, est2, se2, df2) -> dict[str, np.ndarray]:
    """Every test's decision from the interim (``it``), the naive final analysis (``est``,
    ``se``, ``df``: every patient of the trial) and the stage-2 analysis (stage-2 patients
    alone; unused where the trial stopped)."""
    n2, stop, early = it["n2"], it["futility"], it["efficacy"]
    go = ~(stop | early)
    z1 = it["z1"]
    _, z2 = _oriented(p, est2, se2, df2)
    out = {"n_final": p.n1 + n2, "futility": stop, "efficacy": early,
           "increase": go & (n2 > p.n2_planned), "decrease": go & (n2 < p.n2_planned),
           "estimate": est, "cp_interim": it["cp_interim"], "z1": z1,
           "sd_interim": it["sd_interim"]}
    # every test on the same trials: the chosen test's interim decisions, each test's final
    # critical value (the naive test: the conventional one, or the spending design's nominal
    # final level with an early efficacy stop)
    for test in ("inverse_normal", "chw"):
        wa, wb = p.weights(test)
        out[f"reject_{test}"] = early | (go & (A.combine_inverse_normal(z1, z2, wa, wb)
                                               >= p.bounds(test)[1]))
    t_final, _ = _oriented(p, est, se, df)
    lvl = p.alpha if p.efficacy == "none" else float(dist.norm.sf(p.bounds("chw")[1]))
    out["reject_unweighted"] = early | (go & (t_final > dist.t.isf(lvl, df)))
    out["reject"] = out[f"reject_{p.test}"]
    return out


# ---------------------------------------------------------------------------------------------
# the prefix path
# ---------------------------------------------------------------------------------------------

def _condition(p: Plan, s0: np.ndarray, s1: np.ndarray, d: float) -> dict[str, np.ndarray]:
    """Per-trial results of one condition on the prefix sums (``d``: shift of the MSC arm's
    change)."""
    trials = s0.shape[1]
    idx = np.arange(trials)
    msc = np.asarray(p.msc)
    n1, m1 = p.n1, int(msc[p.n1])
    a0 = s0[n1 - 1]
    a1 = shift(s1[m1 - 1], float(m1), d)
    est1, se1, df1 = analyse_sums(a0, a1, n1, m1, p.method)
    bl = A.blinded_sd(a0 + a1, n1 + m1, p.method) if p.blinded else None
    it = _interim(p, est1, se1, df1, np.full(trials, float(n1)), np.full(trials, float(m1)),
                  bl)
    nf = n1 + it["n2"]
    mf = msc[nf]
    f0 = s0[nf - 1, idx]
    f1 = shift(s1[mf - 1, idx], mf.astype(float), d)
    est, se, df = analyse_sums(f0, f1, nf, mf, p.method)
    go = ~(it["futility"] | it["efficacy"])
    # stage 2: the stage-2 patients alone (the sums at the final size minus those at n1); a
    # stopped trial has none, so its stage-2 numbers are computed on 2 dummy patients and unused
    g0 = np.where(go[:, None], f0 - a0, s0[1])
    g1 = np.where(go[:, None], f1 - a1, shift(s1[1], 2.0, d))
    c0 = np.where(go, nf - n1, 2)
    c1 = np.where(go, mf - m1, 2)
    est2, se2, df2 = analyse_sums(g0, g1, c0, c1, p.method)
    out = _final(p, it, est, se, df, est2, se2, df2)
    out["n_total"] = nf + mf
    return out


def run_chunk(dm, seed: int, chunk: int, n_trials: int, p: Plan, conduct=None) -> dict:
    """Per-trial arrays of both :data:`CONDITIONS` for chunk ``chunk``
    (``<condition>_<field>``, :data:`FIELDS`; with ``conduct`` also :data:`CALENDAR_FIELDS`)
    and the candidates screened and accepted."""
    if p.kernel == "patients":
        return run_chunk_patients(dm, seed, chunk, n_trials, p, conduct)
    if conduct is not None:
        raise ValueError("[conduct] needs the patients path (the prefix path has no calendar)")
    n_max = p.n1 + p.max_stage2
    s0, s1, scr, acc = prefix.chunk_sums(dm.models[0], seed, chunk, n_trials, n_max,
                                         p.msc[n_max])
    out: dict = {"screened": scr, "accepted": acc}
    for cond, d in (("effect", 0.0), ("null", -p.truth)):
        for k, v in _condition(p, s0, s1, d).items():
            out[f"{cond}_{k}"] = v
    return out


# ---------------------------------------------------------------------------------------------
# the patients path
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Layout:
    """Where each patient sits: group index, rank in its group (enrolment order), arm, and
    the group sizes at every control-arm size 0..n_max (rows)."""

    group: np.ndarray       # (P,)
    rank: np.ndarray        # (P,)
    arm: np.ndarray         # (P,) 0 = control, 1..K
    sizes: np.ndarray       # (n_max + 1, G)

    def first(self, n) -> np.ndarray:
        """Mask of the first ``group_sizes(n)`` patients of each group: (P,) for a scalar
        ``n``, (trials, P) for per-trial sizes."""
        return self.rank < self.sizes[n][..., self.group]


def _layout(dm, data: full.PatientData, n_max: int) -> _Layout:
    g = np.repeat(np.arange(data.sizes.size), data.sizes)
    rank = np.arange(g.size) - data.group_start[g]
    sizes = np.stack([group_sizes(dm, k).ravel() for k in range(n_max + 1)])
    return _Layout(g, rank, data.arm, sizes)


@dataclass(frozen=True)
class _Calendar:
    """A chunk's conduct calendar around the interim (module docstring): per trial the interim
    day, the stage-1 patients and the patients randomised by then."""

    link: ChunkLink
    day: np.ndarray          # (trials,) days from day 0
    stage1: np.ndarray       # (trials, P) endpoint (selection) visit done by the interim day
    randomised: np.ndarray   # (trials, P) randomised by the interim day

    def done(self, day: np.ndarray | None = None) -> np.ndarray:
        """Visits whose day has come by ``day`` (trials,) (default the interim), (trials, P,
        V)."""
        day = self.day if day is None else day
        return self.link.visit_day[:day.shape[0]] <= day[:, None, None]

    def final(self, data: full.PatientData, lay: _Layout, stage1: np.ndarray, go: np.ndarray,
              quota: np.ndarray, early: bool) -> tuple[np.ndarray, ...]:
        """``(recruited, analysed, done, day)``: the trial's patients (randomised by the
        interim, or among the first ``quota`` (trials, G) of their group: 0 where recruitment
        stops at the interim), the patients and visits of the naive final analysis and the
        day the trial ends (trials,): its final analysis, or for a trial that stops (``~go``)
        the interim, whose naive estimate is the stage-1 statistic's (``early``: selection
        before the endpoint visit: the stage-1 patients at the endpoint visit)."""
        trials = go.shape[0]
        rec = self.randomised | (lay.rank < quota[:, lay.group])
        last = self.link.outcomes(data.obs[:trials] & rec[:, :, None], trials)
        day = np.where(go, last["conduct_duration"], self.day)
        cut = np.where(go, day, np.inf if early else self.day)
        return rec, np.where(go[:, None], rec, stage1), self.done(cut), day

    def fields(self, day: np.ndarray) -> dict[str, np.ndarray]:
        """:data:`CALENDAR_FIELDS` given the day each trial ends."""
        return {"interim_day": self.day, "duration_day": day,
                "pipeline": (self.randomised & ~self.stage1).sum(axis=1)}


def _calendar(link: ChunkLink, m: int, visit: int, trials: int) -> _Calendar:
    """The interim of each trial: the day the ``m``-th patient's visit ``visit`` is done
    (visits lost to conduct withdrawal do not count; if fewer than ``m`` are ever done, the
    last that is)."""
    rand = link.rand_day[:trials]
    ep = np.where(link.observed[:trials, :, visit], link.visit_day[:trials, :, visit], np.inf)
    srt = np.sort(ep, axis=1)
    day = srt[:, min(m, ep.shape[1]) - 1]
    last = np.where(np.isfinite(srt), srt, -np.inf).max(axis=1)
    day = np.where(np.isfinite(day), day, np.where(np.isfinite(last), last, rand.max(axis=1)))
    return _Calendar(link, day, ep <= day[:, None], rand <= day[:, None])


def _counts(data: full.PatientData, mask: np.ndarray, k_end: int, arms: int, trials: int
            ) -> np.ndarray:
    """Patients with the endpoint observed among ``mask`` per arm, (trials, arms + 1)."""
    ok = data.obs[:trials, :, k_end] & mask
    return np.stack([ok[:, data.arm == a].sum(axis=1) for a in range(arms + 1)], axis=1
                    ).astype(float)


def _due(mask: np.ndarray, trials: int, visits: int) -> np.ndarray:
    m = np.broadcast_to(mask, (trials, mask.shape[-1]))
    return np.broadcast_to(m[:, :, None], (trials, m.shape[1], visits))


def _analyse(dm, data, trials, mask, arms, code, visit: int = -1, done=None
             ) -> tuple[np.ndarray, ...]:
    """est, se, df of the patients ``mask`` marks; at visit index ``visit`` (>= 0) on the
    visits up to it only (what an interim at that visit has); ``done`` (trials, P, V): only the
    visits done by the analysis day ([conduct])."""
    if visit >= 0:
        data = data.up_to(visit)
    V = data.obs.shape[2]
    due = _due(mask, trials, V)
    if done is not None:
        due = due & done[:trials, :, :V]
    r = full.analyse_primary(dm, data, trials, due, arms, code, None if visit < 0 else visit)
    return r["est"], r["se"], r["df"]


def _by_pattern(dm, data, trials, mask, sel, code) -> tuple[np.ndarray, ...]:
    """Stage-2 analyses when arms were dropped: trials grouped by the set of selected arms,
    each group analysed with a model of those arms (a dropped arm has no stage-2 patient);
    est, se, df (trials, K), NaN for dropped arms."""
    K = sel.shape[1]
    est, se, df = (np.full((trials, K), np.nan) for _ in range(3))
    pats, inv = np.unique(sel, axis=0, return_inverse=True)
    for j, pat in enumerate(pats):
        rows = np.flatnonzero(inv.ravel() == j)
        arms = tuple(int(a) + 1 for a in np.flatnonzero(pat))
        if not arms:
            continue
        e, s, d = _analyse(dm, data.of_trials(rows), rows.size, mask[rows], arms, code)
        cols = list(np.flatnonzero(pat))
        est[np.ix_(rows, cols)], se[np.ix_(rows, cols)], df[np.ix_(rows, cols)] = e, s, d
    return est, se, df


def _lambda(c: np.ndarray) -> np.ndarray:
    """Dunnett factors ``sqrt(n_k / (n_k + n_0))`` from counts (trials, K + 1)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(c[:, 1:] / (c[:, 1:] + c[:, :1]))


def _patients_condition(p: Plan, dm, data, lay: _Layout, trials: int, code,
                        cal: _Calendar | None = None) -> dict[str, np.ndarray]:
    """Per-trial results of one condition on the full kernel's patients (``cal``: on the
    conduct calendar)."""
    k_end = dm.visit_index(dm.scenario.endpoint)
    K = p.arms
    early = p.select_visit >= 0 and p.select_visit != k_end     # selection before the endpoint
    if cal is None:
        stage1, e0, cut = lay.first(p.n1), None, None
    else:
        stage1, cut = cal.stage1, cal.done()
        e0 = stage1[:, lay.arm == 0].sum(axis=1).astype(float)
    # the stage-1 statistic: the interim's analysis (module docstring), or with an earlier
    # selection visit the stage-1 patients at the endpoint visit
    est1, se1, df1 = _analyse(dm, data, trials, stage1, None, code,
                              done=None if early else cut)
    c1 = _counts(data, stage1, k_end, K, trials)
    if p.selection is None:
        it = _interim(p, est1[:, 0], se1[:, 0], df1[:, 0], c1[:, 0], c1[:, 1], e0=e0)
        nf = p.n1 + it["n2"]
        if cal is None:
            final = analysed = lay.first(nf)
            done = None
            n_total = lay.sizes[nf].sum(axis=1)
        else:
            go = ~(it["futility"] | it["efficacy"])
            final, analysed, done, day = cal.final(data, lay, stage1, go,
                                                   lay.sizes[np.where(go, nf, 0)], early)
            n_total = final.sum(axis=1)
        est, se, df = _analyse(dm, data, trials, analysed, None, code, done=done)
        est2, se2, df2 = _analyse(dm, data, trials, final & ~stage1, None, code)
        out = _final(p, it, est[:, 0], se[:, 0], df[:, 0], est2[:, 0], se2[:, 0], df2[:, 0])
        out["n_total"] = n_total
        if cal is not None:
            out.update(cal.fields(day))
        return out
    # treatment selection (on the selection visit's analysis if it is earlier)
    t1, z1 = _oriented(p, est1, se1, df1)
    if early:
        es, ss, ds = _analyse(dm, data, trials, stage1, None, code, p.select_visit, done=cut)
        measure = p.sign * es if p.select_by == "estimate" else _oriented(p, es, ss, ds)[1]
    else:
        measure = p.sign * est1 if p.select_by == "estimate" else z1
    sel = A.select_arms(np.where(np.isfinite(measure), measure, -1e300), p.selection,
                        p.select_r, p.epsilon, p.select_threshold)
    stop = ~sel.any(axis=1)
    n2 = np.where(stop, 0, p.n2_planned)
    nf = p.n1 + n2
    # a patient is in the trial if enrolled by the final size of its arm: control and the
    # selected arms continue to nf, dropped arms stop at n1 (with [conduct]: at the interim)
    cont = np.concatenate([~stop[:, None], sel], axis=1)         # (trials, K + 1)
    n_arm = np.where(cont, nf[:, None], p.n1 if cal is None else 0)   # control size per arm
    G = lay.sizes.shape[1]
    per_group = lay.sizes[n_arm[:, np.arange(G) % (K + 1)], np.arange(G)]   # (trials, G)
    if cal is None:
        final = analysed = lay.rank < per_group[:, lay.group]    # (trials, P)
        done = None
        n_total = per_group.sum(axis=1)
    else:
        final, analysed, done, day = cal.final(data, lay, stage1, ~stop, per_group, early)
        n_total = final.sum(axis=1)
    stage2 = final & ~stage1
    est, se, df = _analyse(dm, data, trials, analysed, None, code, done=done)
    est2, se2, df2 = _by_pattern(dm, data, trials, stage2, sel, code)
    c2 = _counts(data, stage2, k_end, K, trials)
    t2, _ = _oriented(p, est2, se2, df2)
    d1 = np.where(np.isfinite(df1[:, 0]), df1[:, 0], np.inf)
    d2 = np.nanmax(np.where(sel, df2, -np.inf), axis=1)       # one model: one df per trial
    d2 = np.where(np.isfinite(d2) & (d2 > 0), d2, np.inf)
    rejs = {test: A.closed_test(t1, np.where(sel, t2, 0.0), sel, p.intersection,
                                *p.weights(test), p.crit(test), _lambda(c1), _lambda(c2),
                                d1, d2)
            for test in ("inverse_normal", "chw")}
    rej = rejs[p.test]
    nan = np.full(trials, np.nan)
    none = np.zeros(trials, dtype=bool)
    out = {"n_final": nf, "reject": rej.any(axis=1),
           "reject_inverse_normal": rejs["inverse_normal"].any(axis=1),
           "reject_chw": rejs["chw"].any(axis=1), "reject_unweighted": none, "futility": stop,
           "efficacy": none, "increase": none, "decrease": none, "estimate": nan,
           "cp_interim": nan, "z1": z1.max(axis=1), "sd_interim": nan,
           "n_total": n_total, "selected": sel, "reject_arm": rej, "estimate_arm": est}
    if cal is not None:
        out.update(cal.fields(day))
    return out


def run_chunk_patients(dm, seed: int, chunk: int, n_trials: int, p: Plan, conduct=None
                       ) -> dict:
    """:func:`run_chunk` on the full kernel's patients (module docstring); ``conduct``: the
    conduct replicates at the largest final size
    (:class:`~simtrial.sim.conduct.ConductResult`), whose calendar the trials take."""
    trials = min(CHUNK_TRIALS, n_trials - chunk * CHUNK_TRIALS)
    n_max = p.n1 + p.max_stage2
    datas, scr, acc = full.draw_conditions(dm, seed, n_max, chunk, (False, True))
    lay = _layout(dm, datas[0], n_max)
    code = (seed, chunk, imputation_code(0, 9))
    cal = None
    if conduct is not None:
        link = link_chunk(conduct, chunk, CHUNK_TRIALS)
        k = p.select_visit if p.select_visit >= 0 else dm.visit_index(dm.scenario.endpoint)
        cal = _calendar(link, int(lay.sizes[p.n1].sum()), k, trials)
        for d in datas:
            d.obs = d.obs & link.observed               # conduct withdrawal
    out: dict = {"screened": scr, "accepted": acc}
    for cond, data in zip(CONDITIONS, datas):
        for k, v in _patients_condition(p, dm, data, lay, trials, code, cal).items():
            out[f"{cond}_{k}"] = v
    return out
