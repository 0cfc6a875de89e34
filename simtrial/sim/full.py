"""The design engine: several arms, strata, endpoints, dropout, MMRM / MI, responders,
multiplicity and interim looks, vectorised over replicate trials.

The plain engine (:mod:`simtrial.engine`) evaluates one endpoint of a two-arm trial through
prefix sums. Designs that need more (``Scenario.extended``) come here. Each replicate trial is
simulated in full at one arm size ``n`` (control arm), arrays shaped ``(trials, patients,
visits)`` for a chunk of :data:`~simtrial.engine.CHUNK_TRIALS` trials:

1. **Groups.** Patients are simulated by group = (stratum, arm). The control arm has ``n``
   patients, MSC arm ``a`` ``round(ratio_a n)``; with ``population.strata`` each arm is split
   over the strata by their fractions (largest remainder), which is what permuted-block
   randomisation stratified by diabetes type achieves: exact balance within strata. Each stratum
   uses its own resolved :class:`~simtrial.model.TrialModel` (preset population, natural history
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
   ``[conduct]`` (:mod:`simtrial.conduct`) each trial takes its calendar from a conduct
   replicate instead: look ``l`` is a calendar day and analyses the visits done by then, and
   conduct withdrawal removes later visits; see that module for the mapping.

Random streams: chunk ``c`` of group (stratum s, arm a) draws baselines from
``SeedSequence(seed, spawn_key=(c, 1000 + 100 s + 10 a))``, outcomes from ``... + 1`` and dropout
from ``... + 2``; trial effects from stream 4 (as the plain engine) and imputations from
``5000 + look * 100 + endpoint``. Patient i of a group is the same whatever ``n``, so designs
differing in N share draws, and results do not depend on the number of workers.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from ..stats import gsd, mmrm
from .._rng import CHUNK_TRIALS, chunk_count, chunk_generator, group_codes, imputation_code
from .prefix import draw_baselines, stream
from ..model.stratum import TrialModel, build_model
from ..model.outcomes import OUTCOMES, latent, to_model, to_natural
from ..model.presets import PRESET_POPULATION
from ..scenario import ArmConfig, EndpointConfig, Scenario

__all__ = ["DesignModel", "Hypothesis", "DesignResult", "build_design", "simulate_design",
           "group_sizes", "dropout_hazards", "design_features"]

MAX_ARMS = 8


@dataclass(frozen=True)
class Hypothesis:
    """One null hypothesis: MSC arm ``arm`` (1-based) versus control on endpoint ``endpoint``.

    ``truth`` is the true effect on the analysis scale at the point effect (natural-scale MD,
    log ratio for ``scale = "log"``; NaN for responder endpoints, whose risk difference is an
    output), ``m0`` the null value, ``sign`` +1 if higher is better, and ``true_null`` whether
    the truth lies on the null side (used for the family-wise error rate).
    """

    index: int
    endpoint_index: int
    endpoint: EndpointConfig
    arm: int
    arm_name: str
    label: str
    truth: float
    m0: float
    sign: int
    true_null: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain summary for manifests."""
        return {"index": self.index, "label": self.label, "endpoint": self.endpoint.name,
                "outcome": self.endpoint.outcome, "type": self.endpoint.type,
                "analysis": self.endpoint.analysis, "visit_months": self.endpoint.visit_months,
                "arm": self.arm_name, "truth": None if math.isnan(self.truth) else self.truth,
                "null_value": self.m0, "benefit_sign": self.sign, "true_null": self.true_null}


