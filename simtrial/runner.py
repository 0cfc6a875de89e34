"""`simtrial run`: power at the design N, a power curve, sample sizes, and the output files.

One simulation pass evaluates every control-arm size from 3 up to a bound covering the design N,
the power-curve grid and the target powers (common random numbers), so all the numbers of a run
come from the same simulated patients.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .model.stratum import TrialModel, build_model
from .outputs import manifest, write_json
from .power import (PowerCurve, PowerResult, SampleSizeResult, _point, sample_size_from,
                    search_grid)
from .scenario import Scenario

__all__ = ["RunResult", "run", "write_outputs", "auto_grid", "DesignRun", "run_design",
           "write_design_outputs"]


def auto_grid(hi: int, design_n: int, k: int = 16) -> list[int]:
    """About ``k`` arm sizes from 3 to ``hi`` (roughly geometric), plus the design N."""
    pts = np.unique(np.round(np.geomspace(3, hi, k)).astype(int))
    return sorted(set(int(x) for x in pts) | {design_n})


@dataclass(frozen=True)
class RunResult:
    """Everything `simtrial run` computes.

    Attributes
    ----------
    model : TrialModel
    design : PowerResult
        At ``design.n_per_arm`` (with per-trial estimates).
    curve : PowerCurve
        At the grid points (``design.n_grid`` or :func:`auto_grid`).
    dense : PowerCurve
        At every simulated arm size (for plots).
    sample_sizes : tuple of SampleSizeResult
        One per ``design.target_power``.
    timings : dict
    """

    model: TrialModel
    design: PowerResult
    curve: PowerCurve
    dense: PowerCurve
    sample_sizes: tuple[SampleSizeResult, ...]
    seed: int
    n_trials: int
    timings: dict[str, float] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Tidy results: design point, power curve and sample sizes, with a ``table`` column."""
        parts = []
        d = self.design.to_frame()
        d.insert(0, "table", "design")
        parts.append(d)
        c = self.curve.to_frame()
        c.insert(0, "table", "power_curve")
        parts.append(c)
        for ss in self.sample_sizes:
            s = ss.to_frame()
            s.insert(0, "table", "sample_size")
            parts.append(s)
        return pd.concat(parts, ignore_index=True)

    def summary(self) -> str:
        """Readable multi-line summary."""
        m = self.model
        sc = m.scenario
        d = self.design
        od = m.outcome_def
        lines = [f"scenario  {sc.name}" + (f": {sc.description}" if sc.description else "")]
        lines.append(f"population {sc.population.preset}: screen failures {d.screen_fail:.1%} "
                     f"(+/- {d.screen_fail_mc_se:.2%})")
        src = m.md_source[od.name][m.k_end]
        lines.append(f"endpoint  {od.label} ({od.unit}) change at {sc.endpoint.visit_months} months, "
                     f"{sc.endpoint.analysis}, alpha {sc.design.alpha:g} {sc.design.sides}-sided")
        lines.append(f"effect    true MD {d.md:+.4g} {od.unit} (from {src})")
        lines.append(f"design    N = {d.n_per_arm} control + {d.n_msc} MSC, {d.n_trials:,} trials, "
                     f"seed {self.seed}")
        lines.append(f"power     {d.power:.4f} (MC SE {d.mc_se:.4f}, 95% CI {d.ci_low:.4f}-"
                     f"{d.ci_high:.4f}); closed form {d.analytic_power:.4f}")
        if d.effect_distribution != "point":
            dist = m.distribution
            lines.append(f"assurance {d.assurance:.4f} (MC SE {d.assurance_mc_se:.4f}, 95% CI "
                         f"{d.assurance_ci_low:.4f}-{d.assurance_ci_high:.4f}); closed form "
                         f"{d.analytic_assurance:.4f}; true effect ~ {dist.kind} {dist.family} "
                         f"(mean {dist.expectation():+.4g}, SD {dist.sd():.4g})")
            if d.theta_clipped:
                lines.append(f"          {d.theta_clipped} trial effects beyond the physical limit "
                             f"were set to it")
        if not math.isnan(d.responder_fraction):
            lines.append(f"responders {d.responder_fraction:.3f} of MSC patients "
                         f"(MC SE {d.responder_fraction_mc_se:.4f})")
        if not math.isnan(d.insulin_independence_msc):
            lines.append(f"insulin-free at {sc.endpoint.visit_months} months: MSC "
                         f"{d.insulin_independence_msc:.3f}, control {d.insulin_independence_control:.3f}")
        lines.append(f"estimate  mean {d.mean_estimate:+.4g} (MC SE {d.mean_estimate_mc_se:.2g}), "
                     f"SD {d.sd_estimate:.4g}")
        for ss in self.sample_sizes:
            if ss.reached:
                sim = (f"N = {ss.n_per_arm} per arm ({ss.target} {ss.power:.4f}, "
                       f"MC SE {ss.mc_se:.4f})")
            else:
                sim = f"not reached by N = {ss.searched_max} (design.max_n_per_arm)"
            an = (ss.analytic_n_per_arm if ss.analytic_n_per_arm is not None
                  else f"> {sc.design.max_n_per_arm}")
            lines.append(f"{ss.target_power:.0%} {ss.target} {sim}; closed form N = {an}")
        lines.append(f"time      {self.timings.get('total', float('nan')):.2f} s")
        return "\n".join(lines)


