"""The full patient kernel: every design (arms, strata, endpoints, dropout, MMRM / MI,
responders, multiplicity, interim looks, conduct), vectorised over replicate trials.

The driver (:mod:`simtrial.sim.driver`) uses it for every design the prefix-sum kernel
(:mod:`simtrial.sim.prefix`) cannot serve; where both apply they give the same per-trial
results (a test compares them exactly). Each chunk of :data:`~simtrial._rng.CHUNK_TRIALS`
trials draws its patients once, at the largest arm size asked for, in arrays shaped ``(trials,
patients, visits)``, and analyses the first ``group_sizes(N)`` patients of each group for every
N asked for:

1. **Groups.** Patients are simulated by group = (stratum, arm). The control arm has ``n``
   patients, MSC arm ``a`` ``round(ratio_a n)``; with ``population.strata`` each arm is split
   over the strata by their fractions (largest remainder), which is what permuted-block
   randomisation stratified by diabetes type achieves: exact balance within strata. Each stratum
   uses its own resolved :class:`~simtrial.model.stratum.TrialModel` (preset population, natural history
   and evidence effect of that type).
2. **Patients.** Screened baselines (inclusion criteria = enrichment, so screen failures are an
   output), residuals correlated across visits and outcomes (Kronecker product), the effect of
   arm ``a`` = ``effect_scale_a`` x the model-scale effect (exactly ``effect_scale`` x MD for
   additive outcomes; the ratio to the power ``effect_scale`` for C-peptide and HOMA).
3. **Dropout.** A discrete hazard before each visit, ``logit h_j = logit p_j + strength * s``,
   where ``s`` is the driving outcome's value in baseline SDs, signed so that a worse value
   raises dropout: MCAR (strength 0), MAR (``s`` from the last *observed* value, baseline before
   the first visit) or MNAR (``s`` from the current, unobserved value). Dropout is monotone;
   ``intermittent`` misses a visit independently while in the study.
4. **Analyses** per endpoint and MSC arm (one model with every arm, so variance is pooled):
   complete-case ANCOVA or t-test on change, MMRM over all visits, or multiple imputation under
   MAR then ANCOVA (:mod:`simtrial.stats.mmrm`); responder endpoints by chi-square, Fisher, CMH
   stratified by type or logistic regression (:mod:`simtrial.stats.binary`). Stratified designs add the
   stratum to every model. ``scale = "log"`` analyses log(value) - log(baseline) adjusted for
   log(baseline): the estimate is a log ratio (the field's ratio-to-baseline analysis of
   C-peptide).
5. **Hypotheses** are arm x endpoint (endpoint-major order). With a margin M >= 0 the null value
   is ``m0 = +M`` in the benefit direction (superiority by M) or ``-M`` (non-inferiority);
   t = (est - m0) / se. Multiplicity (:mod:`simtrial.stats.multiplicity`) acts on the family;
   interim looks (:mod:`simtrial.stats.gsd`) on the primary hypothesis: look ``l`` analyses the first
   ``ceil(t_l n_g)`` patients of each group (enrolment order, complete follow-up). With
   ``[conduct]`` (:mod:`simtrial.sim.conduct`) each trial takes its calendar from a conduct
   replicate instead: look ``l`` is a calendar day and analyses the visits done by then, and
   conduct withdrawal removes later visits; see that module for the mapping.

Random streams (:mod:`simtrial._rng`): group (stratum s, arm a) draws baselines, outcome
residuals and dropout from :func:`~simtrial._rng.group_codes`; the first stratum's control and
MSC arm use the prefix kernel's streams, so the two kernels draw the same patients. Patient i of
a group is the same whatever ``n``: designs differing in N share draws (common random numbers),
a smaller trial is the first patients of a larger one, and results do not depend on the number
of workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from .._rng import (CHUNK_TRIALS, EFFECT, chunk_generator, group_codes, imputation_code,
                    patient_codes, residual_code)
from ..model.design import DesignModel, Hypothesis, benefit_sign, dropout_hazards, group_sizes
from ..model.outcomes import OUTCOMES, latent, to_model, to_natural
from ..scenario import EndpointConfig
from ..stats import binary, gsd, mmrm, multiplicity
from ..stats import distributions as stats
from .conduct import link_chunk
from .patients import residual_correlation
from .prefix import draw_baselines, outcome_columns

__all__ = ["run_chunk", "one_trial", "draw_patients", "draw_conditions", "analyse_primary",
           "PatientData", "control_responder_rate"]


# ---------------------------------------------------------------------------------------------
# one chunk
# ---------------------------------------------------------------------------------------------

@dataclass
class _Group:
    stratum: int
    arm: int
    n: int
    base: dict[str, np.ndarray]          # natural baselines, (trials, n) per outcome
    latent0: dict[str, np.ndarray]       # model-scale values without effect, (trials, n, V)
    mult: np.ndarray | None              # (trials, n) individual effect multipliers
    free: np.ndarray | None              # (trials, n, V) insulin-free (explicit event)
    u_drop: np.ndarray | None            # (trials, n, V)
    u_miss: np.ndarray | None
    screened: int = 0                    # candidates screened / accepted for this group
    accepted: int = 0


def _draw_group(dm: DesignModel, seed: int, chunk: int, s: int, a: int, n: int) -> _Group:
    model = dm.models[s]
    c_base, c_out, c_drop = group_codes(s, a)
    c_rest = residual_code(s, a)
    pop = model.population
    het = model.heterogeneity
    mod_var = het.modifier if het.mode == "modifier" else None
    declines = [o for o in dm.outcomes if model.outcomes[o].decline is not None]
    rem = model.remission if "insulin_dose" in dm.outcomes else None
    rem = rem if rem is not None and rem.active else None
    extra = tuple(OUTCOMES[o].baseline for o in dm.outcomes) + ((mod_var,) if mod_var else ())
    extra += (("age", "duration") if declines else ()) + (("fasting_cpeptide",) if rem else ())
    extra = tuple(dict.fromkeys(extra))
    t = CHUNK_TRIALS
    screened = accepted = 0
    if n == 0:
        vals = {v: np.empty((0, t)) for v in extra}
    else:
        vals, screened, accepted = draw_baselines(pop, chunk_generator(seed, chunk, c_base), t, n,
                                                  extra)
    v = len(dm.visits)
    raw = chunk_generator(seed, chunk, c_out).standard_normal((n, t, outcome_columns(a, het)))
    eps = _residuals(dm, model, raw[..., 0], chunk_generator(seed, chunk, c_rest), n, t)
    mult = None
    if a > 0 and het.mode != "none":
        eta = raw[..., 1] if raw.shape[-1] > 1 else None
        mult = het.multiplier(eta, vals[mod_var] if mod_var else None).T.copy()
    c_slope, c_free = patient_codes(s, a)
    u_slope = (chunk_generator(seed, chunk, c_slope).standard_normal((n, t)) if declines
               else None)
    base = {}
    lat = {}
    for j, o in enumerate(dm.outcomes):
        od = OUTCOMES[o]
        vm = model.outcomes[o]
        y0 = vals[od.baseline]
        base[o] = y0.T.copy()
        dev = (None if vm.decline is None else
               vm.decline.deviation(dm.visits, vals["age"], vals["duration"], u_slope))
        lat[o] = np.ascontiguousarray(
            latent(vm, to_model(od, y0), eps[..., j * v:(j + 1) * v], 0,
                   np.zeros(v), None, dev).transpose(1, 0, 2))
    free = None
    if rem is not None:
        scale = 0.0 if a == 0 else dm.arms[a - 1].effect_scale
        q = rem.prob(1 if scale else 0, vals["fasting_cpeptide"], scale or 1.0)   # (n, t, V)
        if scale and rem.responders_only and mult is not None:
            q = np.where(mult.T[..., None] > 0, q, 0.0)
        u = chunk_generator(seed, chunk, c_free).random((n, t))
        free = np.ascontiguousarray((u[..., None] < q).transpose(1, 0, 2))
    u_drop = u_miss = None
    if dm.scenario.dropout is not None:
        g = chunk_generator(seed, chunk, c_drop)
        u_drop = g.random((n, t, v)).transpose(1, 0, 2)
        u_miss = g.random((n, t, v)).transpose(1, 0, 2)
    return _Group(s, a, n, base, lat, mult, free, u_drop, u_miss, screened, accepted)


def _residuals(dm: DesignModel, model, e_end: np.ndarray, gen: np.random.Generator, n: int,
               t: int) -> np.ndarray:
    """Residuals (n, t, outcomes x visits), outcome-major, correlated by the Kronecker product.

    The primary endpoint's residual at its visit is ``e_end`` itself: the residual vector is
    factorised with that element first, so its Cholesky row is (1, 0, ...) and the prefix
    kernel, which draws only ``e_end``, sees the same patients. The other elements come from the
    group's second residual stream, drawn only when the design has more than one.
    """
    p0 = dm.outcomes.index(dm.scenario.endpoint.outcome) * len(dm.visits) + \
        dm.visits.index(dm.scenario.endpoint.visit_months)
    r = residual_correlation(model, dm.outcomes)
    k = r.shape[0]
    if k == 1:
        return e_end[..., None]
    order = np.r_[p0, np.delete(np.arange(k), p0)]
    L = np.linalg.cholesky(r[np.ix_(order, order)])
    z = np.empty((n, t, k))
    z[..., 0] = e_end
    z[..., 1:] = gen.standard_normal((n, t, k - 1))
    eps = np.empty_like(z)
    eps[..., order] = z @ L.T
    return eps


def _values(dm: DesignModel, g: _Group, theta_scale: np.ndarray | None) -> dict[str, np.ndarray]:
    """Natural-scale values (trials, n, V) of each outcome with arm ``g.arm``'s effect.

    ``theta_scale`` (trials,) rescales the primary outcome's effect per trial (assurance).
    """
    model = dm.models[g.stratum]
    primary = dm.scenario.endpoint.outcome
    scale = 0.0 if g.arm == 0 else dm.arms[g.arm - 1].effect_scale
    # per-trial effects scale every outcome's effect by the primary's ratio (one potency per
    # trial; ASSUMED), unless the primary's point effect is 0 (then theta_scale is absolute)
    ratio = theta_scale is not None and bool(np.any(model.delta[primary]))
    out = {}
    for o in dm.outcomes:
        x = g.latent0[o]
        if scale != 0.0:
            d = scale * model.delta[o]
            eff = None
            if theta_scale is not None and (o == primary or ratio):
                if np.any(d):
                    eff = theta_scale[:, None, None] * d[None, None, :]
                else:   # point effect 0: per-trial effects with a linear onset
                    eff = scale * theta_scale[:, None, None] * _onset(dm)[None, None, :]
            elif np.any(d):
                eff = d[None, None, :]
            if eff is not None:
                # one patient-level response shared by every outcome
                if g.mult is not None:
                    eff = eff * g.mult[..., None]
                x = x + eff
        y = to_natural(OUTCOMES[o], x)
        if g.free is not None and OUTCOMES[o].zero_event:
            y = np.where(g.free, 0.0, y)
        out[o] = y
    return out


def _onset(dm: DesignModel) -> np.ndarray:
    """Time shape used when the point effect is 0 but trial effects are drawn (assurance):
    linear onset to the endpoint month, held after it."""
    m_end = dm.scenario.endpoint.visit_months
    return np.minimum(np.asarray(dm.visits, dtype=float) / m_end, 1.0)


def _observed(dm: DesignModel, g: _Group, vals: dict[str, np.ndarray]) -> np.ndarray:
    """Observed mask (trials, n, V) under the scenario's dropout model."""
    sc = dm.scenario
    t, n, v = CHUNK_TRIALS, g.n, len(dm.visits)
    if sc.dropout is None:
        return np.ones((t, n, v), dtype=bool)
    d = sc.dropout
    p = dropout_hazards(sc, dm.visits)
    with np.errstate(divide="ignore"):
        lp = special.logit(p)
    obs = np.empty((t, n, v), dtype=bool)
    in_study = np.ones((t, n), dtype=bool)
    # the driving outcome is simulated only when it can change anything (design.py)
    mech = d.mechanism if d.outcome in dm.outcomes else "mcar"
    if mech != "mcar":
        od = OUTCOMES[d.outcome]
        vm = dm.models[g.stratum].outcomes[d.outcome]
        sgn = -benefit_sign(d.outcome)       # a worse value raises dropout when strength > 0

        def score(x_nat):
            return sgn * (to_model(od, x_nat) - vm.m0) / vm.s0
        last = score(g.base[d.outcome])
    for j in range(v):
        if mech == "mcar":
            h = p[j]
        else:
            s = last if mech == "mar" else score(vals[d.outcome][..., j])
            h = special.expit(lp[j] + d.strength * s)
        in_study &= ~(g.u_drop[..., j] < h)
        obs[..., j] = in_study & (g.u_miss[..., j] >= d.intermittent)
        if mech == "mar":
            last = np.where(obs[..., j], score(vals[d.outcome][..., j]), last)
    return obs