@dataclass(frozen=True)
class DesignModel:
    """A resolved extended design: one :class:`TrialModel` per stratum plus the design.

    Attributes
    ----------
    scenario : Scenario
    strata : tuple of str
        Preset per stratum (one stratum without ``population.strata``).
    fractions : tuple of float
    models : tuple of TrialModel
        Per stratum.
    arms : tuple of ArmConfig
        MSC arms.
    outcomes : tuple of str
        Outcomes simulated (endpoints' and the dropout driver's).
    hypotheses : tuple of Hypothesis
    boundaries : gsd.Boundaries or None
    """

    scenario: Scenario
    strata: tuple[str, ...]
    fractions: tuple[float, ...]
    models: tuple[TrialModel, ...]
    arms: tuple[ArmConfig, ...]
    visits: tuple[int, ...]
    outcomes: tuple[str, ...]
    hypotheses: tuple[Hypothesis, ...]
    boundaries: Any = None

    @property
    def n_groups(self) -> int:
        return len(self.strata) * (len(self.arms) + 1)

    def visit_index(self, e: EndpointConfig) -> int:
        """Index of an endpoint's visit in :attr:`visits`."""
        return self.visits.index(e.visit_months)

    def describe(self) -> dict[str, Any]:
        """Resolved design as plain data, for the manifest."""
        sc = self.scenario
        d: dict[str, Any] = {
            "engine": "simtrial.trial (full patient-level design engine)",
            "strata": {s: f for s, f in zip(self.strata, self.fractions)},
            "arms": [{"name": "control", "ratio": 1.0, "effect_scale": 0.0}]
            + [{"name": a.name, "ratio": a.ratio, "effect_scale": a.effect_scale}
               for a in self.arms],
            "visits": list(self.visits),
            "outcomes_simulated": list(self.outcomes),
            "hypotheses": [h.as_dict() for h in self.hypotheses],
            "dropout": None if sc.dropout is None else {
                "mechanism": sc.dropout.mechanism, "outcome": sc.dropout.outcome,
                "strength": sc.dropout.strength, "intermittent": sc.dropout.intermittent,
                "hazard_per_visit": list(dropout_hazards(sc, self.visits)),
                "cumulative_mcar": 1.0 - float(np.prod(1.0 - dropout_hazards(sc, self.visits)))},
            "multiplicity": {"method": sc.multiplicity.method,
                             "within": sc.multiplicity.within
                             if sc.multiplicity.method == "hierarchical" else None},
            "sequential": None if self.boundaries is None else self.boundaries.as_dict(),
            "screen_fail_prob": {s: m.screen_fail_prob for s, m in zip(self.strata, self.models)},
            "stratum_models": {s: m.describe() for s, m in zip(self.strata, self.models)},
        }
        return d


def design_features(sc: Scenario) -> list[str]:
    """Short labels of what makes a design differ from the plain two-arm trial (for titles)."""
    extra = []
    if sc.dropout is not None:
        extra.append(f"{sc.dropout.mechanism.upper()} dropout")
    if sc.sequential is not None:
        extra.append(f"{len(sc.sequential.fractions)} looks ({sc.sequential.spending})")
    if sc.multiplicity.method != "none":
        extra.append(sc.multiplicity.method)
    return extra


def dropout_hazards(sc: Scenario, visits: tuple[int, ...]) -> np.ndarray:
    """Conditional dropout probability before each visit (before any MAR/MNAR shift).

    ``rate`` R (cumulative by the last visit) is spread in proportion to elapsed time:
    ``p_j = 1 - (1 - R) ** ((m_j - m_{j-1}) / m_V)``.
    """
    d = sc.dropout
    if d is None:
        return np.zeros(len(visits))
    if d.per_visit is not None:
        return np.asarray(d.per_visit, dtype=float)
    m = np.asarray((0,) + tuple(visits), dtype=float)
    return 1.0 - (1.0 - d.rate) ** (np.diff(m) / m[-1])


def group_sizes(dm: DesignModel, n: int) -> np.ndarray:
    """Patients per (stratum, arm) for control-arm size ``n``; shape (strata, arms + 1)."""
    sc = dm.scenario
    arm_n = [int(n)] + [sc.design.__class__(n, a.ratio).n_msc(int(n)) for a in dm.arms]
    fr = np.asarray(dm.fractions)
    out = np.zeros((len(fr), len(arm_n)), dtype=np.int64)
    for j, na in enumerate(arm_n):
        raw = fr * na
        base = np.floor(raw).astype(np.int64)
        rest = na - int(base.sum())
        order = np.argsort(-(raw - base), kind="stable")
        base[order[:rest]] += 1
        out[:, j] = base
    return out


def _sign(od_name: str) -> int:
    return 1 if OUTCOMES[od_name].better == "higher" else -1


