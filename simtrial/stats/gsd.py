"""Group-sequential design boundaries: Lan-DeMets alpha spending by recursive numerical integration.

A trial with ``K`` planned looks at information fractions ``0 < t_1 < ... < t_K = 1`` computes at
look ``k`` the standardised statistic ``Z_k`` (positive = benefit). Under the canonical joint
distribution (Jennison & Turnbull 2000, section 3.1)

    Z_k ~ N(theta sqrt(I_k), 1),     Cov(Z_j, Z_k) = sqrt(I_j / I_k)  (j <= k),

so ``S_k = Z_k sqrt(I_k)`` is Brownian motion with drift ``theta`` observed at ``I_1 < ... < I_K``.
Only the fractions ``t_k = I_k / I_K`` matter; the *drift* is ``theta sqrt(I_K)``, i.e.
``E[Z_k] = drift sqrt(t_k)`` (``drift = 0`` is H0).

Functions
---------
:func:`spending`
    Cumulative alpha spent at fractions ``t`` (O'Brien-Fleming type, Pocock type,
    Hwang-Shih-DeCani).
:func:`boundaries`
    Efficacy bounds from a spending function, optionally with (binding or non-binding) futility
    bounds; returns a frozen :class:`Boundaries`.
:func:`exit_probabilities`
    Per-look probabilities of first crossing arbitrary upper / lower bounds (the engine; also
    reproduces the classical constant-boundary tests of Pocock and O'Brien & Fleming).
:func:`crossing_probabilities`, :func:`expected_fraction`
    Operating characteristics of a design under a drift.
:func:`apply_boundaries`
    Apply a design to simulated per-look z statistics (vectorised over trials).
:func:`drift_for_power`, :func:`inflation_factor`
    Drift giving a target power and the maximum-information inflation factor vs a fixed design.

Every user error is a :class:`GsdError` (a :class:`~simtrial.errors.SimtrialError`) with a
one-line message naming the argument, the value and what is allowed.

Notes
-----
**Recursive integration** (Armitage, McPherson & Rowe 1969; Jennison & Turnbull 2000, ch. 19).
Let ``C_k = (a_k, b_k)`` be the continuation region at look ``k`` and ``Delta_k = t_k - t_{k-1}``.
The sub-density of ``Z_k`` on paths that continued at looks ``1..k-1`` is

    h_1(z) = phi(z - drift sqrt(t_1)),
    h_k(z) = int_{C_{k-1}} h_{k-1}(u) sqrt(t_k / Delta_k)
             phi((z sqrt(t_k) - u sqrt(t_{k-1}) - drift Delta_k) / sqrt(Delta_k)) du,

and the probabilities of first exit at look ``k`` above ``b_k`` / below ``a_k`` are

    P_up_k = int_{C_{k-1}} h_{k-1}(u) Phi((u sqrt(t_{k-1}) + drift Delta_k - b_k sqrt(t_k))
                                          / sqrt(Delta_k)) du,
    P_lo_k = int_{C_{k-1}} h_{k-1}(u) Phi((a_k sqrt(t_k) - u sqrt(t_{k-1}) - drift Delta_k)
                                          / sqrt(Delta_k)) du.

Integrals use Simpson's rule on Jennison & Turnbull's grid (section 19.2.1): with ``r`` (default
32) the ``6r - 1`` points ``mu + x_i``,

    x_i = -3 - 4 log(r / i)             i = 1 .. r-1
    x_i = -3 + 3 (i - r) / (2r)         i = r .. 5r
    x_i =  3 + 4 log(r / (6r - i))      i = 5r+1 .. 6r-1,

centred at ``mu = drift sqrt(t_k)``, trimmed to ``C_k`` (the bounds themselves added as end
points), with the mid-points of successive points inserted (Simpson weights ``d/6, 4d/6, d/6``).
Each look costs one matrix-vector product of size about ``(12 r)^2``. With ``r = 32`` crossing
probabilities agree with independent multivariate-normal integration to better than ``1e-8``
(``tests/test_gsd.py``).

**Spending** (Lan & DeMets 1983). The efficacy bound ``z_k`` solves (Brent's method)

    P_0(continue at looks 1..k-1, exit at look k through an efficacy bound)
        = alpha(t_k) - alpha(t_{k-1}),

so the cumulative type I error at look ``k`` is exactly ``alpha(t_k)`` and ``alpha(1) = alpha``
(the last bound is computed the same way; nothing is left unspent).

* ``sides = 1``: ``alpha`` is the one-sided level; efficacy is ``Z_k >= z_k``.
* ``sides = 2``: ``alpha`` is the *total* two-sided level and each side spends the spending
  function at ``alpha / 2``: the cumulative two-sided alpha is ``2 alpha_f(t; alpha / 2)``, half
  of each increment on each side; efficacy is ``|Z_k| >= z_k`` (bounds ``+/- z_k``). This is the
  convention of rpact (``sided = 2``, ``alpha`` the two-sided level) and gsDesign
  (``test.type = 2``, ``alpha`` the level of one side). For the Pocock-type and Hwang-Shih-DeCani
  functions, which are proportional to ``alpha``, it is the same as spending ``alpha_f(t; alpha)``
  in total; for the O'Brien-Fleming type it is not: ``4 - 4 Phi(Phi^-1(1 - alpha/4) / sqrt(t))``
  spends less at the interim looks than ``2 - 2 Phi(Phi^-1(1 - alpha/2) / sqrt(t))`` (at
  fractions 0.3, 0.7, 1 and alpha 0.05 the bounds are 3.929, 2.439, 2.000 rather than 3.578,
  2.345, 2.024). The bounds are computed with the two-sided continuation region
  ``(-z_j, z_j)``, so the probability of crossing one bound after having been beyond the other
  is not an issue: a trial stops at its first crossing, and under H0 the total probability of a
  first crossing of either bound by look ``k`` is exactly ``2 alpha_f(t_k; alpha / 2)``. (A
  one-sided design at ``alpha / 2`` ignores the lower bound and differs only by the negligible
  probability of crossing the upper bound after having been below ``-z_j``: about 1e-5 on the
  later bounds.) Two-sided designs take no futility bounds: giving them is an error, as before
  (rpact 3.3.4 ignores ``futilityBounds`` of a ``sided = 2`` design with a warning; only its
  experimental two-sided beta spending has inner bounds).

**Futility** (``sides = 1``): a trial stops for futility at look ``k < K`` if ``Z_k <= f_k``.
With ``binding = False`` (default) the efficacy bounds ignore the futility bounds, so the type I
error is at most ``alpha`` whether or not futility stops are obeyed (exactly ``alpha`` if never
obeyed). With ``binding = True`` the bounds are computed with continuation region ``(f_k, z_k)``:
they are lower (less strict), and the design spends its full ``alpha`` only if every futility stop
is obeyed; ignoring one inflates the type I error.

**Spending functions** (cumulative alpha at fraction ``t``, level ``alpha``):

* ``obf``, Lan-DeMets O'Brien-Fleming type: ``2 - 2 Phi(Phi^-1(1 - alpha/2) / sqrt(t))``;
* ``pocock``, Lan-DeMets Pocock type: ``alpha log(1 + (e - 1) t)``;
* ``hsd``, Hwang-Shih-DeCani: ``alpha (1 - exp(-gamma t)) / (1 - exp(-gamma))`` (``gamma != 0``),
  ``alpha t`` for ``gamma = 0``; ``gamma = -4`` resembles O'Brien-Fleming, ``gamma = 1`` Pocock.

These are the definitions of rpact (``asOF``, ``asP``, ``asHSD``) and gsDesign (``sfLDOF``,
``sfLDPocock``, ``sfHSD``); one- and two-sided bounds agree with rpact 3.3.4 to 1e-6
(``tests/test_gsd.py``, 2 to 4 looks, equal and unequal fractions).

References
----------
Armitage P, McPherson CK, Rowe BC (1969). Repeated significance tests on accumulating data.
JRSS A 132:235-244.
Lan KKG, DeMets DL (1983). Discrete sequential boundaries for clinical trials. Biometrika
70:659-663.
Hwang IK, Shih WJ, DeCani JS (1990). Group sequential designs using a family of type I error
probability spending functions. Stat Med 9:1439-1445.
Jennison C, Turnbull BW (2000). Group Sequential Methods with Applications to Clinical Trials.
Chapman & Hall/CRC (ch. 2, 7 and 19).
Wassmer G, Brannath W (2016). Group Sequential and Confirmatory Adaptive Designs in Clinical
Trials. Springer (rpact's reference).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np
from scipy import special

from simtrial.errors import SimtrialError, fmt_value

from .roots import brentq

__all__ = [
    "SPENDING_KINDS",
    "Boundaries",
    "GsdError",
    "apply_boundaries",
    "boundaries",
    "crossing_probabilities",
    "drift_for_power",
    "exit_probabilities",
    "expected_fraction",
    "inflation_factor",
    "spending",
]

SPENDING_KINDS = ("obf", "pocock", "hsd")
"""Spending functions accepted by :func:`spending` and :func:`boundaries`."""

SPENDING_LABELS = {"obf": "Lan-DeMets O'Brien-Fleming-type", "pocock": "Lan-DeMets Pocock-type",
                   "hsd": "Hwang-Shih-DeCani"}

GRID_R = 32          # Jennison & Turnbull grid parameter r (6r - 1 points before mid-points)
_Z_MAX = 40.0        # bounds are searched in [-_Z_MAX, _Z_MAX]; |z| beyond has tail < 1e-300
_MAX_LOOKS = 100
_SQRT_2PI = math.sqrt(2.0 * math.pi)

STOP_END, STOP_EFFICACY, STOP_FUTILITY = 0, 1, 2
"""Codes of ``stopped_for`` returned by :func:`apply_boundaries`."""


class GsdError(SimtrialError):
    """A group-sequential design input (fractions, alpha, spending, futility, ...) is invalid."""


# Labels of the arguments in error messages; the CLI passes its option names instead.
_API_NAMES = {"fractions": "fractions", "alpha": "alpha", "sides": "sides",
              "spending": "spending", "gamma": "gamma", "futility": "futility",
              "binding": "binding"}


def _fail(message: str) -> GsdError:
    """Build a GsdError with the house prefix."""
    return GsdError(f"gsd error: {message}")


def _fmt_list(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


# --------------------------------------------------------------------------------------------
# Spending functions
# --------------------------------------------------------------------------------------------

def _check_alpha(alpha: object, name: str = "alpha") -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
        raise _fail(f"{name} = {alpha!r} must be a number in (0, 0.5) (e.g. 0.025)")
    a = float(alpha)
    if not (0.0 < a < 0.5):
        raise _fail(f"{name} = {a:g} must be in (0, 0.5) (e.g. 0.025)")
    return a


def _check_kind(kind: object, gamma: object, names: dict[str, str]) -> float | None:
    """Validate the spending kind and gamma; return gamma as float (or None)."""
    if kind not in SPENDING_KINDS:
        raise _fail(f"{names['spending']} = {fmt_value(kind)} must be one of "
                    + ", ".join(f'"{k}"' for k in SPENDING_KINDS))
    if kind == "hsd":
        if gamma is None:
            raise _fail(f"{names['gamma']} is required for {names['spending']} = \"hsd\" "
                        "(e.g. -4 for O'Brien-Fleming-like, 1 for Pocock-like)")
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.integer, np.floating)):
            raise _fail(f"{names['gamma']} = {gamma!r} must be a number (e.g. -4)")
        g = float(gamma)
        if not math.isfinite(g) or abs(g) > 50:
            raise _fail(f"{names['gamma']} = {g:g} must be a finite number in [-50, 50] (e.g. -4)")
        return g
    if gamma is not None:
        shown = f"{gamma:g}" if isinstance(gamma, (int, float)) and not isinstance(gamma, bool) \
            else repr(gamma)
        raise _fail(f"{names['gamma']} = {shown} is only used with {names['spending']} = "
                    f"\"hsd\" (got {names['spending']} = \"{kind}\")")
    return None


def _spend(kind: str, t: np.ndarray, alpha: float, gamma: float | None) -> np.ndarray:
    """Cumulative alpha at fractions t (validated inputs)."""
    t = np.asarray(t, dtype=float)
    if kind == "obf":
        with np.errstate(divide="ignore"):
            x = special.ndtri(1.0 - alpha / 2.0) / np.sqrt(t)
        return 2.0 * special.ndtr(-x)
    if kind == "pocock":
        return alpha * np.log1p((math.e - 1.0) * t)
    if gamma == 0.0:
        return alpha * t
    return alpha * (-np.expm1(-gamma * t)) / (-math.expm1(-gamma))


def _spend_total(kind: str, t: np.ndarray, alpha: float, gamma: float | None,
                 sides: int) -> np.ndarray:
    """Cumulative alpha of a design with ``sides`` sides, each spending at ``alpha / sides``.

    For ``sides = 1`` this is ``_spend(kind, t, alpha, gamma)`` bit for bit (``alpha / 1`` and
    ``1 * x`` are exact)."""
    return sides * _spend(kind, t, alpha / sides, gamma)


def spending(kind: str, t, alpha: float, gamma: float | None = None,
             sides: int = 1) -> np.ndarray:
    """Cumulative alpha spent at information fractions ``t``.

    Parameters
    ----------
    kind : {"obf", "pocock", "hsd"}
        Lan-DeMets O'Brien-Fleming type, Lan-DeMets Pocock type or Hwang-Shih-DeCani.
    t : float or array_like
        Information fractions in [0, 1].
    alpha : float
        Total level spent at ``t = 1``, in (0, 0.5) (one-sided level, or the total two-sided
        level of a two-sided design).
    gamma : float, optional
        Hwang-Shih-DeCani parameter; required for ``hsd`` and not allowed otherwise.
    sides : {1, 2}
        ``2``: the total of a symmetric two-sided design, ``2 alpha_f(t; alpha / 2)`` (each side
        spends the function at ``alpha / 2``, as in rpact and gsDesign; see the module notes).

    Returns
    -------
    numpy.ndarray
        ``alpha(t)``, same shape as ``t``; ``alpha(0) = 0`` and ``alpha(1) = alpha``.

    Notes
    -----
    ``obf``: ``alpha(t) = 2 - 2 Phi(Phi^-1(1 - alpha/2) / sqrt(t))``;
    ``pocock``: ``alpha(t) = alpha log(1 + (e - 1) t)``;
    ``hsd``: ``alpha(t) = alpha (1 - exp(-gamma t)) / (1 - exp(-gamma))``, ``alpha t`` if
    ``gamma = 0`` (Lan & DeMets 1983; Hwang, Shih & DeCani 1990).
    """
    a = _check_alpha(alpha)
    g = _check_kind(kind, gamma, _API_NAMES)
    n = _check_sides(sides, _API_NAMES)
    try:
        arr = np.asarray(t, dtype=float)
    except (TypeError, ValueError):
        raise _fail(f"t = {t!r} must be a number or a sequence of numbers in [0, 1]") from None
    if not np.all(np.isfinite(arr)) or np.any(arr < 0.0) or np.any(arr > 1.0):
        raise _fail(f"t = {np.array2string(arr, precision=4)} must be in [0, 1]")
    return _spend_total(kind, arr, a, g, n)


# --------------------------------------------------------------------------------------------
# Recursive numerical integration (Jennison & Turnbull 2000, ch. 19)
# --------------------------------------------------------------------------------------------

def _base_grid(r: int) -> np.ndarray:
    i = np.arange(1, 6 * r, dtype=float)
    return np.where(i < r, -3.0 - 4.0 * np.log(r / i),
                    np.where(i <= 5 * r, -3.0 + 3.0 * (i - r) / (2.0 * r),
                             3.0 + 4.0 * np.log(r / np.maximum(6.0 * r - i, 1.0))))


def _grid(mean: float, lo: float, hi: float, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Simpson points and weights on (lo, hi) ∩ J&T's grid centred at ``mean``."""
    x = _base_grid(r) + mean
    a = max(lo, x[0])
    b = min(hi, x[-1])
    if not a < b:
        return np.empty(0), np.empty(0)
    z = np.concatenate(([a], x[(x > a) & (x < b)], [b]))
    d = np.diff(z)
    pts = np.empty(2 * z.size - 1)
    pts[0::2] = z
    pts[1::2] = z[:-1] + d / 2.0
    w = np.zeros(pts.size)
    w[0:-1:2] += d / 6.0
    w[2::2] += d / 6.0
    w[1::2] = 4.0 * d / 6.0
    return pts, w


