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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import evidence as ev
from ..errors import EvidenceError, ScenarioError
from .effects import EffectDistribution, tau2_from_i2, time_profile
from .outcomes import (OUTCOMES, Decline, EffectNotAttainable, Heterogeneity, OutcomeDef,
                       Remission, VisitModel, at_months, calibrate_delta, derive_visit_params,
                       latent, min_sd_change, outcome_correlation, remission_intercepts,
                       to_model, to_natural, visit_correlation)
from .population import Marginal, PopulationSpec, calibration_sample
from .presets import (OUTCOME_RESIDUAL_CORRELATION, PLAUSIBLE, UNITS, VARIABLES,
                      VISIT_CORRELATION, VISITS, get_preset)
from ..scenario import Scenario

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
    heterogeneity: Heterogeneity = field(default_factory=Heterogeneity)
    distribution: EffectDistribution | None = None
    delta_table: tuple[np.ndarray, np.ndarray] | None = None
    shape: np.ndarray | None = None
    md_limit: float | None = None
    _remission: "_Once | None" = field(default=None, repr=False)
    warnings: tuple[str, ...] = ()
    conversions: dict[str, str] = field(default_factory=dict)

    @property
    def remission(self) -> Remission | None:
        """Insulin independence of the population (None where nobody becomes insulin-free);
        its logit intercepts are calibrated on first use."""
        return None if self._remission is None else self._remission()

    @property
    def declines(self) -> bool:
        """Some outcome has a patient-specific natural history (needs age and duration)."""
        return any(vm.decline is not None for vm in self.outcomes.values())

    def delta_for(self, md: np.ndarray) -> np.ndarray:
        """Model-scale endpoint effect for natural-scale MDs (vectorised; for assurance)."""
        if self.delta_table is None:
            return np.asarray(md, dtype=float)
        grid, deltas = self.delta_table
        return np.interp(md, grid, deltas)

    @property
    def outcome_def(self) -> OutcomeDef:
        """Definition of the primary endpoint outcome."""
        return self.endpoint.outcome

    @property
    def endpoint_md(self) -> float:
        """Natural-scale MD at the endpoint visit."""
        return float(self.md[self.endpoint.outcome.name][self.k_end])

    def to_dict(self) -> dict[str, Any]:
        """Resolved model as plain data, for the manifest."""
        return {
            "population": {
                "preset": self.population.preset,
                "marginals": {k: m.to_dict() for k, m in self.population.marginals.items()},
                "correlation": {f"{VARIABLES[i]},{VARIABLES[j]}": float(self.population.correlation[i, j])
                                for i in range(len(VARIABLES)) for j in range(i + 1, len(VARIABLES))
                                if self.population.correlation[i, j] != 0.0},
                "criteria": {k: list(v) for k, v in self.population.criteria.items()},
                "sources": dict(self.population.sources),
                "screen_fail_prob": self.screen_fail_prob,
                "screen_fail_mc_se": self.screen_fail_mc_se,
            },
            "visits": list(self.visits),
            "outcomes": {k: v.to_dict() for k, v in self.outcomes.items()},
            "endpoint": {"outcome": self.endpoint.outcome.name,
                         "visit_months": self.visits[self.k_end], "md": self.endpoint_md},
            "md": {k: [float(x) for x in v] for k, v in self.md.items()},
            "delta_model_scale": {k: [float(x) for x in v] for k, v in self.delta.items()},
            "md_source": dict(self.md_source),
            "evidence_row": self.evidence_row,
            "effect_cv": self.effect_cv,
            "heterogeneity": self.heterogeneity.to_dict(),
            "effect_distribution": (self.distribution.to_dict()
                                    if self.distribution is not None else None),
            "visit_correlation": self.visit_corr.tolist(),
            "analytic_moments": self.analytic,
            "calibration": self.calibration,
            "remission": None if self.remission is None else self.remission.to_dict(),
            "conversions": self.conversions,
            "warnings": list(self.warnings),
        }


# ---------------------------------------------------------------------------------------------

