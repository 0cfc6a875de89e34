"""Scenario files: TOML validated once into frozen objects.

Each key is declared once below (type, bounds, default, example, one-line doc); validation, the
one-line error messages, :meth:`Scenario.to_dict` / :meth:`Scenario.hash`, the JSON Schema
(``simtrial schema``) and the key reference ``docs/scenario-keys.md``
(``python -m simtrial.spec.docs``) all come from those declarations. Read the key reference for
the list of keys, their defaults and what they mean.

Every failure is a :class:`~simtrial.errors.ScenarioError` with one line: key path, value, rule
and an example, e.g.
``scenario error: design.allocation_ratio = -1.0 must be > 0 (e.g. allocation_ratio = 1.0)``.
Unknown keys are errors with a "did you mean" hint. Checks that need the population model live in
:func:`simtrial.model.build_model`.

Sections are validated in a fixed order (population, design, endpoint, effect, outcome_model,
arms, endpoints, dropout, multiplicity, sequential, conduct), each with what it needs from the
sections before it (the preset, ``design.sides``, the visit months, the primary outcome) in the
validation context; rules linking sections are in :func:`_cross_checks`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationInfo, field_validator, model_validator

from ..errors import ScenarioError, fmt_value
from ._tables import OUTCOMES, PRESET_POPULATION, PRESETS, VARIABLES, VISITS
from ._fields import (Bool, Choice, Float, FloatList, Int, IntList, Str, check_keys,
                      choice, dump, err, integer, key, number, number_list, rule, section, table,
                      toml_keys, validate, validate_key)
from .adaptive import AdaptiveConfig, parse_adaptive
from .bayes import BayesConfig, parse_bayes
from .conduct import ConductConfig, parse_conduct
from .safety import SafetyConfig, parse_safety

__all__ = ["arm_size", "Scenario", "PopulationConfig", "EndpointConfig", "ArmConfig", "DropoutConfig",
           "MultiplicityConfig", "SequentialConfig", "EffectConfig", "DesignConfig",
           "OutcomeModelConfig", "load_scenario", "parse_scenario", "read_toml",
           "ANALYSES", "CONTINUOUS_ANALYSES", "RESPONDER_ANALYSES", "ENDPOINT_TYPES",
           "RESPONDER_BOUNDS", "HYPOTHESES", "DROPOUT_MECHANISMS", "MULTIPLICITY_METHODS",
           "WITHIN_METHODS", "SPENDING", "EFFECT_SOURCES", "EVIDENCE_POPULATIONS", "HETEROGENEITY",
           "DISTRIBUTIONS", "CUSTOM_FAMILIES", "MODIFIERS", "MAX_MONTH", "MAX_MSC_ARMS", "MAX_MODEL_VISITS",
           "MARGINAL_KEYS", "FAMILIES", "CRITERIA_VARIABLES", "OUTCOME_PARAM_KEYS", "REMISSION_KEYS",
           "ENDPOINT_KEYS", "LOG_OUTCOMES", "EFFECT_KEYS", "TOP_KEYS"]

ANALYSES = ("ancova", "ttest_change")
CONTINUOUS_ANALYSES = ("ancova", "ttest_change", "mmrm", "mi")
MMRM_DF = ("auto", "kenward-roger", "satterthwaite")
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
MAX_MSC_ARMS = 8
"""At most this many MSC arms (the design engine's limit, :func:`simtrial.model.design.build_design`)."""
MAX_MODEL_VISITS = 16
"""At most this many scheduled visits with analysis = "mmrm" or "mi" (:mod:`simtrial.mmrm`)."""
MARGINAL_KEYS = ("family", "mean", "sd", "lower", "upper", "p")
FAMILIES = ("normal", "truncnorm", "lognormal", "bernoulli")
CRITERIA_VARIABLES = tuple(VARIABLES) + ("insulin_dose",)
OUTCOME_PARAM_KEYS = ("control_change", "sd_change", "rho")
REMISSION_KEYS = {"remission_msc": {"ge": 0.0, "le": 1.0},
                  "remission_control": {"ge": 0.0, "le": 1.0},
                  "remission_reserve_or": {"gt": 0.0, "le": 100.0}}
"""``[outcome_model.insulin_dose]`` scalars: probability of insulin independence in the MSC arm
at the insulin effect's peak visit and in the control arm, and the odds ratio per SD of log
baseline fasting C-peptide (see :class:`simtrial.model.outcomes.Remission`)."""
LOG_OUTCOMES = tuple(k for k, o in OUTCOMES.items() if o.scale == "log")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_OUTCOMES = tuple(OUTCOMES)


def _ctx(info: ValidationInfo) -> dict:
    return info.context if info.context is not None else {}


def _raw(cls: type, data: Any, info: ValidationInfo) -> Any:
    """Before-validator helper: keep the raw table (rules report the value as written)."""
    if isinstance(data, dict) and info.context is not None:
        info.context["raw:" + cls.__name__] = dict(data)
    return data


def _given(self: Any, info: ValidationInfo) -> dict:
    """The raw table of this section ({} when built directly in Python)."""
    return _ctx(info).get("raw:" + type(self).__name__, {})


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)     # resolve a default on a frozen section


# ---------------------------------------------------------------------------------------------
# [population]
# ---------------------------------------------------------------------------------------------

@section
class PopulationConfig:
    """``[population]``: a preset plus overrides (validated, not yet resolved)."""

    TOML_KEYS = ("preset", "criteria", "correlation", "strata") + tuple(VARIABLES)

    preset: Choice(*PRESETS) = key(example='preset = "t1d"', doc="baseline population preset",
                                   dump="always")
    marginals: dict[str, dict[str, Any]] = key(
        factory=dict, doc="[population.<variable>]: override a marginal (family, mean, sd, "
        "lower, upper, p)", toml=False)
    criteria: dict[str, tuple[float, float] | None] = key(
        factory=dict, example='hba1c = [7.0, 10.0]', doc="[population.criteria]: <variable> = "
        '[low, high] (inclusive; inf allowed) or "none"')
    correlation: dict[tuple[str, str], float] = key(
        factory=dict, example='"hba1c,fbg" = 0.6', doc='[population.correlation]: "<var>,<var>" '
        "= r (copula correlation)")
    strata: dict[str, float] | None = key(
        None, "strata = { t1d = 0.5, t2d = 0.5 }", "stratified randomisation by type (fractions "
        "sum to 1)")

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or info.context is None:
            return data      # built in Python, already in attribute shape
        return _population(data)

    def _toml(self, d: dict) -> dict:
        out: dict[str, Any] = {"preset": self.preset}
        for var, params in self.marginals.items():
            out[var] = dict(params)
        if self.criteria:
            out["criteria"] = {k: ("none" if v is None else list(v))
                               for k, v in self.criteria.items()}
        if self.correlation:
            out["correlation"] = {f"{a},{b}": r for (a, b), r in self.correlation.items()}
        if self.strata:
            out["strata"] = dict(self.strata)
        return out


