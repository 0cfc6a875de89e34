"""Outcome trajectories: baseline -> months 3, 6, 12 for each outcome, control and MSC arms.

Model (per outcome, on its model scale: log for C-peptide, natural otherwise)::

    X_t = X_0 + a_t + beta_t (X_0 - m_0) + sigma_t e_t + T * delta_t * (1 + cv * eta)
    Y_t = g(X_t)

* ``X_0`` baseline on the model scale, ``m_0`` and ``s_0`` its mean and SD in the *screened*
  population (calibrated once per scenario by simulation);
* ``a_t`` mean control change (natural history, placebo and regression effects);
* ``beta_t`` and ``sigma_t`` are DERIVED from the user-facing ``sd_change`` (SD of X_t - X_0 in
  the control arm) and ``rho`` (corr(X_0, X_t)): with follow-up SD
  ``s_1 = rho s_0 + sqrt(sd_change^2 - s_0^2 (1 - rho^2))``,
  ``beta_t = rho s_1 / s_0 - 1`` and ``sigma_t = s_1 sqrt(1 - rho^2)``. This needs
  ``sd_change >= s_0 sqrt(1 - rho^2)``; otherwise the scenario is refused with the bound;
* ``e_t`` standard normal residuals correlated across visits (``corr = c^(|s-t|/6)``) and across
  outcomes (:data:`simtrial.presets.OUTCOME_RESIDUAL_CORRELATION`), a Kronecker product;
* ``T`` treatment indicator, ``delta_t`` the model-scale effect, ``eta`` a patient-level standard
  normal used only when ``heterogeneity = "normal"`` (coefficient of variation ``cv``);
* ``g`` maps back to natural units: ``exp`` for C-peptide (so C-peptide > 0), ``max(., 0)`` for
  insulin dose (so insulin >= 0 and a zero dose is insulin independence), identity otherwise.

Because ``g`` may be non-linear, ``delta_t`` is *calibrated* so that the mean natural-scale
difference (MSC minus control) at each visit equals the requested MD exactly in the model's
population (see :func:`calibrate_delta`). ANCOVA with ``Y_t - Y_0`` regressed on ``Y_0`` is then
correctly specified for additive outcomes (residual SD ``sigma_t``) and a robust estimator of the MD
otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy import optimize, special

from .presets import OUTCOME_RESIDUAL_CORRELATION

__all__ = ["OutcomeDef", "OUTCOMES", "VisitModel", "derive_visit_params", "calibrate_delta",
           "visit_correlation", "outcome_correlation", "latent", "latent_at", "to_natural",
           "to_model", "expected_natural", "EffectNotAttainable"]


@dataclass(frozen=True)
class OutcomeDef:
    """Static description of a simulated outcome."""

    name: str
    label: str
    unit: str
    baseline: str          # population variable holding the baseline value
    scale: str             # "additive" | "log"
    floor: float | None    # lower physical limit applied on the natural scale
    better: str            # "lower" | "higher"


OUTCOMES: dict[str, OutcomeDef] = {
    "hba1c": OutcomeDef("hba1c", "HbA1c", "%", "hba1c", "additive", None, "lower"),
    "fbg": OutcomeDef("fbg", "Fasting blood glucose", "mg/dL", "fbg", "additive", None, "lower"),
    "ppbg": OutcomeDef("ppbg", "Post-prandial blood glucose", "mg/dL", "ppbg", "additive", None,
                       "lower"),
    "fasting_cpeptide": OutcomeDef("fasting_cpeptide", "Fasting C-peptide", "ng/mL",
                                   "fasting_cpeptide", "log", None, "higher"),
    "insulin_dose": OutcomeDef("insulin_dose", "Daily insulin dose", "IU/day", "insulin_dose",
                               "additive", 0.0, "lower"),
}
"""Outcomes simulated by the engine, in the order used for joint residuals."""


@dataclass(frozen=True)
class VisitModel:
    """Resolved control-arm trajectory model of one outcome over the scheduled visits.

    All arrays have shape (V,) over ``visits`` and are on the model scale.
    """

    outcome: OutcomeDef
    visits: tuple[int, ...]
    control_change: np.ndarray
    sd_change: np.ndarray
    rho: np.ndarray
    m0: float
    s0: float
    beta: np.ndarray
    sigma: np.ndarray

    def as_dict(self) -> dict:
        """Plain-number summary for manifests."""
        return {
            "outcome": self.outcome.name, "scale": self.outcome.scale, "visits": list(self.visits),
            "control_change": [float(x) for x in self.control_change],
            "sd_change": [float(x) for x in self.sd_change], "rho": [float(x) for x in self.rho],
            "baseline_mean_model_scale": self.m0, "baseline_sd_model_scale": self.s0,
            "beta": [float(x) for x in self.beta], "residual_sd": [float(x) for x in self.sigma],
        }


def min_sd_change(s0: float, rho: float) -> float:
    """Smallest SD of change compatible with baseline SD ``s0`` and correlation ``rho``."""
    return s0 * math.sqrt(max(0.0, 1.0 - rho * rho))


def derive_visit_params(s0: float, sd_change: float, rho: float) -> tuple[float, float]:
    """(beta, sigma) from baseline SD, SD of change and baseline/follow-up correlation.

    Notes
    -----
    Solves ``sd_change^2 = s0^2 + s1^2 - 2 rho s0 s1`` for the follow-up SD ``s1`` (larger root),
    then ``beta = rho s1 / s0 - 1`` and ``sigma = s1 sqrt(1 - rho^2)``. Caller checks feasibility.
    """
    disc = sd_change * sd_change - s0 * s0 * (1.0 - rho * rho)
    s1 = rho * s0 + math.sqrt(max(disc, 0.0))
    return rho * s1 / s0 - 1.0, s1 * math.sqrt(1.0 - rho * rho)


def visit_correlation(visits: tuple[int, ...], c6: float) -> np.ndarray:
    """Residual correlation across visits: ``c6 ** (|s - t| / 6)`` (months)."""
    v = np.asarray(visits, dtype=float)
    return c6 ** (np.abs(v[:, None] - v[None, :]) / 6.0)


def outcome_correlation(names: tuple[str, ...],
                        pairs: Mapping[tuple[str, str], float] = OUTCOME_RESIDUAL_CORRELATION
                        ) -> np.ndarray:
    """Residual correlation matrix across ``names`` from a pair table (missing pairs are 0)."""
    k = len(names)
    r = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            c = pairs.get((names[i], names[j]), pairs.get((names[j], names[i]), 0.0))
            r[i, j] = r[j, i] = c
    return r


def latent(vm: VisitModel, x0: np.ndarray, eps: np.ndarray, treated: np.ndarray | float,
           delta: np.ndarray, eta: np.ndarray | None = None, cv: float = 0.0) -> np.ndarray:
    """Model-scale values at each visit.

    Parameters
    ----------
    vm : VisitModel
    x0 : ndarray, shape S
        Baseline on the model scale.
    eps : ndarray, shape S + (V,)
        Unit-variance residuals (already correlated across visits).
    treated : ndarray of shape S, or scalar 0/1
    delta : ndarray, shape (V,)
        Model-scale treatment effect per visit.
    eta : ndarray, shape S, optional
        Patient-level standard normal for effect heterogeneity.
    cv : float
        Coefficient of variation of the individual effect.

    Returns
    -------
    ndarray, shape S + (V,)
    """
    dev = (x0 - vm.m0)[..., None]
    out = x0[..., None] + vm.control_change + vm.beta * dev + vm.sigma * eps
    if np.ndim(treated) == 0:
        if treated:
            eff = delta if eta is None or cv == 0.0 else delta * (1.0 + cv * eta[..., None])
            out += eff
    else:
        t = np.asarray(treated, dtype=float)[..., None]
        eff = delta if eta is None or cv == 0.0 else delta * (1.0 + cv * eta[..., None])
        out += t * eff
    return out


def latent_at(vm: VisitModel, x0: np.ndarray, e: np.ndarray, k: int, treated: float,
              delta_k: float, eta: np.ndarray | None = None, cv: float = 0.0) -> np.ndarray:
    """Model-scale value at visit index ``k`` only; equals ``latent(...)[..., k]``.

    ``e`` is the unit-variance residual at that visit (shape of ``x0``); ``treated`` is 0 or 1 for
    the whole array (one arm).
    """
    out = x0 + vm.control_change[k] + vm.beta[k] * (x0 - vm.m0) + vm.sigma[k] * e
    if treated and delta_k != 0.0:
        if eta is None or cv == 0.0:
            out += delta_k
        else:
            out += delta_k * (1.0 + cv * eta)
    return out


def to_natural(od: OutcomeDef, x: np.ndarray) -> np.ndarray:
    """Map model-scale values to natural units, applying physical limits."""
    if od.scale == "log":
        return np.exp(x)
    if od.floor is not None:
        return np.maximum(x, od.floor)
    return x


def to_model(od: OutcomeDef, y: np.ndarray) -> np.ndarray:
    """Map natural-scale baseline values to the model scale."""
    return np.log(y) if od.scale == "log" else y


def _mean_floor(mu: np.ndarray, sd: np.ndarray | float, floor: float) -> np.ndarray:
    """E[max(L, floor)] for L ~ N(mu, sd^2), elementwise."""
    d = (mu - floor) / sd
    return floor + (mu - floor) * special.ndtr(d) + sd * np.exp(-0.5 * d * d) / math.sqrt(2 * math.pi)


def expected_natural(vm: VisitModel, x0: np.ndarray, k: int, delta: float = 0.0,
                     cv: float = 0.0) -> float:
    """Population mean of ``Y_t`` at visit index ``k`` for effect ``delta``, over baselines ``x0``.

    The residual and the individual effect are integrated analytically given each baseline, so the
    only approximation is the finite calibration sample of baselines.
    """
    mu = x0 + vm.control_change[k] + vm.beta[k] * (x0 - vm.m0) + delta
    var = vm.sigma[k] ** 2 + (delta * cv) ** 2
    od = vm.outcome
    if od.scale == "log":
        return float(np.mean(np.exp(mu + 0.5 * var)))
    if od.floor is not None:
        return float(np.mean(_mean_floor(mu, math.sqrt(var), od.floor)))
    return float(np.mean(mu))


class EffectNotAttainable(ValueError):
    """The requested natural-scale MD is impossible for this outcome's physical limits."""


