"""`simtrial report`: one self-contained HTML report of a run folder.

The report reads what `simtrial run` wrote (``results.csv`` and ``manifest.json``) and
re-simulates only what those files do not hold, deterministically from the manifest's scenario
and seed with the same engine:

- the per-trial estimates at the design N (sampling distribution of the estimated effect): the
  design-point power / mean estimate recomputed from them must equal ``results.csv``, so a report
  can never silently describe a different simulation (other simtrial version, edited files);
- one trial's patients (trajectories at 0/3/6/12 months): for plain scenarios
  :func:`simtrial.trajectories.simulate_patients` with the scenario seed; for extended designs
  replicate trial 1 of the run itself (same streams as :mod:`simtrial.trial`), with its dropout;
- the closed-form power / assurance curve at every N (cheap formulas, :mod:`simtrial.analytic`).

Compute here, plot in :mod:`simtrial.plots`, lay out with :mod:`simtrial.html`. Each figure's
data is a small frozen dataclass (:class:`EvidenceForest`, :class:`PowerCurves`,
:class:`Trajectories`, :class:`SamplingDistribution`) that the plot functions draw as is.

Flags in the assumptions table: every number is ``reported`` (read from a paper), ``derived``
(computed from reported numbers; the route is given) or ``assumed`` (chosen by the preset or the
scenario author). A source text that mixes flags gets the weakest one it mentions
(assumed < derived < reported).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from . import plots
from ..errors import SimtrialError
from .html import Figure, Section, write_document
from ..model import evidence
from ..model.design import DesignModel, build_design, group_sizes
from ..model.evidence import load_evidence
from ..model.outcomes import OUTCOMES
from ..model.presets import (OUTCOME_RESIDUAL_CORRELATION_SOURCE, VISIT_CORRELATION_SOURCE,
                            get_preset)
from ..oc.results import closed_form_assurance, closed_form_power, curve_title
from ..oc.run import power
from ..oc.search import analytic_n
from ..scenario import load_scenario, parse_scenario
from ..sim.driver import valid_n
from ..sim.full import one_trial

__all__ = ["RunFolder", "load_run", "build_report", "write_report", "EvidenceForest",
           "CurveSeries", "PowerCurves", "ArmTrajectory", "Trajectories", "SamplingDistribution",
           "evidence_forest", "assumptions_table", "sampling_distribution", "REPORT_FILE"]

REPORT_FILE = "report.html"
from ..stats.mc import Z975  # noqa: E402
MAX_PATIENTS_SHOWN = 30
"""Individual trajectories drawn per arm (the arm means use every patient)."""


# ---------------------------------------------------------------------------------------------
# the run folder
# ---------------------------------------------------------------------------------------------

def _err(msg: str) -> SimtrialError:
    return SimtrialError(f"report error: {msg}")


def _from_json(obj: Any) -> Any:
    """Undo :func:`simtrial.outputs.to_jsonable` for infinities ("inf" -> inf)."""
    if isinstance(obj, dict):
        return {k: _from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    if obj == "inf":
        return math.inf
    if obj == "-inf":
        return -math.inf
    return obj


@dataclass(frozen=True)
class RunFolder:
    """A validated run folder.

    Attributes
    ----------
    path : Path
    manifest : dict
        ``manifest.json`` as written.
    results : pandas.DataFrame
        ``results.csv``.
    scenario : Scenario
        Rebuilt from the manifest; its hash equals ``manifest["scenario_hash"]``.
    """

    path: Path
    manifest: dict
    results: pd.DataFrame
    scenario: Any

    @property
    def seed(self) -> int:
        return int(self.manifest["seed"])

    @property
    def n_trials(self) -> int:
        return int(self.manifest["n_trials"])


_NEEDED = ("simtrial_version", "evidence_version", "scenario_hash", "scenario", "seed", "n_trials")


def load_run(output_dir: str | Path) -> RunFolder:
    """Read and check a folder written by ``simtrial run``.

    Raises
    ------
    SimtrialError
        One line naming the folder and what is wrong: not a folder, no or invalid
        ``manifest.json``, no or invalid ``results.csv``, a scenario that no longer validates,
        a scenario hash that does not match the scenario, or an evidence table version other
        than the installed one.
    """
    p = Path(output_dir)
    hint = "(give the folder `simtrial run` wrote, e.g. outputs/t1d_hba1c_12m)"
    if not p.is_dir():
        what = "does not exist" if not p.exists() else "is not a folder"
        raise _err(f"OUTPUT_DIR = {str(p)!r} {what} {hint}")
    mpath = p / "manifest.json"
    if not mpath.is_file():
        raise _err(f"OUTPUT_DIR = {str(p)!r} is not a run folder: manifest.json is missing {hint}")
    try:
        man = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _err(f"{str(mpath)!r} is not valid JSON ({str(exc).splitlines()[0]}); re-run "
                   "`simtrial run`") from None
    if not isinstance(man, dict):
        raise _err(f"{str(mpath)!r} must hold a JSON object, not {type(man).__name__}")
    missing = [k for k in _NEEDED if k not in man]
    if missing:
        raise _err(f"{str(mpath)!r} lacks {', '.join(missing)}; it was not written by "
                   "`simtrial run`")
    try:
        sc = parse_scenario(_from_json(man["scenario"]), origin=man.get("scenario_file"))
    except SimtrialError as exc:
        raise _err(f"manifest.json scenario no longer validates: {exc}") from None
    if sc.hash() != man["scenario_hash"]:
        raise _err(f"manifest.json scenario_hash = {str(man['scenario_hash'])[:12]!r}... does not "
                   f"match its scenario (hash {sc.hash()[:12]}...); the manifest was edited or "
                   "written by another version; re-run `simtrial run`")
    ev = evidence.evidence_version()
    if man["evidence_version"] != ev:
        raise _err(f"manifest.json evidence_version = {man['evidence_version']!r} differs from the "
                   f"installed evidence table {ev!r}; re-run `simtrial run` to report on it")
    rpath = p / "results.csv"
    if not rpath.is_file():
        raise _err(f"OUTPUT_DIR = {str(p)!r} is not a complete run folder: results.csv is missing")
    try:
        res = pd.read_csv(rpath)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise _err(f"{str(rpath)!r} cannot be read ({str(exc).splitlines()[0]})") from None
    need = {"table", "metric", "estimate", "mc_se", "design_point"}
    if not need <= set(res.columns) or res.empty:
        raise _err(f"{str(rpath)!r} lacks the columns {sorted(need - set(res.columns))} or rows; "
                   "it was not written by `simtrial run`")
    return RunFolder(p, man, res, sc)


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


def _dist_interval(dist) -> tuple[float, float] | None:
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
# assumptions
# ---------------------------------------------------------------------------------------------

_FLAG_WORDS = (("ASSUMED", "assumed"), ("DERIVED", "derived"), ("REPORTED", "reported"))


def _flag_of(text: str, default: str = "assumed") -> str:
    """Weakest flag a source text mentions (assumed < derived < reported)."""
    up = (text or "").upper()
    for word, flag in _FLAG_WORDS:
        if word in up:
            return flag
    return default


_FAMILY_PARAMS = {"normal": ("mean", "sd"), "lognormal": ("mean", "sd"),
                  "truncnorm": ("mean", "sd", "lower", "upper"), "bernoulli": ("p",)}


def _number_in(v: Any) -> Any:
    """The number a provenance entry states ("... = 0.1066", "ASSUMED 7 (...)", "row (0.25)")."""
    if not isinstance(v, str):
        return v
    for pat in (r"=\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*$", r"^(?:ASSUMED|DERIVED|REPORTED)\s+"
                r"(-?\d+(?:\.\d+)?)\b", r"\((-?\d+(?:\.\d+)?)\)\s*$", r"^(-?\d+(?:\.\d+)?)$"):
        m = re.search(pat, v.strip())
        if m:
            return float(m.group(1))
    return ""


_SE_ROUTE = {"ci": ("derived", "SE = (CI high - CI low) / 3.92 from the reported 95% CI"),
             "p": ("derived", "SE = |MD| / z(1 - P/2) from the reported exact P"),
             "bound": ("derived", "SE = |MD| / z(1 - x/2): the largest SE consistent with the "
                                  "reported P < x (conservative)"),
             "assumed": ("assumed", "")}


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return ""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(float(x)):
            return "" if math.isnan(float(x)) else ("inf" if x > 0 else "-inf")
        return f"{float(x):.{digits}g}"
    if isinstance(x, (list, tuple)):
        return ", ".join(_fmt(v, digits) for v in x)
    return str(x)


def _evidence_rows_used(models) -> dict[str, set[str]]:
    """Evidence row ids each outcome's MD comes from, over the stratum models."""
    ids = set(load_evidence()["id"])
    out: dict[str, set[str]] = {}
    for m in models:
        for o, srcs in m.md_source.items():
            for s in srcs:
                if s in ids:
                    out.setdefault(o, set()).add(s)
    return out