def run(scenario: Scenario | TrialModel, *, n_trials: int | None = None, seed: int | None = None,
        workers: int = 1, progress: bool = False) -> RunResult:
    """Power at the design N, a power curve, and the sample size for each target power.

    Parameters
    ----------
    scenario : Scenario or TrialModel
    n_trials, seed : int, optional
        Override the scenario's.
    workers : int
        Processes; the numbers do not depend on it.

    Returns
    -------
    RunResult
    """
    sc0 = scenario.scenario if isinstance(scenario, TrialModel) else scenario
    if sc0.extended:
        return run_design(scenario, n_trials=n_trials, seed=seed, workers=workers,
                          progress=progress)
    t0 = time.perf_counter()
    model = scenario if isinstance(scenario, TrialModel) else build_model(scenario)
    t1 = time.perf_counter()
    sc = model.scenario
    seed = sc.seed if seed is None else int(seed)
    n_trials = sc.n_trials if n_trials is None else int(n_trials)
    extra = (sc.design.n_per_arm,) + tuple(sc.design.n_grid or ())
    kinds = ("power", "assurance") if not model.distribution.is_point else ("power",)
    out, hi = search_grid(model, sc.design.target_power, n_trials, seed, workers, progress,
                          extra=extra, keep_n=sc.design.n_per_arm, kinds=kinds)
    t2 = time.perf_counter()
    idx = {int(n): i for i, n in enumerate(out.n0)}
    design = _point(model, out, idx[sc.design.n_per_arm], seed)
    dense = PowerCurve(tuple(_point(model, out, i, seed, analytic_a=False)
                             for i in range(out.n0.size)))
    grid = list(sc.design.n_grid) if sc.design.n_grid else auto_grid(hi, sc.design.n_per_arm)
    curve = PowerCurve(tuple(_point(model, out, idx[n], seed) for n in grid if n in idx))
    sizes = tuple(sample_size_from(model, out, t, seed, hi, kind)
                  for kind in kinds for t in sc.design.target_power)
    t3 = time.perf_counter()
    return RunResult(model, design, curve, dense, sizes, seed, n_trials,
                     {"build_model": t1 - t0, "simulate": t2 - t1, "summarise": t3 - t2,
                      "total": t3 - t0, "trials_simulated": float(n_trials * 2),
                      "max_n_per_arm_simulated": float(hi)})


