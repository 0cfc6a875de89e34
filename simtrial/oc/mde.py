"""The minimum detectable effect (MDE): the smallest true effect a design detects with a power.

Definition. At control-arm size N and target power P, the MDE is the smallest effect magnitude
``m >= 0`` (natural units of the primary endpoint, in the direction of benefit) at which the
simulated power of the primary hypothesis reaches P, when the scenario's effect is replaced by
the fixed point effect ``md = -m`` (``better = "lower"``) or ``+m`` at the endpoint visit
(:func:`effect_scenario`: ``[effect] source = "fixed"``, so ``simtrial power`` on that scenario
gives the same power). Every evaluation uses the same seed, hence the same patients (common
random numbers): a trial's estimate moves with the effect and its standard error does not (for
an additive endpoint), so the simulated power is a non-decreasing step function of ``m`` and
its crossing of P is well defined.

Search. A first guess (the closed-form MDE, else the scenario's own effect rescaled on the
probit scale), a bracket grown or shrunk by factors of 1.25 around it, then Brent's method
(:func:`simtrial.stats.roots.brentq`) on the count of rejecting trials minus the smallest count
reaching P, offset by half a trial so that no evaluation is an exact root, down to a bracket of
``XTOL_REL x`` the guess. As for the sample size (:mod:`simtrial.oc.search`), the answer is the
smallest evaluated magnitude from which every evaluated larger one reaches P (robust to a Monte
Carlo dip).

Uncertainty (delta method). ``SE(m*) = sqrt(p (1 - p) / R) / slope`` with ``p`` the simulated
power at ``m*`` and ``slope`` the central difference of the simulated power over
``m* (1 +/- SLOPE_STEP)`` (same seed): the Monte Carlo SE of the power at the solution carried
through the inverse of the power curve.

Closed form. Where the primary hypothesis has one (:func:`~simtrial.oc.results.has_closed_form`)
the closed-form power (:func:`~simtrial.oc.closed_form.analytic_power`: t-test or ANCOVA with
the model's residual SD) is inverted over the effect; for a z-test this is the textbook
``MDE = (z_{1 - alpha/sides} + z_P) sd sqrt(1/n0 + 1/n1)``.

References
----------
Bloom HS. Minimum detectable effects: a simple way to report the statistical power of
experimental designs. Eval Rev 1995;19:547-56.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from scipy import special

from ..errors import SimtrialError
from ..model.design import DesignModel, build_design, group_sizes
from ..model.outcomes import OUTCOMES
from ..scenario import Scenario
from ..stats.mc import rate_se
from ..stats.roots import brentq
from .closed_form import analytic_power
from .results import PointResult, has_closed_form
from .search import value_of

__all__ = ["MinimumEffect", "effect_scenario", "closed_form_mde", "solve_mde", "check_mde",
           "XTOL_REL", "SLOPE_STEP"]

XTOL_REL = 1e-4
"""Brent's tolerance, relative to the first guess of the MDE (a few hundredths of its MC SE at
10,000 trials)."""
SLOPE_STEP = 0.1
"""Half-width of the central difference giving the slope of the power curve, relative to the
MDE."""
GROW = 1.25
"""Factor by which the bracket grows or shrinks around the first guess."""
MAX_GROW = 40
"""Steps of growth before the target counts as not reached (1.25**40 ~ 7,500 x the guess)."""


def check_mde(sc: Scenario) -> None:
    """Refuse (one line) a design whose MDE is not defined here: the primary endpoint must be a
    continuous outcome whose effect is ``[effect] md``."""
    if sc.endpoint.type != "continuous":
        raise SimtrialError("error: the minimum detectable effect needs a continuous primary "
                            f"endpoint (endpoint.type = {sc.endpoint.type!r}); solve for N with "
                            "simtrial sample-size")


def effect_scenario(sc: Scenario, magnitude: float) -> Scenario:
    """``sc`` with its effect replaced by the fixed point effect of ``magnitude`` (natural units)
    in the direction of benefit at the endpoint visit; the waning, the population and the
    ``[effect.outcomes]`` of the other outcomes are kept."""
    better = OUTCOMES[sc.endpoint.outcome].better
    md = -float(magnitude) if better == "lower" else float(magnitude)
    e = sc.effect
    new: dict[str, Any] = {"source": "fixed", "md": md + 0.0, "population": e.population,
                           "after_last": e.after_last, "half_life_months": e.half_life_months}
    if e.outcomes:
        new["outcomes"] = dict(e.outcomes)
    return sc.replace(effect=new)


def closed_form_mde(dm: DesignModel, n0: int, n1: int, target: float) -> float | None:
    """Effect magnitude at which the closed-form power of the primary hypothesis at arm sizes
    ``n0``, ``n1`` equals ``target`` (None without a closed form, or if the power at no effect
    already reaches it). The power is that of :func:`~simtrial.oc.closed_form.analytic_power`
    with the residual SD of ``dm``'s model."""
    h = dm.hypotheses[0]
    if not has_closed_form(dm, h) or n0 < 2 or n1 < 2:
        return None
    model = dm.models[0]
    sign = -1.0 if model.outcome_def.better == "lower" else 1.0

    def f(m: float) -> float:
        return analytic_power(model, n0, n1, sign * m) - target

    if f(0.0) >= 0:
        return None
    hi = max(abs(model.endpoint_md), 1e-6 * model.analytic.get("sd_change", 1.0), 1e-12)
    for _ in range(200):
        if f(hi) >= 0:
            return brentq(f, 0.0, hi, xtol=1e-12 * hi)
        hi *= 2.0
    return None


