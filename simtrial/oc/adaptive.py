"""Operating characteristics of an ``[adaptive]`` two-stage design, in the tidy table.

:func:`simulate` runs :func:`simtrial.sim.adaptive.run_chunk` over the chunks (the driver's
chunks and workers: the same numbers for any number of workers) and :func:`rows` gives, for the
scenario's effect and for the null (``design_point = "n_per_arm=N effect"`` / ``"... null"``,
``hypothesis = "adaptive"``, ``table = "adaptive"`` in results.csv), each with its MC SE:

* ``power`` (effect) / ``type_i_error`` (null) of the chosen final test, and
  ``p_reject_inverse_normal``, ``p_reject_chw``, ``p_reject_unweighted`` of all three on the
  same trials (the unweighted test's inflation is shown beside the valid tests);
* ``expected_n_per_arm`` (control arm; ``q10, q90`` of the final N), ``median_n_per_arm``,
  ``max_n_per_arm`` (the cap) and ``max_n_observed``, ``expected_n_total`` (both arms);
* ``p_increase``, ``p_decrease`` (target_cp only), ``p_futility``, ``p_efficacy`` (with
  ``efficacy``: the early stop);
* ``mean_estimate`` of the naive final estimate (the ANCOVA / t-test on every patient of the
  trial, stage 1 alone when stopped) and ``bias_naive`` = mean - truth;
* ``mean_sd_interim`` (``blinded_sd``: the blinded SD's mean);
* ``critical_value`` and ``n1`` (no MC SE);
* with ``[conduct]`` (the trials on the conduct calendar, :mod:`simtrial.sim.adaptive`):
  ``interim_month`` (median interim day in months, ``q10, q90``), ``duration_months`` (mean
  months from day 0 to the analysis the trial ends with: the final analysis, or the interim
  for a trial that stops there; ``q10, q90``), ``median_duration_months`` and
  ``pipeline_at_interim`` (mean patients randomised by the interim without the endpoint
  visit: stage-2 patients). Their MC SE counts the distinct conduct replicates
  (:func:`simtrial.stats.mc.calendar_summary`). ``expected_n_per_arm`` stays the rule's final
  size; ``expected_n_total`` counts the patients the trial recruited, pipeline included.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .._rng import chunk_count
from ..errors import SimtrialError
from ..model.design import DesignModel, group_sizes
from ..sim import adaptive as SA
from ..sim import budget, suffstat
from ..sim.conduct import conduct_design
from ..sim.driver import run_chunks
from ..stats.mc import MONTH_DAYS, calendar_summary, mean_se, rate_se

__all__ = ["check", "simulate", "rows", "AdaptiveSim"]


def path_for(dm: DesignModel, kernel: str | None = None) -> str:
    """The simulation path of :mod:`simtrial.sim.adaptive`: ``"prefix"`` for a linear-normal
    two-arm design (unless the run's kernel is ``"full"``), else ``"patients"``."""
    if kernel != "full" and suffstat.supports(dm) and dm.scenario.adaptive.selection is None:
        return "prefix"
    return "patients"


def check(dm: DesignModel, n: int | None = None, kernel: str | None = None) -> None:
    """One-line SimtrialError if ``[adaptive]`` cannot be simulated for this design (or at
    planned size ``n``)."""
    sc = dm.scenario
    if sc.adaptive is None:
        return
    path = path_for(dm, kernel)
    if path == "patients":
        why = SA.patients_reason(dm)
        if why is not None:
            raise SimtrialError(f"scenario error: [adaptive] is not simulated with {why}")
    if n is not None:
        try:
            SA.plan_for(dm, n, path)
        except ValueError as exc:
            raise SimtrialError(f"error: {exc}") from None


class AdaptiveSim:
    """Per-trial arrays of both conditions (``arrays["effect_n_final"]`` etc.) at one planned
    size, with the plan, the critical value and the conduct replicates (``[conduct]``)."""

    def __init__(self, plan: SA.Plan, arrays: dict[str, np.ndarray], n_trials: int,
                 elapsed_s: float, conduct=None):
        self.plan = plan
        self.arrays = arrays
        self.n_trials = n_trials
        self.elapsed_s = elapsed_s
        self.crit = plan.crit(plan.test)
        self.conduct = conduct


def simulate(dm: DesignModel, n: int, *, n_trials: int, seed: int, workers: int = 1,
             chunks=None, kernel: str | None = None, conduct=None) -> AdaptiveSim:
    """Simulate the adaptive design at planned control-arm size ``n`` (``kernel``: the run's
    kernel, :func:`path_for`). With ``[conduct]`` the trials take their calendar from
    ``min(replicates, n_trials)`` conduct replicates at the largest final size ``n1 +
    max_stage2`` (``conduct``: those replicates given, a
    :class:`~simtrial.sim.conduct.ConductResult` with that size's groups)."""
    check(dm, n, kernel)
    path = path_for(dm, kernel)
    p = SA.plan_for(dm, n, path)
    n_max = p.n1 + p.max_stage2
    budget.check(dm, [n_max], n_trials, "prefix" if path == "prefix" else "full", workers)
    t0 = time.perf_counter()
    sc = dm.scenario
    if sc.conduct is None and conduct is not None:
        raise SimtrialError("error: conduct replicates were given for a scenario without "
                            "[conduct] (add a [conduct] section or drop them)")
    if sc.conduct is not None and conduct is None:
        conduct = conduct_design(dm, n_max, seed=seed,
                                 replicates=min(sc.conduct.replicates, n_trials))
    if conduct is not None and not np.array_equal(conduct.sizes, group_sizes(dm, n_max)):
        raise SimtrialError(f"error: the conduct replicates have groups "
                            f"{np.asarray(conduct.sizes).tolist()}; the adaptive design needs "
                            f"those of n1 + max_stage2 = {n_max} per control arm "
                            f"({group_sizes(dm, n_max).tolist()})")
    outs = run_chunks(SA.run_chunk, dm, n_trials, lambda c: (seed, c, n_trials, p, conduct),
                      workers=workers, chunks=chunks, label=f"adaptive N <= {n_max}")
    keys = [k for k in outs[0] if k not in ("screened", "accepted")]
    arrays = {k: np.concatenate([outs[c][k] for c in range(chunk_count(n_trials))])
              for k in keys}
    return AdaptiveSim(p, arrays, n_trials, time.perf_counter() - t0, conduct)


def rows(dm: DesignModel, sim: AdaptiveSim) -> list[dict]:
    """The tidy rows (without the scenario id columns the result adds)."""
    p, r = sim.plan, sim.n_trials
    e = dm.scenario.endpoint
    out: list[dict] = []
    for cond in SA.CONDITIONS:
        a = {f: sim.arrays[f"{cond}_{f}"] for f in SA.FIELDS}
        ids = {"design_point": f"n_per_arm={p.n} {cond}", "hypothesis": "adaptive",
               "endpoint": e.name, "arm": "", "visit": e.visit_months}

        def add(metric, est, se=math.nan, q10=math.nan, q90=math.nan, arm=""):
            out.append({**ids, "arm": arm, "metric": metric, "estimate": float(est),
                        "mc_se": float(se), "q10": float(q10), "q90": float(q90)})

        def rate(metric, x, arm=""):
            v = float(np.mean(x))
            add(metric, v, rate_se(v, r), arm=arm)
        rate("power" if cond == "effect" else "type_i_error", a["reject"])
        for t in ("inverse_normal", "chw") + (() if p.selection else ("unweighted",)):
            rate(f"p_reject_{t}", a[f"reject_{t}"])
        nf = a["n_final"].astype(float)
        m, se = mean_se(nf)
        q10, q90 = np.quantile(nf, [0.1, 0.9])
        add("expected_n_per_arm", m, se, q10, q90)
        add("median_n_per_arm", float(np.median(nf)))
        add("max_n_per_arm", p.n1 + p.max_stage2)
        add("max_n_observed", float(nf.max()))
        add("expected_n_total", *mean_se(a["n_total"].astype(float)))
        if p.selection is None:
            rate("p_increase", a["increase"])
            if p.rule == "target_cp":
                rate("p_decrease", a["decrease"])
        rate("p_futility", a["futility"])
        if p.blinded:
            add("mean_sd_interim", *mean_se(a["sd_interim"]))
        if p.efficacy != "none":
            rate("p_efficacy", a["efficacy"])
        if p.selection is None:
            truth = p.truth if cond == "effect" else 0.0
            m, se = mean_se(a["estimate"])
            add("mean_estimate", m, se)
            add("true_effect", truth)
            add("bias_naive", m - truth, se)
        else:
            _arm_rows(dm, sim, cond, add, rate)
        if sim.conduct is not None:
            _calendar_rows(sim, cond, add)
        add("critical_value", sim.crit)
        add("n1", p.n1)
    return out


def _calendar_rows(sim: AdaptiveSim, cond: str, add) -> None:
    """[conduct]: the interim's month, the trial's duration in months and the pipeline at the
    interim, MC SEs over the distinct conduct replicates."""
    n_eff = min(sim.conduct.replicates, sim.n_trials)
    a = sim.arrays
    add("interim_month", *calendar_summary(a[f"{cond}_interim_day"] / MONTH_DAYS, n_eff))
    dur = a[f"{cond}_duration_day"] / MONTH_DAYS
    add("duration_months", *calendar_summary(dur, n_eff, mean=True))
    add("median_duration_months", *calendar_summary(dur, n_eff))
    add("pipeline_at_interim", *calendar_summary(a[f"{cond}_pipeline"], n_eff, mean=True))


def _arm_rows(dm: DesignModel, sim: AdaptiveSim, cond: str, add, rate) -> None:
    """Per MSC arm (metric suffix and ``arm`` = the arm's name): P(selected), P(H_k rejected),
    the naive final estimate's mean and bias over all trials and over the trials that selected
    the arm (the winner's curse), MC SEs from the trials."""
    p = sim.plan
    sel = sim.arrays[f"{cond}_selected"]
    rej = sim.arrays[f"{cond}_reject_arm"]
    est = sim.arrays[f"{cond}_estimate_arm"]
    n_sel = sel.sum(axis=1)
    rate("p_select_one", n_sel == 1)
    for k, arm in enumerate(dm.arms):
        name = arm.name
        truth = p.truths[k] if cond == "effect" else 0.0
        rate(f"p_selected_{name}", sel[:, k], arm=name)
        rate(f"p_reject_{name}", rej[:, k], arm=name)
        add(f"true_effect_{name}", truth, arm=name)
        m, se = mean_se(est[:, k])
        add(f"bias_naive_{name}", m - truth, se, arm=name)
        if sel[:, k].any():
            m, se = mean_se(est[sel[:, k], k])
            add(f"bias_selected_{name}", m - truth, se, arm=name)