def write_outputs(res: RunResult, out_dir: str | Path, command: list[str] | None = None) -> dict[str, Path]:
    """Write results.csv, power_curve.png and manifest.json to ``out_dir``.

    All files are rendered into a temporary folder beside ``out_dir`` first and only then renamed
    into place, so a failure while rendering leaves no new or partial file behind.
    """
    import matplotlib.pyplot as plt
    from .plots import plot_power_curve

    if isinstance(res, DesignRun):
        return write_design_outputs(res, out_dir, command)
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {"results": "results.csv", "power_curve": "power_curve.png",
             "manifest": "manifest.json"}
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.", dir=out_dir.parent) as tmp:
        stage = Path(tmp)
        res.to_frame().to_csv(stage / names["results"], index=False, float_format="%.10g")
        ax = plot_power_curve(res)
        fig = ax.figure
        try:
            fig.tight_layout()
            fig.savefig(stage / names["power_curve"], format="png")
        finally:
            plt.close(fig)
        timings = dict(res.timings)
        timings["write_outputs"] = time.perf_counter() - t0
        man = manifest(res.model, seed=res.seed, n_trials=res.n_trials, timings=timings,
                       files=list(names.values()), command=command)
        write_json(stage / names["manifest"], man)
        paths = {}
        for key, name in names.items():
            # same file system: each rename is atomic
            os.replace(stage / name, out_dir / name)
            paths[key] = out_dir / name
    return paths


# ---------------------------------------------------------------------------------------------
# extended designs (several arms / endpoints, strata, dropout, interim looks)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DesignRun:
    """`simtrial run` for an extended design (:mod:`simtrial.trial`).

    Attributes
    ----------
    dm : DesignModel
    design : DesignResult
        At ``design.n_per_arm``.
    curve : tuple of DesignResult
        At every arm size simulated (``design.n_grid`` and the sample-size search), sorted by N.
    sample_sizes : tuple of dict
        Per target power: smallest control-arm size whose simulated power of the primary
        hypothesis (after multiplicity / interim looks) reaches it (``n_per_arm`` None if not by
        ``design.max_n_per_arm``), with its power and MC SE.
    """

    dm: Any
    design: Any
    curve: tuple
    sample_sizes: tuple
    seed: int
    n_trials: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def model(self) -> TrialModel:
        return self.dm.models[0]

    def to_frame(self) -> pd.DataFrame:
        """Tidy table with a ``table`` column: design, power_curve, sample_size."""
        d = self.design.to_frame()
        d.insert(0, "table", "design")
        parts = [d]
        for r in self.curve:
            c = r.to_frame()
            c = c[c["metric"].isin(["power", "success", "assurance", "any_success",
                                    "all_success", "disjunctive_power", "conjunctive_power",
                                    "fwer", "expected_patients", "duration_days",
                                    "mean_duration_days"])]
            c.insert(0, "table", "power_curve")
            parts.append(c)
        h0 = self.dm.hypotheses[0]
        for s in self.sample_sizes:
            parts.append(pd.DataFrame([{
                "table": "sample_size", "scenario": self.dm.scenario.name,
                "design_point": s["n_per_arm"], "hypothesis": h0.label,
                "endpoint": h0.endpoint.name, "arm": h0.arm_name,
                "visit": h0.endpoint.visit_months, "metric": f"n_for_power_{s['target']:g}",
                "estimate": s["power"], "mc_se": s["mc_se"]}]))
        return pd.concat(parts, ignore_index=True)

    def summary(self) -> str:
        lines = [self.design.summary()]
        for s in self.sample_sizes:
            if s["n_per_arm"] is None:
                lines.append(f"{s['target']:.0%} power (primary hypothesis) not reached by N = "
                             f"{s['searched_max']} (design.max_n_per_arm)")
            else:
                lines.append(f"{s['target']:.0%} power (primary hypothesis): N = {s['n_per_arm']} "
                             f"control (power {s['power']:.4f}, MC SE {s['mc_se']:.4f})")
        lines.append(f"total     {self.timings.get('total', float('nan')):.2f} s")
        return "\n".join(lines)


def _primary_power(res) -> tuple[float, float]:
    x = res.trials["point_reject"][:, 0]
    p = float(np.mean(x))
    return p, math.sqrt(p * (1 - p) / x.size)


