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
* ``g`` maps back to natural units: ``exp`` for C-peptide and insulin dose (so both are > 0 and
  an effect is a ratio, as the field reports insulin: % of baseline dose), identity otherwise;
* **insulin independence** is an explicit event, not the tail of a floored normal: patient i is
  insulin-free at visit t when ``u_i < q_i(t)``, one uniform per patient (so independence
  persists while q rises), ``q_i(t) = expit(a_arm(t) + log(OR) z_i)`` with ``z_i`` the
  standardised log baseline fasting C-peptide (beta-cell reserve) and ``a_arm(t)`` calibrated so
  the population mean of ``q`` is the arm's remission probability at t (:class:`Remission`);
  with ``heterogeneity = "responders"`` only responders can remit;
* C-peptide natural history may be patient-specific (:class:`Decline`): a per-patient annual
  rate on the log scale, depending on age and diabetes duration plus a random slope, adds
  ``(r_i - mean r) t / 12`` to X_t (exponential decline, continuing after month 12).

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
from scipy import special

from .._memo import by_content
from ..stats.roots import brentq
from .presets import OUTCOME_RESIDUAL_CORRELATION

__all__ = ["OutcomeDef", "OUTCOMES", "VisitModel", "Heterogeneity", "Decline", "Remission",
           "remission_intercepts", "derive_visit_params",
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
    zero_event: bool = False   # an explicit event sets the value to 0 (insulin independence)


OUTCOMES: dict[str, OutcomeDef] = {
    "hba1c": OutcomeDef("hba1c", "HbA1c", "%", "hba1c", "additive", None, "lower"),
    "fbg": OutcomeDef("fbg", "Fasting blood glucose", "mg/dL", "fbg", "additive", None, "lower"),
    "ppbg": OutcomeDef("ppbg", "Post-prandial blood glucose", "mg/dL", "ppbg", "additive", None,
                       "lower"),
    "fasting_cpeptide": OutcomeDef("fasting_cpeptide", "Fasting C-peptide", "ng/mL",
                                   "fasting_cpeptide", "log", None, "higher"),
    "insulin_dose": OutcomeDef("insulin_dose", "Daily insulin dose", "IU/day", "insulin_dose",
                               "log", None, "lower", zero_event=True),
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
    decline: "Decline | None" = None

    def to_dict(self) -> dict:
        """Plain-number summary for manifests."""
        return {
            "decline": None if self.decline is None else self.decline.to_dict(),
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


@dataclass(frozen=True)
class Decline:
    """Patient-specific natural history on the model (log) scale: annual rate

    ``r_i = per_year * exp(age_coef * (age_i - age_ref) / 10)
    * (max(duration_i, 0.25) / dur_ref) ** dur_power + sd * u_i`` with ``u_i ~ N(0, 1)``.

    The mean control change at month t is ``mean(r) t / 12`` over the screened population and
    patient i deviates from it by ``(r_i - mean r) t / 12``.
    """

    per_year: float
    age_ref: float = 20.0
    age_coef: float = 0.0
    dur_ref: float = 1.0
    dur_power: float = 0.0
    sd: float = 0.0
    rate_mean: float = 0.0     # mean of r over the screened population (set by the model)
    rate_var: float = 0.0      # variance of r over the screened population (incl. sd^2)

    def rate(self, age: np.ndarray, duration: np.ndarray, u: np.ndarray | None = None
             ) -> np.ndarray:
        r = (self.per_year * np.exp(self.age_coef * (np.asarray(age) - self.age_ref) / 10.0)
             * (np.maximum(duration, 0.25) / self.dur_ref) ** self.dur_power)
        return r if u is None else r + self.sd * u

    def deviation(self, months: np.ndarray, age, duration, u) -> np.ndarray:
        """Per-patient deviation from the mean change, shape ``age.shape + (V,)``."""
        return ((self.rate(age, duration, u) - self.rate_mean)[..., None]
                * (np.asarray(months, dtype=float) / 12.0))

    def to_dict(self) -> dict:
        return {k: float(getattr(self, k)) for k in ("per_year", "age_ref", "age_coef",
                                                     "dur_ref", "dur_power", "sd", "rate_mean",
                                                     "rate_var")}


def _expit(x):
    return special.expit(x)


@dataclass(frozen=True)
class Remission:
    """Insulin independence as an explicit event (see the module notes).

    ``p_msc`` / ``p_control`` (V,) population probabilities per visit; ``a_msc`` / ``a_control``
    the calibrated logit intercepts; ``log_or`` per SD of log baseline fasting C-peptide
    (``z = (log c - z_mean) / z_sd``); ``responders_only``: only responders remit (their
    probability is ``p / responder_fraction``).
    """

    p_msc: np.ndarray
    p_control: np.ndarray
    a_msc: np.ndarray
    a_control: np.ndarray
    log_or: float
    z_mean: float
    z_sd: float
    responders_only: bool = False

    @property
    def active(self) -> bool:
        return bool(np.any(self.p_msc > 0) or np.any(self.p_control > 0))

    def prob(self, treated: float, cpep: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """q_i(t) for every visit: shape ``cpep.shape + (V,)``. ``scale`` multiplies the MSC
        arm's excess over control (a multi-arm ``effect_scale``)."""
        z = ((np.log(cpep) - self.z_mean) / self.z_sd)[..., None]
        qc = np.where(self.p_control > 0, _expit(self.a_control + self.log_or * z), 0.0)
        if not treated:
            return qc
        qm = np.where(self.p_msc > 0, _expit(self.a_msc + self.log_or * z), 0.0)
        return qc + scale * (qm - qc) if scale != 1.0 else qm

    def to_dict(self) -> dict:
        return {"p_msc": [float(x) for x in self.p_msc],
                "p_control": [float(x) for x in self.p_control],
                "odds_ratio_per_sd_log_cpeptide": float(math.exp(self.log_or)),
                "responders_only": self.responders_only}


@by_content()
def remission_intercepts(p: np.ndarray, z: np.ndarray, log_or: float) -> np.ndarray:
    """Logit intercepts ``a`` with ``mean(expit(a + log_or z)) = p`` over the sample ``z``."""
    out = np.zeros(len(p))
    for k, pk in enumerate(np.asarray(p, dtype=float)):
        if pk <= 0.0:
            out[k] = -np.inf
            continue
        if pk >= 1.0:
            out[k] = np.inf
            continue
        out[k] = brentq(lambda a: float(np.mean(_expit(a + log_or * z))) - pk,
                        -40.0, 40.0, xtol=1e-12)
    return out


def latent(vm: VisitModel, x0: np.ndarray, eps: np.ndarray, treated: np.ndarray | float,
           delta: np.ndarray, mult: np.ndarray | None = None, dev: np.ndarray | None = None
           ) -> np.ndarray:
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
    dev : ndarray, shape S + (V,), optional
        Patient-specific natural-history deviation (:meth:`Decline.deviation`).

    Returns
    -------
    ndarray, shape S + (V,)
    """
    out = x0[..., None] + vm.control_change + vm.beta * (x0 - vm.m0)[..., None] + vm.sigma * eps
    if dev is not None:
        out += dev
    eff = delta if mult is None else delta * mult[..., None]
    if np.ndim(treated) == 0:
        if treated:
            out += eff
    else:
        out += np.asarray(treated, dtype=float)[..., None] * eff
    return out


def latent_at(vm: VisitModel, x0: np.ndarray, e: np.ndarray, k: int, treated: float,
              delta_k, mult: np.ndarray | None = None, dev_k: np.ndarray | None = None
              ) -> np.ndarray:
    """Model-scale value at visit index ``k`` only; equals ``latent(...)[..., k]``.

    ``e`` is the unit-variance residual at that visit (shape of ``x0``); ``treated`` is 0 or 1 for
    the whole array (one arm); ``delta_k`` a scalar or an array broadcasting against ``x0`` (e.g.
    one effect per trial for assurance).
    """
    out = x0 + vm.control_change[k] + vm.beta[k] * (x0 - vm.m0) + vm.sigma[k] * e
    if dev_k is not None:
        out = out + dev_k
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
                     het: Heterogeneity = NO_HETEROGENEITY, mod_values: np.ndarray | None = None,
                     dev: np.ndarray | None = None, free=None) -> float:
    """Population mean of ``Y_t`` at visit index ``k`` for effect ``delta``, over baselines ``x0``.

    The residual (and, for ``normal`` heterogeneity, the individual effect) is integrated
    analytically given each baseline; responder mixtures are exact two-point mixtures. The only
    approximation is the finite (quasi-random) calibration sample of baselines. ``dev`` is each
    calibration patient's natural-history deviation at visit k; ``free`` a sequence (one per
    heterogeneity component) of per-patient probabilities of being insulin-free (value 0).
    """
    od = vm.outcome
    mu0 = x0 + vm.control_change[k] + vm.beta[k] * (x0 - vm.m0)
    if dev is not None:
        mu0 = mu0 + dev
    total = 0.0
    for c, (w, mult, vfac) in enumerate(het.components(mod_values)):
        mu = mu0 + delta * mult
        var = vm.sigma[k] ** 2 + delta * delta * vfac
        if od.scale == "log":
            keep = 1.0 if free is None else 1.0 - free[c]
            total += w * float(np.mean(keep * np.exp(mu + 0.5 * var)))
        elif od.floor is not None:
            total += w * float(np.mean(_mean_floor(mu, math.sqrt(var), od.floor)))
        else:
            total += w * float(np.mean(mu))
    return total


class EffectNotAttainable(ValueError):
    """The requested natural-scale MD is impossible for this outcome's physical limits."""


@by_content()
def calibrate_delta(vm: VisitModel, x0: np.ndarray, k: int, md: float,
                    het: Heterogeneity = NO_HETEROGENEITY, mod_values: np.ndarray | None = None,
                    dev: np.ndarray | None = None, free=None, free_control=None) -> float:
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
    dev, free, free_control : optional
        Natural-history deviations and insulin-free probabilities (MSC per heterogeneity
        component; control one array) of the calibration patients, see
        :func:`expected_natural`.

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
    if md == 0.0 and free is None:
        return 0.0
    if od.scale == "additive" and od.floor is None:
        return md
    e_c = expected_natural(vm, x0, k, dev=dev,
                           free=None if free_control is None else (free_control,))
    lower = 0.0 if od.scale == "log" else (od.floor or 0.0)
    if md < 0 and md <= lower - e_c + 1e-12 * abs(e_c):
        raise EffectNotAttainable(
            f"a change of {md:g} {od.unit} would take the mean below the physical limit "
            f"(control mean {e_c:.3g} {od.unit})")

    def f(d: float) -> float:
        return expected_natural(vm, x0, k, d, het, mod_values, dev, free) - e_c - md

    f0 = f(0.0) if free is not None else 0.0
    if (md < 0 and f0 < 0.0) or (md > 0 and f0 > 0.0):
        raise EffectNotAttainable(
            f"insulin independence alone changes the mean by {f(0.0) + md:.3g} {od.unit}, "
            f"beyond the MD {md:g}: lower outcome_model.insulin_dose.remission_msc or use a "
            "larger MD")

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
    return float(brentq(f, lo, hi, xtol=1e-13, rtol=1e-13))
