"""Scrambled Sobol' points for the calibration sample, without importing scipy.stats.

The model's calibration sample (:func:`simtrial.model.population.calibration_sample`) is the
first ``2**m`` points of scipy's scrambled Sobol' sequence,
``scipy.stats.qmc.Sobol(d, scramble=True, seed=seed).random_base2(m)``. Importing scipy.stats
for it takes 0.4-0.7 s, more than everything else a ``simtrial power`` start-up does, so this
module computes the same points with numpy: the Joe & Kuo (2008) direction numbers of the first
:data:`MAX_DIM` dimensions (search criterion D(6), the ones scipy ships), a random linear matrix
scramble and digital shift drawn exactly as scipy draws them (``numpy.random.default_rng(seed)``,
30 bits), and the points in Gray-code order. The result equals scipy's bit for bit
(``tests/test_startup.py``); more dimensions than :data:`MAX_DIM` fall back to scipy.

References
----------
Joe S, Kuo FY. Constructing Sobol sequences with better two-dimensional projections. SIAM J Sci
Comput 2008;30:2635-54 (direction numbers new-joe-kuo-6.21201).
Owen AB. Scrambling Sobol' and Niederreiter-Xing points. J Complexity 1998;14:466-89 (linear
matrix scramble and digital shift).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_DIM", "sobol_base2"]

BITS = 30
"""Bits per coordinate (scipy's default)."""

# primitive polynomial (with its leading and trailing 1 bits) and initial direction numbers of
# dimensions 2..16 (dimension 1 is the van der Corput sequence)
_POLY = (3, 7, 11, 13, 19, 25, 37, 41, 47, 55, 59, 61, 67, 91, 97)
_VINIT = ((1,), (1, 3), (1, 3, 1), (1, 1, 1), (1, 1, 3, 3), (1, 3, 5, 13), (1, 1, 5, 5, 17),
          (1, 1, 5, 5, 5), (1, 1, 7, 11, 19), (1, 1, 5, 1, 1), (1, 1, 1, 3, 11),
          (1, 3, 5, 5, 31), (1, 3, 3, 9, 7, 49), (1, 1, 1, 15, 21, 21), (1, 3, 1, 13, 27, 49))
MAX_DIM = len(_POLY) + 1
"""Dimensions computed here (the copula has 12)."""


def _direction_numbers(d: int) -> np.ndarray:
    """``v[j, k]``: direction number k of dimension j, left-aligned in :data:`BITS` bits."""
    m = np.zeros((d, BITS), dtype=np.uint64)
    m[0, :] = 1
    for j in range(1, d):
        poly, init = _POLY[j - 1], _VINIT[j - 1]
        deg = poly.bit_length() - 1
        m[j, :deg] = init
        for k in range(deg, BITS):      # m_k = 2^s m_{k-s} xor sum_i a_i 2^i m_{k-i}
            new = int(m[j, k - deg])
            for i in range(1, deg + 1):
                if (poly >> (deg - i)) & 1:
                    new ^= (1 << i) * int(m[j, k - i])
            m[j, k] = new
    shifts = np.arange(BITS - 1, -1, -1, dtype=np.uint64)
    return (m << shifts).astype(np.uint32)


def _parity(x: np.ndarray) -> np.ndarray:
    """Parity of the number of 1 bits of each element (uint64), as 0 or 1."""
    for k in (32, 16, 8, 4, 2, 1):
        x = x ^ (x >> np.uint64(k))
    return x & np.uint64(1)


def _scrambled(d: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """Direction numbers after a random lower-triangular (linear matrix) scramble, and the
    digital shift: drawn from ``default_rng(seed)``, the shift first, as scipy does."""
    rng = np.random.default_rng(seed)
    shift = rng.integers(2, size=(d, BITS), dtype=np.uint32) @ (
        np.uint32(2) ** np.arange(BITS, dtype=np.uint32))
    ltm = np.tril(rng.integers(2, size=(d, BITS, BITS), dtype=np.uint32))
    ltm[:, np.arange(BITS), np.arange(BITS)] = 1
    # row p of each matrix as a bit mask, its column 0 the most significant bit
    weights = np.uint64(1) << np.arange(BITS - 1, -1, -1, dtype=np.uint64)
    rows = (ltm.astype(np.uint64) * weights).sum(axis=-1)                   # (d, p)
    v = _direction_numbers(d).astype(np.uint64)                             # (d, k)
    # scrambled bit (BITS - 1 - p) of v[j, k] = parity of (row p & v[j, k])
    parity = _parity(v[:, :, None] & rows[:, None, :])
    out = (parity << np.arange(BITS - 1, -1, -1, dtype=np.uint64)).sum(axis=-1)
    return out.astype(np.uint32), shift.astype(np.uint32)


def sobol_base2(d: int, m: int, seed) -> np.ndarray:
    """The first ``2**m`` points of the scrambled Sobol' sequence in ``d`` dimensions, shape
    ``(2**m, d)``: ``scipy.stats.qmc.Sobol(d, scramble=True, seed=seed).random_base2(m)``."""
    if d > MAX_DIM or m > BITS:
        from scipy.stats import qmc     # beyond the dimensions tabulated here
        return qmc.Sobol(d=d, scramble=True, seed=seed).random_base2(m)
    v, shift = _scrambled(d, seed)
    q = np.empty((1 << m, d), dtype=np.uint32)
    q[0] = shift
    # Gray-code order: point 2^b + i is point 2^b - 1 - i with direction number b added
    for b in range(m):
        h = 1 << b
        np.bitwise_xor(q[h - 1::-1] if h > 1 else q[:1], v[:, b], out=q[h:2 * h])
    return q * (1.0 / 2 ** BITS)