def _plausible_marginal(var: str, params: dict) -> None:
    """A scenario's baseline distribution must describe people (:data:`PLAUSIBLE`)."""
    lo, hi = PLAUSIBLE[var]
    unit = UNITS[var]
    if "mean" in params and not lo <= params["mean"] <= hi:
        raise ScenarioError(f"scenario error: population.{var}.mean = {params['mean']:g} is not "
                            f"plausible: must be in [{lo:g}, {hi:g}] {unit}")
    width = hi - lo
    if "sd" in params and not 1e-4 * width <= params["sd"] <= width:
        raise ScenarioError(f"scenario error: population.{var}.sd = {params['sd']:g} is not "
                            f"plausible: must be in [{1e-4 * width:g}, {width:g}] {unit}")


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
        if over and var in PLAUSIBLE:
            _plausible_marginal(var, params)
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


def _decline(base: dict, per: dict, endpoint_cc: bool, cal: dict[str, np.ndarray]
             ) -> Decline | None:
    """The patient-specific decline of a preset outcome, with its population moments; None when
    the preset has none or the scenario sets ``control_change`` itself."""
    spec = dict(base.get("decline") or {})
    if not spec or "control_change" in per or endpoint_cc:
        return None
    spec.pop("source", None)
    d = Decline(**spec)
    r = d.rate(cal["age"], cal["duration"], cal["u_slope"])
    return Decline(**spec, rate_mean=float(np.mean(r)), rate_var=float(np.var(r)))


def _visit_model(sc: Scenario, od: OutcomeDef, x0: np.ndarray, endpoint: bool, k_end: int,
                 visits: tuple[int, ...], cal: dict[str, np.ndarray], preset: dict) -> VisitModel:
    base = preset["outcomes"][od.name]
    om = sc.outcome_model
    per = om.per_outcome.get(od.name, {})
    decline = _decline(base, per, endpoint and om.control_change is not None, cal)
    cc = at_months(per.get("control_change", base["control_change"]), visits, "control_change")
    sd = at_months(per.get("sd_change", base["sd_change"]), visits, "sd_change")
    rho = at_months(per.get("rho", base["rho"]), visits, "rho")
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
    if decline is not None:
        # after the last anchor (month 12) sd_change is held for the rest of the change, while
        # the spread of the patients' slopes keeps growing: Var = sd_12^2 + var(r) ((t/12)^2 - 1)
        t = np.asarray(visits, dtype=float) / 12.0
        late = t > 1.0
        sd = np.where(late, np.sqrt(sd * sd + decline.rate_var * np.maximum(t * t - 1.0, 0.0)),
                      sd)
    beta = np.empty(len(visits))
    sigma = np.empty(len(visits))
    for k, month in enumerate(visits):
        lo = min_sd_change(s0, rho[k])
        if sd[k] < lo * (1 + 1e-9):
            key = keys["sd_change"]
            where = "" if key.endswith("model.sd_change") else f" at month {month}"
            scale = " (log scale)" if od.scale == "log" else ""
            raise ScenarioError(
                f"scenario error: {key}{where} = {sd[k]:g} is too small for baseline SD "
                f"{s0:.3g}{scale} and rho = {rho[k]:g}: must be > {lo:.3g} = "
                f"sd*sqrt(1-rho^2) (raise it, or raise rho)")
        beta[k], sigma[k] = derive_visit_params(s0, float(sd[k]), float(rho[k]))
    for name, arr in (("control_change", cc), ("sd_change", sd)):
        _plausible(keys[name], arr, visits, s0, od, model_scale=True)
    if decline is not None:
        # the mean change is the mean decline; the slope spread is part of sd_change
        cc = decline.rate_mean * np.asarray(visits, dtype=float) / 12.0
        slope_var = decline.rate_var * (np.asarray(visits, dtype=float) / 12.0) ** 2
        short = np.flatnonzero(sigma * sigma <= slope_var)
        if short.size:
            k = int(short[0])
            raise ScenarioError(
                f"scenario error: outcome_model.{od.name}.sd_change at month {visits[k]} = "
                f"{sd[k]:g} is smaller than the spread of the patients' decline "
                f"({math.sqrt(slope_var[k]):.3g}, log scale): raise sd_change")
        sigma = np.sqrt(sigma * sigma - slope_var)
    return VisitModel(od, visits, cc, sd, rho, m0, s0, beta, sigma, decline)


PLAUSIBLE_SDS = 10.0
"""A mean change, an SD of change or an effect beyond this many baseline SDs (model scale for the
natural history, natural units for effects) is outside where the model means anything: the
largest MSC or control change in the evidence is under 2 baseline SDs."""


