"""Exact size of the two-arm responder tests: the probability of rejecting a true null.

Under the null both arms have the same responder probability ``p``; every table
``(x0, x1)`` with ``x0 ~ Bin(n0, p)`` and ``x1 ~ Bin(n1, p)`` is enumerated and the test the
engine runs (:mod:`simtrial.stats.binary`, the same calls as :mod:`simtrial.sim.full`) is applied
to it, so the size is exact, not simulated:

``size = sum_{x0, x1} Bin(x0; n0, p) Bin(x1; n1, p) 1{test rejects at alpha}``.

With rare responders the large-sample tests are not at their nominal level: at about 9%
responders and 40 per arm the chi-square test rejects about 5.9% of null trials, Fisher's exact
test 1.4%, logistic regression 0.9% (issue 12). ``simtrial validate`` and the report print
these sizes for the design.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from . import binary
from . import distributions as stats

__all__ = ["responder_test_size", "SIZE_ANALYSES", "EXACT_SIZE_MAX_N"]

EXACT_SIZE_MAX_N = 300
"""Largest arm for which the exact size of a responder test is enumerated ((n0+1)(n1+1)
tables); beyond it the large-sample tests are at their level and the size is not reported."""

SIZE_ANALYSES = ("chisq", "fisher", "logistic", "cmh")
"""Analyses with an exact size (``cmh`` as one stratum: the size of the pooled test)."""


def _tables(n0: int, n1: int):
    x0, x1 = np.meshgrid(np.arange(n0 + 1), np.arange(n1 + 1), indexing="ij")
    return x0.ravel(), x1.ravel()


def _z(analysis: str, x0, n0: int, x1, n1: int) -> tuple[np.ndarray, np.ndarray]:
    """(two-sided p, signed z: positive when the MSC arm has more responders) per table."""
    k = x0.size
    a0, a1 = np.full(k, n0), np.full(k, n1)
    rd, _ = binary.risk_difference(x0, a0, x1, a1)
    if analysis in ("chisq", "cmh"):
        stat, p = binary.chisq_test(x0, a0, x1, a1)
        return p, np.sign(rd) * np.sqrt(np.maximum(stat, 0.0))
    if analysis == "fisher":
        p = binary.fisher_test(x0, a0, x1, a1, alternative="two-sided")
        pg = binary.fisher_test(x0, a0, x1, a1, alternative="greater")
        return p, special.ndtri(1 - np.clip(pg, 1e-300, 1.0))
    # logistic regression on arm, one "trial" per table, as grouped data (frequency weights
    # give the same fit as the expanded patients, see binary.logistic_test); failed fits
    # (separation) have p = 1, as in the engine
    y = np.tile([1.0, 0.0, 1.0, 0.0], (k, 1))
    x = np.tile(np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0]]), (k, 1, 1))
    wts = np.stack([x0, n0 - x0, x1, n1 - x1], -1).astype(float)
    r = binary.logistic_test(y, x, wts, columns=[1])
    z = np.where(np.asarray(r["status"]) == 0, np.asarray(r["z"])[:, 0], 0.0)
    return np.asarray(r["p"])[:, 0], z


def responder_test_size(analysis: str, n0: int, n1: int, p: float, alpha: float = 0.05,
                        sides: int = 2) -> float:
    """Exact probability that ``analysis`` rejects when both arms respond with probability ``p``.

    Parameters
    ----------
    analysis : {"chisq", "fisher", "logistic", "cmh"}
        ``cmh`` is evaluated as one stratum (the pooled test).
    n0, n1 : int
        Patients analysed per arm.
    p : float
        Common responder probability under the null.
    alpha : float
    sides : {1, 2}
        Two-sided: reject when the two-sided p <= alpha; one-sided: when the signed z (more
        responders with MSC) exceeds the normal 1 - alpha quantile.

    Returns
    -------
    float

    Examples
    --------
    >>> round(responder_test_size("fisher", 10, 10, 0.5), 4)
    0.0128
    """
    if analysis not in SIZE_ANALYSES:
        raise ValueError(f"analysis = {analysis!r}: exact size is defined for "
                         f"{', '.join(SIZE_ANALYSES)}")
    x0, x1 = _tables(int(n0), int(n1))
    w = stats.binom.pmf(x0, n0, p) * stats.binom.pmf(x1, n1, p)
    p2, z = _z(analysis, x0, int(n0), x1, int(n1))
    rej = (p2 <= alpha) if sides == 2 else (z > stats.norm.isf(alpha))
    return float(np.sum(w[rej]))
