"""Power, power curves and sample size by simulation, each beside its closed-form counterpart.

Every simulated probability travels with its Monte Carlo standard error
``sqrt(p (1 - p) / R)`` and a 95% Wilson interval; every mean with ``SD / sqrt(R)``.

Sample size uses common random numbers: one simulation pass at the largest arm size evaluates
*every* smaller arm size on the same patients (prefix sums), so the estimated power curve is
smooth in N. The reported N is the smallest searched N from which the simulated power stays at or
above the target for every larger searched N (robust to a Monte Carlo dip just past the
crossing), reported with the closed-form N beside it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .oc.closed_form import analytic_assurance, analytic_assurance_n, analytic_power, analytic_sample_size
from .sim.prefix import SimOutput, simulate
from .model.stratum import TrialModel, build_model
from .scenario import Scenario

__all__ = ["PowerResult", "PowerCurve", "SampleSizeResult", "power", "power_curve", "sample_size",
           "wilson", "as_model"]

Z975 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z975) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1.0 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def as_model(obj: Scenario | TrialModel) -> TrialModel:
    """Accept a scenario or an already-built model."""
    return obj if isinstance(obj, TrialModel) else build_model(obj)


def _id_cols(model: TrialModel, n0: int) -> dict[str, Any]:
    sc = model.scenario
    return {"scenario": sc.name, "design_point": f"n_per_arm={n0}",
            "endpoint": sc.endpoint.outcome, "visit": sc.endpoint.visit_months,
            "analysis": sc.endpoint.analysis}


@dataclass(frozen=True)
class PowerResult:
    """Simulated power at one design point, with its closed-form counterpart.

    Attributes
    ----------
    power : float
        Proportion of replicate trials rejecting H0: MD = 0.
    mc_se : float
        Monte Carlo SE of ``power``; ``ci_low``, ``ci_high`` its 95% Wilson interval.
    mean_estimate, sd_estimate : float
        Mean and SD of the estimated MD over trials (natural units);
        ``mean_estimate_mc_se = sd_estimate / sqrt(n_trials)``.
    analytic_power : float
        Closed-form power (:mod:`simtrial.analytic`).
    md : float
        True MD at the endpoint visit.
    screen_fail, screen_fail_mc_se : float
        Share of screened candidates failing the criteria in this simulation, and its SE.
    """

    scenario: str
    outcome: str
    visit_months: int
    analysis: str
    n_per_arm: int
    n_msc: int
    n_trials: int
    md: float
    power: float
    mc_se: float
    ci_low: float
    ci_high: float
    mean_estimate: float
    mean_estimate_mc_se: float
    sd_estimate: float
    analytic_power: float
    alpha: float
    sides: int
    seed: int
    screen_fail: float
    screen_fail_mc_se: float
    elapsed_s: float
    assurance: float = float("nan")
    assurance_mc_se: float = float("nan")
    assurance_ci_low: float = float("nan")
    assurance_ci_high: float = float("nan")
    analytic_assurance: float = float("nan")
    effect_distribution: str = "point"
    theta_mean: float = float("nan")
    theta_sd: float = float("nan")
    theta_clipped: int = 0
    responder_fraction: float = float("nan")
    responder_fraction_mc_se: float = float("nan")
    insulin_independence_control: float = float("nan")
    insulin_independence_msc: float = float("nan")
    estimates: np.ndarray | None = field(default=None, repr=False, compare=False)
    rejected: np.ndarray | None = field(default=None, repr=False, compare=False)
    rejected_assurance: np.ndarray | None = field(default=None, repr=False, compare=False)
    thetas: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (no per-trial arrays)."""
        d = asdict(self)
        for k in ("estimates", "rejected", "rejected_assurance", "thetas"):
            d.pop(k)
        d["n_control"] = self.n_per_arm
        return d

    def to_frame(self) -> pd.DataFrame:
        """Tidy long table: id columns + ``metric, estimate, mc_se``."""
        rows = [
            ("power", self.power, self.mc_se), ("power_ci_low", self.ci_low, None),
            ("power_ci_high", self.ci_high, None), ("analytic_power", self.analytic_power, None),
            ("mean_estimate", self.mean_estimate, self.mean_estimate_mc_se),
            ("sd_estimate", self.sd_estimate, None), ("true_md", self.md, None),
            ("screen_fail", self.screen_fail, self.screen_fail_mc_se),
            ("assurance", self.assurance, self.assurance_mc_se),
            ("analytic_assurance", self.analytic_assurance, None),
            ("trial_effect_mean", self.theta_mean, None), ("trial_effect_sd", self.theta_sd, None),
        ]
        if not math.isnan(self.responder_fraction):
            rows.append(("responder_fraction", self.responder_fraction, self.responder_fraction_mc_se))
        if not math.isnan(self.insulin_independence_msc):
            rows.append(("insulin_independence_control", self.insulin_independence_control, None))
            rows.append(("insulin_independence_msc", self.insulin_independence_msc, None))
        ids = {"scenario": self.scenario, "design_point": f"n_per_arm={self.n_per_arm}",
               "endpoint": self.outcome, "visit": self.visit_months, "analysis": self.analysis,
               "n_per_arm": self.n_per_arm, "n_msc": self.n_msc, "n_trials": self.n_trials}
        return pd.DataFrame([{**ids, "metric": m, "estimate": e, "mc_se": s} for m, e, s in rows])


