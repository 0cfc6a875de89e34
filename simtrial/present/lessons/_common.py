"""Helpers shared by the lessons: scenarios in code, cached models, Monte Carlo rates,
the engine's search, evidence rows and number formatting, and the closed-form mean of
significant estimates."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Callable

import numpy as np
from scipy import stats

from ...errors import SimtrialError
from ...io.outputs import to_jsonable
from ...model import evidence as ev
from ...model.design import build_design
from ...model.stratum import build_model
from ...oc.build import points
from ...oc.run import grid_search
from ...oc.search import crossing, sample_size_of, smallest_valid_n
from ...scenario import parse_scenario, Scenario
from ...sim.driver import Simulated
from ...stats.mc import mean_se, rate_se, wilson
from ..html import Figure

LESSON_SEED = 20261122
"""Default seed of every lesson (the shipped scenarios' seed)."""
MIN_TRIALS = 200
"""Fewest replicate trials a lesson accepts (conditional means need a few dozen successes)."""


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------

def make_scenario(name: str, preset: str, outcome: str, visit: int, effect: dict, *, seed: int,
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


def cached_build(kind: str, sc: Scenario, build: Callable[[Scenario], Any]):
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


def model_of(sc: Scenario):
    return cached_build("model", sc, build_model)


def design_of(sc: Scenario):
    return cached_build("design", sc, build_design)


def rates(k, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Proportions k / n and their binomial Monte Carlo SEs."""
    p = np.asarray(k, dtype=float) / n
    return p, np.sqrt(p * (1.0 - p) / n)


def rate_of(k: float, n: int) -> tuple[float, float]:
    """Proportion k / n and its binomial Monte Carlo SE (NaN for n = 0)."""
    p = float(k) / n if n else math.nan
    return p, rate_se(p, n)


def mean_of(x: np.ndarray) -> tuple[float, float]:
    """Mean and its Monte Carlo SE (SD / sqrt(n)); nan for fewer than 2 values."""
    x = np.asarray(x, dtype=float)
    if x.size < 2:
        return (float(x.mean()) if x.size else math.nan), math.nan
    return mean_se(x)


def crossing_n(power_by_n: np.ndarray, ns: np.ndarray, target: float) -> int | None:
    """Smallest n from which power stays >= target over the rest of the grid ``ns``
    (:func:`simtrial.oc.search.crossing`)."""
    return crossing(dict(zip((int(n) for n in ns), (float(p) for p in power_by_n))), target,
                    int(ns[0]))[0]


def read_n(model, out, target: float, seed: int, hi: int, kind: str = "power"):
    """The engine's SampleSize read off a dense prefix-kernel grid ``out`` (SimOutput)."""
    dm = design_of(model.scenario)
    sim = Simulated("prefix", tuple(int(n) for n in out.n0), out.n_trials, seed, out.elapsed_s,
                    prefix=out)
    return sample_size_of(dm, points(dm, sim), target, kind, hi, smallest_valid_n(dm))


def search_n(model, target: float, n_trials: int, seed: int, kind: str = "power"):
    """(SampleSize, dense-grid SimOutput, largest N simulated) of the engine's search."""
    sim, sizes = grid_search(design_of(model.scenario), [target], (kind,), n_trials=n_trials,
                             seed=seed)
    return sizes[0], sim.prefix, max(sim.ns)


def n_range(k: np.ndarray, n_trials: int, ns: np.ndarray, target: float
             ) -> tuple[int | None, int | None]:
    """Range of N consistent with Monte Carlo error: the crossings of the upper and of the lower
    95% Wilson bounds of the simulated power curve (see :func:`simtrial.oc.search.crossing`)."""
    lo = np.array([wilson(int(x), n_trials)[0] for x in k])
    hi = np.array([wilson(int(x), n_trials)[1] for x in k])
    return crossing_n(hi, ns, target), crossing_n(lo, ns, target)


def evidence_row_of(outcome: str, month: int, population: str, row_id: str | None = None) -> dict:
    """An evidence row as plain data."""
    return ev.select_row(outcome, month, population, row_id).to_dict()


def cite(row: dict) -> str:
    """Short provenance of an evidence row: source, flag, id."""
    return f"{row['source']}, {row['flag']}, row {row['id']}"


def pm(x: float, se: float, digits: int = 3, unit: str = "", sign: bool = False) -> str:
    """``x unit (MC SE se)``."""
    return f"{x:{'+' if sign else ''}.{digits}f}{unit_text(unit)} (MC SE {se:.{digits}f})"


def unit_text(unit: str) -> str:
    """A unit as written after a number: ``%`` directly, others after a space."""
    return "" if not unit else (unit if unit == "%" else f" {unit}")


def range_text(r: tuple[int | None, int | None]) -> str:
    """A Monte Carlo range of N, open-ended when a bound is not reached on the grid."""
    lo, hi = r
    if hi is not None:
        return f"{lo}-{hi}"
    return f"{lo} or more" if lo is not None else "beyond the grid"


def p_text(row: dict) -> str:
    p, rel = row.get("p_value"), row.get("p_relation")
    if p is None or rel is None:
        return "not significant" if rel == "ns" else ("significant" if rel == "sig" else "")
    return f"P {'=' if rel == '=' else '<'} {p:g}"


def check_args(seed: int, n_trials: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SimtrialError(f"lesson error: seed = {seed!r} must be an integer >= 0 "
                            "(e.g. seed = 1)")
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) \
            or not MIN_TRIALS <= n_trials <= 1_000_000:
        raise SimtrialError(f"lesson error: n_trials = {n_trials!r} must be an integer in "
                            f"[{MIN_TRIALS}, 1000000] (e.g. n_trials = 10000)")


def jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    return to_jsonable(obj)


class LessonResult:
    """Mixin: ``to_dict()`` gives the JSON-ready numbers behind the figures and the text."""

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self)


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



def lesson_figure(name: str, fn: Callable, res, caption: str, **kw):
    """Draw ``fn(res, ax=ax, **kw)`` on a new figure and wrap it for the report."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=120)
    fn(res, ax=ax, **kw)
    fig.tight_layout()
    return Figure(name, fig, caption)