class _State:
    """Weighted sub-density ``w * h_k`` of Z_k on the grid of the continuation region."""

    __slots__ = ("pts", "wh", "t")

    def __init__(self) -> None:  # look 0: point mass at Z_0 = 0, t_0 = 0
        self.pts = np.zeros(1)
        self.wh = np.ones(1)
        self.t = 0.0

    def exit_up(self, t: float, b: float, drift: float) -> float:
        if b == math.inf or self.wh.size == 0:
            return 0.0
        dt = t - self.t
        arg = (self.pts * math.sqrt(self.t) + drift * dt - b * math.sqrt(t)) / math.sqrt(dt)
        return float(self.wh @ special.ndtr(arg))

    def exit_lo(self, t: float, a: float, drift: float) -> float:
        if a == -math.inf or self.wh.size == 0:
            return 0.0
        dt = t - self.t
        arg = (a * math.sqrt(t) - self.pts * math.sqrt(self.t) - drift * dt) / math.sqrt(dt)
        return float(self.wh @ special.ndtr(arg))

    def advance(self, t: float, lo: float, hi: float, drift: float, r: int) -> None:
        """Move to look ``t`` keeping the paths that continue in ``(lo, hi)``."""
        pts, w = _grid(drift * math.sqrt(t), lo, hi, r)
        if pts.size and self.wh.size:
            dt = t - self.t
            s = math.sqrt(dt)
            arg = (pts[:, None] * math.sqrt(t) - self.pts[None, :] * math.sqrt(self.t)
                   - drift * dt) / s
            h = (np.exp(-0.5 * arg * arg) @ self.wh) * (math.sqrt(t) / (s * _SQRT_2PI))
            wh = w * h
        else:
            pts, wh = np.empty(0), np.empty(0)
        self.pts, self.wh, self.t = pts, wh, t