@dataclass(frozen=True)
class PowerCurve:
    """Power at several arm sizes, simulated with common random numbers."""

    points: tuple[PowerResult, ...]

    @property
    def n_per_arm(self) -> np.ndarray:
        return np.array([p.n_per_arm for p in self.points])

    @property
    def power(self) -> np.ndarray:
        return np.array([p.power for p in self.points])

    @property
    def mc_se(self) -> np.ndarray:
        return np.array([p.mc_se for p in self.points])

    @property
    def analytic(self) -> np.ndarray:
        return np.array([p.analytic_power for p in self.points])

    @property
    def assurance(self) -> np.ndarray:
        return np.array([p.assurance for p in self.points])

    @property
    def assurance_mc_se(self) -> np.ndarray:
        return np.array([p.assurance_mc_se for p in self.points])

    @property
    def has_distribution(self) -> bool:
        return bool(self.points) and self.points[0].effect_distribution != "point"

    def to_frame(self) -> pd.DataFrame:
        """Concatenated tidy tables of the points."""
        return pd.concat([p.to_frame() for p in self.points], ignore_index=True)


@dataclass(frozen=True)
class SampleSizeResult:
    """Smallest control-arm size reaching a target power.

    Attributes
    ----------
    n_per_arm : int or None
        Simulated answer (None if not reached by ``searched_max``).
    power, mc_se : float
        Simulated power at that N (nan if not reached).
    analytic_n_per_arm : int or None
        Closed-form answer.
    reached : bool
    searched_max : int
        Largest control-arm size simulated.
    """

    scenario: str
    outcome: str
    visit_months: int
    analysis: str
    target_power: float
    target: str
    n_per_arm: int | None
    n_msc: int | None
    power: float
    mc_se: float
    analytic_n_per_arm: int | None
    reached: bool
    searched_max: int
    n_trials: int
    seed: int
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        ids = {"scenario": self.scenario,
               "design_point": f"target_{self.target}={self.target_power:g}",
               "endpoint": self.outcome, "visit": self.visit_months, "analysis": self.analysis,
               "n_per_arm": self.n_per_arm, "n_msc": self.n_msc, "n_trials": self.n_trials}
        rows = [("sample_size", self.n_per_arm, None),
                ("analytic_sample_size", self.analytic_n_per_arm, None),
                (f"{self.target}_at_sample_size", self.power, self.mc_se)]
        return pd.DataFrame([{**ids, "metric": m, "estimate": e, "mc_se": s} for m, e, s in rows])


