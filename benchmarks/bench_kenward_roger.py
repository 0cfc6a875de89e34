"""Type I error of the MMRM with Satterthwaite vs Kenward-Roger (prints figures; not a test).

The workload of issue 12: the test scenario (tests/helpers.py: T1D, HbA1c at 12 months, visits
at 3, 6 and 12 months, two arms), ``effect.md = 0``, 30% MAR dropout by the last visit
(``strength = 1``), MMRM, two-sided alpha = 0.05, through ``simtrial.power``. Both methods
analyse the same simulated trials (same seed), so their difference is paired. Prints a Markdown
table: rejection rate, its Monte Carlo SE, z against 0.05, not-fitted count, seconds.

Usage::

    python benchmarks/bench_kenward_roger.py [--trials 200000] [--n 20 30 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import simtrial  # noqa: E402
from tests.test_kenward_roger import TYPE_I_SEED, type_i_scenario  # noqa: E402

ALPHA = 0.05


def run(n_per_arm: int, df: str, trials: int, seed: int, workers: int):
    sc = type_i_scenario(n_per_arm, df, trials, seed)
    t0 = time.perf_counter()
    r = simtrial.power(sc, workers=workers)
    sec = time.perf_counter() - t0
    return (r.trials["point_reject"][:, 0], int((r.trials["point_status"][:, 0] != 0).sum()),
            sec)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=200_000)
    ap.add_argument("--n", type=int, nargs="+", default=[20, 30, 100], help="per arm")
    ap.add_argument("--seed", type=int, default=TYPE_I_SEED, help="+ n per arm")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    print(f"{args.trials:,} trials per cell, seed {args.seed} + n per arm, 30% MAR dropout, "
          f"3 visits, alpha {ALPHA} two-sided\n")
    print("| per arm | method | type I error | MC SE | z vs 0.05 | not fitted | seconds |")
    print("|---|---|---|---|---|---|---|")
    for n in args.n:
        rej = {}
        for df in ("satterthwaite", "kenward-roger"):
            x, bad, sec = run(n, df, args.trials, args.seed + n, args.workers)
            p = x.mean()
            se = math.sqrt(p * (1 - p) / x.size)
            z = (p - ALPHA) / math.sqrt(ALPHA * (1 - ALPHA) / x.size)
            rej[df] = x
            print(f"| {n} | {df} | {p:.4f} | {se:.4f} | {z:+.1f} | {bad} | {sec:.0f} |",
                  flush=True)
        d = rej["kenward-roger"].astype(float) - rej["satterthwaite"]
        print(f"| {n} | KR - Satterthwaite (paired) | {d.mean():+.4f} | "
              f"{d.std(ddof=1) / math.sqrt(d.size):.4f} | | | |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