def _exit(fr: np.ndarray, upper: np.ndarray, lower: np.ndarray, drift: float,
          r: int) -> tuple[np.ndarray, np.ndarray]:
    st = _State()
    k_max = fr.size
    up = np.zeros(k_max)
    lo = np.zeros(k_max)
    for k in range(k_max):
        t = float(fr[k])
        up[k] = st.exit_up(t, float(upper[k]), drift)
        lo[k] = st.exit_lo(t, float(lower[k]), drift)
        if k < k_max - 1:
            st.advance(t, float(lower[k]), float(upper[k]), drift, r)
    return up, lo


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

def _as_floats(name: str, values: object, example: str) -> np.ndarray:
    if isinstance(values, (str, bytes)):
        raise _fail(f"{name} = {values!r} must be a sequence of numbers (e.g. {example})")
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise _fail(f"{name} = {values!r} must be a sequence of numbers (e.g. {example})") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise _fail(f"{name} must be one-dimensional (got shape {arr.shape})")
    return arr


def _check_fractions(fractions: object, names: dict[str, str]) -> np.ndarray:
    name = names["fractions"]
    fr = _as_floats(name, fractions, "[0.5, 1]")
    if fr.size == 0:
        raise _fail(f"{name} = [] must have at least one value (e.g. [0.5, 1])")
    if fr.size > _MAX_LOOKS:
        raise _fail(f"{name} has {fr.size} looks; at most {_MAX_LOOKS} are supported")
    if not np.all(np.isfinite(fr)) or np.any(fr <= 0.0) or np.any(fr > 1.0 + 1e-9):
        raise _fail(f"{name} = {_fmt_list(fr)} must be in (0, 1] (e.g. [0.5, 1])")
    if np.any(np.diff(fr) <= 0.0):
        raise _fail(f"{name} = {_fmt_list(fr)} must be strictly increasing (e.g. [0.5, 1])")
    if abs(fr[-1] - 1.0) > 1e-9:
        raise _fail(f"{name} = {_fmt_list(fr)} must end at 1 (the final analysis), e.g. "
                    f"{_fmt_list(list(fr) + [1.0])}")
    fr = fr.copy()
    fr[-1] = 1.0
    return fr