def _plausible(key: str, values, visits, sd0: float, od: OutcomeDef, *,
               model_scale: bool = False) -> None:
    """Refuse a value beyond :data:`PLAUSIBLE_SDS` baseline SDs (a one-line ScenarioError):
    arithmetic on it overflows or gives a trial no patient could be in. A natural-scale fall of
    a log-scale outcome is bounded by the outcome itself (its attainability check says more)."""
    lim = PLAUSIBLE_SDS * sd0
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    mag = arr if od.scale == "log" and not model_scale else np.abs(arr)
    bad = np.flatnonzero(~(mag <= lim))
    if bad.size:
        k = int(bad[0])
        at = "" if len(visits) != arr.size else f" at month {visits[k]}"
        unit = " (log scale)" if model_scale and od.scale == "log" else f" {od.unit}"
        raise ScenarioError(f"scenario error: {key}{at} = {arr[k]:g} is not plausible for "
                            f"{od.label}: must be within {PLAUSIBLE_SDS:g} baseline SDs, "
                            f"|x| <= {lim:.3g}{unit}")


def _md_profile(sc: Scenario, od: OutcomeDef, visits: tuple[int, ...], k_end: int | None,
                baseline_means: dict[str, float] | None = None
                ) -> tuple[np.ndarray, list[str], dict | None, dict]:
    """Natural-scale MD per visit, where each number came from, the endpoint row, and info for
    the effect distribution (SE, I^2, k of the row behind the endpoint MD)."""
    population = sc.effect.population
    known: dict[int, tuple[float, str]] = {}
    rows: dict = {}
    row_used = None
    info: dict = {}
    if k_end is None and od.name in sc.effect.outcomes:
        # a fixed MD for a non-primary outcome, at the primary endpoint's month
        month = sc.endpoint.visit_months
        md = time_profile({month: sc.effect.outcomes[od.name]}, visits, sc.effect.after_last,
                          sc.effect.half_life_months)
        src = ["fixed (effect.outcomes)" if m == month else
               "fixed (effect.outcomes), through 0 at month 0" for m in visits]
        return md, src, None, {}
    if sc.effect.source == "evidence" or k_end is None:
        try:
            rows = ev.rows_for(od.name, population)
        except EvidenceError:
            rows = {}
        for month, row in rows.items():
            known[int(month)] = (float(row.md), row.id)
    if k_end is not None:
        month_end = visits[k_end]
        if sc.effect.source == "fixed":
            md_fixed = sc.effect.md
            if md_fixed is None:   # custom distribution without md: its mean is the point
                md_fixed = (sc.effect.mean if sc.effect.components is None else
                            sum(w * m for w, m, _ in sc.effect.components) * sc.effect.discount)
            known = {month_end: (float(md_fixed), "fixed (scenario effect)")}
            info = {"se": sc.effect.se, "i2": None, "k": None, "row": None}
        elif sc.effect.row is not None or month_end in VISITS or not known:
            # at an evidence month the row itself is required (a missing row is an error)
            # a named IU/kg/day or % of baseline insulin row is converted with the population's
            # mean weight or dose (the conversion is in the row's note and the manifest)
            row = ev.select_row(od.name, month_end, population, sc.effect.row,
                                baseline_means=baseline_means)
            known[month_end] = (float(row.md), row.id)
            row_used = row.to_dict()
            info = {"se": row.se, "i2": row.i2, "k": row.k, "row": row.id}
        else:
            # endpoint between or beyond the evidence months: the time profile gives the MD and
            # the nearest row in time gives SE, I^2 and k (documented in simtrial.effects)
            near = min(known, key=lambda m: (abs(m - month_end), -m))
            r = rows[near]
            info = {"se": r.se, "i2": r.i2, "k": r.k, "row": r.id, "nearest_month": near}
    points = {m: v for m, (v, _) in known.items()}
    md = time_profile(points, visits, sc.effect.after_last, sc.effect.half_life_months)
    src: list[str] = []
    last = max(points) if points else None
    for month in visits:
        if month in known:
            src.append(known[month][1])
        elif not points:
            src.append("no evidence row: 0")
        elif month < last:
            src.append("interpolated (linear through 0 at month 0 and the evidence months)")
        else:
            src.append("held after the last evidence month" if sc.effect.after_last == "hold"
                       else f"waning after month {last} (half-life {sc.effect.half_life_months:g} months)")
    return md, src, row_used, info