def _population(t: dict) -> dict:
    """The irregular parts of ``[population]``: per-variable marginals, criteria, correlations."""
    check_keys(t, "population", toml_keys(PopulationConfig))
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
    for k, r in ct.items():
        path = f'population.correlation."{k}"'
        parts = [p.strip() for p in str(k).split(",")]
        if len(parts) != 2 or parts[0] == parts[1] or any(p not in VARIABLES for p in parts):
            raise ScenarioError(
                f'scenario error: {path} must name two different variables as "a,b" from '
                f'{", ".join(VARIABLES)} (e.g. "hba1c,fbg" = 0.6)')
        corr[(parts[0], parts[1])] = number({}, path, "", value=r, gt=-1.0, lt=1.0,
                                            example=f'"{k}" = 0.3')
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
    return {"preset": preset, "marginals": marginals, "criteria": criteria, "correlation": corr,
            "strata": strata}


# ---------------------------------------------------------------------------------------------
# [endpoint] and [[endpoints]]
# ---------------------------------------------------------------------------------------------

_RESPONDER_EX = ('responder = [{outcome = "hba1c", max = 7.0}, '
                 '{outcome = "insulin_dose", pct_change_max = -50}]')


@section
class EndpointConfig:
    """``[endpoint]``: the primary endpoint and its analysis (``[[endpoints]]``: secondary ones,
    each with a unique ``name``)."""

    outcome: Choice(*_OUTCOMES) = key(
        example='outcome = "hba1c"', doc="outcome analysed (continuous endpoints)", dump="always",
        shown_default="required (responder: from the criteria)")
    visit_months: Int(ge=1, le=MAX_MONTH) = key(
        example="visit_months = 12", doc="month of the endpoint visit", dump="always")
    analysis: Choice(*CONTINUOUS_ANALYSES, *RESPONDER_ANALYSES) = key(
        "ancova", doc="continuous: ancova | ttest_change | mmrm | mi; responder: chisq | fisher "
        "| cmh | logistic", dump="always", shown_default='"ancova" (responder: "chisq")')
    type: Choice(*ENDPOINT_TYPES) = key("continuous", doc="continuous or responder (a "
                                        "composite of responder criteria)")
    scale: Choice("natural", "log") = key(
        "natural", doc="log: ratio of means (fasting_cpeptide, insulin_dose)")
    hypothesis: Choice(*HYPOTHESES) = key(
        "superiority", doc="noninferiority needs margin > 0 and design.sides = 1")
    margin: Float(ge=0.0, le=1e6) = key(0.0, "margin = 0.3", "non-inferiority margin, natural "
                                        "units (log scale: log ratio)")
    responder: tuple[tuple[str, str, float], ...] = key(
        (), _RESPONDER_EX, "responder criteria: {outcome, <bound> = value}, bounds " +
        " | ".join(RESPONDER_BOUNDS))
    combine: Choice("all", "any") = key("all", doc="responder: all or any criterion (composite)")
    missing: Choice("nonresponder", "complete_case") = key(
        "nonresponder", doc="responder: how a missing endpoint visit counts")
    imputations: Int(ge=2, le=500) = key(20, "imputations = 20", 'imputations for analysis = "mi"')
    df: Choice(*MMRM_DF) = key("auto", 'df = "kenward-roger"', 'analysis = "mmrm": small-sample '
                               'method, auto | kenward-roger | satterthwaite (auto: '
                               'Kenward-Roger for small trials, see simtrial.stats.mmrm)')
    name: Str = key("primary", 'name = "insulin_12m"', "a short unique name (the primary's "
                    'default "primary"; required in [[endpoints]])')

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or info.context is None:
            return data
        path, primary = _ctx(info)["path"], _ctx(info).get("primary", True)
        check_keys(data, path, toml_keys(cls))
        d = dict(data)
        etype = choice(d, "type", path, ENDPOINT_TYPES, "continuous")
        for k in ("visit_months",):       # checked in the order of the old parser
            if k not in d:
                raise ScenarioError(f"scenario error: {path}.{k} is required")
            d[k] = validate_key(cls, k, d[k], path)
        if not primary or "name" in d:
            # the primary may be named (default "primary"); a secondary must be
            name = d.get("name")
            if (not isinstance(name, str) or not _NAME_RE.match(name)
                    or (name == "primary" and not primary)):
                raise err(f"{path}.name", name, "must be a short unique name (letters, digits, _ - "
                          '.; not "primary")', 'name = "insulin_12m"')
        if etype == "responder":
            for k in ("outcome", "scale", "hypothesis", "margin", "imputations", "df"):
                if k in d:
                    raise err(f"{path}.{k}", d[k], 'is not used with type = "responder" (the '
                              "outcomes come from the responder criteria)")
            d["responder"] = _responder(d.get("responder"), path)
            d["outcome"] = d["responder"][0][0]
            for k in ("combine", "missing"):
                if k in d:
                    d[k] = validate_key(cls, k, d[k], path)
            d["analysis"] = choice(d, "analysis", path, RESPONDER_ANALYSES, "chisq")
            return d
        for k in ("responder", "combine", "missing"):
            if k in d:
                raise err(f"{path}.{k}", d[k], 'is only used with type = "responder"',
                          'type = "responder"')
        if "outcome" not in d:
            raise ScenarioError(f"scenario error: {path}.outcome is required (one of "
                                f"{', '.join(OUTCOMES)})")
        d["outcome"] = validate_key(cls, "outcome", d["outcome"], path)
        d["analysis"] = choice(d, "analysis", path, CONTINUOUS_ANALYSES, "ancova")
        return _raw(cls, d, info)

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "EndpointConfig":
        c = _ctx(info)
        if "path" not in c or self.type == "responder":
            return self
        path, t = c["path"], _given(self, info)
        if self.scale == "log" and self.outcome not in LOG_OUTCOMES:
            raise rule(f"{path}.scale", self.scale, f"is only for outcomes on a ratio scale "
                       f"({', '.join(LOG_OUTCOMES)}); {self.outcome} is analysed on its natural "
                       "scale", 'scale = "natural"')
        if self.hypothesis == "noninferiority":
            if self.margin <= 0.0:
                raise rule("", None, f"{path}.margin is required (> 0) for hypothesis = "
                           '"noninferiority" (e.g. margin = 0.3)', bare=True)
            if c.get("sides", 2) != 1:
                raise rule("design.sides", c.get("sides"), f'must be 1 for {path}.hypothesis = '
                           '"noninferiority" (a one-sided test, e.g. alpha = 0.025)', "sides = 1")
        if "df" in t and self.analysis != "mmrm":
            raise rule(f"{path}.df", t["df"], 'is only used with analysis = "mmrm"',
                       'analysis = "mmrm"')
        if "imputations" in t and self.analysis != "mi":
            raise rule(f"{path}.imputations", t["imputations"], 'is only used with analysis = '
                       '"mi"', 'analysis = "mi"')
        return self

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
        return dump(self)

    def _toml(self, d: dict) -> dict:
        if self.type == "responder":
            d.pop("outcome", None)
            d["responder"] = [{"outcome": o, b: v} for o, b, v in self.responder]
            d["combine"], d["missing"] = self.combine, self.missing
        return d


