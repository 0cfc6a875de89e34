"""Virtual patients: correlated baseline characteristics through a Gaussian copula.

A patient is a vector of standard normals ``z`` (one per variable in
:data:`simtrial.presets.VARIABLES`), made correlated by the Cholesky factor of the copula
correlation matrix and mapped through each variable's marginal quantile function. Inclusion
criteria (closed ranges on any baseline variable, including the derived ``insulin_dose``) are
applied by rejection, so the screen-failure rate is a property of the population, estimated by
simulation.

Notes
-----
For a normal marginal the copula is exact multivariate normality; for a log-normal marginal the
log of the variable is normal with the copula correlation. Truncated normals use the inverse-CDF
map ``x = mean + sd * ndtri(Phi(a) + ndtr(z) (Phi(b) - Phi(a)))`` with a, b the standardised limits.

References
----------
Nelsen RB. An Introduction to Copulas. 2nd ed. Springer; 2006 (Gaussian copula).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
from scipy import special

from ..errors import ScenarioError
from ..stats.qmc import sobol_base2
from .presets import VARIABLES

__all__ = ["Marginal", "PopulationSpec", "margin", "transform", "accept_mask", "draw_screened",
           "calibration_sample"]


@dataclass(frozen=True)
class Marginal:
    """Marginal distribution of one baseline variable.

    Parameters
    ----------
    family : {"normal", "truncnorm", "lognormal", "bernoulli"}
    mean, sd : float
        Natural-scale mean and SD (for ``truncnorm`` those of the parent normal).
    lower, upper : float
        Truncation limits for ``truncnorm`` (ignored otherwise).
    p : float
        Probability of 1 for ``bernoulli``.
    source : str
        Provenance of the numbers.
    """

    family: str
    mean: float = 0.0
    sd: float = 1.0
    lower: float = -math.inf
    upper: float = math.inf
    p: float = 0.5
    source: str = ""

    @property
    def log_params(self) -> tuple[float, float]:
        """(mu, sigma) of log X for a log-normal with this natural-scale mean and SD."""
        s2 = math.log1p((self.sd / self.mean) ** 2)
        return math.log(self.mean) - s2 / 2.0, math.sqrt(s2)

    def map(self, z: np.ndarray) -> np.ndarray:
        """Map correlated standard normals ``z`` to this marginal (same shape)."""
        if self.family == "normal":
            return self.mean + self.sd * z
        if self.family == "lognormal":
            mu, sigma = self.log_params
            return np.exp(mu + sigma * z)
        if self.family == "truncnorm":
            a = special.ndtr((self.lower - self.mean) / self.sd)
            b = special.ndtr((self.upper - self.mean) / self.sd)
            u = a + special.ndtr(z) * (b - a)
            return self.mean + self.sd * special.ndtri(np.clip(u, 1e-300, 1 - 1e-16))
        if self.family == "bernoulli":
            return (z < special.ndtri(self.p)).astype(np.float64)
        raise ValueError(f"unknown family {self.family}")  # validated upstream

    def to_dict(self) -> dict:
        """Parameters relevant to the family, for manifests."""
        keys = {"normal": ("mean", "sd"), "lognormal": ("mean", "sd"),
                "truncnorm": ("mean", "sd", "lower", "upper"), "bernoulli": ("p",)}[self.family]
        return {"family": self.family, **{k: getattr(self, k) for k in keys}, "source": self.source}


@dataclass(frozen=True)
class PopulationSpec:
    """A resolved population: marginals, copula correlation and inclusion criteria.

    Attributes
    ----------
    preset : str
        Name of the preset it started from.
    marginals : dict[str, Marginal]
        One per variable in :data:`simtrial.presets.VARIABLES`.
    correlation : ndarray, shape (d, d)
        Copula (normal-scores) correlation matrix, positive definite.
    criteria : dict[str, tuple[float, float]]
        Inclusive ranges a candidate must satisfy to be randomised.
    """

    preset: str
    marginals: Mapping[str, Marginal]
    correlation: np.ndarray
    criteria: Mapping[str, tuple[float, float]]
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def chol(self) -> np.ndarray:
        """Lower Cholesky factor of :attr:`correlation`."""
        return np.linalg.cholesky(self.correlation)

    @property
    def dim(self) -> int:
        """Number of copula variables."""
        return len(VARIABLES)

    def needed(self, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Variables needed for the criteria and ``extra`` (copula order, derived ones last)."""
        names = set(self.criteria) | set(extra)
        if "insulin_dose" in names:
            names |= {"insulin_per_kg", "weight"}
        return tuple(v for v in VARIABLES if v in names) + (
            ("insulin_dose",) if "insulin_dose" in names else ())