def assumptions_table(sc, models, outcomes: tuple[str, ...], dm=None) -> pd.DataFrame:
    """Every number the simulation rests on, with its value, flag and source.

    Columns: ``quantity, value, flag, source``. Covers the evidence rows behind the simulated
    outcomes (MD, SE and its route, I², k), the MD used at each visit, the effect distribution,
    the population (marginals, criteria, correlation), the natural history of each simulated
    outcome, and the scenario's own assumptions (dose scaling, dropout, heterogeneity).
    """
    ev = load_evidence().set_index("id")
    rows: list[dict[str, str]] = []
    scen = f"scenario {sc.source_path or sc.name}"

    def add(q, v, flag, src):
        rows.append({"quantity": q, "value": _fmt(v), "flag": flag, "source": src})

    used = _evidence_rows_used(models)
    for o in outcomes:
        for rid in sorted(used.get(o, ())):
            r = ev.loc[rid]
            where = f"{r['source']} ({r['source_detail']})"
            note = f"; note: {r['note']}" if isinstance(r["note"], str) and r["note"] else ""
            tm = "pooled" if pd.isna(r["time_months"]) else f"{int(r['time_months'])} mo"
            tag = f"{rid}: {o} {tm} {r['population']}"
            add(f"{tag}: MD ({r['unit']})", r["md"], str(r["md_status"]),
                where + (note if r["md_status"] != "reported" else ""))
            if pd.notna(r["ci_low"]):
                add(f"{tag}: 95% CI", [r["ci_low"], r["ci_high"]], "reported", where)
            if pd.notna(r["p_value"]):
                add(f"{tag}: P", f"{r['p_relation'] if r['p_relation'] != '=' else ''}"
                    f"{_fmt(r['p_value'])}", "reported", where)
            flag, route = _SE_ROUTE.get(str(r["se_method"]), ("assumed", ""))
            add(f"{tag}: SE", r["se"], flag, route or ("ASSUMED" + note))
            if pd.notna(r["i2"]):
                add(f"{tag}: I² (%)", r["i2"], "reported", where)
            if pd.notna(r["k"]):
                add(f"{tag}: k studies", int(r["k"]), "reported", where)
    for si, m in enumerate(models):
        pre = f"[{m.population.preset}] " if len(models) > 1 else ""
        for o in outcomes:
            for month, md, src in zip(m.visits, m.md[o], m.md_source[o]):
                if src in ev.index:
                    flag = str(ev.loc[src, "md_status"])
                elif src.startswith("interpolated"):
                    # interpolating evidence derives a number; interpolating an assumed one not
                    flag = "derived" if any(x in ev.index for x in m.md_source[o]) else "assumed"
                else:
                    flag = "assumed"
                add(f"{pre}MD used for {o} at {month} mo", md, flag, src)
        if si == 0 and m.distribution is not None and not m.distribution.is_point:
            d = m.distribution
            add(f"effect distribution ({d.kind}, {d.family})",
                f"mean {_fmt(d.expectation())}, SD {_fmt(d.sd())}", "derived"
                if d.kind in ("pooled", "predictive") else "assumed",
                "true effect of a future trial, for assurance")
            for k, v in (d.provenance or {}).items():
                if k == "row":      # the row itself is listed above
                    continue
                flag = "assumed" if k == "discount" else _flag_of(str(v), "derived")
                add(f"effect distribution: {k}", _number_in(v), flag, str(v))
        pop = m.population
        for var, mg in pop.marginals.items():
            keys = _FAMILY_PARAMS.get(mg.family, ("mean", "sd", "lower", "upper", "p"))
            params = ", ".join(f"{k} {_fmt(getattr(mg, k))}" for k in keys
                               if getattr(mg, k, None) is not None
                               and not (k in ("lower", "upper")
                                        and not math.isfinite(getattr(mg, k))))
            src = pop.sources.get(var, mg.source)
            flag = "assumed" if src.startswith("scenario override") else _flag_of(src)
            add(f"{pre}baseline {var} ({mg.family})", params, flag, src or "ASSUMED")
        preset = get_preset(pop.preset)
        for var, (lo, hi) in pop.criteria.items():
            over = var in sc.population.criteria
            add(f"{pre}inclusion criterion {var}", f"[{_fmt(lo)}, {_fmt(hi)}]", "assumed",
                scen if over else preset.get("criteria_source", "preset"))
        add(f"{pre}screen failure probability", m.screen_fail_prob, "derived",
            f"calibration sample of {m.calibration.get('screened', '')} candidates "
            f"(MC SE {_fmt(m.screen_fail_mc_se)}): follows from the marginals and criteria")
        add(f"{pre}baseline correlation (Gaussian copula)",
            f"{int((np.abs(np.triu(pop.correlation, 1)) > 0).sum())} non-zero pairs", "assumed",
            pop.sources.get("correlation", "preset"))
        for o in outcomes:
            vm = m.outcomes[o]
            src = preset["outcomes"].get(o, {}).get("source", "preset")
            if o in sc.outcome_model.per_outcome or any(
                    getattr(sc.outcome_model, k) is not None
                    for k in ("sd_change", "rho", "control_change")):
                src = f"{scen} overrides the preset ({src})"
            for key in ("control_change", "sd_change", "rho"):
                add(f"{pre}{o} natural history: {key} at {_fmt(list(vm.visits))} mo "
                    f"({vm.outcome.scale} scale)", list(getattr(vm, key)), _flag_of(src), src)
    add("residual correlation between visits", models[0].visit_corr[0, 1:].round(3).tolist(),
        "assumed", VISIT_CORRELATION_SOURCE if sc.outcome_model.visit_correlation is None
        else scen)
    if len(outcomes) > 1:
        add("residual correlation between outcomes", "preset matrix", "assumed",
            OUTCOME_RESIDUAL_CORRELATION_SOURCE)
    om = sc.outcome_model
    if om.heterogeneity != "none" or om.effect_cv:
        add("patient-level effect heterogeneity", f"{om.heterogeneity}, CV {_fmt(om.effect_cv)}"
            + (f", responders {_fmt(om.responder_fraction)}" if om.responder_fraction else ""),
            "assumed", scen)
    if dm is not None:
        for a in dm.arms:
            if a.effect_scale != 1.0:
                add(f"arm {a.name}: effect x MD", a.effect_scale, "assumed", scen)
        if sc.dropout is not None:
            d = sc.dropout
            add(f"dropout ({d.mechanism.upper()}, driven by {d.outcome or 'nothing'})",
                (f"cumulative {_fmt(d.rate)}" if d.rate is not None else
                 f"per visit {_fmt(list(d.per_visit or ()))}")
                + (f", strength {_fmt(d.strength)}" if d.mechanism != "mcar" else ""),
                "assumed", scen)
    df = pd.DataFrame(rows, columns=["quantity", "value", "flag", "source"])
    df.attrs["caption"] = ("Every number the simulation rests on. Flag: reported = read from a "
                           "paper; derived = computed from reported numbers (route in the "
                           "source); assumed = chosen by the preset or the scenario. A source "
                           "that mixes flags gets the weakest one.")
    return df