@dataclass(frozen=True)
class MinimumEffect:
    """The minimum detectable effect of a design at one control-arm size and target power.

    Attributes
    ----------
    mde : float or None
        Smallest effect magnitude (natural units, direction of benefit) whose simulated power
        reaches ``target_power``; None if not reached by ``searched_max``.
    md : float or None
        The same effect as MSC - control (negative where lower is better).
    mde_mc_se : float
        Delta-method Monte Carlo SE of ``mde`` (see the module notes).
    power, mc_se : float
        Simulated power at ``mde`` and its MC SE.
    slope : float
        Simulated slope of the power curve at ``mde`` (power per natural unit).
    analytic_mde : float or None
        Closed-form MDE where a closed form exists.
    """

    scenario: str
    hypothesis: str
    outcome: str
    unit: str
    visit_months: int
    target_power: float
    n_per_arm: int
    arm_sizes: tuple[int, ...]
    mde: float | None
    md: float | None
    mde_mc_se: float
    power: float
    mc_se: float
    slope: float
    analytic_mde: float | None
    searched_max: float
    evaluations: int
    n_trials: int
    seed: int
    kernel: str

    @property
    def reached(self) -> bool:
        return self.mde is not None

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "hypothesis": self.hypothesis,
                "outcome": self.outcome, "unit": self.unit, "visit_months": self.visit_months,
                "target_power": self.target_power, "n_per_arm": self.n_per_arm,
                "arm_sizes": list(self.arm_sizes), "mde": self.mde, "md": self.md,
                "mde_mc_se": self.mde_mc_se, "power": self.power, "mc_se": self.mc_se,
                "slope": self.slope, "analytic_mde": self.analytic_mde,
                "reached": self.reached, "searched_max": self.searched_max,
                "evaluations": self.evaluations, "n_trials": self.n_trials, "seed": self.seed,
                "kernel": self.kernel}

    def rows(self) -> list[dict[str, Any]]:
        """Tidy rows (the id columns of :data:`~simtrial.oc.results.ID_COLUMNS`)."""
        ids = {"scenario": self.scenario, "design_point": f"mde_power={self.target_power:g}",
               "n_per_arm": self.n_per_arm, "hypothesis": self.hypothesis,
               "endpoint": self.outcome, "arm": "", "visit": self.visit_months}
        return [{**ids, "metric": "mde", "estimate": self.mde, "mc_se": self.mde_mc_se},
                {**ids, "metric": "power_at_mde", "estimate": self.power, "mc_se": self.mc_se},
                {**ids, "metric": "analytic_mde", "estimate": self.analytic_mde,
                 "mc_se": math.nan}]

    def to_frame(self):
        import pandas as pd
        return pd.DataFrame(self.rows())

    def summary(self) -> str:
        what = (f"{self.target_power:.0%} power at N = {self.n_per_arm} per arm ("
                + " + ".join(str(x) for x in self.arm_sizes) + " patients)")
        cf = (f"; closed form {self.analytic_mde:.4g} {self.unit}"
              if self.analytic_mde is not None else "")
        if not self.reached:
            return (f"{what}: not reached by an effect of {self.searched_max:.4g} {self.unit} "
                    f"(simulated){cf}")
        return (f"{what}: minimum detectable effect {self.mde:.4g} {self.unit} (MC SE "
                f"{self.mde_mc_se:.2g}; MD {self.md:+.4g} {self.unit} in "
                f"{OUTCOMES[self.outcome].label} at "
                f"{self.visit_months} months): simulated power {self.power:.4f} (MC SE "
                f"{self.mc_se:.4f}, {self.n_trials:,} trials){cf}")

    def __repr__(self) -> str:
        return (f"MinimumEffect({self.scenario!r}, n_per_arm={self.n_per_arm}, "
                f"target_power={self.target_power:g}, mde={self.mde!r}, "
                f"mde_mc_se={self.mde_mc_se:.3g}, analytic_mde={self.analytic_mde!r})")


def _count_needed(target: float, r: int) -> int:
    """Smallest count k of rejecting trials among ``r`` with ``k / r >= target``."""
    k = max(0, min(r, math.ceil(target * r)))
    while k > 0 and (k - 1) / r >= target:
        k -= 1
    while k < r and k / r < target:
        k += 1
    return k