def margin(spec: PopulationSpec, names: tuple[str, ...]) -> tuple[tuple[str, ...], np.ndarray]:
    """The copula variables behind ``names`` and the Cholesky factor of their correlation.

    A margin of a multivariate normal is multivariate normal with the sub-matrix of the
    correlation, so drawing only these columns gives the variables exactly the joint
    distribution they have in the full copula, at a fraction of the random numbers (screening
    on HbA1c and fasting C-peptide needs 2 of the 8 columns). ``insulin_dose`` is derived from
    ``insulin_per_kg`` and ``weight``.

    Returns
    -------
    cols : tuple of str
        Copula variables in :data:`VARIABLES` order.
    chol : ndarray, shape (len(cols), len(cols))
        Lower Cholesky factor of ``spec.correlation`` restricted to ``cols``.
    """
    want = set(names)
    if "insulin_dose" in want:
        want |= {"insulin_per_kg", "weight"}
    cols = tuple(v for v in VARIABLES if v in want)
    idx = [VARIABLES.index(v) for v in cols]
    return cols, np.linalg.cholesky(np.asarray(spec.correlation)[np.ix_(idx, idx)])


def transform(spec: PopulationSpec, z: np.ndarray, names: tuple[str, ...] | None = None,
              chol: np.ndarray | None = None,
              cols: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Map independent standard normals to baseline variables.

    Parameters
    ----------
    spec : PopulationSpec
    z : ndarray, shape (..., d)
        Independent standard normals, one column per variable in ``cols`` (default
        ``VARIABLES``) order.
    names : tuple of str, optional
        Variables to compute (default: all, plus ``insulin_dose``).
    chol : ndarray, optional
        Cholesky factor of the correlation of ``cols`` (default ``spec.chol``; with ``cols``,
        the factor from :func:`margin`).
    cols : tuple of str, optional
        The copula variables ``z``'s columns stand for (:func:`margin`).

    Returns
    -------
    dict of ndarray, each shape z.shape[:-1]
        Values in natural units (see :mod:`simtrial.presets`); ``insulin_dose`` in IU/day.
    """
    L = spec.chol if chol is None else chol
    cols = tuple(VARIABLES) if cols is None else cols
    want = tuple(VARIABLES) + ("insulin_dose",) if names is None else names
    out: dict[str, np.ndarray] = {}
    for name in want:
        if name == "insulin_dose":
            continue
        j = cols.index(name)
        corr_z = z[..., : j + 1] @ L[j, : j + 1]
        out[name] = spec.marginals[name].map(corr_z)
    if "insulin_dose" in want:
        ipk = out.get("insulin_per_kg")
        wt = out.get("weight")
        if ipk is None:
            ipk = transform(spec, z, ("insulin_per_kg",), L, cols)["insulin_per_kg"]
        if wt is None:
            wt = transform(spec, z, ("weight",), L, cols)["weight"]
        out["insulin_dose"] = ipk * wt
    return out


def accept_mask(spec: PopulationSpec, values: Mapping[str, np.ndarray]) -> np.ndarray:
    """Boolean mask of candidates meeting every inclusion criterion (inclusive ranges)."""
    mask = None
    for name, (lo, hi) in spec.criteria.items():
        v = values[name]
        m = (v >= lo) & (v <= hi)
        mask = m if mask is None else (mask & m)
    if mask is None:
        first = next(iter(values.values()))
        return np.ones(first.shape, dtype=bool)
    return mask


def calibration_sample(spec: PopulationSpec, log2_points: int = 18, *, seed: int = 0
                       ) -> tuple[dict[str, np.ndarray], float]:
    """Screened patients from a scrambled Sobol sequence, for calibrating model constants.

    Quasi-Monte Carlo makes population averages (baseline means, the calibrated treatment
    effect) far more precise than the same number of pseudo-random draws, so calibration error
    stays well below the Monte Carlo error of any realistic simulation.

    Parameters
    ----------
    spec : PopulationSpec
    log2_points : int
        ``2**log2_points`` candidates are screened.
    seed : int
        Scrambling seed (fixed: the model is a deterministic function of the scenario).

    Returns
    -------
    values : dict of ndarray
        Accepted candidates (all variables and ``insulin_dose``).
    accept_rate : float
        Share of candidates passing the criteria.

    Notes
    -----
    The last two samples are kept in memory (their arrays read-only), keyed by the marginals,
    correlation and criteria: a batch or sweep builds many models of the same population.

    With the environment variable ``SIMTRIAL_CACHE_DIR`` set (and only then: nothing is written
    anywhere by default), a sample is also kept in that folder, one ``.npz`` file per population
    keyed by the population's parameters, the sample size and seed, and the versions of
    simtrial, numpy and scipy and the code that draws it; it is written atomically, and an entry
    that cannot be read back as the expected arrays is ignored (and rewritten).
    """
    key = (tuple(spec.marginals.items()), spec.correlation.shape, spec.correlation.tobytes(),
           tuple((k, tuple(v)) for k, v in spec.criteria.items()), int(log2_points), seed)
    hit = _CALIBRATION_SAMPLES.get(key)
    if hit is None:
        path = _cache_file(key)
        hit = _read_cached(path) if path is not None else None
        if hit is None:
            hit = _calibration_sample(spec, log2_points, seed)
            if path is not None:
                _write_cached(path, hit)
        if len(_CALIBRATION_SAMPLES) >= 2:
            _CALIBRATION_SAMPLES.pop(next(iter(_CALIBRATION_SAMPLES)))
        _CALIBRATION_SAMPLES[key] = hit
    return dict(hit[0]), hit[1]


_CALIBRATION_SAMPLES: dict[tuple, tuple[dict[str, np.ndarray], float]] = {}

CACHE_ENV = "SIMTRIAL_CACHE_DIR"
"""Environment variable naming the opt-in folder of calibration samples."""
_SAMPLE_NAMES = tuple(VARIABLES) + ("insulin_dose",)


def _cache_file(key: tuple) -> Path | None:
    """The cache entry of a calibration sample, or None when the cache is off."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        return None
    from importlib import metadata      # the versions are part of the key
    import scipy
    try:
        version = metadata.version("simtrial")
    except metadata.PackageNotFoundError:
        version = "unknown"
    code = b"".join(Path(f).read_bytes() for f in (__file__, sobol_base2.__code__.co_filename))
    h = hashlib.sha256(repr((key, version, np.__version__, scipy.__version__)).encode()
                       + hashlib.sha256(code).digest())
    return Path(root) / f"calibration-{h.hexdigest()[:40]}.npz"


def _read_cached(path: Path) -> tuple[dict[str, np.ndarray], float] | None:
    """A cached sample, or None if it is missing or not the arrays it should be."""
    try:
        with np.load(path, allow_pickle=False) as f:
            vals = {k: f[k] for k in _SAMPLE_NAMES}
            rate = float(f["accept_rate"])
    except (OSError, ValueError, KeyError, EOFError):
        return None
    n = vals["age"].shape
    if (not 0.0 < rate <= 1.0 or len(n) != 1 or n[0] < 1000
            or any(v.dtype != np.float64 or v.shape != n for v in vals.values())):
        return None
    for v in vals.values():
        v.setflags(write=False)
    return vals, rate


def _write_cached(path: Path, sample: tuple[dict[str, np.ndarray], float]) -> None:
    """Write a cache entry atomically (a temporary file renamed); a folder that cannot be
    written leaves the cache off, not the command failed."""
    import tempfile
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".calibration-", suffix=".npz", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, accept_rate=np.float64(sample[1]), **sample[0])
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _calibration_sample(spec: PopulationSpec, log2_points: int, seed: int
                        ) -> tuple[dict[str, np.ndarray], float]:
    u = sobol_base2(spec.dim, log2_points, seed)
    z = special.ndtri(np.clip(u, 1e-15, 1 - 1e-15, out=u), out=u)     # in place: 25 MB each
    vals = transform(spec, z)
    acc = accept_mask(spec, vals)
    n_acc = int(acc.sum())
    if n_acc < 1000:
        raise ScenarioError(
            "scenario error: population.criteria accept almost no patients "
            f"({n_acc} of {acc.size} candidates); widen the ranges")
    out = {k: v[acc] for k, v in vals.items()}
    for v in out.values():
        v.setflags(write=False)
    return out, n_acc / acc.size


