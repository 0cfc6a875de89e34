"""The resolved design: strata, arms, endpoints and hypotheses of a scenario, over one
calibrated :class:`~simtrial.model.stratum.TrialModel` per stratum.

Every scenario resolves to one :class:`DesignModel`; a plain scenario is a design with one
stratum, one MSC arm and one endpoint (hypothesis ``primary``). The simulation kernels
(:mod:`simtrial.sim`) take this object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._progress import steps as progress_steps
from ..scenario import ArmConfig, EndpointConfig, Scenario, arm_size
from ..stats import gsd
from . import priors
from .outcomes import OUTCOMES
from .presets import PRESET_POPULATION
from .safety import safety_evidence
from .stratum import TrialModel, build_model

__all__ = ["MAX_ARMS", "Hypothesis", "DesignModel", "build_design", "group_sizes",
           "dropout_hazards", "design_features", "benefit_sign"]

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

    def to_dict(self) -> dict[str, Any]:
        """Plain summary for manifests."""
        return {"index": self.index, "label": self.label, "endpoint": self.endpoint.name,
                "outcome": self.endpoint.outcome, "type": self.endpoint.type,
                "analysis": self.endpoint.analysis, "visit_months": self.endpoint.visit_months,
                "arm": self.arm_name, "truth": None if math.isnan(self.truth) else self.truth,
                "null_value": self.m0, "benefit_sign": self.sign, "true_null": self.true_null}


@dataclass(frozen=True)
class DesignModel:
    """A resolved design: one :class:`TrialModel` per stratum plus arms, endpoints, hypotheses.

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
    def warnings(self) -> tuple[str, ...]:
        """Model warnings about the outcomes this design simulates (each once)."""
        out = [w for m in self.models for w in m.warnings if w.split(":", 1)[0] in self.outcomes]
        return tuple(dict.fromkeys(out))

    @property
    def n_groups(self) -> int:
        return len(self.strata) * (len(self.arms) + 1)

    def visit_index(self, e: EndpointConfig) -> int:
        """Index of an endpoint's visit in :attr:`visits`."""
        return self.visits.index(e.visit_months)

    def to_dict(self, models: bool = True) -> dict[str, Any]:
        """Resolved design as plain data, for the manifest; ``models = False`` leaves out
        ``stratum_models`` (which calibrates every outcome of every stratum)."""
        sc = self.scenario
        d: dict[str, Any] = {
            "strata": {s: f for s, f in zip(self.strata, self.fractions)},
            "arms": [{"name": "control", "ratio": 1.0, "effect_scale": 0.0}]
            + [{"name": a.name, "ratio": a.ratio, "effect_scale": a.effect_scale}
               for a in self.arms],
            "visits": list(self.visits),
            "outcomes_simulated": list(self.outcomes),
            "hypotheses": [h.to_dict() for h in self.hypotheses],
            "dropout": None if sc.dropout is None else {
                "mechanism": sc.dropout.mechanism, "outcome": sc.dropout.outcome,
                "strength": sc.dropout.strength, "intermittent": sc.dropout.intermittent,
                "hazard_per_visit": list(dropout_hazards(sc, self.visits)),
                "cumulative_mcar": 1.0 - float(np.prod(1.0 - dropout_hazards(sc, self.visits)))},
            "multiplicity": {"method": sc.multiplicity.method,
                             "within": sc.multiplicity.within
                             if sc.multiplicity.method == "hierarchical" else None},
            "sequential": None if self.boundaries is None else self.boundaries.to_dict(),
            "screen_fail_prob": {s: m.screen_fail_prob for s, m in zip(self.strata, self.models)},
        }
        if models:
            d["stratum_models"] = {s: m.to_dict() for s, m in zip(self.strata, self.models)}
        return d


_MULTIPLICITY_WORDS = {"bonferroni": "Bonferroni", "holm": "Holm", "hochberg": "Hochberg",
                       "dunnett": "Dunnett", "hierarchical": "hierarchical testing"}


def design_features(sc: Scenario) -> list[str]:
    """Short labels, in words, of what makes a design differ from the plain two-arm trial (for
    titles and headlines): "MAR dropout", "3 looks", "Dunnett"."""
    extra = []
    if sc.dropout is not None:
        extra.append(f"{sc.dropout.mechanism.upper()} dropout")
    if sc.sequential is not None:
        extra.append(f"{len(sc.sequential.fractions)} looks")
    if sc.multiplicity.method != "none":
        extra.append(_MULTIPLICITY_WORDS.get(sc.multiplicity.method, sc.multiplicity.method))
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
    arm_n = [int(n)] + [arm_size(a.ratio, int(n)) for a in dm.arms]
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


def benefit_sign(od_name: str) -> int:
    """+1 if a higher value of the outcome is better, else -1."""
    return 1 if OUTCOMES[od_name].better == "higher" else -1


def build_design(sc: Scenario) -> DesignModel:
    """Resolve a scenario: stratum models, hypotheses, boundaries.

    Raises
    ------
    ScenarioError
        As :func:`simtrial.model.build_model`, for any stratum.
    """
    priors.check(sc)               # a [bayes] studies file or evidence row, read once here
    strata = tuple(sc.population.strata) if sc.population.strata else (sc.population.preset,)
    fractions = tuple(sc.population.strata.values()) if sc.population.strata else (1.0,)
    models = []
    with progress_steps(len(strata), "model calibration") as bar:
        for s in strata:
            sub = sc if s == sc.population.preset and len(strata) == 1 else sc.replace(**{
                "population.preset": s, "effect.population": PRESET_POPULATION[s]})
            models.append(build_model(sub))
            bar.step()
    safety_evidence(sc)          # [[safety]] evidence rows: one-line errors before simulating
    arms = sc.msc_arms
    if len(arms) > MAX_ARMS:
        raise ValueError(f"at most {MAX_ARMS} MSC arms")
    visits = models[0].visits
    outs = []
    for e in sc.all_endpoints:
        outs.extend(e.outcomes)
    d = sc.dropout
    if (d is not None and d.outcome and d.mechanism != "mcar"
            and np.any(dropout_hazards(sc, visits) > 0)):
        outs.append(d.outcome)      # MAR / MNAR dropout is driven by this outcome's values
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
                sign = benefit_sign(e.outcome)
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
