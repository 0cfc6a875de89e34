"""Raw kernel output (:class:`~simtrial.sim.driver.Simulated`) -> one
:class:`~simtrial.oc.results.PointResult` per control-arm size, the same way for every kernel
(the two sums kernels, prefix and suffstat, share one output type):
per-hypothesis sufficient statistics, then the rows every scenario has (screen failures,
insulin independence, responders, drawn trial effects), then the rows only designs with several
hypotheses, looks, dropout or conduct have."""

from __future__ import annotations

import math

import numpy as np

from ..model.design import DesignModel, group_sizes
from ..model.outcomes import OUTCOMES
from ..sim.driver import Simulated
from ..errors import SimtrialError
from . import bayes
from .results import HypothesisStats, PointResult, common_rows, design_rows

__all__ = ["points"]


def points(dm: DesignModel, sim: Simulated) -> dict[int, PointResult]:
    """PointResult per simulated control-arm size; a one-line SimtrialError if a statistic
    overflowed (numbers outside what the model can compute must never reach results.csv)."""
    out = _from_prefix(dm, sim) if sim.prefix is not None else _from_full(dm, sim)
    for n, p in out.items():
        for h, st in zip(dm.hypotheses, p.stats):
            bad = [k for k in ("est_sum", "est_sum2", "se_sum") if not math.isfinite(getattr(st, k))]
            if bad:
                raise SimtrialError(
                    f"run error: the estimates of hypothesis {h.label} at N = {n} are not finite "
                    f"({bad[0]} = {getattr(st, bad[0])}): the scenario's numbers are outside what "
                    "the model can compute (check effect, outcome_model and population values)")
    return out


def _tested_flag(dm: DesignModel) -> bool:
    return dm.scenario.multiplicity.method in ("hierarchical", "fixed_sequence")


def _theta(dm: DesignModel, theta: np.ndarray | None) -> tuple[float, float, int] | None:
    dist = dm.models[0].distribution
    if dist is None or dist.is_point or theta is None:
        return None
    lim = dm.models[0].md_limit
    sd = float(np.std(theta, ddof=1)) if theta.size > 1 else math.nan
    return float(np.mean(theta)), sd, int(np.sum(theta < lim)) if lim is not None else 0


def _from_prefix(dm: DesignModel, sim: Simulated) -> dict[int, PointResult]:
    so = sim.prefix
    sc = dm.scenario
    r = so.n_trials
    dist = dm.models[0].distribution
    has_dist = dist is not None and not dist.is_point
    floor = OUTCOMES[sc.endpoint.outcome].zero_event
    responders = dm.models[0].heterogeneity.mode == "responders"
    h0 = dm.hypotheses[0]
    out = {}
    for i, n in enumerate(int(x) for x in so.n0):
        st = HypothesisStats(
            n_trials=r, reject=int(so.rejections[i]), success=int(so.successes[i]),
            reject_raw=int(so.rejections[i]), est_n=r, est_sum=float(so.sum_est[i]),
            est_sum2=float(so.sum_est2[i]), se_n=r, se_sum=float(so.sum_se[i]), not_fitted=0,
            tested=r if _tested_flag(dm) else None,
            assurance=int(so.rej_assur[i]) if has_dist else None)
        sizes = group_sizes(dm, n)
        theta = None
        if has_dist:
            theta = (so.theta_mean, so.theta_sd, so.theta_clipped)
        extra = common_rows(dm, r, np.array([so.screened]), np.array([so.accepted]),
                            np.array([so.zeros0[i], so.zeros1[i]]) if floor else None,
                            int(so.resp1[i]) if responders else None, sizes, theta)
        if h0.true_null:
            p = st.reject / r
            extra.append({"hypothesis": "family", "endpoint": "all", "arm": "all", "visit": "",
                          "metric": "fwer", "estimate": p,
                          "mc_se": math.sqrt(p * (1 - p) / r)})
        if sc.dropout is not None:      # a no-op dropout section: everyone observed
            for nm in ["control"] + [a.name for a in dm.arms]:
                for month in dm.visits:
                    extra.append({"hypothesis": "", "endpoint": "", "arm": nm, "visit": month,
                                  "metric": "observed_fraction", "estimate": 1.0, "mc_se": 0.0})
        trials = None
        if so.keep is not None and i == so.keep:
            trials = {"point_est": so.kept[:, None], "point_reject": so.kept_reject[:, None],
                      "point_success": so.kept_success[:, None]}
            if has_dist:
                trials["assurance_success"] = so.kept_assur_reject[:, None]
                trials["theta"] = so.kept_theta
            if so.kept_arms is not None:
                trials["point_se"] = so.kept_arms[:, :1]
                trials["arm_means"] = so.kept_arms
            if sc.bayes is not None:
                extra += bayes.rows(dm, trials, n)
        out[n] = PointResult(dm, n, sizes, r, sim.seed, sim.kernel, (st,), tuple(extra), trials,
                             None, so.elapsed_s)
    return out


def _from_full(dm: DesignModel, sim: Simulated) -> dict[int, PointResult]:
    r = sim.n_trials
    out = {}
    for n in sim.ns:
        tr = sim.trials[n]
        sizes = group_sizes(dm, n)
        stats = tuple(HypothesisStats.from_trials(tr, h.index, _tested_flag(dm))
                      for h in dm.hypotheses)
        zeros = tr["zeros"].sum(axis=0) if "zeros" in tr else None
        resp = int(tr["responders"].sum()) if "responders" in tr else None
        conduct = sim.conducts[n] if sim.conducts is not None else None
        extra = common_rows(dm, r, sim.screened, sim.accepted, zeros, resp, sizes,
                            _theta(dm, tr.get("theta")))
        extra += design_rows(dm, tr, sizes, r, conduct)
        out[n] = PointResult(dm, n, sizes, r, sim.seed, "full", stats, tuple(extra), tr,
                             conduct, sim.elapsed_s)
    return out