def _distribution(sc: Scenario, md_point: float, info: dict) -> EffectDistribution:
    """The effect distribution of the scenario (see :mod:`simtrial.effects`)."""
    e = sc.effect
    prov: dict = {"row": info.get("row")}
    if e.distribution == "point":
        return EffectDistribution("point", md_point, "point", md_point, provenance=prov)
    if e.distribution == "custom":
        if e.family == "mixture":
            comps = tuple((w, m * e.discount, s) for w, m, s in e.components)
            mean = sum(w * m for w, m, _ in comps)
            point = md_point if (e.md is not None or e.source == "evidence") else mean
            prov["discount"] = e.discount
            return EffectDistribution("custom", point, "mixture", mean, components=comps,
                                      provenance=prov)
        mean = (e.mean if e.mean is not None else md_point) * e.discount
        point = md_point if (e.md is not None or e.source == "evidence") else e.mean
        prov.update({"mean": "scenario" if e.mean is not None else "evidence MD",
                     "discount": e.discount})
        return EffectDistribution("custom", point, e.family, mean, e.sd,
                                  e.df if e.family == "t" else math.inf, provenance=prov)
    se = e.se if e.se is not None else info.get("se")
    prov["se"] = f"scenario effect.se = {e.se:g}" if e.se is not None else f"evidence row ({se:g})"
    centre = md_point * e.discount
    prov["discount"] = e.discount
    if e.sceptical_sd is not None:
        # precision weighting written so that a tiny (or huge) prior SD neither divides by 0
        # nor overflows: w = s^2 / (s^2 + se^2), posterior SD = se s / sqrt(se^2 + s^2)
        s_, h = float(e.sceptical_sd), math.hypot(se, float(e.sceptical_sd))
        w = (s_ / h) ** 2
        centre *= w
        se = se * (s_ / h)
        prov["sceptical_prior"] = f"N(0, {e.sceptical_sd:g}^2): centre x {w:.4f}, SE -> {se:.4g}"
    if e.distribution == "pooled":
        return EffectDistribution("pooled", md_point, "normal", centre, se, provenance=prov)
    # predictive
    # k capped at the seed's k for the cell; a t-predictive with k < 3 is refused (evidence.py)
    k, prov["k"] = ev.k_for(info.get("row"), e.population, sc.endpoint.outcome,
                            sc.endpoint.visit_months, scenario_k=e.k,
                            predictive_dist=e.predictive_dist, tau2_given=e.tau2 is not None)
    if e.tau2 is not None:
        tau2 = e.tau2
        prov["tau2"] = f"scenario effect.tau2 = {tau2:g}"
    else:
        i2 = e.i2 if e.i2 is not None else info.get("i2")
        if i2 is None:
            raise ScenarioError(
                f'scenario error: effect.i2 (or effect.tau2) is required for distribution = '
                f'"predictive": evidence row {info.get("row")} reports no I^2 (e.g. i2 = 50)')
        if not 0.0 <= i2 < 100.0:
            raise ScenarioError(f"scenario error: effect.i2 = {i2:g} must be in [0, 100)")
        tau2 = tau2_from_i2(i2, int(k), info.get("se") if e.se is None else e.se)
        prov["tau2"] = (f"DERIVED tau2 = I2 k SE^2 = {i2:g}% x {k} x {(e.se or info.get('se')):g}^2"
                        f" = {tau2:.4g}" + ("" if e.i2 is None else " (I2 from scenario)"))
    scale = math.sqrt(se * se + tau2)
    if e.predictive_dist == "t":
        if int(k) < 3:
            raise ScenarioError(f'scenario error: effect.predictive_dist = "t" needs k >= 3 '
                                f"(k = {k}); use \"normal\"")
        return EffectDistribution("predictive", md_point, "t", centre, scale, float(int(k) - 2),
                                  provenance=prov)
    return EffectDistribution("predictive", md_point, "normal", centre, scale, provenance=prov)