def _point(model: TrialModel, out: SimOutput, i: int, seed: int, analytic_a: bool = True
           ) -> PowerResult:
    sc = model.scenario
    r = out.n_trials
    k = int(out.rejections[i])
    p = k / r
    mean = out.sum_est[i] / r
    var = max(out.sum_est2[i] / r - mean * mean, 0.0) * r / max(r - 1, 1)
    sd = math.sqrt(var)
    lo, hi = wilson(k, r)
    ka = int(out.rej_assur[i])
    pa = ka / r
    alo, ahi = wilson(ka, r)
    n0, n1 = int(out.n0[i]), int(out.n1[i])
    fail = 1.0 - out.accepted / out.screened
    keep = out.kept is not None and i == out.keep
    dist = model.distribution
    resp = ins0 = ins1 = float("nan")
    resp_se = float("nan")
    if model.heterogeneity.mode == "responders":
        resp = out.resp1[i] / (r * n1)
        resp_se = math.sqrt(resp * (1 - resp) / (r * n1))
    if model.outcome_def.floor is not None:
        ins0 = out.zeros0[i] / (r * n0)
        ins1 = out.zeros1[i] / (r * n1)
    return PowerResult(
        scenario=sc.name, outcome=sc.endpoint.outcome, visit_months=sc.endpoint.visit_months,
        analysis=sc.endpoint.analysis, n_per_arm=n0, n_msc=n1, n_trials=r, md=model.endpoint_md,
        power=p, mc_se=math.sqrt(p * (1 - p) / r), ci_low=lo, ci_high=hi, mean_estimate=mean,
        mean_estimate_mc_se=sd / math.sqrt(r), sd_estimate=sd,
        analytic_power=analytic_power(model, n0, n1), alpha=sc.design.alpha, sides=sc.design.sides,
        seed=seed, screen_fail=fail, screen_fail_mc_se=math.sqrt(fail * (1 - fail) / out.screened),
        elapsed_s=out.elapsed_s, assurance=pa, assurance_mc_se=math.sqrt(pa * (1 - pa) / r),
        assurance_ci_low=alo, assurance_ci_high=ahi,
        analytic_assurance=analytic_assurance(model, n0, n1) if analytic_a else float("nan"),
        effect_distribution=dist.kind if dist is not None else "point",
        theta_mean=out.theta_mean, theta_sd=out.theta_sd, theta_clipped=out.theta_clipped,
        responder_fraction=resp, responder_fraction_mc_se=resp_se,
        insulin_independence_control=ins0, insulin_independence_msc=ins1,
        estimates=out.kept if keep else None, rejected=out.kept_reject if keep else None,
        rejected_assurance=out.kept_assur_reject if keep else None,
        thetas=out.kept_theta if keep else None)


def power(scenario: Scenario | TrialModel, n_per_arm: int | None = None, *,
          n_trials: int | None = None, seed: int | None = None, workers: int = 1,
          keep_estimates: bool = False, progress: bool = False) -> PowerResult:
    """Simulated power at one control-arm size.

    Parameters
    ----------
    scenario : Scenario or TrialModel
    n_per_arm : int, optional
        Control-arm size (default ``design.n_per_arm``); MSC arm ``round(ratio * n)``.
    n_trials, seed : int, optional
        Override the scenario's.
    workers : int
        Processes; the numbers do not depend on it.
    keep_estimates : bool
        Keep the per-trial estimates (``.estimates``) and rejections (``.rejected``).

    Returns
    -------
    PowerResult
    """
    model = as_model(scenario)
    sc = model.scenario
    n = sc.design.n_per_arm if n_per_arm is None else int(n_per_arm)
    seed = sc.seed if seed is None else int(seed)
    out = simulate(model, [n], n_trials=n_trials, seed=seed, keep=0 if keep_estimates else None,
                   workers=workers, progress=progress, progress_label="power")
    return _point(model, out, 0, seed)


def power_curve(scenario: Scenario | TrialModel, ns, *, n_trials: int | None = None,
                seed: int | None = None, workers: int = 1, progress: bool = False) -> PowerCurve:
    """Simulated power at each control-arm size in ``ns`` (one pass, common random numbers)."""
    model = as_model(scenario)
    seed = model.scenario.seed if seed is None else int(seed)
    grid = np.array(sorted({int(n) for n in ns}))
    out = simulate(model, grid, n_trials=n_trials, seed=seed, workers=workers, progress=progress,
                   progress_label="power curve")
    return PowerCurve(tuple(_point(model, out, i, seed) for i in range(grid.size)))


def _crossing(power_by_n: np.ndarray, ns: np.ndarray, target: float) -> int | None:
    """Smallest n from which power stays >= target over the rest of the searched grid."""
    below = np.flatnonzero(power_by_n < target)
    if below.size == 0:
        return int(ns[0])
    last = below[-1]
    return int(ns[last + 1]) if last + 1 < ns.size else None


