"""The one simulation driver: chunks, workers, progress and combining, for every kernel.

:func:`simulate` takes a resolved design (:class:`~simtrial.model.design.DesignModel`) and the
control-arm sizes to evaluate, picks the kernel (:func:`kernel_for`: the exact
sufficient-statistics kernel where the endpoint is linear-normal given the baseline, else the
prefix-sum kernel wherever it serves the design exactly, else the full patient kernel), runs
the chunks of
:data:`~simtrial._rng.CHUNK_TRIALS` trials in-process or on a process pool, and combines them in
chunk-index order, so the numbers depend on neither the number of workers nor the order in
which chunks finish. It returns the raw combined arrays (:class:`Simulated`);
:mod:`simtrial.oc` turns them into one :class:`~simtrial.oc.results.PointResult` per N.

The prefix and full kernels draw the same patients (:mod:`simtrial._rng`), and the full kernel
draws once at the largest N and analyses the first patients of each group for smaller N, so a
power curve or a sample-size search is one draw on either kernel. The sufficient-statistics
kernel (:mod:`~simtrial.sim.suffstat`) draws the same baselines but each arm's outcome sums
directly from their exact distribution: the same distribution of every result, other random
numbers, the prefix kernel's output type.
"""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from .._progress import enabled as progress_enabled
from .._procs import init_worker, sigterm_deferred, stop_pool
from .._rng import chunk_count, CHUNK_TRIALS
from . import budget
from .conduct import conduct_design
from ..model.design import DesignModel, group_sizes
from . import full, prefix, suffstat

__all__ = ["KERNELS", "SUM_KERNELS", "Simulated", "kernel_for", "simulate", "simulate_prefix",
           "run_chunks", "pool_session", "valid_n"]

KERNELS = ("suffstat", "prefix", "full")
SUM_KERNELS = {"suffstat": suffstat, "prefix": prefix}
"""Kernels that summarise each arm by sums and return a :class:`~simtrial.sim.prefix.SimOutput`
over a grid of sizes (every N up to the largest costs one more analysis): the sample-size
search evaluates a dense grid on them."""

_WORKER_PAYLOAD: Any = None


@dataclass(frozen=True)
class Simulated:
    """Raw output of :func:`simulate`.

    ``prefix``: the :class:`~simtrial.sim.prefix.SimOutput` over ``ns`` of a sums kernel
    (``kernel`` ``"suffstat"`` or ``"prefix"``).
    ``trials``: the full kernel's per-trial arrays per N (chunk order), with ``screened`` /
    ``accepted`` candidates per stratum and the conduct replicates per N.
    """

    kernel: str
    ns: tuple[int, ...]
    n_trials: int
    seed: int
    elapsed_s: float
    prefix: Any = field(default=None, repr=False)
    trials: dict[int, dict[str, np.ndarray]] | None = field(default=None, repr=False)
    screened: np.ndarray | None = None
    accepted: np.ndarray | None = None
    conducts: dict[int, Any] | None = field(default=None, repr=False)


def _init_worker(payload, parent: int) -> None:
    global _WORKER_PAYLOAD
    init_worker(parent)         # dies with the parent, leaves Ctrl-C to it
    _WORKER_PAYLOAD = payload
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _worker(args):
    fn, rest = args
    return fn(_WORKER_PAYLOAD, *rest)


def kernel_for(dm: DesignModel) -> str:
    """``"suffstat"`` if the exact sufficient-statistics kernel serves ``dm``
    (:func:`suffstat.supports`: linear-normal endpoint given the baseline), else ``"prefix"``
    if the prefix-sum kernel does (:func:`prefix.supports`), else ``"full"``."""
    if suffstat.supports(dm):
        return "suffstat"
    return "prefix" if prefix.supports(dm) else "full"


def valid_n(dm: DesignModel, n: int) -> bool:
    """True if control-arm size ``n`` gives every arm >= 2 patients and every group >= 1."""
    if n < 2:
        return False
    g = group_sizes(dm, int(n))
    return bool(g.min() >= 1 and g.sum(axis=0).min() >= 2)


_SESSION: dict[str, Any] = {"depth": 0, "pools": {}}


