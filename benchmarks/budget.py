"""The resource budget's estimates beside measured time and peak memory (prints a table).

``simtrial.sim.budget`` refuses a simulation whose estimate exceeds the budget; its cost model
must therefore be on the high side of the truth. This script simulates shipped scenarios at a few
sizes in fresh processes and prints estimate / measured for both: a ratio below 1 is an
underestimate (a request the budget would let through and that then takes longer than said).

Usage::

    python benchmarks/budget.py            # about 3 minutes on 2 cores
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = [("t1d_hba1c_12m", [200], 4000), ("t1d_hba1c_12m", [2000], 1000),
         ("t1d_hba1c_12m_gsd", [50, 100], 1000), ("t1d_hba1c_12m_gsd", [1000], 1000),
         ("mixed_composite_responder_12m", [400], 1000), ("t1d_three_arm_dose_12m", [100], 1000),
         ("conduct_t1d_hba1c_12m", [50], 400)]

CHILD = r"""
import json, resource, sys, time
from simtrial.model.design import build_design
from simtrial.scenario import load_scenario
from simtrial.sim import budget, driver
name, ns, nt = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
dm = build_design(load_scenario(f"scenarios/{name}.toml"))
kernel = driver.kernel_for(dm)
est = budget.estimate(dm, ns, nt, kernel)
t = time.perf_counter()
driver.simulate(dm, ns, n_trials=nt)
sec = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"kernel": kernel, "est_s": est.seconds, "s": sec, "est_b": est.bytes, "b": peak}))
"""


def main() -> int:
    print("| scenario | N | trials | kernel | time est / measured (s) | ratio | memory est / "
          "peak (GB) | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name, ns, nt in CASES:
        out = subprocess.run([sys.executable, "-c", CHILD, name, json.dumps(ns), str(nt)],
                             cwd=ROOT, capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {name} | {','.join(map(str, ns))} | {nt:,} | {r['kernel']} | "
              f"{r['est_s']:.1f} / {r['s']:.1f} | {r['est_s'] / r['s']:.2f} | "
              f"{r['est_b'] / 1e9:.2f} / {r['b'] / 1e9:.2f} | {r['est_b'] / r['b']:.2f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
