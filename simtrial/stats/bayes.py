"""Bayesian borrowing for a normal endpoint: MAP priors, robust mixtures, posteriors, decisions.

Pure math on arrays, vectorised over replicate trials (no loop per trial):

* :func:`map_prior`: the meta-analytic-predictive (MAP) prior of a new study's parameter (a
  control-arm mean change, or a treatment effect) from study-level estimates ``y_i`` with
  standard errors ``s_i`` under the normal-normal hierarchical model

      y_i | theta_i ~ N(theta_i, s_i^2),  theta_i | mu, tau ~ N(mu, tau^2),
      tau ~ half-normal(tau_prior_sd),  mu flat (or N(mu_mean, mu_sd^2)),

  computed by quadrature over tau (no MCMC): given tau, ``mu | y, tau ~ N(mu_hat, V)`` and
  ``theta_new | y, tau ~ N(mu_hat, V + tau^2)``; the posterior weight of each tau node is its
  quadrature weight x the half-normal density x the marginal likelihood ``p(y | tau)``. The MAP
  prior is therefore exactly a normal mixture over the nodes (:class:`MapPrior`, several hundred
  components), which :func:`approximate` reduces to a few components with its maximum CDF
  error reported.
* :func:`ess`: effective sample size by the moment method (``sigma_unit^2 / Var``) or by the
  expected local-information ratio (ELIR, Neuenschwander et al. 2020, the default of RBesT).
* :func:`robustify`: ``w * N(m, sigma_unit^2) + (1 - w) * prior`` (RBesT's ``robustify``).
* :func:`normal_update`, :func:`mixture_update`: conjugate updates of a normal or a normal
  mixture prior by a normal likelihood ``y ~ N(theta, se^2)`` per trial.
* :func:`mixture_cdf`, :func:`mixture_quantile` (vectorised bisection), :func:`mixture_mean`,
  :func:`mixture_sd`, :func:`box_p` (prior-data conflict).

A mixture is three arrays ``(w, m, s)`` of shape ``(..., K)``: weights (summing to 1 on the last
axis), component means and SDs; a prior has shape ``(K,)``, a per-trial posterior ``(T, K)``.

References
----------
Schmidli H, Gsteiger S, Roychoudhury S, O'Hagan A, Spiegelhalter D, Neuenschwander B.
Robust meta-analytic-predictive priors in clinical trials with historical control information.
Biometrics 2014;70:1023-1032.
Neuenschwander B, Weber S, Schmidli H, O'Hagan A. Predictively consistent prior effective sample
sizes. Biometrics 2020;76:578-587.
Box GEP. Sampling and Bayes' inference in scientific modelling and robustness. J R Stat Soc A
1980;143:383-430.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = ["Mixture", "MapPrior", "map_prior", "approximate", "ess", "ESS_METHODS", "robustify",
           "normal_update", "mixture_update", "mixture_cdf", "mixture_pdf", "mixture_mean",
           "mixture_sd", "mixture_quantile", "box_p", "max_cdf_error",
           "effect_posterior", "control_posterior", "decide", "GO", "NOGO", "CONSIDER"]

ESS_METHODS = ("elir", "moment")
"""Effective-sample-size methods of :func:`ess`."""

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class Mixture:
    """A normal mixture prior: weights ``w``, means ``m``, SDs ``s`` (each shape (K,))."""

    w: np.ndarray
    m: np.ndarray
    s: np.ndarray

    @classmethod
    def normal(cls, mean: float, sd: float) -> "Mixture":
        """One normal component."""
        return cls(np.array([1.0]), np.array([float(mean)]), np.array([float(sd)]))

    @property
    def k(self) -> int:
        return int(self.w.size)

    @property
    def mean(self) -> float:
        return float(mixture_mean(self.w, self.m, self.s))

    @property
    def sd(self) -> float:
        return float(mixture_sd(self.w, self.m, self.s))

    def cdf(self, x) -> np.ndarray:
        return mixture_cdf(self.w, self.m, self.s, np.asarray(x, dtype=float)[..., None])

    def pdf(self, x) -> np.ndarray:
        return mixture_pdf(self.w, self.m, self.s, np.asarray(x, dtype=float)[..., None])

    def quantile(self, p: float) -> float:
        return float(mixture_quantile(self.w, self.m, self.s, p))

    def components(self) -> list[dict[str, float]]:
        """``[{weight, mean, sd}, ...]`` (plain floats)."""
        return [{"weight": float(a), "mean": float(b), "sd": float(c)}
                for a, b, c in zip(self.w, self.m, self.s)]


# ---------------------------------------------------------------------------------------------
# mixtures, vectorised over leading axes
# ---------------------------------------------------------------------------------------------

def mixture_pdf(w, m, s, x) -> np.ndarray:
    """Density of the mixture ``(w, m, s)`` (last axis = components) at ``x`` (broadcast
    against the leading axes, with a trailing axis of 1)."""
    z = (x - m) / s
    return np.sum(w * np.exp(-0.5 * z * z) / (s * math.sqrt(2.0 * math.pi)), axis=-1)


def mixture_cdf(w, m, s, x) -> np.ndarray:
    """CDF of the mixture at ``x`` (``x`` shaped ``(..., 1)`` against ``(..., K)``)."""
    return np.sum(w * special.ndtr((x - m) / s), axis=-1)


def mixture_mean(w, m, s) -> np.ndarray:
    """Mean of the mixture: ``sum w m``."""
    return np.sum(w * m, axis=-1)


def mixture_sd(w, m, s) -> np.ndarray:
    """SD of the mixture: ``sqrt(sum w (s^2 + m^2) - mean^2)`` (centred, no cancellation)."""
    mu = mixture_mean(w, m, s)
    return np.sqrt(np.sum(w * (s * s + (m - mu[..., None]) ** 2), axis=-1))


def mixture_quantile(w, m, s, p: float, iterations: int = 200) -> np.ndarray:
    """``p``-quantile of each mixture (leading axes), by bisection on all of them at once.

    The bracket is ``[min(m - 40 s), max(m + 40 s)]`` per mixture, which holds every quantile
    in (1e-300, 1 - 1e-16); the loop stops when every interval is at the floating-point
    resolution of its endpoints (at most ``iterations`` halvings, about 60 in practice).
    """
    w, m, s = (np.asarray(a, dtype=float) for a in (w, m, s))
    lo = np.min(m - 40.0 * s, axis=-1)
    hi = np.max(m + 40.0 * s, axis=-1)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if np.all((mid <= lo) | (mid >= hi)):     # no float left between the ends
            break
        below = mixture_cdf(w, m, s, mid[..., None]) < p
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


# ---------------------------------------------------------------------------------------------
# conjugate updates
# ---------------------------------------------------------------------------------------------

def normal_update(m0, s0, y, se) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and SD of ``theta`` with prior ``N(m0, s0^2)`` and ``y ~ N(theta, se^2)``.

    Notes
    -----
    Precision-weighted: ``v = 1 / (1/s0^2 + 1/se^2)``, ``m = v (m0/s0^2 + y/se^2)``.
    """
    p0 = 1.0 / np.square(s0)
    p1 = 1.0 / np.square(se)
    v = 1.0 / (p0 + p1)
    return v * (p0 * m0 + p1 * y), np.sqrt(v)