def _responder(e: EndpointConfig, vals, base, k: int) -> np.ndarray:
    ok = None
    for o, bound, x in e.responder:
        y = vals[o][..., k]
        y0 = base[o]
        if bound in ("min", "max"):
            q = y
        elif bound.startswith("change"):
            q = y - y0
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                q = 100.0 * (y - y0) / y0
        c = q >= x if bound.endswith("min") else q <= x
        ok = c if ok is None else (ok & c if e.combine == "all" else ok | c)
    return ok


def _t_to_z(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """z with the same one-sided p-value as t on ``df`` degrees of freedom (inf = normal)."""
    d = np.where(np.isfinite(df), df, 1e12)
    return np.where(t >= 0, -special.ndtri(stats.t.sf(t, d)), special.ndtri(stats.t.cdf(t, d)))


@dataclass
class PatientData:
    """A chunk's patients concatenated over groups (group-major) for one effect variant."""

    arm: np.ndarray          # (P,) 0 = control, 1..K
    stratum: np.ndarray      # (P,)
    group_start: np.ndarray  # (groups + 1,) offsets
    vals: dict[str, np.ndarray]   # (trials, P, V)
    base: dict[str, np.ndarray]   # (trials, P)
    obs: np.ndarray          # (trials, P, V)
    mult: np.ndarray         # (trials, P) individual effect multiplier (1 without heterogeneity)
    insulin_free: np.ndarray | None = None   # (trials, P, V) explicit insulin independence

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.group_start)

    def of_trials(self, rows: np.ndarray) -> "PatientData":
        """The same patients in trials ``rows`` only (trial-major arrays indexed by ``rows``)."""
        return PatientData(self.arm, self.stratum, self.group_start,
                           {o: v[rows] for o, v in self.vals.items()},
                           {o: v[rows] for o, v in self.base.items()}, self.obs[rows],
                           self.mult[rows],
                           None if self.insulin_free is None else self.insulin_free[rows])

    def up_to(self, visit: int) -> "PatientData":
        """The same patients with visits ``0..visit`` only (what an interim at that visit has
        seen)."""
        v = slice(0, int(visit) + 1)
        return PatientData(self.arm, self.stratum, self.group_start,
                           {o: x[:, :, v] for o, x in self.vals.items()}, self.base,
                           self.obs[:, :, v], self.mult,
                           None if self.insulin_free is None else self.insulin_free[:, :, v])

    def first(self, sizes: np.ndarray) -> "PatientData":
        """The first ``sizes[g]`` patients of each group g (patient i of a group is the same
        whatever the group size, so this *is* the smaller trial)."""
        idx = np.concatenate([np.arange(s, s + int(n)) for s, n in zip(self.group_start, sizes)])
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        return PatientData(self.arm[idx], self.stratum[idx], starts,
                     {o: v[:, idx] for o, v in self.vals.items()},
                     {o: v[:, idx] for o, v in self.base.items()}, self.obs[:, idx],
                     self.mult[:, idx],
                     None if self.insulin_free is None else self.insulin_free[:, idx])


