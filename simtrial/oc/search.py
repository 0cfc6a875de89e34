"""One definition of the sample size, one search, for every design.

The sample size for a target is the smallest control-arm size N from which the simulated power
(or assurance) of the primary hypothesis stays at or above the target at every larger simulated
N (robust to a Monte Carlo dip just past the crossing), with the closed form beside it wherever
one exists. Every evaluation uses the same patients (common random numbers).

The search adapts to the kernel through :func:`next_sizes`, not through a second definition:

* the sums kernels (prefix-sum and sufficient-statistics) evaluate every N from the smallest
  valid one up to a bound at once, so the bound starts at 1.25 x the largest closed-form N (+5)
  and doubles until every target is reached (or the cap);
* the full kernel's cost is the analyses (an MMRM fit costs the same at every N), so the search
  evaluates as few sizes as it can: from the design N it predicts the crossing (probit of power
  linear in sqrt(N), the shape of a z-test's power; through one point with the closed-form
  intercept, else between the two points around the gap), evaluates the predicted size and the
  one below it in one pass (one draw at the larger), and repeats inside the remaining gap until
  the largest size below the target and the smallest above it are adjacent. Sizes above every
  evaluated one are predicted the same way (+15%, at most 4x).
"""

from __future__ import annotations

import math
from typing import Callable

from scipy import special

from ..model.design import DesignModel
from ..sim.driver import SUM_KERNELS, valid_n
from .closed_form import analytic_assurance_n, analytic_sample_size, per_object
from .results import PointResult, SampleSize, has_closed_form

__all__ = ["crossing", "next_sizes", "smallest_valid_n", "sample_size_of", "analytic_n",
           "value_of", "search", "pursued"]


def value_of(p: PointResult, kind: str) -> float:
    """Primary-hypothesis power, or assurance: the probability of a significant result in the
    direction of benefit, over the effect distribution (at the point effect without one)."""
    st = p.stats[0]
    if kind == "assurance":
        k = st.assurance if st.assurance is not None else st.success
    else:
        k = st.reject
    return k / p.n_trials


def smallest_valid_n(dm: DesignModel, lo: int = 3) -> int:
    """Smallest control-arm size >= ``lo`` whose every arm and group can be analysed."""
    n = lo
    while not valid_n(dm, n):
        n += 1
        if n > 10_000:
            raise ValueError("no analysable control-arm size up to 10,000")
    return n


def crossing(values: dict[int, float], target: float, n_min: int
             ) -> tuple[int | None, tuple[int, int] | None]:
    """``(answer, gap)`` over the evaluated sizes ``values`` (N -> power).

    ``answer`` is the smallest evaluated N from which every evaluated N is >= target, provided
    the size just below it is known to fall short (evaluated below target, or below ``n_min``);
    ``gap = (below, above)`` is the pair of evaluated sizes that still has unevaluated sizes in
    between (None when ``answer`` is final or nothing reaches the target).
    """
    ns = sorted(values)
    below = [n for n in ns if values[n] < target]
    last_below = below[-1] if below else n_min - 1
    above = [n for n in ns if n > last_below]
    if not above:
        return None, None
    a = above[0]
    if a - last_below > 1:
        return None, (last_below, a)
    return a, None


def _probit(p: float) -> float:
    return float(special.ndtri(min(max(p, 1e-4), 1.0 - 1e-4)))


def _predict(values: dict[int, float], target: float, lo: int | None, hi: int,
             z: float) -> float:
    """Where the power curve crosses ``target``: linear in (sqrt(N), probit(power)) between
    two evaluated sizes, or through one size with the closed-form shape
    ``probit(power) = c sqrt(N) - z`` (power of a z-test in N)."""
    q_t = _probit(target)
    q_hi = _probit(values[hi])
    if lo is not None and lo in values:
        q_lo = _probit(values[lo])
        if q_hi > q_lo:
            s = (q_t - q_lo) / (q_hi - q_lo)
            return (math.sqrt(lo) + s * (math.sqrt(hi) - math.sqrt(lo))) ** 2
        return 0.5 * (lo + hi)
    c = (q_hi + z) / math.sqrt(hi)
    if c <= 0:
        return 0.5 * hi
    return ((q_t + z) / c) ** 2