def build_design(sc: Scenario) -> DesignModel:
    """Resolve an extended scenario: stratum models, hypotheses, boundaries.

    Raises
    ------
    ScenarioError
        As :func:`simtrial.model.build_model`, for any stratum.
    """
    strata = tuple(sc.population.strata) if sc.population.strata else (sc.population.preset,)
    fractions = tuple(sc.population.strata.values()) if sc.population.strata else (1.0,)
    models = []
    for s in strata:
        sub = sc if s == sc.population.preset and len(strata) == 1 else sc.replace(**{
            "population.preset": s, "effect.population": PRESET_POPULATION[s]})
        models.append(build_model(sub))
    arms = sc.msc_arms
    if len(arms) > MAX_ARMS:
        raise ValueError(f"at most {MAX_ARMS} MSC arms")
    visits = models[0].visits
    outs = []
    for e in sc.all_endpoints:
        outs.extend(e.outcomes)
    if sc.dropout is not None and sc.dropout.outcome:
        outs.append(sc.dropout.outcome)
    outcomes = tuple(dict.fromkeys(outs))
    hyps = []
    for ei, e in enumerate(sc.all_endpoints):
        for ai, a in enumerate(arms, start=1):
            k = visits.index(e.visit_months)
            if e.type == "responder":
                sign = 1
                truth = math.nan
                null = a.effect_scale == 0.0 or all(
                    float(m.md[o][k]) == 0.0 for m in models for o in e.outcomes)
                m0 = 0.0
            else:
                sign = _sign(e.outcome)
                if e.scale == "log":
                    per = [float(m.delta[e.outcome][k]) for m in models]
                else:
                    per = [float(m.md[e.outcome][k]) for m in models]
                truth = a.effect_scale * float(np.dot(fractions, per))
                m0 = sign * e.margin if e.hypothesis == "superiority" else -sign * e.margin
                null = sign * (truth - m0) <= 1e-12
            label = e.name if len(arms) == 1 else f"{e.name}:{a.name}"
            hyps.append(Hypothesis(len(hyps), ei, e, ai, a.name, label, truth, m0, sign, null))
    bounds = None
    if sc.sequential is not None:
        q = sc.sequential
        bounds = gsd.boundaries(q.fractions, alpha=sc.design.alpha, sides=sc.design.sides,
                                spending=q.spending, gamma=q.gamma, futility=q.futility,
                                binding=q.binding)
    return DesignModel(sc, strata, fractions, tuple(models), arms, visits, outcomes,
                       tuple(hyps), bounds)


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
    u_drop: np.ndarray | None            # (trials, n, V)
    u_miss: np.ndarray | None


def _draw_group(dm: DesignModel, seed: int, chunk: int, s: int, a: int, n: int) -> _Group:
    model = dm.models[s]
    c_base, c_out, c_drop = group_codes(s, a)
    pop = model.population
    het = model.heterogeneity
    mod_var = het.modifier if het.mode == "modifier" else None
    extra = tuple(OUTCOMES[o].baseline for o in dm.outcomes) + ((mod_var,) if mod_var else ())
    t = CHUNK_TRIALS
    if n == 0:
        vals = {v: np.empty((0, t)) for v in extra}
    else:
        vals, _, _ = draw_baselines(pop, chunk_generator(seed, chunk, c_base), t, n, extra, pop.chol)
    v = len(dm.visits)
    n_out = len(dm.outcomes)
    from .patients import residual_cholesky
    L = residual_cholesky(model, dm.outcomes)
    raw = chunk_generator(seed, chunk, c_out).standard_normal((n, t, n_out * v + 1))
    eps = raw[..., :n_out * v] @ L.T
    primary = dm.scenario.endpoint.outcome
    mult = None
    if a > 0 and het.mode != "none":
        mult = het.multiplier(raw[..., -1], vals[mod_var] if mod_var else None).T.copy()
    base = {}
    lat = {}
    for j, o in enumerate(dm.outcomes):
        od = OUTCOMES[o]
        y0 = vals[od.baseline]
        base[o] = y0.T.copy()
        lat[o] = np.ascontiguousarray(
            latent(model.outcomes[o], to_model(od, y0), eps[..., j * v:(j + 1) * v], 0,
                   np.zeros(v)).transpose(1, 0, 2))
    u_drop = u_miss = None
    if dm.scenario.dropout is not None:
        g = chunk_generator(seed, chunk, c_drop)
        u_drop = g.random((n, t, v)).transpose(1, 0, 2)
        u_miss = g.random((n, t, v)).transpose(1, 0, 2)
    del primary
    return _Group(s, a, n, base, lat, mult, u_drop, u_miss)


