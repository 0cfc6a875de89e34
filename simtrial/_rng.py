"""The one place random generators are built, and the table of stream codes.

Every random number of a run comes from ``numpy PCG64(SeedSequence(seed, spawn_key=key))`` with
``key`` from this table, so results do not depend on chunk order, workers or executor, and the
two simulation kernels (prefix sums and full patient arrays) draw the *same* numbers for the
same patients:

* replicate-trial chunk ``c`` (:data:`CHUNK_TRIALS` trials each): ``key = (c, code)`` with

  - group (stratum ``s``, arm ``a``; arm 0 = control) baselines :func:`group_codes` ``[0]``,
    outcome residuals ``[1]`` and dropout uniforms ``[2]``. The first stratum's control and
    first MSC arm use codes 0/1 and 2/3, the plain two-arm trial's historical streams; other
    groups ``1000 + 100 s + 10 a (+1)``; dropout always ``1000 + 100 s + 10 a + 2``;
    patient-specific natural-history slopes ``+ 3`` and insulin-independence uniforms ``+ 4``
    (:func:`patient_codes`; drawn only by models that use them); the outcome stream holds each
    patient's primary-endpoint residual (and individual-response normal), and the residuals of
    every other outcome and visit come from ``+ 5`` (:func:`residual_code`; drawn only by
    designs that analyse them);
  - trial-level effects (assurance) :data:`EFFECT`;
  - multiple imputation of endpoint ``e`` at look ``l`` (0 = final) ``5000 + 100 l + e``;

* conduct replicate ``r``, process ``p``: ``key = (CONDUCT, r, p)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CHUNK_TRIALS", "EFFECT", "CONDUCT", "generator", "chunk_generator", "group_codes",
           "patient_codes", "residual_code", "imputation_code", "chunk_count"]

CHUNK_TRIALS = 1000
"""Replicate trials per chunk (fixed: part of the definition of a seed's numbers)."""
EFFECT = 4
"""Stream of the per-trial true effects drawn from the effect distribution."""
CONDUCT = 0xC0D0
"""First spawn-key element of the conduct (SimPy) replicates."""
_PLAIN = {(0, 0): (0, 1), (0, 1): (2, 3)}


def generator(seed: int, *key: int) -> np.random.Generator:
    """``Generator(PCG64(SeedSequence(seed, spawn_key=key)))``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def chunk_generator(seed: int, chunk: int, code: int) -> np.random.Generator:
    """Generator of stream ``code`` in replicate-trial chunk ``chunk``."""
    return generator(seed, chunk, code)


def group_codes(stratum: int, arm: int) -> tuple[int, int, int]:
    """Stream codes (baselines, outcome residuals, dropout) of patient group (stratum, arm)."""
    base = 1000 + 100 * stratum + 10 * arm
    b, o = _PLAIN.get((stratum, arm), (base, base + 1))
    return b, o, base + 2


def patient_codes(stratum: int, arm: int) -> tuple[int, int]:
    """Stream codes (natural-history slopes, insulin-independence uniforms) of a group."""
    base = 1000 + 100 * stratum + 10 * arm
    return base + 3, base + 4


def residual_code(stratum: int, arm: int) -> int:
    """Stream code of a group's residuals other than the primary endpoint's."""
    return 1000 + 100 * stratum + 10 * arm + 5


def imputation_code(endpoint: int, look: int = 0) -> int:
    """Stream code of the imputations of endpoint ``endpoint`` at look ``look`` (0 = final)."""
    return 5000 + 100 * look + endpoint


def chunk_count(n_trials: int) -> int:
    """Number of chunks covering ``n_trials`` trials."""
    return -(-n_trials // CHUNK_TRIALS)