def _responder(crit: Any, path: str) -> tuple[tuple[str, str, float], ...]:
    """``responder = [{outcome, <bound> = value}, ...]`` -> ((outcome, bound, value), ...)."""
    if isinstance(crit, (list, tuple)) and crit and all(isinstance(c, tuple) for c in crit):
        return tuple(crit)     # already parsed
    if not isinstance(crit, list) or not crit:
        raise err(f"{path}.responder", crit, "must be a non-empty list of criteria", _RESPONDER_EX)
    parsed = []
    for i, c in enumerate(crit):
        cp = f"{path}.responder[{i}]"
        if not isinstance(c, dict):
            raise err(cp, c, "must be a table {outcome, <bound> = value}", _RESPONDER_EX)
        check_keys(c, cp, ("outcome",) + RESPONDER_BOUNDS)
        oc = choice(c, "outcome", cp, _OUTCOMES)
        bounds = [b for b in RESPONDER_BOUNDS if b in c]
        if not bounds:
            raise ScenarioError(f"scenario error: {cp} needs a bound: one of "
                                f"{', '.join(RESPONDER_BOUNDS)} (e.g. {_RESPONDER_EX})")
        for b in bounds:
            v = number(c, b, cp, example=f"{b} = 7.0")
            if math.isinf(v):
                raise err(f"{cp}.{b}", v, "must be finite", f"{b} = 7.0")
            parsed.append((oc, b, v))
    return tuple(parsed)


ENDPOINT_KEYS = toml_keys(EndpointConfig)


# ---------------------------------------------------------------------------------------------
# [[arms]]
# ---------------------------------------------------------------------------------------------

@section
class ArmConfig:
    """``[[arms]]``: one MSC arm (dose or regimen) compared with the shared control arm."""

    name: Str = key(example='name = "high_dose"', doc='a short unique name (not "control")',
                    dump="always")
    ratio: Float(gt=0.0, le=10.0) = key(1.0, "ratio = 1.0", "patients per control patient",
                                        dump="always")
    effect_scale: Float(ge=0.0, le=10.0) = key(1.0, "effect_scale = 0.5",
                                               "multiplies the treatment effect", dump="always")

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: Any, info: ValidationInfo) -> Any:
        if not isinstance(v, str) or not _NAME_RE.match(v) or v.lower() == "control":
            raise rule(f"{_ctx(info).get('path', 'arms')}.name", v, 'must be a short unique name '
                       '(not "control")', 'name = "high_dose"')
        return v

    @model_validator(mode="after")
    def _size(self, info: ValidationInfo) -> "ArmConfig":
        n = _ctx(info).get("n_per_arm")
        if n is not None and _n_msc(self.ratio, n) < 2:
            raise rule(f"{_ctx(info)['path']}.ratio", _given(self, info).get("ratio", self.ratio),
                       f"gives an arm of fewer than 2 patients at design.n_per_arm = {n}")
        return self


def arm_size(ratio: float, n_control: int) -> int:
    """Size of an arm with allocation ``ratio`` to a control arm of ``n_control`` (round half
    up, at least 1)."""
    return max(1, int(math.floor(ratio * n_control + 0.5)))


_n_msc = arm_size


# ---------------------------------------------------------------------------------------------
# [dropout]
# ---------------------------------------------------------------------------------------------

@section
class DropoutConfig:
    """``[dropout]``: monotone dropout before each visit, and intermittent missed visits.

    ``per_visit[j]`` is the probability that a patient still in the study drops out before visit
    j (conditional, i.e. a discrete hazard); ``rate`` instead gives the cumulative probability by
    the last visit, spread over visits in proportion to elapsed time. MAR and MNAR shift the
    logit of the hazard by ``strength`` per baseline SD of the driving outcome (worse -> more
    dropout): MAR uses the last observed value, MNAR the current, unobserved one.
    """

    rate: Float(ge=0.0, lt=1.0) | None = key(None, "rate = 0.2", "cumulative dropout by the last "
                                             "visit (or per_visit)")
    per_visit: FloatList("must be a list of numbers", ge=0.0, lt=1.0) | None = key(
        None, "per_visit = [0.05, 0.05, 0.05] for months 3, 6, 12", "dropout hazard before each "
        "visit (one per scheduled visit)")
    mechanism: Choice(*DROPOUT_MECHANISMS) = key(
        "mcar", doc="mcar | mar (observed value) | mnar (unseen value)", dump="always")
    outcome: Choice(*_OUTCOMES) | None = key(None, doc="drives MAR/MNAR",
                                             shown_default="the primary outcome")
    strength: Float(ge=-10.0, le=10.0) = key(0.0, "strength = 1.0", "log-odds per baseline SD "
                                             "of a worse value (mar/mnar)")
    intermittent: Float(ge=0.0, lt=1.0) = key(0.0, "intermittent = 0.05", "probability of "
                                              "missing one visit without dropping out")

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or info.context is None:
            return data
        check_keys(data, "dropout", toml_keys(cls))
        if ("rate" in data) == ("per_visit" in data):
            raise ScenarioError("scenario error: [dropout] needs exactly one of rate (cumulative "
                                "by the last visit) or per_visit (e.g. rate = 0.2)")
        visits = _ctx(info).get("visits", VISITS)
        v = data.get("per_visit")
        if "per_visit" in data and (not isinstance(v, list) or len(v) != len(visits)):
            raise err("dropout.per_visit", v, f"must be {len(visits)} numbers",
                      f"per_visit = [{', '.join(['0.05'] * len(visits))}] for months "
                      f"{', '.join(map(str, visits))}")
        return _raw(cls, data, info)

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "DropoutConfig":
        if info.context is None:
            return self
        t = _given(self, info)
        if self.mechanism == "mcar":
            for k in ("strength", "outcome"):
                if k in t:
                    raise rule(f"dropout.{k}", t[k], 'is only used with mechanism = "mar" or '
                               '"mnar"', 'mechanism = "mar"')
        else:
            if "strength" not in t:
                raise rule("", None, f'dropout.strength is required for mechanism = '
                           f'"{self.mechanism}" (log-odds per baseline SD of a worse value, e.g. '
                           f'strength = 1.0)', bare=True)
            if self.outcome is None:
                _set(self, "outcome", _ctx(info).get("primary"))
        return self

    def _toml(self, d: dict) -> dict:
        if self.mechanism != "mcar":
            d["outcome"], d["strength"] = self.outcome, self.strength
        return d


# ---------------------------------------------------------------------------------------------
# [multiplicity], [sequential]
# ---------------------------------------------------------------------------------------------

@section
class MultiplicityConfig:
    """``[multiplicity]``: how the family of hypotheses (arms x endpoints) is tested."""

    method: Choice(*MULTIPLICITY_METHODS) = key("none", doc="how the family of hypotheses is "
                                                "tested", dump="always")
    within: Choice(*WITHIN_METHODS) = key("holm", doc='method = "hierarchical": the test within '
                                          "each endpoint family")

    @model_validator(mode="before")
    @classmethod
    def _keep(cls, data: Any, info: ValidationInfo) -> Any:
        return _raw(cls, data, info)

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "MultiplicityConfig":
        t = _given(self, info)
        if "within" in t and self.method != "hierarchical":
            raise rule("multiplicity.within", t["within"], 'is only used with method = '
                       '"hierarchical"', 'method = "hierarchical"')
        return self

    def _toml(self, d: dict) -> dict:
        if self.method == "hierarchical":
            d["within"] = self.within
        return d