def search_grid(model: TrialModel, targets, n_trials: int | None, seed: int, workers: int,
                progress: bool, extra: tuple[int, ...] = (), keep_n: int | None = None,
                kinds: tuple[str, ...] = ("power",)) -> tuple[SimOutput, int]:
    """Simulate every control-arm size from 3 up to a bound covering all targets.

    The bound starts at 1.25 x the largest closed-form N over the targets and ``kinds``
    (power, assurance) (+5) and doubles, up to ``design.max_n_per_arm``, until the simulated
    curves reach every target whose closed form says it is reachable (assurance can plateau
    below a target: then it is reported as not reached without simulating to the cap). A power
    target that the closed form does not reach by the cap is simulated up to the cap.
    """
    sc = model.scenario
    cap = sc.design.max_n_per_arm
    need = []
    for kind in kinds:
        for t in targets:
            an = (analytic_sample_size(model, t, n_max=cap) if kind == "power"
                  else analytic_assurance_n(model, t, cap))
            if an is not None:
                need.append((kind, t, an))
            elif kind == "power":
                # power -> 1 with N, so "not reached" must mean "not by the cap": simulate there
                need.append((kind, t, cap))
    guess = max([a for _, _, a in need] or [20])
    hi = int(min(cap, max(20, math.ceil(1.25 * guess) + 5, *extra)))
    while True:
        ns = np.arange(3, hi + 1)
        ns = ns[[sc.design.n_msc(int(n)) >= 2 for n in ns]]
        keep = int(np.flatnonzero(ns == keep_n)[0]) if keep_n in set(ns.tolist()) else None
        out = simulate(model, ns, n_trials=n_trials, seed=seed, workers=workers, keep=keep,
                       progress=progress, progress_label=f"N <= {hi}")
        reached = all(((out.rejections if kind == "power" else out.rej_assur)[-1] / out.n_trials)
                      >= t for kind, t, _ in need)
        if reached or hi >= cap:
            return out, hi
        hi = min(cap, 2 * hi)


def sample_size_from(model: TrialModel, out: SimOutput, target: float, seed: int, hi: int,
                     kind: str = "power") -> SampleSizeResult:
    """Read the sample size for ``target`` power or assurance off a dense simulated grid."""
    sc = model.scenario
    p = (out.rejections if kind == "power" else out.rej_assur) / out.n_trials
    n = _crossing(p, out.n0, target)
    if kind == "power":
        an = analytic_sample_size(model, target, n_max=sc.design.max_n_per_arm)
    else:
        an = analytic_assurance_n(model, target, sc.design.max_n_per_arm)
    if n is None:
        pw, se = float("nan"), float("nan")
    else:
        i = int(np.flatnonzero(out.n0 == n)[0])
        pw = float(p[i])
        se = math.sqrt(pw * (1 - pw) / out.n_trials)
    return SampleSizeResult(
        scenario=sc.name, outcome=sc.endpoint.outcome, visit_months=sc.endpoint.visit_months,
        analysis=sc.endpoint.analysis, target_power=target, target=kind, n_per_arm=n,
        n_msc=sc.design.n_msc(n) if n is not None else None, power=pw, mc_se=se,
        analytic_n_per_arm=an, reached=n is not None, searched_max=hi, n_trials=out.n_trials,
        seed=seed, elapsed_s=out.elapsed_s)


def sample_size(scenario: Scenario | TrialModel, target_power: float = 0.8, *,
                n_trials: int | None = None, seed: int | None = None, workers: int = 1,
                progress: bool = False, target: str | None = None) -> SampleSizeResult:
    """Smallest control-arm size whose simulated power reaches ``target_power``.

    Parameters
    ----------
    scenario : Scenario or TrialModel
    target_power : float
        In (0, 1).
    target : {"power", "assurance"}, optional
        What to reach (default ``design.target``).

    Returns
    -------
    SampleSizeResult
    """
    if not 0.0 < target_power < 1.0:
        from .errors import SimtrialError
        raise SimtrialError(f"error: --target-power = {target_power} must be in (0, 1) (e.g. 0.8)")
    model = as_model(scenario)
    seed = model.scenario.seed if seed is None else int(seed)
    kind = target or model.scenario.design.target
    out, hi = search_grid(model, [target_power], n_trials, seed, workers, progress, kinds=(kind,))
    return sample_size_from(model, out, target_power, seed, hi, kind)