def mixture_update(w, m, s, y, se) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior of a normal-mixture prior ``(w, m, s)`` (shape (K,)) given one normal
    observation per trial: ``y``, ``se`` shaped (T,). Returns ``(w, m, s)`` shaped (T, K).

    Notes
    -----
    Each component is updated conjugately (:func:`normal_update`); its weight becomes
    ``w_k N(y; m_k, s_k^2 + se^2)`` normalised (the marginal likelihood of the component),
    computed in log space.
    """
    y = np.asarray(y, dtype=float)[..., None]
    se = np.asarray(se, dtype=float)[..., None]
    pv = s * s + se * se
    logw = np.log(w) - 0.5 * (np.log(pv) + _LOG_2PI + (y - m) ** 2 / pv)
    logw -= special.logsumexp(logw, axis=-1, keepdims=True)
    mp, sp = normal_update(m, s, y, se)
    return np.exp(logw), mp, sp


def box_p(w, m, s, y, se) -> np.ndarray:
    """Prior-data conflict: Box's prior-predictive tail probability of each observed ``y``.

    The prior predictive of ``y`` is the mixture ``(w, m, sqrt(s^2 + se^2))``; the p value is
    the two-sided tail ``2 min(F(y), 1 - F(y))`` (small = the data conflict with the prior).
    """
    y = np.asarray(y, dtype=float)[..., None]
    se = np.asarray(se, dtype=float)[..., None]
    f = mixture_cdf(w, m, np.sqrt(s * s + se * se), y)
    return 2.0 * np.minimum(f, 1.0 - f)


def robustify(prior: Mixture, weight: float, sigma_unit: float,
              mean: float | None = None) -> Mixture:
    """``weight * N(mean, sigma_unit^2) + (1 - weight) * prior``; ``mean`` defaults to the
    prior's mean (RBesT ``robustify``: the vague component is worth one unit observation)."""
    mu = prior.mean if mean is None else float(mean)
    return Mixture(np.concatenate([[weight], (1.0 - weight) * prior.w]),
                   np.concatenate([[mu], prior.m]), np.concatenate([[sigma_unit], prior.s]))


