"""Engine and whole-process time of the sufficient-statistics kernel against the prefix kernel
(issue 14, item 2). Prints figures; not a pass/fail test.

For each row (``scenarios/t1d_hba1c_12m.toml``: 30 and 100 per arm at 100,000 trials, 3,000 per
arm at 20,000 trials) and each kernel (``suffstat``, the automatic choice, and ``prefix``,
forced), alternately:

* **engine**: ``Simulated.elapsed_s`` of :func:`simtrial.sim.driver.simulate` in this process
  (chunks, drawing, analysis, combining; no model build, no start-up);
* **process**: wall time of ``python -m simtrial power SCENARIO --n-per-arm N --n-trials R``
  in a fresh process, everything included. The CLI has no kernel option, so both kernels run
  through a two-line wrapper that sets :func:`~simtrial.sim.driver.kernel_for` (the automatic
  choice for ``suffstat`` rows, ``"prefix"`` for the forced rows) and calls the CLI's ``main``.

``--unscreened`` adds engine rows for the same scenario without inclusion criteria (a normal
baseline with no screening: the block moments of the baselines are drawn exactly, so the cost
per trial no longer grows with N). Times are medians of ``--repeats`` runs (default 1); the
machine's other load shows in them, so compare rows measured together.

Usage::

    python benchmarks/suffstat.py                     # the three rows, both kernels
    python benchmarks/suffstat.py --repeats 3 --unscreened
    python benchmarks/suffstat.py --rows 100          # one row
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
sys.path.insert(0, str(ROOT))

import simtrial  # noqa: E402
from simtrial.model.design import build_design  # noqa: E402
from simtrial.sim import driver  # noqa: E402

SCENARIO = ROOT / "scenarios" / "t1d_hba1c_12m.toml"
ROWS = {30: 100_000, 100: 100_000, 3000: 20_000}
KERNELS = ("suffstat", "prefix")
NO_CRITERIA = {"hba1c": "none", "fasting_cpeptide": "none", "stimulated_cpeptide": "none"}

_WRAPPER = """import sys
import simtrial.sim.driver as d
if sys.argv[1] != "auto":
    d.kernel_for = lambda dm, _k=sys.argv[1]: _k
from simtrial.cli import main
raise SystemExit(main(sys.argv[2:]))
"""


def engine(dm, n: int, n_trials: int, kernel: str) -> float:
    """Seconds of the simulation proper (``Simulated.elapsed_s``)."""
    sim = driver.simulate(dm, [n], n_trials=n_trials, kernel=kernel, keep=(n,))
    return sim.elapsed_s


def process(n: int, n_trials: int, kernel: str) -> float:
    """Wall seconds of ``simtrial power`` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", _WRAPPER, "auto" if kernel == "suffstat" else kernel, "power",
            str(SCENARIO), "--n-per-arm", str(n), "--n-trials", str(n_trials)]
    t = time.perf_counter()
    out = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
    el = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"simtrial power failed: {out.stderr.strip()[-500:]}")
    want = f"({kernel} kernel)"
    if want not in out.stdout:
        raise SystemExit(f"expected {want} in the summary, got: {out.stdout[:300]}")
    return el


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--rows", type=int, nargs="*", default=list(ROWS),
                    help="per-arm sizes to run (default 30 100 3000)")
    ap.add_argument("--no-process", action="store_true", help="skip the whole-process runs")
    ap.add_argument("--unscreened", action="store_true",
                    help="also engine rows without inclusion criteria (exact baseline moments)")
    args = ap.parse_args()
    sc = simtrial.load_scenario(SCENARIO)
    designs = {"t1d_hba1c_12m": build_design(sc)}
    if args.unscreened:
        data = sc.to_dict()
        data["population"] = {**data.get("population", {}), "criteria": NO_CRITERIA}
        designs["unscreened"] = build_design(simtrial.parse_scenario(data))
    assert driver.kernel_for(designs["t1d_hba1c_12m"]) == "suffstat"
    engine(designs["t1d_hba1c_12m"], 20, 1000, "suffstat")          # warm-up
    print(f"{'scenario':<15} {'N/arm':>6} {'trials':>8} {'kernel':>9} {'engine s':>9} "
          f"{'us/trial':>9} {'process s':>10}")
    for name, dm in designs.items():
        for n in args.rows:
            r = ROWS.get(n, 20_000)
            got: dict[str, dict[str, list[float]]] = {k: {"e": [], "p": []} for k in KERNELS}
            for _ in range(args.repeats):
                for k in KERNELS:                                    # alternately
                    got[k]["e"].append(engine(dm, n, r, k))
                    if name == "t1d_hba1c_12m" and not args.no_process:
                        got[k]["p"].append(process(n, r, k))
            for k in KERNELS:
                e = statistics.median(got[k]["e"])
                p = f"{statistics.median(got[k]['p']):10.2f}" if got[k]["p"] else f"{'-':>10}"
                print(f"{name:<15} {n:>6} {r:>8,} {k:>9} {e:9.2f} {e / r * 1e6:9.1f} {p}")
            e_s, e_p = (statistics.median(got[k]["e"]) for k in KERNELS)
            print(f"{'':<15} {'':>6} {'':>8} {'speed-up':>9} {e_p / e_s:8.2f}x", end="")
            if got["suffstat"]["p"]:
                p_s, p_p = (statistics.median(got[k]["p"]) for k in KERNELS)
                print(f" {'':>9} {p_p / p_s:9.2f}x")
            else:
                print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