def _check_sides(sides: object, names: dict[str, str]) -> int:
    if isinstance(sides, bool) or sides not in (1, 2):
        raise _fail(f"{names['sides']} = {sides!r} must be 1 or 2")
    return int(sides)


def _check_futility(futility: object, k_max: int, sides: int,
                    names: dict[str, str]) -> np.ndarray | None:
    """Futility bounds per look (length K; the last is +nan: a trial ends there anyway)."""
    if futility is None:
        return None
    name = names["futility"]
    f = _as_floats(name, futility, "[0, 0.5]")
    if sides != 1:
        raise _fail(f"{name} is only supported with {names['sides']} = 1 (one-sided designs); "
                    f"got {names['sides']} = {sides}")
    if k_max < 2:
        raise _fail(f"{name} needs at least 2 looks (there is no interim look)")
    if f.size not in (k_max - 1, k_max):
        raise _fail(f"{name} has {f.size} values; give one per interim look ({k_max - 1}) or per "
                    f"look ({k_max}, the last is ignored)")
    for i, v in enumerate(f[: k_max - 1].tolist()):
        if math.isnan(v) or v == math.inf:
            raise _fail(f"{name}[{i}] = {v!r} must be a number or -inf (no futility stop)")
    out = np.full(k_max, math.nan)
    out[: k_max - 1] = f[: k_max - 1]
    return out