def draw_screened(spec: PopulationSpec, n: int, *, rng: np.random.Generator,
                  names: tuple[str, ...] | None = None,
                  max_candidates: int = 50_000_000) -> tuple[dict[str, np.ndarray], int]:
    """Draw ``n`` patients who pass screening, in screening order.

    Parameters
    ----------
    spec : PopulationSpec
    n : int
        Number of randomisable patients wanted.
    rng : numpy.random.Generator
    names : tuple of str, optional
        Variables to return (default all, plus ``insulin_dose``).

    Returns
    -------
    values : dict of ndarray, each shape (n,)
    screened : int
        Number of candidates screened to find them (screen failures = screened - n).
    """
    want = tuple(VARIABLES) + ("insulin_dose",) if names is None else names
    need = tuple(sorted(set(want) | set(spec.needed()), key=lambda v: (v == "insulin_dose", v)))
    L = spec.chol
    chunks: dict[str, list[np.ndarray]] = {k: [] for k in want}
    got = 0
    screened = 0
    block = max(1024, n)
    while got < n:
        z = rng.standard_normal((block, spec.dim))
        vals = transform(spec, z, need, L)
        acc = accept_mask(spec, vals)
        idx = np.flatnonzero(acc)[: n - got]
        if idx.size and got + idx.size == n:
            screened += int(idx[-1]) + 1
        else:
            screened += block
        for k in want:
            chunks[k].append(vals[k][idx])
        got += idx.size
        if screened > max_candidates:
            raise ScenarioError(
                "scenario error: population.criteria accept almost no patients "
                f"({got} of {screened} candidates); widen the ranges")
    return {k: np.concatenate(v) for k, v in chunks.items()}, screened
