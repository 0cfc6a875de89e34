"""The Monte Carlo engine: replicate trials in fixed-size chunks, vectorised.

Layout and randomness (what makes results reproducible and designs comparable):

* Trials are processed in chunks of :data:`CHUNK_TRIALS`. Chunk ``c`` draws only from
  ``SeedSequence(seed, spawn_key=(c, stream))``, one stream per process and arm
  (:data:`STREAMS`), so a result does not depend on chunk order or on the number of workers,
  and the first R trials of a run are the same whatever ``n_trials`` is (the last chunk is always
  drawn in full and cut).
* Arrays are patient-major, shape ``(patients, trials, ...)``: candidates are drawn in screening
  blocks of :data:`SCREEN_BLOCK` x trials x variables, accepted patients are packed in screening
  order, and outcome residuals are drawn as ``(patients, trials, visits + 1)``. Because numpy fills
  arrays in C order, patient i of trial t receives the same numbers whatever the arm size:
  designs differing only in N share draws (common random numbers), and a larger trial is the
  smaller one plus more patients.
* Per arm, the engine keeps prefix sums of ``(x, y, x^2, y^2, xy)`` over patients, so the
  analysis at *every* arm size up to the maximum costs one lookup: a whole power curve, or a
  sample-size search, is one simulation pass.

Only the endpoint visit is evaluated in this hot path; its residual is the endpoint row of the
visit-correlated residual vector, so its distribution is exactly that of the full trajectory
model (:func:`simtrial.trajectories.simulate_patients` draws all visits and outcomes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._rng import chunk_generator, CHUNK_TRIALS, EFFECT, group_codes, patient_codes
from ..model.design import dropout_hazards
from ..model.outcomes import latent_at, to_model, to_natural
from ..model.population import accept_mask, margin, transform
from ..stats.sums import analyse_sums, arm_means, reject
from ..stats import distributions as stats  # scipy.stats's t without its import time

__all__ = ["SCREEN_BLOCK", "STREAMS", "SimOutput", "ChunkOut", "run_chunk", "combine", "stream",
           "draw_baselines", "outcome_columns", "analyse_grid", "supports", "kept_arms",
           "chunk_sums"]

SCREEN_BLOCK = 32
"""Candidates screened per trial per block (fixed, for the same reason)."""
STREAMS = {"control_baseline": group_codes(0, 0)[0], "control_outcome": group_codes(0, 0)[1],
           "msc_baseline": group_codes(0, 1)[0], "msc_outcome": group_codes(0, 1)[1],
           "effect": EFFECT}
"""Random streams within a chunk (:mod:`simtrial._rng`): the full kernel uses the same codes."""
_GRID_BATCH = 64


def supports(dm) -> bool:
    """True if this kernel serves the design :class:`~simtrial.model.design.DesignModel`
    exactly: one stratum, one MSC arm at full effect, one continuous endpoint on the natural
    scale analysed by ``ancova`` or ``ttest_change`` for superiority with no margin, no
    interim looks, no conduct, and no dropout that removes anyone (``rate = 0`` and no
    intermittent misses are no-ops). Multiplicity over a single hypothesis is the unadjusted
    test. Everything else needs the full patient kernel (:mod:`simtrial.sim.full`)."""
    sc = dm.scenario
    e = sc.endpoint
    if len(dm.strata) != 1 or len(dm.arms) != 1 or len(dm.hypotheses) != 1:
        return False
    if dm.arms[0].effect_scale != 1.0 or dm.arms[0].ratio != sc.design.allocation_ratio:
        return False
    if (e.type != "continuous" or e.analysis not in ("ancova", "ttest_change")
            or e.scale != "natural" or e.hypothesis != "superiority" or e.margin != 0.0):
        return False
    if sc.sequential is not None or sc.conduct is not None or dm.outcomes != (e.outcome,):
        return False
    d = sc.dropout
    return d is None or (not np.any(dropout_hazards(sc, dm.visits) > 0) and d.intermittent == 0)


def stream(seed: int, chunk: int, name: str) -> np.random.Generator:
    """Generator for one process of one chunk: ``SeedSequence(seed, spawn_key=(chunk, id))``."""
    return chunk_generator(seed, chunk, STREAMS[name])


N_STATS = 5
"""Per-patient statistics every analysis uses, kept as prefix sums: x, y, x^2, y^2, xy. An
arm's array adds a column counting zero natural values where the outcome can reach 0, and one
counting responders with ``responders`` heterogeneity (:func:`_prefix`)."""


@dataclass
class _ChunkOut:
    chunk: int
    n_trials: int
    rejections: np.ndarray       # (G,) int64, at the point effect
    successes: np.ndarray        # (G,) int64, significant in the direction of benefit
    sum_est: np.ndarray          # (G,)
    sum_est2: np.ndarray         # (G,)
    sum_se: np.ndarray           # (G,)
    rej_assur: np.ndarray        # (G,) int64, trial effects drawn from the distribution
    sum_est_assur: np.ndarray
    sum_est2_assur: np.ndarray
    zeros0: np.ndarray           # (G,) control patients with a zero natural value at the endpoint
    zeros1: np.ndarray           # (G,) MSC patients with a zero value (point effect)
    resp1: np.ndarray            # (G,) MSC responders
    theta_sum: float
    theta_sum2: float
    theta_clipped: int
    kept: np.ndarray | None      # (trials,) estimates at the kept grid point
    kept_reject: np.ndarray | None
    kept_success: np.ndarray | None
    kept_assur_reject: np.ndarray | None
    kept_theta: np.ndarray | None
    screened: int
    accepted: int
    kept_arms: np.ndarray | None = None   # (trials, 6) at the kept point: see kept_arms()


@dataclass(frozen=True)
class SimOutput:
    """Raw aggregates of a simulation over a grid of arm sizes.

    Attributes
    ----------
    n0, n1 : ndarray of int, shape (G,)
        Control and MSC arm sizes of each grid point.
    n_trials : int
    rejections : ndarray of int, shape (G,)
        Trials rejecting H0 with the true effect at the point estimate (power).
    successes : ndarray of int, shape (G,)
        Of those, the trials significant in the direction of benefit.
    sum_est, sum_est2, sum_se : ndarray, shape (G,)
        Sums over trials of the estimate, its square and its SE (chunk-ordered summation).
    rej_assur, sum_est_assur, sum_est2_assur : ndarray, shape (G,)
        Successful trials (significant in the direction of benefit) with each trial's true
        effect drawn from the effect distribution (assurance), and the estimate sums; with a
        point distribution, successes at the point effect.
    zeros0, zeros1 : ndarray of int, shape (G,)
        Patients with a zero endpoint value (insulin independence) summed over trials, per arm.
    resp1 : ndarray of int, shape (G,)
        MSC-arm responders summed over trials (heterogeneity = "responders").
    theta_mean, theta_sd : float
        Mean and SD of the drawn trial-level effects; ``theta_clipped`` draws lay beyond the
        outcome's physical limit and were set to it.
    kept : ndarray or None, shape (n_trials,)
        Per-trial estimates at the kept grid point; ``kept_reject``, ``kept_assur_reject`` the
        matching rejections and ``kept_theta`` the trial effects.
    screened, accepted : int
        Candidates screened and randomised, both arms, all chunks.
    elapsed_s : float
    kept_arms : ndarray or None, shape (n_trials, 6)
        At the kept grid point: the estimate's SE and each arm's adjusted mean of the centred
        change with its (co)variance (:func:`kept_arms`); computed from the same sums as the
        estimate, so no other number depends on it.
    """

    n0: np.ndarray
    n1: np.ndarray
    n_trials: int
    rejections: np.ndarray
    successes: np.ndarray
    sum_est: np.ndarray
    sum_est2: np.ndarray
    sum_se: np.ndarray
    rej_assur: np.ndarray
    sum_est_assur: np.ndarray
    sum_est2_assur: np.ndarray
    zeros0: np.ndarray
    zeros1: np.ndarray
    resp1: np.ndarray
    theta_mean: float
    theta_sd: float
    theta_clipped: int
    kept: np.ndarray | None
    kept_reject: np.ndarray | None
    kept_success: np.ndarray | None
    kept_assur_reject: np.ndarray | None
    kept_theta: np.ndarray | None
    screened: int
    accepted: int
    elapsed_s: float
    keep: int | None = None
    kept_arms: np.ndarray | None = None


def _prefix(x: np.ndarray, y: np.ndarray, y_nat: np.ndarray | None,
            resp: np.ndarray | None) -> np.ndarray:
    """Prefix sums over patients (axis 0) of the :data:`N_STATS` statistics, then [y_nat == 0]
    if ``y_nat`` is given and the responder flag if ``resp`` is given (in that order)."""
    s = np.empty(x.shape + (N_STATS + (y_nat is not None) + (resp is not None),))
    s[..., 0] = x
    s[..., 1] = y
    np.multiply(x, x, out=s[..., 2])
    np.multiply(y, y, out=s[..., 3])
    np.multiply(x, y, out=s[..., 4])
    if y_nat is not None:
        s[..., N_STATS] = y_nat == 0.0
    if resp is not None:
        s[..., -1] = resp
    np.cumsum(s, axis=0, out=s)
    return s


def _can_be_zero(od) -> bool:
    """True if a natural value of outcome ``od`` can be exactly 0 (an explicit event, or a
    floor at 0), so the arm's prefix array carries a zero-count column."""
    return bool(od.zero_event or od.floor == 0.0)