class _Once:
    """A value computed on first use and then kept (the lazy parts of a model: an outcome's
    calibrated effects, the remission intercepts). Pickles as the value, so a model sent to
    another process arrives complete."""

    _UNSET = object()

    def __init__(self, fn: Callable[[], Any] | None, value: Any = _UNSET):
        self._fn, self._value = fn, value

    def __call__(self) -> Any:
        if self._value is _Once._UNSET:
            self._value = self._fn()
            self._fn = None
        return self._value

    def __reduce__(self):
        return (_Once, (None, self()))


class _PerOutcome(Mapping):
    """``{outcome: value}`` whose values come from ``field`` of each outcome's lazy
    calibration (``TrialModel.md``, ``.delta`` and ``.md_source``): an outcome is calibrated at
    every visit the first time any of the three is read for it, so a design pays only for the
    outcomes it simulates. Pickles (and deep-copies) as a plain dict of the values."""

    def __init__(self, lazy: dict[str, _Once], field: int):
        self._lazy, self._field = lazy, field

    def __getitem__(self, name: str):
        return self._lazy[name]()[self._field]

    def __iter__(self):
        return iter(self._lazy)

    def __len__(self) -> int:
        return len(self._lazy)

    def __reduce__(self):
        return (dict, (dict(self),))

    def __repr__(self) -> str:
        return repr(dict(self))


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
    base = {k: _frozen(v) for k, v in base.items()}
    screened = 1 << calibration_log2
    fail = 1.0 - p_acc
    # binomial SE as an upper bound: scrambled Sobol is at least as precise as random sampling
    fail_se = math.sqrt(p_acc * (1 - p_acc) / screened)

    visits = sc.visit_months
    k_end = visits.index(sc.endpoint.visit_months)
    om = sc.outcome_model
    het = Heterogeneity()
    mod_values = None
    if om.heterogeneity == "normal":
        het = Heterogeneity("normal", cv=om.effect_cv)
    elif om.heterogeneity == "responders":
        het = Heterogeneity("responders", responder_fraction=om.responder_fraction)
    elif om.heterogeneity == "modifier":
        probe = Heterogeneity("modifier", modifier=om.modifier, slope=om.modifier_slope)
        mv = probe.modifier_scale(base[om.modifier])
        het = Heterogeneity("modifier", modifier=om.modifier, slope=om.modifier_slope,
                            mod_mean=float(np.mean(mv)), mod_sd=float(np.std(mv)))
        mod_values = base[om.modifier]
    _check_endpoints(sc)
    rng_cal = np.random.Generator(np.random.PCG64(np.random.SeedSequence(_CALIBRATION_ENTROPY + 2)))
    cal = {"age": base["age"], "duration": base["duration"],
           "u_slope": rng_cal.standard_normal(base["age"].size)}
    outcomes: dict[str, VisitModel] = {}
    calibrated: dict[str, _Once] = {}
    evidence_row = None
    info: dict = {}
    x0s: dict[str, np.ndarray] = {}
    warnings: list[str] = []
    conversions: dict[str, str] = {}
    remission = None
    means = {"weight": float(np.mean(base["weight"])),
             "insulin_dose": float(np.mean(base["insulin_dose"]))}
    preset = get_preset(sc.population.preset)
    for name, od in OUTCOMES.items():
        is_end = name == sc.endpoint.outcome
        x0 = _frozen(to_model(od, base[od.baseline]))
        x0s[name] = x0
        vm = _visit_model(sc, od, x0, is_end, k_end, visits, cal, preset)
        outcomes[name] = vm
        m, src, row, inf = _md_profile(sc, od, visits, k_end if is_end else None, means)
        sd_nat = float(np.std(base[od.baseline]))
        if is_end and sc.effect.source == "fixed":
            _plausible("effect.md", m[k_end], (), sd_nat, od)
        elif name in sc.effect.outcomes:
            _plausible(f"effect.outcomes.{name}", sc.effect.outcomes[name], (), sd_nat, od)
        else:
            _plausible(f"the MD of {name} ({src[k_end] if is_end else 'evidence'})", m, visits,
                       sd_nat, od)
        if is_end:
            evidence_row, info = row, inf
        if od.zero_event:
            remission = _remission(sc, m, base, het)
            _insulin_note(name, m, base[od.baseline], src, visits, k_end if is_end else None,
                          conversions, warnings)
        calibrated[name] = _Once(_calibration(
            sc, vm, x0, m, src, is_end, k_end, het, mod_values, cal,
            remission if od.zero_event else None, base["fasting_cpeptide"]))
        if is_end:      # now: its errors are the scenario's; every other outcome on first use
            calibrated[name]()
    md = _PerOutcome(calibrated, 0)
    delta = _PerOutcome(calibrated, 1)
    md_source = _PerOutcome(calibrated, 2)
    end = outcomes[sc.endpoint.outcome]
    e_name = end.outcome.name
    md_end = float(md[e_name][k_end])
    dev_end = calibrated[e_name]()[3]
    rem_end = remission() if end.outcome.zero_event and remission is not None else None
    dist = _distribution(sc, md_end, info)
    sd_end = float(np.std(base[end.outcome.baseline]))
    _plausible("effect distribution mean", dist.mean, (), sd_end, end.outcome)
    _plausible("effect distribution scale (se, sd or tau)", dist.scale, (), sd_end, end.outcome)
    for w, mu, s_c in dist.components or ():
        _plausible("effect.components mean", mu, (), sd_end, end.outcome)
        _plausible("effect.components sd", s_c, (), sd_end, end.outcome)
    table = limit = None
    if not dist.is_point and not (end.outcome.scale == "additive" and end.outcome.floor is None):
        extra = {}
        if dev_end is not None:
            extra["dev"] = dev_end[:, k_end]
        if rem_end is not None and rem_end.active:
            cp = base["fasting_cpeptide"]
            extra["free"] = _per_component(het, rem_end.prob(1, cp)[:, k_end])
            extra["free_control"] = rem_end.prob(0, cp)[:, k_end]
        *table, limit = _delta_table(end, x0s[e_name], k_end, dist, het, mod_values, **extra)
        table = tuple(table)
    shape = md[end.outcome.name] / md_end if md_end != 0.0 else np.zeros(len(visits))
    vc = sc.outcome_model.visit_correlation or VISIT_CORRELATION
    vcorr = visit_correlation(visits, vc)
    ocorr = outcome_correlation(tuple(OUTCOMES), OUTCOME_RESIDUAL_CORRELATION)
    analytic = _analytic_moments(end, x0s[e_name], base[end.outcome.baseline], k_end,
                                 delta[e_name], het, mod_values, vcorr, dev_end, rem_end,
                                 base["fasting_cpeptide"])
    return TrialModel(
        scenario=sc, population=pop, visits=visits, outcomes=outcomes, endpoint=end, k_end=k_end,
        md=md, delta=delta, md_source=md_source, evidence_row=evidence_row,
        effect_cv=het.cv, visit_corr=vcorr, outcome_corr=ocorr, screen_fail_prob=fail,
        screen_fail_mc_se=fail_se, analytic=analytic,
        calibration={"method": "scrambled Sobol", "screened": screened,
                     "accepted": int(base["age"].size),
                     "baseline_mean_natural": float(np.mean(base[end.outcome.baseline]))},
        heterogeneity=het, distribution=dist, delta_table=table, shape=shape, md_limit=limit,
        _remission=remission, warnings=tuple(warnings), conversions=conversions,
    )