@section
class SequentialConfig:
    """``[sequential]``: interim looks on the primary hypothesis (Lan-DeMets spending)."""

    TOML_KEYS = ("looks", "fractions", "spending", "gamma", "futility", "binding")

    fractions: FloatList("must be a list of numbers", gt=0.0, le=1.0) = key(
        example="fractions = [0.5, 1.0]", doc="information fractions of the looks, increasing "
        "to 1.0", dump="always", shown_default="required (or looks)")
    spending: Choice(*SPENDING) = key("obf", doc="obf | pocock | hsd (gamma)", dump="always")
    gamma: Float(ge=-40.0, le=40.0) | None = key(None, "gamma = -4", 'Hwang-Shih-DeCani gamma '
                                                 '(spending = "hsd")')
    futility: FloatList("must be a list of numbers", ge=-10.0, le=10.0) | None = key(
        None, "futility = [0.0]", "z bounds at looks 1..K-1 (design.sides = 1)")
    binding: Bool = key(False, "binding = false", "futility bounds are binding")

    @model_validator(mode="before")
    @classmethod
    def _looks(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or info.context is None:
            return data
        check_keys(data, "sequential", toml_keys(cls))
        if ("looks" in data) == ("fractions" in data):
            raise ScenarioError("scenario error: [sequential] needs exactly one of looks (equally "
                                "spaced) or fractions (e.g. looks = 2)")
        d = dict(data)
        if "looks" in d:
            k = integer(d, "looks", "sequential", lo=1, hi=10, example="looks = 2")
            d.pop("looks")
            d["fractions"] = [(i + 1) / k for i in range(k)]
        return _raw(cls, d, info)

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, fr: tuple, info: ValidationInfo) -> tuple:
        raw = _ctx(info).get("raw:SequentialConfig", {}).get("fractions", fr)
        if not fr or any(b <= a for a, b in zip(fr, fr[1:])) or fr[-1] != 1.0:
            raise rule("sequential.fractions", raw, "must increase and end at 1.0",
                       "fractions = [0.5, 1.0]")
        if len(fr) > 10:
            raise rule("sequential.fractions", raw, "must have at most 10 looks",
                       "fractions = [0.5, 1.0]")
        return fr

    @field_validator("futility", mode="before")
    @classmethod
    def _futility(cls, v: Any, info: ValidationInfo) -> Any:
        fr = info.data.get("fractions")
        if fr is None or v is None:
            return v
        ex = f"futility = [{', '.join(['0.0'] * max(len(fr) - 1, 1))}]"
        if len(fr) < 2:
            raise rule("sequential.futility", v, "needs at least two looks")
        if not isinstance(v, (list, tuple)) or len(v) != len(fr) - 1:
            raise rule("sequential.futility", v, f"must be {len(fr) - 1} numbers", ex)
        return v

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "SequentialConfig":
        if self.spending == "hsd" and self.gamma is None:
            raise rule("", None, 'sequential.gamma is required for spending = "hsd" '
                       "(e.g. gamma = -4)", bare=True)
        if self.spending != "hsd" and self.gamma is not None:
            raise rule("sequential.gamma", self.gamma, 'is only used with spending = "hsd"',
                       'spending = "hsd"')
        if self.binding and self.futility is None:
            raise rule("sequential.binding", self.binding, "needs sequential.futility",
                       "futility = [0.0]")
        return self

    def _toml(self, d: dict) -> dict:
        if self.futility is not None:
            d["binding"] = self.binding
        return d


# ---------------------------------------------------------------------------------------------
# [effect]
# ---------------------------------------------------------------------------------------------

_FIN = {"ge": -1e9, "le": 1e9}
_COMPONENTS_EX = ("components = [{weight = 0.6, mean = -0.9, sd = 0.2}, "
                  "{weight = 0.4, mean = 0.0, sd = 0.2}]")
_USED_BY = {"se": ("pooled", "predictive"), "i2": ("predictive",), "k": ("predictive",),
            "tau2": ("predictive",), "predictive_dist": ("predictive",),
            "discount": ("pooled", "predictive", "custom"),
            "sceptical_sd": ("pooled", "predictive"),
            "family": ("custom",), "mean": ("custom",), "sd": ("custom",), "df": ("custom",),
            "components": ("custom",)}
_LATE = ("family", "mean", "sd", "df", "components")


@section
class EffectConfig:
    """``[effect]``: where the true treatment effect comes from."""

    source: Choice(*EFFECT_SOURCES) = key(example='source = "evidence"', doc="evidence (the "
                                          "meta-analysis row) or fixed (md)", dump="always")
    population: Choice(*EVIDENCE_POPULATIONS) = key(
        doc="evidence population", dump="always",
        shown_default="matches population.preset (T1DM or T2DM)")
    row: Str | None = key(None, 'row = "k25seed_insulin_dose_12m_all"', "evidence row id "
                          '(source = "evidence" only)')
    md: Float(finite=True) | None = key(None, "md = -0.5", 'mean difference MSC - control, '
                                        'natural units (required when source = "fixed")')
    distribution: Choice(*DISTRIBUTIONS) = key("point", doc="point | pooled (N(md, se^2)) | "
                                               "predictive (adds tau2) | custom")
    se: Float(gt=0.0, le=1e9) | None = key(None, "se = 0.2", "standard error of md")
    i2: Float(ge=0.0, lt=100.0) | None = key(None, "i2 = 56", "I^2 (%) for the predictive "
                                             "distribution")
    k: Int(ge=2, le=10_000) | None = key(None, "k = 11", "number of studies (predictive)")
    tau2: Float(ge=0.0, le=1e9) | None = key(None, "tau2 = 0.05", "between-study variance "
                                             "(predictive)")
    predictive_dist: Choice("normal", "t") = key("normal", doc="predictive: normal or t")
    discount: Float(ge=0.0, le=10.0) = key(1.0, "discount = 0.5", "multiplies the effect")
    sceptical_sd: Float(gt=0.0, le=1e9) | None = key(None, "sceptical_sd = 0.3", "sd of a "
                                                     "sceptical prior centred on 0")
    family: Choice(*CUSTOM_FAMILIES) | None = key(None, doc='distribution = "custom": normal | '
                                                  "t | mixture")
    mean: Float(**_FIN) | None = key(None, "mean = -0.72", "custom: mean",
                                     shown_default="md (source = \"fixed\")")
    sd: Float(gt=0.0, le=1e9) | None = key(None, "sd = 0.30", "custom: sd")
    df: Float(gt=0.0, le=1e6) | None = key(None, "df = 5", "custom t: degrees of freedom")
    components: tuple[tuple[float, float, float], ...] | None = key(
        None, _COMPONENTS_EX, "custom mixture: [{weight, mean, sd}, ...] (weights sum to 1)")
    after_last: Choice("wane", "hold") = key("wane", doc="effect after the last evidence month")
    half_life_months: Float(gt=0.0, le=1000.0) = key(12.0, "half_life_months = 12", "waning "
                                                     "half-life")
    outcomes: dict[str, float] = key(factory=dict, example="insulin_dose = -10.0",
                                     doc="[effect.outcomes]: fixed MD of non-primary outcomes at "
                                     "the endpoint month")

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or info.context is None:
            return data
        check_keys(data, "effect", toml_keys(cls))
        d = dict(data)
        source = choice(d, "source", "effect", EFFECT_SOURCES)
        d["population"] = choice(d, "population", "effect", EVIDENCE_POPULATIONS,
                                 PRESET_POPULATION[_ctx(info)["preset"]])
        dist = choice(d, "distribution", "effect", DISTRIBUTIONS, "point")
        row = d.get("row")
        if source == "fixed":
            if "md" not in d and not (dist == "custom" and ("mean" in d or "components" in d)):
                raise ScenarioError('scenario error: effect.md is required when effect.source = '
                                    '"fixed" (e.g. md = -0.5)')
            if "md" in d:
                d["md"] = number(d, "md", "effect", example="md = -0.5")
                if math.isinf(d["md"]):
                    raise err("effect.md", d["md"], "must be finite", "md = -0.5")
            if row is not None:
                raise err("effect.row", row, 'is only used with effect.source = "evidence"')
        else:
            if d.get("md") is not None:
                raise err("effect.md", d["md"], 'is only used with effect.source = "fixed"',
                          'source = "fixed"')
            if row is not None and (not isinstance(row, str) or not row):
                raise err("effect.row", row, "must be an evidence row id",
                          'row = "k25seed_insulin_dose_12m_all"')
        for k in _USED_BY:   # the values of the others are checked before where they are used
            if k in d and k not in _LATE:
                validate_key(cls, k, d[k], "effect")
        for k, dists in _USED_BY.items():
            if k in d and dist not in dists:
                raise err(f"effect.{k}", d[k], "is only used with distribution = "
                          + " | ".join(f'"{x}"' for x in dists), f'distribution = "{dists[0]}"')
        if dist == "custom":
            family = choice(d, "family", "effect", CUSTOM_FAMILIES)
            if family != "mixture" and "components" in d:
                raise err("effect.components", d["components"], 'is only used with family = '
                          '"mixture"')
            if family == "mixture":
                for k in ("mean", "sd", "df"):
                    if k in d:
                        raise err(f"effect.{k}", d[k], 'is not used with family = "mixture" '
                                  "(give components = [{weight, mean, sd}, ...])")
                d["components"] = _components(d.get("components"))
        if "outcomes" in d:
            ot = table(d, "outcomes", "effect")
            check_keys(ot, "effect.outcomes", _OUTCOMES)
            d["outcomes"] = {o: number(ot, o, "effect.outcomes", ge=-1e6, le=1e6,
                                       example=f"{o} = 0.0") for o in ot}
        return _raw(cls, d, info)

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "EffectConfig":
        if info.context is None:
            return self
        t, dist = _given(self, info), self.distribution
        if self.source == "fixed" and dist in ("pooled", "predictive") and self.se is None:
            raise rule("", None, f'effect.se is required for distribution = "{dist}" with '
                       'source = "fixed" (e.g. se = 0.2)', bare=True)
        if dist == "custom" and self.family in ("normal", "t"):
            if self.mean is None and self.source == "fixed":
                _set(self, "mean", self.md)
            if self.sd is None:
                raise rule("", None, "effect.sd is required", bare=True)
            if self.family == "t" and self.df is None:
                raise rule("", None, "effect.df is required", bare=True)
            if self.family != "t" and "df" in t:
                raise rule("effect.df", t["df"], 'is only used with family = "t"', 'family = "t"')
        return self

    def _toml(self, d: dict) -> dict:
        if self.components is not None:
            d["components"] = [{"weight": w, "mean": m, "sd": s} for w, m, s in self.components]
        return d


