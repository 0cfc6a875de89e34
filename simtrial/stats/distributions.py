"""The distribution functions the engine needs, from :mod:`scipy.special`, without scipy.stats.

``import scipy.stats`` takes 0.4-0.7 s (it builds every distribution and test at import), more
than the rest of a ``simtrial power --n-trials 1`` run. The engine needs only the t,
noncentral t, normal, chi-square and binomial distributions, and scipy.stats computes each of
their functions with one :mod:`scipy.special` function (``t.cdf(x, df)`` is ``stdtr(df, x)``,
``t.isf(q, df)`` is ``-stdtrit(df, q)``, ``nct.cdf`` is ``nctdtr``, ``norm.ppf`` is ``ndtri``,
``chi2.sf`` is ``chdtrc``, ...). The objects here call the same functions with scipy.stats's
rules at the edges (outside the support, at probabilities 0 and 1, invalid shapes give NaN), so
their values are scipy.stats's to the last bit; ``tests/test_startup.py`` checks that on grids
that include the tails and the edges. The API is the subset of scipy.stats's that simtrial
uses: ``norm``, ``t``, ``nct``, ``chi2`` (``cdf``, ``sf``, ``ppf``, ``isf``, with ``loc`` and
``scale``, and frozen distributions such as ``t(df, loc, scale).ppf(q)``) and ``binom.pmf``.

Two of scipy.stats's functions use scipy.special ufuncs that are not public (``nct.sf`` and
``binom.pmf``, the Boost complements); if a scipy release drops them, those two fall back to
scipy.stats itself (same numbers, the import time again).
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["norm", "t", "nct", "chi2", "binom"]

try:
    from scipy.special._ufuncs import _binom_pmf, _nct_sf
except ImportError:     # pragma: no cover - a scipy without them
    _binom_pmf = _nct_sf = None


def _scalar(out: np.ndarray):
    """A 0-d result as a numpy scalar, as scipy.stats returns it."""
    return out[()] if out.ndim == 0 else out


def _stats_fallback(name: str):
    import scipy.stats      # only where a private scipy.special ufunc is missing
    return getattr(scipy.stats, name)


class _Continuous:
    """A continuous family on ``[a, b]`` given by its scipy.special functions of
    ``(x_or_q, *shapes)``; ``check(*shapes)`` is True where the shapes are valid."""

    def __init__(self, name: str, n_shapes: int, a: float, b: float, cdf, sf, ppf, isf, check):
        self.name, self.n_shapes, self.a, self.b = name, n_shapes, a, b
        self._cdf, self._sf, self._ppf, self._isf, self._check = cdf, sf, ppf, isf, check

    def _split(self, args, loc, scale):
        extra = args[self.n_shapes:]
        if len(extra) > 2:
            raise TypeError(f"{self.name}: too many arguments")
        if extra:
            loc = extra[0]
        if len(extra) == 2:
            scale = extra[1]
        shapes = tuple(np.asarray(s, dtype=float) for s in args[:self.n_shapes])
        if len(shapes) != self.n_shapes:
            raise TypeError(f"{self.name} needs {self.n_shapes} shape parameter(s)")
        return shapes, np.asarray(loc, dtype=float), np.asarray(scale, dtype=float)

    def _prob(self, fn, at_a: float, at_b: float, x, args, loc, scale):
        shapes, loc, scale = self._split(args, loc, scale)
        z = np.asarray((np.asarray(x, dtype=float) - loc) / scale, dtype=float)
        ok = self._check(*shapes) & (scale > 0)
        inside = (z > self.a) & (z < self.b)
        with np.errstate(all="ignore"):
            val = fn(z, *shapes)
        out = np.where(ok & inside, val, np.where(z <= self.a, at_a, at_b))
        out = np.where(ok & ~np.isnan(z), out, np.nan)
        return _scalar(np.asarray(out, dtype=float))

    def _quantile(self, fn, at_0: float, at_1: float, q, args, loc, scale):
        shapes, loc, scale = self._split(args, loc, scale)
        q = np.asarray(q, dtype=float)
        ok = self._check(*shapes) & (scale > 0) & (loc == loc)
        with np.errstate(all="ignore"):
            val = fn(q, *shapes) * scale + loc
        out = np.where((q > 0) & (q < 1), val,
                       np.where(q == 0, at_0 * scale + loc,
                                np.where(q == 1, at_1 * scale + loc, np.nan)))
        return _scalar(np.asarray(np.where(ok, out, np.nan), dtype=float))

    def cdf(self, x, *args, loc=0.0, scale=1.0):
        return self._prob(self._cdf, 0.0, 1.0, x, args, loc, scale)

    def sf(self, x, *args, loc=0.0, scale=1.0):
        return self._prob(self._sf, 1.0, 0.0, x, args, loc, scale)

    def ppf(self, q, *args, loc=0.0, scale=1.0):
        return self._quantile(self._ppf, self.a, self.b, q, args, loc, scale)

    def isf(self, q, *args, loc=0.0, scale=1.0):
        return self._quantile(self._isf, self.b, self.a, q, args, loc, scale)

    def __call__(self, *args, loc=0.0, scale=1.0) -> "_Frozen":
        return _Frozen(self, args, loc, scale)


class _Frozen:
    """``family(*shapes, loc, scale)``: the four functions with the parameters fixed."""

    def __init__(self, family: _Continuous, args, loc, scale):
        self.family, self.args, self.loc, self.scale = family, tuple(args), loc, scale

    def _kw(self):
        return {"loc": self.loc, "scale": self.scale}

    def cdf(self, x):
        return self.family.cdf(x, *self.args, **self._kw())

    def sf(self, x):
        return self.family.sf(x, *self.args, **self._kw())

    def ppf(self, q):
        return self.family.ppf(q, *self.args, **self._kw())

    def isf(self, q):
        return self.family.isf(q, *self.args, **self._kw())


def _positive(df):
    return df > 0


def _nct_upper(x, df, nc):
    if _nct_sf is None:     # pragma: no cover
        return _stats_fallback("nct").sf(x, df, nc)
    return np.clip(_nct_sf(x, df, nc), 0, 1)


INF = np.inf

norm = _Continuous("norm", 0, -INF, INF, special.ndtr, lambda x: special.ndtr(-x),
                   special.ndtri, lambda q: -special.ndtri(q), lambda: np.asarray(True))
"""The normal distribution (scipy.stats.norm's cdf, sf, ppf, isf)."""

t = _Continuous("t", 1, -INF, INF, lambda x, df: special.stdtr(df, x),
                lambda x, df: special.stdtr(df, -x), lambda q, df: special.stdtrit(df, q),
                lambda q, df: -special.stdtrit(df, q), _positive)
"""Student's t (scipy.stats.t's cdf, sf, ppf, isf)."""

nct = _Continuous("nct", 2, -INF, INF, lambda x, df, nc: special.nctdtr(df, nc, x), _nct_upper,
                  lambda q, df, nc: special.nctdtrit(df, nc, q),
                  lambda q, df, nc: _stats_fallback("nct").isf(q, df, nc),
                  lambda df, nc: (df > 0) & (nc == nc))
"""The noncentral t (scipy.stats.nct's cdf, sf, ppf)."""

chi2 = _Continuous("chi2", 1, 0.0, INF, lambda x, df: special.chdtr(df, x),
                   lambda x, df: special.chdtrc(df, x),
                   lambda q, df: 2 * special.gammaincinv(df / 2, q),
                   lambda q, df: special.chdtri(df, q), _positive)
"""The chi-square distribution (scipy.stats.chi2's cdf, sf, ppf, isf)."""


class _Binomial:
    """scipy.stats.binom's pmf."""

    @staticmethod
    def pmf(k, n, p):
        if _binom_pmf is None:      # pragma: no cover
            return _stats_fallback("binom").pmf(k, n, p)
        k, n, p = (np.asarray(v, dtype=float) for v in (k, n, p))
        ok = (n >= 0) & (n == np.round(n)) & (p >= 0) & (p <= 1)
        inside = (k >= 0) & (k <= n) & (np.floor(k) == k)
        with np.errstate(all="ignore"):
            val = np.clip(_binom_pmf(k, n, p), 0, 1)
        out = np.where(ok & inside, val, 0.0)
        out = np.where(ok & ~np.isnan(k), out, np.nan)
        return _scalar(np.asarray(out, dtype=float))


binom = _Binomial()
