"""``[[safety]]``: safety events (rates per arm, optionally drawn from an evidence row) and
``[safety.monitoring]``: sequential stopping for harm.

Each key is declared once (see :mod:`simtrial.spec._fields`); validated here (the evidence row of
``prior = "evidence"`` by :func:`simtrial.model.safety.safety_evidence`, which reads safety.csv),
simulated by :mod:`simtrial.oc.safety`, closed forms in :mod:`simtrial.stats.safety`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationInfo, model_validator

from ..errors import ScenarioError
from ._fields import (Choice, Float, FloatList, Str, check_keys, err, key, rule, section,
                      toml_keys, validate)

__all__ = ["SafetyConfig", "MonitoringConfig", "parse_safety", "SAFETY_KEYS", "MONITORING_KEYS",
           "SAFETY_PER", "MONITORING_RULES", "MAX_SAFETY_EVENTS", "MAX_OC_RATES"]

SAFETY_PER = ("patient", "patient_year")
MONITORING_RULES = ("bayes", "spending")
MAX_SAFETY_EVENTS = 20
MAX_OC_RATES = 20
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_FRACTIONS_EX = "looks = [0.5, 1.0]"


@section
class MonitoringConfig:
    """``[safety.monitoring]`` (inside a ``[[safety]]`` table): stop for harm at the looks when
    the rule crosses (MSC arm against control)."""

    rule: Choice(*MONITORING_RULES) = key(
        example='rule = "bayes"', doc='bayes: stop if P(rate_MSC - rate_control > margin | '
        'data) > threshold; spending: stop if the one-sided score z of the difference crosses a '
        'Lan-DeMets bound at level alpha', dump="always")
    margin: Float(ge=-1.0, le=1.0) = key(0.0, "margin = 0.02", "harm margin on the rate "
                                         "difference (bayes; same unit as the rates)")
    threshold: Float(gt=0.5, lt=1.0) = key(0.9, "threshold = 0.9", "posterior probability "
                                           "that stops (bayes)")
    alpha: Float(gt=0.0, lt=0.5) = key(0.05, "alpha = 0.05", "one-sided level of the harm "
                                       "test (spending)")
    spending: Choice("obf", "pocock") = key("obf", doc="spending function (spending)")
    looks: FloatList("must be a list of numbers", gt=0.0, le=1.0) | None = key(
        None, _FRACTIONS_EX, "information fractions of the harm looks, increasing to 1.0",
        shown_default="sequential.fractions, else [1.0]")

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and info.context is not None:
            check_keys(data, info.context["path"], toml_keys(cls))
            path = info.context["path"]
            used = {"margin": "bayes", "threshold": "bayes", "alpha": "spending",
                    "spending": "spending"}
            r = data.get("rule")
            for k, owner in used.items():
                if k in data and r in MONITORING_RULES and r != owner:
                    raise err(f"{path}.{k}", data[k], f'is only used with rule = "{owner}"',
                              f'rule = "{owner}"')
        return data

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "MonitoringConfig":
        path = (info.context or {}).get("path", "safety.monitoring")
        fr = self.looks
        if fr is not None and (not fr or any(b <= a for a, b in zip(fr, fr[1:]))
                               or fr[-1] != 1.0 or len(fr) > 10):
            raise rule(f"{path}.looks", list(fr), "must increase, end at 1.0 and have at most "
                       "10 looks", _FRACTIONS_EX)
        return self


@section
class SafetyConfig:
    """``[[safety]]``: one safety event type, its true rate in each arm, the analysis prior and
    (optionally) harm monitoring."""

    name: Str = key(example='name = "sae"', doc='event type, e.g. "sae", "infusion_reaction", '
                    '"infection", "dka", "severe_hypoglycaemia", "malignancy"', dump="always")
    per: Choice(*SAFETY_PER) = key("patient", doc="patient: probability per patient over the "
                                   "follow-up; patient_year: events per patient-year",
                                   dump="always")
    rate_control: Float(ge=0.0, le=100.0) | None = key(
        None, "rate_control = 0.05", "true rate in the control arm",
        shown_default="the evidence row's control arm (prior = \"evidence\")")
    rate_msc: Float(ge=0.0, le=100.0) | None = key(
        None, "rate_msc = 0.05", "true rate in the MSC arm(s)",
        shown_default="required unless prior = \"evidence\"")
    years: Float(gt=0.0, le=20.0) | None = key(
        None, "years = 1.0", "follow-up per patient in years (per = \"patient_year\")",
        shown_default="the last visit / 12; with [conduct], each patient's time from first "
                      "infusion to last visit or withdrawal")
    prior: Choice("fixed", "evidence") = key(
        "fixed", doc='fixed: the rates as given; evidence: each replicate trial draws its true '
        'rates from the Beta / Gamma posterior of the evidence row')
    evidence: Str | None = key(None, 'evidence = "k25seed_sae_all"', "a safety.csv id "
                               "(prior = \"evidence\")")
    evidence_weight: Float(gt=0.0, le=1.0) = key(1.0, "evidence_weight = 0.5", "weight of the "
                                                 "evidence counts (power-prior discount)")
    prior_a: Float(gt=0.0, le=1e4) = key(0.5, "prior_a = 0.5", "Beta(a, b) / Gamma(a, rate b) "
                                         "analysis prior and base of the evidence prior")
    prior_b: Float(ge=0.0, le=1e6) | None = key(None, "prior_b = 0.5", "see prior_a",
                                                shown_default="0.5 (Beta: Jeffreys); 0 (Gamma: "
                                                "Jeffreys)")
    confidence: Float(gt=0.5, lt=1.0) = key(0.95, "confidence = 0.95", "one-sided level of "
                                            "the upper bounds")
    oc_rates: FloatList("must be a list of numbers", ge=0.0, le=100.0) | None = key(
        None, "oc_rates = [0.02, 0.05, 0.1, 0.2]", "true MSC rates of the monitoring rule's "
        "operating characteristics", shown_default="rate_control x 0.5, 1, 1.5, 2, 3, 4")
    monitoring: MonitoringConfig | None = key(None, doc="[safety.monitoring]")

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and info.context is not None:
            path = info.context["path"]
            check_keys(data, path, toml_keys(cls))
            if "name" in data and not (isinstance(data["name"], str)
                                       and _NAME_RE.match(data["name"])):
                raise err(f"{path}.name", data["name"], "must be a snake_case event name of "
                          "1-40 lower-case letters, digits and '_'", 'name = "sae"')
            if "monitoring" in data:
                m = data["monitoring"]
                if not isinstance(m, dict):
                    raise err(f"{path}.monitoring", m, "must be a table",
                              '[safety.monitoring] rule = "bayes"')
                data = {**data, "monitoring": validate(MonitoringConfig, m,
                                                       f"{path}.monitoring")}
        return data

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "SafetyConfig":
        ctx = info.context or {}
        path = ctx.get("path", "safety")
        if self.prior_b is None:
            object.__setattr__(self, "prior_b", 0.5 if self.per == "patient" else 0.0)
        if self.per == "patient" and self.prior_b <= 0.0:
            raise rule(f"{path}.prior_b", self.prior_b, 'must be > 0 for per = "patient" '
                       "(a Beta prior)", "prior_b = 0.5")
        top = 1.0 if self.per == "patient" else 100.0
        for k in ("rate_control", "rate_msc"):
            v = getattr(self, k)
            if v is not None and self.per == "patient" and not v < 1.0:
                raise rule(f"{path}.{k}", v, 'must be < 1 for per = "patient" (a probability)',
                           f"{k} = 0.05")
        if self.oc_rates is not None:
            if not 1 <= len(self.oc_rates) <= MAX_OC_RATES:
                raise rule(f"{path}.oc_rates", list(self.oc_rates), f"must have 1-{MAX_OC_RATES} "
                           "rates", "oc_rates = [0.02, 0.05, 0.1]")
            bad = [r for r in self.oc_rates if not r < top or (self.per == "patient" and r >= 1)]
            if bad:
                raise rule(f"{path}.oc_rates", list(self.oc_rates), f"must be rates < {top:g}",
                           "oc_rates = [0.02, 0.05, 0.1]")
            if self.monitoring is None:
                raise rule(f"{path}.oc_rates", list(self.oc_rates), "needs [safety.monitoring] "
                           "(they are the monitoring rule's operating characteristics)")
        if self.years is not None and self.per != "patient_year":
            raise rule(f"{path}.years", self.years, 'is only used with per = "patient_year"',
                       'per = "patient_year"')
        if self.prior == "fixed":
            if self.evidence is not None:
                raise rule(f"{path}.evidence", self.evidence, 'needs prior = "evidence"',
                           'prior = "evidence"')
            if self.evidence_weight != 1.0:
                raise rule(f"{path}.evidence_weight", self.evidence_weight, 'needs prior = '
                           '"evidence"', 'prior = "evidence"')
            for k in ("rate_control", "rate_msc"):
                if getattr(self, k) is None:
                    raise ScenarioError(f"scenario error: {path}.{k} is required with prior = "
                                        f'"fixed" (e.g. {k} = 0.05)')
        else:
            if self.evidence is None:
                raise ScenarioError(f'scenario error: {path}.evidence is required with prior = '
                                    '"evidence" (a safety.csv id, e.g. evidence = '
                                    '"k25seed_sae_all")')
            if self.rate_msc is not None:
                raise rule(f"{path}.rate_msc", self.rate_msc, 'is drawn from the evidence row '
                           'with prior = "evidence" (remove it, or use prior = "fixed")')
        m = self.monitoring
        if m is not None and m.rule == "bayes" and abs(m.margin) >= top:
            raise rule(f"{path}.monitoring.margin", m.margin, f"must be in (-{top:g}, {top:g})",
                       "margin = 0.02")
        return self


def parse_safety(data: dict) -> tuple[SafetyConfig, ...]:
    """Validate the ``[[safety]]`` tables (``()`` if absent).

    Raises
    ------
    ScenarioError
        One line: key path, value, rule, example; unknown keys with a "did you mean" hint.
    """
    if "safety" not in data:
        return ()
    v = data["safety"]
    ex = '[[safety]] name = "sae", rate_control = 0.05, rate_msc = 0.05'
    if isinstance(v, dict):
        raise err("safety", v, "must be an array of tables [[safety]] (write [[safety]], not "
                  "[safety])", ex)
    if not isinstance(v, list) or not v or not all(isinstance(x, dict) for x in v):
        raise err("safety", v, "must be an array of tables [[safety]]", ex)
    if len(v) > MAX_SAFETY_EVENTS:
        raise err("safety", f"{len(v)} tables", f"must have at most {MAX_SAFETY_EVENTS} "
                  "[[safety]] tables")
    out: list[SafetyConfig] = []
    for i, t in enumerate(v):
        path = f"safety[{i}]"
        if "name" not in t:
            raise ScenarioError(f'scenario error: {path}.name is required (e.g. name = "sae")')
        s = validate(SafetyConfig, t, path)
        if any(s.name == o.name for o in out):
            raise err(f"{path}.name", s.name, "must be unique among the [[safety]] tables")
        out.append(s)
    return tuple(out)


SAFETY_KEYS = toml_keys(SafetyConfig)
MONITORING_KEYS = toml_keys(MonitoringConfig)
