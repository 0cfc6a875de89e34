"""The public entry points: ``simulate``, ``power``, ``sample_size`` and ``run``.

Every scenario goes through the same code: it resolves to one design
(:func:`~simtrial.model.design.build_design`), the driver picks the kernel
(:func:`~simtrial.sim.driver.kernel_for`), and the results are one type
(:mod:`simtrial.oc.results`). The Python API and the CLI call these functions, so they return
the same numbers for every scenario.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Iterable

import numpy as np

from ..errors import SimtrialError, fmt_value
from ..model.design import DesignModel, build_design, dropout_hazards, group_sizes
from ..scenario import Scenario
from ..sim import driver
from . import adaptive, bayes
from .build import points
from .compare import Comparison, check_scenarios, comparison
from .mde import MinimumEffect, check_mde, solve_mde
from .results import PointResult, RunResult, SampleSize
from .search import analytic_n, initial_bound, search, smallest_valid_n

__all__ = ["design_of", "choose_kernel", "simulate", "power", "sample_size", "mde", "run",
           "compare", "auto_grid"]


def design_of(obj) -> DesignModel:
    """Accept a Scenario, a DesignModel, or a stratum model (its scenario is used)."""
    if isinstance(obj, DesignModel):
        return obj
    if isinstance(obj, Scenario):
        return build_design(obj)
    sc = getattr(obj, "scenario", None)
    if isinstance(sc, Scenario):
        return build_design(sc)
    raise TypeError(f"expected a Scenario or DesignModel, got {type(obj).__name__}")


def _with(dm: DesignModel, n_trials, seed) -> tuple[int, int]:
    sc = dm.scenario
    return (sc.n_trials if n_trials is None else int(n_trials),
            sc.seed if seed is None else int(seed))


def simulate(scenario, ns: Iterable[int], *, n_trials: int | None = None,
             seed: int | None = None, workers: int = 1, progress: bool = False,
             keep: Iterable[int] = (), kernel: str | None = None,
             chunks: Iterable[int] | None = None) -> dict[int, PointResult]:
    """Operating characteristics at every control-arm size in ``ns`` (one draw, common random
    numbers): ``{N: PointResult}``. ``kernel`` forces ``"suffstat"``, ``"prefix"`` or
    ``"full"``; by default the fastest kernel that is exact for the design
    (:func:`~simtrial.sim.driver.kernel_for`)."""
    dm = design_of(scenario)
    n_trials, seed = _with(dm, n_trials, seed)
    kernel = choose_kernel(dm, kernel)
    bayes.check(dm, kernel)
    adaptive.check(dm, kernel=kernel)
    keep = tuple(keep)
    for n in keep:
        adaptive.check(dm, int(n), kernel)
    sim = driver.simulate(dm, list(ns), n_trials=n_trials, seed=seed, workers=workers,
                          progress=progress, keep=keep, kernel=kernel, chunks=chunks)
    out = points(dm, sim)
    if dm.scenario.adaptive is not None:    # the adaptive design at each kept planned size
        for n in keep:
            if n in out:
                ad = adaptive.simulate(dm, int(n), n_trials=n_trials, seed=seed,
                                       workers=workers, chunks=chunks, kernel=kernel)
                out[n] = dataclasses.replace(out[n], extra=out[n].extra
                                             + tuple(adaptive.rows(dm, ad)))
    return out


def _check_n(dm: DesignModel, n: int) -> None:
    if not driver.valid_n(dm, n):
        sizes = (", ".join(str(int(x)) for x in group_sizes(dm, n).sum(axis=0)) if n >= 1
                 else str(n))
        raise SimtrialError(f"error: n_per_arm = {n} gives arms of {sizes} patients; every arm "
                            "needs >= 2 (and every stratum >= 1)")


def power(scenario, n_per_arm: int | None = None, *, n_trials: int | None = None,
          seed: int | None = None, workers: int = 1, keep_trials: bool = True,
          progress: bool = False, kernel: str | None = None) -> PointResult:
    """Simulated operating characteristics at one control-arm size (default the design N).

    Returns
    -------
    PointResult
        ``.power`` / ``.mc_se`` of the primary hypothesis, ``.to_frame()`` every metric with its
        MC SE and the closed form, ``.trials`` the per-trial arrays (``keep_trials``).
    """
    dm = design_of(scenario)
    n = dm.scenario.design.n_per_arm if n_per_arm is None else int(n_per_arm)
    _check_n(dm, n)
    return simulate(dm, [n], n_trials=n_trials, seed=seed, workers=workers, progress=progress,
                    keep=(n,) if keep_trials else (), kernel=kernel)[n]


def _targets(target_power) -> list[float]:
    ts = [target_power] if isinstance(target_power, (int, float)) else list(target_power)
    for t in ts:
        if not 0.0 < float(t) < 1.0:
            raise SimtrialError(f"error: target_power = {t} must be in (0, 1) (e.g. 0.8)")
    return [float(t) for t in ts]


def _kinds(dm: DesignModel, target: str | None) -> tuple[str, ...]:
    if target is not None:
        if target not in ("power", "assurance"):
            raise SimtrialError(f"error: target = {target!r} must be one of power | assurance")
        return (target,)
    return (dm.scenario.design.target,)


def choose_kernel(dm: DesignModel, kernel: str | None = None) -> str:
    """The kernel a command runs: :func:`~simtrial.sim.driver.kernel_for` for ``None`` or
    ``"auto"``, else ``kernel`` if it serves ``dm`` (a one-line SimtrialError if not). Forcing
    ``"prefix"`` where the sufficient-statistics kernel would be chosen gives the per-trial
    estimates of the patients ``simtrial simulate`` exports (the same distribution, other
    random numbers)."""
    if kernel is None or kernel == "auto":
        return driver.kernel_for(dm)
    if kernel not in driver.KERNELS:
        raise SimtrialError(f"kernel = {fmt_value(kernel)} is not one of auto, "
                            + ", ".join(driver.KERNELS))
    if kernel in driver.SUM_KERNELS and not driver.SUM_KERNELS[kernel].supports(dm):
        serve = [k for k in driver.KERNELS
                 if k not in driver.SUM_KERNELS or driver.SUM_KERNELS[k].supports(dm)]
        raise SimtrialError(f"kernel = {fmt_value(kernel)} does not serve this design; "
                            f"allowed here: auto, {', '.join(serve)}")
    return kernel


def _simulate_at(dm, n_trials, seed, workers, progress, keep, kernel=None):
    def at(ns):
        return simulate(dm, ns, n_trials=n_trials, seed=seed, workers=workers,
                        progress=progress, keep=keep, kernel=kernel)
    return at


def _guesses(dm: DesignModel, targets, kinds) -> list[int]:
    """First sizes for the full kernel's search: the complete-data closed-form N of each target
    (where one exists) divided by the share of patients expected to reach the endpoint visit,
    so that the first pass usually brackets the answer."""
    sc = dm.scenario
    k = dm.visit_index(sc.endpoint)
    keep = float(np.prod(1.0 - dropout_hazards(sc, dm.visits)[:k + 1]))
    out = []
    for kind in kinds:
        for t in targets:
            an = analytic_n(dm, t, kind)
            if an is not None:
                n = int(min(sc.design.max_n_per_arm, math.ceil(an / max(keep, 0.05))))
                if driver.valid_n(dm, n):
                    out.append(n)
    return out


def _start(dm: DesignModel, kernel: str, targets, kinds, extra: tuple[int, ...]) -> list[int]:
    if kernel in driver.SUM_KERNELS:
        hi = initial_bound(dm, targets, kinds, extra)
        lo = smallest_valid_n(dm)
        return [n for n in range(lo, hi + 1) if driver.valid_n(dm, n)] + list(extra)
    return list(extra) + _guesses(dm, targets, kinds)


def sample_size(scenario, target_power: float | Iterable[float] = 0.8, *,
                target: str | None = None, n_trials: int | None = None, seed: int | None = None,
                workers: int = 1, progress: bool = False, kernel: str | None = None
                ) -> SampleSize | tuple[SampleSize, ...]:
    """Smallest control-arm size from which the simulated power (``target = "power"``) or
    assurance of the primary hypothesis stays at or above ``target_power``.

    Parameters
    ----------
    target_power : float or sequence of float
        One target, or several (one search, one draw: the answers share the simulated
        patients).

    Returns
    -------
    SampleSize, or a tuple of SampleSize (one per target, in order) for a sequence
    """
    dm = design_of(scenario)
    targets = _targets(target_power)
    kinds = _kinds(dm, target)
    n_trials, seed = _with(dm, n_trials, seed)
    kernel = choose_kernel(dm, kernel)
    # the design N is not needed here: the full kernel starts from the closed-form guesses
    extra = (dm.scenario.design.n_per_arm,)
    if kernel == "full" and _guesses(dm, targets, kinds):
        extra = ()
    start = _start(dm, kernel, targets, kinds, extra)
    with driver.pool_session():         # one worker pool for the whole search
        _, sizes = search(dm, _simulate_at(dm, n_trials, seed, workers, progress, (), kernel),
                          kernel, targets, kinds, start)
    return sizes[0] if isinstance(target_power, (int, float)) else tuple(sizes)


def mde(scenario, n_per_arm: int | None = None, target_power: float | Iterable[float] = 0.8, *,
        n_trials: int | None = None, seed: int | None = None, workers: int = 1,
        kernel: str | None = None) -> MinimumEffect | tuple[MinimumEffect, ...]:
    """Minimum detectable effect: the smallest true effect (natural units of the primary
    endpoint, direction of benefit) whose simulated power at control-arm size ``n_per_arm``
    (default the design N) reaches ``target_power``; see :mod:`simtrial.oc.mde`.

    Each evaluation replaces the scenario's effect by a fixed point effect and simulates it with
    the same seed and trials (common random numbers), through :func:`power`'s code; so
    ``simtrial power`` on the scenario with ``[effect] source = "fixed", md = result.md`` gives
    ``result.power``.

    Returns
    -------
    MinimumEffect, or a tuple of MinimumEffect (one per target) for a sequence
    """
    dm = design_of(scenario)
    check_mde(dm.scenario)
    n = dm.scenario.design.n_per_arm if n_per_arm is None else int(n_per_arm)
    _check_n(dm, n)
    targets = _targets(target_power)
    n_trials, seed = _with(dm, n_trials, seed)
    kernel = None if kernel in (None, "auto") else choose_kernel(dm, kernel)

    def power_at(d: DesignModel, size: int) -> PointResult:
        return simulate(d, [size], n_trials=n_trials, seed=seed, workers=workers,
                        kernel=kernel)[size]

    with driver.pool_session():         # one worker pool for every effect evaluated
        res = solve_mde(dm, n, targets, power_at)
    return res[0] if isinstance(target_power, (int, float)) else tuple(res)


def auto_grid(hi: int, design_n: int, k: int = 16) -> list[int]:
    """About ``k`` arm sizes from 3 to ``hi`` (roughly geometric), plus the design N."""
    pts = np.unique(np.round(np.geomspace(3, hi, k)).astype(int))
    return sorted(set(int(x) for x in pts) | {design_n})


def run(scenario, *, n_trials: int | None = None, seed: int | None = None, workers: int = 1,
        progress: bool = False, kernel: str | None = None) -> RunResult:
    """Power at the design N, a power curve, and the sample size for each target.

    The design N, ``design.n_grid`` and the sample-size search share one set of simulated
    patients (common random numbers). With an effect distribution, every target is solved for
    power and for assurance.

    Returns
    -------
    RunResult
    """
    t0 = time.perf_counter()
    dm = design_of(scenario)
    t1 = time.perf_counter()
    sc = dm.scenario
    n_trials, seed = _with(dm, n_trials, seed)
    dist = dm.models[0].distribution
    kinds = ("power", "assurance") if dist is not None and not dist.is_point else ("power",)
    targets = [float(t) for t in sc.design.target_power]
    kernel = choose_kernel(dm, kernel)
    n_design = sc.design.n_per_arm
    extra = (n_design,) + tuple(int(n) for n in sc.design.n_grid or ())
    start = _start(dm, kernel, targets, kinds, extra)
    with driver.pool_session():         # one worker pool for every design point
        pts, sizes = search(dm, _simulate_at(dm, n_trials, seed, workers, progress, (n_design,),
                                             kernel), kernel, targets, kinds, start)
    t2 = time.perf_counter()
    hi = max(pts)
    if sc.design.n_grid:
        grid = [int(n) for n in sc.design.n_grid]
    elif kernel in driver.SUM_KERNELS:
        grid = [n for n in auto_grid(hi, n_design) if n in pts]
    else:
        grid = sorted(pts)
    curve = tuple(pts[n] for n in sorted(pts))
    t3 = time.perf_counter()
    return RunResult(dm, pts[n_design], curve, tuple(grid), tuple(sizes), seed, n_trials,
                     {"build_model": t1 - t0, "simulate": t2 - t1, "summarise": t3 - t2,
                      "total": t3 - t0, "design_points_simulated": float(len(pts)),
                      "max_n_per_arm_simulated": float(hi)})


def compare(scenarios: Iterable, *, n_trials: int | None = None, seed: int | None = None,
            workers: int = 1, progress: bool = False, kernel: str | None = None) -> Comparison:
    """Two or more designs side by side: :func:`run` on each (so each one's numbers are its
    ``simtrial run`` numbers at the same seed and trials), every design checked before any is
    simulated.

    Returns
    -------
    Comparison
        ``.runs`` (one :class:`RunResult` each), ``.to_frame()`` (one row per scenario x N x
        quantity, :data:`simtrial.oc.compare.COLUMNS`), ``.summary()``.
    """
    t0 = time.perf_counter()
    dms = [design_of(s) for s in scenarios]
    check_scenarios([dm.scenario for dm in dms])
    for dm in dms:          # refuse a kernel that does not serve some design before simulating
        choose_kernel(dm, kernel)
    return comparison((run(dm, n_trials=n_trials, seed=seed, workers=workers, progress=progress,
                           kernel=kernel) for dm in dms), t0)


def grid_search(scenario, targets, kinds: tuple[str, ...] = ("power",), *,
                n_trials: int | None = None, seed: int | None = None, workers: int = 1,
                progress: bool = False):
    """The sample-size search of :func:`sample_size` on the prefix kernel, also returning the
    raw dense-grid simulation it ended on (``Simulated``; its ``.prefix`` holds the counts at
    every N from the smallest valid one up to ``max(ns)``). For teaching code that plots the
    whole curve; the scenario must be one the prefix kernel serves."""
    dm = design_of(scenario)
    n_trials, seed = _with(dm, n_trials, seed)
    targets = _targets(targets)
    last: dict = {}

    def at(ns):
        sim = driver.simulate(dm, ns, n_trials=n_trials, seed=seed, workers=workers,
                              progress=progress, kernel="prefix")
        last["sim"] = sim
        return points(dm, sim)
    _, sizes = search(dm, at, "prefix", targets, kinds, _start(dm, "prefix", targets, kinds, ()))
    return last["sim"], sizes
