"""Throughput of the vectorised MMRM (prints figures; not a pass/fail test).

Target: 2,000 trials x 200 patients (100 per arm) x 3 visits, ~20% monotone dropout by the last
visit, q = 3 (intercept, arm, baseline), in < 20 s on one core including the fit.

Usage::

    python benchmarks/bench_mmrm.py [--trials 2000] [--repeats 3] [--mi 10] [--n-per-arm 100]

Also times the Kenward-Roger adjustment (``df="kenward-roger"``) on the same arrays.

``--reference [REV]`` also times ``simtrial/stats/mmrm.py`` as of git revision REV (default
the one ``tests/mmrm_golden.py`` pins: before the issue 14 speed work) on the same arrays,
alternating with the current module, and prints us per trial (CPU time of this process, best
of ``--repeats``) and the speed-up; it needs the git repository.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import simtrial.stats.mmrm as mm  # noqa: E402
from simtrial.stats.mmrm import mi_ancova, mmrm, ols  # noqa: E402

SIGMA = np.array([[1.0, 0.6, 0.45], [0.6, 1.2, 0.75], [0.45, 0.75, 1.5]])


def data(n_trials: int, n_per_arm: int = 100, seed: int = 1):
    """MAR monotone dropout (depends on the previous observed value), ~20% by the last visit."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    arm = np.tile(np.r_[np.zeros(n_per_arm), np.ones(n_per_arm)], (n_trials, 1))
    base = rng.standard_normal((n_trials, n))
    z = np.stack([np.ones_like(arm), arm, base], axis=-1)
    y = (np.array([0.2, 0.0, -0.3]) + np.array([-0.2, -0.3, -0.4]) * arm[..., None]
         + 0.5 * base[..., None]
         + rng.standard_normal((n_trials, n, 3)) @ np.linalg.cholesky(SIGMA).T)
    obs = np.ones(y.shape, dtype=bool)
    for k in (1, 2):
        p = 1 / (1 + np.exp(-(-2.35 + 0.8 * y[..., k - 1])))
        obs[..., k] = obs[..., k - 1] & (rng.random((n_trials, n)) >= p)
    y[~obs] = np.nan
    return y, obs, z


def against_reference(y, obs, z, rev: str, repeats: int) -> None:
    """CPU us per trial of the current fit and of mmrm.py at ``rev``, alternating."""
    from tests.mmrm_golden import REFERENCE, reference_module
    rev = rev or REFERENCE
    mods = {"current": mm, f"mmrm.py@{rev[:7]}": reference_module(rev)}
    t = y.shape[0]
    for dfm in ("satterthwaite", "kenward-roger"):
        best = {k: float("inf") for k in mods}
        for _ in range(repeats):
            for k, mod in mods.items():
                c0 = time.process_time()
                mod.mmrm(y, obs, z, columns=[1], df=dfm)
                best[k] = min(best[k], time.process_time() - c0)
        (cur, ref) = (1e6 * best[k] / t for k in mods)
        print(f"fit {dfm:13s} current {cur:7.1f} us/trial, {list(mods)[1]} {ref:7.1f} "
              f"us/trial (CPU, best of {repeats}): {ref / cur:.2f}x faster")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mi", type=int, default=10, help="imputations for the MI timing (0: skip)")
    ap.add_argument("--n-per-arm", type=int, default=100)
    ap.add_argument("--reference", nargs="?", const="", default=None, metavar="REV",
                    help="also time mmrm.py at git revision REV (default: tests.mmrm_golden's)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    y, obs, z = data(args.trials, args.n_per_arm)
    t_data = time.perf_counter() - t0
    print(f"data: {args.trials} trials x {y.shape[1]} patients x {y.shape[2]} visits, "
          f"missing at last visit {1 - obs[..., -1].mean():.1%} ({t_data:.2f} s to simulate)")
    # the two methods alternate, so that a change in machine load affects both alike
    times = {"satterthwaite": [], "kenward-roger": []}
    fits = {}
    for _ in range(args.repeats):
        for df, ts in times.items():
            t0 = time.perf_counter()
            fits[df] = mmrm(y, obs, z, columns=[1], df=df)
            ts.append(time.perf_counter() - t0)
    r, rk = fits["satterthwaite"], fits["kenward-roger"]
    best, kr = min(times["satterthwaite"]), min(times["kenward-roger"])
    print(f"mmrm (satterthwaite): best of {args.repeats} {best:.2f} s "
          f"({args.trials / best:,.0f} trials/s); "
          f"converged {int(r.converged.sum())}/{args.trials}, "
          f"iterations median {np.median(r.n_iter):.0f} max {r.n_iter.max()}")
    print(f"mmrm (kenward-roger): best of {args.repeats} {kr:.2f} s "
          f"({args.trials / kr:,.0f} trials/s, {kr / best:.2f}x Satterthwaite); "
          f"converged {int(rk.converged.sum())}/{args.trials}, "
          f"SE ratio KR / unadjusted median {np.nanmedian(rk.se / r.se):.4f}")
    t0 = time.perf_counter()
    rr = mmrm(y, obs, z, columns=[1], df="residual")
    t_res = time.perf_counter() - t0
    print(f"mmrm (residual df):   {t_res:.2f} s; converged {int(rr.converged.sum())}")
    t0 = time.perf_counter()
    ols(y[..., -1], obs[..., -1], z, [1])
    print(f"complete-case OLS:    {time.perf_counter() - t0:.3f} s")
    if args.mi:
        t0 = time.perf_counter()
        mi = mi_ancova(y, obs, z, columns=[1], m=args.mi, rng=np.random.default_rng(2))
        t_mi = time.perf_counter() - t0
        print(f"mi_ancova m={args.mi}:       {t_mi:.2f} s ({args.trials / t_mi:,.0f} trials/s); "
              f"converged {int(mi.converged.sum())}")
    if args.reference is not None:
        against_reference(y, obs, z, args.reference, args.repeats)
    total = t_data + best
    print(f"total (simulate + fit): {total:.2f} s; target < 20 s: "
          f"{'met' if total < 20 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
