"""Lessons: short, deterministic teaching demonstrations built on the real engine.

Each lesson is a *compute* function (``seed, n_trials -> frozen result``) that builds scenarios in
code, validates them with :func:`~simtrial.scenario.parse_scenario` and runs the same engines as
``simtrial run`` (:mod:`simtrial.engine`, :mod:`simtrial.power`, :mod:`simtrial.trial`); a
*sections* function that writes plain paragraphs from the computed numbers (every simulated
number with its Monte Carlo SE; evidence numbers name their source) and draws the figures with
:mod:`simtrial.plots`; and an entry in :data:`LESSONS`. :func:`run_lesson` writes the lesson as a
report (:func:`simtrial.html.write_document`) plus ``lesson.json``, the numbers behind every
figure and sentence.

=================== ===========================================================================
name                what it shows
=================== ===========================================================================
winners-curse       among small trials that reach significance the estimate is inflated
fading-effects      3-month stimulated C-peptide / HOMA-IR gains gone by 12 months
assurance-vs-power  80% power at the pooled estimate is less than 80% probability of success
t1d-vs-t2d          12-month HbA1c needs far more patients in T2D; insulin dose needs few
heterogeneity       what I^2 = 93% for fasting C-peptide means for a new trial
=================== ===========================================================================

Same seed, same numbers: every engine call takes the lesson's seed (chunked random streams, see
:mod:`simtrial.engine`), and the closed forms are deterministic quadratures.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import stats

from .. import __version__
from ..errors import SimtrialError
from ..io.outputs import atomic_write_text, to_jsonable
from ..model import evidence as ev
from ..model.design import build_design
from ..model.outcomes import OUTCOMES
from ..model.stratum import build_model
from ..oc.build import points
from ..oc.closed_form import analytic_assurance
from ..oc.run import grid_search, power
from ..oc.search import crossing, sample_size_of, smallest_valid_n
from ..scenario import parse_scenario, Scenario
from ..sim.driver import simulate_prefix as simulate, Simulated
from ..stats.closed_form import power_ancova, smallest_n
from ..stats.mc import mean_se, wilson, Z975
from .html import Figure, Section, write_document
from . import plots

__all__ = ["LESSONS", "LESSON_SEED", "Lesson", "LessonRun", "get_lesson", "compute_lesson",
           "run_lesson", "significant_mean", "winners_curse", "fading_effects",
           "assurance_vs_power", "t1d_vs_t2d", "heterogeneity", "WinnersCurseResult",
           "FadingResult", "FadeOutcome", "AssuranceResult", "T1DvsT2DResult",
           "SampleSizeDesign", "HeterogeneityResult", "HetVariant"]

LESSON_SEED = 20261122
"""Default seed of every lesson (the shipped scenarios' seed)."""
MIN_TRIALS = 200
"""Fewest replicate trials a lesson accepts (conditional means need a few dozen successes)."""


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------

def _scenario(name: str, preset: str, outcome: str, visit: int, effect: dict, *, seed: int,
              n_trials: int, n_per_arm: int = 20, max_n: int = 3000,
              endpoints: list[dict] | None = None, description: str = "") -> Scenario:
    """A validated two-arm scenario (ANCOVA, alpha 0.05 two-sided)."""
    data: dict[str, Any] = {
        "name": name, "description": description, "seed": seed, "n_trials": n_trials,
        "population": {"preset": preset},
        "endpoint": {"outcome": outcome, "visit_months": visit, "analysis": "ancova"},
        "effect": dict(effect), "design": {"n_per_arm": n_per_arm, "max_n_per_arm": max_n}}
    if endpoints:
        data["endpoints"] = endpoints
    return parse_scenario(data)


_MODELS: dict[tuple[str, str], Any] = {}


def _cached(kind: str, sc: Scenario, build: Callable[[Scenario], Any]):
    """``build(sc)`` (a TrialModel or DesignModel), cached on the scenario without its seed and
    n_trials. A model does not depend on them (its calibration sample has a fixed seed), and
    every engine call in this module passes ``seed`` and ``n_trials`` explicitly, so a cached
    model built under another seed gives the same numbers; re-running a lesson, or the same
    lesson with another seed, then skips the costly calibration."""
    d = sc.to_dict()
    d.pop("seed")
    d.pop("n_trials")
    key = (kind, json.dumps(d, sort_keys=True, default=str))
    if key not in _MODELS:
        if len(_MODELS) >= 64:
            _MODELS.clear()
        _MODELS[key] = build(sc)
    return _MODELS[key]


def _model(sc: Scenario):
    return _cached("model", sc, build_model)


def _design(sc: Scenario):
    return _cached("design", sc, build_design)


def _rates(k, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Proportions k / n and their binomial Monte Carlo SEs."""
    p = np.asarray(k, dtype=float) / n
    return p, np.sqrt(p * (1.0 - p) / n)


def _rate(k: float, n: int) -> tuple[float, float]:
    p = float(k) / n if n else math.nan
    return p, (math.sqrt(p * (1.0 - p) / n) if n else math.nan)


def _mean(x: np.ndarray) -> tuple[float, float]:
    """Mean and its Monte Carlo SE (SD / sqrt(n)); nan for fewer than 2 values."""
    x = np.asarray(x, dtype=float)
    if x.size < 2:
        return (float(x.mean()) if x.size else math.nan), math.nan
    return mean_se(x)


def _crossing(power_by_n: np.ndarray, ns: np.ndarray, target: float) -> int | None:
    """Smallest n from which power stays >= target over the rest of the grid ``ns``
    (:func:`simtrial.oc.search.crossing`)."""
    return crossing(dict(zip((int(n) for n in ns), (float(p) for p in power_by_n))), target,
                    int(ns[0]))[0]


def _read(model, out, target: float, seed: int, hi: int, kind: str = "power"):
    """The engine's SampleSize read off a dense prefix-kernel grid ``out`` (SimOutput)."""
    dm = _design(model.scenario)
    sim = Simulated("prefix", tuple(int(n) for n in out.n0), out.n_trials, seed, out.elapsed_s,
                    prefix=out)
    return sample_size_of(dm, points(dm, sim), target, kind, hi, smallest_valid_n(dm))


def _search(model, target: float, n_trials: int, seed: int, kind: str = "power"):
    """(SampleSize, dense-grid SimOutput, largest N simulated) of the engine's search."""
    sim, sizes = grid_search(_design(model.scenario), [target], (kind,), n_trials=n_trials,
                             seed=seed)
    return sizes[0], sim.prefix, max(sim.ns)


def _n_range(k: np.ndarray, n_trials: int, ns: np.ndarray, target: float
             ) -> tuple[int | None, int | None]:
    """Range of N consistent with Monte Carlo error: the crossings of the upper and of the lower
    95% Wilson bounds of the simulated power curve (see :func:`simtrial.oc.search.crossing`)."""
    lo = np.array([wilson(int(x), n_trials)[0] for x in k])
    hi = np.array([wilson(int(x), n_trials)[1] for x in k])
    return _crossing(hi, ns, target), _crossing(lo, ns, target)


def _row(outcome: str, month: int, population: str, row_id: str | None = None) -> dict:
    """An evidence row as plain data."""
    return ev.select_row(outcome, month, population, row_id).to_dict()


def _cite(row: dict) -> str:
    """Short provenance of an evidence row: source, flag, id."""
    return f"{row['source']}, {row['flag']}, row {row['id']}"


def _pm(x: float, se: float, digits: int = 3, unit: str = "", sign: bool = False) -> str:
    """``x unit (MC SE se)``."""
    return f"{x:{'+' if sign else ''}.{digits}f}{_u(unit)} (MC SE {se:.{digits}f})"


def _u(unit: str) -> str:
    """A unit as written after a number: ``%`` directly, others after a space."""
    return "" if not unit else (unit if unit == "%" else f" {unit}")


def _range(r: tuple[int | None, int | None]) -> str:
    """A Monte Carlo range of N, open-ended when a bound is not reached on the grid."""
    lo, hi = r
    if hi is not None:
        return f"{lo}-{hi}"
    return f"{lo} or more" if lo is not None else "beyond the grid"


def _p_text(row: dict) -> str:
    p, rel = row.get("p_value"), row.get("p_relation")
    if p is None or rel is None:
        return "not significant" if rel == "ns" else ("significant" if rel == "sig" else "")
    return f"P {'=' if rel == '=' else '<'} {p:g}"


def _check_args(seed: int, n_trials: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SimtrialError(f"lesson error: seed = {seed!r} must be an integer >= 0 "
                            "(e.g. seed = 1)")
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) \
            or not MIN_TRIALS <= n_trials <= 1_000_000:
        raise SimtrialError(f"lesson error: n_trials = {n_trials!r} must be an integer in "
                            f"[{MIN_TRIALS}, 1000000] (e.g. n_trials = 10000)")


def _json(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    return to_jsonable(obj)


class _Result:
    """Mixin: ``to_dict()`` gives the JSON-ready numbers behind the figures and the text."""

    def to_dict(self) -> dict[str, Any]:
        return _json(self)


# ---------------------------------------------------------------------------------------------
# closed form: the mean estimate among significant trials
# ---------------------------------------------------------------------------------------------

def significant_mean(theta: float, sigma: float, n0: int, n1: int, alpha: float = 0.05,
                     sides: int = 2, better: str = "lower", analysis: str = "ancova",
                     nodes: tuple[int, int] = (400, 4000)) -> tuple[float, float]:
    """Probability of a significant result in the direction of benefit, and the mean estimate
    among such trials, for a normal outcome analysed by ANCOVA or a t-test on change.

    Parameters
    ----------
    theta : float
        True MD (MSC - control), natural units.
    sigma : float
        Residual SD (ANCOVA: ``sd_change sqrt(1 - rho^2)`` on the natural scale; t-test: SD of
        change).
    n0, n1 : int
        Arm sizes.
    alpha, sides, better
        The test: success is ``t < -c`` (``better = "lower"``) or ``t > c`` with
        ``c = t_{df}^{-1}(1 - alpha / sides)``.
    analysis : {"ancova", "ttest_change"}
    nodes : (int, int)
        Midpoint-rule nodes on the quantile scale for the covariate-imbalance factor and for the
        residual chi-square.

    Returns
    -------
    (float, float)
        ``P(success)`` and ``E[estimate | success]``, natural units.

    Notes
    -----
    Given the baselines, the estimate is ``N(theta, sigma^2 v)`` and the residual variance is
    ``sigma^2 W / df`` with ``W ~ chi^2_df`` independent of it, so with ``u = theta' / (sigma
    sqrt v)`` (``theta'`` the effect signed so that benefit is positive) and
    ``b = c sqrt(W / df) - u``::

        P(success | v)          = E_W[1 - Phi(b)]
        E[est' 1{success} | v]  = sigma sqrt(v) E_W[u (1 - Phi(b)) + phi(b)]

    For the t-test ``v = 1/n0 + 1/n1`` and ``df = n0 + n1 - 2``. For ANCOVA ``df = n0 + n1 - 3``
    and ``v = (1/n0 + 1/n1)(1 + Q)`` with ``Q = (xbar1 - xbar0)^2 / ((1/n0 + 1/n1) Sxx)`` the
    chance baseline imbalance (``Sxx`` the within-arm sum of squares), distributed as
    ``F_{1, N-2} / (N - 2)`` for normal baselines, averaged over ``Q`` as well.
    Conditioning on the *estimated* SE matters in small trials: a known-SE truncated normal
    overstates the inflation if its cut-off uses the t quantile and understates it with 1.96
    (at 10 patients per arm, -0.72% true, residual SD 0.79%: -1.043 and -1.007 against -1.015).
    Reference for the phenomenon: Ioannidis JPA, Why most discovered true
    associations are inflated, Epidemiology 2008;19:640-8; Gelman A, Carlin J, Beyond power
    calculations: Type S and Type M errors, Perspect Psychol Sci 2014;9:641-51.
    """
    n = n0 + n1
    inv = 1.0 / n0 + 1.0 / n1
    if analysis == "ttest_change":
        df = n - 2
        q = np.zeros(1)
    else:
        df = n - 3
        uq = (np.arange(nodes[0]) + 0.5) / nodes[0]
        q = stats.f.ppf(uq, 1, n - 2) / (n - 2)
    c = float(stats.t.isf(alpha / sides, df))
    uw = (np.arange(nodes[1]) + 0.5) / nodes[1]
    w = stats.chi2.ppf(uw, df)
    sv = sigma * np.sqrt(inv * (1.0 + q))[:, None]          # (Q, 1)
    th = -theta if better == "lower" else theta
    u = th / sv
    b = c * np.sqrt(w / df)[None, :] - u                    # (Q, W)
    tail = stats.norm.sf(b)
    p = float(tail.mean())
    m1 = float((sv * (u * tail + stats.norm.pdf(b))).mean())
    mean = m1 / p
    return p, (-mean if better == "lower" else mean)


# ---------------------------------------------------------------------------------------------
# 1. the winner's curse
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WinnersCurseResult(_Result):
    """Small trials at a fixed true effect, conditioned on a significant, favourable result.

    Arrays are over ``ns`` (control-arm sizes, MSC arm equal). ``power`` is the probability of a
    result significant in the direction of benefit (two-sided test; closed form
    ``analytic_power`` = one-sided power at alpha / 2). ``mean_significant`` is the mean
    estimate among trials significant in the direction of benefit (MC SE = conditional SD /
    sqrt(number of such trials)); ``closed_*`` come from :func:`significant_mean`;
    ``exaggeration = mean_significant / truth`` (Gelman & Carlin's type M error);
    ``overestimate_share`` is the share of significant trials whose estimate is further from 0
    than the truth; ``wrong_sign`` the share of all trials significant in the harmful direction
    (type S). ``hist_*`` are the histogram of all estimates and of the significant ones at
    ``small_n`` (fixed edges, outliers in the end bins).
    """

    seed: int
    n_trials: int
    scenario: str
    preset: str
    outcome: str
    unit: str
    visit_months: int
    alpha: float
    sides: int
    truth: float
    row: dict
    subgroup_row: dict
    sigma_resid: float
    small_n: int
    ns: np.ndarray
    power: np.ndarray
    power_mc_se: np.ndarray
    analytic_power: np.ndarray
    n_significant: np.ndarray
    mean_significant: np.ndarray
    mean_significant_mc_se: np.ndarray
    closed_success: np.ndarray
    closed_mean_significant: np.ndarray
    mean_all: np.ndarray
    mean_all_mc_se: np.ndarray
    exaggeration: np.ndarray
    exaggeration_mc_se: np.ndarray
    overestimate_share: np.ndarray
    overestimate_share_mc_se: np.ndarray
    wrong_sign: np.ndarray
    wrong_sign_mc_se: np.ndarray
    hist_edges: np.ndarray
    hist_all: np.ndarray
    hist_significant: np.ndarray

    @property
    def i_small(self) -> int:
        return int(np.flatnonzero(self.ns == self.small_n)[0])

    @property
    def inflation(self) -> float:
        """How far the mean significant estimate at ``small_n`` lies beyond the truth, away from
        0 (natural units; positive = inflated): ``(mean_significant - truth) * sign(truth)``."""
        return float((self.mean_significant[self.i_small] - self.truth) * np.sign(self.truth))

    @property
    def inflation_mc_se(self) -> float:
        return float(self.mean_significant_mc_se[self.i_small])

    def headline(self) -> list[str]:
        i = self.i_small
        return [
            f"true MD {self.truth:+.2f}{_u(self.unit)}; {self.small_n} patients per arm: power "
            f"{_pm(self.power[i], self.power_mc_se[i])}",
            "mean estimate among significant trials "
            f"{_pm(self.mean_significant[i], self.mean_significant_mc_se[i], 3, self.unit, True)}"
            f" (closed form {self.closed_mean_significant[i]:+.3f})",
            f"inflation {_pm(self.inflation, self.inflation_mc_se, 3, self.unit)}; "
            f"exaggeration ratio {_pm(self.exaggeration[i], self.exaggeration_mc_se[i])}",
        ]


def winners_curse(seed: int = LESSON_SEED, n_trials: int = 20_000, *, small_n: int = 10,
                  ns: tuple[int, ...] = (5, 8, 10, 15, 20, 30, 50, 80)) -> WinnersCurseResult:
    """Compute the winner's-curse lesson.

    Scenario: T1D population preset, HbA1c change at 12 months, ANCOVA, true MD = the pooled
    12-month HbA1c MD of Kashbour 2025 (abstract, all diabetes). For each arm size in ``ns`` the
    engine simulates ``n_trials`` trials (:func:`simtrial.power` with per-trial arrays).

    Returns
    -------
    WinnersCurseResult
    """
    _check_args(seed, n_trials)
    ns_arr = np.array(sorted(set(int(n) for n in ns) | {int(small_n)}))
    sc = _scenario("lesson_winners_curse", "t1d", "hba1c", 12,
                   {"source": "evidence", "population": "all"}, seed=seed, n_trials=n_trials,
                   n_per_arm=int(small_n),
                   description="winner's curse: small T1D HbA1c trials at the pooled effect")
    model = _model(sc)
    truth = model.endpoint_md
    sigma = model.analytic["sd_resid_ancova"]
    better = model.outcome_def.better
    cols: dict[str, list] = {k: [] for k in (
        "power", "power_mc_se", "analytic_power", "n_significant", "mean_significant",
        "mean_significant_mc_se", "closed_success", "closed_mean_significant", "mean_all",
        "mean_all_mc_se", "exaggeration", "exaggeration_mc_se", "overestimate_share",
        "overestimate_share_mc_se", "wrong_sign", "wrong_sign_mc_se")}
    hist = None
    for n in ns_arr:
        r = power(_design(sc), int(n), n_trials=n_trials, seed=seed)
        est = r.trials["point_est"][:, 0]
        rej = r.trials["point_reject"][:, 0].astype(bool)
        succ = r.trials["point_success"][:, 0].astype(bool)
        k = int(succ.sum())
        pk, pk_se = _rate(k, n_trials)
        m, mse = _mean(est[succ])
        ma, mase = _mean(est)
        over, over_se = _rate(int(np.sum(np.abs(est[succ]) > abs(truth))), k)
        wrong, wrong_se = _rate(int(np.sum(rej & ~succ)), n_trials)
        cp, cm = significant_mean(truth, sigma, int(n), sc.design.n_msc(int(n)),
                                  sc.design.alpha, sc.design.sides, better)
        n1 = sc.design.n_msc(int(n))
        for key, v in (("power", pk), ("power_mc_se", pk_se),
                       ("analytic_power", analytic_assurance(model, int(n), n1)),
                       ("n_significant", k),
                       ("mean_significant", m), ("mean_significant_mc_se", mse),
                       ("closed_success", cp), ("closed_mean_significant", cm),
                       ("mean_all", ma), ("mean_all_mc_se", mase),
                       ("exaggeration", m / truth), ("exaggeration_mc_se", mse / abs(truth)),
                       ("overestimate_share", over), ("overestimate_share_mc_se", over_se),
                       ("wrong_sign", wrong), ("wrong_sign_mc_se", wrong_se)):
            cols[key].append(v)
        if n == small_n:
            se_an = sigma * math.sqrt((1.0 / n + 1.0 / n1) * (1.0 + 1.0 / (n + n1 - 4)))
            edges = np.linspace(truth - 4.5 * se_an, truth + 4.5 * se_an, 46)
            clipped = np.clip(est, edges[0], edges[-1])
            hist = (edges, np.histogram(clipped, edges)[0], np.histogram(clipped[succ], edges)[0])
    arrays = {k: np.array(v) for k, v in cols.items()}
    return WinnersCurseResult(
        seed=seed, n_trials=n_trials, scenario=sc.name, preset="t1d", outcome="hba1c",
        unit=model.outcome_def.unit, visit_months=12, alpha=sc.design.alpha,
        sides=sc.design.sides, truth=truth, row=model.evidence_row,
        subgroup_row=_row("hba1c", 12, "T1DM"), sigma_resid=sigma,
        small_n=int(small_n), ns=ns_arr, **arrays, hist_edges=hist[0], hist_all=hist[1],
        hist_significant=hist[2])


def _sections_winners_curse(res: WinnersCurseResult):
    i = res.i_small
    row = res.row
    big = int(res.ns[-1])
    j = len(res.ns) - 1
    pct = 100.0 * res.inflation / abs(res.truth)
    intro = Section("The question", [
        "Most randomised trials of MSC therapy in diabetes are small: ten to twenty patients per "
        "arm. When such a trial reports a significant benefit, how far can we trust the size of "
        "the effect it reports? This lesson simulates many copies of one small trial in which "
        "the true effect is known, keeps the ones that reach significance (the ones most likely "
        "to be published and quoted), and compares their estimates with the truth.",
        f"Set-up: the T1D population preset, change in HbA1c at {res.visit_months} months "
        f"analysed by ANCOVA (two-sided alpha = {res.alpha:g}), and a true mean difference of "
        f"{res.truth:+.2f}{res.unit}, the pooled all-diabetes 12-month estimate of {_cite(row)} "
        f"(the T1D subgroup estimate is {res.subgroup_row['md']:+.2f}{res.unit}, "
        f"{_cite(res.subgroup_row)}). The residual SD of the ANCOVA is "
        f"{res.sigma_resid:.2f}{res.unit} (T1D preset). Each arm size was simulated "
        f"{res.n_trials:,} times with seed {res.seed}.",
    ])
    main = Section(f"A trial with {res.small_n} patients per arm", [
        f"With {res.small_n} patients per arm the trial is significant in the direction of "
        f"benefit in {100 * res.power[i]:.1f}% of replicates (simulated power "
        f"{_pm(res.power[i], res.power_mc_se[i])}; closed form {res.analytic_power[i]:.3f}). "
        f"Over all replicates the estimate is unbiased: its mean is "
        f"{_pm(res.mean_all[i], res.mean_all_mc_se[i], unit=res.unit, sign=True)} against the "
        f"true {res.truth:+.2f}{res.unit}.",
        f"Among the significant trials alone the mean estimate is "
        f"{_pm(res.mean_significant[i], res.mean_significant_mc_se[i], unit=res.unit, sign=True)}"
        f": it exceeds the true effect by {res.inflation:.3f}{res.unit} (MC SE "
        f"{res.inflation_mc_se:.3f}), i.e. {pct:.0f}% too large (exaggeration ratio "
        f"{_pm(res.exaggeration[i], res.exaggeration_mc_se[i])}). "
        f"{100 * res.overestimate_share[i]:.1f}% (MC SE {100 * res.overestimate_share_mc_se[i]:.1f}"
        f" points) of the significant trials overstate the effect. An independent closed-form "
        f"calculation (the estimate conditioned on a significant t statistic, integrating over "
        f"the estimated residual SD and the chance baseline imbalance) gives "
        f"{res.closed_mean_significant[i]:+.3f}{res.unit}.",
        "The reason is selection, not a flaw in any one trial: at this size only the replicates "
        "whose estimate happened to fall well beyond the truth clear the significance bar, so "
        "conditioning on significance keeps the lucky overestimates and discards the rest.",
    ])
    main.figures.append(_figure("winners_curse_estimates", plots.plot_winners_curse_estimates,
                                res, f"Estimated MD in {res.n_trials:,} simulated trials with "
                                f"{res.small_n} patients per arm; significant ones highlighted."))
    by_n = Section("The curse lifts as power rises", [
        f"The inflation shrinks as trials grow. At {big} patients per arm the power is "
        f"{_pm(res.power[j], res.power_mc_se[j], 4)} and the mean significant estimate, "
        f"{_pm(res.mean_significant[j], res.mean_significant_mc_se[j], 4, res.unit, True)}, "
        f"differs from the truth by {res.mean_significant[j] - res.truth:+.4f}{res.unit}. The "
        "rule of thumb: when power is low, a significant estimate is mostly noise that happened "
        "to be large.",
        f"Wrong-sign significance (a significant result favouring control, type S error): "
        f"{int(round(res.wrong_sign[i] * res.n_trials))} of {res.n_trials:,} trials at "
        f"{res.small_n} per arm ({100 * res.wrong_sign[i]:.2f}%, MC SE "
        f"{100 * res.wrong_sign_mc_se[i]:.2f} points).",
        "What to do with this: discount effect sizes from small positive trials (and pooled "
        "estimates built from them) when planning the next trial; size the next trial for a "
        "smaller effect, or average power over the uncertainty (see the assurance-vs-power "
        "lesson).",
    ])
    by_n.figures.append(_figure("winners_curse_by_n", plots.plot_winners_curse_by_n, res,
                                "Mean estimate among significant trials against arm size, with "
                                "95% Monte Carlo bands, the closed form and the truth."))
    import pandas as pd
    tab = pd.DataFrame({
        "N per arm": res.ns.astype(int), "power": np.round(res.power, 4),
        "power MC SE": np.round(res.power_mc_se, 4),
        "mean significant estimate": np.round(res.mean_significant, 4),
        "MC SE": np.round(res.mean_significant_mc_se, 4),
        "closed form": np.round(res.closed_mean_significant, 4),
        "exaggeration ratio": np.round(res.exaggeration, 3)})
    tab.attrs["caption"] = f"Truth {res.truth:+.2f}{res.unit}; {res.n_trials:,} trials per N."
    by_n.tables.append(tab)
    return [intro, main, by_n]


# ---------------------------------------------------------------------------------------------
# 2. effects that fade
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FadeOutcome(_Result):
    """One outcome of the fading-effects lesson.

    ``rows[j]``, ``md[j]`` are the evidence row and true MD at ``months[j]``;
    ``power[j]`` the simulated power curve over ``ns`` at that visit (fast engine, common random
    numbers). ``n80`` is the N per arm for ``target`` power at the first visit; at that N the
    design engine follows the same trials to every visit (``n80_last_analytic`` is the
    closed-form N for the same target at the last visit, None beyond a million per arm):
    ``design_success[j]`` is the share
    significant in the direction of benefit at visit j, ``p_last_given_first`` the share of the
    trials successful at the first visit that are also successful at the last, and
    ``mean_first_success`` / ``mean_last_given_first`` the mean estimates at the first and last
    visit among the trials successful at the first.
    """

    outcome: str
    label: str
    unit: str
    months: tuple[int, ...]
    rows: tuple[dict, ...]
    md: np.ndarray
    md_relative: np.ndarray
    md_relative_se: np.ndarray
    ns: np.ndarray
    power: np.ndarray
    power_mc_se: np.ndarray
    analytic_power: np.ndarray
    n80: int | None
    n80_power: float
    n80_mc_se: float
    n80_analytic: int | None
    n80_range: tuple[int | None, int | None]
    n80_last_analytic: int | None
    design_success: np.ndarray
    design_success_mc_se: np.ndarray
    p_last_given_first: float
    p_last_given_first_mc_se: float
    mean_first_success: float
    mean_first_success_mc_se: float
    mean_last_given_first: float
    mean_last_given_first_mc_se: float


@dataclass(frozen=True)
class FadingResult(_Result):
    """Stimulated C-peptide and HOMA-IR: power at 3, 6 and 12 months."""

    seed: int
    n_trials: int
    preset: str
    population: str
    target: float
    alpha: float
    outcomes: tuple[FadeOutcome, ...]

    def headline(self) -> list[str]:
        out = []
        for o in self.outcomes:
            s, se = o.design_success, o.design_success_mc_se
            out.append(f"{o.label}: N = {o.n80} per arm for {self.target:.0%} power at "
                       f"{o.months[0]} months; same trials significant at "
                       + ", ".join(f"{m} mo {_pm(s[j], se[j])}" for j, m in enumerate(o.months)))
        return out


def _fade_outcome(outcome: str, preset: str, population: str, seed: int, n_trials: int,
                  target: float) -> FadeOutcome:
    months = (3, 6, 12)
    models = [_model(_scenario(f"lesson_fading_{outcome}_{m}m", preset, outcome, m,
                                    {"source": "evidence", "population": population},
                                    seed=seed, n_trials=n_trials)) for m in months]
    # "power" here is the probability of a significant result in the direction of benefit
    # (the engine's success count; with a point effect its closed form is the one-sided power
    # at alpha / 2): a significant *harm* at 12 months is no success
    ss, out0, hi = _search(models[0], target, n_trials, seed, "assurance")
    ns = out0.n0
    outs = [out0] + [simulate(m, ns, n_trials=n_trials, seed=seed) for m in models[1:]]
    pw = np.array([o.rej_assur / n_trials for o in outs])
    pse = np.sqrt(pw * (1 - pw) / n_trials)
    an = np.array([[analytic_assurance(m, int(n), m.scenario.design.n_msc(int(n))) for n in ns]
                   for m in models])
    lo, hi_n = _n_range(out0.rej_assur, n_trials, ns, target)
    rows = tuple(_row(outcome, m, population) for m in months)
    md = np.array([models[0].md[outcome][models[0].visits.index(m)] for m in months])
    se = np.array([r["se"] for r in rows])
    n80 = ss.n_per_arm
    if n80 is None:
        raise SimtrialError(f"lesson error: {outcome} at {months[0]} months does not reach "
                            f"{target:.0%} power by N = {hi}")
    # the same trials followed to every visit: primary endpoint at the first visit, the later
    # visits as secondary endpoints (design engine, no multiplicity adjustment)
    sc = _scenario(f"lesson_fading_{outcome}", preset, outcome, months[0],
                   {"source": "evidence", "population": population}, seed=seed,
                   n_trials=n_trials, n_per_arm=n80,
                   endpoints=[{"name": f"month{m}", "outcome": outcome, "visit_months": m}
                              for m in months[1:]])
    dr = power(_design(sc), n80, n_trials=n_trials, seed=seed)
    succ = dr.trials["point_success"].astype(bool)
    est = dr.trials["point_est"]
    ds, dse = _rates(succ.sum(axis=0), n_trials)
    first = succ[:, 0]
    pl, plse = _rate(int(np.sum(succ[first, -1])), int(first.sum()))
    mf, mfse = _mean(est[first, 0])
    ml, mlse = _mean(est[first, -1])
    od = OUTCOMES[outcome]
    return FadeOutcome(
        outcome=outcome, label=od.label, unit=od.unit, months=months, rows=rows, md=md,
        md_relative=md / md[0], md_relative_se=se / abs(md[0]), ns=ns, power=pw,
        power_mc_se=pse, analytic_power=an, n80=n80, n80_power=ss.power, n80_mc_se=ss.mc_se,
        n80_analytic=ss.analytic_n_per_arm, n80_range=(lo, hi_n),
        n80_last_analytic=smallest_n(
            lambda n: analytic_assurance(models[-1], n, models[-1].scenario.design.n_msc(n)),
            target, 1_000_000),
        design_success=ds,
        design_success_mc_se=dse, p_last_given_first=pl, p_last_given_first_mc_se=plse,
        mean_first_success=mf, mean_first_success_mc_se=mfse, mean_last_given_first=ml,
        mean_last_given_first_mc_se=mlse)


def fading_effects(seed: int = LESSON_SEED, n_trials: int = 10_000, *,
                   target: float = 0.8) -> FadingResult:
    """Compute the fading-effects lesson.

    Stimulated C-peptide and HOMA-IR are patient-model outcomes (log-normal, T2D preset); their
    true MDs at 3, 6 and 12 months are the default Kashbour 2025 all-diabetes evidence rows. For
    each outcome: the power curve at every visit (fast engine), the N per arm for ``target``
    power at 3 months, and at that N the same trials analysed at 3, 6 and 12 months (design
    engine).

    Returns
    -------
    FadingResult
    """
    _check_args(seed, n_trials)
    outs = tuple(_fade_outcome(o, "t2d", "all", seed, n_trials, target)
                 for o in ("stimulated_cpeptide", "homa_ir"))
    return FadingResult(seed=seed, n_trials=n_trials, preset="t2d", population="all",
                        target=target, alpha=0.05, outcomes=outs)


def _sections_fading(res: FadingResult):
    paras = [
        "Some MSC effects are seen early and then vanish. In the Kashbour 2025 meta-analysis "
        "(as told by the seed write-up) stimulated C-peptide was higher with MSC at 3 months but "
        "not at 6 or 12, and HOMA-IR improved at 3 months but not later. This lesson asks what a "
        "trial with a 3-month primary endpoint would have concluded, and what the same trial "
        "would have shown at 12 months.",
    ]
    for o in res.outcomes:
        parts = []
        for m, r in zip(o.months, o.rows):
            parts.append(f"{m} months {r['md']:+.3g} {o.unit} (SE {r['se']:.3g}, {_p_text(r)}, "
                         f"{r['flag']}, MD {r['md_status']})")
        paras.append(f"{o.label} evidence ({o.rows[0]['source']}): " + "; ".join(parts) + ".")
    paras.append(
        "Assumptions, stated plainly: the seed reports these outcomes mostly as P values or "
        "'not significant' without mean differences, so the MDs above are flagged ASSUMED or "
        "derived in the evidence table (see `simtrial evidence`); the lesson shows the "
        "consequence of a fading effect of this shape, not a precise forecast. Both outcomes "
        f"are simulated on the patient model of the {res.preset.upper()} preset (log-normal "
        "values, natural history and patient-level SDs from the preset, themselves ASSUMED for "
        "these outcomes), with the all-diabetes MD applied at each visit, and analysed by ANCOVA "
        f"on the natural scale, two-sided alpha = {res.alpha:g}. {res.n_trials:,} trials per "
        f"design point, seed {res.seed}.")
    sections = [Section("The question and the evidence", paras)]
    for o in res.outcomes:
        s, se = o.design_success, o.design_success_mc_se
        sec = Section(f"{o.label}: a {o.months[0]}-month endpoint versus {o.months[-1]} months", [
            f"A trial sized for {res.target:.0%} power at {o.months[0]} months needs {o.n80} "
            f"patients per arm (simulated power there {_pm(o.n80_power, o.n80_mc_se)}; Monte "
            f"Carlo range of N {_range(o.n80_range)}; closed form {o.n80_analytic}).",
            f"Following the same {o.n80}-per-arm trials: significant benefit at "
            + ", ".join(f"{m} months in {100 * s[j]:.1f}% (MC SE {100 * se[j]:.1f})"
                        for j, m in enumerate(o.months))
            + f". With no effect at all a benefit-direction result would appear in "
            f"{res.alpha / 2:.1%} of trials, so at {o.months[-1]} months the trial does little "
            f"better than a trial of an inactive treatment. A trial powered at {o.months[-1]} "
            f"months on the evidence MD ({o.md[-1]:+.3g} {o.unit}) would need "
            + (f"{o.n80_last_analytic:,}" if o.n80_last_analytic is not None else "over a million")
            + " patients per arm (closed form, approximate for this log-normal outcome).",
            f"What the {o.months[0]}-month primary endpoint would have concluded: success, with "
            f"an average estimated effect of "
            f"{_pm(o.mean_first_success, o.mean_first_success_mc_se, 3, o.unit, True)} among the "
            f"successful trials (true {o.months[0]}-month MD {o.md[0]:+.3g}). In those same "
            f"trials the {o.months[-1]}-month estimate averages "
            f"{_pm(o.mean_last_given_first, o.mean_last_given_first_mc_se, 3, o.unit, True)} "
            f"(true {o.md[-1]:+.3g}; the visits share patient-level noise, so selection at "
            f"{o.months[0]} months carries over a little) and only "
            f"{100 * o.p_last_given_first:.1f}% (MC SE {100 * o.p_last_given_first_mc_se:.1f}) "
            f"are also significant at {o.months[-1]} months: the early success predicts almost "
            "nothing about durable benefit.",
        ])
        sec.figures.append(_figure(f"fading_power_{o.outcome}", plots.plot_fading_power, res,
                                   f"{o.label}: simulated power against N per arm at each "
                                   "visit (95% Monte Carlo bands), closed form dashed.",
                                   outcome=o.outcome))
        sections.append(sec)
    last = Section("Take-home", [
        "An early endpoint measures an early effect. If the effect wanes, a trial powered at 3 "
        "months will usually 'succeed' and still say nothing about 12 months, and powering at 12 "
        "months on these numbers would need the trial sizes given above. Choose "
        "the primary endpoint at the time point that matters to patients, and report every "
        "visit.",
    ])
    last.figures.append(_figure("fading_summary", plots.plot_fading_summary, res,
                                "Solid: evidence MD relative to its 3-month value (bars: 95% CI "
                                "from the evidence SE). Dashed: the share of the same simulated "
                                "trials significant at each visit (bars: 95% Monte Carlo "
                                "interval)."))
    sections.append(last)
    return sections


# ---------------------------------------------------------------------------------------------
# 3. assurance versus power
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AssuranceResult(_Result):
    """Power at the pooled estimate against assurance under the pooled and predictive
    distributions of the true effect, over ``ns`` (common random numbers).

    ``ceiling_*`` is the probability that the true effect is beneficial (the limit of assurance
    as N grows), closed form, and ``ceiling_pred_sim`` its estimate from the engine's drawn
    trial effects. ``bin_*`` split the trials simulated at ``n80`` by their drawn true effect:
    simulated success rate per bin against the closed-form power averaged over the bin.
    """

    seed: int
    n_trials: int
    preset: str
    outcome: str
    unit: str
    visit_months: int
    alpha: float
    sides: int
    row: dict
    md: float
    se: float
    i2: float
    k: int
    tau2: float
    pred_scale: float
    pred_df: float
    ns: np.ndarray
    power: np.ndarray
    power_mc_se: np.ndarray
    assur_pred: np.ndarray
    assur_pred_mc_se: np.ndarray
    assur_pool: np.ndarray
    assur_pool_mc_se: np.ndarray
    ns_closed: np.ndarray
    power_closed: np.ndarray
    assur_pred_closed: np.ndarray
    assur_pool_closed: np.ndarray
    n80: int
    n80_analytic: int | None
    n80_range: tuple[int | None, int | None]
    power_n80: float
    power_n80_mc_se: float
    assur_pred_n80: float
    assur_pred_n80_mc_se: float
    assur_pool_n80: float
    assur_pool_n80_mc_se: float
    assur_pred_n80_closed: float
    assur_pool_n80_closed: float
    ceiling_pred: float
    ceiling_pool: float
    ceiling_pred_sim: float
    ceiling_pred_sim_mc_se: float
    n80_assurance_pred: int | None
    n80_assurance_pred_range: tuple[int | None, int | None]
    n80_assurance_pool: int | None
    theta_grid: np.ndarray
    density_pred: np.ndarray
    density_pool: np.ndarray
    power_theta: np.ndarray
    bin_edges: np.ndarray
    bin_count: np.ndarray
    bin_success: np.ndarray
    bin_success_mc_se: np.ndarray
    bin_closed: np.ndarray

    @property
    def gap(self) -> float:
        """Power minus predictive assurance at ``n80``."""
        return self.power_n80 - self.assur_pred_n80

    @property
    def gap_mc_se(self) -> float:
        """Conservative MC SE of the gap (as if independent; they are positively correlated)."""
        return math.hypot(self.power_n80_mc_se, self.assur_pred_n80_mc_se)

    def headline(self) -> list[str]:
        return [
            f"N = {self.n80} per arm for 80% power at the pooled MD {self.md:+.2f}{_u(self.unit)}: "
            f"power {_pm(self.power_n80, self.power_n80_mc_se)}",
            f"assurance, pooled distribution {_pm(self.assur_pool_n80, self.assur_pool_n80_mc_se)};"
            f" predictive distribution {_pm(self.assur_pred_n80, self.assur_pred_n80_mc_se)}",
            f"gap power - predictive assurance {self.gap:.3f} (MC SE {self.gap_mc_se:.3f}); "
            f"assurance ceiling P(true effect beneficial) {self.ceiling_pred:.3f}",
        ]


def assurance_vs_power(seed: int = LESSON_SEED, n_trials: int = 20_000, *,
                       n_max: int = 150) -> AssuranceResult:
    """Compute the assurance-versus-power lesson.

    Scenario: T1D preset, 12-month HbA1c, ANCOVA; effect = Kashbour 2025 pooled 12-month HbA1c
    (all diabetes, I^2 = 56%, k = 11), as a pooled distribution ``N(MD, SE^2)`` and as the
    predictive distribution of a new trial's effect (t with k - 2 df, scale
    ``sqrt(SE^2 + tau^2)``, ``tau^2 = I^2 k SE^2``). One engine pass per distribution over every
    N from 3 to ``n_max`` (power comes from the same trials).

    Returns
    -------
    AssuranceResult
    """
    _check_args(seed, n_trials)
    eff = {"source": "evidence", "population": "all"}
    pred = _model(_scenario("lesson_assurance_predictive", "t1d", "hba1c", 12,
                                 {**eff, "distribution": "predictive", "predictive_dist": "t"},
                                 seed=seed, n_trials=n_trials))
    pool = _model(_scenario("lesson_assurance_pooled", "t1d", "hba1c", 12,
                                 {**eff, "distribution": "pooled"}, seed=seed, n_trials=n_trials))
    point = _model(_scenario("lesson_assurance_point", "t1d", "hba1c", 12, eff, seed=seed,
                                  n_trials=n_trials))
    ns = np.arange(3, int(n_max) + 1)
    # success = significant in the direction of benefit, for power and assurance alike (with a
    # point effect the engine's success count is the power of the benefit-direction test)
    o_point = simulate(point, ns, n_trials=n_trials, seed=seed)
    o_pred = simulate(pred, ns, n_trials=n_trials, seed=seed)
    o_pool = simulate(pool, ns, n_trials=n_trials, seed=seed)
    pw, pw_se = _rates(o_point.rej_assur, n_trials)
    ap, ap_se = _rates(o_pred.rej_assur, n_trials)
    ao, ao_se = _rates(o_pool.rej_assur, n_trials)
    ss = _read(point, o_point, 0.8, seed, int(n_max), kind="assurance")
    if ss.n_per_arm is None:
        raise SimtrialError(f"lesson error: n_max = {n_max} is too small to reach 80% power")
    n80 = ss.n_per_arm
    i80 = int(np.flatnonzero(ns == n80)[0])
    n_pa = _crossing(ap, ns, 0.8)
    n_po = _crossing(ao, ns, 0.8)
    ns_closed = np.unique(np.round(np.geomspace(3, n_max, 14)).astype(int))
    ns_closed = np.union1d(ns_closed, [n80])
    msc = pred.scenario.design.n_msc
    pc = np.array([analytic_assurance(point, int(n), msc(int(n))) for n in ns_closed])
    apc = np.array([analytic_assurance(pred, int(n), msc(int(n))) for n in ns_closed])
    aoc = np.array([analytic_assurance(pool, int(n), msc(int(n))) for n in ns_closed])
    j80 = int(np.flatnonzero(ns_closed == n80)[0])
    dist = pred.distribution
    dpool = pool.distribution
    better = pred.outcome_def.better
    # ceiling: P(true effect in the direction of benefit)
    sgn = -1.0 if better == "lower" else 1.0
    ceil_pred = float(stats.t.cdf(sgn * dist.mean / dist.scale, dist.df))
    ceil_pool = float(stats.norm.cdf(sgn * dpool.mean / dpool.scale))
    # the trials at n80 with their drawn effects
    keep = simulate(pred, [n80], n_trials=n_trials, seed=seed, keep=0)
    th = keep.kept_theta
    win = keep.kept_assur_reject.astype(bool)
    cs, cs_se = _rate(int(np.sum(sgn * th > 0)), n_trials)
    sd = pred.analytic["sd_resid_ancova"]
    alpha, sides = pred.scenario.design.alpha, pred.scenario.design.sides

    def pw_theta(t):
        return power_ancova(np.asarray(t, dtype=float), sd, n80, msc(n80), alpha / sides, 1, better)

    lo_t, hi_t = dist.ppf_range(2e-3)
    grid = np.linspace(lo_t, hi_t, 241)
    dens_pred = stats.t.pdf((grid - dist.mean) / dist.scale, dist.df) / dist.scale
    dens_pool = stats.norm.pdf(grid, dpool.mean, dpool.scale)
    edges = dist.mean + dist.scale * stats.t.ppf(np.linspace(0.02, 0.98, 13), dist.df)
    idx = np.digitize(th, edges)
    pth = pw_theta(th)
    cnt, rate, rse, clo = [], [], [], []
    for b in range(1, edges.size):
        sel = idx == b
        k = int(sel.sum())
        r, s = _rate(int(win[sel].sum()), k)
        cnt.append(k)
        rate.append(r)
        rse.append(s)
        clo.append(float(pth[sel].mean()) if k else math.nan)
    row = pred.evidence_row
    k_trials = int(row["k"])
    return AssuranceResult(
        seed=seed, n_trials=n_trials, preset="t1d", outcome="hba1c",
        unit=pred.outcome_def.unit, visit_months=12, alpha=alpha, sides=sides, row=row,
        md=pred.endpoint_md, se=float(row["se"]), i2=float(row["i2"]), k=k_trials,
        tau2=float(dist.scale ** 2 - float(row["se"]) ** 2), pred_scale=dist.scale,
        pred_df=dist.df, ns=ns, power=pw, power_mc_se=pw_se, assur_pred=ap,
        assur_pred_mc_se=ap_se, assur_pool=ao, assur_pool_mc_se=ao_se, ns_closed=ns_closed,
        power_closed=pc, assur_pred_closed=apc, assur_pool_closed=aoc, n80=n80,
        n80_analytic=ss.analytic_n_per_arm,
        n80_range=_n_range(o_point.rej_assur, n_trials, ns, 0.8),
        power_n80=float(pw[i80]), power_n80_mc_se=float(pw_se[i80]),
        assur_pred_n80=float(ap[i80]), assur_pred_n80_mc_se=float(ap_se[i80]),
        assur_pool_n80=float(ao[i80]), assur_pool_n80_mc_se=float(ao_se[i80]),
        assur_pred_n80_closed=float(apc[j80]), assur_pool_n80_closed=float(aoc[j80]),
        ceiling_pred=ceil_pred, ceiling_pool=ceil_pool, ceiling_pred_sim=cs,
        ceiling_pred_sim_mc_se=cs_se, n80_assurance_pred=n_pa,
        n80_assurance_pred_range=_n_range(o_pred.rej_assur, n_trials, ns, 0.8),
        n80_assurance_pool=n_po,
        theta_grid=grid, density_pred=dens_pred, density_pool=dens_pool,
        power_theta=pw_theta(grid), bin_edges=edges, bin_count=np.array(cnt),
        bin_success=np.array(rate), bin_success_mc_se=np.array(rse), bin_closed=np.array(clo))


def _sections_assurance(res: AssuranceResult):
    row = res.row
    reach = (lambda n: f"is reached at {n} patients per arm" if n is not None
             else f"is not reached by {int(res.ns[-1])} patients per arm")
    s1 = Section("Power is conditional; assurance is not", [
        "Power answers: if the true effect were exactly the pooled estimate, how often would "
        "the trial succeed? Assurance (probability of success) answers the question a sponsor "
        "actually faces: given what we know, including our uncertainty about the true effect, "
        "how often will it succeed? It is power averaged over a distribution of the true "
        "effect (O'Hagan, Stevens and Campbell 2005).",
        f"Evidence: 12-month HbA1c MD {res.md:+.2f}{res.unit} (SE {res.se:.3f}), I² = "
        f"{res.i2:g}% over k = {res.k} trials ({_cite(row)}). Two distributions of the true "
        f"effect in the next trial: the pooled one, N({res.md:+.2f}, {res.se:.3f}²), which only "
        f"admits that the pooled mean is uncertain; and the predictive one, which adds the "
        f"between-trial variance tau² = I²·k·SE² = {res.tau2:.4f} (DERIVED), a t distribution "
        f"with k - 2 = {res.pred_df:g} df and scale {res.pred_scale:.3f} (Higgins, Thompson "
        f"and Spiegelhalter 2009). T1D population preset, ANCOVA, two-sided alpha = "
        f"{res.alpha:g}; success = significant in the direction of benefit. {res.n_trials:,} "
        f"trials per N, seed {res.seed}.",
    ])
    s2 = Section("The same design, three answers", [
        f"The design with {res.n80} patients per arm has simulated power "
        f"{_pm(res.power_n80, res.power_n80_mc_se)} at the pooled estimate (Monte Carlo range "
        f"of N for 80%: {_range(res.n80_range)}; closed form {res.n80_analytic}). "
        f"Its assurance is {_pm(res.assur_pool_n80, res.assur_pool_n80_mc_se)} under the pooled "
        f"distribution (closed form {res.assur_pool_n80_closed:.3f}) and "
        f"{_pm(res.assur_pred_n80, res.assur_pred_n80_mc_se)} under the predictive one (closed "
        f"form {res.assur_pred_n80_closed:.3f}): {res.gap:.3f} lower than the power (MC SE of "
        f"the difference at most {res.gap_mc_se:.3f}).",
        "Why lower: power is a steep, S-shaped function of the true effect. Averaging it over "
        "a spread of effects trades trials that were going to succeed anyway (effects larger "
        "than the estimate, where power is already near 1 and can gain little) for trials "
        "whose true effect is smaller, where power collapses. When power at the centre is 80%, "
        "the average is below 80%.",
        f"More patients narrow the gap only slowly and cannot close it: as N grows, assurance "
        f"tends to the probability that the true effect is beneficial at all, "
        f"{res.ceiling_pred:.3f} under the predictive distribution (simulated share of drawn "
        f"effects {_pm(res.ceiling_pred_sim, res.ceiling_pred_sim_mc_se)}) and "
        f"{res.ceiling_pool:.4f} under the pooled one. 80% predictive assurance "
        f"{reach(res.n80_assurance_pred)}"
        + (f" (Monte Carlo range {_range(res.n80_assurance_pred_range)}; "
           f"{res.n80_assurance_pred / res.n80:.1f} times the N for 80% power)"
           if res.n80_assurance_pred is not None else "")
        + f"; 80% pooled assurance {reach(res.n80_assurance_pool)}.",
    ])
    s2.figures.append(_figure("assurance_curves", plots.plot_assurance_curves, res,
                              "Power at the pooled estimate and assurance under the pooled and "
                              "predictive distributions against N per arm (95% Monte Carlo "
                              "bands; crosses: closed form)."))
    s3 = Section("Assurance is power averaged over the effect", [
        f"The figure splits the {res.n_trials:,} trials simulated at {res.n80} per arm by the "
        "true effect the engine drew for each: within every slice the simulated success rate "
        "follows the closed-form power at that effect, and the assurance is that curve "
        "weighted by the predictive density.",
    ])
    s3.figures.append(_figure("assurance_averaging", plots.plot_assurance_averaging, res,
                              f"Predictive and pooled densities of the true MD; closed-form "
                              f"power at {res.n80} per arm as a function of the true MD; "
                              "simulated success rate per slice of drawn effects (± 2 MC SE)."))
    return [s1, s2, s3]


# ---------------------------------------------------------------------------------------------
# 4. T1D versus T2D
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SampleSizeDesign(_Result):
    """N per arm for the target power of one design, with its power curve (common random
    numbers, every N from 3 to ``searched_max``)."""

    key: str
    label: str
    preset: str
    outcome: str
    unit: str
    population: str
    row: dict
    md: float
    sigma_resid: float
    std_effect: float
    n80: int | None
    n80_power: float
    n80_mc_se: float
    n80_analytic: int | None
    n80_range: tuple[int | None, int | None]
    searched_max: int
    ns: np.ndarray
    power: np.ndarray
    power_mc_se: np.ndarray


@dataclass(frozen=True)
class T1DvsT2DResult(_Result):
    """Sample sizes of 12-month trials by diabetes type and endpoint.

    ``ratio_hba1c`` = N(T2D HbA1c) / N(T1D HbA1c), simulated, with the ratio of the Monte Carlo
    range ends (``ratio_hba1c_range``), of the closed-form Ns and the formula ratio
    ``(d_T1D / d_T2D)^2`` of standardised effects ``d = |MD| / sigma_resid``.
    """

    seed: int
    n_trials: int
    target: float
    alpha: float
    designs: tuple[SampleSizeDesign, ...]
    ratio_hba1c: float
    ratio_hba1c_range: tuple[float, float]
    ratio_hba1c_closed: float
    ratio_hba1c_formula: float
    ratio_t2d_hba1c_to_insulin: float

    def design(self, key: str) -> SampleSizeDesign:
        return next(d for d in self.designs if d.key == key)

    def headline(self) -> list[str]:
        out = [f"{d.label}: N = {d.n80} per arm (power there {_pm(d.n80_power, d.n80_mc_se)}; "
               f"closed form {d.n80_analytic})" for d in self.designs]
        out.append(f"N(T2D HbA1c) / N(T1D HbA1c) = {self.ratio_hba1c:.1f}; "
                   f"N(T2D HbA1c) / N(T2D insulin dose) = {self.ratio_t2d_hba1c_to_insulin:.1f}")
        return out


_T1T2_DESIGNS = (
    ("t1d_hba1c", "T1D, HbA1c", "t1d", "hba1c", "T1DM", None),
    ("t2d_hba1c", "T2D, HbA1c", "t2d", "hba1c", "T2DM", None),
    ("t2d_hba1c_zhang", "T2D, HbA1c (Zhang 2025 estimate)", "t2d", "hba1c", "T2DM",
     "zhang25_hba1c_12m_t2dm"),
    ("t1d_insulin", "T1D, insulin dose", "t1d", "insulin_dose", "T1DM", None),
    ("t2d_insulin", "T2D, insulin dose", "t2d", "insulin_dose", "T2DM", None),
)


def t1d_vs_t2d(seed: int = LESSON_SEED, n_trials: int = 20_000, *,
               target: float = 0.8) -> T1DvsT2DResult:
    """Compute the T1D-versus-T2D lesson: N per arm for ``target`` power at 12 months, for
    HbA1c and daily insulin dose in each diabetes type (default Kashbour 2025 subgroup rows),
    plus HbA1c in T2D at the Zhang 2025 T2D estimate as a sensitivity analysis. Each design is
    one sample-size search of the engine (:func:`simtrial.oc.run.grid_search`).

    Returns
    -------
    T1DvsT2DResult
    """
    _check_args(seed, n_trials)
    designs = []
    for key, label, preset, outcome, pop, row_id in _T1T2_DESIGNS:
        eff = {"source": "evidence", "population": pop}
        if row_id:
            eff["row"] = row_id
        model = _model(_scenario(f"lesson_{key}", preset, outcome, 12, eff, seed=seed,
                                      n_trials=n_trials))
        ss, out, hi = _search(model, target, n_trials, seed)
        pw, pse = _rates(out.rejections, n_trials)
        sig = model.analytic["sd_resid_ancova"]
        designs.append(SampleSizeDesign(
            key=key, label=label, preset=preset, outcome=outcome, unit=model.outcome_def.unit,
            population=pop, row=model.evidence_row, md=model.endpoint_md, sigma_resid=sig,
            std_effect=abs(model.endpoint_md) / sig, n80=ss.n_per_arm, n80_power=ss.power,
            n80_mc_se=ss.mc_se, n80_analytic=ss.analytic_n_per_arm,
            n80_range=_n_range(out.rejections, n_trials, out.n0, target), searched_max=hi,
            ns=out.n0, power=pw, power_mc_se=pse))
    d = {x.key: x for x in designs}
    t1, t2, ti = d["t1d_hba1c"], d["t2d_hba1c"], d["t2d_insulin"]
    if t1.n80 is None or t2.n80 is None or ti.n80 is None:
        raise SimtrialError("lesson error: a design did not reach the target power by "
                            "design.max_n_per_arm")
    lo = t2.n80_range[0] / t1.n80_range[1] if t2.n80_range[0] and t1.n80_range[1] else math.nan
    hi = t2.n80_range[1] / t1.n80_range[0] if t2.n80_range[1] and t1.n80_range[0] else math.nan
    return T1DvsT2DResult(
        seed=seed, n_trials=n_trials, target=target, alpha=0.05, designs=tuple(designs),
        ratio_hba1c=t2.n80 / t1.n80, ratio_hba1c_range=(lo, hi),
        ratio_hba1c_closed=t2.n80_analytic / t1.n80_analytic,
        ratio_hba1c_formula=(t1.std_effect / t2.std_effect) ** 2,
        ratio_t2d_hba1c_to_insulin=t2.n80 / ti.n80)


def _sections_t1d_t2d(res: T1DvsT2DResult):
    import pandas as pd
    t1, t2 = res.design("t1d_hba1c"), res.design("t2d_hba1c")
    z, ti, i1 = res.design("t2d_hba1c_zhang"), res.design("t2d_insulin"), res.design("t1d_insulin")
    s1 = Section("The question", [
        "HbA1c at 12 months is the default primary endpoint of a diabetes trial. This lesson "
        f"sizes a two-arm 12-month MSC trial for {res.target:.0%} power (ANCOVA, two-sided "
        f"alpha = {res.alpha:g}) in each diabetes type, on HbA1c and on daily insulin dose, each "
        f"from one engine search over every N ({res.n_trials:,} trials per N, seed {res.seed}).",
        "Evidence (Kashbour 2025 subgroups): T1D HbA1c "
        f"{t1.md:+.2f}% ({_p_text(t1.row)}, {t1.row['flag']}); T2D HbA1c {t2.md:+.3g}% "
        f"({_p_text(t2.row)}, {t2.row['flag']}: the subgroup was not significant and reported "
        "no MD, so the MD is derived from the P value with an assumed SE); T1D insulin "
        f"{i1.md:+.2f} IU/day ({_p_text(i1.row)}, {i1.row['flag']}); T2D insulin {ti.md:+.2f} "
        f"IU/day ({_p_text(ti.row)}, {ti.row['flag']}).",
    ])
    s2 = Section("HbA1c: T2D needs far more patients", [
        f"T1D needs {t1.n80} patients per arm (power there {_pm(t1.n80_power, t1.n80_mc_se)}; "
        f"closed form {t1.n80_analytic}); T2D needs {t2.n80} (power "
        f"{_pm(t2.n80_power, t2.n80_mc_se)}; Monte Carlo range {_range(t2.n80_range)}; "
        f"closed form {t2.n80_analytic}): {res.ratio_hba1c:.0f} times as "
        f"many (range {res.ratio_hba1c_range[0]:.0f}-{res.ratio_hba1c_range[1]:.0f} from Monte "
        f"Carlo error; closed-form ratio {res.ratio_hba1c_closed:.1f}).",
        "Why: the required N scales as (sigma / MD)². The standardised effect |MD| / sigma "
        f"(sigma = residual SD of the ANCOVA) is {t1.std_effect:.2f} in T1D "
        f"({abs(t1.md):.2f} / {t1.sigma_resid:.2f}) but {t2.std_effect:.3f} in T2D "
        f"({abs(t2.md):.3g} / {t2.sigma_resid:.2f}): a much smaller pooled effect, measured "
        "against a noisier outcome (T2D HbA1c moves more within patients over a year, and the "
        "placebo arm drifts). The squared ratio of standardised effects, "
        f"{res.ratio_hba1c_formula:.0f}, is the large-sample answer; the simulated ratio is "
        f"{'smaller' if res.ratio_hba1c < res.ratio_hba1c_formula else 'larger'} because a "
        f"{t1.n80}-per-arm trial also pays for estimating its SD (t rather than normal "
        "quantiles), which costs a small trial relatively more.",
        f"How much this hangs on the T2D estimate: the Zhang 2025 T2D meta-analysis reports "
        f"{z.md:+.2f}% at 12 months ({_cite(z.row)}); at that effect T2D needs {z.n80} per arm "
        f"(power {_pm(z.n80_power, z.n80_mc_se)}). The two sources disagree; a design should "
        "show both, and the winner's-curse lesson says which way to lean.",
    ])
    s2.figures.append(_figure("t1d_t2d_sample_sizes", plots.plot_sample_sizes, res,
                              f"N per arm for {res.target:.0%} power at 12 months (bars: "
                              "simulated, whiskers: Monte Carlo range, diamonds: closed form)."))
    verdict = ("fewer" if ti.n80 < t2.n80 else "more")
    s3 = Section("Insulin dose as the T2D endpoint", [
        f"On daily insulin dose, T2D needs {ti.n80} patients per arm (power "
        f"{_pm(ti.n80_power, ti.n80_mc_se)}; closed form {ti.n80_analytic}), {verdict} than the "
        f"{t2.n80} for HbA1c (ratio {res.ratio_t2d_hba1c_to_insulin:.0f}). The standardised "
        f"effect on insulin dose is {ti.std_effect:.2f} ({abs(ti.md):.2f} / "
        f"{ti.sigma_resid:.2f} IU/day): in insulin-treated T2D, clinicians titrate insulin to "
        "keep HbA1c on target, so a benefit shows up as less insulin rather than lower HbA1c. "
        f"T1D on insulin dose needs {i1.n80} per arm.",
        "Caveats: a small N is only as good as its effect estimate (here from few trials, and "
        "insulin dose depends on titration practice); dose cannot fall below 0, which "
        "the engine models (insulin independence is an event). Insulin dose as primary endpoint "
        "should come with a rule for titration and HbA1c as a safety co-endpoint.",
    ])
    s3.figures.append(_figure("t1d_t2d_power", plots.plot_t1d_t2d_power, res,
                              "Simulated power against N per arm (log scale), 95% Monte Carlo "
                              "bands."))
    tab = pd.DataFrame({
        "design": [x.label for x in res.designs],
        "MD": [round(x.md, 4) for x in res.designs], "unit": [x.unit for x in res.designs],
        "evidence row": [x.row["id"] for x in res.designs],
        "flag": [x.row["flag"] for x in res.designs],
        "sigma (ANCOVA)": [round(x.sigma_resid, 3) for x in res.designs],
        "|MD|/sigma": [round(x.std_effect, 3) for x in res.designs],
        "N per arm": [x.n80 for x in res.designs],
        "power at N": [round(x.n80_power, 4) for x in res.designs],
        "MC SE": [round(x.n80_mc_se, 4) for x in res.designs],
        "MC range": [_range(x.n80_range) for x in res.designs],
        "closed form N": [x.n80_analytic for x in res.designs]})
    tab.attrs["caption"] = f"12-month designs, {res.target:.0%} power."
    s3.tables.append(tab)
    return [s1, s2, s3]


# ---------------------------------------------------------------------------------------------
# 5. heterogeneity
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HetVariant(_Result):
    """Assurance over ``ns`` when the between-trial variance comes from ``i2``."""

    label: str
    i2: float
    tau2: float
    pred_scale: float
    assurance: np.ndarray
    assurance_mc_se: np.ndarray
    ns_closed: np.ndarray
    assurance_closed: np.ndarray
    ceiling: float
    assurance_n80: float
    assurance_n80_mc_se: float
    n80_assurance: int | None


@dataclass(frozen=True)
class HeterogeneityResult(_Result):
    """What I^2 = 93% means for a new trial of fasting C-peptide at 12 months.

    ``ci`` is the reported 95% CI of the pooled MD, ``pi`` the 95% prediction interval of a new
    trial's true effect (t with k - 2 df, scale ``sqrt(SE^2 + tau^2)``), ``p_le0`` the
    probability that a new trial's true effect is <= 0 (closed form, t; ``p_le0_normal`` the
    normal version) and ``p_le0_sim`` the share of the engine's drawn trial effects <= 0.
    """

    seed: int
    n_trials: int
    preset: str
    outcome: str
    unit: str
    visit_months: int
    alpha: float
    row: dict
    md: float
    se: float
    i2: float
    k: int
    tau2: float
    tau: float
    df: float
    pred_scale: float
    ci: tuple[float, float]
    pi: tuple[float, float]
    width_ratio: float
    true_range: tuple[float, float]
    p_le0: float
    p_le0_normal: float
    p_le0_sim: float
    p_le0_sim_mc_se: float
    theta_grid: np.ndarray
    density: np.ndarray
    ns: np.ndarray
    power: np.ndarray
    power_mc_se: np.ndarray
    n80: int
    n80_power: float
    n80_mc_se: float
    n80_analytic: int | None
    variants: tuple[HetVariant, ...]

    def headline(self) -> list[str]:
        v = self.variants[-1]
        return [
            f"pooled MD {self.md:+.2f} {self.unit}, 95% CI {self.ci[0]:+.2f} to {self.ci[1]:+.2f};"
            f" I2 = {self.i2:g}% -> tau = {self.tau:.3f}; 95% prediction interval "
            f"{self.pi[0]:+.2f} to {self.pi[1]:+.2f} ({self.width_ratio:.1f}x wider)",
            f"P(new trial's true effect <= 0) = {self.p_le0:.3f} (closed form); simulated "
            f"{_pm(self.p_le0_sim, self.p_le0_sim_mc_se)}",
            f"N = {self.n80} per arm for 80% power; assurance there "
            f"{_pm(v.assurance_n80, v.assurance_n80_mc_se)}"
            f", ceiling {v.ceiling:.3f}",
        ]


def heterogeneity(seed: int = LESSON_SEED, n_trials: int = 10_000, *, n_max: int = 250,
                  i2_values: tuple[float, ...] = (0.0, 50.0)) -> HeterogeneityResult:
    """Compute the heterogeneity lesson.

    Evidence: Kashbour 2025 12-month fasting C-peptide, all diabetes (+0.24 ng/mL, I^2 = 93%,
    k = 10). A new trial in the T2D preset (ANCOVA on the natural scale): power at the pooled
    estimate, and assurance under the predictive distribution with the reported I^2 and, for
    comparison, with each of ``i2_values`` (same MD, SE and k). One engine pass per I^2 over
    every N from 3 to ``n_max``.

    Returns
    -------
    HeterogeneityResult
    """
    _check_args(seed, n_trials)
    eff = {"source": "evidence", "population": "all", "distribution": "predictive",
           "predictive_dist": "t"}
    base = _model(_scenario("lesson_heterogeneity", "t2d", "fasting_cpeptide", 12, eff,
                                 seed=seed, n_trials=n_trials))
    row = base.evidence_row
    md, se, i2, k = base.endpoint_md, float(row["se"]), float(row["i2"]), int(row["k"])
    dist = base.distribution
    tau2 = dist.scale ** 2 - se * se
    df = dist.df
    tq = float(stats.t.ppf(0.975, df))
    ci = (float(row["ci_low"]), float(row["ci_high"]))
    pi = (md - tq * dist.scale, md + tq * dist.scale)
    ns = np.arange(3, int(n_max) + 1)
    ns_closed = np.unique(np.round(np.geomspace(3, n_max, 12)).astype(int))
    msc = base.scenario.design.n_msc
    point = _model(_scenario("lesson_heterogeneity_point", "t2d", "fasting_cpeptide", 12,
                                  {"source": "evidence", "population": "all"}, seed=seed,
                                  n_trials=n_trials))
    # power = P(significant benefit) at the pooled estimate (the engine's success count with a
    # point effect), the same event as assurance
    power_out = simulate(point, ns, n_trials=n_trials, seed=seed)
    variants = []
    for v_i2 in tuple(i2_values) + (None,):
        if v_i2 is None:
            model, label, vi2 = base, f"I² = {i2:g}% (reported)", i2
        else:
            model = _model(_scenario("lesson_heterogeneity", "t2d", "fasting_cpeptide", 12,
                                          {**eff, "i2": float(v_i2)}, seed=seed,
                                          n_trials=n_trials))
            label, vi2 = f"I² = {v_i2:g}% (hypothetical)", float(v_i2)
        out = simulate(model, ns, n_trials=n_trials, seed=seed)
        a, a_se = _rates(out.rej_assur, n_trials)
        ac = np.array([analytic_assurance(model, int(n), msc(int(n))) for n in ns_closed])
        d = model.distribution
        sgn = -1.0 if model.outcome_def.better == "lower" else 1.0
        variants.append((label, vi2, d.scale ** 2 - se * se, d.scale, a, a_se, ac,
                         float(stats.t.cdf(sgn * d.mean / d.scale, d.df)), model, out))
    pw, pse = _rates(power_out.rej_assur, n_trials)
    ss = _read(point, power_out, 0.8, seed, int(n_max), kind="assurance")
    if ss.n_per_arm is None:
        raise SimtrialError(f"lesson error: n_max = {n_max} is too small to reach 80% power")
    n80 = ss.n_per_arm
    i80 = int(np.flatnonzero(ns == n80)[0])
    hv = tuple(HetVariant(label=lb, i2=vi2, tau2=t2, pred_scale=sc, assurance=a,
                          assurance_mc_se=ase, ns_closed=ns_closed, assurance_closed=ac,
                          ceiling=ceil, assurance_n80=float(a[i80]),
                          assurance_n80_mc_se=float(ase[i80]), n80_assurance=_crossing(a, ns, 0.8))
               for lb, vi2, t2, sc, a, ase, ac, ceil, _, _ in variants)
    keep = simulate(base, [n80], n_trials=n_trials, seed=seed, keep=0)
    ple, ple_se = _rate(int(np.sum(keep.kept_theta <= 0.0)), n_trials)
    lo_t, hi_t = dist.ppf_range(1e-3)
    grid = np.linspace(lo_t, hi_t, 241)
    tau = math.sqrt(tau2)
    return HeterogeneityResult(
        seed=seed, n_trials=n_trials, preset="t2d", outcome="fasting_cpeptide",
        unit=base.outcome_def.unit, visit_months=12, alpha=base.scenario.design.alpha, row=row,
        md=md, se=se, i2=i2, k=k, tau2=tau2, tau=tau, df=df, pred_scale=dist.scale, ci=ci,
        pi=pi, width_ratio=(pi[1] - pi[0]) / (ci[1] - ci[0]),
        true_range=(md - Z975 * tau, md + Z975 * tau),
        p_le0=float(stats.t.cdf(-md / dist.scale, df)),
        p_le0_normal=float(stats.norm.cdf(-md / dist.scale)), p_le0_sim=ple,
        p_le0_sim_mc_se=ple_se, theta_grid=grid,
        density=stats.t.pdf((grid - md) / dist.scale, df) / dist.scale, ns=ns, power=pw,
        power_mc_se=pse, n80=n80, n80_power=ss.power, n80_mc_se=ss.mc_se,
        n80_analytic=ss.analytic_n_per_arm, variants=hv)


def _sections_heterogeneity(res: HeterogeneityResult):
    rep = res.variants[-1]
    row = res.row
    s1 = Section("What I² measures", [
        f"The pooled 12-month fasting C-peptide MD is {res.md:+.2f} {res.unit}, 95% CI "
        f"{res.ci[0]:+.2f} to {res.ci[1]:+.2f}, with I² = {res.i2:g}% across k = {res.k} trials "
        f"({_cite(row)}).",
        f"I² is the share of the spread among the trials' results that is not sampling error: "
        f"at {res.i2:g}%, the trials genuinely disagree about the size of the effect. Converted "
        f"to a between-trial variance (tau² = I²·k·SE² = {res.tau2:.4f}, DERIVED; tau = "
        f"{res.tau:.3f} {res.unit}), the true effects of trials like these range over about "
        f"{res.true_range[0]:+.2f} to {res.true_range[1]:+.2f} {res.unit} (mean ± 1.96 tau). "
        + ("The typical trial-to-trial difference (tau) is larger than the mean effect itself."
         if res.tau > abs(res.md) else
         f"The typical trial-to-trial difference (tau) is {res.tau / abs(res.md):.0%} of the "
         "mean effect."),
        "The confidence interval describes the uncertainty of the *average* effect over trials "
        "like these. A new trial does not get the average: it gets its own effect, drawn from "
        "that wide spread.",
    ])
    s2 = Section("The prediction interval", [
        f"The 95% prediction interval for the true effect in a new trial (t with k - 2 = "
        f"{res.df:g} df, scale sqrt(SE² + tau²) = {res.pred_scale:.3f}; Higgins, Thompson and "
        f"Spiegelhalter 2009) is {res.pi[0]:+.2f} to {res.pi[1]:+.2f} {res.unit}, "
        f"{res.width_ratio:.1f} times as wide as the confidence interval and well across zero.",
        f"The probability that the new trial's true effect is zero or harmful is "
        f"{res.p_le0:.3f} (closed form; {res.p_le0_normal:.3f} with a normal instead of a t). The "
        f"engine, drawing one true effect per simulated trial, finds "
        f"{_pm(res.p_le0_sim, res.p_le0_sim_mc_se)}.",
    ])
    s2.figures.append(_figure("heterogeneity_intervals", plots.plot_heterogeneity_intervals, res,
                              "Predictive density of a new trial's true effect, the share at or "
                              "below zero shaded; pooled 95% CI and 95% prediction interval."))
    others = "; ".join(f"{v.label}: {_pm(v.assurance_n80, v.assurance_n80_mc_se)}, ceiling "
                       f"{v.ceiling:.3f}" for v in res.variants[:-1])
    s3 = Section("Consequence for the next trial", [
        f"On the T2D population preset a new trial needs {res.n80} patients per arm for 80% "
        f"power at the pooled estimate (power there {_pm(res.n80_power, res.n80_mc_se)}; closed "
        f"form {res.n80_analytic}). Under the predictive distribution its probability of "
        f"success is {_pm(rep.assurance_n80, rep.assurance_n80_mc_se)}"
        + (", and no size rescues it" if rep.ceiling < 0.8 else "")
        + f": assurance cannot exceed the probability that the effect is beneficial, "
        f"{rep.ceiling:.3f}. 80% assurance "
        + (f"is reached at {rep.n80_assurance} per arm." if rep.n80_assurance is not None
           else f"is not reached by {int(res.ns[-1])} per arm."),
        f"With the same pooled MD and SE but less heterogeneity the picture changes: at "
        f"{res.n80} per arm, {others}.",
        "Practical reading: with I² this high, the question for the next trial is less 'how "
        "many patients' than 'which patients, which cells, which regimen': the between-trial "
        "differences (population, cell source, dose, single influential trials) are the signal "
        "to explain, "
        "for instance with effect modifiers or a stratified design.",
    ])
    s3.figures.append(_figure("heterogeneity_assurance", plots.plot_heterogeneity_assurance, res,
                              "Power at the pooled estimate and assurance under the predictive "
                              "distribution for several I² against N per arm (95% Monte Carlo "
                              "bands; crosses: closed form; dotted: ceilings)."))
    return [s1, s2, s3]


# ---------------------------------------------------------------------------------------------
# registry and runner
# ---------------------------------------------------------------------------------------------

def _figure(name: str, fn: Callable, res, caption: str, **kw):
    """Draw ``fn(res, ax=ax, **kw)`` on a new figure and wrap it for the report."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=120)
    fn(res, ax=ax, **kw)
    fig.tight_layout()
    return Figure(name, fig, caption)


@dataclass(frozen=True)
class Lesson:
    """A registered lesson: ``compute(seed, n_trials)`` -> result; ``sections(result)`` ->
    report sections."""

    name: str
    title: str
    summary: str
    compute: Callable[..., Any]
    sections: Callable[[Any], list]
    default_n_trials: int


LESSONS: dict[str, Lesson] = {les.name: les for les in (
    Lesson("winners-curse", "The winner's curse",
           "among small trials that reach significance, the estimated effect is inflated",
           winners_curse, _sections_winners_curse, 20_000),
    Lesson("fading-effects", "Effects that fade",
           "3-month stimulated C-peptide and HOMA-IR gains are gone by 12 months: what a "
           "3-month endpoint would conclude", fading_effects, _sections_fading, 10_000),
    Lesson("assurance-vs-power", "Assurance versus power",
           "80% power at the pooled estimate is a lower probability of success under the "
           "predictive distribution", assurance_vs_power, _sections_assurance, 20_000),
    Lesson("t1d-vs-t2d", "T1D versus T2D",
           "a 12-month HbA1c trial needs far more patients in T2D than in T1D; insulin dose "
           "needs few", t1d_vs_t2d, _sections_t1d_t2d, 20_000),
    Lesson("heterogeneity", "Heterogeneity",
           "what I² = 93% for fasting C-peptide means for a new trial", heterogeneity,
           _sections_heterogeneity, 10_000),
)}


def get_lesson(name: str) -> Lesson:
    """The registered lesson ``name``; one-line :class:`SimtrialError` listing the valid names
    otherwise."""
    les = LESSONS.get(name)
    if les is None:
        import difflib
        hint = difflib.get_close_matches(str(name), list(LESSONS), n=1, cutoff=0.5)
        did = f" (did you mean {hint[0]}?)" if hint else ""
        raise SimtrialError(f"lesson error: {name!r} is not a lesson{did}; valid: "
                            f"{', '.join(LESSONS)} (or all)")
    return les


def compute_lesson(name: str, *, seed: int | None = None, n_trials: int | None = None):
    """Run a lesson's computation (no files): its frozen result."""
    les = get_lesson(name)
    seed = LESSON_SEED if seed is None else seed
    n_trials = les.default_n_trials if n_trials is None else n_trials
    _check_args(seed, n_trials)
    return les.compute(seed, n_trials)


@dataclass(frozen=True)
class LessonRun:
    """What :func:`run_lesson` computed and wrote."""

    lesson: Lesson
    result: Any
    out_dir: Path
    paths: dict[str, Path]
    timings: dict[str, float]

    @property
    def report(self) -> Path:
        return self.paths["report.html"]


def run_lesson(name: str, out_dir, *, seed: int | None = None,
               n_trials: int | None = None) -> LessonRun:
    """Compute a lesson and write it to ``out_dir/<name>/``: ``report.html`` (self-contained),
    ``figures/<name>.png|svg`` and ``lesson.json`` (the numbers behind the figures and text,
    with seed, versions and timings).

    Parameters
    ----------
    name : str
        A key of :data:`LESSONS`.
    out_dir : path-like
        Root folder; the lesson goes to ``out_dir/<name>``.
    seed : int, optional
        Default :data:`LESSON_SEED`.
    n_trials : int, optional
        Replicate trials per design point (default: the lesson's).

    Returns
    -------
    LessonRun
    """
    les = get_lesson(name)
    seed = LESSON_SEED if seed is None else seed
    n_trials = les.default_n_trials if n_trials is None else n_trials
    _check_args(seed, n_trials)
    t0 = time.perf_counter()
    res = les.compute(seed, n_trials)
    t1 = time.perf_counter()
    sections = les.sections(res)
    sections.append(Section("Reproduce", [
        f"simtrial lesson {les.name} --seed {seed}" + (
            "" if n_trials == les.default_n_trials else f" (n_trials = {n_trials})")
        + f"; simtrial {__version__}, evidence {ev.evidence_version()}. The numbers behind "
          "every figure and sentence are in lesson.json beside this file.",
    ]))
    folder = Path(out_dir) / les.name
    paths = write_document(folder, les.title, sections, subtitle=f"simtrial lesson: {les.summary}")
    t2 = time.perf_counter()
    timings = {"compute_s": round(t1 - t0, 3), "report_s": round(t2 - t1, 3)}
    doc = {"lesson": les.name, "title": les.title, "summary": les.summary, "seed": seed,
           "n_trials": n_trials, "simtrial_version": __version__,
           "evidence_version": ev.evidence_version(), "headline": res.headline(),
           "numbers": res.to_dict(), "files": sorted(paths), "timings": timings}
    paths["lesson.json"] = atomic_write_text(folder / "lesson.json",
                                             json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return LessonRun(les, res, folder, paths, timings)