def _components(raw: Any) -> tuple[tuple[float, float, float], ...]:
    """``components = [{weight, mean, sd}, ...]`` -> ((weight, mean, sd), ...)."""
    if not isinstance(raw, list) or not raw:
        raise err("effect.components", raw, "must be a non-empty list of tables", _COMPONENTS_EX)
    parsed = []
    for i, c in enumerate(raw):
        path = f"effect.components[{i}]"
        if not isinstance(c, dict):
            raise err(path, c, "must be a table {weight, mean, sd}", _COMPONENTS_EX)
        check_keys(c, path, ("weight", "mean", "sd"))
        parsed.append((number(c, "weight", path, gt=0.0, le=1.0, example=_COMPONENTS_EX),
                       number(c, "mean", path, **_FIN, example=_COMPONENTS_EX),
                       number(c, "sd", path, gt=0.0, le=1e9, example=_COMPONENTS_EX)))
    total = sum(w for w, _, _ in parsed)
    if abs(total - 1.0) > 1e-6:
        raise err("effect.components", raw, f"weights must sum to 1 (they sum to {total:g})",
                  _COMPONENTS_EX)
    return tuple(parsed)


EFFECT_KEYS = toml_keys(EffectConfig)


# ---------------------------------------------------------------------------------------------
# [design]
# ---------------------------------------------------------------------------------------------

@section
class DesignConfig:
    """``[design]``: arms, sizes and test."""

    n_per_arm: Int(ge=2, le=100_000) = key(
        example="n_per_arm = 40", doc="control-arm size; MSC arm = round(allocation_ratio * "
        "n_per_arm)", dump="always")
    allocation_ratio: Float(gt=0.0, le=10.0) = key(
        1.0, "allocation_ratio = 1.0", "MSC : control (not with [[arms]])", dump="always")
    alpha: Float(ge=1e-6, lt=0.5) = key(0.05, "alpha = 0.05", "significance level (>= 1e-6: "
                                        "below it no critical value is computed reliably)",
                                        dump="always")
    sides: Choice(2, 1) = key(2, doc="1: one-sided in the direction of benefit", dump="always")
    target_power: FloatList("must be a list of numbers", scalar=True, gt=0.0, lt=1.0) = key(
        (0.8, 0.9), "target_power = [0.8, 0.9]", "sample sizes reported by `simtrial run`",
        dump="always")
    max_n_per_arm: Int(ge=2, le=100_000) = key(
        2000, "max_n_per_arm = 2000", "upper limit of the sample-size search", dump="always",
        shown_default="max(2000, n_per_arm)")
    n_grid: IntList("must be a non-empty list of integers", min_length=1, ge=2) | None = key(
        None, "n_grid = [10, 20, 40]", "N per arm for the power curve [automatic]")
    visits: IntList(f"must be a non-empty list of months 1-{MAX_MONTH}", min_length=1, ge=1,
                    le=MAX_MONTH) | None = key(None, "visits = [3, 6, 12]",
                                               "scheduled visit months [3, 6, 12]")
    target: Choice("power", "assurance") = key("power", doc="what the sample-size search targets")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and "max_n_per_arm" not in data:
            n = data.get("n_per_arm")
            if isinstance(n, (int, float)) and not isinstance(n, bool) and n > 2000 \
                    and float(n).is_integer():
                data = {**data, "max_n_per_arm": int(n)}
        return _raw(cls, data, info)

    @field_validator("target_power")
    @classmethod
    def _targets(cls, v: tuple) -> tuple:
        if not v:
            raise rule("design.target_power", [], "must list at least one power",
                       "target_power = [0.8, 0.9]")
        return tuple(sorted(set(v)))

    @field_validator("allocation_ratio")
    @classmethod
    def _msc_arm(cls, ratio: float, info: ValidationInfo) -> float:
        n = info.data.get("n_per_arm")      # (the default ratio 1.0 always gives >= 2)
        if n is not None and _n_msc(ratio, n) < 2:
            t = _ctx(info).get("raw:DesignConfig", {})
            raise rule("design.allocation_ratio", t.get("allocation_ratio", ratio),
                       f"gives an MSC arm of {_n_msc(ratio, n)} patient at design.n_per_arm = "
                       f"{n}; the MSC arm needs >= 2 (raise allocation_ratio or n_per_arm)",
                       f"allocation_ratio = {math.ceil(150 / n) / 100:g}")
        return ratio

    @field_validator("max_n_per_arm")
    @classmethod
    def _max_n(cls, max_n: int, info: ValidationInfo) -> int:
        n = info.data.get("n_per_arm")
        if n is not None and max_n < n:
            raise rule("design.max_n_per_arm", max_n, f"must be >= design.n_per_arm = {n}")
        return max_n

    @field_validator("n_grid")
    @classmethod
    def _grid(cls, grid: tuple | None, info: ValidationInfo) -> tuple | None:
        max_n, ratio = info.data.get("max_n_per_arm"), info.data.get("allocation_ratio")
        if grid is None or max_n is None or ratio is None:
            return grid
        raw = _ctx(info).get("raw:DesignConfig", {}).get("n_grid", grid)
        for i, x in enumerate(raw):
            if x > max_n:
                raise rule(f"design.n_grid[{i}]", x, f"must be <= {max_n}",
                           "n_grid = [10, 20, 40]")
        for i, x in enumerate(raw):
            if _n_msc(ratio, int(x)) < 2:
                raise rule(f"design.n_grid[{i}]", x, f"gives an MSC arm of 1 patient at "
                           f"allocation_ratio = {ratio:g}; the MSC arm needs >= 2",
                           "n_grid = [10, 20, 40]")
        return tuple(sorted(set(grid)))

    @field_validator("visits")
    @classmethod
    def _sorted(cls, v: tuple | None) -> tuple | None:
        return None if v is None else tuple(sorted(set(v)))

    def n_msc(self, n_control: int) -> int:
        """MSC-arm size for a control-arm size (round half up)."""
        return _n_msc(self.allocation_ratio, n_control)