def _probit(p: float) -> float:
    return float(special.ndtri(min(max(p, 1e-4), 1.0 - 1e-4)))


def solve_mde(dm: DesignModel, n: int, targets: list[float],
              power_at: Callable[[DesignModel, int], PointResult]) -> list[MinimumEffect]:
    """The MDE of ``dm`` at control-arm size ``n`` for each target power.

    ``power_at(design, n)`` simulates one design at ``n`` (the same seed and trials every call);
    the designs are those of :func:`effect_scenario`. Evaluations are shared between targets.
    """
    sc = dm.scenario
    check_mde(sc)
    cache: dict[float, tuple[float, PointResult, DesignModel]] = {}

    def at(m: float) -> float:
        m = float(m)
        if m not in cache:
            d = build_design(effect_scenario(sc, m))
            p = power_at(d, n)
            cache[m] = (value_of(p, "power"), p, d)
        return cache[m][0]

    return [_solve_one(dm, n, t, at, cache) for t in targets]


def _first_guess(dm: DesignModel, n: int, target: float, at) -> float:
    """The closed-form MDE of the scenario's design, else its effect rescaled on the probit
    scale (power ~ Phi(m / s - z) in the effect m)."""
    model = dm.models[0]
    m0 = abs(model.endpoint_md)
    if not m0 > 0:
        m0 = float(model.analytic.get("sd_change", 1.0)) or 1.0
    v0 = at(m0)
    z = _probit(1.0 - dm.scenario.design.alpha / dm.scenario.design.sides)
    q0 = _probit(v0) + z
    if q0 <= 0.1:
        return 4.0 * m0
    return m0 * (_probit(target) + z) / q0


def _check_null(target: float, at) -> None:
    if at(0.0) >= target:
        raise SimtrialError(f"error: target power {target:g} is reached with no effect at all "
                            f"(simulated power {at(0.0):.4f} at effect 0); choose a larger "
                            "target power")


def _solve_one(dm: DesignModel, n: int, target: float, at, cache) -> MinimumEffect:
    sc = dm.scenario
    od = OUTCOMES[sc.endpoint.outcome]
    arms = group_sizes(dm, n).sum(axis=0)
    n0, n1 = int(arms[0]), int(arms[dm.hypotheses[0].arm])
    guess = closed_form_mde(dm, n0, n1, target) or _first_guess(dm, n, target, at)
    lo = hi = guess
    if at(guess) >= target:
        # the power at no effect is the size of the test (alpha < 0.5): only a low target can
        # be reached there, so only then is it evaluated first
        if target < 0.5:
            _check_null(target, at)
        for _ in range(MAX_GROW):
            lo = lo / GROW
            if at(lo) < target:
                break
        else:
            lo = 0.0
            _check_null(target, at)
    else:
        for _ in range(MAX_GROW):
            hi = hi * GROW
            if at(hi) >= target:
                break
    if at(hi) >= target and at(lo) < target:
        r = cache[hi][1].n_trials
        c = _count_needed(target, r)
        # the simulated power is a step function of m (counts of trials): half a count off
        # the smallest count reaching the target, so that no evaluation is an exact root and
        # Brent narrows the bracket around the crossing down to xtol
        brentq(lambda m: at(m) * r - c + 0.5, lo, hi, xtol=XTOL_REL * guess)
    values = {m: v for m, (v, _, _) in cache.items()}
    short = [m for m, v in values.items() if v < target]
    last_short = max(short) if short else -1.0
    reach = [m for m in values if m > last_short]
    h0 = dm.hypotheses[0]
    n_trials = next(iter(cache.values()))[1].n_trials
    if not reach:
        p = cache[max(values)][1]
        return MinimumEffect(sc.name, h0.label, od.name, od.unit, sc.endpoint.visit_months,
                             target, n, tuple(int(x) for x in p.arm_sizes), None, None,
                             math.nan, math.nan, math.nan, math.nan,
                             closed_form_mde(dm, n0, n1, target), max(values), len(cache),
                             n_trials, p.seed, p.kernel)
    ans = min(reach)
    pw, p, d = cache[ans]
    step = SLOPE_STEP * ans
    slope = (at(ans + step) - at(ans - step)) / (2.0 * step) if step > 0 else math.nan
    se = rate_se(pw, p.n_trials)
    mde_se = se / slope if slope > 0 else math.nan
    sign = -1.0 if od.better == "lower" else 1.0
    return MinimumEffect(sc.name, h0.label, od.name, od.unit, sc.endpoint.visit_months, target,
                         n, tuple(int(x) for x in p.arm_sizes), ans, sign * ans + 0.0, mde_se,
                         pw, se, slope, closed_form_mde(d, n0, n1, target), max(values),
                         len(cache), p.n_trials, p.seed, p.kernel)