# --------------------------------------------------------------------------------------------
# Boundaries
# --------------------------------------------------------------------------------------------

def _plain(x: float) -> Any:
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


@dataclasses.dataclass(frozen=True)
class Boundaries:
    """Group-sequential efficacy (and futility) bounds; result of :func:`boundaries`.

    Attributes
    ----------
    fractions : tuple of float
        Information fractions ``t_1 < ... < t_K = 1``.
    z : tuple of float
        Efficacy bounds on the z scale: reject at look ``k`` if ``Z_k >= z_k`` (``|Z_k| >= z_k``
        when ``sides = 2``). ``inf`` if no alpha is spent at that look.
    futility : tuple of float or None
        Futility bounds per look (stop if ``Z_k <= futility_k``; ``-inf`` = no futility stop at
        that look); the last entry is ``nan`` (a trial that does not reject at the last look
        simply ends). ``None`` when the design has no futility bounds.
    cumulative_alpha : tuple of float
        Type I error spent by each look, computed by numerical integration under H0 with the
        regions the bounds were computed for (futility ignored if non-binding, obeyed if
        binding); equals ``spending(spending, fractions, alpha, gamma, sides)`` to about 1e-10.
        For ``sides = 2`` it is the two-sided total.
    incremental_alpha : tuple of float
        Per-look increments of ``cumulative_alpha``.
    nominal_p : tuple of float
        One-sided nominal p-value of each bound, ``1 - Phi(z_k)``.
    alpha : float
        Overall level (one-sided if ``sides = 1``, total two-sided if ``sides = 2``).
    sides : int
        1 or 2.
    spending : str
        ``obf``, ``pocock`` or ``hsd``.
    gamma : float or None
        Hwang-Shih-DeCani parameter.
    binding : bool
        Whether the efficacy bounds account for (binding) futility stops.
    """

    fractions: tuple[float, ...]
    z: tuple[float, ...]
    futility: tuple[float, ...] | None
    cumulative_alpha: tuple[float, ...]
    incremental_alpha: tuple[float, ...]
    nominal_p: tuple[float, ...]
    alpha: float
    sides: int
    spending: str
    gamma: float | None
    binding: bool

    @property
    def looks(self) -> int:
        """Number of looks K."""
        return len(self.fractions)

    def to_dict(self) -> dict[str, Any]:
        """Fields as JSON-able plain values (lists of floats; ``nan`` -> None, ``inf`` -> "inf")."""
        def lst(xs):
            return None if xs is None else [_plain(x) for x in xs]
        return {
            "looks": self.looks,
            "fractions": lst(self.fractions),
            "z": lst(self.z),
            "nominal_p": lst(self.nominal_p),
            "cumulative_alpha": lst(self.cumulative_alpha),
            "incremental_alpha": lst(self.incremental_alpha),
            "futility": lst(self.futility),
            "spending": self.spending,
            "gamma": self.gamma,
            "alpha": self.alpha,
            "sides": self.sides,
            "binding": self.binding,
        }

    def summary(self) -> str:
        """One-line description of the design."""
        sf = SPENDING_LABELS[self.spending] + (f" (gamma = {self.gamma:g})"
                                               if self.spending == "hsd" else "")
        level = (f"one-sided alpha {self.alpha:g}" if self.sides == 1 else
                 f"two-sided alpha {self.alpha:g} ({self.alpha / 2:g} per side, bounds +/- z)")
        fut = ""
        if self.futility is not None:
            fut = ", binding futility" if self.binding else ", non-binding futility"
        return f"{sf} spending, {level}, {self.looks} look{'s' if self.looks > 1 else ''}{fut}"

    def table(self) -> str:
        """Small aligned text table: look, fraction, z, nominal p, cumulative alpha, futility."""
        head = ["look", "fraction", "z", "nominal p", "cum. alpha", "futility"]
        rows = []
        for k in range(self.looks):
            fut = "-"
            if self.futility is not None and not math.isnan(self.futility[k]):
                fut = f"{self.futility[k]:.4f}" if math.isfinite(self.futility[k]) else "none"
            rows.append([str(k + 1), f"{self.fractions[k]:.4f}", f"{self.z[k]:.4f}",
                         f"{self.nominal_p[k]:.6f}", f"{self.cumulative_alpha[k]:.6f}", fut])
        widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
        return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in [head] + rows)


