"""``[adaptive]``: a two-stage adaptive design with one interim look: sample-size
re-estimation by conditional power and futility by conditional or predictive power, with a
valid final combination test.

Each key is declared once (see :mod:`simtrial.spec._fields`); validated here, computed by
:mod:`simtrial.stats.adaptive` (conditional power, stage-2 sizes, combination tests) and
:mod:`simtrial.sim.adaptive` (each trial analysed at its own final size), reported by
:mod:`simtrial.oc.adaptive`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationInfo, model_validator

from ..errors import ScenarioError

from ._fields import (Bool, Choice, Float, FloatList, Int, check_keys, err, key, rule, section,
                      toml_keys, validate)

__all__ = ["AdaptiveConfig", "RULES", "TESTS", "FUTILITY", "AT", "parse_adaptive",
           "ADAPTIVE_KEYS", "stage_sizes", "EFFICACY", "SELECTIONS", "INTERSECTIONS",
           "SELECT_BY"]

RULES = ("promising_zone", "target_cp", "none")
TESTS = ("inverse_normal", "chw", "unweighted")
FUTILITY = ("none", "cp", "pp")
EFFICACY = ("none", "obf", "pocock")
AT = ("observed", "planned")
SELECTIONS = ("best", "r_best", "epsilon", "all")
INTERSECTIONS = ("dunnett", "bonferroni", "simes")
SELECT_BY = ("estimate", "statistic")


@section
class AdaptiveConfig:
    """``[adaptive]``: one interim look at information fraction ``interim``, a stage-2 size
    rule, futility, and the final test."""

    interim: Float(gt=0.0, lt=1.0) = key(example="interim = 0.5", doc="information fraction "
                                         "of the interim: n1 = round(interim x n_per_arm) "
                                         "patients per arm with the endpoint", dump="always")
    rule: Choice(*RULES) = key("promising_zone", doc="stage-2 size rule: promising_zone "
                               "(Mehta-Pocock) | target_cp (min_stage2..max_stage2) | none "
                               "(the default with selection)", dump="always")
    cp_zone: FloatList("must be two numbers [lo, hi]", length=2, ge=0.0, le=1.0) = key(
        (0.36, 0.8), "cp_zone = [0.36, 0.8]", "promising zone: increase when lo <= CP < hi "
        "(CP at the planned stage-2 size)")
    target_cp: Float(gt=0.0, lt=1.0) | None = key(None, "target_cp = 0.9", "conditional power "
                                                  "the stage-2 size aims at",
                                                  shown_default="cp_zone[1] (promising_zone), "
                                                  "0.9 (target_cp)")
    max_n_per_arm: Int(ge=2, le=1_000_000) | None = key(None, "max_n_per_arm = 90", "cap on "
                                                        "the final control-arm size (e.g. 2 x "
                                                        "n_per_arm)",
                                                        shown_default="n1 + max_stage2")
    min_stage2: Int(ge=2, le=1_000_000) | None = key(None, "min_stage2 = 10", 'rule = '
                                                     '"target_cp": smallest stage-2 size per '
                                                     "arm", shown_default="the planned "
                                                     "n_per_arm - n1")
    max_stage2: Int(ge=2, le=1_000_000) | None = key(None, "max_stage2 = 70", "largest "
                                                     "stage-2 size per arm",
                                                     shown_default="max_n_per_arm - n1")
    at: Choice(*AT) = key("observed", doc="effect the conditional power is computed at: the "
                          "stage-1 estimate, or planned_effect")
    planned_effect: Float(ge=-1e6, le=1e6) | None = key(None, "planned_effect = -0.5",
                                                        'at = "planned": the effect (MSC - '
                                                        "control, natural units)",
                                                        shown_default="the scenario's effect")
    planned_sd: Float(gt=0.0, le=1e6) | None = key(None, "planned_sd = 1.0", 'at = "planned": '
                                                   "the SD (ANCOVA residual) the CP uses, as "
                                                   "known", shown_default="the stage-1 estimate")
    blinded_sd: Bool = key(False, "blinded_sd = true", 'blinded re-estimation (rule = '
                           '"target_cp", at = "planned"): the stage-2 size is the fixed-design '
                           "size for power target_cp at planned_effect with the SD of the pooled "
                           "stage-1 data (arms not looked at), minus n1")
    test: Choice(*TESTS) = key("inverse_normal", doc="final test: inverse_normal (weights "
                               "sqrt(interim), sqrt(1 - interim)) | chw (Cui-Hung-Wang: the "
                               "planned stage sizes n1/n) | unweighted (naive pooled test, "
                               "not level alpha)", dump="always")
    futility: Choice(*FUTILITY) = key("none", doc="stop at the interim if CP (cp, at the `at` "
                                      "effect) or predictive power (pp) at the planned stage-2 "
                                      "size is below the threshold")
    futility_cp: Float(gt=0.0, lt=1.0) | None = key(None, "futility_cp = 0.1", 'futility = '
                                                    '"cp": threshold')
    futility_pp: Float(gt=0.0, lt=1.0) | None = key(None, "futility_pp = 0.1", 'futility = '
                                                    '"pp": threshold')
    efficacy: Choice(*EFFICACY) = key("none", doc="early efficacy stop at the interim: "
                                      "Lan-DeMets spending (obf | pocock) at the stage "
                                      "fractions; the final critical value is the spending "
                                      "design's")
    binding: Bool = key(False, "binding = true", "binding futility: the final critical value "
                        "is lowered to keep alpha (non-binding leaves it)")
    selection: Choice(*SELECTIONS) | None = key(None, 'selection = "best"', "treatment "
                                                "selection at the interim in a design with "
                                                "several MSC [[arms]]: best | r_best (the "
                                                "select_r best) | epsilon (within epsilon of "
                                                "the best) | all; only the selected arms and "
                                                "control get stage-2 patients, and each arm is "
                                                "tested by closed testing over the combination "
                                                "test", shown_default="none (one MSC arm)")
    select_by: Choice(*SELECT_BY) = key("estimate", doc="what selection ranks: the stage-1 "
                                        "effect estimate (benefit direction, natural units) "
                                        "or the stage-1 test statistic (z)")
    select_r: Int(ge=1, le=100) | None = key(None, "select_r = 2", 'selection = "r_best": '
                                             "arms kept")
    epsilon: Float(ge=0.0, le=1e6) | None = key(None, "epsilon = 0.2", 'selection = '
                                                '"epsilon": arms whose effect measure is within '
                                                "epsilon of the best are kept")
    select_threshold: Float(ge=-1e6, le=1e6) | None = key(None, "select_threshold = 0.0",
                                                          "arms whose effect measure (benefit "
                                                          "direction) is at or below it are "
                                                          "dropped whatever the rule; no arm "
                                                          "left stops the trial for futility",
                                                          shown_default="none")
    intersection: Choice(*INTERSECTIONS) = key("dunnett", doc="intersection test of the closed "
                                               "test (selection): dunnett | bonferroni | simes")
    select_visit_months: Int(ge=1, le=1200) | None = key(
        None, "select_visit_months = 6", "selection on an earlier visit: the interim comes when "
        "the stage-1 patients reach this visit, and the arms are ranked by their analysis at it "
        "(visits up to it only); the final test uses every stage's endpoint visit",
        shown_default="the endpoint visit")

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and info.context is not None:
            check_keys(data, "adaptive", toml_keys(cls))
            if "selection" in data and "rule" not in data:
                data = {**data, "rule": "none"}     # selection: the planned stage-2 size
        return data

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "AdaptiveConfig":
        if info.context is None:
            return self
        raw = (info.context or {}).get("raw:AdaptiveConfig", {})
        lo, hi = self.cp_zone
        if not lo < hi:
            raise rule("adaptive.cp_zone", list(self.cp_zone), "must be [lo, hi] with lo < hi",
                       "cp_zone = [0.36, 0.8]")
        if "cp_zone" in raw and self.rule != "promising_zone":
            raise rule("adaptive.cp_zone", list(self.cp_zone), 'is only used with rule = '
                       '"promising_zone"', 'rule = "promising_zone"')
        if self.rule == "none":
            for k in ("target_cp", "max_n_per_arm", "min_stage2", "max_stage2"):
                if getattr(self, k) is not None:
                    raise rule(f"adaptive.{k}", getattr(self, k), 'is not used with rule = '
                               '"none" (the planned stage-2 size)', 'rule = "target_cp"')
        elif self.max_n_per_arm is None and self.max_stage2 is None:
            raise rule("", None, f'adaptive.rule = "{self.rule}" needs max_n_per_arm (or '
                       "max_stage2): the cap on the re-estimated size (e.g. max_n_per_arm = 90)",
                       bare=True)
        if self.min_stage2 is not None and self.rule != "target_cp":
            raise rule("adaptive.min_stage2", self.min_stage2, 'is only used with rule = '
                       '"target_cp" (the promising zone never goes below the planned size)',
                       'rule = "target_cp"')
        if self.planned_effect is not None and self.at != "planned":
            raise rule("adaptive.planned_effect", self.planned_effect, 'is only used with at '
                       '= "planned"', 'at = "planned"')
        if self.planned_sd is not None and self.at != "planned":
            raise rule("adaptive.planned_sd", self.planned_sd, 'is only used with at = '
                       '"planned"', 'at = "planned"')
        if self.blinded_sd:
            if self.rule != "target_cp" or self.at != "planned":
                raise rule("adaptive.blinded_sd", True, 'needs rule = "target_cp" and at = '
                           '"planned" (the size for power target_cp at planned_effect)',
                           'rule = "target_cp", at = "planned"')
            for k in ("planned_sd", "futility", "efficacy"):
                v = getattr(self, k)
                if v not in (None, "none"):
                    raise rule(f"adaptive.{k}", v, "is not used with blinded_sd = true (a "
                               "blinded interim looks at no comparison)", "blinded_sd = false")
        if self.futility != "cp" and self.futility_cp is not None:
            raise rule("adaptive.futility_cp", self.futility_cp, 'is only used with futility '
                       '= "cp"', 'futility = "cp"')
        if self.futility != "pp" and self.futility_pp is not None:
            raise rule("adaptive.futility_pp", self.futility_pp, 'is only used with futility '
                       '= "pp"', 'futility = "pp"')
        if self.futility == "cp" and self.futility_cp is None:
            raise rule("", None, 'adaptive.futility = "cp" needs futility_cp (e.g. '
                       "futility_cp = 0.1)", bare=True)
        if self.futility == "pp" and self.futility_pp is None:
            raise rule("", None, 'adaptive.futility = "pp" needs futility_pp (e.g. '
                       "futility_pp = 0.1)", bare=True)
        if self.binding and self.futility == "none":
            raise rule("adaptive.binding", True, "needs adaptive.futility", 'futility = "cp"')
        if self.binding and self.futility == "cp" and self.at == "planned":
            raise rule("adaptive.binding", True, 'needs the futility CP at the observed effect '
                       '(at = "observed") or futility = "pp": only then is the rule a bound on '
                       "the stage-1 statistic the critical value can be computed from",
                       'at = "observed"')
        if self.binding and self.efficacy != "none":
            raise rule("adaptive.binding", True, "is not combined with adaptive.efficacy yet "
                       "(binding futility with an early efficacy stop)", "binding = false")
        if self.binding and self.test == "unweighted":
            raise rule("adaptive.binding", True, 'is not used with test = "unweighted" (its '
                       "critical value is the conventional one)", 'test = "inverse_normal"')
        self._selection_rules(raw)
        return self

    def _selection_rules(self, raw: dict) -> None:
        """Keys of treatment selection (one-line errors)."""
        for k in ("select_by", "select_r", "epsilon", "select_threshold", "intersection",
                  "select_visit_months"):
            if k in raw and self.selection is None:
                raise rule(f"adaptive.{k}", getattr(self, k), "is only used with "
                           "adaptive.selection (a design with several MSC arms)",
                           'selection = "best"')
        if self.selection is None:
            return
        if self.selection == "r_best" and self.select_r is None:
            raise rule("", None, 'adaptive.selection = "r_best" needs select_r (e.g. select_r '
                       "= 2)", bare=True)
        if self.select_r is not None and self.selection != "r_best":
            raise rule("adaptive.select_r", self.select_r, 'is only used with selection = '
                       '"r_best"', 'selection = "r_best"')
        if self.selection == "epsilon" and self.epsilon is None:
            raise rule("", None, 'adaptive.selection = "epsilon" needs epsilon (e.g. epsilon '
                       "= 0.2)", bare=True)
        if self.epsilon is not None and self.selection != "epsilon":
            raise rule("adaptive.epsilon", self.epsilon, 'is only used with selection = '
                       '"epsilon"', 'selection = "epsilon"')
        for k, ok, want in (("rule", self.rule == "none", '"none"'),
                            ("futility", self.futility == "none", '"none"'),
                            ("efficacy", self.efficacy == "none", '"none"'),
                            ("test", self.test != "unweighted", '"inverse_normal"'),
                            ("blinded_sd", not self.blinded_sd, "false")):
            if not ok:
                v = getattr(self, k)
                raise rule(f"adaptive.{k}", v, "is not combined with adaptive.selection yet "
                           "(selection continues the selected arms at the planned stage-2 "
                           "size; futility is select_threshold)", f"{k} = {want}")
        if "at" in raw:
            raise rule("adaptive.at", self.at, "is not used with adaptive.selection (no "
                       "conditional power is computed)", 'remove "at"')

    def target(self) -> float:
        """The conditional power the stage-2 size aims at (its default by rule)."""
        if self.target_cp is not None:
            return float(self.target_cp)
        return float(self.cp_zone[1]) if self.rule == "promising_zone" else 0.9


ADAPTIVE_KEYS = toml_keys(AdaptiveConfig)


def stage_sizes(cfg: AdaptiveConfig, n: int) -> tuple[int, int, int, int]:
    """``(n1, n2_planned, min_stage2, max_stage2)`` per control arm at planned size ``n``
    (raises ValueError with the house line if they are inconsistent)."""
    n1 = int(round(cfg.interim * n))
    n2p = n - n1
    where = f"with n_per_arm = {n}, adaptive.interim = {cfg.interim:g} gives n1 = {n1}"
    if n1 < 2 or n2p < 2:
        raise ValueError(f"{where}: both stages need >= 2 patients per arm (e.g. interim = 0.5)")
    if cfg.rule == "none":
        return n1, n2p, n2p, n2p
    hi = cfg.max_stage2 if cfg.max_stage2 is not None else cfg.max_n_per_arm - n1
    if cfg.max_n_per_arm is not None and cfg.max_n_per_arm < n:
        raise ValueError(f"adaptive.max_n_per_arm = {cfg.max_n_per_arm} must be >= n_per_arm "
                         f"= {n} (e.g. max_n_per_arm = {2 * n})")
    if cfg.max_n_per_arm is not None and n1 + hi > cfg.max_n_per_arm:
        raise ValueError(f"adaptive.max_stage2 = {hi} gives n1 + max_stage2 = {n1 + hi} > "
                         f"max_n_per_arm = {cfg.max_n_per_arm} ({where})")
    if hi < n2p:
        raise ValueError(f"adaptive.max_stage2 = {hi} must be >= the planned stage-2 size "
                         f"{n2p} ({where})")
    lo = cfg.min_stage2 if cfg.min_stage2 is not None else n2p
    if lo > hi:
        raise ValueError(f"adaptive.min_stage2 = {lo} must be <= max_stage2 = {hi}")
    return n1, n2p, lo, hi


def parse_adaptive(data: dict, n_per_arm: int) -> AdaptiveConfig | None:
    """Validate the ``[adaptive]`` table (``None`` if absent) and its stage sizes at the
    design's ``n_per_arm``."""
    if "adaptive" not in data:
        return None
    t = data["adaptive"]
    if not isinstance(t, dict):
        raise err("adaptive", t, "must be a table", '[adaptive] interim = 0.5')
    cfg = validate(AdaptiveConfig, t, "adaptive", **{"raw:AdaptiveConfig": dict(t)})
    try:
        stage_sizes(cfg, n_per_arm)
    except ValueError as exc:
        raise ScenarioError(f"scenario error: {exc}") from None
    return cfg