def _frozen(a):
    """``a`` made read-only (calibration arrays: never changed after they are computed, so the
    calibration memo, :mod:`simtrial._memo`, hashes each once)."""
    if isinstance(a, np.ndarray):
        a.flags.writeable = False
    return a


def _calibration(sc: Scenario, vm: VisitModel, x0: np.ndarray, m: np.ndarray, src: list[str],
                 is_end: bool, k_end: int, het: Heterogeneity, mod_values,
                 cal: dict[str, np.ndarray], remission: _Once | None, cpep: np.ndarray
                 ) -> Callable[[], tuple]:
    """The calibration of one outcome, to run when first needed: ``(md, delta, md_source,
    deviation)`` with the model-scale effect at every visit (``md`` and ``md_source`` say where
    an effect was not attainable and set to 0) and the calibration patients' natural-history
    deviations (None without a patient-specific decline)."""
    od, visits, name = vm.outcome, vm.visits, vm.outcome.name

    def run() -> tuple:
        dev = (None if vm.decline is None else
               _frozen(vm.decline.deviation(visits, cal["age"], cal["duration"], cal["u_slope"])))
        rem = None if remission is None else remission()
        free = free_c = None
        if rem is not None and rem.active:
            free, free_c = _frozen(rem.prob(1, cpep)), _frozen(rem.prob(0, cpep))
        d = np.zeros(len(visits))
        # the endpoint visit first, so an impossible user effect is reported as the user wrote it
        order = sorted(range(len(visits)), key=lambda j: (j != k_end) if is_end else j)
        for k in order:
            try:
                # one patient-level response for every outcome (shared heterogeneity)
                d[k] = calibrate_delta(
                    vm, x0, k, float(m[k]), het, mod_values,
                    None if dev is None else dev[:, k],
                    None if free is None else _per_component(het, free[:, k]),
                    None if free_c is None else free_c[:, k])
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
                                    f"{name} at month {visits[k]}: {exc}") from None
        return m, d, src, dev
    return run


