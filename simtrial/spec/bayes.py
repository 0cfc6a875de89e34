"""``[bayes]``: a Bayesian analysis of each replicate trial and its Go / No-Go rule.

Each key is declared once (see :mod:`simtrial.spec._fields`); validated here, computed by
:mod:`simtrial.stats.bayes` (priors, posteriors) and :mod:`simtrial.oc.bayes` (operating
characteristics).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationInfo, model_validator

from ._fields import (Choice, Float, FloatList, Str, check_keys, err, key, rule, section,
                      toml_keys, validate)

__all__ = ["BayesConfig", "StudyRow", "PRIORS", "TARGETS", "STUDY_FLAGS", "parse_bayes",
           "BAYES_KEYS"]

PRIORS = ("vague", "normal", "map", "robust_map")
TARGETS = ("effect", "control")
STUDY_FLAGS = ("REPORTED", "DERIVED", "ASSUMED")
_STUDY_EX = ('[[bayes.studies]] study = "Hu 2013", y = 0.1, se = 0.2, flag = "ASSUMED", '
             'source = "FACTS.md 3"')


@section
class StudyRow:
    """``[[bayes.studies]]``: one historical study (its estimate, SE and provenance)."""

    study: Str = key(example='study = "Hu 2013"', doc="label", dump="always")
    y: Float(ge=-1e6, le=1e6) = key(example="y = 0.1", doc="estimate: the control arm's mean "
                                    "change (target = control) or the effect MSC - control",
                                    dump="always")
    se: Float(gt=0.0, le=1e6) = key(example="se = 0.2", doc="its standard error",
                                    dump="always")
    flag: Choice(*STUDY_FLAGS) = key(example='flag = "DERIVED"', doc="REPORTED | DERIVED | "
                                     "ASSUMED", dump="always")
    source: Str = key(example='source = "FACTS.md section 3"', doc="where the numbers come "
                      "from", dump="always")
    note: Str = key("", doc="how a DERIVED number was computed, or why an ASSUMED one")


@section
class BayesConfig:
    """``[bayes]``: the prior, the decision rule and the effects its operating characteristics
    are computed at."""

    prior: Choice(*PRIORS) = key("vague", doc="vague | normal (prior_mean, prior_sd) | map | "
                                 "robust_map (studies or evidence)", dump="always")
    target: Choice(*TARGETS) = key("effect", doc="what the prior is on: the effect (MSC - "
                                   "control) or the control arm's mean change", dump="always")
    prior_mean: Float(ge=-1e6, le=1e6) | None = key(None, "prior_mean = 0.0", 'prior = '
                                                    '"normal": mean')
    prior_sd: Float(gt=0.0, le=1e6) | None = key(None, "prior_sd = 0.5", 'prior = "normal": '
                                                 "SD")
    studies: tuple[StudyRow, ...] = key((), _STUDY_EX, "[[bayes.studies]]: historical studies "
                                        "for the MAP prior")
    studies_file: Str | None = key(None, 'studies_file = "controls.csv"', "CSV of studies "
                                   "(simtrial meta's formats), relative to the scenario")
    evidence: Str | None = key(None, 'evidence = "k25abs_hba1c_12m_all"', "target = effect: "
                               "a pooled evidence row; MAP = N(md, se^2 + tau^2), tau^2 from I^2")
    tau_prior_sd: Float(gt=0.0, le=1e6) | None = key(None, "tau_prior_sd = 0.5", "half-normal "
                                                     "scale of the between-study SD tau (map)")
    mu_prior_mean: Float(ge=-1e6, le=1e6) | None = key(None, "mu_prior_mean = 0.0", "normal "
                                                       "prior on the MAP's population mean mu",
                                                       shown_default="flat")
    mu_prior_sd: Float(gt=0.0, le=1e6) | None = key(None, "mu_prior_sd = 1.0", "its SD "
                                                    "(with mu_prior_mean)", shown_default="flat")
    robust_weight: Float(gt=0.0, lt=1.0) = key(0.2, "robust_weight = 0.2", 'prior = '
                                               '"robust_map": weight of the vague component')
    robust_mean: Float(ge=-1e6, le=1e6) | None = key(None, "robust_mean = 0.0", "mean of the "
                                                     "vague component",
                                                     shown_default="the MAP mean")
    sigma_unit: Float(gt=0.0, le=1e6) | None = key(None, "sigma_unit = 0.8", "SD of one "
                                                   "patient's endpoint (ESS, vague component)",
                                                   shown_default="the model's residual SD")
    go_prob: Float(gt=0.5, lt=1.0) = key(0.975, "go_prob = 0.975", "Go needs P(benefit) > "
                                         "go_prob", dump="always")
    go_value: Float(ge=-1e6, le=1e6) = key(0.0, "go_value = -0.3", "and the posterior median "
                                           "beyond this clinically relevant value",
                                           dump="always")
    nogo_threshold: Float(ge=-1e6, le=1e6) = key(0.0, "nogo_threshold = -0.5", "No-Go if "
                                                 "P(effect beyond it) < nogo_prob",
                                                 dump="always")
    nogo_prob: Float(gt=0.0, lt=1.0) = key(0.1, "nogo_prob = 0.1", "see nogo_threshold",
                                           dump="always")
    oc_effects: FloatList("must be a list of numbers", ge=-1e6, le=1e6) = key(
        (), "oc_effects = [0.0, -0.3, -0.6]", "true effects (MSC - control) to give P(Go) at")
    conflict_shifts: FloatList("must be a list of numbers", ge=-1e6, le=1e6) = key(
        (), "conflict_shifts = [-0.4, 0.4]", "target = control: true control-arm drifts added "
        "to the simulated one (prior-data conflict)")

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or info.context is None:
            return data
        check_keys(data, "bayes", toml_keys(cls))
        d = dict(data)
        if "studies" in d:
            v = d["studies"]
            if not isinstance(v, list) or not v or not all(isinstance(x, dict) for x in v):
                raise err("bayes.studies", v, "must be an array of tables [[bayes.studies]]",
                          _STUDY_EX)
            rows = []
            for i, row in enumerate(v):
                path = f"bayes.studies[{i}]"
                check_keys(row, path, toml_keys(StudyRow))
                rows.append(validate(StudyRow, row, path))
            d["studies"] = tuple(rows)
        return d

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "BayesConfig":
        if info.context is None:
            return self
        uses_map = self.prior in ("map", "robust_map")
        for k, ok, why in (
                ("prior_mean", self.prior == "normal", 'is only used with prior = "normal"'),
                ("prior_sd", self.prior == "normal", 'is only used with prior = "normal"'),
                ("studies", uses_map, 'is only used with prior = "map" or "robust_map"'),
                ("studies_file", uses_map, 'is only used with prior = "map" or "robust_map"'),
                ("evidence", uses_map, 'is only used with prior = "map" or "robust_map"'),
                ("tau_prior_sd", uses_map and self.evidence is None,
                 'is only used with prior = "map" or "robust_map" from studies'),
                ("mu_prior_mean", uses_map and self.evidence is None,
                 'is only used with prior = "map" or "robust_map" from studies'),
                ("mu_prior_sd", uses_map and self.evidence is None,
                 'is only used with prior = "map" or "robust_map" from studies'),
                ("robust_mean", self.prior == "robust_map",
                 'is only used with prior = "robust_map"'),
                ("conflict_shifts", self.target == "control",
                 'is only used with target = "control"')):
            v = getattr(self, k)
            given = v not in (None, ())
            if given and not ok:
                raise rule(f"bayes.{k}", v if not isinstance(v, tuple) or k != "studies"
                           else f"{len(v)} rows", why)
        raw = (info.context or {}).get("raw:BayesConfig", {})
        if "robust_weight" in raw and self.prior != "robust_map":
            raise rule("bayes.robust_weight", self.robust_weight,
                       'is only used with prior = "robust_map"', 'prior = "robust_map"')
        if self.prior == "normal" and (self.prior_mean is None or self.prior_sd is None):
            raise rule("", None, 'bayes.prior = "normal" needs prior_mean and prior_sd (e.g. '
                       "prior_mean = 0.0, prior_sd = 0.5)", bare=True)
        if uses_map:
            given = [k for k in ("studies", "studies_file", "evidence")
                     if getattr(self, k) not in (None, ())]
            if len(given) != 1:
                raise rule("", None, f'bayes.prior = "{self.prior}" needs exactly one of '
                           "studies ([[bayes.studies]]), studies_file or evidence"
                           + (f" (got {', '.join(given)})" if given else ""), bare=True)
            if self.evidence is not None and self.target != "effect":
                raise rule("bayes.evidence", self.evidence, 'gives an effect; it needs target '
                           '= "effect" (a control-arm prior needs studies)', 'target = "effect"')
            if (self.mu_prior_mean is None) != (self.mu_prior_sd is None):
                raise rule("", None, "bayes.mu_prior_mean and bayes.mu_prior_sd go together "
                           "(a normal prior on mu; leave both out for a flat one)", bare=True)
            if self.evidence is None and self.tau_prior_sd is None:
                raise rule("", None, "bayes.tau_prior_sd is required for a MAP prior from "
                           "studies (e.g. tau_prior_sd = 0.5)", bare=True)
        return self


BAYES_KEYS = toml_keys(BayesConfig)


def parse_bayes(data: dict) -> BayesConfig | None:
    """Validate the ``[bayes]`` table (``None`` if absent). A studies file and an evidence row
    are read when the design is built (:mod:`simtrial.model.priors`), before anything is
    simulated or written."""
    if "bayes" not in data:
        return None
    t = data["bayes"]
    if not isinstance(t, dict):
        raise err("bayes", t, "must be a table", '[bayes] prior = "robust_map"')
    return validate(BayesConfig, t, "bayes", **{"raw:BayesConfig": dict(t)})