def _solve_bound(st: _State, t: float, inc: float, sides: int, floor: float) -> float:
    """Efficacy bound at look t spending ``inc`` (upper side, or both sides when sides = 2)."""
    if inc <= 0.0:
        return math.inf

    def spent(b: float) -> float:
        p = st.exit_up(t, b, 0.0)
        if sides == 2:
            p += st.exit_lo(t, -b, 0.0)
        return p - inc

    lo = max(floor, 0.0) if sides == 2 else max(floor, -_Z_MAX)
    if spent(_Z_MAX) >= 0.0:
        return _Z_MAX
    if spent(lo) <= 0.0:
        return math.nan  # cannot spend inc: caller reports
    return float(brentq(spent, lo, _Z_MAX, xtol=1e-12, rtol=4 * np.finfo(float).eps,
                        maxiter=200))


def _build(fractions, alpha=0.025, sides=1, spending="obf", gamma=None, futility=None,
           binding=False, *, names: dict[str, str] | None = None, r: int = GRID_R) -> Boundaries:
    names = {**_API_NAMES, **(names or {})}
    fr = _check_fractions(fractions, names)
    a = _check_alpha(alpha, names["alpha"])
    s = _check_sides(sides, names)
    g = _check_kind(spending, gamma, names)
    if not isinstance(binding, (bool, np.bool_)):
        raise _fail(f"{names['binding']} = {binding!r} must be true or false")
    fut = _check_futility(futility, fr.size, s, names)
    k_max = fr.size

    cum = _spend_total(spending, fr, a, g, s)
    cum[-1] = a
    inc = np.diff(np.concatenate(([0.0], cum)))
    use_fut = fut is not None and bool(binding)

    z = np.empty(k_max)
    st = _State()
    for k in range(k_max):
        t = float(fr[k])
        floor = float(fut[k]) if use_fut and k < k_max - 1 and math.isfinite(fut[k]) else -math.inf
        b = _solve_bound(st, t, float(inc[k]), s, floor)
        if math.isnan(b):
            raise _fail(f"{names['futility']} = {_fmt_list(fut[:-1])} with {names['binding']} = "
                        f"true stops so many trials under H0 that look {k + 1} cannot spend its "
                        f"alpha increment {inc[k]:.3g}; lower the futility bounds or make them "
                        "non-binding")
        z[k] = b
        if k < k_max - 1:
            lower = -b if s == 2 else floor
            st.advance(t, lower, b, 0.0, r)

    if fut is not None:
        for k in range(k_max - 1):
            if fut[k] >= z[k]:
                raise _fail(f"{names['futility']}[{k}] = {fut[k]:g} must be below the efficacy "
                            f"bound {z[k]:.4f} at look {k + 1}")

    lower = -z if s == 2 else (np.where(np.isfinite(fut), fut, -math.inf)
                               if use_fut else np.full(k_max, -math.inf))
    lower = np.where(np.isnan(lower), -math.inf, lower)
    up, lo = _exit(fr, z, lower, 0.0, r)
    spent = up + lo if s == 2 else up
    cum_spent = np.cumsum(spent)
    return Boundaries(
        fractions=tuple(float(x) for x in fr),
        z=tuple(float(x) for x in z),
        futility=None if fut is None else tuple(float(x) for x in fut),
        cumulative_alpha=tuple(float(x) for x in cum_spent),
        incremental_alpha=tuple(float(x) for x in spent),
        nominal_p=tuple(float(x) for x in special.ndtr(-z)),
        alpha=a, sides=s, spending=str(spending), gamma=g, binding=bool(binding),
    )


def boundaries(fractions, alpha: float = 0.025, sides: int = 1, spending: str = "obf",
               gamma: float | None = None, futility=None, binding: bool = False, *,
               names: dict[str, str] | None = None) -> Boundaries:
    """Efficacy bounds of a group-sequential design from an alpha-spending function.

    Parameters
    ----------
    fractions : sequence of float
        Strictly increasing information fractions in (0, 1], ending at 1 (the final analysis).
    alpha : float
        Overall level in (0, 0.5): one-sided if ``sides = 1``; total two-sided if ``sides = 2``.
    sides : {1, 2}
        One-sided (efficacy ``Z_k >= z_k``) or symmetric two-sided (``|Z_k| >= z_k``).
    spending : {"obf", "pocock", "hsd"}
        Spending function (see :func:`spending`).
    gamma : float, optional
        Hwang-Shih-DeCani parameter (required for ``hsd``, not allowed otherwise).
    futility : sequence of float, optional
        Futility bounds on the z scale for looks ``1..K-1`` (length K-1, or K with the last value
        ignored); stop for futility if ``Z_k <= futility_k``; ``-inf`` = no futility stop at
        that look. One-sided designs only.
    binding : bool
        If true, the efficacy bounds account for the futility stops (lower efficacy bounds; full
        alpha spent only if futility is obeyed); if false (default) they ignore them (alpha
        controlled whether or not futility is obeyed).

    Returns
    -------
    Boundaries

    names : dict, optional
        How error messages name the inputs (e.g. ``{"alpha": "--alpha"}`` for a CLI).

    Raises
    ------
    GsdError
        Invalid input, a futility bound not below the efficacy bound at its look, or binding
        futility bounds that leave too little probability to spend an alpha increment.

    Notes
    -----
    The bound ``z_k`` solves ``P_0(no crossing before look k, crossing at look k) =
    alpha(t_k) - alpha(t_{k-1})`` by recursive numerical integration (module docstring). With
    ``sides = 2`` each side spends the function at ``alpha / 2`` (rpact's and gsDesign's
    convention: ``alpha(t) = 2 alpha_f(t; alpha / 2)``, half of every increment on each side), and
    ``futility`` is not allowed.
    """
    return _build(fractions, alpha=alpha, sides=sides, spending=spending, gamma=gamma,
                  futility=futility, binding=binding, names=names)