def _check_endpoints(sc: Scenario) -> None:
    """A preset may restrict the outcomes it can be analysed on (e.g. not on insulin)."""
    allowed = get_preset(sc.population.preset).get("endpoints")
    if allowed is None:
        return
    used = [e.outcome for e in sc.all_endpoints if e.type == "continuous"]
    used += [o for e in sc.all_endpoints for o, _, _ in e.responder]
    for o in used:
        if o not in allowed:
            raise ScenarioError(
                f'scenario error: endpoint outcome "{o}" is not available for population.preset '
                f'= "{sc.population.preset}" (HbA1c and glucose endpoints only); allowed: '
                f'{", ".join(allowed)}')


def _per_component(het: Heterogeneity, q: np.ndarray) -> tuple[np.ndarray, ...]:
    """Insulin-free probabilities per heterogeneity component (only responders remit)."""
    if het.mode == "responders":
        return (q, np.zeros_like(q)) if het.responder_fraction < 1.0 else (q,)
    return (q,)


def _remission(sc: Scenario, md: np.ndarray, base: dict[str, np.ndarray], het: Heterogeneity
               ) -> _Once | None:
    """Insulin independence of the scenario's population (see :class:`Remission`).

    The MSC arm's probability at each visit is the reported one times ``md(t) / md_peak`` (so
    it follows the insulin effect over time and is 0 where the effect is 0; ASSUMED); the
    control probability is constant. The probabilities are checked now; the logit intercepts
    (a root search over the calibration sample) are calibrated when first needed.
    """
    spec = dict(get_preset(sc.population.preset).get("remission") or {})
    per = sc.outcome_model.per_outcome.get("insulin_dose", {})
    p_ref = float(per.get("remission_msc", spec.get("msc", 0.0)))
    p_c = float(per.get("remission_control", spec.get("control", 0.0)))
    odds = float(per.get("remission_reserve_or", spec.get("reserve_or", 1.0)))
    v = len(md)
    peak = float(np.min(md)) if md.size else 0.0
    shape = np.clip(md / peak, 0.0, 1.0) if peak < 0.0 else np.zeros(v)
    p_msc = np.maximum(p_c, p_ref * shape)
    p_control = np.full(v, p_c)
    if not (np.any(p_msc > 0) or p_c > 0):
        return None
    pi = het.responder_fraction if het.mode == "responders" else 1.0
    if np.any(p_msc > pi + 1e-12):
        raise ScenarioError(
            f"scenario error: outcome_model.insulin_dose.remission_msc = {p_ref:g} exceeds "
            f"outcome_model.responder_fraction = {pi:g} (only responders become insulin-free)")
    cpep = base["fasting_cpeptide"]

    def calibrated() -> Remission:
        lc = np.log(cpep)
        zm, zs = float(np.mean(lc)), float(np.std(lc))
        z = (lc - zm) / zs
        log_or = math.log(odds)
        return Remission(p_msc, p_control,
                         remission_intercepts(np.minimum(p_msc / pi, 1.0), z, log_or),
                         remission_intercepts(p_control, z, log_or), log_or, zm, zs,
                         responders_only=het.mode == "responders")
    return _Once(calibrated)


