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

__all__ = ["OutcomeDef", "OUTCOMES", "VisitModel", "Heterogeneity", "derive_visit_params",
           "calibrate_delta", "at_months",
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
    "stimulated_cpeptide": OutcomeDef("stimulated_cpeptide", "Stimulated C-peptide", "ng/mL",
                                      "stimulated_cpeptide", "log", None, "higher"),
    "homa_ir": OutcomeDef("homa_ir", "HOMA-IR", "index", "homa_ir", "log", None, "lower"),
    "homa_b": OutcomeDef("homa_b", "HOMA-B", "%", "homa_b", "log", None, "higher"),
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

    def to_dict(self) -> dict:
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


@dataclass(frozen=True)
class Heterogeneity:
    """Patient-level variation of the treatment effect, with population mean multiplier 1.

    The individual effect is ``delta * m_i``:

    * ``none``: ``m_i = 1``;
    * ``normal``: ``m_i = 1 + cv * eta_i`` (random individual effects);
    * ``responders``: ``m_i = R_i / pi`` with ``R_i = 1{eta_i < Phi^-1(pi)}``: a fraction ``pi``
      respond, with the whole mean effect concentrated in them;
    * ``modifier``: ``m_i = 1 + slope * (b_i - mean_b) / sd_b`` with ``b_i`` the baseline of
      ``modifier`` on its model scale (log for C-peptide) and ``mean_b``, ``sd_b`` its screened
      population mean and SD: effect modification by baseline HbA1c or C-peptide.

    ``eta_i`` is one standard normal per patient.
    """

    mode: str = "none"
    cv: float = 0.0
    responder_fraction: float = 1.0
    modifier: str | None = None
    slope: float = 0.0
    mod_mean: float = 0.0
    mod_sd: float = 1.0

    def multiplier(self, eta: np.ndarray | None, mod_values: np.ndarray | None) -> np.ndarray | None:
        """Per-patient multipliers (None means 1 for everyone)."""
        if self.mode == "none":
            return None
        if self.mode == "normal":
            return 1.0 + self.cv * eta
        if self.mode == "responders":
            return (eta < special.ndtri(self.responder_fraction)) / self.responder_fraction
        return 1.0 + self.slope * (self.modifier_scale(mod_values) - self.mod_mean) / self.mod_sd

    def modifier_scale(self, values: np.ndarray) -> np.ndarray:
        """Modifier values on the scale the slope applies to (log for C-peptide)."""
        return np.log(values) if self.modifier == "fasting_cpeptide" else values

    def components(self, mod_values: np.ndarray | None) -> list[tuple[float, np.ndarray | float, float]]:
        """(weight, multiplier, extra variance factor) mixture used for calibration."""
        if self.mode == "none":
            return [(1.0, 1.0, 0.0)]
        if self.mode == "normal":
            return [(1.0, 1.0, self.cv * self.cv)]
        if self.mode == "responders":
            p = self.responder_fraction
            return [(p, 1.0 / p, 0.0)] + ([(1.0 - p, 0.0, 0.0)] if p < 1.0 else [])
        return [(1.0, self.multiplier(None, mod_values), 0.0)]

    def to_dict(self) -> dict:
        """Plain summary for manifests."""
        return {k: getattr(self, k) for k in ("mode", "cv", "responder_fraction", "modifier",
                                              "slope", "mod_mean", "mod_sd")}


NO_HETEROGENEITY = Heterogeneity()


def latent(vm: VisitModel, x0: np.ndarray, eps: np.ndarray, treated: np.ndarray | float,
           delta: np.ndarray, mult: np.ndarray | None = None) -> np.ndarray:
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
    mult : ndarray, shape S, optional
        Individual effect multipliers (:class:`Heterogeneity`).

    Returns
    -------
    ndarray, shape S + (V,)
    """
    dev = (x0 - vm.m0)[..., None]
    out = x0[..., None] + vm.control_change + vm.beta * dev + vm.sigma * eps
    eff = delta if mult is None else delta * mult[..., None]
    if np.ndim(treated) == 0:
        if treated:
            out += eff
    else:
        out += np.asarray(treated, dtype=float)[..., None] * eff
    return out


def latent_at(vm: VisitModel, x0: np.ndarray, e: np.ndarray, k: int, treated: float,
              delta_k, mult: np.ndarray | None = None) -> np.ndarray:
    """Model-scale value at visit index ``k`` only; equals ``latent(...)[..., k]``.

    ``e`` is the unit-variance residual at that visit (shape of ``x0``); ``treated`` is 0 or 1 for
    the whole array (one arm); ``delta_k`` a scalar or an array broadcasting against ``x0`` (e.g.
    one effect per trial for assurance).
    """
    out = x0 + vm.control_change[k] + vm.beta[k] * (x0 - vm.m0) + vm.sigma[k] * e
    if treated:
        out += delta_k if mult is None else delta_k * mult
    return out


def at_months(anchor: tuple[float, ...] | np.ndarray, months, kind: str,
              anchors: tuple[int, ...] = (3, 6, 12)) -> np.ndarray:
    """Natural-history parameter at any month from its values at the anchor months.

    Between anchors: linear interpolation. Before the first anchor: ``control_change`` and
    ``sd_change`` scale linearly and with the square root of time from 0 at month 0, ``rho``
    moves linearly towards 1 at month 0. After the last anchor: held (ASSUMED: stable natural
    history in the second year).
    """
    a = np.asarray(anchor, dtype=float)
    t = np.asarray(months, dtype=float)
    out = np.interp(t, anchors, a)
    early = t < anchors[0]
    f = t[early] / anchors[0]
    if kind == "control_change":
        out[early] = a[0] * f
    elif kind == "sd_change":
        out[early] = a[0] * np.sqrt(f)
    elif kind == "rho":
        out[early] = 1.0 - (1.0 - a[0]) * f
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
                     het: Heterogeneity = NO_HETEROGENEITY, mod_values: np.ndarray | None = None
                     ) -> float:
    """Population mean of ``Y_t`` at visit index ``k`` for effect ``delta``, over baselines ``x0``.

    The residual (and, for ``normal`` heterogeneity, the individual effect) is integrated
    analytically given each baseline; responder mixtures are exact two-point mixtures. The only
    approximation is the finite (quasi-random) calibration sample of baselines.
    """
    od = vm.outcome
    mu0 = x0 + vm.control_change[k] + vm.beta[k] * (x0 - vm.m0)
    total = 0.0
    for w, mult, vfac in het.components(mod_values):
        mu = mu0 + delta * mult
        var = vm.sigma[k] ** 2 + delta * delta * vfac
        if od.scale == "log":
            total += w * float(np.mean(np.exp(mu + 0.5 * var)))
        elif od.floor is not None:
            total += w * float(np.mean(_mean_floor(mu, math.sqrt(var), od.floor)))
        else:
            total += w * float(np.mean(mu))
    return total


class EffectNotAttainable(ValueError):
    """The requested natural-scale MD is impossible for this outcome's physical limits."""


def calibrate_delta(vm: VisitModel, x0: np.ndarray, k: int, md: float,
                    het: Heterogeneity = NO_HETEROGENEITY, mod_values: np.ndarray | None = None
                    ) -> float:
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
    het : Heterogeneity
        Individual effect multipliers (population mean 1).
    mod_values : ndarray, optional
        The calibration sample's values of ``het.modifier``.

    Returns
    -------
    float

    Raises
    ------
    EffectNotAttainable
        If no model-scale effect reaches ``md`` (e.g. a reduction larger than the mean dose).

    Notes
    -----
    Additive outcomes without a floor: ``delta = md`` (the multipliers average 1). Otherwise the
    root of ``E_t(delta) - E_c = md`` by Brent's method, ``E`` from :func:`expected_natural`.
    """
    od = vm.outcome
    if md == 0.0:
        return 0.0
    if od.scale == "additive" and od.floor is None:
        return md
    e_c = expected_natural(vm, x0, k)
    lower = 0.0 if od.scale == "log" else (od.floor or 0.0)
    if md < 0 and md <= lower - e_c + 1e-12 * abs(e_c):
        raise EffectNotAttainable(
            f"a change of {md:g} {od.unit} would take the mean below the physical limit "
            f"(control mean {e_c:.3g} {od.unit})")

    def f(d: float) -> float:
        return expected_natural(vm, x0, k, d, het, mod_values) - e_c - md

    step = abs(md) / max(abs(e_c), 1e-12) if od.scale == "log" else abs(md)
    step = max(step, 0.1)
    lo, hi = (-step, 0.0) if md < 0 else (0.0, step)
    for _ in range(80):
        flo, fhi = f(lo), f(hi)
        if flo <= 0.0 <= fhi:
            break
        if flo > 0.0:
            lo -= step
        if fhi < 0.0:
            hi += step
        step *= 2.0
    else:
        raise EffectNotAttainable(f"no model-scale effect reaches a change of {md:g} {od.unit}")
    return float(optimize.brentq(f, lo, hi, xtol=1e-13, rtol=1e-13))