def _fill(gap: tuple[int, int], dm: DesignModel, values: dict[int, float], target: float,
          z: float, n_min: int) -> list[int]:
    """Sizes inside the gap (below, above) to evaluate next: the predicted crossing and the size
    just below it, so that one pass usually settles the answer."""
    lo, hi = gap
    inner = [n for n in range(lo + 1, hi) if valid_n(dm, n)]
    if not inner:
        return list(range(lo + 1, hi))[:1]
    if len(inner) <= 2:
        return inner
    guess = _predict(values, target, lo if lo >= n_min else None, hi, z)
    n_star = int(math.ceil(guess - 1e-9))
    if n_star >= hi:                 # predicted at the upper end: is the size below it short?
        return [inner[-1]]
    if n_star <= inner[0]:           # predicted at the lower end: does the first one reach it?
        return [inner[0]]
    return sorted({n for n in (n_star - 1, n_star) if n in inner}) or [inner[len(inner) // 2]]


def _beyond(values: dict[int, float], target: float, top: int, cap: int, z: float) -> int:
    """Next size above every evaluated one when none reaches the target: the predicted crossing
    plus 15%, at least one more than the top and at most 4 x the top (doubling when the
    prediction is unusable)."""
    p = values[top]
    if 0.02 < p < target:
        n = _predict(values, target, None, top, z) * 1.15
        if math.isfinite(n):
            return int(min(cap, max(top + 1, min(4 * top, math.ceil(n)))))
    return int(min(cap, 2 * top))


def pursued(dm: DesignModel, target: float, kind: str) -> bool:
    """False for an assurance target that the closed form says is never reached (assurance
    plateaus below 1): it is reported as not reached without simulating to the cap."""
    return not (kind == "assurance" and has_closed_form(dm, dm.hypotheses[0])
                and analytic_n(dm, target, kind) is None)


def next_sizes(dm: DesignModel, kernel: str, values: dict[int, float], targets: list[float],
               cap: int, n_min: int, kind: str = "power") -> list[int]:
    """Sizes to evaluate next so that every target's answer becomes final (empty when done)."""
    want: set[int] = set()
    top = max(values)
    sc = dm.scenario
    z = float(special.ndtri(1.0 - sc.design.alpha / sc.design.sides))
    for t in targets:
        if not pursued(dm, t, kind):
            continue
        ans, gap = crossing(values, t, n_min)
        if ans is not None:
            continue
        if gap is not None:
            want.update(_fill(gap, dm, values, t, z, n_min))
        elif top < cap:            # nothing reaches the target yet: look further
            want.add(_beyond(values, t, top, cap, z) if kernel == "full" else min(cap, 2 * top))
    if kernel in SUM_KERNELS and want:  # a sums kernel evaluates every size up to its bound
        hi = max(want)
        return [n for n in range(n_min, hi + 1) if valid_n(dm, n)]
    return sorted(n for n in want if n not in values)


@per_object
def analytic_n(dm: DesignModel, target: float, kind: str) -> int | None:
    """Closed-form sample size of the primary hypothesis (None if none exists or > cap)."""
    cap = dm.scenario.design.max_n_per_arm
    h0 = dm.hypotheses[0]
    if len(dm.arms) != 1 or dm.arms[0].effect_scale != 1.0 or not has_closed_form(dm, h0):
        return None
    m = dm.models[0]
    if kind == "power":
        return analytic_sample_size(m, target, n_max=cap)
    return analytic_assurance_n(m, target, cap)


def sample_size_of(dm: DesignModel, points: dict[int, PointResult], target: float, kind: str,
                   searched_max: int, n_min: int) -> SampleSize:
    """The :class:`SampleSize` for ``target`` read off the evaluated points."""
    sc = dm.scenario
    values = {n: value_of(p, kind) for n, p in points.items()}
    ans, _ = crossing(values, target, n_min)
    if ans is None:
        pw = se = math.nan
        sizes = None
    else:
        p = points[ans]
        pw = values[ans]
        se = math.sqrt(pw * (1 - pw) / p.n_trials)
        sizes = tuple(int(x) for x in p.arm_sizes)
    p0 = next(iter(points.values()))
    return SampleSize(scenario=sc.name, hypothesis=dm.hypotheses[0].label, target=kind,
                      target_power=float(target), n_per_arm=ans, arm_sizes=sizes, power=pw,
                      mc_se=se, analytic_n_per_arm=analytic_n(dm, target, kind),
                      searched_max=int(searched_max), n_trials=p0.n_trials, seed=p0.seed)


def initial_bound(dm: DesignModel, targets: list[float], kinds: tuple[str, ...],
                  extra: tuple[int, ...]) -> int:
    """First upper bound of a sums kernel's dense grid: 1.25 x the largest closed-form N
    over the reachable targets (+5), at least 20 and the sizes in ``extra``; a power target the
    closed form does not reach by the cap (or with no closed form) starts at the cap only if
    nothing else is known."""
    cap = dm.scenario.design.max_n_per_arm
    need = []
    for kind in kinds:
        for t in targets:
            an = analytic_n(dm, t, kind)
            if an is not None:
                need.append(an)
            elif kind == "power" and has_closed_form(dm, dm.hypotheses[0]):
                need.append(cap)   # power -> 1 with N: "not reached" means "not by the cap"
    guess = max(need or [20])
    return int(min(cap, max(20, math.ceil(1.25 * guess) + 5, *extra)))


def search(dm: DesignModel, simulate_at: Callable[[list[int]], dict[int, PointResult]],
           kernel: str, targets: list[float], kinds: tuple[str, ...], start: list[int]
           ) -> tuple[dict[int, PointResult], list[SampleSize]]:
    """Evaluate ``start``, then :func:`next_sizes` until every target's answer is final.

    ``simulate_at(ns)`` simulates the given sizes (one draw). Assurance can plateau below a
    target; its search stops at the cap like power's.
    """
    cap = dm.scenario.design.max_n_per_arm
    n_min = smallest_valid_n(dm)
    pts = dict(simulate_at(sorted(set(start))))
    if targets:
        for kind in kinds:
            while True:
                values = {n: value_of(p, kind) for n, p in pts.items()}
                nxt = next_sizes(dm, kernel, values, targets, cap, n_min, kind)
                if kernel in SUM_KERNELS and nxt and max(nxt) <= max(pts):
                    nxt = []
                if not nxt:
                    break
                if kernel in SUM_KERNELS:
                    pts = dict(simulate_at(sorted(set(nxt) | set(start))))
                else:
                    pts.update(simulate_at(nxt))
    searched = max(pts)
    sizes = [sample_size_of(dm, pts, t, kind, searched, n_min) for kind in kinds
             for t in targets]
    return pts, sizes