# --------------------------------------------------------------------------------------------
# Operating characteristics
# --------------------------------------------------------------------------------------------

def exit_probabilities(fractions, upper, lower=None, drift: float = 0.0,
                       r: int = GRID_R) -> tuple[np.ndarray, np.ndarray]:
    """Per-look probabilities of first crossing an upper or a lower bound.

    Parameters
    ----------
    fractions : sequence of float
        Strictly increasing information fractions in (0, 1] ending at 1.
    upper : sequence of float
        Upper bounds ``b_k`` (``inf`` allowed): exit up at look ``k`` if ``Z_k >= b_k``.
    lower : sequence of float, optional
        Lower bounds ``a_k < b_k`` (``-inf`` allowed, the default): exit down if ``Z_k <= a_k``.
    drift : float
        ``E[Z_k] = drift sqrt(t_k)``; 0 under H0.
    r : int
        Grid parameter of Jennison & Turnbull (points per unit ~ r).

    Returns
    -------
    (p_upper, p_lower) : tuple of numpy.ndarray
        ``p_upper[k] = P(a_j < Z_j < b_j for j < k, Z_k >= b_k)``, and likewise below.
    """
    fr = _check_fractions(fractions, _API_NAMES)
    b = _as_floats("upper", upper, "[2.8, 1.98]")
    a = (np.full(fr.size, -math.inf) if lower is None else _as_floats("lower", lower, "[0, 0]"))
    for name, arr in (("upper", b), ("lower", a)):
        if arr.size != fr.size:
            raise _fail(f"{name} has {arr.size} values but fractions has {fr.size}")
        if np.any(np.isnan(arr)):
            raise _fail(f"{name} = {_fmt_list(arr)} must not contain nan")
    if np.any(a >= b):
        raise _fail(f"lower = {_fmt_list(a)} must be below upper = {_fmt_list(b)} at every look")
    d = _check_drift(drift)
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not 4 <= r <= 1000:
        raise _fail(f"r = {r!r} must be an integer in [4, 1000] (e.g. 32)")
    return _exit(fr, b, a, d, int(r))


def _check_drift(drift: object) -> float:
    if isinstance(drift, bool) or not isinstance(drift, (int, float, np.integer, np.floating)):
        raise _fail(f"drift = {drift!r} must be a finite number (e.g. 2.8)")
    d = float(drift)
    if not math.isfinite(d) or abs(d) > 100:
        raise _fail(f"drift = {d:g} must be a finite number in [-100, 100]")
    return d


def _check_bounds(bounds: object) -> Boundaries:
    if not isinstance(bounds, Boundaries):
        raise _fail(f"bounds must be a Boundaries object from boundaries() (got "
                    f"{type(bounds).__name__})")
    return bounds


