"""Scenario files: TOML validated once into frozen objects.

Every check happens here (or, for checks that need the population model, in
:func:`simtrial.model.build_model`), and every failure is a :class:`~simtrial.errors.ScenarioError`
with one line: key path, value, rule and an example, e.g.
``scenario error: design.allocation_ratio = -1.0 must be > 0 (e.g. allocation_ratio = 1.0)``.
Unknown keys are errors with a "did you mean" hint.

Keys (defaults in brackets)::

    name = "t1d_hba1c_12m"       # output folder name [file stem]
    description = "..."          # the question the scenario answers [""]
    seed = 20261122              # [20261122]
    n_trials = 10000             # replicate trials per design point [10000]
    [population]
    preset = "t1d"               # t1d | t2d (required)
    [population.<variable>]      # override a marginal: family, mean, sd, lower, upper, p
    [population.criteria]        # <variable> = [low, high] (inclusive; inf allowed) or "none"
    [population.correlation]     # "<var>,<var>" = r (copula correlation)
    [endpoint]
    outcome = "hba1c"            # hba1c | fbg | ppbg | fasting_cpeptide | insulin_dose
    visit_months = 12            # 3 | 6 | 12
    analysis = "ancova"          # ancova | ttest_change
    [effect]
    source = "evidence"          # evidence | fixed
    population = "T1DM"          # all | T1DM | T2DM [matches the preset]
    row = "<evidence row id>"    # optional, source = evidence only
    md = -0.5                    # required when source = fixed (natural units, MSC - control)
    [design]
    n_per_arm = 40               # control-arm size; MSC arm = round(allocation_ratio * n_per_arm)
    allocation_ratio = 1.0       # MSC : control
    alpha = 0.05
    sides = 2                    # 1: one-sided in the direction of benefit
    target_power = [0.8, 0.9]    # sample sizes reported by `simtrial run`
    max_n_per_arm = 2000         # upper limit of the sample-size search
    n_grid = [10, 20, 40]        # optional N per arm for the power curve [automatic]
    [outcome_model]
    sd_change = 1.1              # endpoint outcome at the endpoint visit, model scale
    rho = 0.5                    # corr(baseline, endpoint value), model scale
    control_change = -0.5        # mean control change at the endpoint visit, model scale
    heterogeneity = "none"       # none | normal (individual effects delta * (1 + cv * N(0,1)))
    effect_cv = 0.0              # cv for heterogeneity = "normal"
    visit_correlation = 0.6      # residual correlation of visits 6 months apart
    [outcome_model.<outcome>]    # per-visit arrays for months 3, 6, 12
    control_change = [0, 0.1, 0.2]
    sd_change = [0.6, 0.7, 0.8]
    rho = [0.85, 0.78, 0.7]

Design keys (any of them makes the scenario "extended": it runs through :mod:`simtrial.trial`)::

    [[arms]]                     # MSC arms against one control (replaces design.allocation_ratio)
    name = "high_dose"; ratio = 1.0; effect_scale = 1.0   # patients per control patient; x effect
    [population.strata]          # stratified randomisation by type: t1d = 0.5, t2d = 0.5 (sum 1)
    [endpoint]                   # or [[endpoints]] (first = primary), each with a unique name
    type = "continuous"          # continuous | responder
    analysis = "ancova"          # continuous: ancova | ttest_change | mmrm | mi
                                 # responder: chisq | fisher | cmh | logistic
    scale = "natural"            # natural | log (fasting_cpeptide, insulin_dose: ratio of means)
    hypothesis = "superiority"   # superiority | noninferiority (margin > 0, design.sides = 1)
    margin = 0.3                 # natural units (log scale: log ratio)
    responder = [{outcome = "hba1c", max = 7.0}, {outcome = "insulin_dose", pct_change_max = -50}]
                                 # bounds: min | max | change_min | change_max | pct_change_min | max
    combine = "all"              # all | any (composite)
    missing = "nonresponder"     # nonresponder | complete_case
    imputations = 20             # analysis = "mi"
    [dropout]
    rate = 0.2                   # cumulative by the last visit, or per_visit = [p3, p6, p12]
    mechanism = "mar"            # mcar | mar (observed value) | mnar (unseen value)
    outcome = "hba1c"            # drives MAR/MNAR [primary outcome]
    strength = 0.5               # log-odds per baseline SD of a worse value (mar/mnar)
    intermittent = 0.05          # probability of missing one visit without dropping out
    [multiplicity]
    method = "holm"              # none | bonferroni | holm | hochberg | dunnett | hierarchical
                                 # | fixed_sequence
    within = "holm"              # hierarchical: test within each endpoint family
    [sequential]
    looks = 2                    # or fractions = [0.5, 1.0] (information fractions)
    spending = "obf"             # obf | pocock | hsd (gamma)
    futility = [0.0]             # z bounds at looks 1..K-1 (design.sides = 1)
    binding = false
    [conduct]                    # trial conduct, simulated (simtrial.conduct): calendar and capacity
    sites = 10                   # required; plus ramp_months = 6 or activation_months = [...]
    rate_per_site_month = 0.8    # required: candidates screened per open site per month (inf)
    chairs = 2                   # infusion chairs and 24-h beds (beds = 2) per site [inf]
    [conduct.manufacturing]      # batch_capacity, batch_interval_days, batch_day,
                                 # release_delay_days, doses_per_patient
    [conduct.regimen]            # infusions, interval_days, infusion_hours, observation_hours,
                                 # placebo (full list: simtrial/conduct.py)
    [effect.outcomes]            # fixed MD of non-primary outcomes at the endpoint month
    insulin_dose = -10.0
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ScenarioError, fmt_value
from ..outcomes import OUTCOMES
from ..presets import PRESET_POPULATION, PRESETS, VARIABLES, VISITS
from .conduct import parse_conduct
from ._fields import (REQUIRED, check_keys, choice, err, get, integer, number, number_list,
                      table)

__all__ = ["Scenario", "PopulationConfig", "EndpointConfig", "ArmConfig", "DropoutConfig",
           "MultiplicityConfig", "SequentialConfig", "EffectConfig", "DesignConfig",
           "OutcomeModelConfig", "load_scenario", "parse_scenario", "read_toml",
           "ANALYSES", "CONTINUOUS_ANALYSES", "RESPONDER_ANALYSES", "ENDPOINT_TYPES",
           "RESPONDER_BOUNDS", "HYPOTHESES", "DROPOUT_MECHANISMS", "MULTIPLICITY_METHODS",
           "WITHIN_METHODS", "SPENDING", "EFFECT_SOURCES", "EVIDENCE_POPULATIONS", "HETEROGENEITY",
           "DISTRIBUTIONS", "CUSTOM_FAMILIES", "MODIFIERS", "MAX_MONTH", "MARGINAL_KEYS",
           "FAMILIES", "CRITERIA_VARIABLES", "OUTCOME_PARAM_KEYS", "ENDPOINT_KEYS", "LOG_OUTCOMES",
           "EFFECT_KEYS", "TOP_KEYS"]

ANALYSES = ("ancova", "ttest_change")
CONTINUOUS_ANALYSES = ("ancova", "ttest_change", "mmrm", "mi")
RESPONDER_ANALYSES = ("chisq", "fisher", "cmh", "logistic")
ENDPOINT_TYPES = ("continuous", "responder")
RESPONDER_BOUNDS = ("min", "max", "change_min", "change_max", "pct_change_min", "pct_change_max")
HYPOTHESES = ("superiority", "noninferiority")
DROPOUT_MECHANISMS = ("mcar", "mar", "mnar")
MULTIPLICITY_METHODS = ("none", "bonferroni", "holm", "hochberg", "dunnett", "hierarchical",
                        "fixed_sequence")
WITHIN_METHODS = ("bonferroni", "holm", "hochberg", "dunnett")
SPENDING = ("obf", "pocock", "hsd")
EFFECT_SOURCES = ("evidence", "fixed")
EVIDENCE_POPULATIONS = ("all", "T1DM", "T2DM")
HETEROGENEITY = ("none", "normal", "responders", "modifier")
DISTRIBUTIONS = ("point", "pooled", "predictive", "custom")
CUSTOM_FAMILIES = ("normal", "t", "mixture")
MODIFIERS = ("hba1c", "fasting_cpeptide")
MAX_MONTH = 24
MARGINAL_KEYS = ("family", "mean", "sd", "lower", "upper", "p")
FAMILIES = ("normal", "truncnorm", "lognormal", "bernoulli")
CRITERIA_VARIABLES = tuple(VARIABLES) + ("insulin_dose",)
OUTCOME_PARAM_KEYS = ("control_change", "sd_change", "rho")


@dataclass(frozen=True)
class PopulationConfig:
    """``[population]``: a preset plus overrides (validated, not yet resolved)."""

    preset: str
    marginals: dict[str, dict[str, Any]] = field(default_factory=dict)
    criteria: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    correlation: dict[tuple[str, str], float] = field(default_factory=dict)
    strata: dict[str, float] | None = None


@dataclass(frozen=True)
class EndpointConfig:
    """``[endpoint]``: the primary endpoint and its analysis."""

    outcome: str
    visit_months: int
    analysis: str = "ancova"
    type: str = "continuous"
    scale: str = "natural"
    hypothesis: str = "superiority"
    margin: float = 0.0
    responder: tuple[tuple[str, str, float], ...] = ()
    combine: str = "all"
    missing: str = "nonresponder"
    imputations: int = 20
    name: str = "primary"

    @property
    def outcomes(self) -> tuple[str, ...]:
        """Outcomes the endpoint needs (the responder criteria's, or its own)."""
        if self.type == "responder":
            return tuple(dict.fromkeys(o for o, _, _ in self.responder))
        return (self.outcome,)

    @property
    def is_default(self) -> bool:
        """True if only the plain (issue-2) keys are used."""
        return (self.type == "continuous" and self.scale == "natural"
                and self.hypothesis == "superiority" and self.analysis in ANALYSES)

    def as_toml(self) -> dict[str, Any]:
        """TOML-shaped dict (non-default keys only beyond outcome, visit, analysis)."""
        d: dict[str, Any] = {"visit_months": self.visit_months, "analysis": self.analysis}
        if self.type == "responder":
            d["type"] = "responder"
            d["responder"] = [{"outcome": o, b: v} for o, b, v in self.responder]
            d["combine"] = self.combine
            d["missing"] = self.missing
        else:
            d["outcome"] = self.outcome
        for k, default in (("scale", "natural"), ("hypothesis", "superiority"), ("margin", 0.0),
                           ("imputations", 20)):
            if getattr(self, k) != default:
                d[k] = getattr(self, k)
        if self.name != "primary":
            d["name"] = self.name
        return d


@dataclass(frozen=True)
class ArmConfig:
    """``[[arms]]``: one MSC arm (dose or regimen) compared with the shared control arm."""

    name: str
    ratio: float = 1.0
    effect_scale: float = 1.0


@dataclass(frozen=True)
class DropoutConfig:
    """``[dropout]``: monotone dropout before each visit, and intermittent missed visits.

    ``per_visit[j]`` is the probability that a patient still in the study drops out before visit
    j (conditional, i.e. a discrete hazard); ``rate`` instead gives the cumulative probability by
    the last visit, spread over visits in proportion to elapsed time. MAR and MNAR shift the
    logit of the hazard by ``strength`` per baseline SD of the driving outcome (worse -> more
    dropout): MAR uses the last observed value, MNAR the current, unobserved one.
    """

    rate: float | None = None
    per_visit: tuple[float, ...] | None = None
    mechanism: str = "mcar"
    outcome: str | None = None
    strength: float = 0.0
    intermittent: float = 0.0


@dataclass(frozen=True)
class MultiplicityConfig:
    """``[multiplicity]``: how the family of hypotheses (arms x endpoints) is tested."""

    method: str = "none"
    within: str = "holm"


@dataclass(frozen=True)
class SequentialConfig:
    """``[sequential]``: interim looks on the primary hypothesis (Lan-DeMets spending)."""

    fractions: tuple[float, ...]
    spending: str = "obf"
    gamma: float | None = None
    futility: tuple[float, ...] | None = None
    binding: bool = False


@dataclass(frozen=True)
class EffectConfig:
    """``[effect]``: where the true treatment effect comes from."""

    source: str
    population: str
    row: str | None = None
    md: float | None = None
    distribution: str = "point"
    se: float | None = None
    i2: float | None = None
    k: int | None = None
    tau2: float | None = None
    predictive_dist: str = "normal"
    discount: float = 1.0
    sceptical_sd: float | None = None
    family: str | None = None
    mean: float | None = None
    sd: float | None = None
    df: float | None = None
    components: tuple[tuple[float, float, float], ...] | None = None
    after_last: str = "wane"
    half_life_months: float = 12.0
    outcomes: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class DesignConfig:
    """``[design]``: arms, sizes and test."""

    n_per_arm: int
    allocation_ratio: float = 1.0
    alpha: float = 0.05
    sides: int = 2
    target_power: tuple[float, ...] = (0.8, 0.9)
    max_n_per_arm: int = 2000
    n_grid: tuple[int, ...] | None = None
    visits: tuple[int, ...] | None = None
    target: str = "power"

    def n_msc(self, n_control: int) -> int:
        """MSC-arm size for a control-arm size (round half up)."""
        return max(1, int(math.floor(self.allocation_ratio * n_control + 0.5)))


@dataclass(frozen=True)
class OutcomeModelConfig:
    """``[outcome_model]``: overrides of the preset natural history."""

    sd_change: float | None = None
    rho: float | None = None
    control_change: float | None = None
    heterogeneity: str = "none"
    effect_cv: float = 0.0
    responder_fraction: float | None = None
    modifier: str | None = None
    modifier_slope: float | None = None
    visit_correlation: float | None = None
    per_outcome: dict[str, dict[str, tuple[float, ...]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. Build with :func:`load_scenario` or :func:`parse_scenario`."""

    name: str
    seed: int
    n_trials: int
    population: PopulationConfig
    endpoint: EndpointConfig
    effect: EffectConfig
    design: DesignConfig
    outcome_model: OutcomeModelConfig
    description: str = ""
    source_path: str | None = None
    arms: tuple[ArmConfig, ...] = ()
    endpoints: tuple[EndpointConfig, ...] = ()
    dropout: DropoutConfig | None = None
    multiplicity: MultiplicityConfig = field(default_factory=MultiplicityConfig)
    sequential: SequentialConfig | None = None
    conduct: Any = None          # simtrial.conduct.ConductConfig

    @property
    def extended(self) -> bool:
        """True if the scenario needs the full design engine (:mod:`simtrial.trial`): several
        arms or endpoints, strata, dropout, interim looks, MMRM/MI, responders, log scale or a
        margin. Otherwise the fast prefix-sum engine (:mod:`simtrial.engine`) is used."""
        return bool(self.arms or self.endpoints or self.dropout is not None
                    or self.sequential is not None or self.population.strata
                    or self.multiplicity.method != "none" or not self.endpoint.is_default
                    or self.effect.outcomes or self.conduct is not None)

    @property
    def all_endpoints(self) -> tuple[EndpointConfig, ...]:
        """Primary endpoint first, then the secondary ones."""
        return (self.endpoint,) + self.endpoints

    @property
    def msc_arms(self) -> tuple[ArmConfig, ...]:
        """The MSC arms (one default arm when ``[[arms]]`` is absent)."""
        return self.arms or (ArmConfig("MSC", self.design.allocation_ratio, 1.0),)

    def replace(self, **changes: Any) -> "Scenario":
        """Copy with top-level or dotted-key changes, re-validated (e.g. ``{"design.n_per_arm": 50}``)."""
        data = self.to_dict()
        for key, value in changes.items():
            parts = key.split(".")
            node = data
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            if value is None:       # None removes the key (back to its default)
                node.pop(parts[-1], None)
            else:
                node[parts[-1]] = value
        return parse_scenario(data, origin=self.source_path)

    def to_dict(self) -> dict[str, Any]:
        """The scenario as TOML-shaped plain data (round-trips through :func:`parse_scenario`)."""
        pop: dict[str, Any] = {"preset": self.population.preset}
        for var, params in self.population.marginals.items():
            pop[var] = dict(params)
        if self.population.criteria:
            pop["criteria"] = {k: ("none" if v is None else list(v))
                               for k, v in self.population.criteria.items()}
        if self.population.correlation:
            pop["correlation"] = {f"{a},{b}": r for (a, b), r in self.population.correlation.items()}
        eff: dict[str, Any] = {"source": self.effect.source, "population": self.effect.population}
        if self.effect.row is not None:
            eff["row"] = self.effect.row
        if self.effect.md is not None:
            eff["md"] = self.effect.md
        defaults = EffectConfig("", "")
        for f in dataclasses.fields(EffectConfig)[4:]:
            v = getattr(self.effect, f.name)
            if f.name == "outcomes":
                if v:
                    eff["outcomes"] = dict(v)
                continue
            if v != getattr(defaults, f.name):
                eff[f.name] = ([{"weight": w, "mean": m, "sd": sd} for w, m, sd in v]
                               if f.name == "components" else v)
        des: dict[str, Any] = {
            "n_per_arm": self.design.n_per_arm, "allocation_ratio": self.design.allocation_ratio,
            "alpha": self.design.alpha, "sides": self.design.sides,
            "target_power": list(self.design.target_power),
            "max_n_per_arm": self.design.max_n_per_arm}
        if self.design.n_grid is not None:
            des["n_grid"] = list(self.design.n_grid)
        if self.design.visits is not None:
            des["visits"] = list(self.design.visits)
        if self.design.target != "power":
            des["target"] = self.design.target
        om: dict[str, Any] = {"heterogeneity": self.outcome_model.heterogeneity,
                              "effect_cv": self.outcome_model.effect_cv}
        for k in ("sd_change", "rho", "control_change", "visit_correlation", "responder_fraction",
                  "modifier", "modifier_slope"):
            v = getattr(self.outcome_model, k)
            if v is not None:
                om[k] = v
        for outcome, params in self.outcome_model.per_outcome.items():
            om[outcome] = {k: list(v) for k, v in params.items()}
        if self.population.strata:
            pop["strata"] = dict(self.population.strata)
        out = {
            "name": self.name, "description": self.description, "seed": self.seed,
            "n_trials": self.n_trials, "population": pop,
            "endpoint": self.endpoint.as_toml(), "effect": eff, "design": des,
            "outcome_model": om,
        }
        if self.arms:
            des.pop("allocation_ratio", None)
            out["arms"] = [dataclasses.asdict(a) for a in self.arms]
        if self.endpoints:
            out["endpoints"] = [e.as_toml() for e in self.endpoints]
        if self.dropout is not None:
            d = self.dropout
            dd: dict[str, Any] = {"mechanism": d.mechanism}
            if d.rate is not None:
                dd["rate"] = d.rate
            else:
                dd["per_visit"] = list(d.per_visit)
            if d.mechanism != "mcar":
                dd["outcome"] = d.outcome
                dd["strength"] = d.strength
            if d.intermittent:
                dd["intermittent"] = d.intermittent
            out["dropout"] = dd
        if self.multiplicity.method != "none":
            out["multiplicity"] = {"method": self.multiplicity.method}
            if self.multiplicity.method == "hierarchical":
                out["multiplicity"]["within"] = self.multiplicity.within
        if self.sequential is not None:
            q = self.sequential
            sq: dict[str, Any] = {"fractions": list(q.fractions), "spending": q.spending}
            if q.gamma is not None:
                sq["gamma"] = q.gamma
            if q.futility is not None:
                sq["futility"] = list(q.futility)
                sq["binding"] = q.binding
            out["sequential"] = sq
        if self.conduct is not None:
            out["conduct"] = self.conduct.to_toml()
        return out

    @property
    def visit_months(self) -> tuple[int, ...]:
        """Scheduled visits: ``design.visits`` (default 3, 6, 12) plus every endpoint's month."""
        return tuple(sorted(set(self.design.visits or VISITS)
                            | {e.visit_months for e in self.all_endpoints}))

    def hash(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_dict` (identifies the design)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=_json_default).encode()
        return hashlib.sha256(blob).hexdigest()


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and math.isinf(o):
        return "inf" if o > 0 else "-inf"
    raise TypeError(type(o).__name__)



# ---------------------------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------------------------

def _population(data: dict) -> PopulationConfig:
    t = table(data, "population", "", required=True)
    allowed = ("preset", "criteria", "correlation", "strata") + tuple(VARIABLES)
    check_keys(t, "population", allowed)
    preset = choice(t, "preset", "population", tuple(PRESETS))
    marginals: dict[str, dict[str, Any]] = {}
    base = PRESETS[preset]["variables"]
    for var in VARIABLES:
        if var not in t:
            continue
        path = f"population.{var}"
        sub = table(t, var, "population")
        check_keys(sub, path, MARGINAL_KEYS)
        family = choice(sub, "family", path, FAMILIES, base[var]["family"])
        params: dict[str, Any] = {"family": family} if "family" in sub else {}
        merged = {**base[var], **{k: v for k, v in sub.items()}}
        if family in ("normal", "truncnorm", "lognormal"):
            for k in ("mean", "sd"):
                if k in sub:
                    gt = 0.0 if (k == "sd" or family == "lognormal") else None
                    params[k] = number(sub, k, path, gt=gt, example=f"{k} = {base[var].get(k, 1.0)}")
                    if math.isinf(params[k]):
                        raise err(f"{path}.{k}", params[k], "must be finite",
                                   f"{k} = {base[var].get(k, 1.0)}")
                elif k not in merged:
                    raise ScenarioError(f"scenario error: {path}.{k} is required for family "
                                        f"{fmt_value(family)}")
        if family == "truncnorm":
            for k in ("lower", "upper"):
                if k in sub:
                    params[k] = number(sub, k, path, example=f"{k} = {base[var].get(k, 0.0)}")
            lo = params.get("lower", merged.get("lower", -math.inf))
            hi = params.get("upper", merged.get("upper", math.inf))
            if not lo < hi:
                raise err(f"{path}.upper", hi, f"must be > lower = {lo:g}")
        if family == "bernoulli":
            if "p" in sub or "p" not in merged:
                params["p"] = number(sub, "p", path, gt=0.0, lt=1.0, example="p = 0.5")
        for k in sub:
            if k not in params and k != "family":
                raise err(f"{path}.{k}", sub[k], f"is not used by family {fmt_value(family)}")
        marginals[var] = params
    criteria: dict[str, tuple[float, float] | None] = {}
    crit = table(t, "criteria", "population")
    check_keys(crit, "population.criteria", CRITERIA_VARIABLES)
    for var, v in crit.items():
        path = f"population.criteria.{var}"
        if v == "none":
            criteria[var] = None
            continue
        ex = f'{var} = [low, high] or "none"'
        if isinstance(v, dict):
            check_keys(v, path, ("min", "max"))
            v = [v.get("min", -math.inf), v.get("max", math.inf)]
        lo, hi = number_list(v, path, 2, ex)
        if not lo <= hi:
            raise err(path, [lo, hi], "must have low <= high", ex)
        criteria[var] = (lo, hi)
    corr: dict[tuple[str, str], float] = {}
    ct = table(t, "correlation", "population")
    for key, r in ct.items():
        path = f'population.correlation."{key}"'
        parts = [p.strip() for p in str(key).split(",")]
        if len(parts) != 2 or parts[0] == parts[1] or any(p not in VARIABLES for p in parts):
            raise ScenarioError(
                f'scenario error: {path} must name two different variables as "a,b" from '
                f'{", ".join(VARIABLES)} (e.g. "hba1c,fbg" = 0.6)')
        corr[(parts[0], parts[1])] = number({}, path, "", value=r, gt=-1.0, lt=1.0,
                                            example=f'"{key}" = 0.3')
    strata = None
    if "strata" in t:
        st = t["strata"]
        ex = "strata = { t1d = 0.5, t2d = 0.5 }"
        if not isinstance(st, dict) or len(st) < 2:
            raise err("population.strata", st, "must be a table of at least two presets with "
                       "their fractions", ex)
        check_keys(st, "population.strata", tuple(PRESETS))
        strata = {k: number(st, k, "population.strata", gt=0.0, lt=1.0, example=ex) for k in st}
        total = sum(strata.values())
        if abs(total - 1.0) > 1e-9:
            raise err("population.strata", st, f"fractions must sum to 1 (they sum to {total:g})",
                       ex)
        if preset not in strata:
            raise err("population.preset", preset, "must be one of the strata "
                       f"({', '.join(strata)})", f'preset = "{next(iter(strata))}"')
    return PopulationConfig(preset, marginals, criteria, corr, strata)


ENDPOINT_KEYS = ("outcome", "visit_months", "analysis", "type", "scale", "hypothesis", "margin",
                 "responder", "combine", "missing", "imputations", "name")
LOG_OUTCOMES = tuple(k for k, o in OUTCOMES.items() if o.scale == "log")


def _endpoint_table(t: dict, path: str, sides: int, primary: bool) -> EndpointConfig:
    allowed = ENDPOINT_KEYS if not primary else tuple(k for k in ENDPOINT_KEYS if k != "name")
    check_keys(t, path, allowed)
    etype = choice(t, "type", path, ENDPOINT_TYPES, "continuous")
    visit = integer(t, "visit_months", path, lo=1, hi=MAX_MONTH, example="visit_months = 12")
    name = "primary"
    if not primary:
        name = t.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name) or name == "primary":
            raise err(f"{path}.name", name, "must be a short unique name (letters, digits, _ - .;"
                       ' not "primary")', 'name = "insulin_12m"')
    responder: tuple[tuple[str, str, float], ...] = ()
    combine, missing = "all", "nonresponder"
    if etype == "responder":
        for key in ("outcome", "scale", "hypothesis", "margin", "imputations"):
            if key in t:
                raise err(f"{path}.{key}", t[key], 'is not used with type = "responder" (the '
                           "outcomes come from the responder criteria)")
        ex = 'responder = [{outcome = "hba1c", max = 7.0}, {outcome = "insulin_dose", pct_change_max = -50}]'
        crit = t.get("responder")
        if not isinstance(crit, list) or not crit:
            raise err(f"{path}.responder", crit, "must be a non-empty list of criteria", ex)
        parsed = []
        for i, c in enumerate(crit):
            cp = f"{path}.responder[{i}]"
            if not isinstance(c, dict):
                raise err(cp, c, "must be a table {outcome, <bound> = value}", ex)
            check_keys(c, cp, ("outcome",) + RESPONDER_BOUNDS)
            oc = choice(c, "outcome", cp, tuple(OUTCOMES))
            bounds = [b for b in RESPONDER_BOUNDS if b in c]
            if not bounds:
                raise ScenarioError(f"scenario error: {cp} needs a bound: one of "
                                    f"{', '.join(RESPONDER_BOUNDS)} (e.g. {ex})")
            for b in bounds:
                v = number(c, b, cp, example=f"{b} = 7.0")
                if math.isinf(v):
                    raise err(f"{cp}.{b}", v, "must be finite", f"{b} = 7.0")
                parsed.append((oc, b, v))
        responder = tuple(parsed)
        outcome = responder[0][0]
        combine = choice(t, "combine", path, ("all", "any"), "all")
        missing = choice(t, "missing", path, ("nonresponder", "complete_case"), "nonresponder")
        analysis = choice(t, "analysis", path, RESPONDER_ANALYSES, "chisq")
        return EndpointConfig(outcome, int(visit), analysis, etype, responder=responder,
                              combine=combine, missing=missing, name=name)
    for key in ("responder", "combine", "missing"):
        if key in t:
            raise err(f"{path}.{key}", t[key], 'is only used with type = "responder"',
                       'type = "responder"')
    if "outcome" not in t:
        raise ScenarioError(f"scenario error: {path}.outcome is required (one of "
                            f"{', '.join(OUTCOMES)})")
    outcome = choice(t, "outcome", path, tuple(OUTCOMES))
    analysis = choice(t, "analysis", path, CONTINUOUS_ANALYSES, "ancova")
    scale = choice(t, "scale", path, ("natural", "log"), "natural")
    if scale == "log" and outcome not in LOG_OUTCOMES:
        raise err(f"{path}.scale", scale, f"is only for outcomes on a ratio scale "
                   f"({', '.join(LOG_OUTCOMES)}); {outcome} is analysed on its natural scale",
                   'scale = "natural"')
    hyp = choice(t, "hypothesis", path, HYPOTHESES, "superiority")
    margin = number(t, "margin", path, 0.0, ge=0.0, le=1e6, example="margin = 0.3")
    if hyp == "noninferiority":
        if margin <= 0.0:
            raise ScenarioError(f"scenario error: {path}.margin is required (> 0) for hypothesis "
                                '= "noninferiority" (e.g. margin = 0.3)')
        if sides != 1:
            raise err("design.sides", sides, f'must be 1 for {path}.hypothesis = '
                       '"noninferiority" (a one-sided test, e.g. alpha = 0.025)', "sides = 1")
    imputations = integer(t, "imputations", path, 20, lo=2, hi=500, example="imputations = 20")
    if "imputations" in t and analysis != "mi":
        raise err(f"{path}.imputations", t["imputations"], 'is only used with analysis = "mi"',
                   'analysis = "mi"')
    return EndpointConfig(outcome, int(visit), analysis, etype, scale, hyp, margin,
                          imputations=imputations, name=name)


def _endpoint(data: dict, sides: int = 2) -> EndpointConfig:
    t = table(data, "endpoint", "", required=True)
    return _endpoint_table(t, "endpoint", sides, primary=True)


def _endpoints(data: dict, sides: int) -> tuple[EndpointConfig, ...]:
    if "endpoints" not in data:
        return ()
    v = data["endpoints"]
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise err("endpoints", v, "must be an array of tables [[endpoints]]",
                   '[[endpoints]] name = "insulin_12m", outcome = "insulin_dose", visit_months = 12')
    out = tuple(_endpoint_table(x, f"endpoints[{i}]", sides, primary=False)
                for i, x in enumerate(v))
    names = [e.name for e in out]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise err(f"endpoints[{i}].name", n, "must be unique")
    return out


def _arms(data: dict, design: "DesignConfig") -> tuple[ArmConfig, ...]:
    if "arms" not in data:
        return ()
    v = data["arms"]
    ex = '[[arms]] name = "high", ratio = 1.0, effect_scale = 1.0'
    if not isinstance(v, list) or not v or not all(isinstance(x, dict) for x in v):
        raise err("arms", v, "must be an array of tables [[arms]]", ex)
    if "allocation_ratio" in data.get("design", {}):
        raise ScenarioError("scenario error: design.allocation_ratio is not used with [[arms]]; "
                            "give each arm its ratio (e.g. ratio = 1.0)")
    arms = []
    for i, a in enumerate(v):
        path = f"arms[{i}]"
        check_keys(a, path, ("name", "ratio", "effect_scale"))
        name = a.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name) or name.lower() == "control":
            raise err(f"{path}.name", name, 'must be a short unique name (not "control")',
                       'name = "high_dose"')
        if any(name == b.name for b in arms):
            raise err(f"{path}.name", name, "must be unique")
        ratio = number(a, "ratio", path, 1.0, gt=0.0, le=10.0, example="ratio = 1.0")
        if DesignConfig(design.n_per_arm, ratio).n_msc(design.n_per_arm) < 2:
            raise err(f"{path}.ratio", ratio, f"gives an arm of fewer than 2 patients at "
                       f"design.n_per_arm = {design.n_per_arm}")
        scale = number(a, "effect_scale", path, 1.0, ge=0.0, le=10.0, example="effect_scale = 0.5")
        arms.append(ArmConfig(name, ratio, scale))
    return tuple(arms)


def _dropout(data: dict, visits: tuple[int, ...], primary: str) -> DropoutConfig | None:
    if "dropout" not in data:
        return None
    t = table(data, "dropout", "")
    check_keys(t, "dropout", ("rate", "per_visit", "mechanism", "outcome", "strength",
                               "intermittent"))
    if ("rate" in t) == ("per_visit" in t):
        raise ScenarioError("scenario error: [dropout] needs exactly one of rate (cumulative by "
                            "the last visit) or per_visit (e.g. rate = 0.2)")
    rate = number(t, "rate", "dropout", None, ge=0.0, lt=1.0, example="rate = 0.2")
    per = None
    if "per_visit" in t:
        per = number_list(t["per_visit"], "dropout.per_visit", len(visits),
                          f"per_visit = [{', '.join(['0.05'] * len(visits))}] for months "
                          f"{', '.join(map(str, visits))}", ge=0.0, lt=1.0)
    mech = choice(t, "mechanism", "dropout", DROPOUT_MECHANISMS, "mcar")
    outcome = choice(t, "outcome", "dropout", tuple(OUTCOMES), primary)
    strength = number(t, "strength", "dropout", 0.0, ge=-10.0, le=10.0, example="strength = 1.0")
    if mech == "mcar":
        for key in ("strength", "outcome"):
            if key in t:
                raise err(f"dropout.{key}", t[key], 'is only used with mechanism = "mar" or '
                           '"mnar"', 'mechanism = "mar"')
    elif "strength" not in t:
        raise ScenarioError(f'scenario error: dropout.strength is required for mechanism = '
                            f'"{mech}" (log-odds per baseline SD of a worse value, e.g. '
                            f'strength = 1.0)')
    inter = number(t, "intermittent", "dropout", 0.0, ge=0.0, lt=1.0, example="intermittent = 0.05")
    return DropoutConfig(rate, per, mech, outcome if mech != "mcar" else None, strength, inter)


def _multiplicity(data: dict) -> MultiplicityConfig:
    t = table(data, "multiplicity", "")
    check_keys(t, "multiplicity", ("method", "within"))
    method = choice(t, "method", "multiplicity", MULTIPLICITY_METHODS, "none")
    within = choice(t, "within", "multiplicity", WITHIN_METHODS, "holm")
    if "within" in t and method != "hierarchical":
        raise err("multiplicity.within", t["within"], 'is only used with method = "hierarchical"',
                   'method = "hierarchical"')
    return MultiplicityConfig(method, within)


def _sequential(data: dict) -> SequentialConfig | None:
    if "sequential" not in data:
        return None
    t = table(data, "sequential", "")
    check_keys(t, "sequential", ("looks", "fractions", "spending", "gamma", "futility",
                                  "binding"))
    if ("looks" in t) == ("fractions" in t):
        raise ScenarioError("scenario error: [sequential] needs exactly one of looks (equally "
                            "spaced) or fractions (e.g. looks = 2)")
    if "looks" in t:
        k = integer(t, "looks", "sequential", lo=1, hi=10, example="looks = 2")
        fr = tuple((i + 1) / k for i in range(k))
    else:
        ex = "fractions = [0.5, 1.0]"
        fr = number_list(t["fractions"], "sequential.fractions", None, ex, gt=0.0, le=1.0)
        if not fr or any(b <= a for a, b in zip(fr, fr[1:])) or fr[-1] != 1.0:
            raise err("sequential.fractions", t["fractions"], "must increase and end at 1.0", ex)
        if len(fr) > 10:
            raise err("sequential.fractions", t["fractions"], "must have at most 10 looks", ex)
    spending = choice(t, "spending", "sequential", SPENDING, "obf")
    gamma = number(t, "gamma", "sequential", None, ge=-40.0, le=40.0, example="gamma = -4")
    if spending == "hsd" and gamma is None:
        raise ScenarioError('scenario error: sequential.gamma is required for spending = "hsd" '
                            "(e.g. gamma = -4)")
    if spending != "hsd" and gamma is not None:
        raise err("sequential.gamma", gamma, 'is only used with spending = "hsd"',
                   'spending = "hsd"')
    fut = None
    if "futility" in t:
        ex = f"futility = [{', '.join(['0.0'] * max(len(fr) - 1, 1))}]"
        if len(fr) < 2:
            raise err("sequential.futility", t["futility"], "needs at least two looks")
        fut = number_list(t["futility"], "sequential.futility", len(fr) - 1, ex, ge=-10.0,
                          le=10.0)
    binding = t.get("binding", False)
    if not isinstance(binding, bool):
        raise err("sequential.binding", binding, "must be true or false", "binding = false")
    if binding and fut is None:
        raise err("sequential.binding", binding, "needs sequential.futility", "futility = [0.0]")
    return SequentialConfig(fr, spending, gamma, fut, binding)


EFFECT_KEYS = ("source", "population", "row", "md", "distribution", "se", "i2", "k", "tau2",
               "predictive_dist", "discount", "sceptical_sd", "family", "mean", "sd", "df",
               "components", "after_last", "half_life_months", "outcomes")


def _effect(data: dict, preset: str) -> EffectConfig:
    t = table(data, "effect", "", required=True)
    check_keys(t, "effect", EFFECT_KEYS)
    source = choice(t, "source", "effect", EFFECT_SOURCES)
    population = choice(t, "population", "effect", EVIDENCE_POPULATIONS,
                         PRESET_POPULATION[preset])
    dist = choice(t, "distribution", "effect", DISTRIBUTIONS, "point")
    row = t.get("row")
    md = t.get("md")
    if source == "fixed":
        if "md" not in t and not (dist == "custom" and ("mean" in t or "components" in t)):
            raise ScenarioError('scenario error: effect.md is required when effect.source = '
                                '"fixed" (e.g. md = -0.5)')
        if "md" in t:
            md = number(t, "md", "effect", example="md = -0.5")
            if math.isinf(md):
                raise err("effect.md", md, "must be finite", "md = -0.5")
        if row is not None:
            raise err("effect.row", row, 'is only used with effect.source = "evidence"')
    else:
        if md is not None:
            raise err("effect.md", md, 'is only used with effect.source = "fixed"',
                       'source = "fixed"')
        if row is not None and (not isinstance(row, str) or not row):
            raise err("effect.row", row, "must be an evidence row id",
                       'row = "k25seed_insulin_dose_12m_all"')
    fin = {"le": 1e9, "ge": -1e9}
    se = number(t, "se", "effect", None, gt=0.0, le=1e9, example="se = 0.2")
    i2 = number(t, "i2", "effect", None, ge=0.0, lt=100.0, example="i2 = 56")
    k = integer(t, "k", "effect", None, lo=2, hi=10_000, example="k = 11")
    tau2 = number(t, "tau2", "effect", None, ge=0.0, le=1e9, example="tau2 = 0.05")
    pdist = choice(t, "predictive_dist", "effect", ("normal", "t"), "normal")
    discount = number(t, "discount", "effect", 1.0, ge=0.0, le=10.0, example="discount = 0.5")
    sceptical = number(t, "sceptical_sd", "effect", None, gt=0.0, le=1e9, example="sceptical_sd = 0.3")
    after = choice(t, "after_last", "effect", ("wane", "hold"), "wane")
    half = number(t, "half_life_months", "effect", 12.0, gt=0.0, le=1000.0,
                  example="half_life_months = 12")
    family = mean = sd = df = comps = None
    used_by = {"se": ("pooled", "predictive"), "i2": ("predictive",), "k": ("predictive",),
               "tau2": ("predictive",), "predictive_dist": ("predictive",),
               "discount": ("pooled", "predictive", "custom"),
               "sceptical_sd": ("pooled", "predictive"),
               "family": ("custom",), "mean": ("custom",), "sd": ("custom",), "df": ("custom",),
               "components": ("custom",)}
    for key, dists in used_by.items():
        if key in t and dist not in dists:
            raise err(f"effect.{key}", t[key], "is only used with distribution = "
                       + " | ".join(f'"{d}"' for d in dists), f'distribution = "{dists[0]}"')
    if source == "fixed" and dist in ("pooled", "predictive") and se is None:
        raise ScenarioError(f'scenario error: effect.se is required for distribution = "{dist}" '
                            'with source = "fixed" (e.g. se = 0.2)')
    if dist == "custom":
        family = choice(t, "family", "effect", CUSTOM_FAMILIES)
        if family in ("normal", "t"):
            if "mixture" != family and "components" in t:
                raise err("effect.components", t["components"], 'is only used with family = "mixture"')
            mean = number(t, "mean", "effect", md if source == "fixed" else None, **fin,
                          example="mean = -0.72")
            sd = number(t, "sd", "effect", REQUIRED, gt=0.0, le=1e9, example="sd = 0.30")
            if family == "t":
                df = number(t, "df", "effect", REQUIRED, gt=0.0, le=1e6, example="df = 5")
            elif "df" in t:
                raise err("effect.df", t["df"], 'is only used with family = "t"', 'family = "t"')
        else:
            for key in ("mean", "sd", "df"):
                if key in t:
                    raise err(f"effect.{key}", t[key], 'is not used with family = "mixture" '
                               "(give components = [{weight, mean, sd}, ...])")
            comps_raw = t.get("components")
            ex = "components = [{weight = 0.6, mean = -0.9, sd = 0.2}, {weight = 0.4, mean = 0.0, sd = 0.2}]"
            if not isinstance(comps_raw, list) or not comps_raw:
                raise err("effect.components", comps_raw, "must be a non-empty list of tables", ex)
            parsed = []
            for i, c in enumerate(comps_raw):
                path = f"effect.components[{i}]"
                if not isinstance(c, dict):
                    raise err(path, c, "must be a table {weight, mean, sd}", ex)
                check_keys(c, path, ("weight", "mean", "sd"))
                parsed.append((number(c, "weight", path, gt=0.0, le=1.0, example=ex),
                               number(c, "mean", path, **fin, example=ex),
                               number(c, "sd", path, gt=0.0, le=1e9, example=ex)))
            total = sum(w for w, _, _ in parsed)
            if abs(total - 1.0) > 1e-6:
                raise err("effect.components", comps_raw,
                           f"weights must sum to 1 (they sum to {total:g})", ex)
            comps = tuple(parsed)
    outs: dict[str, float] = {}
    ot = table(t, "outcomes", "effect")
    check_keys(ot, "effect.outcomes", tuple(OUTCOMES))
    for o, v in ot.items():
        outs[o] = number(ot, o, "effect.outcomes", ge=-1e6, le=1e6, example=f"{o} = 0.0")
    return EffectConfig(source, population, row, md, dist, se, i2, k, tau2, pdist, discount,
                        sceptical, family, mean, sd, df, comps, after, half, outs)


def _design(data: dict) -> DesignConfig:
    t = table(data, "design", "", required=True)
    allowed = ("n_per_arm", "allocation_ratio", "alpha", "sides", "target_power", "max_n_per_arm",
               "n_grid", "visits", "target")
    check_keys(t, "design", allowed)
    n = integer(t, "n_per_arm", "design", lo=2, hi=100_000, example="n_per_arm = 40")
    ratio = number(t, "allocation_ratio", "design", 1.0, gt=0.0, le=10.0,
                   example="allocation_ratio = 1.0")
    alpha = number(t, "alpha", "design", 0.05, gt=0.0, lt=0.5, example="alpha = 0.05")
    n_msc = DesignConfig(n, ratio).n_msc(n)
    if n_msc < 2:
        raise err("design.allocation_ratio", ratio, f"gives an MSC arm of {n_msc} patient at "
                   f"design.n_per_arm = {n}; the MSC arm needs >= 2 (raise allocation_ratio "
                   f"or n_per_arm)", f"allocation_ratio = {math.ceil(150 / n) / 100:g}")
    sides = choice(t, "sides", "design", (2, 1), 2)
    tp = t.get("target_power", [0.8, 0.9])
    if isinstance(tp, (int, float)) and not isinstance(tp, bool):
        tp = [tp]
    targets = number_list(tp, "design.target_power", None, "target_power = [0.8, 0.9]",
                          gt=0.0, lt=1.0)
    if not targets:
        raise err("design.target_power", tp, "must list at least one power",
                   "target_power = [0.8, 0.9]")
    max_n = integer(t, "max_n_per_arm", "design", max(2000, n), lo=2, hi=100_000,
                 example="max_n_per_arm = 2000")
    if max_n < n:
        raise err("design.max_n_per_arm", max_n, f"must be >= design.n_per_arm = {n}")
    grid = None
    if "n_grid" in t:
        g = t["n_grid"]
        if not isinstance(g, list) or not g:
            raise err("design.n_grid", g, "must be a non-empty list of integers",
                       "n_grid = [10, 20, 40]")
        grid = tuple(sorted({integer({f"design.n_grid[{i}]": x}, f"design.n_grid[{i}]", "", lo=2,
                                  hi=max_n, example="n_grid = [10, 20, 40]")
                             for i, x in enumerate(g)}))
        for i, x in enumerate(g):
            if DesignConfig(n, ratio).n_msc(int(x)) < 2:
                raise err(f"design.n_grid[{i}]", x, f"gives an MSC arm of 1 patient at "
                           f"allocation_ratio = {ratio:g}; the MSC arm needs >= 2",
                           "n_grid = [10, 20, 40]")
    visits = None
    if "visits" in t:
        v = t["visits"]
        if not isinstance(v, list) or not v:
            raise err("design.visits", v, f"must be a non-empty list of months 1-{MAX_MONTH}",
                       "visits = [3, 6, 12]")
        visits = tuple(sorted({integer({"x": x}, "x", "", lo=1, hi=MAX_MONTH,
                                    example="visits = [3, 6, 12]") for x in v}))
    target = choice(t, "target", "design", ("power", "assurance"), "power")
    return DesignConfig(n, ratio, alpha, int(sides), tuple(sorted(set(targets))), max_n, grid,
                        visits, target)


def _outcome_model(data: dict) -> OutcomeModelConfig:
    t = table(data, "outcome_model", "")
    allowed = ("sd_change", "rho", "control_change", "heterogeneity", "effect_cv",
               "responder_fraction", "modifier", "modifier_slope",
               "visit_correlation") + tuple(OUTCOMES)
    check_keys(t, "outcome_model", allowed)
    sd = number(t, "sd_change", "outcome_model", None, gt=0.0, le=1e6, example="sd_change = 1.1")
    rho = number(t, "rho", "outcome_model", None, gt=-1.0, lt=1.0, example="rho = 0.5")
    cc = number(t, "control_change", "outcome_model", None, example="control_change = -0.5")
    if cc is not None and math.isinf(cc):
        raise err("outcome_model.control_change", cc, "must be finite", "control_change = -0.5")
    het = choice(t, "heterogeneity", "outcome_model", HETEROGENEITY, "none")
    cv = number(t, "effect_cv", "outcome_model", 0.0, ge=0.0, le=10.0, example="effect_cv = 0.5")
    if het == "none" and cv != 0.0:
        raise err("outcome_model.effect_cv", cv, 'is only used with heterogeneity = "normal"',
                   'heterogeneity = "normal"')
    if het == "normal" and cv == 0.0:
        raise ScenarioError('scenario error: outcome_model.effect_cv is required (> 0) when '
                            'heterogeneity = "normal" (e.g. effect_cv = 0.5)')
    rf = number(t, "responder_fraction", "outcome_model", None, gt=0.0, le=1.0,
                example="responder_fraction = 0.3")
    mod = choice(t, "modifier", "outcome_model", MODIFIERS, None) if "modifier" in t else None
    slope = number(t, "modifier_slope", "outcome_model", None, ge=-10.0, le=10.0,
                   example="modifier_slope = 0.5")
    for key, mode in (("responder_fraction", "responders"), ("modifier", "modifier"),
                      ("modifier_slope", "modifier")):
        if key in t and het != mode:
            raise err(f"outcome_model.{key}", t[key], f'is only used with heterogeneity = "{mode}"',
                       f'heterogeneity = "{mode}"')
    if het == "responders" and rf is None:
        raise ScenarioError('scenario error: outcome_model.responder_fraction is required when '
                            'heterogeneity = "responders" (e.g. responder_fraction = 0.3)')
    if het == "modifier" and (mod is None or slope is None):
        raise ScenarioError('scenario error: outcome_model.modifier and modifier_slope are required '
                            'when heterogeneity = "modifier" (e.g. modifier = "hba1c", '
                            'modifier_slope = 0.5)')
    vc = number(t, "visit_correlation", "outcome_model", None, gt=-1.0, lt=1.0,
                example="visit_correlation = 0.6")
    if vc is not None and vc <= 0.0:
        raise err("outcome_model.visit_correlation", vc, "must be > 0", "visit_correlation = 0.6")
    per: dict[str, dict[str, tuple[float, ...]]] = {}
    for outcome in OUTCOMES:
        if outcome not in t:
            continue
        sub = table(t, outcome, "outcome_model")
        path = f"outcome_model.{outcome}"
        check_keys(sub, path, OUTCOME_PARAM_KEYS)
        params: dict[str, tuple[float, ...]] = {}
        for k, bounds in (("control_change", {"ge": -1e6, "le": 1e6}),
                          ("sd_change", {"gt": 0.0, "le": 1e6}),
                          ("rho", {"gt": -1.0, "lt": 1.0})):
            if k in sub:
                params[k] = number_list(sub[k], f"{path}.{k}", len(VISITS),
                                        f"{k} = [..3 numbers for months 3, 6, 12..]", **bounds)
                if any(math.isinf(x) for x in params[k]):
                    raise err(f"{path}.{k}", sub[k], "must be finite")
        per[outcome] = params
    return OutcomeModelConfig(sd, rho, cc, het, cv, rf, mod, slope, vc, per)


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
TOP_KEYS = ("name", "description", "seed", "n_trials", "population", "endpoint", "effect",
            "design", "outcome_model", "arms", "endpoints", "dropout", "multiplicity",
            "sequential", "conduct")


def parse_scenario(data: dict, origin: str | None = None) -> Scenario:
    """Validate TOML-shaped data into a :class:`Scenario`.

    Parameters
    ----------
    data : dict
        As returned by ``tomllib.load``.
    origin : str, optional
        Path of the file, used for the default name and in the manifest.

    Raises
    ------
    ScenarioError
        One-line message naming the key path, the value and what is allowed.
    """
    if not isinstance(data, dict):
        raise ScenarioError("scenario error: the scenario must be a TOML table")
    check_keys(data, "", TOP_KEYS)
    default_name = Path(origin).stem if origin else None
    name = data.get("name", default_name)
    if name is None:
        raise ScenarioError('scenario error: name is required (e.g. name = "t1d_hba1c_12m")')
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise err("name", name, "must be 1-100 letters, digits, '_', '-' or '.', starting with a "
                   "letter or digit (it names the output folder)", 'name = "t1d_hba1c_12m"')
    description = data.get("description", "")
    if not isinstance(description, str):
        raise err("description", description, "must be a string")
    seed = integer(data, "seed", "", 20261122, lo=0, hi=2**63 - 1, example="seed = 20261122")
    n_trials = integer(data, "n_trials", "", 10_000, lo=1, hi=100_000_000, example="n_trials = 10000")
    population = _population(data)
    design = _design(data)
    endpoint = _endpoint(data, design.sides)
    effect = _effect(data, population.preset)
    om = _outcome_model(data)
    arms = _arms(data, design)
    endpoints = _endpoints(data, design.sides)
    every = (endpoint,) + endpoints
    visits = tuple(sorted(set(design.visits or VISITS) | {e.visit_months for e in every}))
    dropout = _dropout(data, visits, endpoint.outcome)
    mult = _multiplicity(data)
    seq = _sequential(data)
    conduct = parse_conduct(data, visits)
    _cross_checks(population, endpoint, effect, design, arms, endpoints, dropout, mult, seq)
    return Scenario(name, seed, n_trials, population, endpoint, effect, design, om, description,
                    origin, arms, endpoints, dropout, mult, seq, conduct)


def _cross_checks(population, endpoint, effect, design, arms, endpoints, dropout, mult, seq) -> None:
    """Rules linking sections (one-line errors)."""
    n_arms = max(len(arms), 1)
    n_hyp = n_arms * (1 + len(endpoints))
    if mult.method == "dunnett":
        if n_arms < 2:
            raise err("multiplicity.method", "dunnett", "needs at least two [[arms]] (many-to-one "
                       "comparisons)", 'method = "holm"')
        if endpoints:
            raise err("multiplicity.method", "dunnett", "applies to one endpoint; with several "
                       'endpoints use method = "hierarchical" with within = "dunnett"',
                       'method = "hierarchical"')
    if mult.method == "hierarchical" and mult.within == "dunnett" and n_arms < 2:
        raise err("multiplicity.within", "dunnett", "needs at least two [[arms]]",
                   'within = "holm"')
    if mult.method != "none" and n_hyp < 2:
        raise err("multiplicity.method", mult.method, "needs at least two hypotheses (several "
                   "[[arms]] or [[endpoints]])", 'method = "none"')
    if (mult.method == "dunnett" or mult.within == "dunnett") and any(
            e.type == "responder" for e in (endpoint,) + endpoints):
        raise err("multiplicity.method", mult.method, "with Dunnett needs continuous endpoints",
                   'within = "holm"')
    if seq is not None:
        if n_arms > 1:
            raise err("sequential", "[sequential]", "tests one hypothesis: it needs a single MSC "
                       "arm (remove [[arms]] or [sequential])")
        if seq.futility is not None and design.sides != 1:
            raise err("design.sides", design.sides, "must be 1 with sequential.futility (futility "
                       "bounds are one-sided; e.g. sides = 1, alpha = 0.025)", "sides = 1")
        if mult.method != "none":
            raise err("multiplicity.method", mult.method, "is not used with [sequential] (interim "
                       "looks test the primary hypothesis only; secondary endpoints are reported "
                       'at the final look)', 'method = "none"')
    if population.strata:
        if effect.distribution != "point":
            raise err("effect.distribution", effect.distribution, "must be \"point\" with "
                       "population.strata (each stratum takes its own evidence effect)",
                       'distribution = "point"')
        if effect.row is not None:
            raise err("effect.row", effect.row, "is not used with population.strata (each stratum "
                       "takes its own evidence row)")
    for o in effect.outcomes:
        if o == endpoint.outcome and endpoint.type == "continuous":
            raise err(f"effect.outcomes.{o}", effect.outcomes[o], "names the primary outcome; "
                       "set its effect with effect.md")


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file.

    Raises
    ------
    ScenarioError
        If the file is missing, is not valid TOML, or fails validation.
    """
    return parse_scenario(read_toml(path), origin=str(Path(path)))


def read_toml(path: str | Path) -> dict:
    """The raw table of a scenario file; a one-line ScenarioError if it cannot be read."""
    p = Path(path)
    if p.is_dir():
        raise ScenarioError(f"scenario error: {str(p)!r} is a folder, not a scenario file "
                            "(e.g. scenarios/t1d_hba1c_12m.toml)")
    if not p.is_file():
        raise ScenarioError(f"scenario error: file {str(p)!r} does not exist")
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario error: {p.name} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"scenario error: cannot read {str(p)!r}: {exc}") from None
    return data