@contextlib.contextmanager
def pool_session() -> Iterator[None]:
    """Reuse worker pools for every :func:`run_chunks` call inside the block.

    A command such as ``run`` simulates several times (a sample-size search, design points);
    without a session each call starts its own process pool, and starting one (spawning,
    importing simtrial, receiving the model) costs about as much as a small simulation. Inside a
    session a pool is kept per (payload, workers) and shut down when the outermost session ends;
    an interrupted or failing call still kills its pool at once. Numbers do not depend on it.

    The session also keeps one progress bar: every :func:`run_chunks` call with ``progress``
    inside it adds its trials to the same bar (total and ETA over the whole command), instead
    of a new bar starting at 0% for each N.
    """
    _SESSION["depth"] += 1
    failed = True
    try:
        yield
        failed = False
    finally:
        _SESSION["depth"] -= 1
        if _SESSION["depth"] == 0:
            bar = _SESSION.pop("bar", None)
            if bar is not None:
                bar.close()
            pools, _SESSION["pools"] = _SESSION["pools"], {}
            for _, ex in pools.values():
                if failed:              # interrupted: kill the workers rather than wait
                    stop_pool(ex)
                else:
                    ex.shutdown(wait=True)


def _pool(payload: Any, workers: int) -> tuple[ProcessPoolExecutor, bool]:
    """(pool, shared): the session's pool for this payload, else a new one for this call."""
    key = (id(payload), workers)
    if _SESSION["depth"] and key in _SESSION["pools"]:
        return _SESSION["pools"][key][1], True
    ex = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                             initargs=(payload, os.getpid()))
    if _SESSION["depth"]:
        _SESSION["pools"][key] = (payload, ex)    # the payload is kept alive with its pool
        return ex, True
    return ex, False


def _drop_pool(payload: Any, workers: int) -> None:
    _SESSION["pools"].pop((id(payload), workers), None)


def run_chunks(fn: Callable, payload: Any, n_trials: int, args: Callable[[int], tuple], *,
               workers: int = 1, chunks: Iterable[int] | None = None, progress: bool = False,
               label: str = "trials") -> dict[int, Any]:
    """Run ``fn(payload, *args(c))`` for every chunk ``c``; outputs keyed by chunk index.

    ``chunks`` is the order to run them in (a permutation of all chunks); ``workers > 1`` uses a
    process pool whose workers receive ``payload`` once. If anything interrupts the loop
    (Ctrl-C, SIGTERM in the CLI, a failing chunk) the workers are killed at once rather than left
    to finish chunks nobody will read; they also die if this process is killed outright.
    """
    n_chunks = chunk_count(n_trials)
    order = list(range(n_chunks)) if chunks is None else list(chunks)
    if sorted(order) != list(range(n_chunks)):
        raise ValueError("chunks must be a permutation of range(n_chunks)")
    bar = None
    progress = progress or progress_enabled()
    shared_bar = progress and _SESSION["depth"] > 0
    if shared_bar and _SESSION.get("bar") is not None:
        bar = _SESSION["bar"]           # one bar for the whole command: extend its total
        bar.total += n_trials
        bar.set_description_str(label, refresh=False)
        bar.refresh()
    elif progress:
        from tqdm import tqdm
        bar = tqdm(total=n_trials, unit=" trials", desc=label, leave=False, mininterval=0.5,
                   dynamic_ncols=True)
        if shared_bar:
            _SESSION["bar"] = bar
    outs: dict[int, Any] = {}
    try:
        if workers <= 1:
            for c in order:
                outs[c] = fn(payload, *args(c))
                if bar is not None:
                    bar.update(_trials_in(c, n_trials))
        else:
            ex, shared = _pool(payload, workers)
            try:
                with sigterm_deferred():        # map() forks the workers
                    results = ex.map(_worker, [(fn, args(c)) for c in order])
                for c, o in zip(order, results):
                    outs[c] = o
                    if bar is not None:
                        bar.update(_trials_in(c, n_trials))
            except BaseException:
                _drop_pool(payload, workers)
                stop_pool(ex)
                raise
            if not shared:
                ex.shutdown(wait=True)
    finally:
        if bar is not None and not shared_bar:
            bar.close()
    return outs


def _trials_in(c: int, n_trials: int) -> int:
    return min(CHUNK_TRIALS, n_trials - c * CHUNK_TRIALS)