# ---------------------------------------------------------------------------------------------
# helpers on results.csv
# ---------------------------------------------------------------------------------------------

def _sig(x: float, se: float | None = None) -> str:
    s = _fmt(x)
    if se is not None and isinstance(se, float) and math.isfinite(se):
        s += f" (MC SE {_fmt(se, 2)})"
    return s


def _design_value(res: pd.DataFrame, metric: str, **where) -> tuple[float, float]:
    d = res[(res["table"] == "design") & (res["metric"] == metric)]
    for k, v in where.items():
        d = d[d[k].astype(str) == str(v)]
    if d.empty:
        return math.nan, math.nan
    r = d.iloc[0]
    return float(r["estimate"]), float(r["mc_se"]) if pd.notna(r["mc_se"]) else math.nan


def _close(a: float, b: float) -> bool:
    """Equal to the precision results.csv stores (10 significant digits)."""
    if math.isnan(a) and math.isnan(b):
        return True
    return abs(a - b) <= 1e-8 * max(1.0, abs(a), abs(b))


def _mismatch(run: RunFolder, what: str, stored: float, again: float) -> SimtrialError:
    made = run.manifest.get("simtrial_version")
    why = (f"the run was made with simtrial {made}, this is {__version__}" if made != __version__
           else "results.csv or manifest.json was changed after the run")
    return _err(f"results.csv {what} = {stored:.10g} but re-simulating the manifest's scenario "
                f"(seed {run.seed}, {run.n_trials} trials) gives {again:.10g}: {why}; re-run "
                "`simtrial run`")