def run_design(scenario: Scenario | TrialModel, *, n_trials: int | None = None,
               seed: int | None = None, workers: int = 1, progress: bool = False) -> DesignRun:
    """Operating characteristics of an extended design at the design N, on ``design.n_grid``,
    and the smallest N reaching each target power for the primary hypothesis.

    The sample-size search doubles N from the design N until the target is reached (or
    ``max_n_per_arm``), then bisects; every evaluation simulates ``n_trials`` trials with common
    random numbers, so power is (nearly) monotone in N. Every evaluated N is on the curve.
    """
    from .sim.full import build_design, group_sizes, simulate_design
    t0 = time.perf_counter()
    sc = scenario.scenario if isinstance(scenario, TrialModel) else scenario
    dm = build_design(sc)
    seed = sc.seed if seed is None else int(seed)
    n_trials = sc.n_trials if n_trials is None else int(n_trials)
    cache: dict[int, Any] = {}

    def at(n: int):
        if n not in cache:
            cache[n] = simulate_design(dm, n, n_trials=n_trials, seed=seed, workers=workers,
                                       progress=progress)
        return cache[n]

    design = at(sc.design.n_per_arm)
    for n in sc.design.n_grid or ():
        at(int(n))
    sizes = []
    cap = sc.design.max_n_per_arm
    for target in sc.design.target_power:
        reached = sorted(n for n, r in cache.items() if _primary_power(r)[0] >= target)
        hi = reached[0] if reached else None
        while hi is None and max(cache) < cap:
            nxt = min(cap, 2 * max(cache))
            if _primary_power(at(nxt))[0] >= target:
                hi = nxt
        if hi is None:
            sizes.append({"target": target, "n_per_arm": None, "power": float("nan"),
                          "mc_se": float("nan"), "searched_max": cap})
            continue
        # 1 is a sentinel below every simulable size (arms need >= 2 patients)
        lo = max([n for n, r in cache.items() if n < hi and _primary_power(r)[0] < target],
                 default=1)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            g = group_sizes(dm, mid)
            if mid < 2 or g.min() < 1 or g.sum(axis=0).min() < 2:
                lo = mid    # too small to analyse: counts as below the target
                continue
            if _primary_power(at(mid))[0] >= target:
                hi = mid
            else:
                lo = mid
        p, se = _primary_power(at(hi))
        sizes.append({"target": target, "n_per_arm": hi, "power": p, "mc_se": se,
                      "searched_max": cap})
    t1 = time.perf_counter()
    curve = tuple(cache[n] for n in sorted(cache))
    return DesignRun(dm, design, curve, tuple(sizes), seed, n_trials,
                     {"total": t1 - t0, "design_points_simulated": float(len(cache))})


def write_design_outputs(res: DesignRun, out_dir: str | Path,
                         command: list[str] | None = None) -> dict[str, Path]:
    """results.csv, power_curve.png and manifest.json for an extended design (atomic); with
    ``[conduct]`` also conduct.png (enrolment curve) and the conduct in the manifest."""
    import matplotlib.pyplot as plt
    from .plots import plot_conduct, plot_design_power

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {"results": "results.csv", "power_curve": "power_curve.png",
             "manifest": "manifest.json"}
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.", dir=out_dir.parent) as tmp:
        stage = Path(tmp)
        res.to_frame().to_csv(stage / names["results"], index=False, float_format="%.10g")
        conduct = res.design.conduct
        if conduct is not None:
            names["conduct"] = "conduct.png"
        for key, plot in (("power_curve", plot_design_power), ("conduct", plot_conduct)):
            if key not in names:
                continue
            ax = plot(res)
            fig = ax.figure
            try:
                fig.tight_layout()
                fig.savefig(stage / names[key], format="png")
            finally:
                plt.close(fig)
        timings = dict(res.timings)
        timings["write_outputs"] = time.perf_counter() - t0
        man = manifest(res.model, seed=res.seed, n_trials=res.n_trials, timings=timings,
                       files=list(names.values()), command=command)
        man["design"] = res.dm.describe()
        if conduct is not None:
            man["conduct"] = conduct.describe()
        write_json(stage / names["manifest"], man)
        paths = {}
        for key, name in names.items():
            os.replace(stage / name, out_dir / name)
            paths[key] = out_dir / name
    return paths
