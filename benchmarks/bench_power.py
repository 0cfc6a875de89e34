"""Throughput and memory of the power engine (prints figures; not a pass/fail test).

Targets (issue 2): >= 10,000 trials/s for 10,000 trials x 100 patients per arm x 3 visits with
ANCOVA on one core; peak memory < 1 GB for 1,000,000 trials at 100 per arm.

Usage::

    python benchmarks/bench_power.py              # speed + RNG floor
    python benchmarks/bench_power.py --memory     # also the 1,000,000-trial memory run (~2 min)
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import simtrial  # noqa: E402
from simtrial._rng import CHUNK_TRIALS  # noqa: E402
from simtrial.model.design import build_design  # noqa: E402
from simtrial.model.population import margin  # noqa: E402
from simtrial.scenario import parse_scenario  # noqa: E402
from simtrial.sim.driver import simulate_prefix as simulate  # noqa: E402
from simtrial.sim.prefix import SCREEN_BLOCK  # noqa: E402

SCENARIO = {
    "name": "bench", "seed": 1, "n_trials": 10_000,
    "population": {"preset": "t1d"},
    "endpoint": {"outcome": "hba1c", "visit_months": 12, "analysis": "ancova"},
    "effect": {"source": "evidence", "population": "T1DM"},
    "design": {"n_per_arm": 100},
}


def rng_floor(model, n_trials: int) -> float:
    """Seconds just to draw the engine's normals (screening blocks + residuals), one stream."""
    g = np.random.Generator(np.random.PCG64(1))
    acc = 1.0 - model.screen_fail_prob
    names = model.population.needed((model.endpoint.outcome.baseline,))
    d = len(margin(model.population, names)[0])     # copula columns the engine draws
    per_trial = 2 * (np.ceil(100 / acc / SCREEN_BLOCK) * SCREEN_BLOCK * d + 100)
    total = int(per_trial * n_trials)
    t = time.perf_counter()
    for _ in range(total // 10_000_000):
        g.standard_normal(10_000_000)
    g.standard_normal(total % 10_000_000)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--memory", action="store_true", help="run 1,000,000 trials and report peak RSS")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    dm = build_design(parse_scenario(SCENARIO))
    model = dm.models[0]
    simulate(model, [100], n_trials=CHUNK_TRIALS)  # warm-up
    times = []
    for r in range(args.repeats):
        t = time.perf_counter()
        out = simulate(model, [100], n_trials=10_000, seed=r + 1)
        times.append(time.perf_counter() - t)
    best = min(times)
    floor = rng_floor(model, 10_000)
    print(f"power engine, ANCOVA, 100 per arm, 3 visits, 10,000 trials, 1 core:")
    print(f"  best of {args.repeats}: {best:.3f} s -> {10_000 / best:,.0f} trials/s "
          f"(power {out.rejections[0] / out.n_trials:.4f})")
    print(f"  drawing the same normals alone: {floor:.3f} s -> {10_000 / floor:,.0f} trials/s "
          f"(engine = {best / floor:.2f} x the RNG floor)")
    api = []
    for r in range(args.repeats):
        t = time.perf_counter()
        # the same kernel through the public path (the default there is the suffstat kernel,
        # other random numbers: benchmarks/suffstat.py compares the two)
        res = simtrial.power(dm, 100, n_trials=10_000, seed=r + 1, kernel="prefix")
        api.append(time.perf_counter() - t)
    print(f"  simtrial.power (the public path, kernel {res.kernel!r}): best {min(api):.3f} s -> "
          f"{10_000 / min(api):,.0f} trials/s (power {res.power:.4f}, same as the kernel's: "
          f"{res.power == out.rejections[0] / out.n_trials})")
    t = time.perf_counter()
    curve = simulate(model, np.arange(3, 201), n_trials=10_000, seed=1)
    el = time.perf_counter() - t
    print(f"  whole power curve N = 3..200 (198 designs, common random numbers): {el:.3f} s")
    if args.memory:
        t = time.perf_counter()
        out = simulate(model, [100], n_trials=1_000_000, seed=2)
        el = time.perf_counter() - t
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"1,000,000 trials at 100 per arm: {el:.1f} s ({1e6 / el:,.0f} trials/s), "
              f"peak RSS {peak_mb:,.0f} MB (power {out.rejections[0] / out.n_trials:.5f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