def _design_exit(bounds: Boundaries, drift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-look (upper efficacy, lower efficacy, futility) first-exit probabilities, futility
    obeyed."""
    fr = np.asarray(bounds.fractions)
    z = np.asarray(bounds.z)
    k_max = fr.size
    if bounds.sides == 2:
        up, lo = _exit(fr, z, -z, drift, GRID_R)
        return up, lo, np.zeros(k_max)
    if bounds.futility is None:
        lower = np.full(k_max, -math.inf)
    else:
        lower = np.asarray(bounds.futility, dtype=float).copy()
        lower[-1] = -math.inf
    up, fut = _exit(fr, z, lower, drift, GRID_R)
    return up, np.zeros(k_max), fut


def crossing_probabilities(bounds: Boundaries, drift: float) -> dict[str, Any]:
    """Per-look stopping probabilities of a design under a drift (futility obeyed).

    Parameters
    ----------
    bounds : Boundaries
    drift : float
        ``theta sqrt(I_max)``: ``E[Z_k] = drift sqrt(t_k)``; 0 under H0.

    Returns
    -------
    dict
        ``drift``; ``fractions``; ``efficacy`` (per look, crossing the upper bound ``z_k``);
        ``lower`` (per look, crossing ``-z_k``; all 0 unless ``sides = 2``); ``futility`` (per
        look, stopping for futility; all 0 without futility bounds); ``stop`` (per look,
        probability of stopping there; the last look takes the rest); ``power`` (sum of
        ``efficacy``: rejection in the direction of benefit); ``reject`` (``power`` + sum of
        ``lower``); ``expected_fraction`` (see :func:`expected_fraction`).

    Notes
    -----
    Futility stops are applied whether or not the design is binding (that is what obeying them
    means); for a non-binding design ``reject`` at ``drift = 0`` is then at most ``alpha``.
    """
    b = _check_bounds(bounds)
    d = _check_drift(drift)
    up, lo, fut = _design_exit(b, d)
    stop = up + lo + fut
    stop[-1] = max(0.0, 1.0 - float(stop[:-1].sum()))
    ef = float(np.dot(b.fractions, stop))
    return {"drift": d, "fractions": list(b.fractions), "efficacy": up.tolist(),
            "lower": lo.tolist(), "futility": fut.tolist(), "stop": stop.tolist(),
            "power": float(up.sum()), "reject": float(up.sum() + lo.sum()),
            "expected_fraction": ef}


def expected_fraction(bounds: Boundaries, drift: float) -> float:
    """Expected information fraction at stopping, ``sum_k t_k P(stop at look k)``.

    The last look takes all trials that did not stop earlier; futility stops are obeyed. Multiply
    by the maximum information (or sample size) for the expected information (sample size).
    """
    return crossing_probabilities(bounds, drift)["expected_fraction"]


def drift_for_power(bounds: Boundaries, power: float) -> float:
    """Drift ``theta sqrt(I_max)`` at which the design rejects in the upper direction with
    probability ``power`` (futility stops obeyed).

    For ``sides = 2`` the power counted is that of the upper bound (the direction of the drift),
    as in the usual sample-size formulas. Solved by Brent's method on ``[0, 50]``.
    """
    b = _check_bounds(bounds)
    if isinstance(power, bool) or not isinstance(power, (int, float, np.integer, np.floating)):
        raise _fail(f"power = {power!r} must be a number in (0, 1) (e.g. 0.8)")
    p = float(power)

    def pw(d: float) -> float:
        return float(_design_exit(b, d)[0].sum())

    p0 = pw(0.0)
    if not p0 < p < 1.0:
        raise _fail(f"power = {p:g} must be in ({p0:.4g}, 1): above the probability of "
                    f"rejecting at drift 0")
    hi = 50.0
    if pw(hi) < p:
        raise _fail(f"power = {p:g} is not reached at drift {hi:g}")
    return float(brentq(lambda d: pw(d) - p, 0.0, hi, xtol=1e-12, maxiter=200))


def inflation_factor(bounds: Boundaries, power: float) -> float:
    """Maximum information of the design relative to a fixed design with the same power.

    ``IF = (drift / (z_{1-alpha_1} + z_{power}))^2`` with ``drift = drift_for_power(bounds,
    power)`` and ``alpha_1 = alpha`` (``sides = 1``) or ``alpha / 2`` (``sides = 2``); the
    maximum sample size is ``IF`` times the fixed-design sample size (Jennison & Turnbull 2000,
    section 2.7; rpact's ``inflationFactor``).
    """
    b = _check_bounds(bounds)
    d = drift_for_power(b, power)
    a1 = b.alpha if b.sides == 1 else b.alpha / 2.0
    fixed = float(special.ndtri(1.0 - a1) + special.ndtri(float(power)))
    return (d / fixed) ** 2


# --------------------------------------------------------------------------------------------
# Applying a design to simulated trials
# --------------------------------------------------------------------------------------------

def apply_boundaries(z, bounds: Boundaries,
                     better: str = "higher") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply a design to per-look z statistics of many trials.

    Parameters
    ----------
    z : array_like, shape (trials, K)
        Per-look z statistics, positive = benefit when ``better = "higher"``.
    bounds : Boundaries
    better : {"higher", "lower"}
        ``"lower"``: small values are beneficial (the statistics are negated internally).

    Returns
    -------
    reject : numpy.ndarray of bool, shape (trials,)
        Efficacy bound crossed at the stopping look.
    stop_look : numpy.ndarray of int, shape (trials,)
        0-based look at which the trial stopped (K-1 if it ran to the end).
    stopped_for : numpy.ndarray of int, shape (trials,)
        0 = ran to the end without rejection, 1 = efficacy, 2 = futility.

    Notes
    -----
    A trial stops at the first look ``k`` with ``Z_k >= z_k`` (efficacy; ``|Z_k| >= z_k`` for
    ``sides = 2``, i.e. efficacy in either direction) or ``Z_k <= futility_k`` (``k < K``,
    futility, only if the design has futility bounds). Futility stops are applied even for a
    non-binding design: the simulation obeys them.
    """
    b = _check_bounds(bounds)
    if better not in ("higher", "lower"):
        raise _fail(f"better = {fmt_value(better)} must be \"higher\" or \"lower\"")
    try:
        arr = np.asarray(z, dtype=float)
    except (TypeError, ValueError):
        raise _fail("z must be a numeric array of shape (trials, looks)") from None
    k_max = b.looks
    if arr.ndim != 2 or arr.shape[1] != k_max:
        raise _fail(f"z has shape {arr.shape}; it must be (trials, {k_max}) for a {k_max}-look "
                    "design")
    if np.isnan(arr).any():
        raise _fail("z contains nan; every trial needs a statistic at every look")
    if better == "lower":
        arr = -arr
    zb = np.asarray(b.z)
    eff = (np.abs(arr) if b.sides == 2 else arr) >= zb
    if b.futility is not None:
        fut = np.zeros_like(eff)
        fut[:, :-1] = arr[:, :-1] <= np.asarray(b.futility[:-1])
    else:
        fut = np.zeros_like(eff)
    stop = eff | fut
    any_stop = stop.any(axis=1)
    first = np.where(any_stop, np.argmax(stop, axis=1), k_max - 1)
    rows = np.arange(arr.shape[0])
    reject = eff[rows, first]
    stopped_for = np.where(reject, STOP_EFFICACY,
                           np.where(fut[rows, first], STOP_FUTILITY, STOP_END)).astype(int)
    return reject, first.astype(int), stopped_for
