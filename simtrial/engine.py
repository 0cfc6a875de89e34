"""The Monte Carlo engine: replicate trials in fixed-size chunks, vectorised.

Layout and randomness (what makes results reproducible and designs comparable):

* Trials are processed in chunks of :data:`CHUNK_TRIALS`. Chunk ``c`` draws only from
  ``SeedSequence(seed, spawn_key=(c, stream))``, one stream per process and arm
  (:data:`STREAMS`), so a result does not depend on chunk order or on the number of workers,
  and the first R trials of a run are the same whatever ``n_trials`` is (the last chunk is always
  drawn in full and cut).
* Arrays are patient-major, shape ``(patients, trials, ...)``: candidates are drawn in screening
  blocks of :data:`SCREEN_BLOCK` x trials x variables, accepted patients are packed in screening
  order, and outcome residuals are drawn as ``(patients, trials, visits + 1)``. Because numpy fills
  arrays in C order, patient i of trial t receives the same numbers whatever the arm size:
  designs differing only in N share draws (common random numbers), and a larger trial is the
  smaller one plus more patients.
* Per arm, the engine keeps prefix sums of ``(x, y, x^2, y^2, xy)`` over patients, so the
  analysis at *every* arm size up to the maximum costs one lookup: a whole power curve, or a
  sample-size search, is one simulation pass.

Only the endpoint visit is evaluated in this hot path; its residual is the endpoint row of the
visit-correlated residual vector, so its distribution is exactly that of the full trajectory
model (:func:`simtrial.trajectories.simulate_patients` draws all visits and outcomes).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy import stats

from .analysis import analyse_sums, reject
from .outcomes import latent_at, to_model, to_natural
from .population import accept_mask, transform

__all__ = ["CHUNK_TRIALS", "SCREEN_BLOCK", "STREAMS", "SimOutput", "simulate", "stream",
           "chunk_count"]

CHUNK_TRIALS = 1000
"""Replicate trials per chunk (fixed: part of the definition of a seed's numbers)."""
SCREEN_BLOCK = 32
"""Candidates screened per trial per block (fixed, for the same reason)."""
STREAMS = {"control_baseline": 0, "control_outcome": 1, "msc_baseline": 2, "msc_outcome": 3}
"""Random streams within a chunk; later processes (effects, dropout, conduct) take new numbers."""
_GRID_BATCH = 64


def stream(seed: int, chunk: int, name: str) -> np.random.Generator:
    """Generator for one process of one chunk: ``SeedSequence(seed, spawn_key=(chunk, id))``."""
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(seed, spawn_key=(chunk, STREAMS[name]))))


