"""Figure data (computed here, drawn by :mod:`simtrial.present.plots`): evidence forest, power
curves with closed forms, one trial's trajectories and the sampling distribution of the
estimate, re-simulated from the manifest with the run's own engine and seed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
import numpy as np
import pandas as pd

from ...model.design import group_sizes
from ...model.evidence import load_evidence
from ...model.outcomes import OUTCOMES
from ...oc.glance import analysis_words, design_title, hypothesis_short
from ...oc.results import closed_form_assurance, closed_form_power
from ...oc.run import power
from ...oc.search import analytic_n
from ...sim.driver import valid_n
from ...sim.full import one_trial
from ...stats.mc import Z975
from .load import (MAX_PATIENTS_SHOWN, RunFolder, close_enough, design_value, mismatch_error,
                   report_error, sig_text)

__all__ = ["EvidenceForest", "CurveSeries", "PowerCurves", "ArmTrajectory", "Trajectories",
           "SamplingDistribution", "sampling_distribution", "evidence_forest", "dist_interval",
           "curve_data", "sampling_data", "trajectory_data"]

# ---------------------------------------------------------------------------------------------
# figure data (computed here, drawn by simtrial.plots)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EvidenceForest:
    """Evidence rows of one outcome for a forest plot.

    ``rows`` columns: ``label`` (row id), ``md``, ``lo``, ``hi`` (95% interval), ``interval``
    (``"reported 95% CI"`` or ``"MD +/- 1.96 SE"``), ``flag``, ``used`` (bool: the simulation
    uses this row). ``extra`` are effect distributions as (label, centre, lo, hi) 95% intervals.
    """

    outcome: str
    label: str
    unit: str
    rows: pd.DataFrame
    extra: tuple[tuple[str, float, float, float], ...] = ()


@dataclass(frozen=True)
class CurveSeries:
    """One simulated curve: estimate and MC SE at each N (control arm)."""

    label: str
    kind: str                 # "power" | "assurance" | "family"
    n: np.ndarray
    estimate: np.ndarray
    mc_se: np.ndarray


@dataclass(frozen=True)
class PowerCurves:
    """Power / assurance against N: simulated series with MC SEs, closed-form curves, targets.

    ``analytic`` holds (label, kind, n, values); ``sample_sizes`` (label, target, n).
    """

    title: str
    ylabel: str
    series: tuple[CurveSeries, ...]
    analytic: tuple[tuple[str, str, np.ndarray, np.ndarray], ...]
    targets: tuple[float, ...]
    sample_sizes: tuple[tuple[str, float, int], ...]
    design_n: int
    n_trials: int


@dataclass(frozen=True)
class ArmTrajectory:
    """One arm of one simulated trial: ``values`` (shown patients, months) with NaN where
    unobserved (the first :data:`MAX_PATIENTS_SHOWN` patients), and the arm mean over all
    observed patients with its 95% CI at each month."""

    name: str
    values: np.ndarray
    mean: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_observed: np.ndarray
    n_patients: int


@dataclass(frozen=True)
class Trajectories:
    """One outcome over months 0 (baseline) and the visits, per arm, for one simulated trial."""

    outcome: str
    label: str
    unit: str
    months: tuple[int, ...]
    arms: tuple[ArmTrajectory, ...]
    title: str


@dataclass(frozen=True)
class SamplingDistribution:
    """Per-trial estimates of one effect at the design N, binned for a histogram.

    ``counts_sig`` / ``counts_ns`` count trials per bin (``edges``, length bins + 1) that did /
    did not reach significance (success in the benefit direction); ``truth`` is the true effect
    (NaN if it has no closed form, e.g. a risk difference); ``mean_sig`` is the mean estimate
    among significant trials (the winner's curse), with its MC SE.
    """

    label: str
    unit: str
    edges: np.ndarray
    counts_sig: np.ndarray
    counts_ns: np.ndarray
    truth: float
    mean: float
    mean_mc_se: float
    sd: float
    mean_sig: float
    mean_sig_mc_se: float
    share_sig: float
    share_sig_mc_se: float
    n_trials: int
    n_per_arm: int


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan
    if x.size == 1:
        return float(x[0]), math.nan
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def sampling_distribution(est: np.ndarray, sig: np.ndarray, *, label: str, unit: str,
                          truth: float, n_per_arm: int, bins: int = 40) -> SamplingDistribution:
    """Bin per-trial estimates (shape (trials,)) split by significance; NaN estimates (failed
    fits) are left out."""
    est = np.asarray(est, float)
    sig = np.asarray(sig, bool)
    ok = np.isfinite(est)
    e, s = est[ok], sig[ok]
    lo, hi = (float(e.min()), float(e.max())) if e.size else (0.0, 1.0)
    if not math.isnan(truth):
        lo, hi = min(lo, truth), max(hi, truth)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    u = np.unique(e)
    if 2 < u.size <= 200:
        # estimates on a lattice (e.g. risk differences of fixed-size arms): one bin per value,
        # so no bin collects two lattice points and its neighbour none
        step = float(np.min(np.diff(u)))
        k = (u - u[0]) / step
        if step > 0 and np.allclose(k, np.round(k), atol=1e-6) and k[-1] <= 400:
            lo2, hi2 = min(lo, float(u[0])), max(hi, float(u[-1]))
            start = float(u[0]) - step / 2 - step * math.ceil((float(u[0]) - lo2) / step)
            n_b = int(math.ceil((hi2 + step / 2 - start) / step))
            edges = start + step * np.arange(n_b + 1)
    cs, _ = np.histogram(e[s], edges)
    cn, _ = np.histogram(e[~s], edges)
    m, mse = _mean_se(e)
    ms, msse = _mean_se(e[s])
    share = float(s.mean()) if s.size else math.nan
    return SamplingDistribution(label, unit, edges, cs, cn, truth, m, mse,
                                float(e.std(ddof=1)) if e.size > 1 else math.nan, ms, msse,
                                share, math.sqrt(share * (1 - share) / s.size) if s.size else
                                math.nan, int(est.size), int(n_per_arm))


def _arm_trajectory(name: str, values: np.ndarray) -> ArmTrajectory:
    obs = np.isfinite(values)
    k = obs.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(k > 0, np.nansum(values, axis=0) / np.maximum(k, 1), np.nan)
        dev = np.where(obs, values - mean, 0.0)
        sd = np.sqrt((dev ** 2).sum(axis=0) / np.maximum(k - 1, 1))
        half = np.where(k > 1, Z975 * sd / np.sqrt(np.maximum(k, 1)), np.nan)
    return ArmTrajectory(name, values[:MAX_PATIENTS_SHOWN], mean, mean - half, mean + half, k,
                         int(values.shape[0]))


def _mixture_interval(components, q: float) -> float:
    from scipy import optimize, stats
    w = np.array([c[0] for c in components])
    m = np.array([c[1] for c in components])
    s = np.array([c[2] for c in components])

    def f(x):
        return float(w @ stats.norm.cdf((x - m) / s)) - q
    return float(optimize.brentq(f, float((m - 10 * s).min()), float((m + 10 * s).max())))


def dist_interval(dist) -> tuple[float, float] | None:
    """95% interval of an effect distribution (None for a point)."""
    from scipy import stats
    if dist is None or dist.is_point:
        return None
    if dist.family == "normal":
        return float(dist.mean - Z975 * dist.scale), float(dist.mean + Z975 * dist.scale)
    if dist.family == "t":
        q = float(stats.t.ppf(0.975, dist.df))
        return float(dist.mean - q * dist.scale), float(dist.mean + q * dist.scale)
    return _mixture_interval(dist.components, 0.025), _mixture_interval(dist.components, 0.975)


def evidence_forest(outcome: str, used_ids: set[str], populations: set[str],
                    distributions: tuple = ()) -> EvidenceForest:
    """Rows of the evidence table for ``outcome`` (restricted to ``populations`` plus every row
    used), with 95% intervals: the reported CI when there is one, else MD +/- 1.96 SE."""
    t = load_evidence()
    t = t[t["outcome"] == outcome]
    t = t[t["population"].isin(populations) | t["id"].isin(used_ids)]
    rows = []
    for r in t.itertuples(index=False):
        has_ci = pd.notna(r.ci_low) and pd.notna(r.ci_high)
        lo = float(r.ci_low) if has_ci else float(r.md) - Z975 * float(r.se)
        hi = float(r.ci_high) if has_ci else float(r.md) + Z975 * float(r.se)
        tm = "pooled" if pd.isna(r.time_months) else f"{int(r.time_months)} mo"
        rows.append({"label": r.id, "time": tm, "population": r.population, "md": float(r.md),
                     "lo": lo, "hi": hi, "interval": "reported 95% CI" if has_ci
                     else "MD +/- 1.96 SE", "flag": r.flag, "used": r.id in used_ids})
    df = pd.DataFrame(rows, columns=["label", "time", "population", "md", "lo", "hi", "interval",
                                     "flag", "used"])
    od = OUTCOMES[outcome]
    return EvidenceForest(outcome, od.label, od.unit, df, tuple(distributions))



# ---------------------------------------------------------------------------------------------
# power curves, sampling distribution, trajectories (one path for every design)
# ---------------------------------------------------------------------------------------------

def _dense_ns(hi: int, extra=()) -> np.ndarray:
    return np.unique(np.r_[np.round(np.geomspace(3, max(hi, 4), 120)).astype(int),
                           np.asarray(list(extra), dtype=int)])


def curve_data(run: RunFolder, dm) -> tuple[PowerCurves, pd.DataFrame]:
    sc = dm.scenario
    res = run.results
    pc = res[res["table"] == "power_curve"].copy()
    pc["n"] = pd.to_numeric(pc["n_per_arm"], errors="coerce")
    pc = pc[pc["n"].notna()]
    pc["n"] = pc["n"].astype(int)
    dist = dm.models[0].distribution
    has_a = dist is not None and not dist.is_point
    one = len(dm.hypotheses) == 1
    curves = []
    for h in dm.hypotheses:
        for metric, kind in (("power", "power"), ("assurance", "assurance")):
            d = pc[(pc["hypothesis"].astype(str) == h.label) & (pc["metric"] == metric)]
            d = d.sort_values("n")
            if d.empty:
                continue
            e = h.endpoint
            if one:
                lab = ("simulated power" if kind == "power"
                       else f"simulated assurance ({dist.kind} effect)")
            else:
                lab = (hypothesis_short(dm, h)
                       + (" [true null]" if h.true_null else "")
                       + (" assurance" if kind == "assurance" else ""))
            curves.append(CurveSeries(lab, kind, d["n"].to_numpy(int),
                                      d["estimate"].to_numpy(float), d["mc_se"].to_numpy(float)))
    if not one:
        for metric, lab in (("conjunctive_power", "all false nulls rejected"),
                            ("disjunctive_power", "any false null rejected")):
            d = pc[(pc["hypothesis"].astype(str) == "family") & (pc["metric"] == metric)]
            if not d.empty:
                d = d.sort_values("n")
                curves.append(CurveSeries(lab, "family", d["n"].to_numpy(int),
                                          d["estimate"].to_numpy(float),
                                          d["mc_se"].to_numpy(float)))
    ss = res[res["table"] == "sample_size"]
    ns = pc["n"].to_numpy(int)
    top = int(ns.max()) if ns.size else sc.design.n_per_arm
    if not ss.empty:
        found = pd.to_numeric(ss["n_per_arm"], errors="coerce")
        if found.notna().any():
            top = max(top, int(found.max()))
    dn = [int(n) for n in _dense_ns(top, [sc.design.n_per_arm]) if valid_n(dm, int(n))]
    analytic = []
    for h in dm.hypotheses:
        vals = []
        for n in dn:
            g = group_sizes(dm, n).sum(axis=0)
            vals.append(closed_form_power(dm, h, int(g[0]), int(g[h.arm])))
        if dn and not all(math.isnan(v) for v in vals):
            ref = ("" if sc.dropout is None and dm.boundaries is None
                   and sc.multiplicity.method == "none" else
                   ": complete data, no multiplicity or interim looks (reference)")
            analytic.append((f"closed-form power{'' if one else ', ' + hypothesis_short(dm, h)}"
                             f"{ref}", "power",
                             np.array(dn), np.array(vals)))
        if has_a and h.index == 0:
            av = []
            for n in dn:
                g = group_sizes(dm, n).sum(axis=0)
                av.append(closed_form_assurance(dm, h, int(g[0]), int(g[h.arm])))
            if not all(math.isnan(v) for v in av):
                analytic.append(("closed-form assurance", "assurance", np.array(dn),
                                 np.array(av)))
    sizes, table = [], []
    h0 = dm.hypotheses[0]
    short0 = hypothesis_short(dm, h0)
    done = set()
    for dp, g in ss.groupby("design_point", sort=False):
        kind, tgt = str(dp).split("=")
        kind = kind.replace("target_", "")
        tgt = float(tgt)
        done.add((kind, tgt))
        n = g.loc[g["metric"] == "sample_size", "estimate"]
        n = None if n.empty or pd.isna(n.iloc[0]) else int(n.iloc[0])
        an = g.loc[g["metric"] == "analytic_sample_size", "estimate"]
        an = None if an.empty or pd.isna(an.iloc[0]) else int(an.iloc[0])
        mx = g.loc[g["metric"] == "searched_max", "estimate"]
        mx = sc.design.max_n_per_arm if mx.empty or pd.isna(mx.iloc[0]) else int(mx.iloc[0])
        at = g[g["metric"] == f"{kind}_at_sample_size"]
        pv = float(at["estimate"].iloc[0]) if not at.empty else math.nan
        pse_ = float(at["mc_se"].iloc[0]) if not at.empty else math.nan
        if n is not None:
            sizes.append((kind, tgt, n))
        table.append({"target": f"{tgt:.0%} {kind}" + ("" if one else f" ({short0})"),
                      "simulated N per arm (control)": "" if n is None else str(n),
                      f"simulated {kind} at N": sig_text(pv, pse_) if n is not None else
                      f"not reached by N = {mx}", "closed-form N": "" if an is None else str(an)})
    for tgt in (0.8, 0.9):
        if ("power", tgt) not in done:
            an = analytic_n(dm, tgt, "power")
            table.append({"target": f"{tgt:.0%} power" + ("" if one else f" ({short0})"),
                          "simulated N per arm (control)": "",
                          "simulated power at N": "not in design.target_power of this run",
                          "closed-form N": "" if an is None else str(int(an))})
    obj = PowerCurves(
        title=_curve_title(dm), ylabel=("power / assurance" if has_a else "power")
        + ("" if one and dm.boundaries is None else " (after multiplicity / interim looks)"),
        series=tuple(curves), analytic=tuple(analytic), targets=tuple(sc.design.target_power),
        sample_sizes=tuple(sizes), design_n=sc.design.n_per_arm, n_trials=run.n_trials)
    tdf = pd.DataFrame(table)
    tdf.attrs["caption"] = ("Sample size: the smallest control-arm size from which the simulated "
                            "power (assurance) of the primary hypothesis stays at or above the "
                            "target at every larger simulated size (common random numbers), "
                            "next to the closed form where one exists.")
    return obj, tdf


def _curve_title(dm) -> str:
    """The power figure's title in words (:func:`simtrial.oc.glance.design_title`)."""
    dist = dm.models[0].distribution
    return design_title(dm, "Power / assurance" if dist is not None and not dist.is_point
                        else "Power")


def sampling_data(run: RunFolder, dm) -> tuple[list[SamplingDistribution], Any]:
    sc = dm.scenario
    r = power(dm, sc.design.n_per_arm, n_trials=run.n_trials, seed=run.seed)
    tr = r.trials
    out = []
    for h, st in zip(dm.hypotheses, r.stats):
        for metric, again in (("power", st.reject / r.n_trials),
                              ("mean_estimate", st.mean_sd()[0])):
            stored, _ = design_value(run.results, metric, hypothesis=h.label)
            if math.isnan(stored) and not math.isnan(again):
                raise report_error(f"results.csv has no design row of {metric} for hypothesis "
                                   f"{h.label!r} (or its estimate is empty); the file was edited "
                                   "or written by another version; re-run `simtrial run`")
            if not close_enough(stored, again):
                what = f"design {metric}" + ("" if len(dm.hypotheses) == 1 else f" of {h.label}")
                raise mismatch_error(run, what, stored, again)
        e = h.endpoint
        if e.type == "responder":
            unit, what = "risk difference", "responder rate difference"
        elif e.scale == "log":
            unit, what = "log ratio", f"{OUTCOMES[e.outcome].label} log ratio"
        else:
            unit, what = OUTCOMES[e.outcome].unit, f"{OUTCOMES[e.outcome].label} MD"
        who = "" if len(dm.hypotheses) == 1 else hypothesis_short(dm, h) + ": "
        out.append(sampling_distribution(
            tr["point_est"][:, h.index], tr["point_success"][:, h.index].astype(bool),
            label=f"{who}{what} at {e.visit_months} months ({analysis_words(e.analysis)})",
            unit=unit,
            truth=h.truth, n_per_arm=sc.design.n_per_arm))
    return out, r


def trajectory_data(run: RunFolder, dm) -> list[Trajectories]:
    """Replicate trial 1 of the run at the design N (chunk 0, trial 0: the same streams)."""
    sc = dm.scenario
    n = sc.design.n_per_arm
    sizes = group_sizes(dm, n)
    names = ["control"] + [a.name for a in dm.arms]
    per_arm = one_trial(dm, run.seed, n)
    months = (0,) + tuple(dm.visits)
    out = []
    for o in dm.outcomes:
        od = OUTCOMES[o]
        arms = tuple(_arm_trajectory(names[a], per_arm[a][o]) for a in range(len(names)))
        drop = "; dropout: lines stop at the last observed visit" if sc.dropout else ""
        out.append(Trajectories(o, od.label, od.unit, months, arms,
                                f"{od.label}: replicate trial 1 of the run at the design size\n"
                                f"({', '.join(f'{nm} {int(k)}' for nm, k in zip(names, sizes.sum(axis=0)))}, "
                                f"seed {run.seed}){drop}"))
    return out