def _insulin_note(name: str, md: np.ndarray, y0: np.ndarray, src: list[str],
                  visits: tuple[int, ...], k_end: int | None, conversions: dict[str, str],
                  warnings: list[str]) -> None:
    """Show an absolute insulin MD as a share of the mean baseline dose; warn above 30%."""
    mean0 = float(np.mean(y0))
    k = int(np.argmin(md)) if k_end is None else k_end
    if md[k] == 0.0:
        return
    share = 100.0 * float(md[k]) / mean0
    conversions[name] = (f"MD {md[k]:+.3g} IU/day at month {visits[k]} = {share:+.1f}% of the "
                         f"mean baseline dose {mean0:.3g} IU/day")
    if abs(share) > 30.0:
        warnings.append(f"{name}: the MD {md[k]:+.3g} IU/day ({src[k]}) is {abs(share):.0f}% of "
                        f"the mean baseline dose {mean0:.3g} IU/day (more than 30%: an absolute "
                        "MD from trials with other doses may not transport; consider a relative "
                        "effect)")


def _delta_table(vm: VisitModel, x0: np.ndarray, k: int, dist: EffectDistribution,
                 het: Heterogeneity, mod_values, size: int = 161, **extra
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Model-scale effect on a grid of natural-scale MDs spanning the effect distribution.

    MDs beyond the physical limit (e.g. a dose reduction larger than the mean dose) are mapped to
    the last attainable value; :func:`simtrial.simulate` counts how often that happens (``trial_effects_clipped``).
    """
    lo, hi = dist.ppf_range(1e-7)
    grid = np.linspace(min(lo, dist.point), max(hi, dist.point), size)
    deltas = np.empty(size)
    ok = np.ones(size, dtype=bool)
    for i, mdv in enumerate(grid):
        try:
            deltas[i] = calibrate_delta(vm, x0, k, float(mdv), het, mod_values, **extra)
        except EffectNotAttainable:
            ok[i] = False
    if not ok.any():
        raise ScenarioError("scenario error: effect distribution lies entirely beyond the "
                            f"physical limit of {vm.outcome.name}")
    first = int(np.argmax(ok))
    # flat beyond the attainable range at either end (below a physical limit; above it where
    # insulin independence alone exceeds the MD)
    deltas[~ok] = np.interp(grid[~ok], grid[ok], deltas[ok])
    return grid, deltas, (float(grid[first]) if first > 0 else None)


def _analytic_moments(vm: VisitModel, x0: np.ndarray, y0: np.ndarray, k: int, delta: np.ndarray,
                      het: Heterogeneity, mod_values, vcorr: np.ndarray,
                      dev: np.ndarray | None = None, remission: Remission | None = None,
                      cpep: np.ndarray | None = None) -> dict[str, float]:
    """Natural-scale SDs of change and of the ANCOVA residual at the endpoint visit.

    For an additive outcome without a floor and no heterogeneity these are exact model quantities
    (``sd_change`` and ``sigma``); otherwise moments of a large simulated sample (fixed seed),
    pooled over the two arms.
    """
    od = vm.outcome
    if od.scale == "additive" and od.floor is None and het.mode == "none" and dev is None:
        sd_c = float(vm.sd_change[k])
        return {"sd_change": sd_c, "sd_resid_ancova": float(vm.sigma[k]), "exact": 1.0,
                "sd_change_control": sd_c, "sd_resid_control": float(vm.sigma[k])}
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(_CALIBRATION_ENTROPY + 1)))
    n = x0.size
    eps = rng.standard_normal((n, len(vm.visits))) @ np.linalg.cholesky(vcorr).T
    eta = rng.standard_normal(n)
    mult = het.multiplier(eta, mod_values)
    u = rng.random(n) if remission is not None else None
    out = {}
    resid_var = []
    chg_var = []
    for arm in (0, 1):
        x = latent(vm, x0, eps, arm, delta, mult, dev)
        y = to_natural(od, x[:, k])
        if u is not None:
            q = remission.prob(arm, cpep)[:, k]
            if arm and remission.responders_only and mult is not None:
                q = np.where(mult > 0, q, 0.0)
            y = np.where(u < q, 0.0, y)
        chg = y - y0
        chg_var.append(float(np.var(chg)))
        xc = y0 - y0.mean()
        b = float(np.dot(xc, chg - chg.mean()) / np.dot(xc, xc))
        resid_var.append(float(np.var(chg - b * y0)))
        out[f"sd_change_{'msc' if arm else 'control'}"] = math.sqrt(chg_var[-1])
    out.update({"sd_change": math.sqrt(sum(chg_var) / 2),
                "sd_resid_ancova": math.sqrt(sum(resid_var) / 2), "exact": 0.0})
    return out