# ---------------------------------------------------------------------------------------------
# [outcome_model]
# ---------------------------------------------------------------------------------------------

_PER_OUTCOME_BOUNDS = {"control_change": {"ge": -1e6, "le": 1e6},
                       "sd_change": {"gt": 0.0, "le": 1e6}, "rho": {"gt": -1.0, "lt": 1.0}}


@section
class OutcomeModelConfig:
    """``[outcome_model]``: overrides of the preset natural history."""

    TOML_KEYS = ("sd_change", "rho", "control_change", "heterogeneity", "effect_cv",
                 "responder_fraction", "modifier", "modifier_slope", "visit_correlation") + _OUTCOMES

    sd_change: Float(gt=0.0, le=1e6) | None = key(None, "sd_change = 1.1", "SD of the endpoint "
                                                  "outcome's change at the endpoint visit, model "
                                                  "scale")
    rho: Float(gt=-1.0, lt=1.0) | None = key(None, "rho = 0.5", "corr(baseline, endpoint VALUE) "
                                             "on the model scale, not with the change (simtrial "
                                             "validate prints the ANCOVA residual SD and "
                                             "R-squared it implies)")
    control_change: Float(finite=True) | None = key(None, "control_change = -0.5", "mean control "
                                                    "change at the endpoint visit, model scale")
    heterogeneity: Choice(*HETEROGENEITY) = key(
        "none", doc="none | normal (delta * (1 + cv * N(0,1))) | responders | modifier",
        dump="always")
    effect_cv: Float(ge=0.0, le=10.0) = key(0.0, "effect_cv = 0.5", 'cv for heterogeneity = '
                                            '"normal"', dump="always")
    responder_fraction: Float(gt=0.0, le=1.0) | None = key(
        None, "responder_fraction = 0.3", 'heterogeneity = "responders": fraction who respond')
    modifier: Choice(*MODIFIERS) | None = key(None, doc='heterogeneity = "modifier": the baseline '
                                              "variable that modifies the effect")
    modifier_slope: Float(ge=-10.0, le=10.0) | None = key(
        None, "modifier_slope = 0.5", "effect change per baseline SD of the modifier")
    visit_correlation: Float(gt=-1.0, lt=1.0) | None = key(
        None, "visit_correlation = 0.6", "residual correlation of visits 6 months apart (> 0)")
    per_outcome: dict[str, dict[str, tuple[float, ...]]] = key(
        factory=dict, example="hba1c = { control_change = [0, 0.1, 0.2] }",
        doc="[outcome_model.<outcome>]: per-visit control_change, sd_change, rho for months 3, "
        "6, 12; for insulin_dose also remission_msc, remission_control (probability of "
        "insulin independence) and remission_reserve_or (odds ratio per SD of log baseline "
        "fasting C-peptide)", toml=False)

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or info.context is None:
            return data
        check_keys(data, "outcome_model", toml_keys(cls))
        _raw(cls, data, info)
        return {k: v for k, v in data.items() if k not in OUTCOMES}

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "OutcomeModelConfig":
        if info.context is None:
            return self
        t, het, cv = _given(self, info), self.heterogeneity, self.effect_cv
        if het == "none" and cv != 0.0:
            raise rule("outcome_model.effect_cv", cv, 'is only used with heterogeneity = '
                       '"normal"', 'heterogeneity = "normal"')
        if het == "normal" and cv == 0.0:
            raise rule("", None, 'outcome_model.effect_cv is required (> 0) when heterogeneity = '
                       '"normal" (e.g. effect_cv = 0.5)', bare=True)
        for k, mode in (("responder_fraction", "responders"), ("modifier", "modifier"),
                        ("modifier_slope", "modifier")):
            if k in t and het != mode:
                raise rule(f"outcome_model.{k}", t[k], f'is only used with heterogeneity = '
                           f'"{mode}"', f'heterogeneity = "{mode}"')
        if het == "responders" and self.responder_fraction is None:
            raise rule("", None, 'outcome_model.responder_fraction is required when '
                       'heterogeneity = "responders" (e.g. responder_fraction = 0.3)', bare=True)
        if het == "modifier" and (self.modifier is None or self.modifier_slope is None):
            raise rule("", None, 'outcome_model.modifier and modifier_slope are required when '
                       'heterogeneity = "modifier" (e.g. modifier = "hba1c", modifier_slope = '
                       '0.5)', bare=True)
        if self.visit_correlation is not None and self.visit_correlation <= 0.0:
            raise rule("outcome_model.visit_correlation", self.visit_correlation, "must be > 0",
                       "visit_correlation = 0.6")
        _set(self, "per_outcome", _per_outcome(t))
        return self

    def _toml(self, d: dict) -> dict:
        for outcome, params in self.per_outcome.items():
            d[outcome] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}
        return d


def _per_outcome(t: dict) -> dict[str, dict[str, tuple[float, ...]]]:
    """``[outcome_model.<outcome>]`` tables: per-visit arrays for months 3, 6, 12."""
    per: dict[str, dict[str, tuple[float, ...]]] = {}
    for outcome in OUTCOMES:
        if outcome not in t:
            continue
        sub = table(t, outcome, "outcome_model")
        path = f"outcome_model.{outcome}"
        check_keys(sub, path, OUTCOME_PARAM_KEYS + (tuple(REMISSION_KEYS)
                                                    if outcome == "insulin_dose" else ()))
        params: dict[str, tuple[float, ...]] = {}
        for k, bounds in REMISSION_KEYS.items():
            if k in sub:
                params[k] = number(sub, k, path, example=f"{k} = 0.1", **bounds)
        for k, bounds in _PER_OUTCOME_BOUNDS.items():
            if k in sub:
                params[k] = number_list(sub[k], f"{path}.{k}", len(VISITS),
                                        f"{k} = [..3 numbers for months 3, 6, 12..]", **bounds)
                if any(math.isinf(x) for x in params[k]):
                    raise err(f"{path}.{k}", sub[k], "must be finite")
        per[outcome] = params
    return per