def _count(s: np.ndarray, n: np.ndarray, column: int | None) -> np.ndarray:
    """Sum over trials of prefix column ``column`` at arm sizes ``n`` (0 without the column)."""
    if column is None:
        return np.zeros(n.size, dtype=np.int64)
    return s[n - 1, :, column].sum(axis=1).astype(np.int64)


def draw_baselines(pop, gen: np.random.Generator, trials: int, n_max: int,
                   extra: tuple[str, ...]) -> tuple[dict[str, np.ndarray], int, int]:
    """Screen candidates until every trial has ``n_max`` accepted patients.

    Candidates are drawn in blocks of :data:`SCREEN_BLOCK` x trials x copula columns, only the
    columns of the variables screening and ``extra`` need (the margin of the copula,
    :func:`~simtrial.model.population.margin`), and accepted patients are packed in screening
    order, so patient i of a trial is the same whatever ``n_max``.

    Returns
    -------
    values : dict of variable -> ndarray, shape (n_max, trials)
        Baseline values (natural units) of ``extra`` variables.
    screened, accepted : int
        Candidates screened and accepted (all trials, including accepted beyond ``n_max``).
    """
    names = pop.needed(extra)
    cols, chol = margin(pop, names)
    d = len(cols)
    keep = tuple(dict.fromkeys(extra))
    out = {v: np.empty((n_max, trials)) for v in keep}
    count = np.zeros(trials, dtype=np.int64)
    screened = accepted = 0
    while count.min() < n_max:
        z = gen.standard_normal((SCREEN_BLOCK, trials, d))
        vals = transform(pop, z, names, chol, cols)
        acc = accept_mask(pop, vals)
        screened += acc.size
        n_acc = acc.sum(axis=0)
        accepted += int(n_acc.sum())
        pos = count + np.cumsum(acc, axis=0) - 1
        ok = acc & (pos < n_max)
        bi, ti = np.nonzero(ok)
        for v in keep:
            out[v][pos[bi, ti], ti] = vals[v][bi, ti]
        count = np.minimum(count + n_acc, n_max)
    return out, screened, accepted


