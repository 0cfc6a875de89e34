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
* ``critical_value`` and ``n1`` (no MC SE).
"""

from __future__ import annotations

import math
import time

import numpy as np

from .._rng import chunk_count
from ..errors import SimtrialError
from ..model.design import DesignModel
from ..sim import adaptive as SA
from ..sim import budget, suffstat
from ..sim.driver import run_chunks
from ..stats.mc import mean_se, rate_se

__all__ = ["check", "simulate", "rows", "AdaptiveSim"]


def check(dm: DesignModel, n: int | None = None) -> None:
    """One-line SimtrialError if ``[adaptive]`` cannot be simulated for this design (or at
    planned size ``n``)."""
    sc = dm.scenario
    if sc.adaptive is None:
        return
    if not suffstat.supports(dm):
        raise SimtrialError(
            "scenario error: [adaptive] is simulated on the prefix-sum kernel's patients and needs "
            "a linear-normal design (one stratum, one MSC arm, a continuous additive endpoint by "
            "ancova or ttest_change, no floor, heterogeneity, dropout losses, MMRM, strata, looks "
            "or conduct); these designs are not supported by [adaptive] yet")
    if n is not None:
        try:
            SA.plan_for(dm, n)
        except ValueError as exc:
            raise SimtrialError(f"error: {exc}") from None


class AdaptiveSim:
    """Per-trial arrays of both conditions (``arrays["effect_n_final"]`` etc.) at one planned
    size, with the plan and the critical value."""

    def __init__(self, plan: SA.Plan, arrays: dict[str, np.ndarray], n_trials: int,
                 elapsed_s: float):
        self.plan = plan
        self.arrays = arrays
        self.n_trials = n_trials
        self.elapsed_s = elapsed_s
        self.crit = plan.crit(plan.test)


def simulate(dm: DesignModel, n: int, *, n_trials: int, seed: int, workers: int = 1,
             chunks=None) -> AdaptiveSim:
    """Simulate the adaptive design at planned control-arm size ``n``."""
    check(dm, n)
    p = SA.plan_for(dm, n)
    n_max = p.n1 + p.max_stage2
    budget.check(dm, [n_max], n_trials, "prefix", workers)
    t0 = time.perf_counter()
    outs = run_chunks(SA.run_chunk, dm, n_trials, lambda c: (seed, c, n_trials, p),
                      workers=workers, chunks=chunks, label=f"adaptive N <= {n_max}")
    keys = [k for k in outs[0] if k not in ("screened", "accepted")]
    arrays = {k: np.concatenate([outs[c][k] for c in range(chunk_count(n_trials))])
              for k in keys}
    return AdaptiveSim(p, arrays, n_trials, time.perf_counter() - t0)


def rows(dm: DesignModel, sim: AdaptiveSim) -> list[dict]:
    """The tidy rows (without the scenario id columns the result adds)."""
    p, r = sim.plan, sim.n_trials
    e = dm.scenario.endpoint
    out: list[dict] = []
    for cond in SA.CONDITIONS:
        a = {f: sim.arrays[f"{cond}_{f}"] for f in SA.FIELDS}
        ids = {"design_point": f"n_per_arm={p.n} {cond}", "hypothesis": "adaptive",
               "endpoint": e.name, "arm": "", "visit": e.visit_months}

        def add(metric, est, se=math.nan, q10=math.nan, q90=math.nan):
            out.append({**ids, "metric": metric, "estimate": float(est), "mc_se": float(se),
                        "q10": float(q10), "q90": float(q90)})

        def rate(metric, x):
            v = float(np.mean(x))
            add(metric, v, rate_se(v, r))
        rate("power" if cond == "effect" else "type_i_error", a["reject"])
        for t in ("inverse_normal", "chw", "unweighted"):
            rate(f"p_reject_{t}", a[f"reject_{t}"])
        nf = a["n_final"].astype(float)
        m, se = mean_se(nf)
        q10, q90 = np.quantile(nf, [0.1, 0.9])
        add("expected_n_per_arm", m, se, q10, q90)
        add("median_n_per_arm", float(np.median(nf)))
        add("max_n_per_arm", p.n1 + p.max_stage2)
        add("max_n_observed", float(nf.max()))
        tot = nf + np.asarray(p.msc)[a["n_final"]]
        add("expected_n_total", *mean_se(tot))
        rate("p_increase", a["increase"])
        if p.rule == "target_cp":
            rate("p_decrease", a["decrease"])
        rate("p_futility", a["futility"])
        if p.blinded:
            add("mean_sd_interim", *mean_se(a["sd_interim"]))
        if p.efficacy != "none":
            rate("p_efficacy", a["efficacy"])
        truth = p.truth if cond == "effect" else 0.0
        m, se = mean_se(a["estimate"])
        add("mean_estimate", m, se)
        add("true_effect", truth)
        add("bias_naive", m - truth, se)
        add("critical_value", sim.crit)
        add("n1", p.n1)
    return out
