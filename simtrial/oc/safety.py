"""Safety events and harm monitoring per replicate trial (``[[safety]]``), beside the efficacy
simulation of the same trials.

Model. Each ``[[safety]]`` event is independent of the efficacy outcomes (no patient-level link
between an adverse event and HbA1c is modelled), so its counts are drawn from their own random
streams (:func:`simtrial._rng.safety_code`) and no efficacy number moves; the efficacy power lost
to harm stopping is nevertheless exact per trial, because it is computed from the kept per-trial
success array of the primary hypothesis at the same N (``PointResult.trials``).

* per patient (``per = "patient"``): patient i of arm a has the event during follow-up with
  probability ``p_a``; the count is Binomial(n_a, p_a);
* per patient-year: Poisson(lam_a E_a) in the exposure E_a of arm a: n_a x ``years`` (default:
  the last visit / 12). With ``[conduct]`` (and no ``years`` given) the exposure follows the
  conduct timeline (:func:`conduct_exposure`): each patient is at risk from the first infusion
  to the last scheduled visit or withdrawal, whichever comes first, so trial i has the
  patient-years of conduct replicate ``i mod R`` (the replicate that gives it its calendar), and
  every bound, posterior and harm rule of that trial uses its own exposure.
* ``prior = "evidence"``: each replicate trial draws its true rates from the posterior of the
  evidence row: Beta(a + w x, b + w (n - x)) (or Gamma(a + w x, b + w n months / 12)) with weight
  w = ``evidence_weight``, so the results average over the uncertainty about harm.

Looks. The monitoring looks are information fractions ``f_k`` (``[safety.monitoring] looks``,
else ``[sequential] fractions``, else one look at the end): at look k, ``round(f_k n_a)`` patients
per arm have completed follow-up (per patient) or ``f_k n_a years`` patient-years have accrued
(with the conduct timeline: the arms' patient-years on the calendar day when ``f_k`` of the
trial's final patient-years have accrued); counts grow by independent increments (Binomial or
Poisson), so the looks' counts are nested.

Rules (MSC arm(s) against control; a trial stops at the first look where any MSC arm crosses):

* ``bayes``: P(rate_MSC - rate_control > margin | data) > threshold with independent Beta(a, b)
  (or Gamma(a, rate b)) analysis priors, computed by Gauss-Legendre quadrature over the control
  posterior's quantiles (:func:`simtrial.stats.safety.p_beta_difference`; numerical
  integration, no Monte Carlo error);
* ``spending``: one-sided score z of the difference (pooled binomial; conditional Poisson) >=
  the Lan-DeMets bound of ``alpha`` at the look (:func:`simtrial.stats.gsd.boundaries`): a
  normal approximation, so its size with rare events is what the operating characteristics show.

With ``[sequential]`` and harm looks at the efficacy looks, a harm stop counts only at or before
the efficacy stop look (harm first at the same look).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._rng import CHUNK_TRIALS, chunk_count, chunk_generator, safety_code
from ..model.design import DesignModel
from ..model.safety import safety_evidence
from ..stats.gsd import boundaries
from ..stats import safety as cf
from ..stats.mc import mean_se, rate_se

__all__ = ["safety_rows", "event_trials", "SAFETY_METRICS", "default_oc_rates",
           "exact_p_stop_one_look", "conduct_exposure"]

SAFETY_METRICS = ("true_rate_mean", "mean_events", "analytic_mean_events", "p_any_event",
                  "analytic_p_any_event", "cp_upper_mean", "garwood_upper_mean",
                  "upper_bound_at_zero", "rule_of_three", "posterior_mean_mean",
                  "posterior_upper_mean", "mean_risk_difference", "true_risk_difference",
                  "rd_lower_mean", "rd_upper_mean", "p_rd_excludes_zero",
                  "posterior_p_harm_mean", "p_stop_harm", "analytic_p_stop_harm",
                  "p_stop_look", "mean_stop_fraction", "power_efficacy",
                  "power_with_monitoring", "power_lost", "oc_p_stop_harm",
                  "oc_analytic_p_stop_harm", "oc_power_with_monitoring", "oc_power_lost",
                  "oc_mean_stop_fraction", "exposure_patient_years")
"""Metric names of the ``table = "safety"`` rows (``p_stop_look`` rows carry the look in
``visit``; ``oc_*`` rows the true MSC rate, ``rate_msc=<r>``)."""
EXACT_MAX_CELLS = 40_000
"""Largest (n0 + 1)(n1 + 1) for the exact one-look P(stop) (:func:`exact_p_stop_one_look`)."""


def _prior_params(s, ev: dict, arm: str) -> tuple[float, float]:
    """Beta (a, b) or Gamma (shape, rate) of the true rate of ``arm`` from the evidence row."""
    w, a0, b0 = s.evidence_weight, s.prior_a, s.prior_b
    x, n = ev[f"events_{arm}"], ev[f"n_{arm}"]
    if s.per == "patient":
        return a0 + w * x, b0 + w * (n - x)
    return a0 + w * x, b0 + w * n * ev["follow_up_months"] / 12.0


def default_oc_rates(control: float, per: str) -> tuple[float, ...]:
    """The default grid of true MSC rates: the control rate x 0.5, 1, 1.5, 2, 3, 4 (below 1 per
    patient), or 0.01, 0.02, 0.05, 0.1, 0.2 if the control rate is 0."""
    if control <= 0:
        return (0.01, 0.02, 0.05, 0.1, 0.2)
    top = 1.0 if per == "patient" else math.inf
    return tuple(r for r in (control * m for m in (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)) if r < top)


def _looks(dm: DesignModel, s) -> tuple[float, ...]:
    m = s.monitoring
    if m is not None and m.looks is not None:
        return tuple(m.looks)
    if m is not None and dm.scenario.sequential is not None:
        return tuple(dm.scenario.sequential.fractions)
    return (1.0,)


def _cum_n(arm_n: np.ndarray, fr: tuple[float, ...]) -> np.ndarray:
    """Patients with complete follow-up per arm and look, shape (arms, looks)."""
    f = np.asarray(fr)
    out = np.floor(f[None, :] * arm_n[:, None] + 0.5)
    out[:, -1] = arm_n
    return np.minimum(out, arm_n[:, None])


DAYS_PER_YEAR = 365.25


def conduct_exposure(conduct, n_groups: int, fractions: tuple[float, ...]) -> np.ndarray:
    """Patient-years at risk per conduct replicate, arm and look, shape (R, A, K).

    Patient k of replicate r is at risk from its first infusion to its last scheduled visit or
    its withdrawal, whichever is first (none if never infused). Look k is the calendar day on
    which ``fractions[k]`` of the replicate's final patient-years (both arms) have accrued,
    found by bisection on the day (vectorised over replicates); the last look is the end."""
    start = conduct.infusion_day[..., 0]                                    # (R, N)
    end = np.minimum(conduct.withdraw_day, conduct.visit_day[..., -1])
    start = np.where(np.isfinite(start), start, np.inf)
    span = np.clip(end - start, 0.0, None)
    span = np.where(np.isfinite(span), span, 0.0)
    arm = conduct.group % n_groups                                          # (R, N)
    onehot = arm[..., None] == np.arange(n_groups)                          # (R, N, A)

    def at(day):                                        # (R,) day -> (R, A) patient-years
        t = np.clip(day[:, None] - np.where(np.isfinite(start), start, 0.0), 0.0, None)
        t = np.where(np.isfinite(start), np.minimum(t, span), 0.0)
        return np.einsum("rn,rna->ra", t, onehot) / DAYS_PER_YEAR

    final = np.einsum("rn,rna->ra", span, onehot) / DAYS_PER_YEAR             # (R, A)
    total = final.sum(axis=1)
    out = np.empty(final.shape + (len(fractions),))
    fin_start = np.where(np.isfinite(start), start, np.nan)
    lo0 = np.nanmin(fin_start, axis=1)
    hi0 = np.nanmax(np.where(np.isfinite(start), start + span, np.nan), axis=1)
    for k, f in enumerate(fractions):
        if f >= 1.0:
            out[..., k] = final
            continue
        lo, hi = lo0.copy(), hi0.copy()
        for _ in range(60):                     # 2^-60 of the trial's span: exact to rounding
            mid = 0.5 * (lo + hi)
            below = at(mid).sum(axis=1) < f * total
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        out[..., k] = at(hi)
    return out


class _Event:
    """One ``[[safety]]`` table resolved at one design point."""

    def __init__(self, dm: DesignModel, s, index: int, arm_n: np.ndarray, conduct=None):
        self.s, self.i, self.per = s, index, s.per
        self.arm_n = arm_n.astype(float)
        self.years = s.years if s.years is not None else max(dm.visits) / 12.0
        self.fr = _looks(dm, s)
        self.cum = _cum_n(self.arm_n, self.fr)                       # (A, K)
        self.exposure = (self.arm_n[:, None] * np.asarray(self.fr)[None, :] * self.years
                         if self.per == "patient_year" else None)    # (A, K)
        # with [conduct]: each replicate's exposure (R, A, K); trial i uses replicate i mod R
        self.timeline = (conduct_exposure(conduct, self.arm_n.size, self.fr)
                         if self.per == "patient_year" and conduct is not None
                         and s.years is None else None)
        self.ev = safety_evidence(dm.scenario)[index]
        self.ctrl_prior = (_prior_params(s, self.ev, "control")
                           if self.ev is not None and s.rate_control is None else None)
        self.msc_prior = _prior_params(s, self.ev, "msc") if self.ev is not None else None

    def exposure_of(self, trials: np.ndarray | None) -> np.ndarray:
        """Exposure (A, K) without a timeline, else (len(trials), A, K) of those trials."""
        if self.timeline is None or trials is None:
            return self.exposure
        return self.timeline[np.asarray(trials) % self.timeline.shape[0]]

    def final_exposure(self, n_trials: int) -> np.ndarray:
        """Patient-years at the end per trial and arm, (n_trials, A)."""
        if self.timeline is None:
            return np.broadcast_to(self.exposure[:, -1], (n_trials, self.arm_n.size))
        return self.exposure_of(np.arange(n_trials))[..., -1]

    # true rates --------------------------------------------------------------------------
    def draw_rates(self, g: np.random.Generator, m: int) -> np.ndarray:
        """True rates (m, A): MSC arms share one drawn rate per trial."""
        A = self.arm_n.size
        out = np.empty((m, A))
        if self.msc_prior is None:
            out[:, 1:] = self.s.rate_msc
        else:
            out[:, 1:] = self._draw(g, self.msc_prior, m)[:, None]
        if self.ctrl_prior is None:
            out[:, 0] = self.s.rate_control
        else:
            out[:, 0] = self._draw(g, self.ctrl_prior, m)
        return out

    def _draw(self, g, prior, m):
        a, b = prior
        return g.beta(a, b, size=m) if self.per == "patient" else g.gamma(a, 1.0 / b, size=m)

    def mean_rate(self, arm: int) -> float:
        """Expected true rate of arm ``arm`` (0 = control)."""
        prior = self.ctrl_prior if arm == 0 else self.msc_prior
        fixed = self.s.rate_control if arm == 0 else self.s.rate_msc
        if prior is None:
            return float(fixed)
        a, b = prior
        return a / (a + b) if self.per == "patient" else a / b

    # counts ------------------------------------------------------------------------------
    def counts(self, g: np.random.Generator, rates: np.ndarray,
               trials: np.ndarray | None = None) -> np.ndarray:
        """Cumulative counts (..., A, K) at the looks for true rates (..., A) of ``trials``
        (global trial indices along the last axis of ``rates``' leading shape; they choose the
        conduct replicate's exposure)."""
        if self.per == "patient":
            inc = np.diff(self.cum, axis=1, prepend=0.0)
            x = g.binomial(inc.astype(np.int64), rates[..., None])
        else:
            inc = np.diff(self.exposure_of(trials), axis=-1, prepend=0.0)
            x = g.poisson(rates[..., None] * inc)
        return np.cumsum(x, axis=-1)

    # the rule ----------------------------------------------------------------------------
    def crossed(self, x: np.ndarray, trials: np.ndarray | None = None) -> np.ndarray:
        """Bool (..., K): some MSC arm crosses the harm rule at look k, for counts x
        (..., A, K) of ``trials`` (global indices along the axis before (A, K); only needed
        with a conduct timeline). The rule depends only on (arm, look, MSC count, control
        count) and, with a timeline, the conduct replicate: each distinct tuple is evaluated
        once per event and kept (``_hits``), so the posterior quadrature costs the same however
        many trials or chunks share it."""
        A, K = x.shape[-2:]
        x = np.asarray(x, dtype=np.int64)
        lead = x.shape[:-2]
        arm = np.broadcast_to(np.arange(1, A)[:, None], lead + (A - 1, K))
        look = np.broadcast_to(np.arange(K)[None, :], lead + (A - 1, K))
        x1 = x[..., 1:, :]
        x0 = np.broadcast_to(x[..., :1, :], x1.shape)
        if self.timeline is None:
            rep = np.zeros(x1.shape, dtype=np.int64)
        else:
            r = np.asarray(trials) % self.timeline.shape[0]
            rep = np.broadcast_to(r[:, None, None], x1.shape)
        keys = np.stack([arm, look, x1, x0, rep], axis=-1).reshape(-1, 5)
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        cache = self.__dict__.setdefault("_hits", {})
        todo = np.array([i for i, u in enumerate(map(tuple, uniq.tolist())) if u not in cache],
                        dtype=np.int64)
        if todo.size:
            for u, h in zip(map(tuple, uniq[todo].tolist()), self._rule(uniq[todo])):
                cache[u] = bool(h)
        hits = np.fromiter((cache[u] for u in map(tuple, uniq.tolist())), dtype=bool,
                           count=len(uniq))
        return hits[inv.ravel()].reshape(x1.shape).any(axis=-2)

    def _rule(self, keys: np.ndarray) -> np.ndarray:
        """The harm rule at (arm, look, MSC count, control count, replicate) rows, (n, 5)."""
        m = self.s.monitoring
        a_, k_, r_ = keys[:, 0], keys[:, 1], keys[:, 4]
        x1, x0 = keys[:, 2].astype(float), keys[:, 3].astype(float)
        if self.per == "patient":
            n1, n0 = self.cum[a_, k_], self.cum[0, k_]
        elif self.timeline is None:
            n1, n0 = self.exposure[a_, k_], self.exposure[0, k_]
        else:
            n1, n0 = self.timeline[r_, a_, k_], self.timeline[r_, 0, k_]
        if m.rule == "bayes":
            a, b = self.s.prior_a, self.s.prior_b
            if self.per == "patient":
                p = cf.p_beta_difference(a + x1, b + n1 - x1, a + x0, b + n0 - x0, m.margin)
            else:
                p = cf.p_gamma_difference(a + x1, b + n1, a + x0, b + n0, m.margin)
            return p > m.threshold
        return _score_z(x1, n1, x0, n0, self.per) >= self.bounds()[k_]

    def bounds(self) -> np.ndarray:
        """Lan-DeMets z bounds of the spending rule at the looks (computed once)."""
        if "_bounds" not in self.__dict__:
            m = self.s.monitoring
            self.__dict__["_bounds"] = np.asarray(boundaries(list(self.fr), alpha=m.alpha,
                                                             sides=1, spending=m.spending).z,
                                                  dtype=float)
        return self.__dict__["_bounds"]


def _score_z(x1, n1, x0, n0, per: str) -> np.ndarray:
    """One-sided score z for harm (positive: more events on MSC); 0 without events."""
    x1, x0 = np.asarray(x1, float), np.asarray(x0, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if per == "patient":
            pbar = (x1 + x0) / (n1 + n0)
            var = pbar * (1.0 - pbar) * (1.0 / n1 + 1.0 / n0)
            z = (x1 / n1 - x0 / n0) / np.sqrt(var)
        else:
            w = n1 / (n1 + n0)
            t = x1 + x0
            z = (x1 - w * t) / np.sqrt(t * w * (1.0 - w))
    return np.where(np.isfinite(z), z, 0.0)


def _one_look_thresholds(ev: "_Event") -> np.ndarray:
    """Bayes rule: per control count x0 = 0..n0, the smallest MSC count that crosses the
    one-look rule (n1 + 1: none). P(p1 - p0 > margin | x0, x1) increases with x1 (the Beta
    posterior of p1 rises stochastically with x1), so the posterior threshold is a count
    threshold, found by bisection (vectorised over x0). Spending rule: the whole crossing grid,
    bool (n0 + 1, n1 + 1) (no quadrature, no monotonicity assumed)."""
    cached = ev.__dict__.get("thresholds")
    if cached is not None:
        return cached
    n0, n1 = (int(v) for v in ev.arm_n)
    x0 = np.arange(n0 + 1)

    def hit(x1):
        x = np.stack([x0, x1], axis=-1)[..., None]               # (n0+1, 2 arms, 1 look)
        return ev.crossed(x)[:, 0]
    if ev.s.monitoring.rule == "bayes":
        lo = np.full(n0 + 1, -1)             # largest known not to cross
        hi = np.full(n0 + 1, n1 + 1)         # smallest known to cross (n1 + 1: none)
        top = hit(np.full(n0 + 1, n1))
        hi = np.where(top, n1, hi)
        lo = np.where(top, lo, n1)
        while np.any(hi - lo > 1):
            mid = (lo + hi) // 2
            h = hit(np.clip(mid, 0, n1))
            hi = np.where((hi - lo > 1) & h, mid, hi)
            lo = np.where((hi - lo > 1) & ~h, mid, lo)
        out = hi
    else:
        out = np.stack([hit(np.full(n0 + 1, k)) for k in range(n1 + 1)], axis=1)
    ev.__dict__["thresholds"] = out
    return out


def exact_p_stop_one_look(ev: "_Event", p0: float, p1: float) -> float:
    """Exact P(stop) of a one-look rule, one MSC arm, per patient, fixed rates:
    ``sum_x0 Binomial(x0; n0, p0) P(X1 >= t(x0); n1, p1)`` with the count thresholds t of
    :func:`_one_look_thresholds` (the spending rule: the sum over its crossing grid); NaN
    where not computable (several looks or arms, per patient-year, or more than
    :data:`EXACT_MAX_CELLS` count pairs)."""
    from scipy.stats import binom
    n = ev.arm_n
    if (len(ev.fr) != 1 or n.size != 2 or ev.per != "patient"
            or (n[0] + 1) * (n[1] + 1) > EXACT_MAX_CELLS):
        return math.nan
    t = _one_look_thresholds(ev)
    w0 = binom.pmf(np.arange(n[0] + 1), n[0], p0)
    if t.ndim == 2:
        return float(w0 @ t.astype(float) @ binom.pmf(np.arange(n[1] + 1), n[1], p1))
    return float(np.sum(w0 * binom.sf(t - 1, n[1], p1)))


def _stop_look(crossed: np.ndarray, eff_look: np.ndarray | None) -> np.ndarray:
    """First crossing look (..., R) or -1; a crossing after the efficacy stop look does not
    count."""
    k = np.where(crossed.any(axis=-1), np.argmax(crossed, axis=-1), -1)
    if eff_look is not None:
        k = np.where((k >= 0) & (k <= eff_look), k, -1)
    return k


def safety_rows(dm: DesignModel, sizes: np.ndarray, n_trials: int, seed: int,
                trials: dict[str, np.ndarray] | None, conduct=None) -> list[dict[str, Any]]:
    """Tidy rows (``hypothesis = "safety"``, ``endpoint`` = the event name) of every
    ``[[safety]]`` event at one design point; the monitoring rows need ``trials`` (the kept
    per-trial ``point_success``); ``conduct`` (the point's conduct replicates) gives
    patient-year events their timeline.

    Returns
    -------
    list of dict
        Keys ``hypothesis, endpoint, arm, visit, metric, estimate, mc_se`` (metrics in
        :data:`SAFETY_METRICS`). Every simulated probability carries its binomial MC SE, every
        mean ``SD / sqrt(R)``; closed forms (``analytic_*``, ``rule_of_three``,
        ``upper_bound_at_zero``) have NaN MC SE.
    """
    sc = dm.scenario
    arm_n = sizes.sum(axis=0)
    names = ["control"] + [a.name for a in dm.arms]
    success = None
    if trials is not None and "point_success" in trials:
        success = np.asarray(trials["point_success"][:, 0], dtype=bool)
    eff_look = None
    if (trials is not None and "point_gsd_look" in trials and dm.boundaries is not None):
        eff_look = np.asarray(trials["point_gsd_look"])
    rows: list[dict[str, Any]] = []
    for i, s in enumerate(sc.safety):
        ev = _Event(dm, s, i, arm_n, conduct)
        same_looks = (eff_look is not None and
                      tuple(dm.boundaries.fractions) == tuple(ev.fr))
        rows.extend(_event_rows(ev, names, n_trials, seed, success,
                                eff_look if same_looks else None))
    return rows


def _draw_all(ev: _Event, n_trials: int, seed: int, oc: tuple[float, ...] | None,
              eff_look: np.ndarray | None = None):
    """True rates (R, A), cumulative counts (R, A, K) and, for the OC grid, the harm stop look
    (G, R) (computed chunk by chunk: the grid's counts are never all in memory)."""
    rates, counts, oc_looks = [], [], []
    for c in range(chunk_count(n_trials)):
        m = min(CHUNK_TRIALS, n_trials - c * CHUNK_TRIALS)
        idx = c * CHUNK_TRIALS + np.arange(m)
        r = ev.draw_rates(chunk_generator(seed, c, safety_code(ev.i, 0)), m)
        rates.append(r)
        counts.append(ev.counts(chunk_generator(seed, c, safety_code(ev.i, 1)), r, idx))
        if oc:
            g = chunk_generator(seed, c, safety_code(ev.i, 2))
            grid = np.empty((len(oc), m, ev.arm_n.size))
            grid[..., 0] = ev.mean_rate(0)        # fixed, or the evidence posterior mean
            grid[..., 1:] = np.asarray(oc)[:, None, None]
            eff = None if eff_look is None else eff_look[c * CHUNK_TRIALS:c * CHUNK_TRIALS + m]
            oc_looks.append(_stop_look(ev.crossed(ev.counts(g, grid, idx), idx), eff))
    return (np.concatenate(rates), np.concatenate(counts),
            np.concatenate(oc_looks, axis=1) if oc else None)


def event_trials(dm: DesignModel, sizes: np.ndarray, n_trials: int, seed: int, index: int,
                 eff_look: np.ndarray | None = None, conduct=None) -> dict[str, np.ndarray]:
    """The per-trial arrays of ``[[safety]]`` table ``index`` (what :func:`safety_rows`
    summarises): ``rates`` (trials, arms) true rates, ``counts`` (trials, arms, looks)
    cumulative counts at the looks, ``fractions`` (looks,), ``exposure`` (trials, arms, looks)
    patient-years (per patient-year events), and with monitoring ``stop_look`` (trials,), the
    0-based look of the harm stop or -1."""
    ev = _Event(dm, dm.scenario.safety[index], index, sizes.sum(axis=0), conduct)
    rates, X, _ = _draw_all(ev, n_trials, seed, None)
    out = {"rates": rates, "counts": X, "fractions": np.asarray(ev.fr)}
    if ev.per == "patient_year":
        out["exposure"] = np.broadcast_to(ev.exposure_of(np.arange(n_trials)),
                                          (n_trials,) + ev.exposure.shape)
    if ev.s.monitoring is not None:
        out["stop_look"] = _stop_look(ev.crossed(X, np.arange(n_trials)), eff_look)
    return out


def _event_rows(ev: _Event, names: list[str], R: int, seed: int, success, eff_look):
    s = ev.s
    mon = s.monitoring
    oc = None
    if mon is not None:
        ctrl = ev.mean_rate(0)
        oc = tuple(s.oc_rates) if s.oc_rates is not None else default_oc_rates(ctrl, s.per)
    rates, X, olook = _draw_all(ev, R, seed, oc, eff_look)
    rows: list[dict[str, Any]] = []

    def add(arm, visit, metric, est, se=math.nan):
        rows.append({"hypothesis": "safety", "endpoint": s.name, "arm": arm, "visit": visit,
                     "metric": metric, "estimate": float(est), "mc_se": float(se)})

    def rate(b):
        p = float(np.mean(b))
        return p, rate_se(p, b.size)

    final = X[:, :, -1]
    efin = ev.final_exposure(R) if s.per == "patient_year" else None       # (R, A)
    conf, a0, b0 = s.confidence, s.prior_a, s.prior_b
    unit = "" if s.per == "patient" else "per patient-year"
    for a, nm in enumerate(names):
        n = ev.arm_n[a]
        x = final[:, a]
        drawn = (ev.ctrl_prior if a == 0 else ev.msc_prior) is not None
        add(nm, unit, "true_rate_mean", *(mean_se(rates[:, a]) if drawn
                                          else (rates[0, a], math.nan)))
        add(nm, "", "mean_events", *mean_se(x))
        add(nm, "", "p_any_event", *rate(x > 0))
        if s.per == "patient":
            E = n
            add(nm, "", "analytic_mean_events", n * ev.mean_rate(a))
            if drawn:
                pa, pb = ev.ctrl_prior if a == 0 else ev.msc_prior
                add(nm, "", "analytic_p_any_event", cf.beta_p_any_event(pa, pb, n))
            else:
                add(nm, "", "analytic_p_any_event", cf.p_any_event(rates[0, a], n))
            ux, inv = np.unique(x, return_inverse=True)
            add(nm, "", "cp_upper_mean", *mean_se(cf.cp_upper(ux, n, conf)[inv]))
            add(nm, "", "upper_bound_at_zero", cf.cp_upper(0, n, conf))
            add(nm, "", "rule_of_three", cf.rule_of_three(n))
            pa_, pb_ = cf.beta_posterior(ux, n, a0, b0)
            from scipy.stats import beta
            add(nm, "", "posterior_mean_mean", *mean_se((pa_ / (pa_ + pb_))[inv]))
            add(nm, "", "posterior_upper_mean", *mean_se(beta.ppf(conf, pa_, pb_)[inv]))
        else:
            # E: each trial's patient-years (a constant without a conduct timeline); closed
            # forms average over the trials' exposures (exact: the counts are Poisson given E)
            Et = efin[:, a]
            E = float(Et[0]) if ev.timeline is None else float(np.mean(Et))
            if ev.timeline is None:
                add(nm, "", "exposure_patient_years", E)
            else:
                add(nm, "", "exposure_patient_years", *mean_se(Et))
            add(nm, "", "analytic_mean_events", E * ev.mean_rate(a))
            if drawn:
                ga, gb = ev.ctrl_prior if a == 0 else ev.msc_prior
                add(nm, "", "analytic_p_any_event", float(np.mean(cf.gamma_p_any_event(ga, gb,
                                                                                       Et))))
            elif ev.timeline is None:
                add(nm, "", "analytic_p_any_event", cf.p_any_event_rate(rates[0, a], n,
                                                                        ev.years))
            else:
                add(nm, "", "analytic_p_any_event",
                    float(np.mean(cf.p_any_event_rate(rates[0, a], 1.0, Et))))
            add(nm, unit, "garwood_upper_mean", *mean_se(cf.garwood_upper(x, Et, conf)))
            add(nm, unit, "upper_bound_at_zero", cf.garwood_upper(0, E, conf))
            add(nm, unit, "rule_of_three", 3.0 / E)
            ga_, gb_ = cf.gamma_posterior(x, Et, a0, b0)
            from scipy.stats import gamma
            add(nm, unit, "posterior_mean_mean", *mean_se(ga_ / gb_))
            add(nm, unit, "posterior_upper_mean",
                *mean_se(gamma.ppf(conf, ga_, scale=1.0 / gb_)))
    margin = mon.margin if mon is not None and mon.rule == "bayes" else 0.0
    for a in range(1, len(names)):
        nm = names[a]
        x1, x0 = final[:, a], final[:, 0]
        if s.per == "patient":
            n1, n0 = ev.arm_n[a], ev.arm_n[0]
            add(nm, "", "mean_risk_difference", *mean_se(x1 / n1 - x0 / n0))
            lo, hi = cf.newcombe_interval(x1, n1, x0, n0, conf)
            add(nm, "", "rd_lower_mean", *mean_se(lo))
            add(nm, "", "rd_upper_mean", *mean_se(hi))
            add(nm, "", "p_rd_excludes_zero", *rate(lo > 0))
            post = cf.p_beta_difference(a0 + x1, b0 + n1 - x1, a0 + x0, b0 + n0 - x0, margin)
        else:
            e1, e0 = efin[:, a], efin[:, 0]
            add(nm, unit, "mean_risk_difference", *mean_se(x1 / e1 - x0 / e0))
            post = cf.p_gamma_difference(a0 + x1, b0 + e1, a0 + x0, b0 + e0, margin)
        d = rates[:, a] - rates[:, 0]
        add(nm, unit, "true_risk_difference", *(mean_se(d) if np.ptp(d) > 0 else (d[0], math.nan)))
        add(nm, f"margin {margin:g}", "posterior_p_harm_mean", *mean_se(post))
    if mon is None:
        return rows
    fr = ev.fr
    labels = [f"look {k + 1} ({f:g})" for k, f in enumerate(fr)]
    frac = np.append(np.asarray(fr), 1.0)        # index -1 (not stopped): full information
    look = _stop_look(ev.crossed(X, np.arange(R)), eff_look)
    stopped = look >= 0
    msc = names[1] if len(names) == 2 else "any MSC arm"
    add(msc, "", "p_stop_harm", *rate(stopped))
    if len(fr) == 1 and ev.ctrl_prior is None and ev.msc_prior is None:
        ex = exact_p_stop_one_look(ev, s.rate_control, s.rate_msc)
        if not math.isnan(ex):
            add(msc, "", "analytic_p_stop_harm", ex)
    for k, lab in enumerate(labels):
        add(msc, lab, "p_stop_look", *rate(look == k))
    add(msc, "", "mean_stop_fraction", *mean_se(frac[look]))
    if success is not None:
        add(msc, "", "power_efficacy", *rate(success))
        add(msc, "", "power_with_monitoring", *rate(success & ~stopped))
        add(msc, "", "power_lost", *rate(success & stopped))
    for g, r in enumerate(oc):
        lab = f"rate_msc={r:g}"
        st = olook[g] >= 0
        add(msc, lab, "oc_p_stop_harm", *rate(st))
        if len(fr) == 1:
            ex = exact_p_stop_one_look(ev, ev.mean_rate(0), r)
            if not math.isnan(ex):
                add(msc, lab, "oc_analytic_p_stop_harm", ex)
        add(msc, lab, "oc_mean_stop_fraction", *mean_se(frac[olook[g]]))
        if success is not None:
            add(msc, lab, "oc_power_with_monitoring", *rate(success & ~st))
            add(msc, lab, "oc_power_lost", *rate(success & st))
    return rows