def outcome_columns(treated: int, het) -> int:
    """Normals per patient in a group's outcome stream: the endpoint residual, plus the
    individual-response normal in a treated arm whose heterogeneity draws one (``normal`` and
    ``responders``; ``modifier`` is a function of a baseline variable)."""
    return 1 + int(bool(treated) and het.mode in ("normal", "responders"))


def _arm_prefix(model, gen_base: np.random.Generator, gen_out: np.random.Generator, trials: int,
                n_max: int, treated: int, delta_trial: np.ndarray | None = None,
                gen_slope: np.random.Generator | None = None,
                gen_free: np.random.Generator | None = None
                ) -> tuple[np.ndarray, np.ndarray | None, int, int]:
    """Prefix sums (n_max, trials, N_STATS) for one arm of a chunk.

    For the MSC arm with ``delta_trial`` (one model-scale effect per trial), a second array with
    the same patients under the trial-specific effects (assurance).
    """
    vm = model.endpoint
    od = vm.outcome
    het = model.heterogeneity
    k = model.k_end
    mod_var = het.modifier if het.mode == "modifier" else None
    extra = (od.baseline,) + ((mod_var,) if mod_var else ())
    if vm.decline is not None:
        extra += ("age", "duration")
    rem = model.remission if od.zero_event else None
    rem = rem if rem is not None and rem.active else None
    if rem is not None:
        extra += ("fasting_cpeptide",)
    extra = tuple(dict.fromkeys(extra))
    vals, screened, accepted = draw_baselines(model.population, gen_base, trials, n_max, extra)
    dev = None
    if vm.decline is not None:   # patient-specific natural history (the full kernel's stream)
        u = gen_slope.standard_normal((n_max, trials))
        dev = vm.decline.deviation(model.visits, vals["age"], vals["duration"], u)[..., model.k_end]
    x0 = vals[od.baseline]
    mv = vals[mod_var] if mod_var else None
    # the endpoint residual (the first column: the full kernel orders the residual vector
    # endpoint first) and, in a treated arm with heterogeneity, the response normal
    raw = gen_out.standard_normal((n_max, trials, outcome_columns(treated, het)))
    e = raw[..., 0]
    mult = resp = None
    if treated:
        mult = het.multiplier(raw[..., 1] if raw.shape[-1] > 1 else None, mv)
        if het.mode == "responders":
            resp = mult > 0
    xm = to_model(od, x0)
    cx = model.calibration["baseline_mean_natural"]
    x = x0 - cx
    centre = float(vm.control_change[k]) if od.scale == "additive" else 0.0
    free = None
    if rem is not None:      # insulin independence: the full kernel's stream and rule
        q = rem.prob(treated, vals["fasting_cpeptide"])[..., k]
        if treated and rem.responders_only and mult is not None:
            q = np.where(mult > 0, q, 0.0)
        free = gen_free.random((n_max, trials)) < q
    y_nat = to_natural(od, latent_at(vm, xm, e, k, treated, float(model.delta[od.name][k]), mult,
                                     dev))
    if free is not None:
        y_nat = np.where(free, 0.0, y_nat)
    zeros = _can_be_zero(od)
    s = _prefix(x, (y_nat - x0) - centre, y_nat if zeros else None, resp)
    s_assur = None
    if treated and delta_trial is not None:
        y2 = to_natural(od, latent_at(vm, xm, e, k, treated, delta_trial, mult, dev))
        if free is not None:
            y2 = np.where(free, 0.0, y2)
        s_assur = _prefix(x, (y2 - x0) - centre, y2 if zeros else None, resp)
    return s, s_assur, screened, accepted


