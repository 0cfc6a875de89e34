"""Resolve a validated :class:`~simtrial.scenario.Scenario` into a numeric trial model.

This is the only place the scenario, the presets and the evidence table meet. It

1. builds the population (preset marginals + overrides, copula correlation, criteria) and checks
   the correlation matrix is positive definite;
2. draws a fixed *calibration sample* of screened patients (seeded by a constant, so the model is
   a deterministic function of the scenario, not of its seed) giving the screen-failure
   probability and, per outcome, the mean ``m_0`` and SD ``s_0`` of the model-scale baseline;
3. derives each outcome's per-visit trajectory parameters and refuses infeasible combinations;
4. takes the treatment effect (MD) per visit from the evidence table or the scenario and
   calibrates the model-scale effect so the natural-scale MD is exact;
5. computes the natural-scale moments that the closed-form power formulas need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import evidence as ev
from .errors import EvidenceError, ScenarioError
from .outcomes import (OUTCOMES, EffectNotAttainable, OutcomeDef, VisitModel, calibrate_delta,
                       derive_visit_params, latent, min_sd_change, outcome_correlation, to_model,
                       to_natural, visit_correlation)
from .population import Marginal, PopulationSpec, calibration_sample
from .presets import (OUTCOME_RESIDUAL_CORRELATION, VARIABLES, VISIT_CORRELATION, VISITS,
                      get_preset)
from .scenario import Scenario

__all__ = ["TrialModel", "build_model", "CALIBRATION_LOG2"]

CALIBRATION_LOG2 = 18
"""The calibration sample screens 2**CALIBRATION_LOG2 scrambled-Sobol candidates."""
_CALIBRATION_ENTROPY = 0x51A7_C0DE_2026
"""Fixed seed of the calibration sample (independent of the scenario seed)."""


@dataclass(frozen=True)
class TrialModel:
    """Everything the simulation engine needs, resolved and calibrated.

    Attributes
    ----------
    scenario : Scenario
    population : PopulationSpec
    visits : tuple of int
        Scheduled visits, months.
    outcomes : dict[str, VisitModel]
        Trajectory model per outcome.
    endpoint : VisitModel
        The primary endpoint's model; ``k_end`` indexes its visit.
    md : dict[str, ndarray]
        Natural-scale MD (MSC - control) per outcome per visit.
    delta : dict[str, ndarray]
        Calibrated model-scale effect per outcome per visit.
    md_source : dict[str, list[str]]
        Where each visit's MD came from (evidence row id, "fixed", "interpolated", ...).
    evidence_row : dict or None
        The evidence row behind the endpoint MD.
    screen_fail_prob : float
        Probability a candidate fails screening (calibration-sample estimate).
    analytic : dict
        Natural-scale moments used by the closed-form power (see :mod:`simtrial.analytic`).
    """

    scenario: Scenario
    population: PopulationSpec
    visits: tuple[int, ...]
    outcomes: dict[str, VisitModel]
    endpoint: VisitModel
    k_end: int
    md: dict[str, np.ndarray]
    delta: dict[str, np.ndarray]
    md_source: dict[str, list[str]]
    evidence_row: dict | None
    effect_cv: float
    visit_corr: np.ndarray
    outcome_corr: np.ndarray
    screen_fail_prob: float
    screen_fail_mc_se: float
    analytic: dict[str, float]
    calibration: dict[str, float] = field(default_factory=dict)

    @property
    def outcome_def(self) -> OutcomeDef:
        """Definition of the primary endpoint outcome."""
        return self.endpoint.outcome

    @property
    def endpoint_md(self) -> float:
        """Natural-scale MD at the endpoint visit."""
        return float(self.md[self.endpoint.outcome.name][self.k_end])

    def describe(self) -> dict[str, Any]:
        """Resolved model as plain data, for the manifest."""
        return {
            "population": {
                "preset": self.population.preset,
                "marginals": {k: m.as_dict() for k, m in self.population.marginals.items()},
                "correlation": {f"{VARIABLES[i]},{VARIABLES[j]}": float(self.population.correlation[i, j])
                                for i in range(len(VARIABLES)) for j in range(i + 1, len(VARIABLES))
                                if self.population.correlation[i, j] != 0.0},
                "criteria": {k: list(v) for k, v in self.population.criteria.items()},
                "sources": dict(self.population.sources),
                "screen_fail_prob": self.screen_fail_prob,
                "screen_fail_mc_se": self.screen_fail_mc_se,
            },
            "visits": list(self.visits),
            "outcomes": {k: v.as_dict() for k, v in self.outcomes.items()},
            "endpoint": {"outcome": self.endpoint.outcome.name,
                         "visit_months": self.visits[self.k_end], "md": self.endpoint_md},
            "md": {k: [float(x) for x in v] for k, v in self.md.items()},
            "delta_model_scale": {k: [float(x) for x in v] for k, v in self.delta.items()},
            "md_source": self.md_source,
            "evidence_row": self.evidence_row,
            "effect_cv": self.effect_cv,
            "visit_correlation": self.visit_corr.tolist(),
            "analytic_moments": self.analytic,
            "calibration": self.calibration,
        }


# ---------------------------------------------------------------------------------------------

def _population(sc: Scenario) -> PopulationSpec:
    preset = get_preset(sc.population.preset)
    marginals: dict[str, Marginal] = {}
    sources: dict[str, str] = {}
    for var in VARIABLES:
        params = dict(preset["variables"][var])
        src = params.pop("source", "")
        over = sc.population.marginals.get(var, {})
        if over:
            if "family" in over and over["family"] != params["family"]:
                params = {"family": over["family"]}
            params.update(over)
            src = f"scenario override of preset ({src})" if src else "scenario override"
        family = params["family"]
        if family == "truncnorm":
            params.setdefault("lower", -math.inf)
            params.setdefault("upper", math.inf)
        if family in ("normal", "truncnorm", "lognormal") and ("mean" not in params or "sd" not in params):
            raise ScenarioError(f"scenario error: population.{var} needs mean and sd for family "
                                f'"{family}"')
        if family == "lognormal" and params["mean"] <= 0:
            raise ScenarioError(f"scenario error: population.{var}.mean = {params['mean']} must be "
                                f'> 0 for family "lognormal"')
        if family == "bernoulli" and "p" not in params:
            raise ScenarioError(f"scenario error: population.{var}.p is required for family "
                                f'"bernoulli"')
        keep = {k: params[k] for k in ("mean", "sd", "lower", "upper", "p") if k in params}
        marginals[var] = Marginal(family=family, source=src, **keep)
        sources[var] = src
    d = len(VARIABLES)
    corr = np.eye(d)
    pairs = dict(preset["correlation"])
    pairs.update(sc.population.correlation)
    for (a, b), r in pairs.items():
        i, j = VARIABLES.index(a), VARIABLES.index(b)
        corr[i, j] = corr[j, i] = r
    eig = float(np.linalg.eigvalsh(corr).min())
    if eig <= 1e-8:
        changed = ", ".join(f'"{a},{b}" = {r:g}' for (a, b), r in sc.population.correlation.items())
        raise ScenarioError(
            f"scenario error: population.correlation {{{changed}}} makes the copula correlation "
            f"matrix not positive definite (smallest eigenvalue {eig:.3g}); use weaker correlations")
    sources["correlation"] = preset["correlation_source"] + (
        "; scenario overrides: " + ", ".join(f"{a},{b}" for a, b in sc.population.correlation)
        if sc.population.correlation else "")
    criteria = {k: tuple(v) for k, v in preset["criteria"].items()}
    for k, v in sc.population.criteria.items():
        if v is None:
            criteria.pop(k, None)
        else:
            criteria[k] = v
    sources["criteria"] = preset["criteria_source"] + (
        "; scenario overrides: " + ", ".join(sc.population.criteria) if sc.population.criteria else "")
    return PopulationSpec(sc.population.preset, marginals, corr, criteria, sources)


def _visit_model(sc: Scenario, od: OutcomeDef, x0: np.ndarray, endpoint: bool, k_end: int
                 ) -> VisitModel:
    base = get_preset(sc.population.preset)["outcomes"][od.name]
    om = sc.outcome_model
    per = om.per_outcome.get(od.name, {})
    cc = np.array(per.get("control_change", base["control_change"]), dtype=float)
    sd = np.array(per.get("sd_change", base["sd_change"]), dtype=float)
    rho = np.array(per.get("rho", base["rho"]), dtype=float)
    keys = {"control_change": f"outcome_model.{od.name}.control_change",
            "sd_change": f"outcome_model.{od.name}.sd_change", "rho": f"outcome_model.{od.name}.rho"}
    if endpoint:
        if om.control_change is not None:
            cc[k_end] = om.control_change
            keys["control_change"] = "outcome_model.control_change"
        if om.sd_change is not None:
            sd[k_end] = om.sd_change
            keys["sd_change"] = "outcome_model.sd_change"
        if om.rho is not None:
            rho[k_end] = om.rho
            keys["rho"] = "outcome_model.rho"
    m0 = float(np.mean(x0))
    s0 = float(np.std(x0))
    beta = np.empty(len(VISITS))
    sigma = np.empty(len(VISITS))
    for k, month in enumerate(VISITS):
        lo = min_sd_change(s0, rho[k])
        if sd[k] < lo * (1 + 1e-9):
            key = keys["sd_change"]
            where = "" if key.endswith("model.sd_change") else f"[{k}] (month {month})"
            scale = " (log scale)" if od.scale == "log" else ""
            raise ScenarioError(
                f"scenario error: {key}{where} = {sd[k]:g} is too small for baseline SD "
                f"{s0:.3g}{scale} and rho = {rho[k]:g}: must be > {lo:.3g} = "
                f"sd*sqrt(1-rho^2) (raise it, or raise rho)")
        beta[k], sigma[k] = derive_visit_params(s0, float(sd[k]), float(rho[k]))
    return VisitModel(od, VISITS, cc, sd, rho, m0, s0, beta, sigma)


def _md_profile(sc: Scenario, od: OutcomeDef, k_end: int | None
                ) -> tuple[np.ndarray, list[str], dict | None]:
    """Natural-scale MD per visit and where each number came from."""
    population = sc.effect.population
    known: dict[int, tuple[float, str]] = {}
    row_used = None
    if sc.effect.source == "evidence" or k_end is None:
        try:
            rows = ev.rows_for(od.name, population)
        except EvidenceError:
            rows = {}
        for month, row in rows.items():
            if month in VISITS:
                known[month] = (float(row.md), row.id)
    if k_end is not None:
        month_end = VISITS[k_end]
        if sc.effect.source == "fixed":
            known = {month_end: (float(sc.effect.md), "fixed (scenario effect.md)")}
        else:
            row = ev.select_row(od.name, month_end, population, sc.effect.row)
            known[month_end] = (float(row.md), row.id)
            row_used = row.as_dict()
    md = np.zeros(len(VISITS))
    src: list[str] = []
    months = sorted(known)
    for k, month in enumerate(VISITS):
        if month in known:
            md[k], s = known[month]
        elif not months:
            md[k], s = 0.0, "no evidence row: 0"
        else:
            # linear in time between known points, through 0 at month 0; carried forward after
            xs = [0.0] + [float(m) for m in months]
            ys = [0.0] + [known[m][0] for m in months]
            md[k] = float(np.interp(month, xs, ys))
            s = "interpolated (linear from 0 at month 0)" if month < months[-1] else "carried forward"
        src.append(s)
    return md, src, row_used


def build_model(sc: Scenario, *, calibration_log2: int = CALIBRATION_LOG2) -> TrialModel:
    """Resolve and calibrate a scenario.

    Parameters
    ----------
    sc : Scenario
    calibration_log2 : int
        The calibration sample screens ``2**calibration_log2`` quasi-random candidates.

    Returns
    -------
    TrialModel

    Raises
    ------
    ScenarioError, EvidenceError
        For combinations that only the resolved model can detect (non-positive-definite
        correlation, infeasible SD of change, missing evidence row, unattainable effect).
    """
    pop = _population(sc)
    base, p_acc = calibration_sample(pop, calibration_log2, seed=_CALIBRATION_ENTROPY)
    screened = 1 << calibration_log2
    fail = 1.0 - p_acc
    # binomial SE as an upper bound: scrambled Sobol is at least as precise as random sampling
    fail_se = math.sqrt(p_acc * (1 - p_acc) / screened)

    k_end = VISITS.index(sc.endpoint.visit_months)
    cv = sc.outcome_model.effect_cv if sc.outcome_model.heterogeneity == "normal" else 0.0
    outcomes: dict[str, VisitModel] = {}
    md: dict[str, np.ndarray] = {}
    delta: dict[str, np.ndarray] = {}
    md_source: dict[str, list[str]] = {}
    evidence_row = None
    x0s: dict[str, np.ndarray] = {}
    for name, od in OUTCOMES.items():
        is_end = name == sc.endpoint.outcome
        x0 = to_model(od, base[od.baseline])
        x0s[name] = x0
        vm = _visit_model(sc, od, x0, is_end, k_end)
        outcomes[name] = vm
        m, src, row = _md_profile(sc, od, k_end if is_end else None)
        if is_end:
            evidence_row = row
        d = np.zeros(len(VISITS))
        # the endpoint visit first, so an impossible user effect is reported as the user wrote it
        order = sorted(range(len(VISITS)), key=lambda j: (j != k_end) if is_end else j)
        for k in order:
            try:
                d[k] = calibrate_delta(vm, x0, k, float(m[k]), cv if is_end else 0.0)
            except EffectNotAttainable as exc:
                if not (is_end and k == k_end):
                    # a visit other than the primary one: keep the model usable, say so
                    d[k] = 0.0
                    src[k] = f"{src[k]}; not attainable ({exc}), effect set to 0"
                    m[k] = 0.0
                    continue
                if sc.effect.source == "fixed":
                    key = "effect.md"
                else:
                    key = f'effect.row = "{src[k]}" (MD'
                    exc = f"{exc})"
                raise ScenarioError(f"scenario error: {key} = {m[k]:g} is not attainable for "
                                    f"{name} at month {VISITS[k]}: {exc}") from None
        md[name], delta[name], md_source[name] = m, d, src

    vc = sc.outcome_model.visit_correlation or VISIT_CORRELATION
    vcorr = visit_correlation(VISITS, vc)
    ocorr = outcome_correlation(tuple(OUTCOMES), OUTCOME_RESIDUAL_CORRELATION)
    end = outcomes[sc.endpoint.outcome]
    analytic = _analytic_moments(end, x0s[sc.endpoint.outcome], base[end.outcome.baseline], k_end,
                                 delta[sc.endpoint.outcome], cv, vcorr)
    return TrialModel(
        scenario=sc, population=pop, visits=VISITS, outcomes=outcomes, endpoint=end, k_end=k_end,
        md=md, delta=delta, md_source=md_source, evidence_row=evidence_row, effect_cv=cv,
        visit_corr=vcorr, outcome_corr=ocorr, screen_fail_prob=fail, screen_fail_mc_se=fail_se,
        analytic=analytic,
        calibration={"method": "scrambled Sobol", "screened": screened,
                     "accepted": int(base["age"].size),
                     "baseline_mean_natural": float(np.mean(base[end.outcome.baseline]))},
    )


def _analytic_moments(vm: VisitModel, x0: np.ndarray, y0: np.ndarray, k: int, delta: np.ndarray,
                      cv: float, vcorr: np.ndarray) -> dict[str, float]:
    """Natural-scale SDs of change and of the ANCOVA residual at the endpoint visit.

    For an additive outcome without a floor these are exact model quantities (``sd_change`` and
    ``sigma``, plus the individual-effect variance in the MSC arm); otherwise they are moments of
    a large simulated sample (fixed seed), pooled over the two arms.
    """
    od = vm.outcome
    exact = od.scale == "additive" and od.floor is None
    if exact:
        var_eff = (delta[k] * cv) ** 2
        sd_c = float(vm.sd_change[k])
        sd_chg = math.sqrt(sd_c**2 + var_eff / 2.0)
        sd_res = math.sqrt(vm.sigma[k] ** 2 + var_eff / 2.0)
        return {"sd_change": sd_chg, "sd_resid_ancova": sd_res, "exact": 1.0,
                "sd_change_control": sd_c, "sd_resid_control": float(vm.sigma[k])}
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(_CALIBRATION_ENTROPY + 1)))
    n = x0.size
    eps = rng.standard_normal((n, len(vm.visits))) @ np.linalg.cholesky(vcorr).T
    eta = rng.standard_normal(n)
    out = {}
    resid_var = []
    chg_var = []
    for arm in (0, 1):
        x = latent(vm, x0, eps, arm, delta, eta, cv)
        chg = to_natural(od, x[:, k]) - y0
        chg_var.append(float(np.var(chg)))
        xc = y0 - y0.mean()
        b = float(np.dot(xc, chg - chg.mean()) / np.dot(xc, xc))
        resid_var.append(float(np.var(chg - b * y0)))
        out[f"sd_change_{'msc' if arm else 'control'}"] = math.sqrt(chg_var[-1])
    out.update({"sd_change": math.sqrt(sum(chg_var) / 2), "sd_resid_ancova": math.sqrt(sum(resid_var) / 2),
                "exact": 0.0})
    return out