def _values(dm: DesignModel, g: _Group, theta_scale: np.ndarray | None) -> dict[str, np.ndarray]:
    """Natural-scale values (trials, n, V) of each outcome with arm ``g.arm``'s effect.

    ``theta_scale`` (trials,) rescales the primary outcome's effect per trial (assurance).
    """
    model = dm.models[g.stratum]
    primary = dm.scenario.endpoint.outcome
    scale = 0.0 if g.arm == 0 else dm.arms[g.arm - 1].effect_scale
    out = {}
    for o in dm.outcomes:
        x = g.latent0[o]
        if scale != 0.0:
            d = scale * model.delta[o]
            if o == primary:
                if theta_scale is None:
                    eff = d[None, None, :]
                elif np.any(d):
                    eff = theta_scale[:, None, None] * d[None, None, :]
                else:   # point effect 0: per-trial effects with a linear onset
                    eff = scale * theta_scale[:, None, None] * _onset(dm)[None, None, :]
                if g.mult is not None:
                    eff = eff * g.mult[..., None]
                x = x + eff
            elif np.any(d):
                x = x + d
        out[o] = to_natural(OUTCOMES[o], x)
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
    if d.mechanism != "mcar":
        od = OUTCOMES[d.outcome]
        vm = dm.models[g.stratum].outcomes[d.outcome]
        sgn = -_sign(d.outcome)       # a worse value raises dropout when strength > 0

        def score(x_nat):
            return sgn * (to_model(od, x_nat) - vm.m0) / vm.s0
        last = score(g.base[d.outcome])
    for j in range(v):
        if d.mechanism == "mcar":
            h = p[j]
        else:
            s = last if d.mechanism == "mar" else score(vals[d.outcome][..., j])
            h = special.expit(lp[j] + d.strength * s)
        in_study &= ~(g.u_drop[..., j] < h)
        obs[..., j] = in_study & (g.u_miss[..., j] >= d.intermittent)
        if d.mechanism == "mar":
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
class _Data:
    """A chunk's patients concatenated over groups for one effect variant."""

    arm: np.ndarray          # (P,) 0 = control, 1..K
    stratum: np.ndarray      # (P,)
    group_start: np.ndarray  # (groups + 1,) offsets
    vals: dict[str, np.ndarray]   # (trials, P, V)
    base: dict[str, np.ndarray]   # (trials, P)
    obs: np.ndarray          # (trials, P, V)


def _concat(dm, groups, per_group_vals, per_group_obs) -> _Data:
    arm = np.concatenate([np.full(g.n, g.arm) for g in groups])
    stratum = np.concatenate([np.full(g.n, g.stratum) for g in groups])
    starts = np.cumsum([0] + [g.n for g in groups])
    vals = {o: np.concatenate([v[o] for v in per_group_vals], axis=1) for o in dm.outcomes}
    base = {o: np.concatenate([g.base[o] for g in groups], axis=1) for o in dm.outcomes}
    obs = np.concatenate(per_group_obs, axis=1)
    return _Data(arm, stratum, starts, vals, base, obs)


def _subset(data: _Data, groups, frac: float) -> np.ndarray:
    """Patient indices of the first ceil(frac n_g) patients of each group."""
    idx = [np.arange(s, s + math.ceil(frac * g.n - 1e-9)) for s, g in zip(data.group_start, groups)]
    return np.concatenate(idx)