def _concat(dm, groups, per_group_vals, per_group_obs) -> PatientData:
    arm = np.concatenate([np.full(g.n, g.arm) for g in groups])
    stratum = np.concatenate([np.full(g.n, g.stratum) for g in groups])
    starts = np.cumsum([0] + [g.n for g in groups])
    vals = {o: np.concatenate([v[o] for v in per_group_vals], axis=1) for o in dm.outcomes}
    base = {o: np.concatenate([g.base[o] for g in groups], axis=1) for o in dm.outcomes}
    obs = np.concatenate(per_group_obs, axis=1)
    mult = np.concatenate([g.mult if g.mult is not None else np.ones((CHUNK_TRIALS, g.n))
                           for g in groups], axis=1)
    free = None
    if any(g.free is not None for g in groups):
        v = len(dm.visits)
        free = np.concatenate([g.free if g.free is not None else
                               np.zeros((CHUNK_TRIALS, g.n, v), dtype=bool) for g in groups],
                              axis=1)
    return PatientData(arm, stratum, starts, vals, base, obs, mult, free)


def _patients(dm, groups, theta_scale: np.ndarray | None) -> PatientData:
    """The drawn groups' patients with their effect (``theta_scale``: per-trial scale of the
    primary effect, :func:`_values`) and dropout, concatenated (the per-group copies are freed
    before the analysis)."""
    pv = [_values(dm, g, theta_scale) for g in groups]
    po = [_observed(dm, g, v) for g, v in zip(groups, pv)]
    return _concat(dm, groups, pv, po)


