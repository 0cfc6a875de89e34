"""Brent's root finder, without importing scipy.optimize.

``import scipy.optimize`` takes 0.3-0.5 s (it loads scipy.linalg, scipy.sparse and every
optimiser), and the model build needs only a bracketing root finder (calibrating a log-scale
effect, the remission intercepts, group-sequential and Dunnett bounds). :func:`brentq` is
Brent's method (Brent 1973, ch. 4: inverse quadratic interpolation or secant steps, bisection
when a step would not shrink the bracket enough) in the variant that
:func:`scipy.optimize.brentq` implements, step for step in double precision, so it returns the
same root to the last bit (``tests/test_startup.py`` compares the two on the engine's functions
and on random brackets).

References
----------
Brent RP. Algorithms for Minimization without Derivatives. Prentice-Hall; 1973, ch. 4.
"""

from __future__ import annotations

import math
from typing import Callable

__all__ = ["brentq", "RTOL"]

RTOL = 4 * 2.220446049250313e-16
"""The smallest relative tolerance allowed (four machine epsilons), as scipy's."""


def _value(f: Callable[[float], float], x: float) -> float:
    v = float(f(x))
    if math.isnan(v):
        raise ValueError(f"the function value at x={x} is NaN; solver cannot continue.")
    return v


def brentq(f: Callable[[float], float], a: float, b: float, xtol: float = 2e-12,
           rtol: float = 8.881784197001252e-16, maxiter: int = 100) -> float:
    """A root of ``f`` in ``[a, b]`` (``f(a)`` and ``f(b)`` of opposite signs), to within
    ``xtol + rtol |x|``; the arguments and defaults of :func:`scipy.optimize.brentq`.

    Raises
    ------
    ValueError
        ``f(a)`` and ``f(b)`` have the same sign, a value is NaN, or a tolerance is too small.
    RuntimeError
        Not converged in ``maxiter`` iterations.
    """
    if not xtol > 0:
        raise ValueError(f"xtol too small ({xtol:g} <= 0)")
    if rtol < RTOL:
        raise ValueError(f"rtol too small ({rtol:g} < {RTOL:g})")
    xtol, rtol, maxiter = float(xtol), float(rtol), int(maxiter)
    if maxiter < 0:
        raise ValueError("maxiter must be >= 0")
    xpre, xcur = float(a), float(b)
    fpre, fcur = _value(f, xpre), _value(f, xcur)
    if fpre == 0.0:
        return xpre
    if fcur == 0.0:
        return xcur
    if math.copysign(1.0, fpre) == math.copysign(1.0, fcur):
        raise ValueError("f(a) and f(b) must have different signs")
    xblk = fblk = spre = scur = 0.0
    for _ in range(maxiter):
        if fpre != 0.0 and fcur != 0.0 and math.copysign(1.0, fpre) != math.copysign(1.0, fcur):
            # the root lies between the current point and the previous one
            xblk, fblk = xpre, fpre
            spre = scur = xcur - xpre
        if abs(fblk) < abs(fcur):
            # keep the best point as the current one
            xpre, xcur, xblk = xcur, xblk, xcur
            fpre, fcur, fblk = fcur, fblk, fcur
        delta = (xtol + rtol * abs(xcur)) / 2
        sbis = (xblk - xcur) / 2
        if fcur == 0.0 or abs(sbis) < delta:
            return xcur
        if abs(spre) > delta and abs(fcur) < abs(fpre):
            if xpre == xblk:        # secant
                stry = -fcur * (xcur - xpre) / (fcur - fpre)
            else:                   # inverse quadratic interpolation
                dpre = (fpre - fcur) / (xpre - xcur)
                dblk = (fblk - fcur) / (xblk - xcur)
                stry = -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            if 2 * abs(stry) < min(abs(spre), 3 * abs(sbis) - delta):
                spre, scur = scur, stry     # the interpolation step is short enough: take it
            else:
                spre = scur = sbis          # bisect
        else:
            spre = scur = sbis              # bisect
        xpre, fpre = xcur, fcur
        if abs(scur) > delta:
            xcur += scur
        else:
            xcur += delta if sbis > 0 else -delta
        fcur = _value(f, xcur)
    raise RuntimeError(f"brentq: failed to converge after {maxiter} iterations, value is {xcur}")