def _known_tables() -> set[str]:
    return {"design", "power_curve", "sample_size"}


def _round_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = [float(f"{v:.4g}") if pd.notna(v) else v for v in out[c]]
    return out


# ---------------------------------------------------------------------------------------------
# the scenario in words
# ---------------------------------------------------------------------------------------------

def _header_comment(run: RunFolder) -> str:
    """The leading comment of the scenario file, if the file still holds this scenario."""
    f = run.manifest.get("scenario_file")
    if not f:
        return ""
    p = Path(f)
    if not p.is_file():
        return ""
    try:
        sc = load_scenario(p).replace(seed=run.scenario.seed, n_trials=run.scenario.n_trials)
        if sc.hash() != run.scenario.hash():
            return ""
        lines = []
        for line in p.read_text(encoding="utf-8").splitlines():
            s = line.strip()
            if not s.startswith("#"):
                break
            lines.append(s.lstrip("#").strip())
        return " ".join(x for x in lines if x)
    except (SimtrialError, OSError, UnicodeDecodeError):
        return ""


def _scenario_words(run: RunFolder, models, dm=None) -> list[str]:
    sc = run.scenario
    d = sc.design
    m0 = models[0]
    out = []
    if True:
        strata = ", ".join(f"{s.upper()} {f:.0%} ({m.screen_fail_prob:.1%} screen failures)"
                           for s, f, m in zip(dm.strata, dm.fractions, dm.models))
        pop = f"patients from {strata}" + (", randomisation stratified by diabetes type"
                                           if len(dm.strata) > 1 else "")
        sizes = group_sizes(dm, d.n_per_arm).sum(axis=0)
        arms = ("arms " + ", ".join(
            f"{nm} {int(k)}" + ("" if i == 0 else f" (effect x{a.effect_scale:g})")
            for i, (nm, k, a) in enumerate(zip(["control"] + [a.name for a in dm.arms], sizes,
                                               [None] + list(dm.arms))))
            + " patients at the design size")
    out.append(f"A randomised trial of MSC therapy in {pop}: {arms}.")
    eps = sc.all_endpoints
    for i, e in enumerate(eps):
        kind = "Primary" if i == 0 else "Secondary"
        if e.type == "responder":
            what = "responder (" + f" {'AND' if e.combine == 'all' else 'OR'} ".join(
                f"{o} {b.replace('_', ' ')} {_fmt(x)}" for o, b, x in e.responder) + ")"
        else:
            od = OUTCOMES[e.outcome]
            what = f"change in {od.label} ({od.unit}) from baseline"
        nm = getattr(e, "name", "") or ""
        out.append(f"{kind} endpoint{'' if nm in ('', 'primary') else ' ' + repr(nm)}: "
                   f"{what} at {e.visit_months} months, analysed by {e.analysis}.")
    out.append(f"Tests are {d.sides}-sided at alpha {d.alpha:g}; target power "
               + ", ".join(f"{t:.0%}" for t in d.target_power) + ".")
    od = m0.outcome_def
    src = m0.md_source[od.name][m0.k_end]
    eff = (f"True effect (MSC minus control) on {od.label} at {sc.endpoint.visit_months} months: "
           f"{m0.endpoint_md:+.4g} {od.unit} ({src}")
    if m0.evidence_row:
        eff += f"; {m0.evidence_row.get('source')}"
    eff += ")."
    if len(dm.models) > 1:
        eff = "True effects per stratum: " + "; ".join(
            f"{s.upper()} {m.endpoint_md:+.4g} {od.unit} ({m.md_source[od.name][m.k_end]})"
            for s, m in zip(dm.strata, dm.models)) + "."
    out.append(eff)
    dist = m0.distribution
    if dist is not None and not dist.is_point:
        out.append(f"For assurance the true effect of the future trial is drawn from the {dist.kind} "
                   f"distribution ({dist.family}, mean {dist.expectation():+.4g}, SD "
                   f"{dist.sd():.4g} {od.unit}).")
    if sc.dropout is not None:
        dr = sc.dropout
        out.append(f"Dropout: {dr.mechanism.upper()}"
                   + (f", {dr.rate:.0%} by the last visit" if dr.rate is not None else "")
                   + (f", driven by {dr.outcome}" if dr.mechanism != "mcar" else "") + ".")
    if sc.multiplicity.method != "none":
        out.append(f"Multiplicity: {sc.multiplicity.method}"
                   + (f" (within {sc.multiplicity.within})"
                      if sc.multiplicity.method == "hierarchical" else "") + ".")
    if dm.boundaries is not None:
        out.append(f"Interim analyses: {dm.boundaries.summary()}.")
    out.append(f"Monte Carlo: {run.n_trials:,} replicate trials per N, seed {run.seed} "
               f"(scenario hash {run.manifest['scenario_hash'][:12]}).")
    return out