def _analyse_endpoint(dm: DesignModel, ei: int, data: _Data, idx: np.ndarray, trials: int,
                      rng_code: tuple[int, int, int], due: np.ndarray | None = None
                      ) -> dict[str, np.ndarray]:
    """est, se, df, status for each MSC arm (trials, K) on patients ``idx``; ``due`` (trials,
    P, V) masks the visits whose day has come (conduct interim looks)."""
    sc = dm.scenario
    e = sc.all_endpoints[ei]
    k = dm.visit_index(e)
    K = len(dm.arms)
    S = len(dm.strata)
    arm = data.arm[idx]
    strat = data.stratum[idx]
    obs = data.obs[:trials][:, idx]
    if due is not None:
        due = due[:trials][:, idx]
        obs = obs & due
    P = idx.size
    dummies = [np.broadcast_to((arm == a).astype(float), (trials, P)) for a in range(1, K + 1)]
    sdum = [np.broadcast_to((strat == s).astype(float), (trials, P)) for s in range(1, S)]
    ones = np.ones((trials, P))
    if e.type == "continuous":
        y_all = data.vals[e.outcome][:trials][:, idx]
        y0 = data.base[e.outcome][:trials][:, idx]
        if e.scale == "log":
            x = np.log(y0)
            y = np.log(y_all) - x[..., None]
        else:
            x = y0
            y = y_all - y0[..., None]
        cols = [ones] + dummies
        if e.analysis != "ttest_change":
            # centred within each trial (estimates are invariant; keeps every trial's numbers
            # independent of which chunk it is computed in)
            cols.append(x - x.mean(axis=1, keepdims=True))
        cols += sdum
        z = np.stack(cols, axis=-1)
        columns = list(range(1, K + 1))
        status = np.zeros((trials, K), dtype=np.int64)
        if e.analysis in ("ancova", "ttest_change"):
            est, se, df = mmrm.ols(y[..., k], obs[..., k], z, columns)
        elif e.analysis == "mmrm":
            r = mmrm.mmrm(y, obs, z, columns=columns, visit=k)
            est, se, df = r.est, r.se, r.df
            status = np.broadcast_to(np.asarray(r.status)[:, None], (trials, K)).copy()
        else:
            gen = chunk_generator(*rng_code)
            r = mmrm.mi_ancova(y, obs, z, columns=columns, visit=k, m=e.imputations, rng=gen)
            est, se, df = r.est, r.se, r.df
            status = np.broadcast_to((~np.asarray(r.converged)).astype(np.int64)[:, None],
                                     (trials, K)).copy()
        bad = ~np.isfinite(est) | ~np.isfinite(se)
        status[bad & (status == 0)] = 2
        return {"est": est, "se": se, "df": np.broadcast_to(df, est.shape).astype(float),
                "status": status}
    # responder endpoint
    from ..stats import binary
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
    from ..stats import multiplicity
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
    from ..stats import multiplicity
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


def _run_chunk(dm: DesignModel, seed: int, chunk: int, n_trials: int, n: int,
               conduct=None) -> dict[str, Any]:
    sc = dm.scenario
    link = None
    if conduct is not None:     # calendar from the conduct replicates (simtrial.conduct)
        from ..conduct import link_chunk
        link = link_chunk(conduct, chunk, CHUNK_TRIALS)
    trials = min(CHUNK_TRIALS, n_trials - chunk * CHUNK_TRIALS)
    sizes = group_sizes(dm, n)
    groups = [_draw_group(dm, seed, chunk, s, a, int(sizes[s, a]))
              for s in range(len(dm.strata)) for a in range(len(dm.arms) + 1)]
    dist = dm.models[0].distribution
    variants: dict[str, np.ndarray | None] = {"point": None}
    theta = None
    if dist is not None and not dist.is_point:
        theta = dist.sample(stream(seed, chunk, "effect"), CHUNK_TRIALS)
        m0 = dm.models[0]
        d_end = float(m0.delta[sc.endpoint.outcome][m0.k_end])
        dt = m0.delta_for(theta)
        variants["assurance"] = dt / d_end if d_end != 0.0 else dt
    arm_sizes = sizes.sum(axis=0)
    out: dict[str, Any] = {"chunk": chunk, "trials": trials}
    H = len(dm.hypotheses)
    for vname, ts in variants.items():
        pv = [_values(dm, g, ts) for g in groups]
        po = [_observed(dm, g, v) for g, v in zip(groups, pv)]
        data = _concat(dm, groups, pv, po)
        if link is not None:
            data.obs = data.obs & link.observed        # conduct withdrawal
        full = np.arange(data.arm.size)
        res = [_analyse_endpoint(dm, ei, data, full, trials, (seed, chunk, imputation_code(ei)))
               for ei in range(len(sc.all_endpoints))]
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
                    r = _analyse_endpoint(dm, 0, data, _subset(data, groups, fr), trials, code)
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
            n_at = np.array([sum(math.ceil(f * g.n - 1e-9) for g in groups) for f in fr])
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
        success = reject & (t > 0)
        out[f"{vname}_est"] = est
        out[f"{vname}_se"] = se
        out[f"{vname}_t"] = t
        out[f"{vname}_p"] = p
        out[f"{vname}_reject_raw"] = raw
        out[f"{vname}_reject"] = reject
        out[f"{vname}_success"] = success
        out[f"{vname}_tested"] = tested
        out[f"{vname}_status"] = status
        for ei, r in enumerate(res):
            if "rates" in r:
                out[f"{vname}_rates_{ei}"] = r["rates"]
        if vname == "point" and link is not None and dm.boundaries is None:
            out.update(link.outcomes(data.obs, trials))
        if vname == "point":
            a_of = data.arm
            out["observed"] = np.stack(
                [data.obs[:trials][:, a_of == a].sum(axis=1) for a in range(len(dm.arms) + 1)],
                axis=1)          # (trials, arms + 1, V)
    if theta is not None:
        out["theta"] = theta[:trials]
    out["screened"] = np.zeros(len(dm.strata), dtype=np.int64)
    return out