def chunk_count(n_trials: int) -> int:
    """Number of chunks covering ``n_trials`` trials."""
    return -(-n_trials // CHUNK_TRIALS)


@dataclass
class _ChunkOut:
    chunk: int
    n_trials: int
    rejections: np.ndarray       # (G,) int64
    sum_est: np.ndarray          # (G,)
    sum_est2: np.ndarray         # (G,)
    kept: np.ndarray | None      # (trials,) estimates at the kept grid point
    kept_reject: np.ndarray | None
    screened: int
    accepted: int


@dataclass(frozen=True)
class SimOutput:
    """Raw aggregates of a simulation over a grid of arm sizes.

    Attributes
    ----------
    n0, n1 : ndarray of int, shape (G,)
        Control and MSC arm sizes of each grid point.
    n_trials : int
    rejections : ndarray of int, shape (G,)
    sum_est, sum_est2 : ndarray, shape (G,)
        Sums over trials of the estimate and its square (chunk-ordered summation).
    kept : ndarray or None, shape (n_trials,)
        Per-trial estimates at the kept grid point; ``kept_reject`` the matching rejections.
    screened, accepted : int
        Candidates screened and randomised, both arms, all chunks.
    elapsed_s : float
    """

    n0: np.ndarray
    n1: np.ndarray
    n_trials: int
    rejections: np.ndarray
    sum_est: np.ndarray
    sum_est2: np.ndarray
    kept: np.ndarray | None
    kept_reject: np.ndarray | None
    screened: int
    accepted: int
    elapsed_s: float
    keep: int | None = None


def _arm_prefix(model, gen_base: np.random.Generator, gen_out: np.random.Generator, trials: int,
                n_max: int, treated: int, chol: np.ndarray, lvis_row: np.ndarray
                ) -> tuple[np.ndarray, int, int]:
    """Prefix sums (n_max, trials, 5) of centred (x, y, x^2, y^2, xy) for one arm of a chunk."""
    pop = model.population
    vm = model.endpoint
    od = vm.outcome
    k = model.k_end
    names = pop.needed((od.baseline,))
    d = pop.dim
    x0 = np.empty((n_max, trials))
    count = np.zeros(trials, dtype=np.int64)
    screened = accepted = 0
    while count.min() < n_max:
        z = gen_base.standard_normal((SCREEN_BLOCK, trials, d))
        vals = transform(pop, z, names, chol)
        acc = accept_mask(pop, vals)
        screened += acc.size
        n_acc = acc.sum(axis=0)
        accepted += int(n_acc.sum())
        pos = count + np.cumsum(acc, axis=0) - 1
        ok = acc & (pos < n_max)
        bi, ti = np.nonzero(ok)
        x0[pos[bi, ti], ti] = vals[od.baseline][bi, ti]
        count = np.minimum(count + n_acc, n_max)
    v = len(model.visits)
    raw = gen_out.standard_normal((n_max, trials, v + 1))
    e = raw[..., :v] @ lvis_row
    eta = raw[..., v] if model.effect_cv > 0 else None
    xm = to_model(od, x0)
    y_end = to_natural(od, latent_at(vm, xm, e, k, treated, float(model.delta[od.name][k]), eta,
                                     model.effect_cv))
    cx = model.calibration["baseline_mean_natural"]
    x = x0 - cx
    y = (y_end - x0) - float(vm.control_change[k]) if od.scale == "additive" else (y_end - x0)
    s = np.empty((n_max, trials, 5))
    s[..., 0] = x
    s[..., 1] = y
    np.multiply(x, x, out=s[..., 2])
    np.multiply(y, y, out=s[..., 3])
    np.multiply(x, y, out=s[..., 4])
    np.cumsum(s, axis=0, out=s)
    return s, screened, accepted


def _run_chunk(model, seed: int, chunk: int, n_trials: int, n0: np.ndarray, n1: np.ndarray,
               keep: int | None) -> _ChunkOut:
    sc = model.scenario
    trials_here = min(CHUNK_TRIALS, n_trials - chunk * CHUNK_TRIALS)
    chol = model.population.chol
    lvis_row = np.linalg.cholesky(model.visit_corr)[model.k_end]
    s0, scr0, acc0 = _arm_prefix(model, stream(seed, chunk, "control_baseline"),
                                 stream(seed, chunk, "control_outcome"), CHUNK_TRIALS,
                                 int(n0.max()), 0, chol, lvis_row)
    s1, scr1, acc1 = _arm_prefix(model, stream(seed, chunk, "msc_baseline"),
                                 stream(seed, chunk, "msc_outcome"), CHUNK_TRIALS,
                                 int(n1.max()), 1, chol, lvis_row)
    s0 = s0[:, :trials_here]
    s1 = s1[:, :trials_here]
    g = n0.size
    rej = np.zeros(g, dtype=np.int64)
    se1 = np.zeros(g)
    se2 = np.zeros(g)
    kept = kept_rej = None
    method = sc.endpoint.analysis
    sides = sc.design.sides
    better = model.outcome_def.better
    for lo in range(0, g, _GRID_BATCH):
        hi = min(g, lo + _GRID_BATCH)
        a0 = n0[lo:hi]
        a1 = n1[lo:hi]
        est, se, df = analyse_sums(s0[a0 - 1], s1[a1 - 1], a0[:, None], a1[:, None], method)
        crit = stats.t.isf(sc.design.alpha / sides, df[:, 0])[:, None]
        r = reject(est / se, crit, sides, better)
        rej[lo:hi] = r.sum(axis=1)
        se1[lo:hi] = est.sum(axis=1)
        se2[lo:hi] = (est * est).sum(axis=1)
        if keep is not None and lo <= keep < hi:
            kept = est[keep - lo].copy()
            kept_rej = r[keep - lo].copy()
    return _ChunkOut(chunk, trials_here, rej, se1, se2, kept, kept_rej, scr0 + scr1, acc0 + acc1)


_WORKER_MODEL = None


def _init_worker(model) -> None:
    global _WORKER_MODEL
    _WORKER_MODEL = model
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _worker_chunk(args) -> _ChunkOut:
    return _run_chunk(_WORKER_MODEL, *args)


def simulate(model, n0: Sequence[int] | np.ndarray, *, n_trials: int | None = None,
             seed: int | None = None, keep: int | None = None, workers: int = 1,
             chunks: Iterable[int] | None = None, progress: bool = False,
             progress_label: str = "trials") -> SimOutput:
    """Simulate replicate trials of ``model`` at each control-arm size in ``n0``.

    Parameters
    ----------
    model : TrialModel
    n0 : sequence of int
        Control-arm sizes (>= 2); MSC arms are ``design.n_msc(n0)``.
    n_trials, seed : int, optional
        Default to the scenario's.
    keep : int, optional
        Index into ``n0`` whose per-trial estimates are returned.
    workers : int
        Processes (1 = in-process). Results are identical for any value.
    chunks : iterable of int, optional
        Order in which to run the chunks (a permutation of all of them); results are
        combined in chunk-index order, so any order gives the same numbers.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    SimOutput
    """
    sc = model.scenario
    n_trials = sc.n_trials if n_trials is None else int(n_trials)
    seed = sc.seed if seed is None else int(seed)
    a0 = np.asarray(n0, dtype=np.int64)
    a1 = np.array([sc.design.n_msc(int(n)) for n in a0], dtype=np.int64)
    if a0.min() < 2 or a1.min() < 2:
        raise ValueError("arm sizes must be >= 2")
    n_chunks = chunk_count(n_trials)
    order = list(range(n_chunks)) if chunks is None else list(chunks)
    if sorted(order) != list(range(n_chunks)):
        raise ValueError("chunks must be a permutation of range(n_chunks)")
    t0 = time.perf_counter()
    args = [(seed, c, n_trials, a0, a1, keep) for c in order]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=n_trials, unit=" trials", desc=progress_label, leave=False,
                   mininterval=0.5, dynamic_ncols=True)
    outs: dict[int, _ChunkOut] = {}
    try:
        if workers <= 1:
            for a in args:
                o = _run_chunk(model, *a)
                outs[o.chunk] = o
                if bar is not None:
                    bar.update(o.n_trials)
        else:
            with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                                     initargs=(model,)) as ex:
                for o in ex.map(_worker_chunk, args):
                    outs[o.chunk] = o
                    if bar is not None:
                        bar.update(o.n_trials)
    finally:
        if bar is not None:
            bar.close()
    g = a0.size
    rej = np.zeros(g, dtype=np.int64)
    s1 = np.zeros(g)
    s2 = np.zeros(g)
    kept = [] if keep is not None else None
    kept_rej = [] if keep is not None else None
    screened = accepted = 0
    for c in range(n_chunks):          # combine in chunk order: identical sums for any order
        o = outs[c]
        rej += o.rejections
        s1 += o.sum_est
        s2 += o.sum_est2
        screened += o.screened
        accepted += o.accepted
        if kept is not None:
            kept.append(o.kept)
            kept_rej.append(o.kept_reject)
    return SimOutput(
        n0=a0, n1=a1, n_trials=n_trials, rejections=rej, sum_est=s1, sum_est2=s2,
        kept=np.concatenate(kept) if kept is not None else None,
        kept_reject=np.concatenate(kept_rej) if kept_rej is not None else None,
        screened=screened, accepted=accepted, elapsed_s=time.perf_counter() - t0, keep=keep)