def _analyse(model, s0: np.ndarray, s1: np.ndarray, n0: np.ndarray, n1: np.ndarray,
             keep: int | None, success: bool = False,
             rows: tuple[np.ndarray, np.ndarray] | None = None):
    """Rejections and estimate sums on the grid; per-trial arrays at the kept point.

    ``success=True`` counts only rejections in the direction of benefit (for assurance, the
    probability of a successful trial); otherwise the test's own rejection region. The sums of
    grid point g are rows ``n0[g] - 1`` of ``s0`` and ``n1[g] - 1`` of ``s1`` (prefix sums), or
    ``rows[0][g]`` and ``rows[1][g]`` (the sufficient-statistics kernel's arrays by grid point).
    """
    sc = model.scenario
    g = n0.size
    rej = np.zeros(g, dtype=np.int64)
    se1 = np.zeros(g)
    se2 = np.zeros(g)
    sse = np.zeros(g)
    kept = kept_rej = None
    method = sc.endpoint.analysis
    sides = sc.design.sides
    better = model.outcome_def.better
    for lo in range(0, g, _GRID_BATCH):
        hi = min(g, lo + _GRID_BATCH)
        a0 = n0[lo:hi]
        a1 = n1[lo:hi]
        r0, r1 = (a0 - 1, a1 - 1) if rows is None else (rows[0][lo:hi], rows[1][lo:hi])
        est, se, df = analyse_sums(s0[r0, :, :N_STATS], s1[r1, :, :N_STATS], a0[:, None],
                                   a1[:, None], method)
        crit = stats.t.isf(sc.design.alpha / sides, df[:, 0])[:, None]
        r = reject(est / se, crit, 1 if success else sides, better)
        rej[lo:hi] = r.sum(axis=1)
        se1[lo:hi] = est.sum(axis=1)
        se2[lo:hi] = (est * est).sum(axis=1)
        sse[lo:hi] = se.sum(axis=1)
        if keep is not None and lo <= keep < hi:
            kept = est[keep - lo].copy()
            kept_rej = r[keep - lo].copy()
    return rej, se1, se2, sse, kept, kept_rej