def simulate_prefix(model, n0: Sequence[int] | np.ndarray, *, n_trials: int | None = None,
                    seed: int | None = None, keep: int | None = None, workers: int = 1,
                    chunks: Iterable[int] | None = None, progress: bool = False,
                    progress_label: str = "trials", kernel: str = "prefix") -> prefix.SimOutput:
    """Raw aggregates of one stratum model at every control-arm size in ``n0`` (MSC arm
    ``design.n_msc(n)``) on a sums kernel (:data:`SUM_KERNELS`, default the prefix kernel);
    ``keep`` indexes the size whose per-trial arrays are kept. For teaching code that needs the
    raw sums; :func:`simulate` is the general entry."""
    sc = model.scenario
    n_trials = sc.n_trials if n_trials is None else int(n_trials)
    seed = sc.seed if seed is None else int(seed)
    a0 = np.asarray(n0, dtype=np.int64)
    a1 = np.array([sc.design.n_msc(int(n)) for n in a0], dtype=np.int64)
    if a0.min() < 2 or a1.min() < 2:
        raise ValueError("arm sizes must be >= 2")
    t0 = time.perf_counter()
    outs = run_chunks(SUM_KERNELS[kernel].run_chunk, model, n_trials,
                      lambda c: (seed, c, n_trials, a0, a1, keep), workers=workers,
                      chunks=chunks, progress=progress, label=progress_label)
    return prefix.combine(outs, n_trials, a0, a1, keep, time.perf_counter() - t0)


def simulate(dm: DesignModel, ns: Sequence[int], *, n_trials: int | None = None,
             seed: int | None = None, workers: int = 1, chunks: Iterable[int] | None = None,
             progress: bool = False, keep: Sequence[int] = (), kernel: str | None = None,
             label: str | None = None) -> dict[int, Any]:
    """Simulate replicate trials of design ``dm`` at every control-arm size in ``ns``.

    Parameters
    ----------
    dm : DesignModel
    ns : sequence of int
        Control-arm sizes (each must pass :func:`valid_n`).
    n_trials, seed : int, optional
        Default to the scenario's.
    workers : int
        Processes; the numbers do not depend on it.
    chunks : iterable of int, optional
        Order to run the chunks in; results are combined in chunk order.
    keep : sequence of int
        Sizes whose per-trial arrays are kept on the result (``PointResult.trials``); the full
        kernel keeps them for every size.
    kernel : {"suffstat", "prefix", "full"}, optional
        Force a kernel (default :func:`kernel_for`); ``"suffstat"`` or ``"prefix"`` on a design
        it does not support raises ValueError.

    Returns
    -------
    Simulated
    """
    sc = dm.scenario
    n_trials = sc.n_trials if n_trials is None else int(n_trials)
    seed = sc.seed if seed is None else int(seed)
    ns = sorted({int(n) for n in ns})
    bad = [n for n in ns if not valid_n(dm, n)]
    if bad:
        raise ValueError(f"control-arm size {bad[0]} gives an arm or stratum group too small "
                         "to analyse")
    kernel = kernel or kernel_for(dm)
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}")
    budget.check(dm, ns, n_trials, kernel, workers)   # before a single patient is drawn
    t0 = time.perf_counter()
    if kernel in SUM_KERNELS:
        if not SUM_KERNELS[kernel].supports(dm):
            what = {"prefix": "prefix-sum", "suffstat": "sufficient-statistics"}[kernel]
            raise ValueError(f"the {what} kernel does not support this design")
        kept = [n for n in keep if n in ns]
        k = ns.index(kept[0]) if kept else None
        so = simulate_prefix(dm.models[0], ns, n_trials=n_trials, seed=seed, keep=k,
                             workers=workers, chunks=chunks, progress=progress,
                             progress_label=label or f"N <= {max(ns)}", kernel=kernel)
        return Simulated(kernel, tuple(ns), n_trials, seed, time.perf_counter() - t0, prefix=so)
    conducts = None
    if sc.conduct is not None:      # trial i takes the calendar of conduct replicate i mod R
        conducts = {n: conduct_design(dm, n, seed=seed,
                                      replicates=min(sc.conduct.replicates, n_trials))
                    for n in ns}
    nt = tuple(ns)
    outs = run_chunks(full.run_chunk, dm, n_trials,
                      lambda c: (seed, c, n_trials, nt, conducts), workers=workers,
                      chunks=chunks, progress=progress,
                      label=label or (f"N={ns[0]}" if len(ns) == 1 else f"N {ns[0]}-{ns[-1]}"))
    n_chunks = chunk_count(n_trials)
    trials = {n: {k: np.concatenate([outs[c]["by_n"][n][k] for c in range(n_chunks)])
                  for k in outs[0]["by_n"][n]} for n in ns}
    screened = sum(outs[c]["screened"] for c in range(n_chunks))
    accepted = sum(outs[c]["accepted"] for c in range(n_chunks))
    return Simulated("full", tuple(ns), n_trials, seed, time.perf_counter() - t0, trials=trials,
                     screened=screened, accepted=accepted, conducts=conducts)