_WORKER_DM = None


def _init_worker(dm) -> None:
    global _WORKER_DM
    _WORKER_DM = dm
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _worker_chunk(args):
    return _run_chunk(_WORKER_DM, *args)


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------

def _rate(x: np.ndarray) -> tuple[float, float]:
    n = x.shape[0]
    p = float(np.mean(x))
    return p, math.sqrt(max(p * (1 - p), 0.0) / n) if n > 1 else float("nan")


def _mean(x: np.ndarray) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    if x.size < 2:
        return float("nan"), float("nan")
    return float(np.mean(x)), float(np.std(x, ddof=1) / math.sqrt(x.size))


@dataclass(frozen=True)
class DesignResult:
    """Simulated operating characteristics of an extended design at one control-arm size.

    ``trials`` holds the per-trial arrays (``point_est``, ``point_reject``, ... shaped
    (n_trials, H)); :meth:`to_frame` gives the tidy summary with Monte Carlo SEs.
    """

    dm: DesignModel
    n_per_arm: int
    sizes: np.ndarray
    n_trials: int
    seed: int
    trials: dict[str, np.ndarray]
    elapsed_s: float
    conduct: Any = None     # simtrial.conduct.ConductResult when the scenario has [conduct]

    def rows(self) -> list[dict[str, Any]]:
        """Tidy rows: hypothesis metrics, family metrics, interim looks, dropout."""
        sc = self.dm.scenario
        base = {"scenario": sc.name, "design_point": self.n_per_arm}
        rows: list[dict[str, Any]] = []

        def add(hyp: str, endpoint: str, arm: str, visit, metric: str, est: float,
                se: float = float("nan")):
            rows.append({**base, "hypothesis": hyp, "endpoint": endpoint, "arm": arm,
                         "visit": visit, "metric": metric, "estimate": est, "mc_se": se})

        tr = self.trials
        for h in self.dm.hypotheses:
            e = h.endpoint
            key = (h.label, e.name, h.arm_name, e.visit_months)
            add(*key, "power", *_rate(tr["point_reject"][:, h.index]))
            add(*key, "success", *_rate(tr["point_success"][:, h.index]))
            add(*key, "power_unadjusted", *_rate(tr["point_reject_raw"][:, h.index]))
            if sc.multiplicity.method in ("hierarchical", "fixed_sequence"):
                add(*key, "tested", *_rate(tr["point_tested"][:, h.index]))
            add(*key, "mean_estimate", *_mean(tr["point_est"][:, h.index]))
            est = tr["point_est"][:, h.index]
            fin = est[np.isfinite(est)]
            add(*key, "sd_estimate", float(np.std(fin, ddof=1)) if fin.size > 1 else math.nan)
            add(*key, "mean_se", *_mean(tr["point_se"][:, h.index]))
            if not math.isnan(h.truth):
                add(*key, "true_effect", h.truth)
                m, s = _mean(est)
                add(*key, "bias", m - h.truth, s)
            add(*key, "not_fitted", float(np.sum(tr["point_status"][:, h.index] != 0)))
            if "assurance_success" in tr:
                add(*key, "assurance", *_rate(tr["assurance_success"][:, h.index]))
            rk = f"point_rates_{h.endpoint_index}"
            if rk in tr:
                if h.arm == 1:
                    add(h.label, e.name, "control", e.visit_months, "responder_rate",
                        *_mean(tr[rk][:, 0]))
                add(*key, "responder_rate", *_mean(tr[rk][:, h.arm]))
        rej = tr["point_reject"]
        suc = tr["point_success"]
        null = np.array([h.true_null for h in self.dm.hypotheses])
        fam = ("family", "all", "all", "")
        if len(self.dm.hypotheses) > 1:
            add(*fam, "any_success", *_rate(suc.any(axis=1)))
            add(*fam, "all_success", *_rate(suc.all(axis=1)))
            if (~null).any():
                add(*fam, "disjunctive_power", *_rate(suc[:, ~null].any(axis=1)))
                add(*fam, "conjunctive_power", *_rate(suc[:, ~null].all(axis=1)))
        if null.any():
            add(*fam, "fwer", *_rate(rej[:, null].any(axis=1)))
        if "assurance_success" in tr and len(self.dm.hypotheses) > 1:
            add(*fam, "assurance_any", *_rate(tr["assurance_success"].any(axis=1)))
        if self.dm.boundaries is not None:
            look = tr["point_gsd_look"]
            why = tr["point_gsd_why"]
            h0 = self.dm.hypotheses[0]
            for li, frac in enumerate(self.dm.boundaries.fractions):
                k = (h0.label, h0.endpoint.name, h0.arm_name, f"look {li + 1} ({frac:g})")
                add(*k, "stop_efficacy", *_rate((look == li) & (why == 1)))
                add(*k, "stop_futility", *_rate((look == li) & (why == 2)))
                add(*k, "boundary_z", float(self.dm.boundaries.z[li]))
            add(h0.label, h0.endpoint.name, h0.arm_name, "", "expected_patients",
                *_mean(tr["point_gsd_n"].astype(float)))
            add(h0.label, h0.endpoint.name, h0.arm_name, "", "max_patients",
                float(self.sizes.sum()))
        obs = tr["observed"]
        arm_n = self.sizes.sum(axis=0)
        names = ["control"] + [a.name for a in self.dm.arms]
        for a, nm in enumerate(names):
            for j, month in enumerate(self.dm.visits):
                add("", "", nm, month, "observed_fraction", *_mean(obs[:, a, j] / arm_n[a]))
        for s, m in zip(self.dm.strata, self.dm.models):
            add("", "", "", "", f"screen_fail_{s}", m.screen_fail_prob, m.screen_fail_mc_se)
        if self.conduct is not None:
            from ..conduct import design_rows
            rows.extend(design_rows(self, base))
        return rows

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: ``scenario, design_point, hypothesis, endpoint, arm, visit, metric,
        estimate, mc_se``."""
        return pd.DataFrame(self.rows())

    def metric(self, metric: str, hypothesis: str | None = None) -> tuple[float, float]:
        """(estimate, mc_se) of one metric (of one hypothesis label)."""
        for r in self.rows():
            if r["metric"] == metric and (hypothesis is None or r["hypothesis"] == hypothesis):
                return r["estimate"], r["mc_se"]
        raise KeyError(metric)

    def summary(self) -> str:
        """Readable multi-line summary."""
        sc = self.dm.scenario
        lines = [f"scenario  {sc.name}" + (f": {sc.description}" if sc.description else "")]
        strata = ", ".join(f"{s} {f:.0%} (screen fail {m.screen_fail_prob:.1%})"
                           for s, f, m in zip(self.dm.strata, self.dm.fractions, self.dm.models))
        lines.append(f"population {strata}")
        names = ["control"] + [a.name for a in self.dm.arms]
        lines.append("design    " + ", ".join(f"{nm} {int(x)}" for nm, x in
                                             zip(names, self.sizes.sum(axis=0)))
                     + f" patients; {self.n_trials:,} trials, seed {self.seed}")
        if sc.dropout is not None:
            obs = self.trials["observed"][:, :, -1].sum(axis=0) / (self.sizes.sum(axis=0)
                                                                  * self.n_trials)
            lines.append(f"dropout   {sc.dropout.mechanism.upper()}: observed at month "
                         f"{self.dm.visits[-1]}: " + ", ".join(
                             f"{nm} {o:.1%}" for nm, o in zip(names, obs)))
        lines.append(f"{'hypothesis':<28}{'truth':>9}{'mean est':>10}{'power':>8}{'MC SE':>8}"
                     + ("  assurance" if "assurance_success" in self.trials else ""))
        for h in self.dm.hypotheses:
            pw, se = _rate(self.trials["point_reject"][:, h.index])
            m, _ = _mean(self.trials["point_est"][:, h.index])
            e = h.endpoint
            desc = f"{h.label} ({e.analysis}, {e.visit_months}m)"
            line = f"{desc:<28}{h.truth:>9.4g}{m:>10.4g}{pw:>8.4f}{se:>8.4f}"
            if "assurance_success" in self.trials:
                line += f"  {_rate(self.trials['assurance_success'][:, h.index])[0]:.4f}"
            nf = int(np.sum(self.trials["point_status"][:, h.index] != 0))
            if nf:
                line += f"  ({nf} fits failed)"
            lines.append(line)
        for r in self.rows():
            if r["hypothesis"] == "family":
                lines.append(f"{r['metric']:<20}{r['estimate']:.4f} (MC SE {r['mc_se']:.4f})")
        if self.dm.boundaries is not None:
            b = self.dm.boundaries
            look = self.trials["point_gsd_look"]
            why = self.trials["point_gsd_why"]
            for li, frac in enumerate(b.fractions):
                lines.append(f"look {li + 1}    fraction {frac:g}, z bound {b.z[li]:.3f}: stop for "
                             f"efficacy {np.mean((look == li) & (why == 1)):.4f}, futility "
                             f"{np.mean((look == li) & (why == 2)):.4f}")
            lines.append(f"expected  patients {np.mean(self.trials['point_gsd_n']):.1f} of "
                         f"{int(self.sizes.sum())}")
        if self.conduct is not None:
            from ..conduct import design_summary_lines
            lines.extend(design_summary_lines(self))
        lines.append(f"time      {self.elapsed_s:.2f} s")
        return "\n".join(lines)


def simulate_design(dm: DesignModel | Scenario, n_per_arm: int | None = None, *,
                    n_trials: int | None = None, seed: int | None = None, workers: int = 1,
                    progress: bool = False, chunks=None) -> DesignResult:
    """Simulate replicate trials of an extended design at control-arm size ``n_per_arm``.

    Parameters
    ----------
    dm : DesignModel or Scenario
    n_per_arm : int, optional
        Control-arm size (default ``design.n_per_arm``).
    n_trials, seed : int, optional
        Default to the scenario's.
    workers : int
        Processes; results are identical for any value.
    chunks : iterable of int, optional
        Order to run the chunks in (results are combined in chunk order).

    Returns
    -------
    DesignResult
    """
    if isinstance(dm, Scenario):
        dm = build_design(dm)
    sc = dm.scenario
    n = sc.design.n_per_arm if n_per_arm is None else int(n_per_arm)
    n_trials = sc.n_trials if n_trials is None else int(n_trials)
    seed = sc.seed if seed is None else int(seed)
    n_chunks = chunk_count(n_trials)
    order = list(range(n_chunks)) if chunks is None else list(chunks)
    if sorted(order) != list(range(n_chunks)):
        raise ValueError("chunks must be a permutation of range(n_chunks)")
    t0 = time.perf_counter()
    conduct = None
    if sc.conduct is not None:    # trial i takes the calendar of conduct replicate i mod R
        from ..conduct import conduct_design
        conduct = conduct_design(dm, n, seed=seed,
                                 replicates=min(sc.conduct.replicates, n_trials))
    args = [(seed, c, n_trials, n, conduct) for c in order]
    outs: dict[int, dict] = {}
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=n_trials, unit=" trials", desc=f"N={n}", leave=False, mininterval=0.5,
                   dynamic_ncols=True)
    try:
        if workers <= 1:
            for a in args:
                o = _run_chunk(dm, *a)
                outs[o["chunk"]] = o
                if bar is not None:
                    bar.update(o["trials"])
        else:
            with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                                     initargs=(dm,)) as ex:
                for o in ex.map(_worker_chunk, args):
                    outs[o["chunk"]] = o
                    if bar is not None:
                        bar.update(o["trials"])
    finally:
        if bar is not None:
            bar.close()
    keys = [k for k in outs[0] if k not in ("chunk", "trials", "screened")]
    trials = {k: np.concatenate([outs[c][k] for c in range(n_chunks)]) for k in keys}
    return DesignResult(dm, n, group_sizes(dm, n), n_trials, seed, trials,
                        time.perf_counter() - t0, conduct)
