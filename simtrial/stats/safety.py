"""Safety events in closed form: the chance of seeing one, what a count of zero rules out, how
many patients a trial needs to rule a rate out, conjugate posteriors and the difference between
arms.

Two kinds of rate:

* **per patient** ``p``: the probability that a patient has the event during the trial's
  follow-up; a count ``x`` of ``n`` patients is Binomial(n, p);
* **per patient-year** ``lam``: events per patient-year; ``x`` events in ``E`` patient-years
  (``n`` patients followed ``years`` each) is Poisson(lam E).

Every function takes numbers or arrays and broadcasts (vectorised over replicate trials).

References
----------
Clopper CJ, Pearson ES. Biometrika 1934;26:404-413 (exact binomial bounds).
Hanley JA, Lippman-Hand A. JAMA 1983;249:1743-1745 (the rule of three).
Garwood F. Biometrika 1936;28:437-442 (exact Poisson bounds).
Newcombe RG. Stat Med 1998;17:873-890 (method 10: the hybrid score interval for a risk
difference).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import special

__all__ = ["JEFFREYS", "p_any_event", "p_any_event_rate", "cp_upper", "cp_lower",
           "rule_of_three", "garwood_upper", "garwood_lower", "n_to_rule_out",
           "exposure_to_rule_out", "beta_posterior", "gamma_posterior", "beta_p_any_event",
           "gamma_p_any_event", "newcombe_interval", "p_beta_difference",
           "p_gamma_difference", "QUADRATURE_NODES", "closed_form_answers"]

JEFFREYS = (0.5, 0.5)
"""The Jeffreys prior Beta(1/2, 1/2) for a proportion (and Gamma(1/2, rate 0) for a rate)."""
QUADRATURE_NODES = 256
"""Gauss-Legendre nodes of :func:`p_beta_difference` / :func:`p_gamma_difference`."""


def _st():
    """scipy.stats, imported on first use (0.5 s: ``power`` and ``validate`` of a scenario
    without [[safety]] never pay it)."""
    import scipy.stats
    return scipy.stats


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def p_any_event(p, n) -> np.ndarray:
    """P(at least one of ``n`` patients has the event), per-patient probability ``p``:
    ``1 - (1 - p)^n`` (computed as ``-expm1(n log1p(-p))``, exact for small p)."""
    p, n = _arr(p), _arr(n)
    return -np.expm1(n * np.log1p(-p))


def p_any_event_rate(lam, n, years) -> np.ndarray:
    """P(at least one event) in ``n`` patients followed ``years`` each at ``lam`` events per
    patient-year: ``1 - exp(-lam n years)``."""
    return -np.expm1(-_arr(lam) * _arr(n) * _arr(years))


def cp_upper(x, n, confidence=0.95) -> np.ndarray:
    """Exact one-sided upper confidence bound of a binomial proportion (Clopper-Pearson):
    the ``confidence`` quantile of Beta(x + 1, n - x); 1 where ``x = n``. For ``x = 0`` it is
    ``1 - (1 - confidence)^(1/n)`` (3/n by the rule of three at 95%)."""
    x, n, c = np.broadcast_arrays(_arr(x), _arr(n), _arr(confidence))
    full = x >= n
    out = _st().beta.ppf(c, x + 1.0, np.where(full, 1.0, n - x))
    return np.where(full, 1.0, out)


def cp_lower(x, n, confidence=0.95) -> np.ndarray:
    """Exact one-sided lower bound (Clopper-Pearson): the ``1 - confidence`` quantile of
    Beta(x, n - x + 1); 0 where ``x = 0``."""
    x, n, c = np.broadcast_arrays(_arr(x), _arr(n), _arr(confidence))
    zero = x <= 0
    out = _st().beta.ppf(1.0 - c, np.where(zero, 1.0, x), n - x + 1.0)
    return np.where(zero, 0.0, out)


def rule_of_three(n) -> np.ndarray:
    """The rule of three: ``3 / n``, the approximate 95% upper bound after 0 events in n
    (``-ln(0.05) = 2.996``; Hanley and Lippman-Hand 1983)."""
    return 3.0 / _arr(n)


def garwood_upper(x, exposure, confidence=0.95) -> np.ndarray:
    """Exact one-sided upper bound of a Poisson rate (Garwood): ``chi2.ppf(C, 2x + 2) / (2E)``
    events per unit of ``exposure`` (patient-years)."""
    return _st().chi2.ppf(_arr(confidence), 2.0 * _arr(x) + 2.0) / (2.0 * _arr(exposure))


def garwood_lower(x, exposure, confidence=0.95) -> np.ndarray:
    """Exact one-sided lower bound of a Poisson rate: ``chi2.ppf(1 - C, 2x) / (2E)``
    (0 at x = 0)."""
    x = _arr(x)
    df = np.where(x > 0, 2.0 * x, 1.0)
    out = _st().chi2.ppf(1.0 - _arr(confidence), df) / (2.0 * _arr(exposure))
    return np.where(x > 0, out, 0.0)


def _bdtr(k, n, p):
    """Binomial cdf P(X <= k | n, p) with integer k, n (scipy.special.bdtr)."""
    return special.bdtr(k.astype(np.int64), n.astype(np.int64), p)


def n_to_rule_out(p, confidence=0.95, events=0) -> np.ndarray:
    """Smallest number of patients ``n`` such that observing ``events`` (or fewer) rules out a
    per-patient rate ``p`` with one-sided confidence ``confidence``: the smallest n with
    ``P(X <= events | n, p) <= 1 - confidence``, i.e. the Clopper-Pearson upper bound of
    ``events / n`` is <= p.

    For ``events = 0``: ``n = ceil(ln(1 - C) / ln(1 - p))`` (about 3 / p at 95%). Otherwise a
    bisection on n, vectorised over the inputs.
    """
    p, c, k = np.broadcast_arrays(_arr(p), _arr(confidence), _arr(events))
    alpha = 1.0 - c
    lo = np.maximum(k, 1.0)                       # cdf(k; n = k) = 1 > alpha: never enough
    guess = np.ceil(np.log(alpha) / np.log1p(-p)) + k
    hi = np.maximum(guess, lo)
    # grow hi until it is enough (each doubling at most ~50 times for p >= 1e-12)
    for _ in range(200):
        short = _bdtr(k, hi, p) > alpha
        if not short.any():
            break
        hi = np.where(short, hi * 2.0, hi)
    lo = lo - 1.0                                 # invariant: lo not enough, hi enough
    for _ in range(200):
        if np.all(hi - lo <= 1.0):
            break
        mid = np.floor((lo + hi) / 2.0)
        ok = _bdtr(k, mid, p) <= alpha
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return hi.astype(np.int64)


def exposure_to_rule_out(lam, confidence=0.95, events=0) -> np.ndarray:
    """Patient-years needed so that ``events`` (or fewer) rule out a rate ``lam`` per
    patient-year with one-sided confidence C: ``chi2.ppf(C, 2 events + 2) / (2 lam)``
    (``-ln(1 - C) / lam`` for 0 events)."""
    return _st().chi2.ppf(_arr(confidence), 2.0 * _arr(events) + 2.0) / (2.0 * _arr(lam))


def beta_posterior(x, n, a=JEFFREYS[0], b=JEFFREYS[1]) -> tuple[np.ndarray, np.ndarray]:
    """Conjugate posterior Beta(a + x, b + n - x) of a per-patient rate after ``x`` of ``n``."""
    x, n = _arr(x), _arr(n)
    return _arr(a) + x, _arr(b) + n - x


def gamma_posterior(x, exposure, a=0.5, b=0.0) -> tuple[np.ndarray, np.ndarray]:
    """Conjugate posterior Gamma(shape a + x, rate b + E) of a rate per patient-year after
    ``x`` events in ``E`` patient-years (default prior Gamma(1/2, 0), Jeffreys)."""
    return _arr(a) + _arr(x), _arr(b) + _arr(exposure)


def beta_p_any_event(a, b, n) -> np.ndarray:
    """P(at least one event in ``n`` patients) when the rate is Beta(a, b):
    ``1 - B(a, b + n) / B(a, b)`` (the prior predictive of a zero count)."""
    a, b, n = _arr(a), _arr(b), _arr(n)
    return -np.expm1(special.betaln(a, b + n) - special.betaln(a, b))


def gamma_p_any_event(a, b, exposure) -> np.ndarray:
    """P(at least one event in ``E`` patient-years) when the rate is Gamma(shape a, rate b):
    ``1 - (b / (b + E))^a``."""
    a, b, e = _arr(a), _arr(b), _arr(exposure)
    return -np.expm1(a * (np.log(b) - np.log(b + e)))


def _wilson(x, n, z):
    p = x / n
    den = 1.0 + z * z / n
    mid = (p + z * z / (2.0 * n)) / den
    half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / den
    return mid - half, mid + half


def newcombe_interval(x1, n1, x0, n0, confidence=0.95) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided ``confidence`` interval of the risk difference ``x1/n1 - x0/n0`` (Newcombe
    1998 method 10: the hybrid of the two Wilson score intervals).

    Notes
    -----
    With Wilson limits (l_i, u_i) of each arm and d = p1 - p0:
    ``L = d - sqrt((p1 - l1)^2 + (u0 - p0)^2)``, ``U = d + sqrt((u1 - p1)^2 + (p0 - l0)^2)``.
    """
    x1, n1, x0, n0 = (_arr(v) for v in (x1, n1, x0, n0))
    z = _st().norm.ppf(0.5 + _arr(confidence) / 2.0)
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = _wilson(x1, n1, z)
    l0, u0 = _wilson(x0, n0, z)
    d = p1 - p0
    return (d - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2),
            d + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2))