# ---------------------------------------------------------------------------------------------
# the scenario
# ---------------------------------------------------------------------------------------------

@section
class Scenario:
    """A validated scenario. Build with :func:`load_scenario` or :func:`parse_scenario`."""

    name: Str = key(example='name = "t1d_hba1c_12m"', doc="output folder name",
                    dump="always", shown_default="the file stem")
    description: Str = key("", doc="the question the scenario answers", dump="always")
    seed: Int(ge=0, le=2**63 - 1) = key(20261122, "seed = 20261122", "random seed",
                                        dump="always")
    n_trials: Int(ge=1, le=100_000_000) = key(10_000, "n_trials = 10000", "replicate trials "
                                              "per design point", dump="always")
    population: PopulationConfig = key(doc="[population]", dump="always")
    endpoint: EndpointConfig = key(doc="[endpoint]: the primary endpoint", dump="always")
    effect: EffectConfig = key(doc="[effect]", dump="always")
    design: DesignConfig = key(doc="[design]", dump="always")
    outcome_model: OutcomeModelConfig = key(factory=OutcomeModelConfig, doc="[outcome_model]",
                                            dump="always")
    arms: tuple[ArmConfig, ...] = key((), doc="[[arms]]: MSC arms against one control "
                                      "(replaces design.allocation_ratio)")
    endpoints: tuple[EndpointConfig, ...] = key((), doc="[[endpoints]]: secondary endpoints")
    dropout: DropoutConfig | None = key(None, doc="[dropout]")
    multiplicity: MultiplicityConfig = key(factory=MultiplicityConfig, doc="[multiplicity]")
    sequential: SequentialConfig | None = key(None, doc="[sequential]: interim looks")
    conduct: ConductConfig | None = key(None, doc="[conduct]: trial conduct, simulated "
                                        "(simtrial.sim.conduct)")
    safety: tuple[SafetyConfig, ...] = key((), doc="[[safety]]: safety events and harm "
                                           "monitoring (simtrial.oc.safety)")
    bayes: BayesConfig | None = key(None, doc="[bayes]: Bayesian analysis and Go / No-Go rule "
                                    "(simtrial.oc.bayes)")
    adaptive: AdaptiveConfig | None = key(None, doc="[adaptive]: sample-size re-estimation "
                                          "and futility at one interim (simtrial.oc.adaptive)")
    source_path: str | None = key(None, doc="the file it was read from", toml=False)

    @property
    def all_endpoints(self) -> tuple[EndpointConfig, ...]:
        """Primary endpoint first, then the secondary ones."""
        return (self.endpoint,) + self.endpoints

    @property
    def msc_arms(self) -> tuple[ArmConfig, ...]:
        """The MSC arms (one default arm when ``[[arms]]`` is absent)."""
        return self.arms or (ArmConfig("MSC", self.design.allocation_ratio, 1.0),)

    @property
    def visit_months(self) -> tuple[int, ...]:
        """Scheduled visits: ``design.visits`` (default 3, 6, 12) plus every endpoint's month."""
        return tuple(sorted(set(self.design.visits or VISITS)
                            | {e.visit_months for e in self.all_endpoints}))

    def replace(self, **changes: Any) -> "Scenario":
        """Copy with top-level or dotted-key changes, re-validated (e.g. ``{"design.n_per_arm": 50}``)."""
        data = self.to_dict()
        for k, value in changes.items():
            parts = k.split(".")
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
        return dump(self)

    def _toml(self, d: dict) -> dict:
        if self.arms:
            d["design"].pop("allocation_ratio", None)
        if self.multiplicity.method == "none":
            d.pop("multiplicity", None)
        if self.conduct is not None:
            d["conduct"] = self.conduct.to_toml()
        return d

    def hash(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_dict` (identifies the design)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=_json_default).encode()
        return hashlib.sha256(blob).hexdigest()


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and math.isinf(o):
        return "inf" if o > 0 else "-inf"
    raise TypeError(type(o).__name__)


TOP_KEYS = toml_keys(Scenario)


# ---------------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------------

def _head(data: dict, origin: str | None) -> dict:
    """Top-level keys (name, description, seed, n_trials), validated by their declarations."""
    name = data.get("name", Path(origin).stem if origin else None)
    if name is None:
        raise ScenarioError('scenario error: name is required (e.g. name = "t1d_hba1c_12m")')
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise err("name", name, "must be 1-100 letters, digits, '_', '-' or '.', starting with a "
                  "letter or digit (it names the output folder)", 'name = "t1d_hba1c_12m"')
    description = data.get("description", "")
    if not isinstance(description, str):
        raise err("description", description, "must be a string")
    out = {"name": name, "description": description}
    for k in ("seed", "n_trials"):
        if k in data:
            out[k] = validate_key(Scenario, k, data[k])
    return out


def _section_list(data: dict, k: str, example: str, non_empty: bool) -> list | None:
    if k not in data:
        return None
    v = data[k]
    if not isinstance(v, list) or (non_empty and not v) or not all(isinstance(x, dict) for x in v):
        raise err(k, v, f"must be an array of tables [[{k}]]", example)
    return v


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
    head = _head(data, origin)
    population = validate(PopulationConfig, table(data, "population", "", required=True),
                          "population")
    design = validate(DesignConfig, table(data, "design", "", required=True), "design")
    listed = data.get("endpoints")
    if "endpoint" not in data and isinstance(listed, list) and listed:
        # only [[endpoints]]: the first is the primary (README), keeping its name
        first = listed[0]
        if not isinstance(first, dict):
            raise err("endpoints[0]", first, "must be a table", '[[endpoints]] outcome = "hba1c"')
        endpoint = validate(EndpointConfig, first, "endpoints[0]", sides=design.sides,
                            primary=True)
    else:
        listed = None
        endpoint = validate(EndpointConfig, table(data, "endpoint", "", required=True),
                            "endpoint", sides=design.sides, primary=True)
    effect = validate(EffectConfig, table(data, "effect", "", required=True), "effect",
                      preset=population.preset)
    om = validate(OutcomeModelConfig, table(data, "outcome_model", ""), "outcome_model")
    arms = _arms(data, design)
    endpoints = _endpoints(data, design.sides, primary=endpoint,
                           skip_first=listed is not None)
    every = (endpoint,) + endpoints
    visits = tuple(sorted(set(design.visits or VISITS) | {e.visit_months for e in every}))
    _visit_limit(every, visits)
    dropout = None
    if "dropout" in data:
        dropout = validate(DropoutConfig, table(data, "dropout", ""), "dropout", visits=visits,
                           primary=endpoint.outcome)
    mult = validate(MultiplicityConfig, table(data, "multiplicity", ""), "multiplicity")
    seq = None
    if "sequential" in data:
        seq = validate(SequentialConfig, table(data, "sequential", ""), "sequential")
    conduct = parse_conduct(data, visits)
    safety = parse_safety(data)
    bayes = parse_bayes(data)
    adaptive = parse_adaptive(data, design.n_per_arm)
    _cross_checks(population, endpoint, effect, design, arms, endpoints, dropout, mult, seq)
    _adaptive_checks(adaptive, effect, arms, endpoints, seq, conduct, bayes, safety, visits,
                     endpoint)
    return Scenario(population=population, endpoint=endpoint, effect=effect, design=design,
                    outcome_model=om, source_path=origin, arms=arms, endpoints=endpoints,
                    dropout=dropout, multiplicity=mult, sequential=seq, conduct=conduct,
                    safety=safety, bayes=bayes, adaptive=adaptive, **head)


def _endpoints(data: dict, sides: int, primary: EndpointConfig, skip_first: bool = False
               ) -> tuple[EndpointConfig, ...]:
    """The secondary endpoints (``[[endpoints]]`` after the first one when there is no
    ``[endpoint]``), with names unique across every endpoint."""
    v = _section_list(data, "endpoints", '[[endpoints]] name = "insulin_12m", outcome = '
                      '"insulin_dose", visit_months = 12', non_empty=False)
    if v is None:
        return ()
    start = 1 if skip_first else 0
    out = tuple(validate(EndpointConfig, x, f"endpoints[{i}]", sides=sides, primary=False)
                for i, x in enumerate(v) if i >= start)
    names = [primary.name] + [e.name for e in out]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise err(f"endpoints[{i - 1 + start}].name", n, "must be unique")
    return out


def _arms(data: dict, design: DesignConfig) -> tuple[ArmConfig, ...]:
    v = _section_list(data, "arms", '[[arms]] name = "high", ratio = 1.0, effect_scale = 1.0',
                      non_empty=True)
    if v is None:
        return ()
    if "allocation_ratio" in data.get("design", {}):
        raise ScenarioError("scenario error: design.allocation_ratio is not used with [[arms]]; "
                            "give each arm its ratio (e.g. ratio = 1.0)")
    arms: list[ArmConfig] = []
    for i, a in enumerate(v):
        check_keys(a, f"arms[{i}]", toml_keys(ArmConfig))
        if "name" not in a:
            raise err(f"arms[{i}].name", None, 'must be a short unique name (not "control")',
                      'name = "high_dose"')
        arm = validate(ArmConfig, a, f"arms[{i}]", n_per_arm=design.n_per_arm)
        if any(arm.name == b.name for b in arms):
            raise err(f"arms[{i}].name", arm.name, "must be unique")
        arms.append(arm)
    if len(arms) > MAX_MSC_ARMS:
        raise ScenarioError(f"scenario error: arms has {len(arms)} [[arms]] tables; at most "
                            f"{MAX_MSC_ARMS} MSC arms are supported (remove "
                            f"{len(arms) - MAX_MSC_ARMS} of them)")
    return tuple(arms)


def _visit_limit(every: tuple[EndpointConfig, ...], visits: tuple[int, ...]) -> None:
    """MMRM and multiple imputation model every scheduled visit: at most 16 of them."""
    for i, e in enumerate(every):
        if e.analysis in ("mmrm", "mi") and len(visits) > MAX_MODEL_VISITS:
            path = "endpoint" if i == 0 else f"endpoints[{i - 1}]"
            raise err(f"{path}.analysis", e.analysis, f"models every scheduled visit: at most "
                      f"{MAX_MODEL_VISITS} (there are {len(visits)}: design.visits plus the "
                      "endpoint months)", "visits = [3, 6, 12]")


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


def _adaptive_checks(adaptive, effect, arms, endpoints, seq, conduct, bayes, safety, visits,
                     endpoint) -> None:
    """[adaptive] with the other sections (one-line errors): one MSC arm (sample-size
    re-estimation) or several with adaptive.selection, one endpoint, no other interim
    machinery; with [conduct] the interim is on the calendar (not with blinded_sd)."""
    if adaptive is None:
        return
    if len(arms) > 1 and adaptive.selection is None:
        raise err("adaptive", "[adaptive]", f"with {len(arms)} MSC [[arms]] needs "
                  "adaptive.selection (which arms continue after the interim)",
                  'selection = "best"')
    if len(arms) < 2 and adaptive.selection is not None:
        raise err("adaptive.selection", adaptive.selection, "needs two or more MSC [[arms]] "
                  "(treatment selection; one arm: remove selection)")
    if adaptive.select_r is not None and adaptive.select_r >= len(arms):
        raise err("adaptive.select_r", adaptive.select_r, f"must be < the {len(arms)} MSC arms",
                  "select_r = 1")
    v = adaptive.select_visit_months
    if v is not None and (v not in visits or v > endpoint.visit_months):
        raise err("adaptive.select_visit_months", v, "must be one of the visits "
                  f"{', '.join(str(x) for x in visits if x <= endpoint.visit_months)} (design."
                  "visits) up to the endpoint visit", f"select_visit_months = {visits[0]}")
    for name, present in (("sequential", seq is not None), ("bayes", bayes is not None),
                          ("safety", bool(safety)), ("endpoints", bool(endpoints))):
        if present:
            raise err("adaptive", "[adaptive]", f"is not combined with [{name}] yet (one "
                      "primary endpoint, its own interim look; remove one of them)")
    if conduct is not None and adaptive.blinded_sd:
        raise err("adaptive.blinded_sd", True, "is not combined with [conduct] (blinded "
                  "re-estimation is simulated on the prefix path, which has no calendar; the "
                  "conduct calendar needs the patients path)", "blinded_sd = false")
    if effect.distribution != "point":
        raise err("effect.distribution", effect.distribution, 'must be "point" with [adaptive] '
                  "(the design is simulated at the scenario effect and under the null)",
                  'distribution = "point"')


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
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioError(f"scenario error: {p.name} is {size / 2 ** 20:.1f} MiB; a scenario "
                                f"file must be at most {MAX_FILE_BYTES // 2 ** 20} MiB")
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario error: {p.name} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(f"scenario error: {p.name} nests arrays or tables more than "
                            f"{MAX_DEPTH} levels deep") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"scenario error: cannot read {str(p)!r}: {exc}") from None
    _check_depth(data, p.name)
    return data


MAX_FILE_BYTES = 2 ** 20
"""Largest scenario file read (1 MiB; the shipped ones are under 4 KiB, and 10,000 site
activation months fit in a tenth of it)."""

MAX_DEPTH = 8
"""Deepest nesting of tables and arrays a scenario may have (the schema needs 4:
``[conduct.regimen]``, ``[population.strata.x]`` with an array)."""


def _check_depth(data: dict, name: str) -> None:
    """Refuse a table nested deeper than :data:`MAX_DEPTH` before anything recurses into it
    (walked with an explicit stack, so a file nested thousands deep is not a RecursionError)."""
    stack = [(data, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_DEPTH:
            where = ".".join(str(k) for k in path[:4])
            raise ScenarioError(f"scenario error: {name}: {where}... nests arrays or tables more "
                                f"than {MAX_DEPTH} levels deep")
        items = node.items() if isinstance(node, dict) else enumerate(node)
        stack.extend((v, path + (k,)) for k, v in items if isinstance(v, (dict, list)))