# ---------------------------------------------------------------------------------------------
# power curves, sampling distribution, trajectories (one path for every design)
# ---------------------------------------------------------------------------------------------

def _dense_ns(hi: int, extra=()) -> np.ndarray:
    return np.unique(np.r_[np.round(np.geomspace(3, max(hi, 4), 120)).astype(int),
                           np.asarray(list(extra), dtype=int)])


def _curves(run: RunFolder, dm) -> tuple[PowerCurves, pd.DataFrame]:
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
                lab = (f"{h.label}: {e.outcome if e.type == 'continuous' else 'responder'} "
                       f"{e.visit_months} mo ({e.analysis})"
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
            analytic.append((f"closed-form power{'' if one else ' ' + h.label}{ref}", "power",
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
        table.append({"target": f"{tgt:.0%} {kind}" + ("" if one else f" ({h0.label})"),
                      "simulated N per arm (control)": n,
                      f"simulated {kind} at N": _sig(pv, pse_) if n is not None else
                      f"not reached by N = {mx}", "closed-form N": an})
    for tgt in (0.8, 0.9):
        if ("power", tgt) not in done:
            table.append({"target": f"{tgt:.0%} power" + ("" if one else f" ({h0.label})"),
                          "simulated N per arm (control)": None,
                          "simulated power at N": "not in design.target_power of this run",
                          "closed-form N": analytic_n(dm, tgt, "power")})
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
    sc = dm.scenario
    h0 = dm.hypotheses[0]
    if (len(dm.hypotheses) == 1 and h0.endpoint.type == "continuous" and sc.dropout is None
            and dm.boundaries is None):
        od = OUTCOMES[h0.endpoint.outcome]
        unit = "log ratio" if h0.endpoint.scale == "log" else od.unit
        return (f"{sc.name}: {od.label} at {h0.endpoint.visit_months} months, "
                f"{h0.endpoint.analysis}, true effect {h0.truth:+.3g} {unit}")
    return curve_title(dm)


def _sampling(run: RunFolder, dm) -> tuple[list[SamplingDistribution], Any]:
    sc = dm.scenario
    r = power(dm, sc.design.n_per_arm, n_trials=run.n_trials, seed=run.seed)
    tr = r.trials
    out = []
    for h, st in zip(dm.hypotheses, r.stats):
        for metric, again in (("power", st.reject / r.n_trials),
                              ("mean_estimate", st.mean_sd()[0])):
            stored, _ = _design_value(run.results, metric, hypothesis=h.label)
            if not _close(stored, again):
                what = f"design {metric}" + ("" if len(dm.hypotheses) == 1 else f" of {h.label}")
                raise _mismatch(run, what, stored, again)
        e = h.endpoint
        if e.type == "responder":
            unit, what = "risk difference", "responder rate difference"
        elif e.scale == "log":
            unit, what = "log ratio", f"{OUTCOMES[e.outcome].label} log ratio"
        else:
            unit, what = OUTCOMES[e.outcome].unit, f"{OUTCOMES[e.outcome].label} MD"
        out.append(sampling_distribution(
            tr["point_est"][:, h.index], tr["point_success"][:, h.index].astype(bool),
            label=f"{'' if len(dm.hypotheses) == 1 else h.label + ': '}{what} at "
                  f"{e.visit_months} months ({e.analysis})", unit=unit,
            truth=h.truth, n_per_arm=sc.design.n_per_arm))
    return out, r


def _trajectories(run: RunFolder, dm) -> list[Trajectories]:
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


# ---------------------------------------------------------------------------------------------
# conduct (optional: present when the run has conduct results)
# ---------------------------------------------------------------------------------------------

def _conduct_rows(res: pd.DataFrame) -> pd.Series:
    """Mask of the conduct rows of results.csv (hypothesis "conduct", or a conduct table)."""
    m = res["table"].astype(str).str.contains("conduct", case=False)
    if "hypothesis" in res.columns:
        m |= res["hypothesis"].astype(str) == "conduct"
    return m


def _conduct_section(run: RunFolder, design_result, plots) -> Section | None:
    """Conduct metrics from results.csv and the enrolment timeline of the design-N conduct
    replicates (re-simulated with the design, :func:`simtrial.plots.plot_conduct`)."""
    res = run.results
    rows = res[_conduct_rows(res)]
    conduct = getattr(design_result, "conduct", None)
    if rows.empty and conduct is None:
        return None
    sec = Section("Trial conduct", paragraphs=[
        "Calendar of the trial from the discrete-event conduct model (sites, recruitment, "
        "screening, cell manufacturing, infusions, visits, withdrawal). Days from the first "
        "site's earliest opening; medians over the conduct replicates with 10-90% ranges, and "
        "the Monte Carlo SE of each median."])
    plot = getattr(plots, "plot_conduct", None)
    if conduct is not None and plot is not None:
        ax = plot(design_result)
        sec.figures.append(_fig("conduct_timeline", ax,
                                f"Enrolment and endpoint data against calendar time at the design "
                                f"size ({conduct.replicates} conduct replicates, seed {run.seed})."))
    if not rows.empty:
        cols = [c for c in ("visit", "metric", "estimate", "mc_se", "q10", "q90")
                if c in rows.columns]
        t = _round_frame(rows[cols].rename(columns={"mc_se": "MC SE", "q10": "10%",
                                                    "q90": "90%"}))
        t.attrs["caption"] = "Conduct metrics at the design size (results.csv)."
        sec.tables.append(t)
    return sec


# ---------------------------------------------------------------------------------------------
# assembling the report
# ---------------------------------------------------------------------------------------------

def _fig(name: str, ax, caption: str) -> Figure:
    fig = ax.figure
    fig.tight_layout()
    return Figure(name, fig, caption)


def _manifest_section(run: RunFolder) -> Section:
    import html as _h
    man = run.manifest
    plat = man.get("platform", {}) or {}
    tim = man.get("timings_s", {}) or {}
    rows = [("scenario", man.get("scenario_name")), ("scenario file", man.get("scenario_file")),
            ("scenario hash", man.get("scenario_hash")), ("seed", man.get("seed")),
            ("replicate trials per N", man.get("n_trials")),
            ("simtrial version (run)", man.get("simtrial_version")),
            ("simtrial version (report)", __version__),
            ("evidence version", man.get("evidence_version")),
            ("random streams", man.get("rng")), ("created (UTC)", man.get("created_utc")),
            ("command", " ".join(map(str, man.get("command") or []))),
            ("platform", ", ".join(f"{k} {v}" for k, v in plat.items())),
            ("run time (s)", _fmt(tim.get("total"))), ("files", ", ".join(man.get("files") or []))]
    t = pd.DataFrame([{"field": k, "value": "" if v is None else str(v)} for k, v in rows])
    t.attrs["caption"] = "Provenance of the run (manifest.json)."
    text = json.dumps(man, indent=2)
    return Section("Manifest", tables=[t], html=(
        "<details><summary>Full manifest.json</summary><pre>" + _h.escape(text)
        + "</pre></details>"))


_KEY_LABELS = {"power": "power", "analytic_power": "closed-form power",
               "assurance": "assurance", "analytic_assurance": "closed-form assurance",
               "success": "success (significant in the direction of benefit)",
               "mean_estimate": "mean estimated effect", "sd_estimate": "SD of estimated effect",
               "true_effect": "true effect", "bias": "bias of the estimate",
               "screen_fail": "screen-failure probability (simulated)",
               "insulin_independence": "insulin-free at the endpoint",
               "responder_fraction": "MSC responders", "responder_rate": "responder rate",
               "trial_effect_mean": "mean trial effect drawn",
               "trial_effect_sd": "SD of trial effects drawn", "fwer": "family-wise error rate",
               "disjunctive_power": "any false null rejected",
               "conjunctive_power": "all false nulls rejected",
               "expected_patients": "expected patients (interim looks)",
               "stop_efficacy": "stop for efficacy", "stop_futility": "stop for futility",
               "not_fitted": "fits that failed (count)"}


def _key_results(run: RunFolder, dm) -> pd.DataFrame:
    """Labelled key numbers at the design size: every simulated probability with its MC SE
    and 95% MC interval, closed forms beside them."""
    res = run.results
    d = res[(res["table"] == "design") & ~_conduct_rows(res)]
    one = len(dm.hypotheses) == 1
    rows = []
    for r in d.itertuples(index=False):
        metric = str(r.metric)
        base = metric if metric in _KEY_LABELS else metric.split("_")[0]
        if metric not in _KEY_LABELS or (metric == "not_fitted" and not r.estimate):
            continue
        q = _KEY_LABELS[base if base in _KEY_LABELS else metric]
        hyp = str(r.hypothesis) if pd.notna(r.hypothesis) else ""
        arm = str(r.arm) if pd.notna(r.arm) else ""
        visit = str(r.visit) if pd.notna(r.visit) else ""
        if hyp not in ("", "family") and not one:
            q = f"{hyp}: {q}"
        if metric in ("insulin_independence", "responder_rate") or (
                metric in ("stop_efficacy", "stop_futility")):
            q += f" ({arm if metric != 'stop_efficacy' and metric != 'stop_futility' else visit})"
        se = float(r.mc_se) if pd.notna(r.mc_se) else math.nan
        lo = hi = math.nan
        if math.isfinite(se) and se > 0:
            lo, hi = r.estimate - Z975 * se, r.estimate + Z975 * se
        rows.append({"quantity": q, "estimate": r.estimate, "MC SE": se if math.isfinite(se)
                     else None, "95% MC interval": "" if math.isnan(lo) else
                     f"{lo:.4g} to {hi:.4g}"})
    t = _round_frame(pd.DataFrame(rows))
    t.attrs["caption"] = (f"At the design size N = {dm.scenario.design.n_per_arm} per arm "
                          f"({run.n_trials:,} trials); simulated numbers carry their Monte Carlo "
                          "SE, closed-form numbers have none. Every row is in results.csv "
                          "(table 'design').")
    return t


def build_report(output_dir: str | Path, *, prebuilt=None) -> list[Section]:
    """Sections of the report of a run folder (figures open until written or closed).

    Parameters
    ----------
    output_dir : str or path-like
        A folder written by ``simtrial run`` (``manifest.json`` + ``results.csv``).
    prebuilt : DesignModel, optional
        The model the run used (``simtrial run --report`` passes it), to skip rebuilding it;
        ignored unless its scenario hash equals the manifest's.

    Returns
    -------
    list of Section
        Question and scenario; key results; assumptions; evidence; power and sample size;
        trajectories; sampling distribution; conduct (when present); other results; manifest.

    Raises
    ------
    SimtrialError
        See :func:`load_run`; also when a re-simulation does not reproduce ``results.csv``.
    """
    import matplotlib.pyplot as plt
    run = load_run(output_dir)
    sc = run.scenario
    figs_made: list = []
    try:
        if prebuilt is not None and prebuilt.scenario.hash() != sc.hash():
            prebuilt = None
        return _build(run, sc, figs_made, plots, prebuilt)
    except BaseException:
        for f in figs_made:
            plt.close(f)
        raise


def _build(run, sc, figs_made, plots, prebuilt) -> list[Section]:
    dm = prebuilt if isinstance(prebuilt, DesignModel) else build_design(sc)
    models = list(dm.models)
    outcomes = tuple(dm.outcomes)
    model = models[0]

    def fig(name, ax, caption):
        figs_made.append(ax.figure)
        return _fig(name, ax, caption)

    sections: list[Section] = []
    q = _header_comment(run)
    paras = []
    if q:
        paras.append(q if q.lower().startswith("question") else f"Question: {q}")
    if sc.description:
        paras.append(f"In short: {sc.description}.")
    paras += _scenario_words(run, models, dm)
    sections.append(Section("Question and scenario", paragraphs=paras))

    # key numbers, assumptions, evidence
    curves, ss_table = _curves(run, dm)
    samp, design_result = _sampling(run, dm)
    trajs = _trajectories(run, dm)
    key = _key_results(run, dm)
    sections.append(Section("Key results", tables=[key, ss_table]))
    sections.append(Section("Assumptions", paragraphs=[
        "Where each number of the model comes from. Change any of them in the scenario file "
        "and re-run to see how much the answer depends on it."],
        tables=[assumptions_table(sc, models, outcomes, dm)]))

    used = _evidence_rows_used(models)
    pops = {m.scenario.effect.population for m in models} | {"all"}
    ev_figs = []
    for o in outcomes:
        if not used.get(o) and o != sc.endpoint.outcome:
            continue
        extra = []
        if o == sc.endpoint.outcome:
            src = model.md_source[o][model.k_end]
            if not used.get(o):     # the scenario fixes the effect: show it against the evidence
                extra.append((f"effect assumed by the scenario ({src})", model.endpoint_md,
                              model.endpoint_md, model.endpoint_md))
            d = model.distribution
            iv = _dist_interval(d)
            if iv is not None:
                extra.append((f"{d.kind} distribution of the true effect (95%)",
                              d.expectation(), iv[0], iv[1]))
        forest = evidence_forest(o, used.get(o, set()), pops, tuple(extra))
        ax = plots.plot_evidence_forest(forest)
        ev_figs.append(fig(f"evidence_{o}", ax,
                           f"Evidence rows for {forest.label} ({forest.unit}), MSC minus control, "
                           "with 95% intervals; filled = used by this simulation, open = other "
                           "rows of the table for context. Interval: reported CI where given, "
                           "else MD +/- 1.96 SE (SE route in the assumptions table)."))
    if ev_figs:
        sections.append(Section("Evidence used", figures=ev_figs))

    ax = plots.plot_power_assurance(curves)
    cap = ("Power against the control-arm size: points = simulated "
           f"({run.n_trials:,} trials each) with 95% Monte Carlo intervals and band; dashed = "
           "closed form; dotted lines = targets and the simulated sample sizes.")
    if not curves.analytic:
        cap += " No closed form exists for this design (strata, responders or multiplicity)."
    sections.append(Section("Power, assurance and sample size",
                            paragraphs=["The sample sizes are in the second table of Key results."],
                            figures=[fig("power_assurance", ax, cap)]))

    tfigs = []
    for tj in trajs:
        ax = plots.plot_trajectories(tj)
        tfigs.append(fig(f"trajectories_{tj.outcome}", ax,
                         tj.title + ". Thin lines: individual patients (at most "
                         f"{MAX_PATIENTS_SHOWN} per arm drawn); thick: arm means with 95% CIs "
                         "over the observed patients at months 0 (baseline), 3, 6 and 12."))
    sections.append(Section("Patient trajectories", figures=tfigs))

    sfigs = []
    for i, s in enumerate(samp):
        ax = plots.plot_sampling_distribution(s)
        truth = ("" if math.isnan(s.truth) else f"; truth {s.truth:+.4g}")
        sfigs.append(fig(f"sampling_distribution_{i + 1}", ax,
                         f"Sampling distribution of the estimated effect, {s.label}, over "
                         f"{s.n_trials:,} trials at N = {s.n_per_arm}: mean "
                         f"{s.mean:+.4g} (MC SE {s.mean_mc_se:.2g}), SD {s.sd:.4g}{truth}. "
                         f"Trials reaching significance ({s.share_sig:.1%}, MC SE "
                         f"{s.share_sig_mc_se:.2g}) have mean estimate {s.mean_sig:+.4g} (MC SE "
                         f"{s.mean_sig_mc_se:.2g}): the winner's curse."))
    sections.append(Section("Sampling distribution of the estimated effect", figures=sfigs))

    cs = _conduct_section(run, design_result, plots)
    if cs is not None:
        for f in cs.figures:
            figs_made.append(f.fig)
        sections.append(cs)

    other = run.results[~run.results["table"].astype(str).isin(_known_tables())]
    other = other[~_conduct_rows(other)]
    if not other.empty:
        t = _round_frame(other.dropna(axis=1, how="all"))
        t.attrs["caption"] = "Other tables in results.csv."
        sections.append(Section("Other results", tables=[t]))
    sections.append(_manifest_section(run))
    return sections


def write_report(output_dir: str | Path, *, filename: str = REPORT_FILE, prebuilt=None) -> Path:
    """Build the report of a run folder and write ``<output_dir>/report.html`` (atomic) plus
    ``figures/*.png`` and ``figures/*.svg``. ``prebuilt`` as in :func:`build_report`.

    Returns
    -------
    pathlib.Path
        The HTML file.
    """
    sections = build_report(output_dir, prebuilt=prebuilt)
    man = json.loads((Path(output_dir) / "manifest.json").read_text(encoding="utf-8"))
    # no clock time or absolute path: the same run folder gives the same document
    paths = write_document(output_dir, f"simtrial report: {man['scenario_name']}", sections,
                           filename=filename,
                           subtitle=f"{man['n_trials']:,} replicate trials per N, seed "
                                    f"{man['seed']}, scenario hash {man['scenario_hash'][:12]}; "
                                    f"run with simtrial {man['simtrial_version']}, report by "
                                    f"simtrial {__version__}")
    return paths[filename]
