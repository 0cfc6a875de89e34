"""Design-engine speed and memory: MMRM against the plain engine (prints figures; not a test).

Issue 14 item 5: the MMRM design engine within 3x of the plain engine per trial (100 per arm,
3 visits, 20% MAR dropout), and 3,000 per arm on the design engine under 1 GB peak memory.

    python benchmarks/bench_design.py                   # both, as below
    python benchmarks/bench_design.py --compare         # us per trial: plain, ANCOVA, MMRM
    python benchmarks/bench_design.py --memory          # peak RSS at 1,000 and 3,000 per arm
    python benchmarks/bench_design.py --one --analysis mmrm --n-per-arm 100 --trials 2000

``--compare`` times whole ``simtrial.power`` calls (model built beforehand, one warm-up call)
and alternates the three jobs so that a change in machine load touches each alike; it prints
the best of ``--repeats`` in CPU seconds of this process (wall time under 2 shared cores moves
with the other jobs) with the wall time beside it:

* plain:  ANCOVA without dropout, which the plain (prefix-sum) engine serves;
* ancova: ANCOVA with the MAR dropout, on the design (patient) engine;
* mmrm:   MMRM with the MAR dropout, on the design engine.

``--memory`` runs each size in a fresh process (``--one``) and reports its peak resident set.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simtrial.model.design import build_design  # noqa: E402
from simtrial.oc.run import power  # noqa: E402
from simtrial.scenario import parse_scenario  # noqa: E402
from simtrial.sim.driver import kernel_for  # noqa: E402

MAR20 = {"rate": 0.2, "mechanism": "mar", "strength": 0.5}


def design(analysis: str, n_per_arm: int, n_trials: int, dropout: bool = True):
    sc = {"name": "bench_design", "seed": 1, "n_trials": n_trials,
          "population": {"preset": "t1d"},
          "endpoint": {"outcome": "hba1c", "visit_months": 12, "analysis": analysis},
          "effect": {"source": "evidence", "population": "T1DM"},
          "design": {"n_per_arm": n_per_arm}}
    if dropout:
        sc["dropout"] = MAR20
    return build_design(parse_scenario(sc))


def timed(dm, n_trials: int, workers: int = 1) -> tuple[float, float, object]:
    c0, w0 = time.process_time(), time.perf_counter()
    res = power(dm, n_trials=n_trials, keep_trials=False, workers=workers)
    return time.process_time() - c0, time.perf_counter() - w0, res


def compare(n_per_arm: int, n_trials: int, repeats: int) -> None:
    jobs = {"plain": design("ancova", n_per_arm, n_trials, dropout=False),
            "ancova": design("ancova", n_per_arm, n_trials),
            "mmrm": design("mmrm", n_per_arm, n_trials)}
    best = {k: (float("inf"), float("inf")) for k in jobs}
    for dm in jobs.values():
        timed(dm, min(n_trials, 200))                          # warm-up (imports, caches)
    for _ in range(repeats):
        for k, dm in jobs.items():
            cpu, wall, _ = timed(dm, n_trials)
            best[k] = (min(best[k][0], cpu), min(best[k][1], wall))
    print(f"design engine vs plain engine: {n_per_arm} per arm, {len(jobs['mmrm'].visits)} "
          f"visits, 20% MAR dropout, {n_trials:,} trials, best of {repeats} (CPU; wall)")
    us = {k: (1e6 * c / n_trials, 1e6 * w / n_trials) for k, (c, w) in best.items()}
    for k, dm in jobs.items():
        print(f"  {k:7s} {kernel_for(dm):6s} kernel  {us[k][0]:8.1f} us/trial   "
              f"({us[k][1]:8.1f} wall)")
    print(f"  MMRM / plain  {us['mmrm'][0] / us['plain'][0]:5.2f}x  (wall "
          f"{us['mmrm'][1] / us['plain'][1]:.2f}x; target <= 3x)")
    print(f"  MMRM / ANCOVA on the design engine {us['mmrm'][0] / us['ancova'][0]:5.2f}x")


def one(analysis: str, n_per_arm: int, n_trials: int, workers: int) -> None:
    t0 = time.perf_counter()
    dm = design(analysis, n_per_arm, n_trials)
    t1 = time.perf_counter()
    cpu, wall, res = timed(dm, n_trials, workers)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    p, se = res.metric("power", "primary")
    print(f"design engine: {n_trials:,} trials x {2 * n_per_arm} patients x {len(dm.visits)} "
          f"visits, {analysis}, 20% MAR dropout, workers {workers}, {kernel_for(dm)} kernel")
    print(f"  build model      {t1 - t0:7.2f} s")
    print(f"  simulate+analyse {wall:7.2f} s wall, {cpu:7.2f} s CPU  "
          f"({1e6 * cpu / n_trials:,.1f} us/trial CPU)")
    print(f"  power {p:.4f} (MC SE {se:.4f})")
    print(f"  peak RSS {peak:,.0f} MB")


def memory(n_trials: int) -> None:
    print(f"peak memory, design engine, MMRM, {n_trials:,} trials, one process each:")
    for n in (1000, 3000):
        cmd = [sys.executable, __file__, "--one", "--analysis", "mmrm", "--n-per-arm", str(n),
               "--trials", str(n_trials)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        peak = next(line for line in out.splitlines() if "peak RSS" in line).split()[2]
        print(f"  {n:5d} per arm: peak RSS {peak} MB (target < 1,000 MB at 3,000 per arm)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--one", action="store_true", help="one run of --analysis")
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--n-per-arm", type=int, default=100)
    ap.add_argument("--analysis", default="mmrm", choices=("mmrm", "ancova", "mi"))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    if a.one:
        one(a.analysis, a.n_per_arm, a.trials or 2000, a.workers)
        return
    both = not (a.compare or a.memory)
    if a.compare or both:
        compare(a.n_per_arm, a.trials or 2000, a.repeats)
    if a.memory or both:
        memory(a.trials or 1000)


if __name__ == "__main__":
    main()