@functools.lru_cache(maxsize=4)
def _nodes(k: int = QUADRATURE_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on (0, 1) (computed once: an eigenproblem)."""
    u, w = np.polynomial.legendre.leggauss(k)
    u, w = (u + 1.0) / 2.0, w / 2.0
    u.flags.writeable = False
    w.flags.writeable = False
    return u, w


def p_beta_difference(a1, b1, a0, b0, margin=0.0) -> np.ndarray:
    """P(p1 - p0 > margin) for independent p1 ~ Beta(a1, b1), p0 ~ Beta(a0, b0).

    Notes
    -----
    Numerical integration over the quantiles of p0: ``int_0^1 S1(Q0(u) + margin) du`` with
    :data:`QUADRATURE_NODES` Gauss-Legendre nodes in u, where S1 is the survival function of
    p1 and Q0 the quantile function of p0 (the integrand is bounded in [0, 1], so a peaked
    posterior needs no special grid). Vectorised: the inputs broadcast; identical parameter
    sets are integrated once.
    """
    return _difference("beta", a1, b1, a0, b0, margin, scale=False)


def p_gamma_difference(a1, r1, a0, r0, margin=0.0) -> np.ndarray:
    """P(lam1 - lam0 > margin) for independent Gamma(shape a_i, rate r_i) rates; the same
    quadrature as :func:`p_beta_difference`."""
    return _difference("gamma", a1, r1, a0, r0, margin, scale=True)


def _difference(name: str, a1, b1, a0, b0, margin, scale: bool) -> np.ndarray:
    a1, b1, a0, b0, m = np.broadcast_arrays(*(_arr(v) for v in (a1, b1, a0, b0, margin)))
    shape = a1.shape
    flat = np.stack([v.ravel() for v in (a1, b1, a0, b0, m)], axis=1)
    uniq, inv = np.unique(flat, axis=0, return_inverse=True)
    dist = getattr(_st(), name)
    u, w = _nodes()
    # the control quantiles depend on (a0, b0) only: computed once per distinct pair
    pairs, pinv = np.unique(uniq[:, 2:4], axis=0, return_inverse=True)
    A0, B0 = pairs[:, :1], pairs[:, 1:2]
    q0 = (dist.ppf(u[None, :], A0, scale=1.0 / B0) if scale
          else dist.ppf(u[None, :], A0, B0))[pinv.ravel()]
    A1, B1, M = uniq[:, 0:1], uniq[:, 1:2], uniq[:, 4:5]
    s1 = dist.sf(q0 + M, A1, scale=1.0 / B1) if scale else dist.sf(q0 + M, A1, B1)
    return (s1 @ w)[inv.ravel()].reshape(shape)


def closed_form_answers(n_treated: int, rate: float, years: float | None = None,
                        confidence: float = 0.95, events: int = 0) -> dict:
    """The closed-form safety questions of ``simtrial safety``, as plain data.

    Parameters
    ----------
    n_treated : int
        Patients treated (>= 1).
    rate : float
        A per-patient probability over the follow-up (``years`` None) or a rate per
        patient-year.
    years : float, optional
        Follow-up per patient in years: ``rate`` is then per patient-year.
    confidence : float
        One-sided confidence of the bounds, in (0, 1).
    events : int
        Events allowed (``k``) for "patients needed" and observed for "what k/N rules out".

    Returns
    -------
    dict
        ``p_any_event`` (P(>= 1 event) in N at the rate), ``expected_events``,
        ``n_to_rule_out`` (patients with ``events`` or fewer events needed so the bound rules
        the rate out; per patient-year also ``patient_years_to_rule_out``), ``upper_bound``
        (what ``events``/N rules out: Clopper-Pearson or Garwood), ``rule_of_three`` (3/N or
        3/patient-years, for 0 events) and the units.
    """
    n, p, c, k = int(n_treated), float(rate), float(confidence), int(events)
    out: dict = {"n_treated": n, "rate": p, "confidence": c, "events": k}
    if years is None:
        out.update(unit="probability per patient over the follow-up",
                   p_any_event=float(p_any_event(p, n)), expected_events=n * p,
                   n_to_rule_out=int(n_to_rule_out(p, c, k)),
                   upper_bound=float(cp_upper(k, n, c)), upper_bound_method="Clopper-Pearson "
                   "exact one-sided (Beta quantile)", rule_of_three=float(rule_of_three(n)))
    else:
        y = float(years)
        e = n * y
        need = float(exposure_to_rule_out(p, c, k))
        out.update(unit="events per patient-year", years=y, patient_years=e,
                   p_any_event=float(p_any_event_rate(p, n, y)), expected_events=p * e,
                   patient_years_to_rule_out=need, n_to_rule_out=int(np.ceil(need / y - 1e-9)),
                   upper_bound=float(garwood_upper(k, e, c)), upper_bound_method="Garwood exact "
                   "one-sided (chi-square quantile)", rule_of_three=3.0 / e)
    return out