def _subset(data: PatientData, frac: float) -> np.ndarray:
    """Patient indices of the first ceil(frac n_g) patients of each group."""
    idx = [np.arange(s, s + math.ceil(frac * n - 1e-9))
           for s, n in zip(data.group_start, data.sizes)]
    return np.concatenate(idx)


# --- analysis of a continuous endpoint, in sub-chunks of trials -------------------------------
# The per-patient arrays of an analysis (outcome, covariates, observed cells and the fit's own
# temporaries) are built for a sub-chunk of trials at a time, sized from the number of patients,
# so that their memory stays bounded however large the trials are. Every analysis gives each
# trial the same numbers whatever other trials share its call (mmrm's Reproducibility), so the
# sub-chunking changes no number.

ANALYSIS_ELEMS = 2_000_000
"""Per-patient array elements of one analysis sub-chunk (trials x patients x visits)."""


def _analysis_slices(trials: int, n_patients: int, n_visits: int):
    size = max(1, ANALYSIS_ELEMS // max(1, n_patients * n_visits))
    return [slice(a, min(trials, a + size)) for a in range(0, trials, size)]


def _trial_means(x: np.ndarray, sequential: bool) -> np.ndarray:
    """Each trial's mean over its patients, (trials, 1), summed in the order numpy's reduction
    takes for a whole chunk of ``[:, idx]``-indexed arrays (trials contiguous): one patient after
    another when the chunk has more than one trial (``sequential``), pairwise along the patients
    for a chunk of one. A sub-chunk of any size, one trial included, so gives the bits of the
    whole chunk."""
    if sequential:
        return np.cumsum(x, axis=1)[:, -1:] / x.shape[1]
    return np.ascontiguousarray(x).mean(axis=1, keepdims=True)


def _continuous(dm: DesignModel, e, k: int, data: PatientData, idx: np.ndarray, ts: slice,
                due: np.ndarray | None, seeds: np.ndarray | None, sequential: bool,
                arms: tuple[int, ...] | None = None):
    """est, se, df, status (trials of ``ts``, arms) of continuous endpoint ``e`` at visit
    ``k``; ``arms`` (default every MSC arm) are the arms in the model, patients of the others
    are left out."""
    arms = tuple(range(1, len(dm.arms) + 1)) if arms is None else tuple(arms)
    K = len(arms)
    arm = data.arm[idx]
    strat = data.stratum[idx]
    everyone = idx.size == data.arm.size            # then views, not copies (same values)

    def pick(a):
        return a[ts] if everyone else a[ts][:, idx]
    obs = pick(data.obs)
    if due is not None:
        obs = obs & pick(due)
    if K < len(dm.arms):
        obs = obs & np.isin(arm, (0,) + arms)[None, :, None]
    tn, P = obs.shape[:2]
    dummies = [np.broadcast_to((arm == a).astype(float), (tn, P)) for a in arms]
    sdum = [np.broadcast_to((strat == s).astype(float), (tn, P)) for s in range(1, len(dm.strata))]
    ones = np.ones((tn, P))
    y_all = pick(data.vals[e.outcome])
    y0 = pick(data.base[e.outcome])
    if e.scale == "log":
        x = np.log(y0)
        y = np.subtract(np.log(y_all), x[..., None], out=np.empty(y_all.shape))
    else:
        x = y0
        y = np.subtract(y_all, y0[..., None], out=np.empty(y_all.shape))
    del y_all
    cols = [ones] + dummies
    if e.analysis != "ttest_change":
        # centred within each trial (estimates are invariant; keeps every trial's numbers
        # independent of which chunk it is computed in)
        cols.append(x - _trial_means(x, sequential))
    cols += sdum
    z = np.stack(cols, axis=-1)
    del cols, ones, x, y0
    columns = list(range(1, K + 1))
    status = np.zeros((tn, K), dtype=np.int64)
    if e.analysis in ("ancova", "ttest_change"):
        est, se, df = mmrm.ols(y[..., k], obs[..., k], z, columns)
    elif e.analysis == "mmrm":
        # endpoint.df "auto": Kenward-Roger below mmrm.KENWARD_ROGER_BELOW patients in
        # the analysis (P, the same for every trial of the call), Satterthwaite above
        r = mmrm.mmrm(y, obs, z, columns=columns, visit=k, df=e.df)
        est, se, df = r.est, r.se, r.df
        status = np.broadcast_to(np.asarray(r.status)[:, None], (tn, K)).copy()
    else:
        r = mmrm.mi_ancova(y, obs, z, columns=columns, visit=k, m=e.imputations, seeds=seeds)
        est, se, df = r.est, r.se, r.df
        status = np.broadcast_to((~np.asarray(r.converged)).astype(np.int64)[:, None],
                                 (tn, K)).copy()
    return est, se, np.broadcast_to(df, est.shape), status


def _analyse_endpoint(dm: DesignModel, ei: int, data: PatientData, idx: np.ndarray, trials: int,
                      rng_code: tuple[int, int, int], due: np.ndarray | None = None,
                      arms: tuple[int, ...] | None = None, visit: int | None = None
                      ) -> dict[str, np.ndarray]:
    """est, se, df, status for each MSC arm (trials, K) on patients ``idx``; ``due`` (trials,
    P, V) masks the visits whose day has come (conduct interim looks) or the patients a stage
    analyses (adaptive designs); ``arms`` (continuous endpoints) restricts the model to those
    MSC arms and control (columns in that order); ``visit`` (an index into the design's
    visits) analyses an earlier visit instead of the endpoint's."""
    sc = dm.scenario
    e = sc.all_endpoints[ei]
    k = dm.visit_index(e) if visit is None else int(visit)
    K = len(dm.arms)
    S = len(dm.strata)
    arm = data.arm[idx]
    strat = data.stratum[idx]
    P = idx.size
    if e.type == "continuous":
        seeds = (mmrm.mi_seeds(chunk_generator(*rng_code), trials) if e.analysis == "mi"
                 else None)
        K = K if arms is None else len(arms)
        est, se = np.empty((trials, K)), np.empty((trials, K))
        df, status = np.empty((trials, K)), np.empty((trials, K), dtype=np.int64)
        for ts in _analysis_slices(trials, P, len(dm.visits)):
            est[ts], se[ts], df[ts], status[ts] = _continuous(
                dm, e, k, data, idx, ts, due, None if seeds is None else seeds[ts], trials > 1,
                arms)
        bad = ~np.isfinite(est) | ~np.isfinite(se)
        status[bad & (status == 0)] = 2
        return {"est": est, "se": se, "df": df, "status": status}
    obs = data.obs[:trials][:, idx]
    if due is not None:
        due = due[:trials][:, idx]
        obs = obs & due
    sdum = [np.broadcast_to((strat == s).astype(float), (trials, P)) for s in range(1, S)]
    ones = np.ones((trials, P))
    # responder endpoint
    resp = _responder(e, {o: data.vals[o][:trials][:, idx] for o in e.outcomes},
                      {o: data.base[o][:trials][:, idx] for o in e.outcomes}, k)
    valid = obs[..., k]
    if e.missing == "nonresponder":
        resp = resp & valid
        incl = np.ones_like(valid) if due is None else due[..., k]   # not yet due: not counted
    else:
        incl = valid
    resp = resp & incl
    est = np.empty((trials, K))
    se = np.empty((trials, K))
    z = np.empty((trials, K))
    p2 = np.empty((trials, K))
    status = np.zeros((trials, K), dtype=np.int64)
    rates = np.empty((trials, K + 1))
    n0 = (incl & (arm == 0)).sum(axis=1)
    x0 = (resp & (arm == 0)).sum(axis=1)
    rates[:, 0] = x0 / np.maximum(n0, 1)
    for a in range(1, K + 1):
        m1 = incl & (arm == a)
        n1 = m1.sum(axis=1)
        x1 = (resp & m1).sum(axis=1)
        rates[:, a] = x1 / np.maximum(n1, 1)
        rd, rd_se = binary.risk_difference(x0, n0, x1, n1)
        if e.analysis == "chisq":
            stat, p = binary.chisq_test(x0, n0, x1, n1)
            zz = np.sign(rd) * np.sqrt(np.maximum(stat, 0.0))
            est[:, a - 1], se[:, a - 1] = rd, rd_se
        elif e.analysis == "fisher":
            p = binary.fisher_test(x0, n0, x1, n1, alternative="two-sided")
            pg = binary.fisher_test(x0, n0, x1, n1, alternative="greater")
            zz = special.ndtri(1 - np.clip(pg, 1e-300, 1.0))
            est[:, a - 1], se[:, a - 1] = rd, rd_se
        elif e.analysis == "cmh":
            cx0 = np.stack([((resp & (arm == 0)) & (strat == s)).sum(axis=1) for s in range(S)], -1)
            cn0 = np.stack([((incl & (arm == 0)) & (strat == s)).sum(axis=1) for s in range(S)], -1)
            cx1 = np.stack([((resp & m1) & (strat == s)).sum(axis=1) for s in range(S)], -1)
            cn1 = np.stack([(m1 & (strat == s)).sum(axis=1) for s in range(S)], -1)
            r = binary.cmh_test(cx0, cn0, cx1, cn1)
            stat, p, rd_mh = r["stat"], r["p"], r["risk_difference"]
            zz = np.sign(rd_mh) * np.sqrt(np.maximum(stat, 0.0))
            est[:, a - 1], se[:, a - 1] = rd_mh, rd_se
        else:
            sel = incl & ((arm == 0) | (arm == a))
            xcols = [ones, np.broadcast_to((arm == a).astype(float), (trials, P))] + sdum
            r = binary.logistic_test(resp.astype(float), np.stack(xcols, -1), sel, columns=[1])
            est[:, a - 1], se[:, a - 1] = r["est"][:, 0], r["se"][:, 0]
            zz, p = r["z"][:, 0], r["p"][:, 0]
            status[:, a - 1] = r["status"]
        z[:, a - 1] = zz
        p2[:, a - 1] = p
    return {"est": est, "se": se, "df": np.full((trials, K), np.inf), "status": status,
            "z": z, "p2": p2, "rates": rates}


def _test(h: Hypothesis, r: dict[str, np.ndarray], sides: int) -> tuple[np.ndarray, ...]:
    """Oriented t (benefit positive), one-sided and two-sided p-values for one hypothesis."""
    j = h.arm - 1
    est, se, df = r["est"][:, j], r["se"][:, j], r["df"][:, j]
    if "z" in r:      # responder tests give their own statistic and two-sided p
        t = r["z"][:, j]
        p1 = special.ndtr(-t)
        p2 = r["p2"][:, j]
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            t = h.sign * (est - h.m0) / se
        dff = np.where(np.isfinite(df), df, 1e9)
        p1 = stats.t.sf(t, dff)
        p2 = 2.0 * stats.t.sf(np.abs(t), dff)
    bad = ~np.isfinite(t)
    t = np.where(bad, 0.0, t)
    p1 = np.where(bad, 1.0, p1)
    p2 = np.where(bad, 1.0, p2)
    return t, p1, p2, np.where(np.isfinite(df), df, np.inf), bad


def _family(dm: DesignModel, t, p, df, sizes) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicity-adjusted rejections and tested flags, (trials, H)."""
    sc = dm.scenario
    alpha, sides = sc.design.alpha, sc.design.sides
    m = sc.multiplicity
    H = len(dm.hypotheses)
    tested = np.ones(p.shape, dtype=bool)
    if m.method == "none":
        return p <= alpha, tested
    if m.method in ("bonferroni", "holm", "hochberg"):
        return multiplicity.adjust(p, m.method, alpha), tested
    corr = multiplicity.dunnett_corr(int(sizes[0]), [int(x) for x in sizes[1:]])
    if m.method == "dunnett":
        return _dunnett(t, df, corr, alpha, sides), tested
    K = len(dm.arms)
    n_end = H // K
    if m.method == "fixed_sequence":
        fams = [[h] for h in range(H)]
        within = "bonferroni"
    else:
        fams = [list(range(e * K, (e + 1) * K)) for e in range(n_end)]
        within = m.within
    if within == "dunnett":
        return _gate_dunnett(fams, t, df, corr, alpha, sides, p)
    return multiplicity.hierarchical(p, fams, alpha, within=within)


_DUNNETT_CACHE: dict = {}


def _dunnett(t, df, corr, alpha, sides) -> np.ndarray:
    """Single-step Dunnett, critical value per distinct df (cached)."""
    out = np.zeros(t.shape, dtype=bool)
    dfr = np.where(np.isfinite(df[:, 0]), np.round(df[:, 0]), np.inf)
    for d in np.unique(dfr):
        key = (tuple(np.round(corr, 12).ravel()), float(d), alpha, sides)
        c = _DUNNETT_CACHE.get(key)
        if c is None:
            c = multiplicity.dunnett_critical(corr, float(d), alpha, sides)
            _DUNNETT_CACHE[key] = c
        rows = dfr == d
        tt = t[rows]
        out[rows] = (np.abs(tt) > c) if sides == 2 else (tt > c)
    return out


def _gate_dunnett(fams, t, df, corr, alpha, sides, p):
    reject = np.zeros(t.shape, dtype=bool)
    tested = np.zeros(t.shape, dtype=bool)
    gate = np.ones(t.shape[0], dtype=bool)
    for f in fams:
        r = _dunnett(t[:, f], df[:, f], corr, alpha, sides)
        tested[:, f] = gate[:, None]
        reject[:, f] = r & gate[:, None]
        gate = gate & r.all(axis=1)
    return reject, tested


def run_chunk(dm: DesignModel, seed: int, chunk: int, n_trials: int, ns: tuple[int, ...],
              conducts: dict | None = None) -> dict[str, Any]:
    """One chunk of replicate trials at every control-arm size in ``ns``.

    Patients are drawn once, at the largest size of each group over ``ns``; each N analyses the
    first ``group_sizes(dm, N)`` patients of each group (the same patients a run at that N
    alone would draw). ``conducts`` maps N to its conduct replicates
    (:class:`~simtrial.sim.conduct.ConductResult`).

    Returns
    -------
    dict
        ``chunk``, ``trials``, ``screened`` / ``accepted`` (strata,) and ``by_n``: N -> dict of
        per-trial arrays (``point_est``, ``point_reject``, ... shaped (trials, H)).
    """
    sc = dm.scenario
    trials = min(CHUNK_TRIALS, n_trials - chunk * CHUNK_TRIALS)
    per_n = {int(n): group_sizes(dm, int(n)) for n in ns}
    top = np.max(np.stack(list(per_n.values())), axis=0)
    groups = [_draw_group(dm, seed, chunk, s, a, int(top[s, a]))
              for s in range(len(dm.strata)) for a in range(len(dm.arms) + 1)]
    S = len(dm.strata)
    screened = np.array([sum(g.screened for g in groups if g.stratum == s) for s in range(S)])
    accepted = np.array([sum(g.accepted for g in groups if g.stratum == s) for s in range(S)])
    dist = dm.models[0].distribution
    variants: dict[str, np.ndarray | None] = {"point": None}
    theta = None
    if dist is not None and not dist.is_point:
        theta = dist.sample(chunk_generator(seed, chunk, EFFECT), CHUNK_TRIALS)
        m0 = dm.models[0]
        d_end = float(m0.delta[sc.endpoint.outcome][m0.k_end])
        dt = m0.delta_for(theta)
        variants["assurance"] = dt / d_end if d_end != 0.0 else dt
    by_n: dict[int, dict[str, Any]] = {n: {} for n in per_n}
    for vname, ts in variants.items():
        data = _patients(dm, groups, ts)
        for n, sizes in per_n.items():
            link = None
            if conducts is not None:    # calendar from the conduct replicates (sim.conduct)
                link = link_chunk(conducts[n], chunk, CHUNK_TRIALS)
            # analysis memory: the largest N analyses the drawn patients themselves (a shallow
            # copy, whose attributes _analyse_trials may rebind), smaller N their first patients
            sub = (PatientData(**vars(data)) if np.array_equal(sizes.ravel(), data.sizes)
                   else data.first(sizes.ravel()))
            by_n[n].update(_analyse_trials(dm, sub, vname, trials, seed, chunk, link))
    for n in per_n:
        if theta is not None:
            by_n[n]["theta"] = theta[:trials]
    return {"chunk": chunk, "trials": trials, "screened": screened, "accepted": accepted,
            "by_n": by_n}


def _analyse_trials(dm: DesignModel, data: PatientData, vname: str, trials: int, seed: int,
                    chunk: int, link) -> dict[str, np.ndarray]:
    """Analyses, tests, multiplicity / interim looks of one chunk at one N for one effect
    variant (``point`` or ``assurance``): per-trial arrays keyed ``{vname}_...``."""
    sc = dm.scenario
    out: dict[str, np.ndarray] = {}
    if link is not None:
        data.obs = data.obs & link.observed        # conduct withdrawal
    arm_sizes = data.sizes.reshape(len(dm.strata), len(dm.arms) + 1).sum(axis=0)
    full = np.arange(data.arm.size)
    res = [_analyse_endpoint(dm, ei, data, full, trials, (seed, chunk, imputation_code(ei)))
           for ei in range(len(sc.all_endpoints))]
    H = len(dm.hypotheses)
    t = np.empty((trials, H))
    p1 = np.empty((trials, H))
    p2 = np.empty((trials, H))
    df = np.empty((trials, H))
    est = np.empty((trials, H))
    se = np.empty((trials, H))
    status = np.empty((trials, H), dtype=np.int64)
    for h in dm.hypotheses:
        r = res[h.endpoint_index]
        t[:, h.index], p1[:, h.index], p2[:, h.index], df[:, h.index], _ = _test(
            h, r, sc.design.sides)
        est[:, h.index] = r["est"][:, h.arm - 1]
        se[:, h.index] = r["se"][:, h.arm - 1]
        status[:, h.index] = r["status"][:, h.arm - 1]
    p = p1 if sc.design.sides == 1 else p2
    raw = p <= sc.design.alpha
    if dm.boundaries is not None:
        zs = [_t_to_z(t[:, 0], df[:, 0])]
        for li, fr in enumerate(sc.sequential.fractions[:-1]):
            code = (seed, chunk, imputation_code(0, li + 1))
            if link is None:
                r = _analyse_endpoint(dm, 0, data, _subset(data, fr), trials, code)
            else:   # everyone randomised, with the visits done by the look's day
                r = _analyse_endpoint(dm, 0, data, full, trials, code, due=link.due(li))
            tl, _, _, dfl, _ = _test(dm.hypotheses[0], r, sc.design.sides)
            zs.insert(li, _t_to_z(tl, dfl))
        zmat = np.column_stack(zs)
        rej, look, why = gsd.apply_boundaries(zmat, dm.boundaries, better="higher")
        reject = raw.copy()
        reject[:, 0] = rej
        tested = np.ones_like(reject)
        fr = np.asarray(sc.sequential.fractions)
        n_at = np.array([sum(math.ceil(f * n - 1e-9) for n in data.sizes) for f in fr])
        out[f"{vname}_gsd_look"] = look
        out[f"{vname}_gsd_why"] = why
        out[f"{vname}_gsd_n"] = n_at[look]
        if link is not None:
            cal = link.outcomes(data.obs, trials, look)
            out[f"{vname}_gsd_n"] = cal["conduct_randomised_stop"]
            if vname == "point":
                out.update(cal)
        out[f"{vname}_gsd_z"] = zmat
    else:
        reject, tested = _family(dm, t, p, df, arm_sizes)
    out[f"{vname}_est"] = est
    out[f"{vname}_se"] = se
    out[f"{vname}_t"] = t
    out[f"{vname}_p"] = p
    out[f"{vname}_reject_raw"] = raw
    out[f"{vname}_reject"] = reject
    out[f"{vname}_success"] = reject & (t > 0)
    out[f"{vname}_tested"] = tested
    out[f"{vname}_status"] = status
    for ei, r in enumerate(res):
        if "rates" in r:
            out[f"{vname}_rates_{ei}"] = r["rates"]
    if vname == "point":
        if link is not None and dm.boundaries is None:
            out.update(link.outcomes(data.obs, trials))
        a_of = data.arm
        K1 = len(dm.arms) + 1
        out["observed"] = np.stack(
            [data.obs[:trials][:, a_of == a].sum(axis=1) for a in range(K1)],
            axis=1)          # (trials, arms + 1, V)
        e = sc.endpoint
        if e.type == "continuous" and OUTCOMES[e.outcome].zero_event:
            zero = data.vals[e.outcome][:trials, :, dm.visit_index(e)] == 0.0
            out["zeros"] = np.stack([zero[:, a_of == a].sum(axis=1) for a in range(K1)], axis=1)
        if dm.models[0].heterogeneity.mode == "responders":
            out["responders"] = (data.mult[:trials][:, a_of > 0] > 0).sum(axis=1)
    return out


def draw_patients(dm: DesignModel, seed: int, n: int, chunk: int = 0) -> PatientData:
    """The patients of chunk ``chunk`` (replicate trials ``chunk * CHUNK_TRIALS`` onwards) of a
    run at control-arm size ``n``, with the point effect, exactly as :func:`run_chunk` analyses
    them (same streams; dropout applied, conduct withdrawal not). Arrays are (CHUNK_TRIALS, P,
    ...); patients are group-major (stratum, then arm 0 = control, 1..K)."""
    return draw_conditions(dm, seed, n, chunk, (False,))[0][0]


def draw_conditions(dm: DesignModel, seed: int, n: int, chunk: int, nulls: tuple[bool, ...]
                    ) -> tuple[list[PatientData], int, int]:
    """The patients of :func:`draw_patients` under each condition of ``nulls``: the point
    effect (False) or no effect in any arm (True: the same patients with every outcome's effect
    scaled by 0 and dropout re-evaluated on their values; insulin-independence events, drawn per
    arm, are kept). Also the candidates screened and accepted over all groups."""
    sizes = group_sizes(dm, n)
    groups = [_draw_group(dm, seed, chunk, s, a, int(sizes[s, a]))
              for s in range(len(dm.strata)) for a in range(len(dm.arms) + 1)]
    out = [_patients(dm, groups, np.zeros(CHUNK_TRIALS) if null else None) for null in nulls]
    return out, sum(g.screened for g in groups), sum(g.accepted for g in groups)


def analyse_primary(dm: DesignModel, data: PatientData, trials: int, due: np.ndarray,
                    arms: tuple[int, ...] | None, code: tuple[int, int, int],
                    visit: int | None = None) -> dict[str, np.ndarray]:
    """``est``, ``se``, ``df``, ``status`` (trials, arms) of the primary continuous endpoint on
    the patients and visits ``due`` (trials, P, V) marks, in a model with ``arms`` (default
    every MSC arm) and control, at the endpoint visit or visit index ``visit``: one analysis of
    :func:`run_chunk`'s on a subset of patients."""
    return _analyse_endpoint(dm, 0, data, np.arange(data.arm.size), trials, code, due, arms,
                             visit)


def one_trial(dm: DesignModel, seed: int, n: int, trial: int = 0
              ) -> dict[int, dict[str, np.ndarray]]:
    """Patients of replicate trial ``trial`` (< CHUNK_TRIALS, chunk 0) of a run at control-arm
    size ``n``: per arm (0 = control), per simulated outcome, an array (patients, 1 + visits)
    of the baseline then each visit's value, NaN where the visit is not observed (dropout).
    The same streams as the run, so it is a trial of the run."""
    sizes = group_sizes(dm, n)
    K1 = len(dm.arms) + 1
    per_arm: dict[int, list[dict[str, np.ndarray]]] = {a: [] for a in range(K1)}
    for s in range(len(dm.strata)):
        for a in range(K1):
            g = _draw_group(dm, seed, 0, s, a, int(sizes[s, a]))
            vals = _values(dm, g, None)
            obs = _observed(dm, g, vals)[trial]
            per_arm[a].append({o: np.column_stack([g.base[o][trial],
                                                   np.where(obs, vals[o][trial], np.nan)])
                               for o in dm.outcomes})
    return {a: {o: np.concatenate([x[o] for x in per_arm[a]], axis=0) for o in dm.outcomes}
            for a in range(K1)}


RATE_PATIENTS = 100
"""Control-arm size per trial at most used by :func:`control_responder_rate` (with the chunk's
1,000 trials, 100,000 control patients: an MC SE of the rate below 0.002)."""


def control_responder_rate(dm: DesignModel, seed: int, n: int, endpoint_index: int) -> float:
    """Share of control patients meeting responder endpoint ``endpoint_index``'s criteria at
    its visit (all patients, before dropout), over one chunk of the run's patients at size
    ``n`` (at most :data:`RATE_PATIENTS` per trial: the rate is a property of the model, and
    ``validate`` must not draw a chunk of a 100,000-patient design): the null responder
    probability for the exact size of the responder tests."""
    e = dm.scenario.all_endpoints[endpoint_index]
    m_n = min(int(n), RATE_PATIENTS)
    while m_n < n and group_sizes(dm, m_n).min() < 1:    # every group drawn
        m_n += 1
    d = draw_patients(dm, seed, m_n)
    m = d.arm == 0
    k = dm.visit_index(e)
    resp = _responder(e, {o: d.vals[o][:, m] for o in e.outcomes},
                      {o: d.base[o][:, m] for o in e.outcomes}, k)
    return float(np.mean(resp))
