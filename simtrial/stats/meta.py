"""Meta-analysis: pool study mean differences into one evidence row.

A user who has the per-study results behind a pooled estimate (or new studies) can re-pool them
here and, through :func:`evidence_row`, turn the result into a row in the format of
``simtrial/data/evidence.csv`` that they can append to their own evidence file.

Estimators (``method``): ``fe`` (fixed effect, inverse variance), ``dl`` (DerSimonian-Laird),
``reml`` (restricted maximum likelihood, the default) and ``pm`` (Paule-Mandel); optional
Hartung-Knapp / Sidik-Jonkman (HKSJ) standard error with a t test, and a prediction interval.
Numbers agree with R's metafor (``rma(yi, vi, method=...)``) to the printed digits; see
``tests/test_meta.py`` for the published reference values checked.

Input files (:func:`read_studies`) are CSVs with one of these column sets (headers are
case-insensitive; a ``study`` column is optional; lines starting with ``#`` are comments):

============================================ ====================================================
columns                                      meaning
============================================ ====================================================
``yi, vi``                                   effect (MSC - control) and its sampling variance
``md, se``                                   mean difference and its standard error
``md, ci_low, ci_high``                      mean difference and its 95% CI; SE = (hi - lo) / 3.92
``mean1, sd1, n1, mean2, sd2, n2``           arm summaries, group 1 = MSC, group 2 = control:
                                             MD = mean1 - mean2, vi = sd1²/n1 + sd2²/n2
============================================ ====================================================

If a file has the columns of more than one set, the first set in this order is used.

Every user error is a :class:`MetaError` (a :class:`~simtrial.errors.SimtrialError`) with a
one-line message naming the field or the file line and column, the value and the rule.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from simtrial.errors import SimtrialError, fmt_value

from . import distributions as stats
from .roots import brentq

__all__ = [
    "COLUMN_SETS",
    "METHODS",
    "MetaError",
    "meta_error",
    "METHOD_LABELS",
    "CI_DIVISOR",
    "MetaResult",
    "pool",
    "read_studies",
]

METHODS = ("fe", "dl", "reml", "pm")
"""Estimators accepted by :func:`pool`."""

METHOD_LABELS = {"fe": "fixed effect (inverse variance)", "dl": "DerSimonian-Laird",
                 "reml": "REML", "pm": "Paule-Mandel"}

PI_DISTS = ("t", "z", "ci")

COLUMN_SETS: tuple[tuple[str, ...], ...] = (
    ("yi", "vi"),
    ("md", "se"),
    ("md", "ci_low", "ci_high"),
    ("mean1", "sd1", "n1", "mean2", "sd2", "n2"),
)
"""Column sets :func:`read_studies` accepts, in order of preference."""

CI_DIVISOR = 3.92  # 2 x 1.96: a 95% CI is md +- 1.96 SE (the evidence table's convention)
TOL = 1e-10  # convergence tolerance on tau^2 for REML and PM
_MAX_ITER = 200

EFFECT_MAX = 1e6
"""Largest ``|yi|`` pooled (and ``|md|``, CI limits, arm means in a file)."""
VARIANCE_MIN = 1e-12
"""Smallest ``vi`` pooled (an SE of 1e-6)."""
VARIANCE_MAX = 1e12
"""Largest ``vi`` pooled (an SE of 1e6)."""
SD_MAX = 1e6
"""Largest arm SD in a file of arm summaries."""
ARM_MAX = 10_000_000
"""Largest arm size in a file of arm summaries."""
MAX_FILE_BYTES = 64 * 2 ** 20
"""Largest study file read (a study table is a few kB)."""
# Why these bounds: a mean difference or log ratio of a clinical trial is far inside
# |y| <= 1e6 and its SE inside [1e-6, 1e6]. Inside them every weight 1/v (at most 1e12), square
# (1e24) and weighted square w (y - mu)^2 (about 4e24) is finite with some 280 orders of
# magnitude to spare, so every estimator's sums, its tau^2 search (up to about 1e13) and the
# intervals are finite; outside them float64 overflows (se = 1e200: se^2 = inf), underflows
# (vi = 5e-324: 1/vi = inf) or cancels to nonsense (vi = 1e308: a weight of 1e-308), and the
# results were nan, printed and written with exit code 0.



class MetaError(SimtrialError):
    """A meta-analysis input (study values, options, row fields) is invalid."""


def meta_error(message: str) -> MetaError:
    """A MetaError with the house prefix ``meta error:``."""
    return MetaError(f"meta error: {message}")


_fail = meta_error


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MetaResult:
    """Result of :func:`pool`.

    Attributes
    ----------
    method : str
        ``fe``, ``dl``, ``reml`` or ``pm``.
    estimate, se : float
        Pooled effect and its standard error (the HKSJ-adjusted SE when ``hksj``).
    ci_low, ci_high : float
        Confidence interval at ``level`` (normal, or t with k - 1 df when ``hksj``).
    z_or_t : float
        Test statistic ``estimate / se`` (z, or t with k - 1 df when ``hksj``).
    p_value : float
        Two-sided P value of ``z_or_t``.
    tau2, tau : float
        Between-study variance and its square root (0 for ``fe``).
    i2 : float
        I² in percent.
    h2 : float
        H².
    q, q_df, q_p : float, int, float
        Cochran's Q (fixed-effect weights), its degrees of freedom k - 1 and chi-square P value.
    pi_low, pi_high : float
        Prediction interval for the effect in a new study at ``level`` (equals the CI for ``fe``).
    k : int
        Number of studies.
    hksj : bool
        Whether the Hartung-Knapp / Sidik-Jonkman adjustment was used.
    level : float
        Confidence level, e.g. 0.95.
    pi_dist : str
        Critical value used for the prediction interval: ``t`` (k - 2 df), ``z`` (the normal
        quantile, also with ``hksj``), or ``ci`` (the CI's: z, or t with k - 1 df when ``hksj``;
        metafor's ``predict()``; always for ``fe``, whose PI is the CI). See :attr:`pi_df`.
    pi_note : str
        Why ``pi_dist`` differs from what was asked for (empty otherwise).
    """

    method: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z_or_t: float
    p_value: float
    tau2: float
    tau: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_p: float
    pi_low: float
    pi_high: float
    k: int
    hksj: bool
    level: float
    pi_dist: str = "t"
    pi_note: str = ""

    @property
    def df(self) -> int | None:
        """Degrees of freedom of the t test (k - 1) when ``hksj``, else ``None`` (z test)."""
        return self.k - 1 if self.hksj else None

    @property
    def pi_df(self) -> int | None:
        """Degrees of freedom of the t quantile of the prediction interval (``None``: normal)."""
        if self.pi_dist == "t":
            return self.k - 2
        return self.df if self.pi_dist == "ci" else None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (Python floats, ints, bools and strings)."""
        return dataclasses.asdict(self)

    def to_frame(self):
        """Return the result as a one-row :class:`pandas.DataFrame` (columns = fields)."""
        import pandas as pd
        return pd.DataFrame([self.to_dict()])

    def summary(self, label: str = "") -> str:
        """A short human-readable summary (several lines)."""
        pct = f"{self.level * 100:g}%"
        model = "fixed-effect" if self.method == "fe" else \
            f"random-effects, tau² by {METHOD_LABELS[self.method]}"
        test = f"t({self.k - 1}) (HKSJ)" if self.hksj else "z"
        head = f"{label + ': ' if label else ''}k = {self.k} studies, {model}"
        lines = [
            head,
            f"  pooled effect {self.estimate:+.4g} (SE {self.se:.4g}), {pct} CI "
            f"{self.ci_low:+.4g} to {self.ci_high:+.4g}; {test} = {self.z_or_t:.3f}, "
            f"P {_fmt_p(self.p_value)}",
            "  heterogeneity: " + ("" if self.method == "fe" else
                                   f"tau² {self.tau2:.4g} (tau {self.tau:.4g}), ")
            + f"I² {self.i2:.1f}%, H² {self.h2:.3g}, Q({self.q_df}) = {self.q:.4g}, "
            f"P {_fmt_p(self.q_p)}",
        ]
        if self.method == "fe":
            lines.append(f"  {pct} prediction interval = CI (fixed effect)")
        else:
            how = "z" if self.pi_df is None else f"t, {self.pi_df} df"
            if self.pi_dist == "ci":
                how += ", the CI's critical value as in metafor's predict"
            note = f"; {self.pi_note}" if self.pi_note else ""
            lines.append(f"  {pct} prediction interval {self.pi_low:+.4g} to {self.pi_high:+.4g} "
                         f"({how}{note})")
        return "\n".join(lines)


def _fmt_p(p: float) -> str:
    """Render a P value for text output: '= 0.0123' or '< 0.0001'."""
    return "< 0.0001" if p < 1e-4 else f"= {p:.4f}"


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------

def _as_vector(name: str, values: object) -> np.ndarray:
    """Coerce input to a 1-D float array or raise MetaError."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise _fail(f"{name} = {values!r} must be a sequence of numbers") from None
    if arr.ndim != 1:
        raise _fail(f"{name} must be one-dimensional (got shape {arr.shape})")
    return arr


def _check_inputs(yi: object, vi: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate effects and variances: same length >= 2, finite, vi > 0."""
    y = _as_vector("yi", yi)
    v = _as_vector("vi", vi)
    if y.size != v.size:
        raise _fail(f"yi has {y.size} values but vi has {v.size}; they must have the same length")
    if y.size < 2:
        raise _fail(f"k = {y.size} studies; pooling needs at least 2")
    for i, x in enumerate(y.tolist()):
        if not math.isfinite(x):
            raise _fail(f"yi[{i}] = {x!r} must be a finite number")
        if abs(x) > EFFECT_MAX:
            raise _fail(f"yi[{i}] = {x:g} is outside {_EFFECT_RANGE}")
    for i, x in enumerate(v.tolist()):
        if not math.isfinite(x) or not x > 0.0:
            raise _fail(f"vi[{i}] = {x!r} must be a finite number > 0")
        if not VARIANCE_MIN <= x <= VARIANCE_MAX:
            raise _fail(f"vi[{i}] = {x:g} is outside {_VARIANCE_RANGE}")
    return y, v


_EFFECT_RANGE = (f"[{-EFFECT_MAX:g}, {EFFECT_MAX:g}], the effects simtrial meta pools (a mean "
                 "difference or log ratio; beyond it the sums overflow)")
_VARIANCE_RANGE = (f"[{VARIANCE_MIN:g}, {VARIANCE_MAX:g}] (an SE of {VARIANCE_MIN ** 0.5:g} to "
                   f"{VARIANCE_MAX ** 0.5:g}), the variances simtrial meta pools (beyond it the "
                   "weights overflow or vanish)")


def _check_finite(result: "MetaResult") -> "MetaResult":
    """Refuse a result with a non-finite number: never print or write nan.

    Inside the input bounds this does not happen; it guards the arithmetic all the same (the
    one infinite value allowed is the test statistic when the HKSJ SE is 0, see :func:`pool`).
    """
    for f in dataclasses.fields(result):
        x = getattr(result, f.name)
        if f.name == "z_or_t" and result.se == 0.0:
            continue
        if isinstance(x, float) and not math.isfinite(x):
            raise _fail(f"the pooled {f.name} = {x!r} is not finite; the studies' values are too "
                        "extreme to pool (check the effects and variances)")
    return result


def _fe_fit(y: np.ndarray, v: np.ndarray, tau2: float) -> tuple[float, float, np.ndarray]:
    """Weighted mean, its variance and the weights 1 / (v + tau2)."""
    w = 1.0 / (v + tau2)
    sw = float(w.sum())
    mu = float((w * y).sum() / sw)
    return mu, 1.0 / sw, w


def _q_gen(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """Generalised Q: sum w_i (y_i - mu_w)^2 with w_i = 1 / (v_i + tau2)."""
    mu, _, w = _fe_fit(y, v, tau2)
    return float((w * (y - mu) ** 2).sum())


def _tau2_dl(y: np.ndarray, v: np.ndarray) -> float:
    """DerSimonian-Laird moment estimator, truncated at 0."""
    k = y.size
    w = 1.0 / v
    q = _q_gen(y, v, 0.0)
    c = float(w.sum() - (w ** 2).sum() / w.sum())
    return max(0.0, (q - (k - 1)) / c)


def _reml_score(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """Twice the REML score: y'PPy - tr(P), P = W - W 1 1' W / sum(w)."""
    mu, _, w = _fe_fit(y, v, tau2)
    sw = w.sum()
    r = y - mu
    return float((w ** 2 * r ** 2).sum() - (w.sum() - (w ** 2).sum() / sw))


def _bracket_root(f, lo: float, start: float) -> float:
    """Return hi > lo with f(hi) < 0, doubling from ``start`` (f(lo) > 0 is assumed)."""
    hi = max(start, 1e-8)
    for _ in range(_MAX_ITER):
        if f(hi) < 0.0:
            return hi
        hi *= 2.0
    raise _fail("tau^2 estimation did not find a bracket (values too extreme to pool)")


def _reml_loglik(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """Restricted log-likelihood (up to a constant)."""
    mu, _, w = _fe_fit(y, v, tau2)
    return float(-0.5 * (np.log(v + tau2).sum() + math.log(w.sum()) + (w * (y - mu) ** 2).sum()))


def _tau2_reml(y: np.ndarray, v: np.ndarray) -> float:
    """REML estimate of tau^2: the global maximiser of the restricted likelihood on [0, inf).

    The REML score is scanned on a grid of 0 and 400 log-spaced points up to a bound beyond which
    it is negative; every + to - sign change is solved by Brent's method (tolerance far below
    :data:`TOL`), and the candidate (or 0, when the score is <= 0 there) with the highest
    restricted likelihood wins. The likelihood can have a local maximum at 0 and a higher one
    inside, so stopping at the boundary (or at the first root) is not enough.
    """
    f = lambda t: _reml_score(y, v, t)  # noqa: E731
    spread = float(np.var(y)) + float(v.max())
    hi = _bracket_root(f, 0.0, 10.0 * spread) if f(10.0 * spread) >= 0.0 else 10.0 * spread
    grid = np.concatenate([[0.0], np.geomspace(hi * 1e-12, hi, 400)])
    vals = [f(t) for t in grid]
    candidates = [0.0] if vals[0] <= 0.0 else []
    for a, b, fa, fb in zip(grid[:-1], grid[1:], vals[:-1], vals[1:]):
        if fa > 0.0 >= fb:
            candidates.append(float(brentq(f, a, b, xtol=TOL * 1e-3,
                                           rtol=4 * np.finfo(float).eps, maxiter=_MAX_ITER)))
    if not candidates:  # cannot happen: f(0) > 0 > f(hi) has a crossing
        raise _fail("REML estimation of tau^2 failed (no root of the REML score)")
    return max(0.0, max(candidates, key=lambda t: _reml_loglik(y, v, t)))


def _tau2_pm(y: np.ndarray, v: np.ndarray) -> float:
    """Paule-Mandel estimate: the tau^2 with generalised Q = k - 1; 0 if Q(0) <= k - 1."""
    k = y.size
    f = lambda t: _q_gen(y, v, t) - (k - 1)  # noqa: E731  (decreasing in t)
    if f(0.0) <= 0.0:
        return 0.0
    spread = float(np.var(y, ddof=1)) + float(v.max())
    hi = _bracket_root(f, 0.0, spread)
    return float(brentq(f, 0.0, hi, xtol=TOL * 1e-2, rtol=4 * np.finfo(float).eps,
                        maxiter=_MAX_ITER))


def pool(yi: Sequence[float], vi: Sequence[float], *, method: str = "reml", hksj: bool = False,
         level: float = 0.95, pi_dist: str = "t") -> MetaResult:
    """Pool study effects by inverse-variance meta-analysis.

    Parameters
    ----------
    yi : sequence of float
        Study effects (here mean differences, MSC minus control), length k >= 2, with
        ``|yi| <= EFFECT_MAX`` (1e6).
    vi : sequence of float
        Their sampling variances (SE²), in [``VARIANCE_MIN``, ``VARIANCE_MAX``] = [1e-12, 1e12].
    method : {"reml", "dl", "pm", "fe"}, default "reml"
        Between-study variance estimator, or ``fe`` for a fixed-effect (common-effect) model.
    hksj : bool, default False
        Use the Hartung-Knapp / Sidik-Jonkman standard error and a t distribution with k - 1 df
        (metafor ``test="knha"``; no truncation of the variance factor).
    level : float, default 0.95
        Confidence level of the CI and the prediction interval, in (0, 1).
    pi_dist : {"t", "z", "ci"}, default "t"
        Critical value of the prediction interval: ``t`` with k - 2 df (Higgins et al. 2009;
        metafor's ``predict(res, pi.type="riley")``); ``z``, the normal quantile, also with
        ``hksj``; or ``ci``, the CI's critical value, i.e. z, or t with k - 1 df with ``hksj``
        (metafor's ``predict(res)`` for ``test="z"`` and ``test="knha"``). ``z`` and ``ci`` are
        the same without ``hksj``. With k < 3 a ``t`` interval has no degrees of freedom; z is
        used and ``pi_note`` says so.

    Returns
    -------
    MetaResult

    Raises
    ------
    MetaError
        k < 2, a non-finite ``yi`` or one beyond +-:data:`EFFECT_MAX`, a ``vi`` that is not
        finite and > 0 or outside [:data:`VARIANCE_MIN`, :data:`VARIANCE_MAX`], unequal lengths,
        an unknown ``method``/``pi_dist`` or a ``level`` outside (0, 1); a result that is not
        finite (never printed or written as nan).

    Notes
    -----
    With fixed-effect weights :math:`w_i = 1/v_i`:

    - Fixed effect: :math:`\\hat\\mu = \\sum w_i y_i / \\sum w_i`,
      :math:`SE = (\\sum w_i)^{-1/2}`.
    - Cochran's :math:`Q = \\sum w_i (y_i - \\hat\\mu_{FE})^2` on k - 1 df (for every method).
    - DerSimonian-Laird: :math:`\\hat\\tau^2 = \\max\\{0, (Q - (k-1)) / (\\sum w_i -
      \\sum w_i^2 / \\sum w_i)\\}`.
    - REML: :math:`\\hat\\tau^2` maximises the restricted likelihood on
      :math:`[0, \\infty)`; interior maxima solve :math:`y'PPy = \\operatorname{tr}(P)` with
      :math:`P = W - W 1 1' W / \\sum w_i^*`, :math:`w_i^* = 1/(v_i + \\tau^2)` (every
      sign change of this score on a grid is solved by Brent's method to well below 1e-10, and
      the root or the boundary 0 with the highest likelihood is taken).
    - Paule-Mandel: :math:`\\hat\\tau^2` solves
      :math:`Q(\\tau^2) = \\sum w_i^* (y_i - \\hat\\mu^*)^2 = k - 1`; 0 when
      :math:`Q(0) \\le k - 1`.
    - Random effects: :math:`\\hat\\mu = \\sum w_i^* y_i / \\sum w_i^*`,
      :math:`SE = (\\sum w_i^*)^{-1/2}`, CI :math:`\\hat\\mu \\pm z_{1-\\alpha/2} SE`.
    - HKSJ: :math:`SE_{HK} = SE \\sqrt{q}`,
      :math:`q = \\sum w_i^* (y_i - \\hat\\mu)^2 / (k - 1)`, CI
      :math:`\\hat\\mu \\pm t_{k-1,1-\\alpha/2} SE_{HK}`.
    - I² (Higgins & Thompson 2002) with the "typical" within-study variance
      :math:`s^2 = (k-1) \\sum w_i / ((\\sum w_i)^2 - \\sum w_i^2)`:
      :math:`I^2 = 100\\,\\hat\\tau^2 / (\\hat\\tau^2 + s^2)`,
      :math:`H^2 = (\\hat\\tau^2 + s^2) / s^2` (as metafor for random-effects models; for
      DL this equals :math:`(Q - (k-1))/Q`). For ``fe``: :math:`I^2 = 100 \\max\\{0,
      (Q - (k-1))/Q\\}`, :math:`H^2 = Q/(k-1)`.
    - Prediction interval (Higgins, Thompson & Spiegelhalter 2009):
      :math:`\\hat\\mu \\pm c \\sqrt{\\hat\\tau^2 + SE^2}` with :math:`c = t_{k-2}`,
      :math:`z`, or the CI's critical value (:math:`t_{k-1}` when ``hksj``, else :math:`z`);
      ``SE`` is the HKSJ SE when ``hksj``; for ``fe`` it is the CI.

    References
    ----------
    DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin Trials 1986;7:177-188.
    Paule RC, Mandel J. Consensus values and weighting factors. J Res Natl Bur Stand
    1982;87:377-385.
    Viechtbauer W. Bias and efficiency of meta-analytic variance estimators in the
    random-effects model. J Educ Behav Stat 2005;30:261-293.
    Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis. Stat Med
    2002;21:1539-1558.
    Hartung J, Knapp G. A refined method for the meta-analysis of controlled clinical trials with
    binary outcome. Stat Med 2001;20:3875-3889.
    Sidik K, Jonkman JN. A simple confidence interval for meta-analysis. Stat Med
    2002;21:3153-3159.
    Higgins JPT, Thompson SG, Spiegelhalter DJ. A re-evaluation of random-effects meta-analysis.
    J R Stat Soc A 2009;172:137-159.
    Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw
    2010;36(3):1-48.

    Examples
    --------
    >>> r = pool([1.0, 3.0], [1.0, 1.0], method="dl")
    >>> round(r.estimate, 6), round(r.tau2, 6), round(r.se, 6)
    (2.0, 1.0, 1.0)
    """
    m = str(method).lower() if isinstance(method, str) else method
    if m not in METHODS:
        raise _fail(f"method = {fmt_value(method)} must be one of {', '.join(METHODS)}")
    pd_ = str(pi_dist).lower() if isinstance(pi_dist, str) else pi_dist
    if pd_ not in PI_DISTS:
        raise _fail(f"pi_dist = {fmt_value(pi_dist)} must be t, z or ci")
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) \
            or not 0.0 < float(level) < 1.0:
        raise _fail(f"level = {fmt_value(level)} must be a number in (0, 1) (e.g. level = 0.95)")
    if not isinstance(hksj, (bool, np.bool_)):
        raise _fail(f"hksj = {fmt_value(hksj)} must be true or false")
    level = float(level)
    y, v = _check_inputs(yi, vi)
    with np.errstate(all="ignore"):     # never a RuntimeWarning: a non-finite result is refused
        return _check_finite(_pool(y, v, m, hksj, level, pd_))


def _pool(y: np.ndarray, v: np.ndarray, m: str, hksj: bool, level: float,
          pd_: str) -> MetaResult:
    """The computation of :func:`pool` on checked inputs."""
    k = int(y.size)

    # heterogeneity statistics from fixed-effect weights
    w = 1.0 / v
    sw, sw2 = float(w.sum()), float((w ** 2).sum())
    q = _q_gen(y, v, 0.0)
    q_df = k - 1
    q_p = float(stats.chi2.sf(q, q_df))

    if m == "fe":
        tau2 = 0.0
    elif m == "dl":
        tau2 = _tau2_dl(y, v)
    elif m == "reml":
        tau2 = _tau2_reml(y, v)
    else:
        tau2 = _tau2_pm(y, v)

    mu, var, wstar = _fe_fit(y, v, tau2)
    se = math.sqrt(var)
    if hksj:
        qs = float((wstar * (y - mu) ** 2).sum()) / (k - 1)
        se *= math.sqrt(qs)
        crit = float(stats.t.ppf(0.5 + level / 2.0, k - 1))
    else:
        crit = float(stats.norm.ppf(0.5 + level / 2.0))
    if se > 0.0:
        stat = mu / se
        p = float(2.0 * (stats.t.sf(abs(stat), k - 1) if hksj else stats.norm.sf(abs(stat))))
    else:  # all studies identical under HKSJ: no residual variation
        stat = 0.0 if mu == 0.0 else math.copysign(math.inf, mu)
        p = 1.0 if mu == 0.0 else 0.0
    ci_low, ci_high = mu - crit * se, mu + crit * se

    if m == "fe":
        i2 = 100.0 * max(0.0, (q - q_df) / q) if q > 0.0 else 0.0
        h2 = q / q_df
    else:
        s2 = q_df * sw / (sw ** 2 - sw2)
        i2 = 100.0 * tau2 / (tau2 + s2)
        h2 = (tau2 + s2) / s2

    pi_note = ""
    if m == "fe":
        pi_used, pi_low, pi_high = "ci", ci_low, ci_high
    else:
        pi_used = pd_
        if pd_ == "t" and k < 3:
            pi_used = "z"
            pi_note = (f"k = {k} < 3 leaves no degrees of freedom for a t-based prediction "
                       "interval (k - 2); the normal quantile was used")
        if pi_used == "ci":
            pcrit = crit
        elif pi_used == "t":
            pcrit = float(stats.t.ppf(0.5 + level / 2.0, k - 2))
        else:
            pcrit = float(stats.norm.ppf(0.5 + level / 2.0))
        half = pcrit * math.sqrt(tau2 + se ** 2)
        pi_low, pi_high = mu - half, mu + half

    return MetaResult(method=m, estimate=mu, se=se, ci_low=ci_low, ci_high=ci_high, z_or_t=stat,
                      p_value=p, tau2=tau2, tau=math.sqrt(tau2), i2=i2, h2=h2, q=q, q_df=q_df,
                      q_p=q_p, pi_low=pi_low, pi_high=pi_high, k=k, hksj=bool(hksj), level=level,
                      pi_dist=pi_used, pi_note=pi_note)


# --------------------------------------------------------------------------------------------
# Reading study rows
# --------------------------------------------------------------------------------------------

def _sets_text() -> str:
    """Render the accepted column sets for a message."""
    return "; ".join(", ".join(s) for s in COLUMN_SETS)


def _show(text: str, limit: int = 60) -> str:
    """A cell or name from the user's file, for a message: double-quoted, every character that
    is not printable escaped (``\\x1b``, ``\\n``, ``\\u2028``: the message stays one line and
    cannot move the cursor), cut after ``limit`` characters with an ellipsis and the length."""
    def esc(ch: str) -> str:
        if ch in '"\\':
            return "\\" + ch
        return ch if ch.isprintable() else repr(ch)[1:-1]
    body = "".join(esc(ch) for ch in text[:limit])
    return f'"{body}"' if len(text) <= limit else f'"{body}..." ({len(text):,} characters)'


_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""A number as a study table writes it. Python's float() also takes ``1_0`` (as 10), other
scripts' digits and surrounding whitespace; those are refused, not guessed at."""
_LINES = re.compile(r"\r\n|\r|\n")


def read_studies(path: str | os.PathLike[str]):
    """Read per-study results from a CSV file.

    Parameters
    ----------
    path : str or os.PathLike
        A UTF-8 CSV (a leading byte-order mark is ignored) whose header holds one of the column
        sets of :data:`COLUMN_SETS` (case-insensitive; other columns are ignored; an optional
        ``study`` column labels rows), one study per line (a quoted field cannot span lines).
        Blank lines and lines starting with ``#`` are skipped.

    Returns
    -------
    yi : numpy.ndarray
        Effects, MSC minus control.
    vi : numpy.ndarray
        Sampling variances.
    table : pandas.DataFrame
        One row per study with columns ``study``, ``line`` (file line), ``yi``, ``vi``, ``se`` and
        ``n`` (total patients, from arm sizes; ``<NA>`` for other formats);
        ``table.attrs["format"]`` names the column set used (e.g. ``"md, se"``).

    Raises
    ------
    MetaError
        Unreadable file, larger than :data:`MAX_FILE_BYTES` or not UTF-8; a line that is not
        CSV; no column set matched (the message lists the sets); a duplicate header; no study
        rows; a missing value or one that is not a plain decimal number (``1_0``, ``0x10``,
        ``nan``, ``inf`` are not) or not finite; ``vi``, ``se`` or an SD <= 0; an effect, CI
        limit or arm mean beyond +-:data:`EFFECT_MAX`, an SD beyond :data:`SD_MAX`, a variance
        (given or derived) outside [:data:`VARIANCE_MIN`, :data:`VARIANCE_MAX`]; an arm size
        that is not an integer in [2, :data:`ARM_MAX`]; ``ci_high <= ci_low`` or ``md`` outside
        the CI. Each message names the file line and the column; the user's text in it is
        escaped and cut (:func:`_show`), so it is one line whatever the file holds.

    Notes
    -----
    ``md, se``: vi = se². ``md, ci_low, ci_high``: se = (ci_high - ci_low) / 3.92, as the
    evidence table does for a 95% CI. Arm summaries: MD = mean1 - mean2 (group 1 = MSC) and
    vi = sd1²/n1 + sd2²/n2 (unpooled variances).
    """
    import pandas as pd

    name = _show(Path(path).name)[1:-1]
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise _fail(f"file = {_show(str(path))} is {size:,} bytes; a study table of at most "
                        f"{MAX_FILE_BYTES:,} bytes is read")
        text = Path(path).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise _fail(f"file = {_show(str(path))} cannot be read ({exc.strerror or exc})") \
            from None
    except UnicodeDecodeError:
        raise _fail(f"file = {_show(str(path))} is not UTF-8 text") from None

    lines = [(i + 1, ln) for i, ln in enumerate(_LINES.split(text))
             if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise _fail(f"{name} is empty; it needs a header with one of the column sets: "
                    f"{_sets_text()}")
    rows = []
    for line, ln in lines:
        try:
            rows.append(next(csv.reader([ln], strict=True), []))
        except csv.Error as exc:
            raise _fail(f"{name} line {line} cannot be parsed as CSV ({exc})") from None
    header = [h.strip().lower() for h in rows[0]]
    seen: dict[str, int] = {}
    for j, h in enumerate(header):
        if h and h in seen:
            raise _fail(f"{name} header: column {_show(rows[0][j].strip())} appears twice "
                        "(headers are case-insensitive)")
        seen[h] = j
    chosen = next((s for s in COLUMN_SETS if all(c in seen for c in s)), None)
    if chosen is None:
        shown = ", ".join(_show(h, 20)[1:-1] for h in header[:12] if h) or "none"
        if len(header) > 12:
            shown += f", ... ({len(header)} columns)"
        raise _fail(f"{name} columns ({shown}) match none of the accepted column sets: "
                    f"{_sets_text()}")
    data = [(lines[i][0], r) for i, r in enumerate(rows) if i > 0 and any(c.strip() for c in r)]
    if not data:
        raise _fail(f"{name} has a header but no study rows; pooling needs at least 2")

    def cell(line: int, row: list[str], col: str) -> str:
        j = seen[col]
        return row[j].strip() if j < len(row) else ""

    def where(line: int, row: list[str]) -> str:
        label = cell(line, row, "study") if "study" in seen else ""
        return f"{name} line {line}" + (f" (study {_show(label)})" if label else "")

    def number(line: int, row: list[str], col: str, bound: float = EFFECT_MAX) -> float:
        raw = cell(line, row, col)
        if raw == "":
            raise _fail(f"{where(line, row)}: {col} is empty; it must be a number")
        x = float(raw) if _NUMBER.fullmatch(raw) else math.nan
        if not math.isfinite(x):
            raise _fail(f"{where(line, row)}: {col} = {_show(raw)} must be a finite number "
                        "(digits, a point, an exponent: e.g. -0.5 or 1e-3)")
        if abs(x) > bound:
            raise _fail(f"{where(line, row)}: {col} = {x:g} is outside [{-bound:g}, {bound:g}]"
                        + (f", {_EFFECT_RANGE.split(', ', 2)[2]}" if bound == EFFECT_MAX else ""))
        return x

    def positive(line: int, row: list[str], col: str, bound: float) -> float:
        x = number(line, row, col, math.inf)
        if not x > 0.0:
            raise _fail(f"{where(line, row)}: {col} = {x:g} must be > 0")
        if x > bound:
            raise _fail(f"{where(line, row)}: {col} = {x:g} must be <= {bound:g}")
        return x

    def arm_size(line: int, row: list[str], col: str) -> int:
        x = number(line, row, col, math.inf)
        if x != int(x) or x < 2:
            raise _fail(f"{where(line, row)}: {col} = {x:g} must be an integer >= 2 "
                        "(patients in the arm)")
        if x > ARM_MAX:
            raise _fail(f"{where(line, row)}: {col} = {x:g} must be <= {ARM_MAX:,} "
                        "(patients in the arm)")
        return int(x)

    def variance(line: int, row: list[str], col: str, v: float) -> float:
        if not VARIANCE_MIN <= v <= VARIANCE_MAX:
            raise _fail(f"{where(line, row)}: {col} = {v:g} is outside {_VARIANCE_RANGE}")
        return v

    se_min, se_max = VARIANCE_MIN ** 0.5, VARIANCE_MAX ** 0.5
    records = []
    for line, row in data:
        study = cell(line, row, "study") if "study" in seen else ""
        n: int | None = None
        if chosen == ("yi", "vi"):
            y = number(line, row, "yi")
            v = variance(line, row, "vi", positive(line, row, "vi", math.inf))
        elif chosen == ("md", "se"):
            y = number(line, row, "md")
            se = positive(line, row, "se", math.inf)
            if not se_min <= se <= se_max:
                raise _fail(f"{where(line, row)}: se = {se:g} is outside [{se_min:g}, "
                            f"{se_max:g}], the standard errors simtrial meta pools (beyond it "
                            "the weights overflow or vanish)")
            v = se ** 2
        elif chosen == ("md", "ci_low", "ci_high"):
            y = number(line, row, "md")
            lo, hi = number(line, row, "ci_low"), number(line, row, "ci_high")
            if not hi > lo:
                raise _fail(f"{where(line, row)}: ci_high = {hi:g} must be > ci_low = {lo:g}")
            if not lo <= y <= hi:
                raise _fail(f"{where(line, row)}: md = {y:g} must lie in [ci_low, ci_high] = "
                            f"[{lo:g}, {hi:g}]")
            v = variance(line, row, "the variance ((ci_high - ci_low) / 3.92)^2",
                         ((hi - lo) / CI_DIVISOR) ** 2)
        else:
            m1, s1, n1 = (number(line, row, "mean1"), positive(line, row, "sd1", SD_MAX),
                          arm_size(line, row, "n1"))
            m2, s2, n2 = (number(line, row, "mean2"), positive(line, row, "sd2", SD_MAX),
                          arm_size(line, row, "n2"))
            y, n = m1 - m2, n1 + n2
            v = variance(line, row, "the variance sd1^2/n1 + sd2^2/n2",
                         s1 ** 2 / n1 + s2 ** 2 / n2)
        records.append({"study": study or f"study {len(records) + 1}", "line": line,
                        "yi": y, "vi": v, "se": math.sqrt(v), "n": n})

    table = pd.DataFrame(records, columns=["study", "line", "yi", "vi", "se", "n"])
    table["n"] = pd.array([r["n"] for r in records], dtype="Int64")
    table.attrs["format"] = ", ".join(chosen)
    return table["yi"].to_numpy(dtype=float), table["vi"].to_numpy(dtype=float), table