def calibrate_delta(vm: VisitModel, x0: np.ndarray, k: int, md: float, cv: float = 0.0) -> float:
    """Model-scale effect ``delta`` giving mean natural-scale difference ``md`` at visit ``k``.

    Parameters
    ----------
    vm : VisitModel
    x0 : ndarray
        Calibration sample of screened baselines on the model scale.
    k : int
        Visit index.
    md : float
        Target MD (MSC minus control) in natural units.
    cv : float
        Coefficient of variation of individual effects (``heterogeneity = "normal"``).

    Returns
    -------
    float

    Raises
    ------
    EffectNotAttainable
        If no model-scale effect reaches ``md`` (e.g. a reduction larger than the mean dose).

    Notes
    -----
    Additive outcomes without a floor: ``delta = md``. Log scale: the treated mean is
    ``E_c exp(delta + cv^2 delta^2 / 2)``, solved in closed form. Floored: root of
    ``E_t(delta) - E_c = md`` by Brent's method, with ``E`` from :func:`expected_natural`.
    """
    od = vm.outcome
    if md == 0.0:
        return 0.0
    if od.scale == "additive" and od.floor is None:
        return md
    e_c = expected_natural(vm, x0, k)
    if od.scale == "log":
        q = 1.0 + md / e_c
        if q <= 0:
            raise EffectNotAttainable(
                f"a change of {md:g} {od.unit} is below minus the control mean {e_c:.3g} {od.unit}")
        lq = math.log(q)
        if cv == 0.0:
            return lq
        disc = 1.0 + 2.0 * cv * cv * lq
        if disc < 0:
            raise EffectNotAttainable(
                f"a change of {md:g} {od.unit} cannot be reached with effect_cv = {cv:g}")
        return (-1.0 + math.sqrt(disc)) / (cv * cv)

    def f(d: float) -> float:
        return expected_natural(vm, x0, k, d, cv) - e_c - md

    if md < 0 and md <= (od.floor or 0.0) - e_c + 1e-9:
        raise EffectNotAttainable(
            f"a change of {md:g} {od.unit} would take the mean below the physical floor "
            f"(control mean {e_c:.3g} {od.unit})")
    step = abs(md) + 1.0
    lo, hi = (min(md, 0.0), max(md, 0.0))
    for _ in range(60):
        if f(lo) <= 0.0 <= f(hi):
            break
        if f(lo) > 0.0:
            lo -= step
        if f(hi) < 0.0:
            hi += step
        step *= 2.0
    else:
        raise EffectNotAttainable(f"no model-scale effect reaches a change of {md:g} {od.unit}")
    return float(optimize.brentq(f, lo, hi, xtol=1e-12, rtol=1e-12))
