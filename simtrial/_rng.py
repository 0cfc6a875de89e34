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
  - the sufficient-statistics kernel (:mod:`simtrial.sim.suffstat`), arm ``a`` (0 = control,
    1 = MSC), blocks of ``32**L`` patients (level ``L``; ``L = 0`` are single patients):
    :func:`suffstat_codes` ``7000 + 100 a + 10 L`` (normals), ``+ 1`` and ``+ 2`` (residual and
    baseline chi-squares, L >= 1).
    The level-L blocks inside level-(L+1) block ``p`` read those streams jumped ``p`` times
    (:func:`block_generator`), so a block's numbers are fixed whichever blocks a run needs. Its
    baselines use the group's baseline stream above (the same patients as the prefix kernel);
  - safety event ``e`` (the e-th ``[[safety]]`` table, :mod:`simtrial.oc.safety`):
    :func:`safety_code` ``8000 + 10 e + k`` with ``k`` = 0 the per-trial true rates (evidence
    prior), 1 the event counts, 2 the counts of the monitoring rule's operating
    characteristics;

* conduct replicate ``r``, process ``p``: ``key = (CONDUCT, r, p)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CHUNK_TRIALS", "EFFECT", "CONDUCT", "SUFFSTAT", "generator", "chunk_generator",
           "block_generator", "group_codes", "patient_codes", "residual_code", "imputation_code",
           "suffstat_codes", "safety_code", "SAFETY", "chunk_count"]

CHUNK_TRIALS = 1000
"""Replicate trials per chunk (fixed: part of the definition of a seed's numbers)."""
EFFECT = 4
"""Stream of the per-trial true effects drawn from the effect distribution."""
CONDUCT = 0xC0D0
"""First spawn-key element of the conduct (SimPy) replicates."""
SUFFSTAT = 7000
"""First stream code of the sufficient-statistics kernel (:func:`suffstat_codes`); above the
imputation codes of ten looks (at most ``5000 + 100 * 10 + e``), below 7200."""
SAFETY = 8000
"""First stream code of the safety events (:func:`safety_code`); above the sufficient-statistics
kernel's codes (< 7200)."""
_PLAIN = {(0, 0): (0, 1), (0, 1): (2, 3)}


def generator(seed: int, *key: int) -> np.random.Generator:
    """``Generator(PCG64(SeedSequence(seed, spawn_key=key)))``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def chunk_generator(seed: int, chunk: int, code: int) -> np.random.Generator:
    """Generator of stream ``code`` in replicate-trial chunk ``chunk``."""
    return generator(seed, chunk, code)


def block_generator(seed: int, chunk: int, code: int, block: int) -> np.random.Generator:
    """Generator of block ``block`` of stream ``code`` in chunk ``chunk``: that stream's
    PCG64 jumped ``block`` times (``PCG64.jumped``, about 0.618 * 2**128 draws a jump), so
    blocks never overlap and block j draws the same numbers whichever other blocks are drawn;
    block 0 is the stream itself."""
    bits = np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(chunk, code)))
    return np.random.Generator(bits.jumped(block) if block else bits)


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


def suffstat_codes(arm: int, level: int) -> tuple[int, int, int]:
    """Stream codes (normals, residual chi-squares, baseline chi-squares) of the blocks of
    ``32**level`` patients of arm ``arm`` (0 = control, 1 = MSC) in the sufficient-statistics
    kernel."""
    if not 0 <= level < 10:
        raise ValueError("level must be in 0..9")
    base = SUFFSTAT + 100 * arm + 10 * level
    return base, base + 1, base + 2


def safety_code(event: int, kind: int) -> int:
    """Stream code of safety event ``event`` (0-based ``[[safety]]`` index, < 20): ``kind`` 0 the
    true rates, 1 the event counts, 2 the operating-characteristics counts."""
    if not (0 <= event < 20 and 0 <= kind < 10):
        raise ValueError("event must be in 0..19 and kind in 0..9")
    return SAFETY + 10 * event + kind


def chunk_count(n_trials: int) -> int:
    """Number of chunks covering ``n_trials`` trials."""
    return -(-n_trials // CHUNK_TRIALS)
