"""Sample-size search speed on a design the full patient kernel runs (prints figures; not a
pass/fail test).

Target (issue 10): the search on ``scenarios/t1d_hba1c_12m_gsd.toml`` (MMRM, 20% MAR dropout,
two looks) at least 3x faster than simtrial 0.1.0, which simulated every N of its doubling and
bisection from scratch. 0.2.0 draws once per pass at the largest N of the pass and analyses the
first patients of each group for every smaller N.

    python benchmarks/bench_search.py [--n-trials 4000] [--target 0.8] [--run] [--baseline DIR]

``--baseline DIR`` also times a checkout of an older version (e.g. ``git worktree add
/tmp/base 543ef05``) in a subprocess, alternating with this one, and prints the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "t1d_hba1c_12m_gsd.toml"

NEW = """
import time, simtrial
sc = simtrial.load_scenario({path!r})
t = time.perf_counter()
if {run}:
    r = simtrial.run(sc, n_trials={n}).sample_sizes[0]
else:
    r = simtrial.sample_size(sc, {target}, n_trials={n})
print(time.perf_counter() - t, r.n_per_arm, r.power)
"""
OLD = """
import time, simtrial
from simtrial.scenario import load_scenario
from simtrial.runner import run_design
sc = load_scenario({path!r})
if not {run}:
    sc = sc.replace(**{{"design.target_power": [{target}], "design.n_grid": None}})
t = time.perf_counter()
r = run_design(sc, n_trials={n})
s = r.sample_sizes[0]
print(time.perf_counter() - t, s["n_per_arm"], s["power"])
"""


def _time(code: str, cwd: Path) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[0]), f"N = {out[1]} (power {float(out[2]):.4f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-trials", type=int, default=4000)
    ap.add_argument("--target", type=float, default=0.8)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--baseline", type=Path, help="checkout of an older simtrial to compare")
    ap.add_argument("--run", action="store_true",
                    help="time `run` (design N, every target of the scenario) instead")
    a = ap.parse_args()
    fmt = dict(path=str(SCENARIO), target=a.target, n=a.n_trials, run=a.run)
    new, old = [], []
    for _ in range(a.repeats):
        t, what = _time(NEW.format(**fmt), ROOT)
        new.append(t)
        print(f"this version: {t:7.2f} s  {what}")
        if a.baseline:
            t, what_old = _time(OLD.format(**fmt), a.baseline)
            old.append(t)
            print(f"baseline    : {t:7.2f} s  {what_old}")
    what = "run (design N + 80% and 90% power)" if a.run else f"sample-size search, {a.target:.0%} power"
    print(f"{what}, {SCENARIO.name}, {a.n_trials:,} trials: "
          f"median {statistics.median(new):.2f} s")
    if old:
        print(f"  baseline median {statistics.median(old):.2f} s -> "
              f"{statistics.median(old) / statistics.median(new):.2f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