def kept_arms(model, s0: np.ndarray, s1: np.ndarray, n0: np.ndarray, n1: np.ndarray,
              keep: int | None, rows: tuple[np.ndarray, np.ndarray] | None = None
              ) -> np.ndarray | None:
    """Per-trial ``(se, m0, m1, v0, v1, c01)`` at grid point ``keep`` (None without one): the
    estimate's SE (:func:`~simtrial.stats.sums.analyse_sums`) and the arms' adjusted means of
    the centred change with their (co)variance (:func:`~simtrial.stats.sums.arm_means`), from
    the sums the analysis used (rows as in :func:`_analyse`). Bayesian analyses
    (:mod:`simtrial.oc.bayes`) read them; nothing is drawn."""
    if keep is None:
        return None
    r0, r1 = (n0[keep] - 1, n1[keep] - 1) if rows is None else (rows[0][keep], rows[1][keep])
    a0, a1, method = n0[keep], n1[keep], model.scenario.endpoint.analysis
    sa, sb = s0[r0, :, :N_STATS], s1[r1, :, :N_STATS]
    out = np.empty((sa.shape[0], 6))
    out[:, 0] = analyse_sums(sa, sb, a0, a1, method)[1]
    out[:, 1:] = arm_means(sa, sb, a0, a1, method)
    return out


def run_chunk(model, seed: int, chunk: int, n_trials: int, n0: np.ndarray, n1: np.ndarray,
               keep: int | None) -> _ChunkOut:
    trials_here = min(CHUNK_TRIALS, n_trials - chunk * CHUNK_TRIALS)
    dist = model.distribution
    theta = delta_trial = None
    clipped = 0
    if dist is not None and not dist.is_point:
        theta = dist.sample(stream(seed, chunk, "effect"), CHUNK_TRIALS)
        delta_trial = model.delta_for(theta)
        if model.md_limit is not None:
            clipped = int(np.sum(theta[:trials_here] < model.md_limit))
    slope, free = zip(*[[chunk_generator(seed, chunk, c) for c in patient_codes(0, a)]
                        for a in (0, 1)])
    s0, _, scr0, acc0 = _arm_prefix(model, stream(seed, chunk, "control_baseline"),
                                    stream(seed, chunk, "control_outcome"), CHUNK_TRIALS,
                                    int(n0.max()), 0, None, slope[0], free[0])
    s1, s1a, scr1, acc1 = _arm_prefix(model, stream(seed, chunk, "msc_baseline"),
                                      stream(seed, chunk, "msc_outcome"), CHUNK_TRIALS,
                                      int(n1.max()), 1, delta_trial, slope[1], free[1])
    s0 = s0[:, :trials_here]
    s1 = s1[:, :trials_here]
    zeros = _can_be_zero(model.endpoint.outcome)
    rej, e1, e2, sse, kept, kept_rej = _analyse(model, s0, s1, n0, n1, keep)
    if model.scenario.design.sides == 2:   # success: significant in the direction of benefit
        suc, _, _, _, _, kept_suc = _analyse(model, s0, s1, n0, n1, keep, success=True)
    else:
        suc, kept_suc = rej, kept_rej
    if s1a is not None:
        s1a = s1a[:, :trials_here]
        rej_a, e1a, e2a, _, _, kept_rej_a = _analyse(model, s0, s1a, n0, n1, keep, success=True)
        th = theta[:trials_here]
    else:
        rej_a, e1a, e2a, kept_rej_a = suc, e1, e2, kept_suc
        th = np.full(trials_here, model.endpoint_md)
    return _ChunkOut(
        chunk, trials_here, rej, suc, e1, e2, sse, rej_a, e1a, e2a,
        zeros0=_count(s0, n0, N_STATS if zeros else None),
        zeros1=_count(s1, n1, N_STATS if zeros else None),
        resp1=_count(s1, n1, -1 if model.heterogeneity.mode == "responders" else None),
        theta_sum=float(th.sum()), theta_sum2=float((th * th).sum()), theta_clipped=clipped,
        kept=kept, kept_reject=kept_rej, kept_success=kept_suc, kept_assur_reject=kept_rej_a,
        kept_theta=th.copy() if keep is not None else None,
        screened=scr0 + scr1, accepted=acc0 + acc1,
        kept_arms=kept_arms(model, s0, s1, n0, n1, keep))