# ---------------------------------------------------------------------------------------------
# MAP prior by quadrature over tau
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MapPrior:
    """Meta-analytic-predictive prior from :func:`map_prior`.

    Attributes
    ----------
    mixture : Mixture
        The MAP prior as the exact quadrature mixture (one component per tau node).
    tau, tau_weight : ndarray
        The tau nodes and their posterior weights (sum 1).
    mu_mean, mu_sd : float
        Posterior mean and SD of the population mean ``mu``.
    tau_mean : float
        Posterior mean of tau.
    k : int
        Number of studies.
    tau_prior_sd : float
    """

    mixture: Mixture
    tau: np.ndarray
    tau_weight: np.ndarray
    mu_mean: float
    mu_sd: float
    tau_mean: float
    k: int
    tau_prior_sd: float


def _tau_nodes(scale: float, panels: int = 40, order: int = 16
               ) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes and weights on [0, 10 scale] (a half-normal prior keeps
    less than 1e-22 of its mass beyond 10 SDs)."""
    x, wt = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(0.0, 10.0 * scale, panels + 1)
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    return ((mid[:, None] + half[:, None] * x).ravel(), (half[:, None] * wt).ravel())


def map_prior(y, se, *, tau_prior_sd: float, mu_prior: tuple[float, float] | None = None,
              panels: int = 40, order: int = 16) -> MapPrior:
    """MAP prior of a new study's parameter from study estimates ``y`` and SEs ``se``.

    Parameters
    ----------
    y, se : array_like, shape (k,)
        Study estimates (e.g. historical control-arm mean changes) and their standard errors.
    tau_prior_sd : float
        Scale of the half-normal prior on the between-study SD tau (units of ``y``).
    mu_prior : (mean, sd), optional
        Normal prior on mu; default flat (then ``k >= 1`` studies suffice).
    panels, order : int
        Composite Gauss-Legendre rule over tau on [0, 10 tau_prior_sd].

    Returns
    -------
    MapPrior

    Notes
    -----
    With ``w_i = 1 / (s_i^2 + tau^2)`` (and the prior on mu as one more "study" of variance
    ``mu_sd^2`` that does not depend on tau): ``V = 1 / sum w``, ``mu_hat = V sum w y``,
    ``log p(y | tau) = 1/2 [sum log w_i + log V - sum w_i (y_i - mu_hat)^2] + const``.
    The posterior of tau at node ``t_j`` is proportional to
    ``quadrature weight x exp(-t_j^2 / (2 tau_prior_sd^2)) x p(y | t_j)``, and the MAP prior is
    ``sum_j q_j N(mu_hat(t_j), V(t_j) + t_j^2)``.
    """
    y = np.asarray(y, dtype=float)
    se = np.asarray(se, dtype=float)
    tau, qw = _tau_nodes(float(tau_prior_sd), panels, order)
    w = 1.0 / (se[None, :] ** 2 + tau[:, None] ** 2)          # (nodes, k)
    wy = w * y
    sw, swy = w.sum(axis=1), wy.sum(axis=1)
    if mu_prior is not None:
        p0 = 1.0 / mu_prior[1] ** 2
        sw, swy = sw + p0, swy + p0 * mu_prior[0]
    v = 1.0 / sw
    mu = v * swy
    q = (w * (y - mu[:, None]) ** 2).sum(axis=1)
    if mu_prior is not None:
        q = q + (mu_prior[0] - mu) ** 2 / mu_prior[1] ** 2
    loglik = 0.5 * (np.log(w).sum(axis=1) + np.log(v) - q)
    logpost = np.log(qw) - 0.5 * (tau / tau_prior_sd) ** 2 + loglik
    post = np.exp(logpost - logpost.max())
    post /= post.sum()
    mu_mean = float(post @ mu)
    mu_sd = math.sqrt(float(post @ (v + (mu - mu_mean) ** 2)))
    return MapPrior(Mixture(post, mu, np.sqrt(v + tau ** 2)), tau, post, mu_mean, mu_sd,
                    float(post @ tau), int(y.size), float(tau_prior_sd))


def _grid(mix: Mixture, n: int = 4001) -> np.ndarray:
    lo = float(np.min(mix.m - 8.0 * mix.s))
    hi = float(np.max(mix.m + 8.0 * mix.s))
    return np.linspace(lo, hi, n)


def max_cdf_error(a: Mixture, b: Mixture, n: int = 4001) -> float:
    """Largest |CDF_a - CDF_b| on a fine grid covering both mixtures."""
    g = np.union1d(_grid(a, n), _grid(b, n))
    return float(np.max(np.abs(a.cdf(g) - b.cdf(g))))


def _merge(mix: Mixture, groups: list[np.ndarray]) -> Mixture:
    """Moment-preserving merge of component groups (weight, mean and variance of each)."""
    w, m, s = [], [], []
    for g in groups:
        wg = mix.w[g].sum()
        mg = float(mix.w[g] @ mix.m[g]) / wg
        vg = float(mix.w[g] @ (mix.s[g] ** 2 + (mix.m[g] - mg) ** 2)) / wg
        w.append(wg)
        m.append(mg)
        s.append(math.sqrt(vg))
    w = np.array(w)
    return Mixture(w / w.sum(), np.array(m), np.array(s))


def _em(mix: Mixture, start: Mixture, iterations: int = 200, n: int = 1501) -> Mixture:
    """Refine ``start`` by EM on a grid weighted by the density of ``mix`` (log-space
    responsibilities): the maximum-likelihood K-component fit to the target density."""
    g = _grid(mix, n)
    pw = mix.pdf(g)
    pw = pw / pw.sum()
    w, m, s = start.w.copy(), start.m.copy(), start.s.copy()
    for _ in range(iterations):
        z = (g[:, None] - m) / s
        lr = np.log(w) - 0.5 * z * z - np.log(s)
        r = np.exp(lr - special.logsumexp(lr, axis=1, keepdims=True)) * pw[:, None]
        nk = r.sum(axis=0)
        keep = nk > 1e-12
        if not keep.all():          # a component lost all its weight: drop it
            r, nk = r[:, keep], nk[keep]
        w = nk / nk.sum()
        m = (r * g[:, None]).sum(axis=0) / nk
        s = np.sqrt(np.maximum((r * (g[:, None] - m) ** 2).sum(axis=0) / nk, 1e-300))
    return Mixture(w, m, s)


def approximate(mix: Mixture, *, max_components: int = 4, tolerance: float = 0.005
                ) -> tuple[Mixture, float]:
    """A mixture of at most ``max_components`` normals close to ``mix`` (a MAP quadrature
    mixture, components ordered by tau), and its maximum CDF error.

    For K = 1, 2, ...: merge the components into K contiguous groups of equal posterior weight
    (moment-preserving), refine by EM on a grid weighted by the target density (:func:`_em`),
    and measure the largest |CDF difference| (:func:`max_cdf_error`); stop at the first K
    within ``tolerance`` (else keep the best up to ``max_components``). Returns
    ``(approximation, error)``.
    """
    best = None
    cum = np.cumsum(mix.w)
    for k in range(1, max_components + 1):
        cuts = np.searchsorted(cum, np.arange(1, k) / k)
        groups = [g for g in np.split(np.arange(mix.k), cuts) if g.size]
        start = _merge(mix, groups)
        approx = start
        if k > 1:
            with np.errstate(all="ignore"):     # extreme scales: a non-finite fit is dropped
                fit = _em(mix, start)
            if all(np.all(np.isfinite(a)) for a in (fit.w, fit.m, fit.s)) and np.all(fit.s > 0):
                approx = fit
        e = max_cdf_error(mix, approx)
        if best is None or e < best[1]:
            best = (approx, e)
        if e <= tolerance:
            break
    return best


def ess(mix: Mixture, sigma_unit: float, method: str = "elir", panels: int = 400) -> float:
    """Effective sample size of a normal-mixture prior in units of one observation of SD
    ``sigma_unit``.

    ``moment``: ``sigma_unit^2 / Var(prior)``. ``elir`` (expected local-information ratio,
    Neuenschwander et al. 2020, RBesT's default): ``sigma_unit^2 E_prior[-d^2 log p / d theta^2]``,
    the prior's expected information over the Fisher information of one observation. Both equal
    ``n`` for the normal prior ``N(m, sigma_unit^2 / n)``; ELIR is predictively consistent for
    mixtures, the moment method understates a mixture's information.

    Notes
    -----
    With responsibilities ``r_k = w_k phi_k / p`` (log space) and ``a_k = -(theta - m_k) / s_k^2``,
    ``-d^2 log p = sum r_k / s_k^2 - (sum r_k a_k^2 - (sum r_k a_k)^2)``; the expectation is a
    composite 10-point Gauss-Legendre rule on ``panels`` panels over
    ``[min(m - 12 s), max(m + 12 s)]``.
    """
    if method == "moment":
        return float(sigma_unit ** 2 / mix.sd ** 2)
    if method != "elir":
        raise ValueError(f"method must be one of {ESS_METHODS}")
    x, wt = np.polynomial.legendre.leggauss(10)
    edges = np.linspace(float(np.min(mix.m - 12 * mix.s)), float(np.max(mix.m + 12 * mix.s)),
                        panels + 1)
    half = 0.5 * np.diff(edges)
    th = ((0.5 * (edges[1:] + edges[:-1]))[:, None] + half[:, None] * x).ravel()
    qw = (half[:, None] * wt).ravel()
    z = (th[:, None] - mix.m) / mix.s
    lc = np.log(mix.w) - 0.5 * z * z - np.log(mix.s) - 0.5 * _LOG_2PI
    lp = special.logsumexp(lc, axis=1)
    r = np.exp(lc - lp[:, None])
    a = -z / mix.s
    ra = (r * a).sum(axis=1)
    info = (r / mix.s ** 2).sum(axis=1) - ((r * a * a).sum(axis=1) - ra * ra)
    return float(sigma_unit ** 2 * np.sum(qw * np.exp(lp) * info))


# ---------------------------------------------------------------------------------------------
# the trial's effect posterior and the decision rule
# ---------------------------------------------------------------------------------------------

def effect_posterior(prior: Mixture, est, se) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior mixture ``(T, K)`` of the treatment effect with ``prior`` on the effect and
    the trial's estimate ``est`` with standard error ``se`` (T,)."""
    return mixture_update(prior.w, prior.m, prior.s, est, se)


def control_posterior(prior: Mixture, m0, m1, v0, v1, c01
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior mixture ``(T, K)`` of the effect ``theta1 - theta0`` when ``prior`` is on the
    control-arm mean ``theta0`` and the MSC-arm mean ``theta1`` has a flat prior.

    Parameters
    ----------
    prior : Mixture
        Prior of the control-arm mean.
    m0, m1 : ndarray (T,)
        The trial's control and MSC arm means (ANCOVA-adjusted to a common baseline).
    v0, v1, c01 : ndarray (T,)
        Their sampling variances and covariance.

    Notes
    -----
    With ``(m0, m1) ~ N((theta0, theta1), [[v0, c01], [c01, v1]])`` and ``c = c01 / v0``:
    ``theta0 | data`` is the prior updated by ``m0 ~ N(theta0, v0)`` (:func:`mixture_update`),
    and ``theta1 | theta0, data ~ N(m1 - c (m0 - theta0), v1 - c c01)``, so component k of the
    effect is ``N(m1 - c m0 - (1 - c) mu_k, (1 - c)^2 s_k^2 + v1 - c c01)``. Under a flat prior
    on theta0 this is ``N(m1 - m0, v0 + v1 - 2 c01)``: the frequentist estimate and its SE.
    """
    wp, mp, sp = mixture_update(prior.w, prior.m, prior.s, m0, np.sqrt(v0))
    c = (np.asarray(c01) / np.asarray(v0))[..., None]
    mean = (m1 - (c[..., 0] * m0))[..., None] - (1.0 - c) * mp
    sd = np.sqrt((1.0 - c) ** 2 * sp * sp + (v1 - c[..., 0] * c01)[..., None])
    return wp, mean, sd


GO, NOGO, CONSIDER = 1, 2, 0
"""Decision codes of :func:`decide`."""


def decide(w, m, s, *, go_prob: float, go_value: float, nogo_threshold: float,
           nogo_prob: float, lower_better: bool) -> dict[str, np.ndarray]:
    """The Go / No-Go / consider rule on per-trial posterior mixtures ``(T, K)``.

    With benefit = lower (HbA1c, MSC minus control < 0):
    Go if ``P(effect < 0 | data) > go_prob`` and the posterior median ``< go_value``;
    else No-Go if ``P(effect < nogo_threshold | data) < nogo_prob``; else consider.
    With benefit = higher every inequality on the effect is reversed.

    Returns
    -------
    dict with ``p_benefit`` (P(effect beyond 0 in the direction of benefit)), ``median``,
    ``p_nogo`` (P(effect beyond nogo_threshold)) and ``decision`` (:data:`GO`, :data:`NOGO`,
    :data:`CONSIDER`), each shaped (T,).
    """
    f0 = mixture_cdf(w, m, s, np.zeros(w.shape[:-1] + (1,)))
    ft = mixture_cdf(w, m, s, np.full(w.shape[:-1] + (1,), float(nogo_threshold)))
    med = mixture_quantile(w, m, s, 0.5)
    if lower_better:
        pb, pn, med_ok = f0, ft, med < go_value
    else:
        pb, pn, med_ok = 1.0 - f0, 1.0 - ft, med > go_value
    go = (pb > go_prob) & med_ok
    nogo = ~go & (pn < nogo_prob)
    dec = np.where(go, GO, np.where(nogo, NOGO, CONSIDER)).astype(np.int8)
    return {"p_benefit": pb, "median": med, "p_nogo": pn, "decision": dec}