def chunk_sums(model, seed: int, chunk: int, n_trials: int, n0_max: int, n1_max: int
               ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Each arm's prefix sums of one chunk at the point effect, as :func:`run_chunk` draws them
    (the same streams, so the same patients): ``(s0, s1, screened, accepted)`` with ``s0`` of
    shape ``(n0_max, trials, N_STATS)``, row ``k - 1`` the sums of the first ``k`` control
    patients (``s1`` likewise for the MSC arm). Adaptive designs
    (:mod:`simtrial.sim.adaptive`) read each trial's sums at its own final size from them."""
    trials_here = min(CHUNK_TRIALS, n_trials - chunk * CHUNK_TRIALS)
    slope, free = zip(*[[chunk_generator(seed, chunk, c) for c in patient_codes(0, a)]
                        for a in (0, 1)])
    s0, _, scr0, acc0 = _arm_prefix(model, stream(seed, chunk, "control_baseline"),
                                    stream(seed, chunk, "control_outcome"), CHUNK_TRIALS,
                                    int(n0_max), 0, None, slope[0], free[0])
    s1, _, scr1, acc1 = _arm_prefix(model, stream(seed, chunk, "msc_baseline"),
                                    stream(seed, chunk, "msc_outcome"), CHUNK_TRIALS,
                                    int(n1_max), 1, None, slope[1], free[1])
    return (s0[:, :trials_here, :N_STATS], s1[:, :trials_here, :N_STATS], scr0 + scr1,
            acc0 + acc1)


def combine(outs: dict[int, _ChunkOut], n_trials: int, a0: np.ndarray, a1: np.ndarray,
            keep: int | None, elapsed_s: float) -> SimOutput:
    """Combine chunk outputs in chunk-index order (identical sums for any execution order)."""
    n_chunks = len(outs)
    fields = ("rejections", "successes", "sum_est", "sum_est2", "sum_se", "rej_assur",
              "sum_est_assur", "sum_est2_assur", "zeros0", "zeros1", "resp1")
    acc = {f: None for f in fields}
    kept_lists: dict[str, list] = {"kept": [], "kept_reject": [], "kept_success": [],
                                   "kept_assur_reject": [], "kept_theta": []}
    screened = accepted = clipped = 0
    t1 = t2 = 0.0
    for c in range(n_chunks):          # combine in chunk order: identical sums for any order
        o = outs[c]
        for f in fields:
            v = getattr(o, f)
            acc[f] = v.copy() if acc[f] is None else acc[f] + v
        screened += o.screened
        accepted += o.accepted
        clipped += o.theta_clipped
        t1 += o.theta_sum
        t2 += o.theta_sum2
        if keep is not None:
            for f in kept_lists:
                kept_lists[f].append(getattr(o, f))
    tm = t1 / n_trials
    tsd = math.sqrt(max(t2 / n_trials - tm * tm, 0.0) * n_trials / max(n_trials - 1, 1))
    kept = {f: (np.concatenate(v) if keep is not None else None) for f, v in kept_lists.items()}
    arms = None
    if keep is not None and all(outs[c].kept_arms is not None for c in range(n_chunks)):
        arms = np.concatenate([outs[c].kept_arms for c in range(n_chunks)])
    return SimOutput(n0=a0, n1=a1, n_trials=n_trials, **acc, theta_mean=tm, theta_sd=tsd,
                     theta_clipped=clipped, **kept, screened=screened, accepted=accepted,
                     elapsed_s=elapsed_s, keep=keep, kept_arms=arms)


# The sufficient-statistics kernel (sim.suffstat) returns this kernel's chunk output and analyses
# its sums with this kernel's grid analysis; these are their public names (kept as aliases so
# the definitions above stay where they are).
ChunkOut = _ChunkOut
analyse_grid = _analyse
